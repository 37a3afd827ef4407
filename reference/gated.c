/*
 * gated.c — the gated family: linear attention with a decay gate in log space,
 *   S_t = diag(exp g_t) S_{t-1} + k_tᵀ v_t,   o_t = scale · q_t S_t,   g_t ≤ 0
 * gate=key: one g per key dimension (GLA); gate=head: one per head and token
 * (simple GLA; RetNet's fixed decay and Lightning Attention-2 are the
 * special case of a g constant over tokens). Shared math: recurrent.h.
 *
 * Implementations:
 *   ref       the recurrence with a float64 state, OpenMP over (batch, value head)
 *   cpu       the chunked algorithm the GPU kernels run (reference/gla.h, gla.c),
 *             fp32, OpenMP over (batch, value head)
 *   cuda      chunked, fp32 FMA: a scores kernel over every chunk, then one block
 *             per (Dv slice, head) walking the chunks (ops/gated/gla_fwd.cu)
 *   cuda-opt  the same on tensor cores, bf16 (ops/gated/gla_fwd_mma.cu)
 *   decode    N <= 16 new tokens from h0, memory-bound (ops/gated/gla_decode.cu)
 */
#include "gla.h"
#include "recurrent.h"
#include "../ops/ops.h"

REC_FAMILY_FNS(gated, REC_GATED)

static int gated_cpu_run(struct op_ctx *ctx) { return gla_cpu_run(REC_GATED, ctx); }

/* Chunks, and the sub-chunks of GLA_SUB rows of gate=key and the
 * tensor-core kernels (gla.h). */
static int gated_row_tilings(const struct shape *s, struct row_tiling *t)
{
    return rec_row_tilings(s, GLA_SUB, t);
}

static const struct impl gated_impls[] = GLA_IMPLS(gated);

static const char *const gated_edge_shapes[] = {
    "B=1 N=1 H=1 D=16 Dv=16 gate=key",
    "B=2 N=77 H=2 D=64 Dv=32 gate=key",
    "B=2 N=77 H=2 D=64 Dv=32 gate=head",
    "B=1 N=200 H=2 Hv=4 D=64 Dv=128 chunk=32 gate=head",
    "B=1 N=64 H=3 D=128 gate=key state",
    "B=2 N=1 H=4 D=128 gate=head state",
    "B=1 N=1000 H=2 D=128 Dv=256 gate=key",
    /* the GPU kernels' other paths: D = 256, chunk 16/32, partial chunks,
     * Hv = 2H, extreme decode (16 tokens, Dv = 256) */
    "B=2 N=300 H=2 Hv=4 D=256 Dv=64 chunk=16 gate=key state",
    "B=1 N=333 H=2 D=64 Dv=256 chunk=32 gate=head state",
    "B=3 N=16 H=2 Hv=4 D=64 Dv=256 gate=key state",
    NULL,
};

const struct family family_gated = {
    .name = "gated",
    .summary = "gated linear attention: per-key (GLA) or per-head (simple GLA, RetNet) decay",
    .fields = REC_FIELDS_GATED,
    REC_FAMILY_MEMBERS(gated),
    .row_tilings = gated_row_tilings,
    .impls = gated_impls,
    .n_impls = (int)(sizeof gated_impls / sizeof gated_impls[0]),
    .edge_shapes = gated_edge_shapes,
};
