/*
 * runtime.h — what the scheduler (sched.cpp) and the fake libraries
 * (cublas.cpp) ask of the simulated CUDA runtime (runtime.cpp). Internal to
 * ops/sim/.
 */
#ifndef SEQBENCH_SIM_RUNTIME_H
#define SEQBENCH_SIM_RUNTIME_H

#include <cuda_runtime_api.h>
#include <stddef.h>

#include <functional>

/* The checks a launch of `kernel` (symbol `mangled`, may be NULL) makes on
 * the simulated device: block and grid limits, the stream, the kernel's
 * build for this architecture (cudaErrorNoKernelImageForDevice without one),
 * threads against its registers, dynamic shared memory against the opt-in
 * the host code made. cudaSuccess, or the error a GPU gives with why[]. */
cudaError_t sb_rt_check_launch(const void *kernel, const char *mangled, dim3 grid, dim3 block,
                               size_t smem, cudaStream_t stream, char *why, size_t n);
/* Sets the runtime's last error (what cudaGetLastError returns next), and
 * says why on stderr once per distinct message. */
void sb_rt_set_error(cudaError_t e, const char *why);
/* The symbol (mangled) of the function at fn, NULL when it has none. */
const char *sb_rt_symbol(const void *fn);
/* Queues op on stream s (NULL: the legacy stream), or records it into the
 * graph being captured there; it runs when the host waits for the stream
 * (runtime.cpp's header comment says when). s must exist. */
void sb_rt_enqueue(cudaStream_t s, std::function<void()> op);
/* The simulated device's short name ("H100"). */
const char *sb_rt_device_name(void);
/* 1 when launches run their blocks (sb_sim_set_execute). */
int sb_rt_execute(void);
/* Device memory is mapped inaccessible outside kernels and the runtime's
 * own copies, so host code that dereferences a device pointer faults as it
 * would with a GPU; 1 opens every allocation, 0 closes them again. */
void sb_rt_device_memory_access(int open);

#endif
