/*
 * calibrate.c — see calibrate.h. The cache and the JSON need no GPU; the
 * measurements (cuBLASLt and calibrate_kernels.cu) are unverified: they
 * compile and link here and have never run on a GPU.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "calibrate.h"
#include "ceilings.h"
#include "gpu.h"
#include "nvml.h"
#include "version.h"

const struct cal_info cal_table[CAL_COUNT] = {
    [CAL_GEMM_BF16] = { "gemm_bf16", "TFLOP/s", "tflops", 1e12, "cuBLASLt GEMM, bf16 in and out, fp32 accumulate" },
    [CAL_GEMM_FP16] = { "gemm_fp16", "TFLOP/s", "tflops", 1e12, "cuBLASLt GEMM, fp16 in and out, fp32 accumulate" },
    [CAL_GEMM_TF32] = { "gemm_tf32", "TFLOP/s", "tflops", 1e12, "cuBLASLt GEMM, fp32 in and out, tf32 tensor cores" },
    [CAL_GEMM_FP8] = { "gemm_fp8", "TFLOP/s", "tflops", 1e12, "cuBLASLt GEMM, fp8 e4m3 in, bf16 out (sm_89+)" },
    [CAL_GEMM_INT8] = { "gemm_int8", "TOP/s", "tops", 1e12, "cuBLASLt GEMM, int8 in, int32 out" },
    [CAL_FMA] = { "fma", "TFLOP/s", "tflops", 1e12, "fp32 FMA chains on every SM (seqbench's kernel)" },
    [CAL_SFU] = { "sfu_exp2", "Top/s", "tops", 1e12, "ex2.approx chains on every SM (special-function units)" },
    [CAL_COPY] = { "copy", "GB/s", "gbps", 1e9, "device-to-device copy, bytes read + written" },
};

double gpu_ceiling_flops(const struct gpu_ceilings *c, enum dtype dt)
{
    if (!c->loaded)
        return 0;
    switch (dt) {
    case DT_BF16: return c->value[CAL_GEMM_BF16];
    case DT_FP16: return c->value[CAL_GEMM_FP16];
    case DT_FP32: return c->value[CAL_FMA];
    default: return 0;
    }
}

double gpu_ceiling_bandwidth(const struct gpu_ceilings *c)
{
    return c->loaded ? c->value[CAL_COPY] : 0;
}

void gpu_ceilings_json(const struct gpu_ceilings *c, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "{");
    for (int i = 0; i < CAL_COUNT && c->loaded && k < n; i++) {
        if (!(c->value[i] > 0))
            continue;
        k += (size_t)snprintf(buf + k, n - k, "%s\"%s_%s\": %.4g, \"%s_clock_mhz\": %.0f",
                              k > 1 ? ", " : "", cal_table[i].name, cal_table[i].json_unit,
                              c->value[i] / cal_table[i].scale, cal_table[i].name, c->clock_mhz[i]);
    }
    if (k < n)
        snprintf(buf + k, n - k, "}");
}

/* The cache's names: each ceiling, then the clock it ran at. */
static void cache_names(const char *names[2 * CAL_COUNT], char store[2 * CAL_COUNT][48])
{
    for (int i = 0; i < CAL_COUNT; i++) {
        snprintf(store[i], sizeof store[i], "%s", cal_table[i].name);
        snprintf(store[CAL_COUNT + i], sizeof store[0], "%s_clock_mhz", cal_table[i].name);
        names[i] = store[i];
        names[CAL_COUNT + i] = store[CAL_COUNT + i];
    }
}

/* What the ceilings depend on: the GPU itself, its driver, its clocks, the
 * cuBLAS picking the GEMM kernels. */
static void cache_key(const struct gpu_info *info, struct nvml_dev *nvml, char *buf, size_t n)
{
    struct nvml_state st;
    int app = -1, max = -1, limit = -1;
    if (nvml && nvml_read_state(nvml, &st) == 0) {
        app = st.app_sm_mhz, max = st.max_sm_mhz;
        limit = isfinite(st.power_limit_w) ? (int)st.power_limit_w : -1;
    }
    snprintf(buf, n, "%s|%s|driver %s|sm clock %d kHz, app %d MHz, max %d MHz|power limit %d W|"
             "cuBLAS %s|%s", info->name, info->uuid, info->driver_release, info->clock_khz, app, max,
             limit, info->cublas_version, SB_GIT_COMMIT);
}

static void cache_io(struct gpu_ceilings *c, const char *key, int write)
{
    const char *names[2 * CAL_COUNT];
    char store[2 * CAL_COUNT][48];
    double v[2 * CAL_COUNT];
    cache_names(names, store);
    if (write) {
        memcpy(v, c->value, sizeof c->value);
        memcpy(v + CAL_COUNT, c->clock_mhz, sizeof c->clock_mhz);
        ceilings_cache_write(c->path, key, "this GPU's measured ceilings (harness/calibrate.c)", names,
                             v, 2 * CAL_COUNT);
    } else if (ceilings_cache_read(c->path, key, names, v, 2 * CAL_COUNT) == 0) {
        memcpy(c->value, v, sizeof c->value);
        memcpy(c->clock_mhz, v + CAL_COUNT, sizeof c->clock_mhz);
        c->loaded = 1;
        snprintf(c->origin, sizeof c->origin, "cached");
    }
}

static void measure(struct gpu_ceilings *c, struct gpu_ctx *g, const struct gpu_info *info,
                    struct nvml_dev *nvml);

void gpu_ceilings_load(struct gpu_ceilings *c, struct gpu_ctx *g, const struct gpu_info *info,
                       struct nvml_dev *nvml, int force)
{
    char key[1024];
    memset(c, 0, sizeof *c);
    if (!g) {
        snprintf(c->why, sizeof c->why, "no usable GPU");
        return;
    }
    cache_key(info, nvml, key, sizeof key);
    ceilings_cache_path("gpu-ceilings", key, c->path, sizeof c->path);
    if (!force)
        cache_io(c, key, 0);
    if (c->loaded)
        return;
    measure(c, g, info, nvml);
    c->loaded = 1;
    snprintf(c->origin, sizeof c->origin, "measured");
    cache_io(c, key, 1);
}

#ifndef SB_HAVE_CUDA

static void measure(struct gpu_ceilings *c, struct gpu_ctx *g, const struct gpu_info *info,
                    struct nvml_dev *nvml)
{
    (void)c, (void)g, (void)info, (void)nvml;
}

#else /* SB_HAVE_CUDA */

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "calibrate_kernels.h"

/* The GEMMs, all "TN" (A transposed; the one layout fp8 and int8 accept
 * on Ada and Hopper), M = N = K = CAL_GEMM_SIZE. */
static const struct {
    enum cal_kind kind;
    cudaDataType_t ab, cd, scale;
    cublasComputeType_t compute;
    int ab_bytes, cd_bytes;
    uint32_t keep;              /* fill mask: one exponent bit cleared per element */
} gemms[] = {
    { CAL_GEMM_BF16, CUDA_R_16BF, CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F, 2, 2, ~0x40004000u },
    { CAL_GEMM_FP16, CUDA_R_16F, CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 2, 2, ~0x40004000u },
    { CAL_GEMM_TF32, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, 4, 4, ~0x40000000u },
    { CAL_GEMM_FP8, CUDA_R_8F_E4M3, CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F, 1, 2, ~0x40404040u },
    { CAL_GEMM_INT8, CUDA_R_8I, CUDA_R_32I, CUDA_R_32I, CUBLAS_COMPUTE_32I, 1, 4, ~0x40404040u },
};
#define CAL_WORKSPACE ((size_t)32 << 20)    /* cuBLAS's recommendation on Hopper */

/* The SM clock now, 0 unknown. */
static double clock_mhz(struct nvml_dev *nvml)
{
    unsigned mhz = 0;
    uint64_t r;
    return nvml && nvml_sm_clock(nvml, &mhz, &r) == 0 ? mhz : 0;
}

/* Best time in ms of CAL_REPS calls of fn after two warm-up calls; 0 on
 * any failure. */
static double best_ms(cudaStream_t st, int (*fn)(void *), void *arg)
{
    cudaEvent_t a, b;
    double best = 0;
    if (cudaEventCreate(&a) != cudaSuccess || cudaEventCreate(&b) != cudaSuccess)
        return 0;
    for (int i = 0; i < CAL_REPS + 2; i++) {
        float t = 0;
        if (cudaEventRecord(a, st) != cudaSuccess || fn(arg) != 0 ||
            cudaEventRecord(b, st) != cudaSuccess || cudaEventSynchronize(b) != cudaSuccess ||
            cudaEventElapsedTime(&t, a, b) != cudaSuccess) {
            best = 0;
            break;
        }
        if (i >= 2 && (best == 0 || t < best))
            best = t;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaGetLastError();
    return best;
}

struct gemm_arg {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    const void *alpha, *beta;
    void *a, *b, *d, *ws;
    cudaStream_t st;
};

static int gemm_once(void *p)
{
    struct gemm_arg *g = p;
    return cublasLtMatmul(g->lt, g->op, g->alpha, g->a, g->la, g->b, g->lb, g->beta, g->d, g->lc,
                          g->d, g->lc, &g->algo, g->ws, CAL_WORKSPACE, g->st) != CUBLAS_STATUS_SUCCESS;
}

/* One GEMM kind's FLOP/s (0 when cuBLASLt has no kernel for it here). */
static double gemm_rate(cublasLtHandle_t lt, cudaStream_t st, int i, void *a, void *b, void *d,
                        void *ws)
{
    const int64_t s = CAL_GEMM_SIZE;
    const float f1 = 1, f0 = 0;
    const int32_t i1 = 1, i0 = 0;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const size_t ws_size = CAL_WORKSPACE;
    struct gemm_arg g = { .lt = lt, .a = a, .b = b, .d = d, .ws = ws, .st = st };
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    double ms = 0;
    g.alpha = gemms[i].scale == CUDA_R_32I ? (const void *)&i1 : (const void *)&f1;
    g.beta = gemms[i].scale == CUDA_R_32I ? (const void *)&i0 : (const void *)&f0;
    if (sb_calib_fill(st, a, (uint64_t)(s * s * gemms[i].ab_bytes / 4), 1u + (unsigned)i, gemms[i].keep) ||
        sb_calib_fill(st, b, (uint64_t)(s * s * gemms[i].ab_bytes / 4), 7u + (unsigned)i, gemms[i].keep))
        goto out;
    if (cublasLtMatmulDescCreate(&g.op, gemms[i].compute, gemms[i].scale) ||
        cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) ||
        cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) ||
        cublasLtMatrixLayoutCreate(&g.la, gemms[i].ab, (uint64_t)s, (uint64_t)s, s) ||
        cublasLtMatrixLayoutCreate(&g.lb, gemms[i].ab, (uint64_t)s, (uint64_t)s, s) ||
        cublasLtMatrixLayoutCreate(&g.lc, gemms[i].cd, (uint64_t)s, (uint64_t)s, s) ||
        cublasLtMatmulPreferenceCreate(&pref) ||
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_size,
                                             sizeof ws_size) ||
        cublasLtMatmulAlgoGetHeuristic(lt, g.op, g.la, g.lb, g.lc, g.lc, pref, 1, &res, &found) ||
        found < 1)
        goto out;
    g.algo = res.algo;
    ms = best_ms(st, gemm_once, &g);
out:
    if (pref)
        cublasLtMatmulPreferenceDestroy(pref);
    if (g.la)
        cublasLtMatrixLayoutDestroy(g.la);
    if (g.lb)
        cublasLtMatrixLayoutDestroy(g.lb);
    if (g.lc)
        cublasLtMatrixLayoutDestroy(g.lc);
    if (g.op)
        cublasLtMatmulDescDestroy(g.op);
    cudaGetLastError();
    return ms > 0 ? 2.0 * (double)s * s * s / (ms * 1e-3) : 0;
}

struct unit_arg {
    int (*launch)(void *, int, float *, int);
    cudaStream_t st;
    int blocks, iters;
    float *out;
};

static int unit_once(void *p)
{
    struct unit_arg *u = p;
    return u->launch(u->st, u->blocks, u->out, u->iters);
}

/* Every SM busy: blocks per SM enough for the chains' latency to hide. */
#define CAL_BLOCKS_PER_SM 8
#define CAL_ITERS 16384

static void measure(struct gpu_ceilings *c, struct gpu_ctx *g, const struct gpu_info *info,
                    struct nvml_dev *nvml)
{
    const size_t s = CAL_GEMM_SIZE, max_ab = 4, max_cd = 4;
    cudaStream_t st = gpu_stream(g);
    void *a = NULL, *b = NULL, *d = NULL, *ws = NULL;
    cublasLtHandle_t lt = NULL;
    if (cudaMalloc(&a, s * s * max_ab) == cudaSuccess && cudaMalloc(&b, s * s * max_ab) == cudaSuccess &&
        cudaMalloc(&d, s * s * max_cd) == cudaSuccess && cudaMalloc(&ws, CAL_WORKSPACE) == cudaSuccess &&
        cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS)
        for (size_t i = 0; i < sizeof gemms / sizeof gemms[0]; i++) {
            c->value[gemms[i].kind] = gemm_rate(lt, st, (int)i, a, b, d, ws);
            c->clock_mhz[gemms[i].kind] = clock_mhz(nvml);
        }
    cudaGetLastError();
    const int blocks = (info->sms > 0 ? info->sms : 1) * CAL_BLOCKS_PER_SM;
    struct unit_arg u = { .st = st, .blocks = blocks, .iters = CAL_ITERS, .out = d };
    const double ops = (double)blocks * CALIB_BLOCK * CALIB_CHAINS * CAL_ITERS;
    double ms;
    if (d) {
        u.launch = sb_calib_fma;
        ms = best_ms(st, unit_once, &u);
        c->value[CAL_FMA] = ms > 0 ? 2 * ops / (ms * 1e-3) : 0;     /* an FMA is 2 FLOPs */
        c->clock_mhz[CAL_FMA] = clock_mhz(nvml);
        u.launch = sb_calib_ex2;
        ms = best_ms(st, unit_once, &u);
        c->value[CAL_SFU] = ms > 0 ? ops / (ms * 1e-3) : 0;
        c->clock_mhz[CAL_SFU] = clock_mhz(nvml);
    }
    c->value[CAL_COPY] = gpu_measure_bandwidth(g);
    c->clock_mhz[CAL_COPY] = clock_mhz(nvml);
    if (lt)
        cublasLtDestroy(lt);
    cudaFree(a), cudaFree(b), cudaFree(d), cudaFree(ws);
    cudaGetLastError();
}

#endif /* SB_HAVE_CUDA */
