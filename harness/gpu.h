/*
 * gpu.h — the harness's view of a CUDA device: detection, a stream, tracked
 * allocations (so the peak footprint of a case is exact), uploads/downloads
 * with dtype conversion, the cold-L2 flush and event timing.
 *
 * Built from harness/gpu.c. With SB_HAVE_CUDA undefined (no nvcc at build
 * time) every call reports "built without CUDA" and gpu_probe() finds nothing.
 */
#ifndef SEQBENCH_GPU_H
#define SEQBENCH_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gpu_info {
    int present;                /* 1 when the device can be used */
    int host_has_gpu;           /* 1 when this host has an NVIDIA GPU, usable or not: the
                                   probe found one, /dev/nvidiaN exists, or the fault hook */
    int index;
    int n_devices;              /* devices the CUDA runtime found; 0 none or unknown */
    char why_absent[160];       /* "no CUDA device", "built without CUDA", ... */
    char name[256];
    char uuid[48];              /* "GPU-xxxxxxxx-xxxx-..." */
    int sms;
    int cc_major, cc_minor;
    int64_t mem_bytes;          /* total device memory */
    int64_t l2_bytes;
    int clock_khz;              /* max SM clock (cudaDevAttrClockRate) */
    int mem_clock_khz;
    int mem_bus_bits;
    int driver_version;         /* CUDA driver API version (cudaDriverGetVersion), 13000; 0 none */
    int runtime_version;        /* CUDA runtime API version (cudaRuntimeGetVersion), 13000 */
    char driver_release[32];    /* the kernel driver's release, "580.65.06"; "" unknown */
    char cublas_version[48];    /* of the cuBLAS loaded, "13.1.0"; "" in a CPU-only build */
};

/* Fills *info for device `index`, and the versions of the driver and
 * libraries whether or not a device is usable. Returns 0 when the device is
 * usable, -1 otherwise (info->why_absent says why). Never aborts. */
int gpu_probe(int index, struct gpu_info *info);

/* The fault hook: with SEQBENCH_GPU_FAULT=<why> in the environment every
 * gpu_probe fails as on a host whose GPU cannot be set up (a driver fault):
 * host_has_gpu = 1, present = 0, why_absent names <why> and the variable.
 * It lets a test without a GPU drive the path a broken GPU host takes. */
#define GPU_FAULT_ENV "SEQBENCH_GPU_FAULT"

/* Where the NVIDIA kernel driver says its release. */
#define NVIDIA_VERSION_FILE "/proc/driver/nvidia/version"
/* The driver's release from a file in that format, whose first line is e.g.
 *   NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 ...
 *   NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release ...
 * (the first word of the NVRM line made of digits and dots, with a dot).
 * Returns 0 with it in buf, or -1 (buf "") when the file is missing or
 * holds none. */
int gpu_driver_release(const char *path, char *buf, size_t n);

/* One per process and device: a stream, the flush buffer, the event pair,
 * the blocking kernel's host-mapped flags, the graph of the graph mode. */
struct gpu_ctx *gpu_open(int index, char *err, size_t n);
void gpu_close(struct gpu_ctx *g);
int64_t gpu_free_bytes(struct gpu_ctx *g);

/* Tracked allocations: every device buffer an implementation uses comes from
 * here, so the harness knows the case's peak footprint and frees everything
 * after teardown. Returns NULL on failure (out of memory). */
void *sb_gpu_alloc(struct op_ctx *ctx, size_t bytes);
void gpu_free_case(struct gpu_ctx *g);          /* frees every case allocation */
void gpu_reset_peak(struct gpu_ctx *g);
int64_t gpu_peak_case_bytes(struct gpu_ctx *g);
/* The tracked allocations come from the harness's stream-ordered pool:
 * its used high-water mark since gpu_reset_peak, as the driver counts it
 * (-1 unknown). Beside gpu_peak_case_bytes it is a check; beside the drop
 * in gpu_free_bytes it shows what libraries allocated themselves. */
int64_t gpu_pool_peak_bytes(struct gpu_ctx *g);

/* The CUDA driver's current context (a CUcontext) for CUPTI's Range
 * Profiler, without linking libcuda; NULL when it cannot be had. */
void *gpu_cu_context(struct gpu_ctx *g);
/* The L2 flush alone, waited for (the counters pass flushes as cold does).
 * 0, or -1 with err. */
int gpu_flush(struct gpu_ctx *g, char *err, size_t n);

/* The stream every implementation launches on (a cudaStream_t). */
void *sb_gpu_stream(struct op_ctx *ctx);
void *gpu_stream(struct gpu_ctx *g);

/* Host fp32 <-> device dtype. Synchronous. Return SB_OK or SB_ERROR (ctx->err). */
int sb_gpu_upload(struct op_ctx *ctx, void *d_dst, const float *h_src, int64_t n, enum dtype dt);
int sb_gpu_download(struct op_ctx *ctx, float *h_dst, const void *d_src, int64_t n, enum dtype dt);
/* Fills a device buffer with 0xFF bytes: NaN in fp32, bf16 and fp16, so an
 * element the kernel never writes is caught by the harness's NaN check. */
int sb_gpu_poison(struct op_ctx *ctx, void *d, size_t bytes);
/* After a launch: turns cudaGetLastError() into SB_ERROR with the kernel name. */
int sb_gpu_check_launch(struct op_ctx *ctx, const char *what);

/* One sample of fn(arg) with CUDA events on the stream, in ms (nvbench's
 * cold measurement): the L2 flush (flush_l2: a memset of max(2 x L2,
 * 256 MiB)) and a stream synchronisation; then a blocking kernel that holds
 * the stream, the start event, fn's launches, the stop event, all queued
 * behind it; then the host releases the kernel through a host-mapped flag.
 * The events so time fn's kernels back to back, not the host launching
 * them. The kernel releases itself after GPU_BLOCK_TIMEOUT_S: when the host
 * took that long to queue the sample (fn synchronised with the GPU, had a
 * module loaded lazily, or queued more launches than the stream holds),
 * the sample is invalid and
 * the call fails with err naming the cause. Returns 0, or -1 with err set
 * (fn's own failure: fn wrote err). Unverified: never run on a GPU. */
int gpu_time_once(struct gpu_ctx *g, int (*fn)(void *), void *arg, int flush_l2,
                  double *ms, char *err, size_t n);
#define GPU_BLOCK_TIMEOUT_S 2.0

/* The graph timing mode: fn(arg) called `launches` times under stream
 * capture, instantiated and uploaded. Returns SB_OK; SB_UNSUPPORTED when fn
 * cannot be captured (it synchronises, allocates, ...: err says so);
 * SB_ERROR otherwise. gpu_graph_launch queues one replay on the stream (SB_OK
 * or SB_ERROR); gpu_graph_release destroys the graph (safe to repeat).
 * Unverified: never run on a GPU. */
int gpu_graph_capture(struct gpu_ctx *g, int (*fn)(void *), void *arg, int launches,
                      char *err, size_t n);
int gpu_graph_launch(struct gpu_ctx *g, char *err, size_t n);
void gpu_graph_release(struct gpu_ctx *g);

int gpu_synchronize(struct gpu_ctx *g, char *err, size_t n);
/* The context's CUDA device ordinal (-1 without CUDA), and the size of its
 * L2 flush (max(2 x L2, 256 MiB); 0 without CUDA), which a peer's worker
 * repeats on its side so its samples are as cold as ours. */
int gpu_ctx_index(const struct gpu_ctx *g);
size_t gpu_flush_bytes(const struct gpu_ctx *g);
/* Measured device-to-device copy bandwidth in bytes/s (read + write); 0 when
 * it could not be measured (or without CUDA). */
double gpu_measure_bandwidth(struct gpu_ctx *g);

#ifdef __cplusplus
}
#endif

#endif /* SEQBENCH_GPU_H */
