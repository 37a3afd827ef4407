/*
 * cuda_sim.h — included first (g++ -include) when a .cu file is compiled as
 * C++ for the CPU runner, so the file builds unchanged: the CUDA keywords,
 * the builtin variables, the block barrier, warp shuffles and votes,
 * atomics and the few device-only functions the kernels call, all on top of
 * sim.h. The CUDA headers themselves are the toolkit's: their types (dim3,
 * float4, __nv_bfloat16, cudaError_t...) and host-side conversions are used
 * as they are; the runtime API they declare is implemented by runtime.cpp.
 *
 * Kernels must not write `asm` (ops/ptx.cuh wraps every instruction that
 * needs it) nor declare `extern __shared__` arrays (sb_dynamic_smem() in
 * ops/launch.cuh hands out the dynamic shared memory), and launch through
 * sb_launch(): <<<>>> is not C++.
 */
#ifndef SEQBENCH_CUDA_SIM_H
#define SEQBENCH_CUDA_SIM_H

#if defined(__CUDACC__)
#error "cuda_sim.h is for compiling .cu files with a host C++ compiler"
#endif

/* This translation unit is a .cu file built for the CPU runner: its device
 * code runs as CUDA threads (fibers), as under __CUDA_ARCH__ on a GPU.
 * For code shared with plain C that must tell the two apart (gpu_ref.h). */
#define SB_CUDA_ON_CPU 1

/* Static shared memory: function-local statics (shared by the threads of a
 * block, and blocks run one at a time) in their own section, so the
 * scheduler refills all of it with NaN bytes before every block, as a GPU
 * leaves it undefined; built with -fsanitize-sections=sb_shared so that
 * AddressSanitizer still puts redzones between the arrays. */
#define __shared__ __attribute__((section("sb_shared"))) static
#define __launch_bounds__(...)
/* host_defines.h keeps these when they are already defined. */
#define __global__
#define __device__
#define __host__
#define __constant__

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <math.h>
#include <string.h>

#include "sim.h"

#define threadIdx (sb_sim_cur->thread)
#define blockIdx (sb_sim_cur->block)
#define blockDim (sb_sim_cur->block_dim)
#define gridDim (sb_sim_cur->grid_dim)
#define warpSize 32

/* ---- barriers and warp collectives ----------------------------------------- */

static inline void __syncthreads(const sb_sim_loc &loc = sb_sim_loc::current())
{
    sb_sim_syncthreads(loc);
}

static inline void __syncwarp(unsigned mask = 0xffffffffu,
                              const sb_sim_loc &loc = sb_sim_loc::current())
{
    sb_sim_slot s{};
    sb_sim_warp_collective(SB_COLL_SYNCWARP, mask, &s, nullptr, nullptr, loc);
}

template <typename T>
static inline T sb_sim_shfl(enum sb_sim_collective kind, unsigned mask, T var, int arg, int width,
                            const sb_sim_loc &loc)
{
    static_assert(sizeof(T) <= sizeof(sb_sim_slot::in), "a shuffle moves at most 16 bytes");
    static_assert(std::is_trivially_copyable<T>::value, "a shuffle moves plain values");
    sb_sim_slot s{};
    memcpy(s.in, &var, sizeof var);
    s.arg = arg, s.width = width;
    sb_sim_warp_collective(kind, mask, &s, nullptr, nullptr, loc);
    T r;
    memcpy(&r, s.out, sizeof r);
    return r;
}

template <typename T>
static inline T __shfl_sync(unsigned mask, T var, int src, int width = 32,
                            const sb_sim_loc &loc = sb_sim_loc::current())
{
    return sb_sim_shfl(SB_COLL_SHFL_IDX, mask, var, src, width, loc);
}
template <typename T>
static inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                               const sb_sim_loc &loc = sb_sim_loc::current())
{
    return sb_sim_shfl(SB_COLL_SHFL_UP, mask, var, (int)delta, width, loc);
}
template <typename T>
static inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                                 const sb_sim_loc &loc = sb_sim_loc::current())
{
    return sb_sim_shfl(SB_COLL_SHFL_DOWN, mask, var, (int)delta, width, loc);
}
template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                                const sb_sim_loc &loc = sb_sim_loc::current())
{
    return sb_sim_shfl(SB_COLL_SHFL_XOR, mask, var, lane_mask, width, loc);
}

static inline unsigned sb_sim_vote(enum sb_sim_collective kind, unsigned mask, int pred,
                                   const sb_sim_loc &loc)
{
    sb_sim_slot s{};
    s.in[0] = pred != 0;
    sb_sim_warp_collective(kind, mask, &s, nullptr, nullptr, loc);
    return (unsigned)s.out[0];
}
static inline unsigned __ballot_sync(unsigned mask, int pred,
                                     const sb_sim_loc &loc = sb_sim_loc::current())
{
    return sb_sim_vote(SB_COLL_BALLOT, mask, pred, loc);
}
static inline int __any_sync(unsigned mask, int pred, const sb_sim_loc &loc = sb_sim_loc::current())
{
    return (int)sb_sim_vote(SB_COLL_ANY, mask, pred, loc);
}
static inline int __all_sync(unsigned mask, int pred, const sb_sim_loc &loc = sb_sim_loc::current())
{
    return (int)sb_sim_vote(SB_COLL_ALL, mask, pred, loc);
}
static inline unsigned __activemask(void)
{
    return sb_sim_active_mask();
}

/* ---- atomics (GCC builtins: ThreadSanitizer sees them as atomic) ------------ */

template <typename T> static inline T atomicAdd(T *p, T v)
{
    if constexpr (std::is_floating_point<T>::value) {
        T old = __atomic_load_n(p, __ATOMIC_RELAXED), sum;
        do
            sum = old + v;
        while (!__atomic_compare_exchange(p, &old, &sum, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
        return old;
    } else {
        return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
    }
}
template <typename T> static inline T atomicSub(T *p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
template <typename T> static inline T atomicAnd(T *p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
template <typename T> static inline T atomicOr(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
template <typename T> static inline T atomicXor(T *p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }
template <typename T> static inline T atomicExch(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
template <typename T> static inline T atomicCAS(T *p, T cmp, T v)
{
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
template <typename T> static inline T atomicMax(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    }
    return old;
}
template <typename T> static inline T atomicMin(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old > v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    }
    return old;
}
/* Fences: the CUDA threads share one OS thread, so keeping the compiler
 * from moving memory accesses across the fence is all the ordering there
 * is to keep. A fence makes no happens-before between threads (under
 * ThreadSanitizer only barriers and collectives do; in the PTX memory model
 * a fence needs a flag's store and load beside it to synchronise). */
static inline void __threadfence(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_system(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

/* ---- device-only functions --------------------------------------------------- */

/* CUDA's integer min/max overloads (the float ones are fminf/fmaxf). */
template <typename T, typename std::enable_if<std::is_integral<T>::value, int>::type = 0>
static inline T min(T a, T b) { return a < b ? a : b; }
template <typename T, typename std::enable_if<std::is_integral<T>::value, int>::type = 0>
static inline T max(T a, T b) { return a > b ? a : b; }

/* SB_COUNT_MACS(n) beside a kernel's product statements (a no-op on the
 * GPU): the runner adds n to the multiply-adds of the launch, per kernel
 * (sb_sim_kernel_stats.macs), which an implementation's executed count can
 * be checked against. */
#define SB_COUNT_MACS(n) sb_sim_count_macs(n)

/* A spinning thread must let the others run: the fibers are cooperative. */
static inline void __nanosleep(unsigned ns) { (void)ns; sb_sim_yield(); }

#endif /* SEQBENCH_CUDA_SIM_H */
