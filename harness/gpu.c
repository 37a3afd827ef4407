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

#else /* SB_HAVE_CUDA */

#include <cuda_runtime_api.h>

/* The L2 flush buffer: at least twice the L2, and never less than 256 MiB
 * (what Triton's do_bench clears), so no line of the previous sample stays. */
#define FLUSH_MIN_BYTES ((size_t)256 << 20)

struct gpu_alloc {
    void *ptr;
    size_t bytes;
};

struct gpu_ctx {
    int index;
    cudaStream_t stream;
    cudaEvent_t start, stop;
    void *flush;
    size_t flush_bytes;
    unsigned flush_value;
    struct gpu_alloc *allocs;       /* this case's tracked buffers */
    int n_allocs, cap_allocs;
    int64_t current, peak;
};

/* CUDA_CHECK: the call, its error name and file:line into err; jumps to fail. */
#define CUDA_CHECK(call)                                                                 \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) {                                                         \
            snprintf(err, n, "%s: %s (%s:%d)", #call, cudaGetErrorString(e_), __FILE__,  \
                     __LINE__);                                                          \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

int gpu_probe(int index, struct gpu_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;
    cudaDriverGetVersion(&info->driver_version);
    cudaRuntimeGetVersion(&info->runtime_version);
    int count = 0;                          /* left unmodified on error */
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count <= 0) {
        snprintf(info->why_absent, sizeof info->why_absent, "no CUDA device (%s)",
                 e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
        cudaGetLastError();
        return -1;
    }
    if (index >= count) {
        snprintf(info->why_absent, sizeof info->why_absent, "no CUDA device cuda:%d (found %d)",
                 index, count);
        return -1;
    }
    struct cudaDeviceProp p;
    if ((e = cudaGetDeviceProperties(&p, index)) != cudaSuccess) {
        snprintf(info->why_absent, sizeof info->why_absent, "cuda:%d: %s", index,
                 cudaGetErrorString(e));
        return -1;
    }
    snprintf(info->name, sizeof info->name, "%s", p.name);
    const unsigned char *u = (const unsigned char *)p.uuid.bytes;
    snprintf(info->uuid, sizeof info->uuid,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    info->sms = p.multiProcessorCount;
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->mem_bytes = (int64_t)p.totalGlobalMem;
    info->l2_bytes = p.l2CacheSize;
    /* CUDA 13 removed the clocks from cudaDeviceProp. */
    cudaDeviceGetAttribute(&info->clock_khz, cudaDevAttrClockRate, index);
    cudaDeviceGetAttribute(&info->mem_clock_khz, cudaDevAttrMemoryClockRate, index);
    cudaDeviceGetAttribute(&info->mem_bus_bits, cudaDevAttrGlobalMemoryBusWidth, index);
    info->present = 1;
    return 0;
}

/* FLOP per clock per SM, dense (a multiply-add is 2). Tensor bf16: H100
 * SXM's 989.4 TFLOP/s = 132 SMs x 1.83 GHz x 4096; A100's 312 = 108 x 1.41 GHz
 * x 2048; GA10x and Ada have half of A100's rate per SM (L40S: 142 x 2.52 GHz
 * x 1024 = 366). FP32 FMA: 64 lanes x 2 on A100, 128 x 2 on GA10x, Ada and
 * Hopper. Multiplied by the max SM clock the runtime reports, which is a
 * little above the clock behind NVIDIA's tensor figures (1.98 vs 1.83 GHz on
 * H100 SXM), so % of peak errs low rather than high. */
static const struct { int major, minor, tensor_bf16, fp32; } per_sm_clock[] = {
    { 8, 0, 2048, 128 }, { 8, 6, 1024, 256 }, { 8, 7, 1024, 256 }, { 8, 9, 1024, 256 },
    { 9, 0, 4096, 256 },
};

double gpu_peak_flops(const struct gpu_info *info, enum dtype dt, int tensor)
{
    for (size_t i = 0; i < sizeof per_sm_clock / sizeof per_sm_clock[0]; i++)
        if (per_sm_clock[i].major == info->cc_major && per_sm_clock[i].minor == info->cc_minor) {
            int per = tensor && dt != DT_FP32 ? per_sm_clock[i].tensor_bf16 : per_sm_clock[i].fp32;
            return (double)per * info->sms * info->clock_khz * 1e3;
        }
    return 0;
}

double gpu_peak_bandwidth(const struct gpu_info *info)
{
    return 2.0 * info->mem_clock_khz * 1e3 * info->mem_bus_bits / 8.0;
}

struct gpu_ctx *gpu_open(int index, char *err, size_t n)
{
    struct gpu_ctx *g = calloc(1, sizeof *g);
    int l2 = 0;
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
    gpu_close(g);
    return NULL;
}

void gpu_close(struct gpu_ctx *g)
{
    if (!g)
        return;
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
    free(g);
}

int64_t gpu_free_bytes(struct gpu_ctx *g)
{
    size_t free_b = 0, total = 0;
    (void)g;
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
        cudaGetLastError();
        snprintf(ctx->err, sizeof ctx->err, "cudaMalloc(%zu bytes): %s", bytes, cudaGetErrorString(e));
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
    cudaStreamSynchronize(g->stream);
    for (int i = 0; i < g->n_allocs; i++)
        cudaFree(g->allocs[i].ptr);
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

int sb_gpu_upload(struct op_ctx *ctx, void *d, const float *h, int64_t count, enum dtype dt)
{
    char *err = ctx->err;
    size_t n = sizeof ctx->err;
    uint16_t *tmp = NULL;
    if (dt == DT_FP32) {
        CUDA_CHECK(cudaMemcpy(d, h, (size_t)count * 4, cudaMemcpyHostToDevice));
        return SB_OK;
    }
    if (!(tmp = malloc((size_t)count * 2))) {
        snprintf(err, n, "out of host memory for a bf16 upload");
        return SB_OOM;
    }
    for (int64_t i = 0; i < count; i++)
        tmp[i] = bf16_bits(h[i]);
    CUDA_CHECK(cudaMemcpy(d, tmp, (size_t)count * 2, cudaMemcpyHostToDevice));
    free(tmp);
    return SB_OK;
fail:
    free(tmp);
    return SB_ERROR;
}

int sb_gpu_download(struct op_ctx *ctx, float *h, const void *d, int64_t count, enum dtype dt)
{
    char *err = ctx->err;
    size_t n = sizeof ctx->err;
    uint16_t *tmp = NULL;
    CUDA_CHECK(cudaStreamSynchronize(ctx->gpu->stream));
    if (dt == DT_FP32) {
        CUDA_CHECK(cudaMemcpy(h, d, (size_t)count * 4, cudaMemcpyDeviceToHost));
        return SB_OK;
    }
    if (!(tmp = malloc((size_t)count * 2))) {
        snprintf(err, n, "out of host memory for a bf16 download");
        return SB_OOM;
    }
    CUDA_CHECK(cudaMemcpy(tmp, d, (size_t)count * 2, cudaMemcpyDeviceToHost));
    for (int64_t i = 0; i < count; i++)
        h[i] = bf16_from_bits(tmp[i]);
    free(tmp);
    return SB_OK;
fail:
    free(tmp);
    return SB_ERROR;
}

int sb_gpu_poison(struct op_ctx *ctx, void *d, size_t bytes)
{
    char *err = ctx->err;
    size_t n = sizeof ctx->err;
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
    snprintf(ctx->err, sizeof ctx->err, "kernel %s: %s", what, cudaGetErrorString(e));
    return SB_ERROR;
}

int gpu_time_once(struct gpu_ctx *g, int (*fn)(void *), void *arg, int flush_l2, double *ms,
                  char *err, size_t n)
{
    float t = 0;
    if (flush_l2) {
        /* A new value each time, so the memset cannot be elided as a no-op. */
        g->flush_value = (g->flush_value + 1) & 0xFF;
        CUDA_CHECK(cudaMemsetAsync(g->flush, (int)g->flush_value, g->flush_bytes, g->stream));
    }
    CUDA_CHECK(cudaEventRecord(g->start, g->stream));
    if (fn(arg) != SB_OK)
        return -1;                          /* the implementation wrote its own err */
    CUDA_CHECK(cudaEventRecord(g->stop, g->stream));
    CUDA_CHECK(cudaEventSynchronize(g->stop));
    CUDA_CHECK(cudaEventElapsedTime(&t, g->start, g->stop));
    *ms = t;
    return 0;
fail:
    return -1;
}

int gpu_synchronize(struct gpu_ctx *g, char *err, size_t n)
{
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    return 0;
fail:
    return -1;
}

#endif /* SB_HAVE_CUDA */
