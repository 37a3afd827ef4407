/*
 * gpu.c — the CUDA device as the harness sees it; see gpu.h. Only the CUDA
 * runtime API (linked statically), never the driver library, so bench starts
 * on a machine with no driver and reports "no CUDA device". cuBLAS (linked
 * dynamically) is asked only for its version here.
 */
#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

/* The build-specific halves of gpu_probe, defined below for each build. */
static void library_versions(struct gpu_info *info);
static int probe_device(int index, struct gpu_info *info);

/* ---- what does not need CUDA ------------------------------------------------ */

int gpu_driver_release(const char *path, char *buf, size_t n)
{
    char line[512];
    FILE *f = fopen(path, "r");
    buf[0] = 0;
    while (f && !buf[0] && fgets(line, sizeof line, f)) {
        if (strncmp(line, "NVRM version:", 13) != 0)
            continue;
        for (char *save, *w = strtok_r(line + 13, " \t\n", &save); w && !buf[0];
             w = strtok_r(NULL, " \t\n", &save)) {
            size_t len = strspn(w, "0123456789.");
            if (len == strlen(w) && isdigit((unsigned char)w[0]) && strchr(w, '.') && len < n)
                snprintf(buf, n, "%s", w);
        }
    }
    if (f)
        fclose(f);
    return buf[0] ? 0 : -1;
}

/* 1 when the NVIDIA driver made a device node (/dev/nvidia0, ...): a GPU is
 * here even when the CUDA runtime cannot use it. A container without GPUs
 * has none, even on a GPU host. */
static int nvidia_device_nodes(void)
{
    glob_t g;
    int found = glob("/dev/nvidia[0-9]*", 0, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    return found;
}

int gpu_probe(int index, struct gpu_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;
    gpu_driver_release(NVIDIA_VERSION_FILE, info->driver_release, sizeof info->driver_release);
    info->host_has_gpu = nvidia_device_nodes();
    library_versions(info);
    const char *fault = getenv(GPU_FAULT_ENV);
    if (fault && fault[0]) {
        snprintf(info->why_absent, sizeof info->why_absent, "GPU setup failed: %.100s (%s)",
                 fault, GPU_FAULT_ENV);
        info->host_has_gpu = 1;
        return -1;
    }
    if (probe_device(index, info) != 0)
        return -1;
    info->present = info->host_has_gpu = 1;
    return 0;
}

#ifndef SB_HAVE_CUDA

#define NO_CUDA "built without CUDA (nvcc not found at build time)"

static void library_versions(struct gpu_info *info)
{
    (void)info;
}
static int probe_device(int index, struct gpu_info *info)
{
    (void)index;
    snprintf(info->why_absent, sizeof info->why_absent, NO_CUDA);
    return -1;
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
int64_t gpu_pool_peak_bytes(struct gpu_ctx *g) { (void)g; return -1; }
void *gpu_cu_context(struct gpu_ctx *g) { (void)g; return NULL; }
int gpu_flush(struct gpu_ctx *g, char *err, size_t n)
{
    (void)g;
    snprintf(err, n, NO_CUDA);
    return -1;
}
void *sb_gpu_stream(struct op_ctx *ctx) { (void)ctx; return NULL; }
void *gpu_stream(struct gpu_ctx *g) { (void)g; return NULL; }
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
int gpu_graph_capture(struct gpu_ctx *g, int (*fn)(void *), void *arg, int launches, char *err,
                      size_t n)
{
    (void)g, (void)fn, (void)arg, (void)launches;
    snprintf(err, n, NO_CUDA);
    return SB_ERROR;
}
int gpu_graph_launch(struct gpu_ctx *g, char *err, size_t n)
{
    (void)g;
    snprintf(err, n, NO_CUDA);
    return SB_ERROR;
}
void gpu_graph_release(struct gpu_ctx *g) { (void)g; }
double gpu_measure_bandwidth(struct gpu_ctx *g)
{
    (void)g;
    return 0;
}
int gpu_ctx_index(const struct gpu_ctx *g) { (void)g; return -1; }
size_t gpu_flush_bytes(const struct gpu_ctx *g) { (void)g; return 0; }

#else /* SB_HAVE_CUDA */

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cupti.h"
#include "gpu_kernels.h"
#include "measure.h"

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
    unsigned *h_flags;              /* host-mapped: [0] release, [FLAG_STRIDE] timed out */
    unsigned *d_release, *d_timed_out;  /* their device addresses */
    unsigned block_gen;             /* the generation of the last blocking kernel */
    cudaGraphExec_t graph;          /* the graph mode's instantiated graph, or NULL */
    cudaMemPool_t pool;             /* every tracked allocation comes from it */
    struct gpu_alloc *allocs;       /* this case's tracked buffers */
    int n_allocs, cap_allocs;
    int64_t current, peak;          /* tracked bytes now / highest since gpu_reset_peak */
};

/* The two host-mapped words sit a cache line apart: the host writes one, the
 * blocking kernel the other. */
#define FLAG_STRIDE (128 / sizeof(unsigned))

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

/* The CUDA driver and runtime API versions and cuBLAS's: none needs a
 * device (cuBLAS answers from the library alone). */
static void library_versions(struct gpu_info *info)
{
    int v[3] = { 0 };
    cudaDriverGetVersion(&info->driver_version);    /* 0 when no driver is installed */
    cudaRuntimeGetVersion(&info->runtime_version);
    if (cublasGetProperty(MAJOR_VERSION, &v[0]) != CUBLAS_STATUS_SUCCESS ||
        cublasGetProperty(MINOR_VERSION, &v[1]) != CUBLAS_STATUS_SUCCESS ||
        cublasGetProperty(PATCH_LEVEL, &v[2]) != CUBLAS_STATUS_SUCCESS)
        return;
    char lt[24];
    size_t l = cublasLtGetVersion();                /* 130100 for 13.1.0 */
    snprintf(info->cublas_version, sizeof info->cublas_version, "%d.%d.%d", v[0], v[1], v[2]);
    snprintf(lt, sizeof lt, "%zu.%zu.%zu", l / 10000, l / 100 % 100, l % 100);
    if (strcmp(lt, info->cublas_version) != 0)      /* a cuBLASLt from another release */
        snprintf(info->cublas_version + strlen(info->cublas_version),
                 sizeof info->cublas_version - strlen(info->cublas_version), " (cuBLASLt %s)", lt);
}

static int probe_device(int index, struct gpu_info *info)
{
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
    info->n_devices = count;
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
    return 0;
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
    /* Cached (not write-combined) pinned memory: the host's store reaches
     * the device by coherent reads, and the host reads the kernel's. */
    CUDA_CHECK(cudaHostAlloc((void **)&g->h_flags, 2 * FLAG_STRIDE * sizeof(unsigned),
                             cudaHostAllocMapped | cudaHostAllocPortable));
    memset(g->h_flags, 0, 2 * FLAG_STRIDE * sizeof(unsigned));
    CUDA_CHECK(cudaHostGetDevicePointer((void **)&g->d_release, g->h_flags, 0));
    g->d_timed_out = g->d_release + FLAG_STRIDE;
    /* The harness's own stream-ordered pool: its used high-water mark is
     * the case's device footprint as the driver counts it. It keeps its
     * memory between a case's allocations (no release to the OS inside a
     * case) and is trimmed when the case's buffers are freed. */
    struct cudaMemPoolProps props = { 0 };
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = index;
    CUDA_CHECK(cudaMemPoolCreate(&g->pool, &props));
    uint64_t keep = UINT64_MAX;
    CUDA_CHECK(cudaMemPoolSetAttribute(g->pool, cudaMemPoolAttrReleaseThreshold, &keep));
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
    gpu_graph_release(g);
    if (g->pool)
        cudaMemPoolDestroy(g->pool);
    if (g->h_flags)
        cudaFreeHost(g->h_flags);
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
    /* Stream-ordered on the case's stream, then waited for: the buffer is
     * ready for any stream when this returns, as cudaMalloc's would be. */
    cudaError_t e = cudaMallocFromPoolAsync(&p, bytes ? bytes : 1, g->pool, g->stream);
    if (e == cudaSuccess && (e = cudaStreamSynchronize(g->stream)) != cudaSuccess)
        p = NULL;
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
    for (int i = 0; i < g->n_allocs; i++)   /* after the stream's work: no kernel still uses them */
        cudaFreeAsync(g->allocs[i].ptr, g->stream);
    cudaStreamSynchronize(g->stream);
    if (g->pool)                            /* the next case's free memory is the device's */
        cudaMemPoolTrimTo(g->pool, 0);
    cudaGetLastError();                     /* a failed free must not leak into the next case */
    g->n_allocs = 0;
    g->current = 0;
}

void gpu_reset_peak(struct gpu_ctx *g)
{
    g->peak = g->current;
    /* The pool's high-water marks can only be reset to 0, which the driver
     * reads as "from the current use on". */
    uint64_t zero = 0;
    if (g->pool) {
        cudaMemPoolSetAttribute(g->pool, cudaMemPoolAttrUsedMemHigh, &zero);
        cudaMemPoolSetAttribute(g->pool, cudaMemPoolAttrReservedMemHigh, &zero);
        cudaGetLastError();
    }
}

int64_t gpu_peak_case_bytes(struct gpu_ctx *g)
{
    return g->peak;
}

int64_t gpu_pool_peak_bytes(struct gpu_ctx *g)
{
    uint64_t v = 0;
    if (!g->pool || cudaMemPoolGetAttribute(g->pool, cudaMemPoolAttrUsedMemHigh, &v) != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    return (int64_t)v;
}

void *gpu_cu_context(struct gpu_ctx *g)
{
    /* The driver's current context without linking libcuda: cudart hands
     * out the driver's entry point (cuCtxGetCurrent, CUDA 12.0 ABI). */
    typedef int (*get_current_fn)(void **);
    get_current_fn get = NULL;
    enum cudaDriverEntryPointQueryResult q;
    void *ctx = NULL;
    (void)g;                /* the current device is g's: gpu_open set it */
    if (cudaFree(0) != cudaSuccess ||
        cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", (void **)&get, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess || !get || get(&ctx) != 0) {
        cudaGetLastError();
        return NULL;
    }
    return ctx;
}

int gpu_flush(struct gpu_ctx *g, char *err, size_t n)
{
    const int dev = g->index;
    g->flush_value = (g->flush_value + 1) & 0xFF;
    CUDA_CHECK(cudaMemsetAsync(g->flush, (int)g->flush_value, g->flush_bytes, g->stream));
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    return 0;
fail:
    cudaGetLastError();
    return -1;
}

void *sb_gpu_stream(struct op_ctx *ctx)
{
    return ctx->gpu->stream;
}

void *gpu_stream(struct gpu_ctx *g)
{
    return g->stream;
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

/* Lets the blocking kernel of generation gen go. The sequentially
 * consistent store drains the CPU's store buffer at once (mfence on x86). */
static void block_release(struct gpu_ctx *g, unsigned gen)
{
    __atomic_store_n(&g->h_flags[0], gen, __ATOMIC_SEQ_CST);
}

int gpu_time_once(struct gpu_ctx *g, int (*fn)(void *), void *arg, int flush_l2, double *ms,
                  char *err, size_t n)
{
    const int dev = g->index;
    float t = 0;
    int rc;
    if (flush_l2) {
        /* A new value each time, so no flush is a no-op rewrite of the last. */
        g->flush_value = (g->flush_value + 1) & 0xFF;
        CUDA_CHECK(cudaMemsetAsync(g->flush, (int)g->flush_value, g->flush_bytes, g->stream));
    }
    /* The stream is idle before the blocking kernel starts its clock, so its
     * timeout measures the host's queueing alone. */
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    if (++g->block_gen == 0)            /* 0 is the flag's initial value */
        g->block_gen = 1;
    const unsigned gen = g->block_gen;
    const double t_queue = now_seconds();
    /* Under a profiler that serialises launches (ncu) the blocking kernel
     * would hold the op's first launch until its timeout: the events then
     * time the launches as queued. Nothing timed under a profiler is stored
     * as a measurement anyway (profile_cmd.h runs it with --no-db). */
    const int blocked = !cupti_injected_profiler();
    if (blocked)
        CUDA_CHECK((cudaError_t)sb_gpu_block_stream(g->stream, g->d_release, gen, g->d_timed_out,
                                                    (uint64_t)(GPU_BLOCK_TIMEOUT_S * 1e9)));
    /* From here on the kernel must be released on every path. */
    cudaError_t e = cudaEventRecord(g->start, g->stream);
    rc = e == cudaSuccess ? fn(arg) : SB_ERROR;
    if (rc == SB_OK)
        e = cudaEventRecord(g->stop, g->stream);
    block_release(g, gen);
    const double queued_s = now_seconds() - t_queue;
    if (rc != SB_OK) {
        if (e != cudaSuccess)
            cuda_error_text(err, n, dev, "cudaEventRecord(start)", e, __FILE__, __LINE__);
        cudaStreamSynchronize(g->stream);   /* fn wrote err; let the blocking kernel finish */
        cudaGetLastError();
        return -1;
    }
    CUDA_CHECK(e);
    /* A kernel's asynchronous fault (illegal address, trap) surfaces here. */
    CUDA_CHECK(cudaEventSynchronize(g->stop));
    if (__atomic_load_n(&g->h_flags[FLAG_STRIDE], __ATOMIC_ACQUIRE) == gen) {
        snprintf(err, n, "cuda:%d: timing: the blocking kernel released itself after %g s while "
                 "the host took %.3g s to queue the sample: run() waits for the GPU (a "
                 "synchronising call, or a kernel's module loaded lazily) or queues more launches "
                 "than the stream holds; the sample is invalid", dev, GPU_BLOCK_TIMEOUT_S, queued_s);
        return -1;
    }
    CUDA_CHECK(cudaEventElapsedTime(&t, g->start, g->stop));
    *ms = t;
    return 0;
fail:
    cudaGetLastError();
    return -1;
}

/* Capture errors: fn did something a graph cannot hold. */
static int capture_error(cudaError_t e)
{
    switch (e) {
    case cudaErrorStreamCaptureUnsupported: case cudaErrorStreamCaptureInvalidated:
    case cudaErrorStreamCaptureMerge: case cudaErrorStreamCaptureUnmatched:
    case cudaErrorStreamCaptureUnjoined: case cudaErrorStreamCaptureIsolation:
    case cudaErrorStreamCaptureImplicit: case cudaErrorCapturedEvent:
    case cudaErrorStreamCaptureWrongThread:
        return 1;
    default:
        return 0;
    }
}

int gpu_graph_capture(struct gpu_ctx *g, int (*fn)(void *), void *arg, int launches, char *err,
                      size_t n)
{
    const int dev = g->index;
    cudaGraph_t graph = NULL;
    int rc = SB_OK;
    gpu_graph_release(g);
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    /* Thread-local: another thread's unsafe call (none today) cannot
     * invalidate the capture, while fn's own are still refused. */
    CUDA_CHECK(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < launches && rc == SB_OK; i++)
        rc = fn(arg);
    cudaError_t e = cudaStreamEndCapture(g->stream, &graph);   /* always ends the capture */
    cudaError_t last = cudaGetLastError();
    if (capture_error(e) || capture_error(last) || (rc == SB_OK && e != cudaSuccess)) {
        char why[200];
        snprintf(why, sizeof why, "%s", rc != SB_OK ? err : cudaGetErrorName(e));
        snprintf(err, n, "timing=graph: run() cannot be captured into a CUDA graph (%s)", why);
        rc = capture_error(e) || capture_error(last) ? SB_UNSUPPORTED : SB_ERROR;
        goto out;
    }
    if (rc != SB_OK)
        goto out;                           /* fn's own failure; fn wrote err */
    CUDA_CHECK(cudaGraphInstantiate(&g->graph, graph, 0));
    CUDA_CHECK(cudaGraphUpload(g->graph, g->stream));
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
out:
    if (graph)
        cudaGraphDestroy(graph);
    return rc;
fail:
    cudaGetLastError();
    if (graph)
        cudaGraphDestroy(graph);
    gpu_graph_release(g);
    return SB_ERROR;
}

int gpu_graph_launch(struct gpu_ctx *g, char *err, size_t n)
{
    const int dev = g->index;
    if (!g->graph) {
        snprintf(err, n, "cuda:%d: gpu_graph_launch: no graph captured", dev);
        return SB_ERROR;
    }
    CUDA_CHECK(cudaGraphLaunch(g->graph, g->stream));
    return SB_OK;
fail:
    cudaGetLastError();
    return SB_ERROR;
}

void gpu_graph_release(struct gpu_ctx *g)
{
    if (g && g->graph) {
        cudaStreamSynchronize(g->stream);
        cudaGraphExecDestroy(g->graph);
        cudaGetLastError();
        g->graph = NULL;
    }
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

int gpu_ctx_index(const struct gpu_ctx *g)
{
    return g->index;
}

size_t gpu_flush_bytes(const struct gpu_ctx *g)
{
    return g->flush_bytes;
}

#endif /* SB_HAVE_CUDA */
