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
 * The CPU runner runs it from this source (tests/cuda_on_cpu.sh: the
 * protocol in its wrapper tests, the harness's cold timing through it in
 * run_case); unverified on a GPU.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "../ops/launch.cuh"
#include "../ops/ptx.cuh"
#include "gpu_kernels.h"

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
 * host reads it only after synchronising with a later event anyway).
 * sb_globaltimer_ns (ops/ptx.cuh) reads %globaltimer; __nanosleep is
 * nanosleep.u32 (sm_70+), on the CPU runner a yield to the other threads. */
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
        __nanosleep(BLOCK_POLL_NS);
    }
}

/* ---- host API ------------------------------------------------------------ */

/* Its launch: one thread, no shared memory. */
static struct sb_plan block_stream_plan(void)
{
    return { "sb_block_stream_kernel", { 1, 1, 1 }, 1, 0 };
}

extern "C" int sb_gpu_block_stream(void *stream, const unsigned *d_release, unsigned gen,
                                   unsigned *d_timed_out, uint64_t timeout_ns)
{
    const struct sb_plan p = block_stream_plan();
    sb_kernel_launch(sb_block_stream_kernel,
                     dim3((unsigned)p.grid[0], (unsigned)p.grid[1], (unsigned)p.grid[2]),
                     dim3((unsigned)p.threads), p.smem, (cudaStream_t)stream, d_release, gen,
                     d_timed_out, timeout_ns);
    return (int)cudaGetLastError();
}
