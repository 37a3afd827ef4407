/*
 * gla_dev.cuh — what the GPU implementations of the linear and gated
 * families share (ops/gated/ *.cu): the case's tensors on the device, their
 * upload, poisoning and fetch, and the shape checks. The linear family runs
 * the same kernels as the gated one with gate=none (its shapes always say
 * gate=none, so one entry point serves both tables).
 *
 * Device tensors, in the case's dtype T (fp32 or bf16), laid out as on the
 * host (reference/recurrent.h): q, k [B,N,H,D]; v [B,N,Hv,Dv]; g [B,N,Hv]
 * (gate=head) or [B,N,Hv,D] (gate=key); h0 [B,Hv,D,Dv] (state=1); out
 * [B,N,Hv,Dv]; ht [B,Hv,D,Dv] (state=1).
 */
#ifndef SEQBENCH_GLA_DEV_CUH
#define SEQBENCH_GLA_DEV_CUH

#include <stdlib.h>

#include "../common.cuh"
#include "gla_tiles.h"
#include "../ops.h"

extern "C" {
#include "../../reference/recurrent.h"
}

struct gla_dev {
    void *q, *k, *v;    /* d_ inputs */
    void *g;            /* d_ gates, NULL for gate=none */
    void *h0;           /* d_ initial state, NULL for state=0 */
    void *out;          /* d_ output, poisoned */
    void *ht;           /* d_ final state, poisoned; NULL for state=0 */
    void *work;         /* d_ workspace of the implementation (may be NULL) */
};

/* Uploads every input in rec_layout order, allocates and poisons the
 * outputs and `work_bytes` of workspace. */
static inline int gla_dev_setup(struct op_ctx *ctx, struct gla_dev *d, size_t work_bytes)
{
    const struct shape *s = ctx->shape;
    const struct rec_layout l = rec_layout(REC_GATED, s);
    const enum dtype dt = s->dtype;
    const size_t es = (size_t)dtype_table[dt].bytes;
    void **slot[SB_MAX_TENSORS] = { NULL };
    slot[l.q] = &d->q, slot[l.k] = &d->k, slot[l.v] = &d->v;
    if (l.g >= 0)
        slot[l.g] = &d->g;
    if (l.h0 >= 0)
        slot[l.h0] = &d->h0;
    int rc;
    for (int t = 0; t < ctx->io->n_in; t++) {
        const int64_t n = tensor_numel(&ctx->io->in[t]);
        if ((rc = sb_alloc(ctx, slot[t], (size_t)n * es)) != SB_OK ||
            (rc = sb_gpu_upload(ctx, *slot[t], ctx->in[t], n, dt)) != SB_OK)
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
    if (work_bytes && (rc = sb_alloc(ctx, &d->work, work_bytes)) != SB_OK)
        return rc;
    return SB_OK;
}

/* ctx->out (and ctx->final) <- the device outputs, as fp32. */
static inline int gla_dev_fetch(struct op_ctx *ctx, const struct gla_dev *d)
{
    return rec_dev_fetch(ctx, d->out, d->ht);
}

/* Shapes every GPU implementation of these families refuses, with the
 * reason in ctx->err (who: the implementation's name). The grid's limits
 * are each launch plan's to check (sb_plan_prepare). */
static inline int gla_check_common(struct op_ctx *ctx, const char *who)
{
    const struct shape *s = ctx->shape;
    if (!rec_dim_ok(s->D) || !rec_dim_ok(s->Dv)) {
        snprintf(ctx->err, sizeof ctx->err, "%s: D=%lld Dv=%lld not supported (64, 128, 256)",
                 who, (long long)s->D, (long long)s->Dv);
        return SB_UNSUPPORTED;
    }
    if (s->N > (1ll << 31) - 1) {
        snprintf(ctx->err, sizeof ctx->err, "%s: N=%lld: tokens are counted in int", who,
                 (long long)s->N);
        return SB_UNSUPPORTED;
    }
    return SB_OK;
}

/* Device buffers are the harness's to free; only the host state goes. */
static inline void gla_free_priv(struct op_ctx *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}

#endif /* SEQBENCH_GLA_DEV_CUH */
