/*
 * delta.c — the delta family: the delta rule, whose update first reads what
 * the state predicts for k_t and writes back the correction,
 *   S' = exp(g_t) S_{t-1}  (gate=head: Gated DeltaNet; gate=none: DeltaNet)
 *   S_t = S' + β_t k_tᵀ (v_t − k_t S'),   o_t = scale · q_t S_t
 * with q, k L2-normalised and β in (0, 1); value heads may be a multiple of
 * the query/key heads (Hv = 4·H in Qwen3-Next's Gated DeltaNet). Shared math:
 * recurrent.h.
 *
 * Implementations:
 *   ref   the recurrence with a float64 state, OpenMP over (batch, value head)
 */
#include "recurrent.h"
#include "../ops/ops.h"

REC_FAMILY_FNS(delta, REC_DELTA)

static const struct impl delta_impls[] = {
    {
        .name = "ref", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = "verified",
        .summary = "the recurrence, float64 state, OpenMP over (batch, head)",
        .run = delta_ref_run,
    },
};

static const char *const delta_edge_shapes[] = {
    "B=1 N=1 H=1 D=16 Dv=16",
    "B=2 N=77 H=2 D=64 Dv=32",
    "B=2 N=77 H=2 D=64 Dv=32 gate=head",
    "B=1 N=200 H=2 Hv=8 D=64 Dv=128 chunk=32 gate=head",
    "B=1 N=64 H=3 D=128 state",
    "B=2 N=1 H=4 D=128 gate=head state",
    "B=1 N=1000 H=2 D=128 Dv=128 gate=head",
    NULL,
};

const struct family family_delta = {
    .name = "delta",
    .summary = "delta rule: DeltaNet (gate=none), Gated DeltaNet (gate=head)",
    .fields = REC_FIELDS_GATED,
    REC_FAMILY_MEMBERS(delta),
    .impls = delta_impls,
    .n_impls = (int)(sizeof delta_impls / sizeof delta_impls[0]),
    .edge_shapes = delta_edge_shapes,
};
