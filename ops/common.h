/*
 * common.h — what the GPU implementations share, in C as well as CUDA C++
 * (ops/<family>/ *.c compiled by gcc, *.cu by nvcc through common.cuh): the
 * check macro for the CUDA runtime inside an implementation (errors go into
 * ctx->err and become the case's "error: ..." status), tracked allocations,
 * and the device copies of an attention case's q, k, v and out with their
 * upload and poisoning.
 *
 * Everything is static inline, so each translation unit keeps only what it
 * uses.
 */
#ifndef SEQBENCH_OPS_COMMON_H
#define SEQBENCH_OPS_COMMON_H

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <string.h>

#include "../harness/gpu.h"
#include "../harness/seqbench.h"

/* SB_CUDA_CHECK(ctx, call): on failure, the call as written, the error's
 * text and name and file:line into ctx->err; return SB_ERROR. (The harness's
 * own CUDA_CHECK in harness/gpu.c does the same with a goto: C, not C++.) */
#define SB_CUDA_CHECK(ctx, call)                                                         \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) {                                                         \
            snprintf((ctx)->err, sizeof (ctx)->err, "%s: %s (%s) at %s:%d", #call,        \
                     cudaGetErrorString(e_), cudaGetErrorName(e_), __FILE__, __LINE__);  \
            return SB_ERROR;                                                             \
        }                                                                                \
    } while (0)

/* A tracked allocation. NULL from sb_gpu_alloc is "oom" unless the context
 * holds a sticky error (sb_gpu_alloc clears only the non-sticky ones), which
 * is an error: ctx->err already says which. */
static inline int sb_alloc(struct op_ctx *ctx, void **p, size_t bytes)
{
    *p = sb_gpu_alloc(ctx, bytes);
    if (*p)
        return SB_OK;
    return cudaPeekAtLastError() != cudaSuccess ? SB_ERROR : SB_OOM;
}

/* The four tensors of an attention case on the device, in the case's dtype,
 * laid out as on the host (reference/attention.c): q [B,N,H,D],
 * k [B,Nk,Hkv,D], v [B,Nk,Hkv,Dv], out [B,N,H,Dv]. */
struct attn_dev {
    void *q, *k, *v;    /* d_ inputs, uploaded */
    void *out;          /* d_ output, poisoned with 0xFF (NaN) */
};

/* Allocates the four tensors (tracked), uploads the inputs and poisons out. */
static inline int attn_dev_setup(struct op_ctx *ctx, struct attn_dev *a)
{
    const enum dtype dt = ctx->shape->dtype;
    const size_t es = (size_t)dtype_table[dt].bytes;
    void **in[3] = { &a->q, &a->k, &a->v };
    int rc;
    for (int t = 0; t < 3; t++) {
        const int64_t numel = tensor_numel(&ctx->io->in[t]);
        if ((rc = sb_alloc(ctx, in[t], (size_t)numel * es)) != SB_OK)
            return rc;
        if ((rc = sb_gpu_upload(ctx, *in[t], ctx->in[t], numel, dt)) != SB_OK)
            return rc;
    }
    const size_t out_bytes = (size_t)tensor_numel(&ctx->io->out) * es;
    if ((rc = sb_alloc(ctx, &a->out, out_bytes)) != SB_OK)
        return rc;
    return sb_gpu_poison(ctx, a->out, out_bytes);
}

/* ctx->out <- the device output, converted to fp32. */
static inline int attn_dev_fetch(struct op_ctx *ctx, const struct attn_dev *a)
{
    return sb_gpu_download(ctx, ctx->out, a->out, tensor_numel(&ctx->io->out), ctx->shape->dtype);
}

#endif /* SEQBENCH_OPS_COMMON_H */
