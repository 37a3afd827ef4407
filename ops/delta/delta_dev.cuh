/*
 * delta_dev.cuh — what the delta family's GPU implementations share on the
 * host: the device copies of the inputs (layout: reference/recurrent.h,
 * order: rec_layout()), the output and the final state, their upload,
 * poisoning and download, and the shape checks every kernel needs.
 *
 * Included by CUDA C++ only (ops/delta/ *.cu); everything is static inline.
 */
#ifndef SEQBENCH_DELTA_DEV_CUH
#define SEQBENCH_DELTA_DEV_CUH

#include <limits.h>
#include <stdlib.h>

/* recurrent.h is C without extern "C" guards: its functions are C symbols. */
extern "C" {
#include "../../reference/recurrent.h"
}
#include "../common.cuh"
#include "delta_chunk.h"

/* The case's tensors on the device, in its dtype. */
struct delta_dev {
    void *q, *k, *v;    /* d_ [B,N,H,D], [B,N,H,D], [B,N,Hv,Dv] */
    void *g;            /* d_ [B,N,Hv] log-decay; NULL for gate=none */
    void *beta;         /* d_ [B,N,Hv] */
    void *h0;           /* d_ [B,Hv,D,Dv]; NULL unless state=1 */
    void *out;          /* d_ [B,N,Hv,Dv], poisoned */
    void *ht;           /* d_ [B,Hv,D,Dv], poisoned; NULL unless state=1 */
};

/* Allocates (tracked) and uploads every input, poisons out and ht. */
static inline int delta_dev_setup(struct op_ctx *ctx, struct delta_dev *d)
{
    const struct shape *s = ctx->shape;
    const struct rec_layout l = rec_layout(REC_DELTA, s);
    const enum dtype dt = s->dtype;
    const size_t es = (size_t)dtype_table[dt].bytes;
    memset(d, 0, sizeof *d);
    struct { int idx; void **p; } ins[] = {
        { l.q, &d->q }, { l.k, &d->k }, { l.v, &d->v }, { l.g, &d->g },
        { l.beta, &d->beta }, { l.h0, &d->h0 },
    };
    int rc;
    for (size_t t = 0; t < sizeof ins / sizeof ins[0]; t++) {
        if (ins[t].idx < 0)
            continue;
        const int64_t numel = tensor_numel(&ctx->io->in[ins[t].idx]);
        if ((rc = sb_alloc(ctx, ins[t].p, (size_t)numel * es)) != SB_OK ||
            (rc = sb_gpu_upload(ctx, *ins[t].p, ctx->in[ins[t].idx], numel, dt)) != SB_OK)
            return rc;
    }
    const size_t out_bytes = (size_t)tensor_numel(&ctx->io->out) * es;
    if ((rc = sb_alloc(ctx, &d->out, out_bytes)) != SB_OK ||
        (rc = sb_gpu_poison(ctx, d->out, out_bytes)) != SB_OK)
        return rc;
    if (s->state) {
        const size_t ht_bytes = (size_t)tensor_numel(&ctx->io->final) * es;
        if ((rc = sb_alloc(ctx, &d->ht, ht_bytes)) != SB_OK ||
            (rc = sb_gpu_poison(ctx, d->ht, ht_bytes)) != SB_OK)
            return rc;
    }
    return SB_OK;
}

/* ctx->out (and ctx->final) <- the device output (and final state). */
static inline int delta_dev_fetch(struct op_ctx *ctx, const struct delta_dev *d)
{
    return rec_dev_fetch(ctx, d->out, d->ht);
}

/* The limits every delta kernel shares: D, Dv ∈ {64, 128, 256} (the tiles
 * split them evenly), int token indices (the grid's limits are each launch
 * plan's to check: sb_plan_prepare). `who` names the implementation in the
 * message. */
static inline int delta_check_common(struct op_ctx *ctx, const char *who)
{
    const struct shape *s = ctx->shape;
    if (!rec_dim_ok(s->D) || !rec_dim_ok(s->Dv)) {
        snprintf(ctx->err, sizeof ctx->err, "%s: D=%lld Dv=%lld not supported (64, 128, 256)",
                 who, (long long)s->D, (long long)s->Dv);
        return SB_UNSUPPORTED;
    }
    if (s->B * s->N > INT_MAX / 2) {
        snprintf(ctx->err, sizeof ctx->err, "%s: B*N=%lld: the kernels index tokens in int",
                 who, (long long)(s->B * s->N));
        return SB_UNSUPPORTED;
    }
    return SB_OK;
}

/* One element of T at p, as fp32. */
template <typename T> static __device__ __forceinline__ float delta_ld(const T *p)
{
    return sb_elem<T>::to_float(*p);
}

#endif /* SEQBENCH_DELTA_DEV_CUH */
