/*
 * linear.c — the linear family: causal linear attention without a gate,
 *   S_t = S_{t-1} + k_tᵀ v_t,   o_t = scale · q_t S_t
 * (reference/recurrent.h: shared shapes, layout, formulas and reference).
 *
 * Implementations:
 *   ref       the recurrence with a float64 state, OpenMP over (batch, value head)
 *   cpu       the chunked algorithm the GPU kernels run (reference/gla.h, gla.c),
 *             fp32, OpenMP over (batch, value head)
 *   cuda      chunked, fp32 FMA: a scores kernel over every chunk, then one block
 *             per (Dv slice, head) walking the chunks (ops/gated/gla_fwd.cu)
 *   cuda-opt  the same on tensor cores, bf16 (ops/gated/gla_fwd_mma.cu)
 *   decode    N <= 16 new tokens from h0, memory-bound (ops/gated/gla_decode.cu)
 * The GPU implementations are the gated family's kernels with gate=none.
 */
#include "gla.h"
#include "recurrent.h"
#include "../ops/ops.h"

REC_FAMILY_FNS(linear, REC_LINEAR)

static int linear_cpu_run(struct op_ctx *ctx) { return gla_cpu_run(REC_LINEAR, ctx); }

/* Chunks, and the sub-chunks of GLA_SUB rows of gate=key and the
 * tensor-core kernels (gla.h). */
static int linear_row_tilings(const struct shape *s, struct row_tiling *t)
{
    return rec_row_tilings(s, GLA_SUB, t);
}

static const struct impl linear_impls[] = GLA_IMPLS(linear);

/* Small shapes the reference checks in full: N not a multiple of the chunk,
 * D ≠ Dv, value heads sharing query/key heads, state in and out, decode. */
static const char *const linear_edge_shapes[] = {
    "B=1 N=1 H=1 D=16 Dv=16",
    "B=2 N=77 H=2 D=64 Dv=32",
    "B=1 N=200 H=2 Hv=4 D=64 Dv=128 chunk=32",
    "B=1 N=64 H=3 D=128 state",
    "B=2 N=1 H=4 D=128 state",
    "B=1 N=1000 H=2 D=128 Dv=256",
    "B=2 N=300 H=2 Hv=4 D=256 Dv=64 chunk=16 state",    /* the GPU kernels' other paths */
    "B=3 N=16 H=2 Hv=4 D=64 Dv=256 state",
    NULL,
};

const struct family family_linear = {
    .name = "linear",
    .summary = "causal linear attention, chunked: S += kᵀv, o = scale·qS",
    .fields = REC_FIELDS,
    REC_FAMILY_MEMBERS(linear),
    .row_tilings = linear_row_tilings,
    .impls = linear_impls,
    .n_impls = (int)(sizeof linear_impls / sizeof linear_impls[0]),
    .edge_shapes = linear_edge_shapes,
};
