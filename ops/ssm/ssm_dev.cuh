/*
 * ssm_dev.cuh — what the GPU implementations of the ssm family share
 * (ops/ssm/ *.cu): the case's tensors on the device in the case's dtype,
 * laid out as on the host (reference/ssm.h), their upload, the poisoned
 * output and final state, the fetch, and the device's exp.
 */
#ifndef SEQBENCH_SSM_DEV_CUH
#define SEQBENCH_SSM_DEV_CUH

#include <stdlib.h>

#include "../common.cuh"
#include "../ops.h"

extern "C" {
#include "../../reference/ssm.h"
}

struct ssm_dev {
    void *in[SB_MAX_TENSORS];   /* d_ inputs in ssm_layout order */
    void *out;                  /* d_ output, poisoned */
    void *ht;                   /* d_ final state, poisoned; NULL for state=0 */
    void *work;                 /* d_ workspace of the implementation (may be NULL) */
};

/* Uploads every input, allocates and poisons the outputs and `work_bytes`
 * of workspace. */
static inline int ssm_dev_setup(struct op_ctx *ctx, struct ssm_dev *d, size_t work_bytes)
{
    const enum dtype dt = ctx->shape->dtype;
    const size_t es = (size_t)dtype_table[dt].bytes;
    int rc;
    for (int t = 0; t < ctx->io->n_in; t++) {
        const int64_t n = tensor_numel(&ctx->io->in[t]);
        if ((rc = sb_alloc(ctx, &d->in[t], (size_t)n * es)) != SB_OK ||
            (rc = sb_gpu_upload(ctx, d->in[t], ctx->in[t], n, dt)) != SB_OK)
            return rc;
    }
    const size_t out_bytes = (size_t)tensor_numel(&ctx->io->out) * es;
    if ((rc = sb_alloc(ctx, &d->out, out_bytes)) != SB_OK ||
        (rc = sb_gpu_poison(ctx, d->out, out_bytes)) != SB_OK)
        return rc;
    if (ctx->io->final.ndim) {
        const size_t ht_bytes = (size_t)tensor_numel(&ctx->io->final) * es;
        if ((rc = sb_alloc(ctx, &d->ht, ht_bytes)) != SB_OK ||
            (rc = sb_gpu_poison(ctx, d->ht, ht_bytes)) != SB_OK)
            return rc;
    }
    if (work_bytes && (rc = sb_alloc(ctx, &d->work, work_bytes)) != SB_OK)
        return rc;
    return SB_OK;
}

/* The device copy of input i (an ssm_layout index), NULL when absent. */
static inline const void *ssm_dev_in(const struct ssm_dev *d, int i)
{
    return i >= 0 ? d->in[i] : NULL;
}

/* Allocates the implementation's state (a struct ssm_dev first) into
 * ctx->priv and sets up the tensors; on failure frees it again. */
static inline int ssm_dev_open(struct op_ctx *ctx, size_t priv_bytes, size_t work_bytes,
                               const char *who)
{
    struct ssm_dev *d = (struct ssm_dev *)calloc(1, priv_bytes);
    if (!d) {
        snprintf(ctx->err, sizeof ctx->err, "%s: out of host memory", who);
        return SB_OOM;
    }
    ctx->priv = d;
    int rc = ssm_dev_setup(ctx, d, work_bytes);
    if (rc != SB_OK) {
        free(ctx->priv);
        ctx->priv = NULL;
    }
    return rc;
}

/* ctx->out (and ctx->final) <- the device outputs, as fp32. */
static inline int ssm_dev_fetch(struct op_ctx *ctx)
{
    const struct ssm_dev *d = (const struct ssm_dev *)ctx->priv;
    return rec_dev_fetch(ctx, d->out, d->ht);
}

/* Device buffers are the harness's to free; only the host state goes. */
static inline void ssm_dev_close(struct op_ctx *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}

/* e^x by the SFU's ex2: a multiply and one MUFU.EX2 (exp2f adds the
 * scaling of a result below 2^-126). */
static __device__ __forceinline__ float ssm_dev_exp(float x)
{
    return exp2f(x * (float)SB_LOG2E);
}

/* silu(z) = z · sigmoid(z). */
static __device__ __forceinline__ float ssm_dev_silu(float z)
{
    return z / (1.0f + ssm_dev_exp(-z));
}

/* x[i] = p[t0 + i] as fp32 for i < NI, `pad` past L: 16-byte vector loads
 * when the run is whole and aligned, element loads otherwise. */
template <typename T, int NI>
static __device__ __forceinline__ void ssm_load_run(const T *__restrict__ p, int64_t t0, int64_t L,
                                                    float *x, float pad)
{
    constexpr int per = sb_elem<T>::per16;
    if (NI % per == 0 && t0 + NI <= L && ((uintptr_t)(p + t0) & 15) == 0) {
#pragma unroll
        for (int i = 0; i < NI; i += per)
            sb_elem<T>::load16(p + t0 + i, x + i);
    } else {
#pragma unroll
        for (int i = 0; i < NI; i++)
            x[i] = t0 + i < L ? sb_elem<T>::to_float(p[t0 + i]) : pad;
    }
}

/* p[t0 + i] = x[i] in T for i < NI and t0 + i < L: 4-element stores when
 * the run is whole and aligned, element stores otherwise. */
template <typename T, int NI>
static __device__ __forceinline__ void ssm_store_run(T *__restrict__ p, int64_t t0, int64_t L,
                                                     const float *x)
{
    if (NI % 4 == 0 && t0 + NI <= L && ((uintptr_t)(p + t0) & (4 * sizeof(T) - 1)) == 0) {
#pragma unroll
        for (int i = 0; i < NI; i += 4)
            sb_elem<T>::store4(p + t0 + i, x[i], x[i + 1], x[i + 2], x[i + 3]);
    } else {
#pragma unroll
        for (int i = 0; i < NI; i++)
            if (t0 + i < L)
                p[t0 + i] = sb_elem<T>::from_float(x[i]);
    }
}

#endif /* SEQBENCH_SSM_DEV_CUH */
