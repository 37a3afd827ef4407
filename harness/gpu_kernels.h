/*
 * gpu_kernels.h — the harness's own kernels (harness/gpu_kernels.cu), behind
 * a C API for harness/gpu.c. Built only with nvcc (SB_HAVE_CUDA).
 */
#ifndef SEQBENCH_GPU_KERNELS_H
#define SEQBENCH_GPU_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Queues the blocking kernel on `stream` (a cudaStream_t): one thread that
 * spins until the host-mapped word *release equals gen, or until
 * timeout_ns of GPU time have passed, in which case it stores gen into the
 * host-mapped word *timed_out first. d_release and d_timed_out are the
 * device addresses of host memory from cudaHostAlloc(cudaHostAllocMapped).
 * Returns the launch's cudaError_t (0: cudaSuccess). */
int sb_gpu_block_stream(void *stream, const unsigned *d_release, unsigned gen,
                        unsigned *d_timed_out, uint64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif
