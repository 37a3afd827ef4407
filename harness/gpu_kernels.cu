/*
 * gpu_kernels.cu — the harness's own kernels; see gpu_kernels.h.
 *
 * sb_block_stream_kernel holds a stream while the host queues a sample's
 * launches behind it (nvbench's blocking kernel), so the start event and
 * the op's kernels run back to back once the host lets go, and the events
 * time the GPU work rather than the host's launch loop. The host lets go by
 * storing the sample's generation number into a word of host-mapped
 * memory. A generation, not a 0/1 flag, so no reset is needed between
 * samples and a late store from an earlier sample cannot release a later
 * kernel.
 *
 * Unverified: compiled and linked here, never run on a GPU.
 */
#include <cuda_runtime.h>
#include <stdint.h>
#include <time.h>

#include "gpu_kernels.h"

/* ---- device wrappers (PTX on the GPU, the CPU's own clock otherwise) ------- */

/* Nanoseconds of the GPU's global timer (PTX ISA, special register
 * %globaltimer: a 64-bit ns counter common to all SMs). */
static __device__ __forceinline__ uint64_t sb_globaltimer_ns(void)
{
#ifdef __CUDA_ARCH__
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* Suspends the thread for about ns (sm_70+: nanosleep.u32). */
static __device__ __forceinline__ void sb_nanosleep(unsigned ns)
{
#ifdef __CUDA_ARCH__
    __nanosleep(ns);
#else
    struct timespec ts = { 0, (long)ns };
    nanosleep(&ts, NULL);
#endif
}

/* ---- kernels ------------------------------------------------------------- */

/* Polling interval: the kernel reads the flag across PCIe; sleeping between
 * reads keeps that traffic negligible. The release latency this adds is not
 * timed: the start event is queued after the kernel. */
#define BLOCK_POLL_NS 1000

/* One thread. release and timed_out point at host-mapped memory. A volatile
 * load compiles to ld.volatile, which the PTX memory model treats as a
 * relaxed load at system scope: each iteration reads the host's word anew,
 * so the host's store is seen within a poll interval. No acquire is
 * needed: the kernel reads nothing the host wrote besides the word itself.
 * On timeout the store to *timed_out is followed by a system-scope fence,
 * so it is visible to the host before the kernel is seen to complete (the
 * host reads it only after synchronising with a later event anyway). */
__global__ void sb_block_stream_kernel(const volatile unsigned *release, unsigned gen,
                                       volatile unsigned *timed_out, uint64_t timeout_ns)
{
    const uint64_t t0 = sb_globaltimer_ns();
    while (*release != gen) {
        if (sb_globaltimer_ns() - t0 > timeout_ns) {
            *timed_out = gen;
            __threadfence_system();
            return;
        }
        sb_nanosleep(BLOCK_POLL_NS);
    }
}

/* ---- host API ------------------------------------------------------------ */

extern "C" int sb_gpu_block_stream(void *stream, const unsigned *d_release, unsigned gen,
                                   unsigned *d_timed_out, uint64_t timeout_ns)
{
    sb_block_stream_kernel<<<1, 1, 0, (cudaStream_t)stream>>>(d_release, gen, d_timed_out,
                                                             timeout_ns);
    return (int)cudaGetLastError();
}
