/*
 * gpu.c — the CUDA device as the harness sees it; see gpu.h. Only the CUDA
 * runtime API (linked statically), never the driver library, so bench starts
 * on a machine with no driver and reports "no CUDA device".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

#ifndef SB_HAVE_CUDA

#define NO_CUDA "built without CUDA (nvcc not found at build time)"

int gpu_probe(int index, struct gpu_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;
    snprintf(info->why_absent, sizeof info->why_absent, NO_CUDA);
    return -1;
}
double gpu_peak_flops(const struct gpu_info *info, enum dtype dt, int tensor)
{
    (void)info, (void)dt, (void)tensor;
    return 0;
}
double gpu_peak_bandwidth(const struct gpu_info *info)
{
    (void)info;
    return 0;
}
struct gpu_ctx *gpu_open(int index, char *err, size_t n)
{
    (void)index;
    snprintf(err, n, NO_CUDA);
    return NULL;
}
void gpu_close(struct gpu_ctx *g) { (void)g; }
int64_t gpu_free_bytes(struct gpu_ctx *g) { (void)g; return 0; }
void *sb_gpu_alloc(struct op_ctx *ctx, size_t bytes)
{
    (void)bytes;
    snprintf(ctx->err, sizeof ctx->err, NO_CUDA);
    return NULL;
}
void gpu_free_case(struct gpu_ctx *g) { (void)g; }
void gpu_reset_peak(struct gpu_ctx *g) { (void)g; }
int64_t gpu_peak_case_bytes(struct gpu_ctx *g) { (void)g; return -1; }
void *sb_gpu_stream(struct op_ctx *ctx) { (void)ctx; return NULL; }
int sb_gpu_upload(struct op_ctx *ctx, void *d, const float *h, int64_t n, enum dtype dt)
{
    (void)d, (void)h, (void)n, (void)dt;
    snprintf(ctx->err, sizeof ctx->err, NO_CUDA);
    return SB_ERROR;
}
int sb_gpu_download(struct op_ctx *ctx, float *h, const void *d, int64_t n, enum dtype dt)
{
    (void)d, (void)h, (void)n, (void)dt;
    snprintf(ctx->err, sizeof ctx->err, NO_CUDA);
    return SB_ERROR;
}
int sb_gpu_poison(struct op_ctx *ctx, void *d, size_t bytes)
{
    (void)d, (void)bytes;
    snprintf(ctx->err, sizeof ctx->err, NO_CUDA);
    return SB_ERROR;
}
int sb_gpu_check_launch(struct op_ctx *ctx, const char *what)
{
    (void)what;
    snprintf(ctx->err, sizeof ctx->err, NO_CUDA);
    return SB_ERROR;
}
int gpu_time_once(struct gpu_ctx *g, int (*fn)(void *), void *arg, int flush_l2, double *ms,
                  char *err, size_t n)
{
    (void)g, (void)fn, (void)arg, (void)flush_l2, (void)ms;
    snprintf(err, n, NO_CUDA);
    return -1;
}
int gpu_synchronize(struct gpu_ctx *g, char *err, size_t n)
{
    (void)g;
    snprintf(err, n, NO_CUDA);
    return -1;
}
double gpu_measure_bandwidth(struct gpu_ctx *g)
{
    (void)g;
    return 0;
}

#else /* SB_HAVE_CUDA */

#include <cuda_runtime_api.h>

/* The L2 flush buffer: at least twice the L2, and never less than 256 MiB
 * (what Triton's do_bench clears), so no line of the previous sample stays. */
#define FLUSH_MIN_BYTES ((size_t)256 << 20)

/* bf16 and fp16 uploads and downloads convert on the host through a bounce
 * buffer of this many elements (32 MiB of 16-bit values), so a 2^40-element
 * tensor does not need a second host copy of itself. */
#define CONVERT_CHUNK ((int64_t)1 << 24)

/* The 16-bit dtypes' conversions (round to nearest even; exact back). */
static uint16_t (*const to_bits[DT_COUNT])(float) = { [DT_BF16] = bf16_bits, [DT_FP16] = fp16_bits };
static float (*const from_bits[DT_COUNT])(uint16_t) = {
    [DT_BF16] = bf16_from_bits, [DT_FP16] = fp16_from_bits,
};

struct gpu_alloc {
    void *ptr;
    size_t bytes;
};

struct gpu_ctx {
    int index;                      /* CUDA device ordinal */
    cudaStream_t stream;            /* non-blocking: never serialised with the legacy stream */
    cudaEvent_t start, stop;        /* gpu_time_once's pair */
    void *flush;                    /* max(2 x L2, FLUSH_MIN_BYTES), untracked */
    size_t flush_bytes;
    unsigned flush_value;           /* rotates so no two flushes write the same byte */
    struct gpu_alloc *allocs;       /* this case's tracked buffers */
    int n_allocs, cap_allocs;
    int64_t current, peak;          /* tracked bytes now / highest since gpu_reset_peak */
};

/* Errors after which the context is unusable (every later call returns the
 * same error until the process exits): an illegal address, a trap, an
 * uncorrectable ECC error... The case records it, and the message says why
 * every later case on the device fails too. */
static int cuda_error_is_sticky(cudaError_t e)
{
    switch (e) {
    case cudaErrorIllegalAddress: case cudaErrorLaunchFailure: case cudaErrorLaunchTimeout:
    case cudaErrorAssert: case cudaErrorHardwareStackError: case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress: case cudaErrorInvalidAddressSpace: case cudaErrorInvalidPc:
    case cudaErrorECCUncorrectable: case cudaErrorContained: case cudaErrorTensorMemoryLeak:
        return 1;
    default:
        return 0;
    }
}

/* One line for a failed runtime call: the device, the call as written, the
 * error's name and text, where; plus the sticky warning. */
static void cuda_error_text(char *err, size_t n, int dev, const char *call, cudaError_t e,
                            const char *file, int line)
{
    snprintf(err, n, "cuda:%d: %s: %s (%s) at %s:%d%s", dev, call, cudaGetErrorString(e),
             cudaGetErrorName(e), file, line,
             cuda_error_is_sticky(e) ? "; context lost, later cases on this device fail" : "");
}

/* CUDA_CHECK(call): on failure, the message above into err (size n) about
 * device `dev` (all three in scope), and goto fail. */
#define CUDA_CHECK(call)                                                                 \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) {                                                         \
            cuda_error_text(err, n, dev, #call, e_, __FILE__, __LINE__);                 \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

int gpu_probe(int index, struct gpu_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;
    cudaDriverGetVersion(&info->driver_version);    /* 0 when no driver is installed */
    cudaRuntimeGetVersion(&info->runtime_version);
    int count = 0;                                  /* left unmodified on error */
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice ||
        (e == cudaSuccess && count <= 0)) {
        snprintf(info->why_absent, sizeof info->why_absent, "no CUDA device (%s)",
                 e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
        cudaGetLastError();
        return -1;
    }
    if (e != cudaSuccess) {
        snprintf(info->why_absent, sizeof info->why_absent, "no usable CUDA device (%s: %s)",
                 cudaGetErrorName(e), cudaGetErrorString(e));
        cudaGetLastError();
        return -1;
    }
    if (index < 0 || index >= count) {
        snprintf(info->why_absent, sizeof info->why_absent, "no CUDA device cuda:%d (found %d)",
                 index, count);
        return -1;
    }
    struct cudaDeviceProp p;
    if ((e = cudaGetDeviceProperties(&p, index)) != cudaSuccess) {
        snprintf(info->why_absent, sizeof info->why_absent, "cuda:%d: %s (%s)", index,
                 cudaGetErrorString(e), cudaGetErrorName(e));
        cudaGetLastError();
        return -1;
    }
    snprintf(info->name, sizeof info->name, "%s", p.name);
    const unsigned char *u = (const unsigned char *)p.uuid.bytes;
    snprintf(info->uuid, sizeof info->uuid,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    info->mem_bytes = (int64_t)p.totalGlobalMem;
    /* CUDA 13 removed the clocks from cudaDeviceProp; the rest are read the
     * same way for uniformity. A failed query leaves 0 (unknown). */
    int l2 = 0;
    const struct { enum cudaDeviceAttr attr; int *dst; } attrs[] = {
        { cudaDevAttrMultiProcessorCount, &info->sms },
        { cudaDevAttrComputeCapabilityMajor, &info->cc_major },
        { cudaDevAttrComputeCapabilityMinor, &info->cc_minor },
        { cudaDevAttrL2CacheSize, &l2 },
        { cudaDevAttrClockRate, &info->clock_khz },             /* max SM clock, kHz */
        { cudaDevAttrMemoryClockRate, &info->mem_clock_khz },   /* peak memory clock, kHz */
        { cudaDevAttrGlobalMemoryBusWidth, &info->mem_bus_bits },
    };
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if (cudaDeviceGetAttribute(attrs[i].dst, attrs[i].attr, index) != cudaSuccess) {
            *attrs[i].dst = 0;
            cudaGetLastError();
        }
    info->l2_bytes = l2;
    info->present = 1;
    return 0;
}

/* Dense FLOP per clock per SM (a multiply-add counts 2), from NVIDIA's
 * datasheet peaks divided by SMs x the clock those peaks assume:
 *   bf16 tensor, fp32 accumulate:
 *     8.0  A100 SXM   312 TFLOP/s = 108 SMs x 1.41 GHz x 2048
 *     8.6  A40        150 TFLOP/s =  84 SMs x 1.74 GHz x 1024 (A10, RTX A6000 alike)
 *     8.7  Orin       85 dense int8 TOP/s of 170 sparse = 16 SMs x 1.3 GHz x 4096
 *                     int8 -> 2048 bf16 (A100's tensor core)
 *     8.9  L40S       362 TFLOP/s = 142 SMs x 2.52 GHz x 1024 (L4 alike)
 *     9.0  H100 SXM   989 TFLOP/s = 132 SMs x 1.83 GHz x 4096
 *   GeForce parts of 8.6 and 8.9 run fp32-accumulate tensor ops at half
 *   rate (RTX 3090: 71 TFLOP/s = 82 x 1.70 GHz x 512; RTX 4090: 165 =
 *   128 x 2.52 GHz x 512), see GEFORCE_TENSOR_DIVISOR.
 *   fp32 FMA, no tensor cores: 64 FP32 lanes x 2 per SM on 8.0 (A100 19.5
 *   TFLOP/s = 108 x 1.41 GHz x 128); 128 lanes x 2 on 8.6, 8.7, 8.9 and 9.0
 *   (H100 SXM 67 TFLOP/s = 132 x 1.98 GHz x 256).
 * Multiplied by the max SM clock the runtime reports, which is at or above
 * the clock behind the tensor figures (1.98 vs 1.83 GHz on H100 SXM), so a
 * % of peak errs low rather than high. Unknown architectures give 0. */
static const struct { int major, minor, tensor_bf16, fp32; } per_sm_clock[] = {
    { 8, 0, 2048, 128 }, { 8, 6, 1024, 256 }, { 8, 7, 2048, 256 }, { 8, 9, 1024, 256 },
    { 9, 0, 4096, 256 },
};
#define GEFORCE_TENSOR_DIVISOR 2

double gpu_peak_flops(const struct gpu_info *info, enum dtype dt, int tensor)
{
    for (size_t i = 0; i < sizeof per_sm_clock / sizeof per_sm_clock[0]; i++) {
        if (per_sm_clock[i].major != info->cc_major || per_sm_clock[i].minor != info->cc_minor)
            continue;
        double per = per_sm_clock[i].fp32;
        if (tensor && dt != DT_FP32) {
            per = per_sm_clock[i].tensor_bf16;
            if (info->cc_major == 8 && info->cc_minor != 0 && info->cc_minor != 7 &&
                strstr(info->name, "GeForce"))
                per /= GEFORCE_TENSOR_DIVISOR;
        }
        return per * info->sms * info->clock_khz * 1e3;
    }
    return 0;
}

/* DDR: two transfers per memory clock, bus_bits / 8 bytes each. (HBM3 on
 * H100 SXM: 2 x 2.619 GHz x 5120 / 8 = 3.35 TB/s, the datasheet's figure.) */
double gpu_peak_bandwidth(const struct gpu_info *info)
{
    return 2.0 * info->mem_clock_khz * 1e3 * info->mem_bus_bits / 8.0;
}

struct gpu_ctx *gpu_open(int index, char *err, size_t n)
{
    const int dev = index;
    int l2 = 0;
    struct gpu_ctx *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, n, "out of host memory");
        return NULL;
    }
    g->index = index;
    CUDA_CHECK(cudaSetDevice(index));
    CUDA_CHECK(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreate(&g->start));
    CUDA_CHECK(cudaEventCreate(&g->stop));
    CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, index));
    g->flush_bytes = 2 * (size_t)l2 > FLUSH_MIN_BYTES ? 2 * (size_t)l2 : FLUSH_MIN_BYTES;
    CUDA_CHECK(cudaMalloc(&g->flush, g->flush_bytes));
    return g;
fail:
    cudaGetLastError();
    gpu_close(g);
    return NULL;
}

void gpu_close(struct gpu_ctx *g)
{
    if (!g)
        return;
    if (g->stream)
        gpu_free_case(g);
    free(g->allocs);
    if (g->flush)
        cudaFree(g->flush);
    if (g->start)
        cudaEventDestroy(g->start);
    if (g->stop)
        cudaEventDestroy(g->stop);
    if (g->stream)
        cudaStreamDestroy(g->stream);
    cudaGetLastError();
    free(g);
}

int64_t gpu_free_bytes(struct gpu_ctx *g)
{
    size_t free_b = 0, total = 0;
    (void)g;        /* the current device is g's: gpu_open set it */
    if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return (int64_t)free_b;
}

void *sb_gpu_alloc(struct op_ctx *ctx, size_t bytes)
{
    struct gpu_ctx *g = ctx->gpu;
    void *p = NULL;
    if (!g) {
        snprintf(ctx->err, sizeof ctx->err, "sb_gpu_alloc: no GPU context (a CPU implementation?)");
        return NULL;
    }
    if (g->n_allocs == g->cap_allocs) {
        int cap = g->cap_allocs ? 2 * g->cap_allocs : 16;
        struct gpu_alloc *a = realloc(g->allocs, (size_t)cap * sizeof *a);
        if (!a) {
            snprintf(ctx->err, sizeof ctx->err, "out of host memory");
            return NULL;
        }
        g->allocs = a, g->cap_allocs = cap;
    }
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        /* Clears an out-of-memory error; a sticky one stays for the caller's
         * cudaPeekAtLastError (ops/common.cuh tells the two apart). */
        cudaGetLastError();
        if (e == cudaErrorMemoryAllocation)
            snprintf(ctx->err, sizeof ctx->err, "cudaMalloc(%zu bytes): out of memory", bytes);
        else
            snprintf(ctx->err, sizeof ctx->err, "cudaMalloc(%zu bytes): %s (%s)", bytes,
                     cudaGetErrorString(e), cudaGetErrorName(e));
        return NULL;
    }
    g->allocs[g->n_allocs++] = (struct gpu_alloc){ p, bytes };
    g->current += (int64_t)bytes;
    if (g->current > g->peak)
        g->peak = g->current;
    return p;
}

void gpu_free_case(struct gpu_ctx *g)
{
    if (!g)
        return;
    cudaStreamSynchronize(g->stream);       /* no kernel may still use them */
    for (int i = 0; i < g->n_allocs; i++)
        cudaFree(g->allocs[i].ptr);
    cudaGetLastError();                     /* a failed free must not leak into the next case */
    g->n_allocs = 0;
    g->current = 0;
}

void gpu_reset_peak(struct gpu_ctx *g)
{
    g->peak = g->current;
}

int64_t gpu_peak_case_bytes(struct gpu_ctx *g)
{
    return g->peak;
}

void *sb_gpu_stream(struct op_ctx *ctx)
{
    return ctx->gpu->stream;
}

/* Copies go through the case's stream, then wait for it: a plain cudaMemcpy
 * would run on the legacy stream, which a non-blocking stream does not wait
 * for, and a host-to-device copy from pageable memory may return before
 * its DMA is done. */
int sb_gpu_upload(struct op_ctx *ctx, void *d_dst, const float *h_src, int64_t count, enum dtype dt)
{
    char *err = ctx->err;
    const size_t n = sizeof ctx->err;
    const int dev = ctx->gpu->index;
    cudaStream_t st = ctx->gpu->stream;
    uint16_t *tmp = NULL;
    if (dt == DT_FP32) {
        CUDA_CHECK(cudaMemcpyAsync(d_dst, h_src, (size_t)count * sizeof(float),
                                   cudaMemcpyHostToDevice, st));
        CUDA_CHECK(cudaStreamSynchronize(st));
        return SB_OK;
    }
    if ((unsigned)dt >= DT_COUNT || !to_bits[dt]) {
        snprintf(err, n, "sb_gpu_upload: unsupported dtype %d", (int)dt);
        return SB_ERROR;
    }
    const int64_t chunk = count < CONVERT_CHUNK ? count : CONVERT_CHUNK;
    if (!(tmp = malloc((size_t)(chunk > 0 ? chunk : 1) * sizeof *tmp))) {
        snprintf(err, n, "out of host memory for a %s upload", dtype_table[dt].name);
        return SB_OOM;
    }
    uint16_t *d = d_dst;
    for (int64_t i0 = 0; i0 < count; i0 += chunk) {
        const int64_t m = count - i0 < chunk ? count - i0 : chunk;
        for (int64_t i = 0; i < m; i++)
            tmp[i] = to_bits[dt](h_src[i0 + i]);
        CUDA_CHECK(cudaMemcpyAsync(d + i0, tmp, (size_t)m * sizeof *tmp, cudaMemcpyHostToDevice, st));
        CUDA_CHECK(cudaStreamSynchronize(st));     /* before tmp is refilled */
    }
    free(tmp);
    return SB_OK;
fail:
    free(tmp);
    return SB_ERROR;
}

int sb_gpu_download(struct op_ctx *ctx, float *h_dst, const void *d_src, int64_t count, enum dtype dt)
{
    char *err = ctx->err;
    const size_t n = sizeof ctx->err;
    const int dev = ctx->gpu->index;
    cudaStream_t st = ctx->gpu->stream;
    uint16_t *tmp = NULL;
    if (dt == DT_FP32) {
        CUDA_CHECK(cudaMemcpyAsync(h_dst, d_src, (size_t)count * sizeof(float),
                                   cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaStreamSynchronize(st));
        return SB_OK;
    }
    if ((unsigned)dt >= DT_COUNT || !from_bits[dt]) {
        snprintf(err, n, "sb_gpu_download: unsupported dtype %d", (int)dt);
        return SB_ERROR;
    }
    const int64_t chunk = count < CONVERT_CHUNK ? count : CONVERT_CHUNK;
    if (!(tmp = malloc((size_t)(chunk > 0 ? chunk : 1) * sizeof *tmp))) {
        snprintf(err, n, "out of host memory for a %s download", dtype_table[dt].name);
        return SB_OOM;
    }
    const uint16_t *d = d_src;
    for (int64_t i0 = 0; i0 < count; i0 += chunk) {
        const int64_t m = count - i0 < chunk ? count - i0 : chunk;
        CUDA_CHECK(cudaMemcpyAsync(tmp, d + i0, (size_t)m * sizeof *tmp, cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaStreamSynchronize(st));
        for (int64_t i = 0; i < m; i++)
            h_dst[i0 + i] = from_bits[dt](tmp[i]);
    }
    free(tmp);
    return SB_OK;
fail:
    free(tmp);
    return SB_ERROR;
}

int sb_gpu_poison(struct op_ctx *ctx, void *d, size_t bytes)
{
    char *err = ctx->err;
    const size_t n = sizeof ctx->err;
    const int dev = ctx->gpu->index;
    CUDA_CHECK(cudaMemsetAsync(d, 0xFF, bytes, ctx->gpu->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->gpu->stream));
    return SB_OK;
fail:
    return SB_ERROR;
}

int sb_gpu_check_launch(struct op_ctx *ctx, const char *what)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        return SB_OK;
    snprintf(ctx->err, sizeof ctx->err, "kernel %s: %s (%s)%s", what, cudaGetErrorString(e),
             cudaGetErrorName(e),
             cuda_error_is_sticky(e) ? "; context lost, later cases on this device fail" : "");
    return SB_ERROR;
}

int gpu_time_once(struct gpu_ctx *g, int (*fn)(void *), void *arg, int flush_l2, double *ms,
                  char *err, size_t n)
{
    const int dev = g->index;
    float t = 0;
    if (flush_l2) {
        /* A new value each time, so no flush is a no-op rewrite of the last. */
        g->flush_value = (g->flush_value + 1) & 0xFF;
        CUDA_CHECK(cudaMemsetAsync(g->flush, (int)g->flush_value, g->flush_bytes, g->stream));
    }
    CUDA_CHECK(cudaEventRecord(g->start, g->stream));
    if (fn(arg) != SB_OK)
        return -1;                          /* fn wrote its own message into err */
    CUDA_CHECK(cudaEventRecord(g->stop, g->stream));
    /* A kernel's asynchronous fault (illegal address, trap) surfaces here. */
    CUDA_CHECK(cudaEventSynchronize(g->stop));
    CUDA_CHECK(cudaEventElapsedTime(&t, g->start, g->stop));
    *ms = t;
    return 0;
fail:
    cudaGetLastError();
    return -1;
}

int gpu_synchronize(struct gpu_ctx *g, char *err, size_t n)
{
    const int dev = g->index;
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    return 0;
fail:
    cudaGetLastError();
    return -1;
}

/* Device-to-device copy bandwidth, the ceiling a memory-bound kernel can
 * hope for: one half of the flush buffer (≥ 128 MiB, twice the L2) copied
 * onto the other, bytes read + written over the best of five copies.
 * Unverified: never run on a GPU. Returns 0 on any failure. */
double gpu_measure_bandwidth(struct gpu_ctx *g)
{
    const size_t half = g->flush_bytes / 2;
    float best = 0;
    for (int i = 0; i < 5; i++) {
        float t = 0;
        if (cudaEventRecord(g->start, g->stream) != cudaSuccess ||
            cudaMemcpyAsync(g->flush, (char *)g->flush + half, half, cudaMemcpyDeviceToDevice,
                            g->stream) != cudaSuccess ||
            cudaEventRecord(g->stop, g->stream) != cudaSuccess ||
            cudaEventSynchronize(g->stop) != cudaSuccess ||
            cudaEventElapsedTime(&t, g->start, g->stop) != cudaSuccess) {
            cudaGetLastError();
            return 0;
        }
        if (i > 0 && (best == 0 || t < best))  /* the first copy warms up */
            best = t;
    }
    return best > 0 ? 2.0 * (double)half / (best * 1e-3) : 0;
}

#endif /* SB_HAVE_CUDA */
