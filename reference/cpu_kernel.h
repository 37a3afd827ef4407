/*
 * cpu_kernel.h — what the CPU forms of the GPU kernels share (flash.c,
 * gla.c, delta.c, ssm_*.c): a fused multiply-add, a vectorisable exp, the
 * bf16 rounding of their outputs, and the GCC options their
 * register-blocked micro-kernels need.
 *
 * Including it opens a region with those options; the file closes it with
 * CPU_KERNEL_END after its last kernel. Include it once, after the other
 * headers, in a .c file whose kernels need it.
 */
#ifndef SEQBENCH_CPU_KERNEL_H
#define SEQBENCH_CPU_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../harness/seqbench.h"

/* a·b + c. -std=c11 turns fp contraction off, so a plain a*b + c would be a
 * multiply and an add; fmaf is one instruction (and one rounding) where the
 * hardware has it (FP_FAST_FMAF), and a slow library call where it has not,
 * so there we keep the two operations. */
#ifdef FP_FAST_FMAF
#define cpu_fma(a, b, c) fmaf(a, b, c)
#else
#define cpu_fma(a, b, c) ((a) * (b) + (c))
#endif

/* GCC options for the kernels, which keep their sums in registers only if
 * GCC lets them:
 *   - GCC's tuning for AVX-512 machines keeps auto-vectorised loops at 256
 *     bits (-mprefer-vector-width=256, against the frequency drop of older
 *     Xeons); the kernels are built around 512-bit rows, so ask for them.
 *     This changes no instruction set: a no-op without AVX-512.
 *   - -O3's predictive commoning and unroll-and-jam both unroll a kernel's
 *     reduction loop and pass the sums from one iteration to the next
 *     through the stack: a load and a store per FMA instead of none, and
 *     half the speed.
 * Check after changing a kernel: in `gcc -S` of the file (flags as in the
 * Makefile), no vfmadd in a micro-kernel has a stack operand. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-predictive-commoning", "no-loop-unroll-and-jam")
#ifdef __AVX512F__
#pragma GCC target("prefer-vector-width=512")
#endif
#define CPU_KERNEL_END _Pragma("GCC pop_options")
#else
#define CPU_KERNEL_END
#endif

/* Adding 1.5·2^23 to a float of magnitude below 2^22 leaves no fraction
 * bits: the sum is the float rounded to the nearest integer (fp32 rounds to
 * nearest), plus 1.5·2^23. Unlike floorf, which GCC does not vectorise
 * without -fno-trapping-math, this is two plain additions. */
#define CPU_ROUND_MAGIC 12582912.0f

/* 2^x for x <= 0 in fp32, written so the compiler vectorises it (no libm
 * call): x = i + f with i = round(x), |f| <= 1/2, 2^f from its Taylor series
 * to degree 7 (truncation error (ln2/2)^8/8! < 6e-9, below fp32's 2^-24), 2^i
 * assembled in the exponent bits. x < -126 (including -inf from a mask)
 * gives exactly 0. */
static inline float cpu_exp2(float x)
{
    float xc = x < -126.0f ? -126.0f : x;
    float i = (xc + CPU_ROUND_MAGIC) - CPU_ROUND_MAGIC, f = xc - i;
    float p = 1.5252734e-5f;
    p = cpu_fma(p, f, 1.5403530e-4f);
    p = cpu_fma(p, f, 1.3333558e-3f);
    p = cpu_fma(p, f, 9.6181291e-3f);
    p = cpu_fma(p, f, 5.5504109e-2f);
    p = cpu_fma(p, f, 2.4022651e-1f);
    p = cpu_fma(p, f, 6.9314718e-1f);
    p = cpu_fma(p, f, 1.0f);
    int32_t bits = ((int32_t)i + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return x < -126.0f ? 0.0f : p * scale;
}

/* bf16_round (harness/registry.c) inline and branch-free, so that the
 * output loops vectorise (the call per element doubled a bf16 run's time):
 * round to nearest even; a NaN stays a quiet NaN. */
static inline float cpu_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
    const uint32_t quiet = (u & 0xffff0000u) | 0x400000u;
    u = (u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded;
    memcpy(&x, &u, 4);
    return x;
}

/* dst[i] = src[i] rounded to the dtype. */
static inline void cpu_store(enum dtype dt, float *restrict dst, const float *restrict src,
                             int64_t n)
{
    if (dt == DT_BF16)
        for (int64_t i = 0; i < n; i++)
            dst[i] = cpu_bf16(src[i]);
    else
        memcpy(dst, src, (size_t)n * sizeof *dst);
}

/* e^x for x <= 0: 2^(x·log2 e), exactly 0 below e^(-126·ln 2). */
static inline float cpu_exp(float x)
{
    return cpu_exp2(x * 1.44269504f);
}

#endif
