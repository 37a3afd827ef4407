/*
 * common.cuh — what the CUDA C++ implementations share: everything in
 * common.h (the CUDA check macro, tracked allocations, the attention
 * tensors on the device), and the element-type conversions of the kernels
 * (fp32 or bf16 in memory, fp32 in registers).
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
#include "common.h"
#include "launch.cuh"

/* SB_COUNT_MACS(n): the n multiply-adds of the product statements beside
 * it, done by this thread. Nothing on the GPU; a CPU run of a kernel's
 * source (tests/cuda_on_cpu.cpp) defines it to count what the kernel
 * executes, which the implementation's flops_executed must equal. */
#ifndef SB_COUNT_MACS
#define SB_COUNT_MACS(n) ((void)0)
#endif

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
