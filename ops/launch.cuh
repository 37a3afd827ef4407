/*
 * launch.cuh — how every kernel of ops/ is launched, on a GPU and on the
 * CPU runner (ops/sim/) alike:
 *
 *   plan     struct sb_plan: the kernel's name, grid, threads per block and
 *            dynamic shared memory, made by one host function per kernel
 *            (e.g. flash_fwd_plan) that the setup and the launch both call;
 *   prepare  sb_plan_prepare(): the plan against the device the case runs
 *            on — grid limits, threads against the kernel's registers,
 *            static + dynamic shared memory against the opt-in limit (227
 *            KiB on sm_90, 163 KiB on sm_80, 99 KiB on sm_86/89/120) — and
 *            the opt-in itself; SB_UNSUPPORTED with the reason when the
 *            device cannot take it;
 *   launch   sb_launch(): kernel<<<grid, threads, smem, stream>>>(args...)
 *            under nvcc, the runner's scheduler otherwise, then the launch
 *            error, if any, into ctx->err.
 *
 * The CPU runner executes this host code as it is (its runtime models a GPU
 * of each built architecture), so the plans and their checks run on every
 * `make test`: tests/cuda_on_cpu.sh.
 */
#ifndef SEQBENCH_OPS_LAUNCH_CUH
#define SEQBENCH_OPS_LAUNCH_CUH

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "../harness/gpu.h"
#include "../harness/seqbench.h"

struct sb_plan {
    const char *kernel;     /* its name, for messages */
    int64_t grid[3];        /* blocks in x, y, z: checked before they are cast to a dim3 */
    int threads;            /* per block (every kernel here has 1-D blocks) */
    size_t smem;            /* dynamic shared memory, bytes */
};

/* The limit every device has on the dynamic shared memory of a kernel that
 * did not opt in. */
#define SB_SMEM_DEFAULT (48 << 10)

/* Checks plan p of kernel fn against the current device and opts fn in to
 * its dynamic shared memory (see the header comment). who: the
 * implementation's name, which starts ctx->err. */
static inline int sb_plan_prepare(struct op_ctx *ctx, const void *fn, const struct sb_plan *p,
                                  const char *who)
{
    int dev = 0, optin = 0, cc_major = 0, cc_minor = 0;
    const enum cudaDeviceAttr dim_attr[3] = { cudaDevAttrMaxGridDimX, cudaDevAttrMaxGridDimY,
                                              cudaDevAttrMaxGridDimZ };
    struct cudaFuncAttributes fa;
    cudaError_t e;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, dev)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&cc_minor, cudaDevAttrComputeCapabilityMinor, dev)) != cudaSuccess)
        goto fail;
    for (int d = 0; d < 3; d++) {
        int lim = 0;
        if ((e = cudaDeviceGetAttribute(&lim, dim_attr[d], dev)) != cudaSuccess)
            goto fail;
        if (p->grid[d] < 1 || p->grid[d] > lim) {
            snprintf(ctx->err, sizeof ctx->err, "%s: %s's grid %c = %lld, cuda:%d takes 1..%d", who,
                     p->kernel, "xyz"[d], (long long)p->grid[d], dev, lim);
            return SB_UNSUPPORTED;
        }
    }
    /* Also fails, with the kernel named, on a build without this device's
     * architecture (cudaErrorNoKernelImageForDevice). */
    if ((e = cudaFuncGetAttributes(&fa, fn)) != cudaSuccess)
        goto fail;
    if (p->threads > fa.maxThreadsPerBlock) {
        /* Its __launch_bounds__ or its registers (numRegs per thread out of
         * 64K per block) do not allow this block: a bug in the plan. */
        snprintf(ctx->err, sizeof ctx->err,
                 "%s: %s: %d threads per block, its sm_%d%d build (%d registers) takes at most %d",
                 who, p->kernel, p->threads, cc_major, cc_minor, fa.numRegs, fa.maxThreadsPerBlock);
        return SB_ERROR;
    }
    /* The opt-in limit bounds static + dynamic shared memory together. */
    if (fa.sharedSizeBytes + p->smem > (size_t)optin) {
        snprintf(ctx->err, sizeof ctx->err,
                 "%s: %s needs %zu + %zu (static) bytes of shared memory, cuda:%d (sm_%d%d) allows %d",
                 who, p->kernel, p->smem, (size_t)fa.sharedSizeBytes, dev, cc_major, cc_minor, optin);
        return SB_UNSUPPORTED;
    }
    if (p->smem + fa.sharedSizeBytes > SB_SMEM_DEFAULT &&
        (e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)p->smem)) !=
            cudaSuccess)
        goto fail;
    return SB_OK;
fail:
    snprintf(ctx->err, sizeof ctx->err, "%s: %s: %s (%s) on cuda:%d", who, p->kernel,
             cudaGetErrorString(e), cudaGetErrorName(e), dev);
    (void)cudaGetLastError();
    return SB_ERROR;
}

/* kernel<<<grid, block, smem, stream>>>(args...): the one place a launch is
 * written, so the same source runs on the CPU runner; cudaGetLastError()
 * then says whether it launched. For code with no op_ctx (the harness's own
 * kernels); implementations use sb_launch. */
template <typename... P, typename... A>
static inline void sb_kernel_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                                    cudaStream_t stream, A... args)
{
#if defined(__CUDACC__)
    kernel<<<grid, block, smem, stream>>>(args...);
#else
    sb_sim_launch(kernel, grid, block, smem, stream, args...);
#endif
}

/* kernel<<<p.grid, p.threads, p.smem, ctx's stream>>>(args...), then
 * sb_gpu_check_launch. The plan must have passed sb_plan_prepare. */
template <typename... P, typename... A>
static inline int sb_launch(struct op_ctx *ctx, void (*kernel)(P...), const struct sb_plan &p,
                            A... args)
{
    const dim3 grid((unsigned)p.grid[0], (unsigned)p.grid[1], (unsigned)p.grid[2]);
    sb_kernel_launch(kernel, grid, dim3((unsigned)p.threads), p.smem,
                     (cudaStream_t)sb_gpu_stream(ctx), args...);
    return sb_gpu_check_launch(ctx, p.kernel);
}

/* The block's dynamic shared memory (16-byte aligned), as one declaration
 * for every kernel: CUDA gives all `extern __shared__` arrays the same
 * address, and one name avoids conflicting declarations of it. */
static __device__ __forceinline__ void *sb_dynamic_smem(void)
{
#if defined(__CUDACC__)
    extern __shared__ __align__(16) unsigned char sb_dyn_smem[];
    return sb_dyn_smem;
#else
    return sb_sim_dynamic_smem();
#endif
}

#endif /* SEQBENCH_OPS_LAUNCH_CUH */
