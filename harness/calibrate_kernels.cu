/*
 * calibrate_kernels.cu — the kernels behind `bench env --calibrate`'s
 * measured ceilings (harness/calibrate.c), beside cuBLASLt's GEMMs:
 *
 *   sb_calib_fill_kernel  random bits into the GEMMs' operands, with one bit
 *                         of each element's exponent cleared so every value
 *                         is finite and under 2 in magnitude (bf16, fp16,
 *                         fp32, fp8 e4m3) — real data, not zeros, because
 *                         a GEMM on zeros draws less power and clocks higher;
 *   sb_calib_fma_kernel   CALIB_CHAINS independent fp32 FMA chains per
 *                         thread: the FMA units' rate;
 *   sb_calib_ex2_kernel   CALIB_CHAINS independent ex2.approx chains: the
 *                         special-function units' (SFU, MUFU) rate.
 *
 * All three are global-namespace __global__ functions launched through
 * sb_kernel_launch (ops/launch.cuh), so the CPU runner executes them from
 * this source (tests/cuda_on_cpu.sh checks what they compute); ex2 goes
 * through sb_ex2_approx, PTX on the GPU and exp2f on the CPU. Each writes
 * one value per thread, so the compiler cannot drop the chains.
 * Unverified on a GPU: compiled here, never run on one.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "../ops/launch.cuh"
#include "calibrate_kernels.h"

/* PTX ISA 9.7.4.12, ex2: base-2 exponential, approximate, flush-to-zero
 * (one MUFU.EX2 on sm_80..sm_90). The CPU has no such unit: exp2f. */
static __device__ __forceinline__ float sb_ex2_approx(float x)
{
#ifdef __CUDA_ARCH__
    float y;
    asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#else
    return exp2f(x);
#endif
}

/* A 32-bit mixer (the "lowbias32" integer hash): independent words from
 * consecutive indices. */
static __device__ __forceinline__ uint32_t sb_hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

__global__ void sb_calib_fill_kernel(uint32_t *words, uint64_t n, uint32_t seed, uint32_t keep)
{
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (uint64_t)gridDim.x * blockDim.x)
        words[i] = sb_hash32((uint32_t)i ^ seed ^ (uint32_t)(i >> 32)) & keep;
}

__global__ void sb_calib_fma_kernel(float *out, int iters, float a, float b)
{
    float acc[CALIB_CHAINS];
    for (int c = 0; c < CALIB_CHAINS; c++)
        acc[c] = (float)(threadIdx.x + c) * 1e-3f;
    for (int i = 0; i < iters; i++)
#pragma unroll
        for (int c = 0; c < CALIB_CHAINS; c++)
            acc[c] = fmaf(acc[c], a, b);
    float sum = 0;
    for (int c = 0; c < CALIB_CHAINS; c++)
        sum += acc[c];
    out[(uint64_t)blockIdx.x * blockDim.x + threadIdx.x] = sum;
}

__global__ void sb_calib_ex2_kernel(float *out, int iters)
{
    float acc[CALIB_CHAINS];
    for (int c = 0; c < CALIB_CHAINS; c++)
        acc[c] = (float)(threadIdx.x % 7 + c) * 0.1f;
    /* x -> 2^-x keeps every chain in (0.5, 1]: no overflow, no denormals. */
    for (int i = 0; i < iters; i++)
#pragma unroll
        for (int c = 0; c < CALIB_CHAINS; c++)
            acc[c] = sb_ex2_approx(-acc[c]);
    float sum = 0;
    for (int c = 0; c < CALIB_CHAINS; c++)
        sum += acc[c];
    out[(uint64_t)blockIdx.x * blockDim.x + threadIdx.x] = sum;
}

/* ---- host API ------------------------------------------------------------ */

extern "C" int sb_calib_fill(void *stream, void *words, uint64_t n_words, uint32_t seed, uint32_t keep)
{
    const unsigned grid = n_words / CALIB_BLOCK + 1 < 65535 ? (unsigned)(n_words / CALIB_BLOCK + 1) : 65535;
    sb_kernel_launch(sb_calib_fill_kernel, dim3(grid), dim3(CALIB_BLOCK), 0, (cudaStream_t)stream,
                     (uint32_t *)words, n_words, seed, keep);
    return (int)cudaGetLastError();
}

extern "C" int sb_calib_fma(void *stream, int blocks, float *out, int iters)
{
    sb_kernel_launch(sb_calib_fma_kernel, dim3((unsigned)blocks), dim3(CALIB_BLOCK), 0, (cudaStream_t)stream,
                     out, iters, 0.999999f, 1e-7f);
    return (int)cudaGetLastError();
}

extern "C" int sb_calib_ex2(void *stream, int blocks, float *out, int iters)
{
    sb_kernel_launch(sb_calib_ex2_kernel, dim3((unsigned)blocks), dim3(CALIB_BLOCK), 0, (cudaStream_t)stream,
                     out, iters);
    return (int)cudaGetLastError();
}
