/*
 * common.cuh — what the GPU implementations of the attention families share:
 * the check macro for the CUDA runtime inside an implementation (errors go
 * into ctx->err and become the case's "error: ..." status), the device copies
 * of q, k, v and out with their upload and poisoning, and the element-type
 * conversions of the kernels (fp32 or bf16 in memory, fp32 in registers).
 *
 * Included by CUDA C++ only (ops/<family>/ *.cu); everything is static inline
 * or a template, so each translation unit keeps only what it uses.
 */
#ifndef SEQBENCH_OPS_COMMON_CUH
#define SEQBENCH_OPS_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "../harness/gpu.h"
#include "../harness/seqbench.h"
#include "launch.cuh"

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

/* ---- element types in kernels -------------------------------------------- */

/* 16 bytes of T (4 fp32 or 8 bf16) <-> fp32 registers. Pointers must be
 * 16-byte aligned (loads) or sizeof(T)·4-byte aligned (stores). */
template <typename T> struct sb_elem;

template <> struct sb_elem<float> {
    static constexpr int per16 = 4;     /* elements in 16 bytes */
    static __device__ __forceinline__ void load16(const float *g, float *x)
    {
        const float4 v = *reinterpret_cast<const float4 *>(g);
        x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
    }
    static __device__ __forceinline__ void store4(float *g, float a, float b, float c, float d)
    {
        *reinterpret_cast<float4 *>(g) = make_float4(a, b, c, d);
    }
    static __device__ __forceinline__ float to_float(float x) { return x; }
    static __device__ __forceinline__ float from_float(float x) { return x; }
};

template <> struct sb_elem<__nv_bfloat16> {
    static constexpr int per16 = 8;
    static __device__ __forceinline__ void load16(const __nv_bfloat16 *g, float *x)
    {
        const uint4 raw = *reinterpret_cast<const uint4 *>(g);
        const unsigned w[4] = { raw.x, raw.y, raw.z, raw.w };
#pragma unroll
        for (int i = 0; i < 4; i++) {
            /* The lower half of each word is the element at the lower address. */
            __nv_bfloat162 h2;
            memcpy(&h2, &w[i], sizeof h2);
            const float2 f = __bfloat1622float2(h2);
            x[2 * i] = f.x, x[2 * i + 1] = f.y;
        }
    }
    /* Round to nearest even, as bf16_round() does for the reference. */
    static __device__ __forceinline__ void store4(__nv_bfloat16 *g, float a, float b, float c,
                                                  float d)
    {
        const __nv_bfloat162 lo = __floats2bfloat162_rn(a, b), hi = __floats2bfloat162_rn(c, d);
        uint2 raw;
        memcpy(&raw.x, &lo, sizeof lo);
        memcpy(&raw.y, &hi, sizeof hi);
        *reinterpret_cast<uint2 *>(g) = raw;
    }
    static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
    static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
};

/* log2(e): the kernels fold it into the scale and use exp2f. */
#define SB_LOG2E 1.4426950408889634

/* ---- the recurrent families (linear, gated, delta) ----------------------- */

/* The head dims their kernels are built for (the tiles split them evenly). */
static inline int rec_dim_ok(int64_t x)
{
    return x == 64 || x == 128 || x == 256;
}

/* ctx->out and, when the case has a final state, ctx->final <- the device
 * output and final state (d_ht may be NULL without one), as fp32. */
static inline int rec_dev_fetch(struct op_ctx *ctx, const void *d_out, const void *d_ht)
{
    const enum dtype dt = ctx->shape->dtype;
    int rc = sb_gpu_download(ctx, ctx->out, d_out, tensor_numel(&ctx->io->out), dt);
    if (rc == SB_OK && ctx->final && d_ht)
        rc = sb_gpu_download(ctx, ctx->final, d_ht, tensor_numel(&ctx->io->final), dt);
    return rc;
}

#endif /* SEQBENCH_OPS_COMMON_CUH */
