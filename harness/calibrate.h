/*
 * calibrate.h — the GPU's compute ceilings, measured (`bench env
 * --calibrate`): cuBLASLt GEMMs at a large square shape in bf16, fp16,
 * tf32, fp8 (e4m3) and int8, the FMA units' and the special-function
 * units' (exp2) rates from seqbench's own kernels, and the device copy
 * bandwidth (gpu_measure_bandwidth), each with the SM clock it ran at.
 *
 * Results are utilisation against the datasheet (pct_bound, the headline)
 * and against these (pct_bound_measured): a kernel at 70 % of the
 * datasheet may be at 95 % of what cuBLAS reaches on this GPU at its
 * clocks. They are cached like the CPU's (ceilings.h), keyed by the GPU's
 * UUID, the driver release, the clocks NVML reports and the cuBLAS
 * version, so every run stores them without measuring again; --calibrate
 * measures afresh.
 */
#ifndef SEQBENCH_CALIBRATE_H
#define SEQBENCH_CALIBRATE_H

#include <stddef.h>

#include "seqbench.h"

struct gpu_ctx;
struct gpu_info;
struct nvml_dev;

/* What is measured, in the cache's and the JSON's order. */
enum cal_kind {
    CAL_GEMM_BF16, CAL_GEMM_FP16, CAL_GEMM_TF32, CAL_GEMM_FP8, CAL_GEMM_INT8,
    CAL_FMA, CAL_SFU, CAL_COPY, CAL_COUNT
};
struct cal_info {
    const char *name;           /* "gemm_bf16": cache and JSON key */
    const char *unit;           /* "TFLOP/s", "TOP/s", "GB/s" */
    const char *json_unit;      /* the same in a JSON key: "tflops", "tops", "gbps" */
    double scale;               /* value / scale = the unit */
    const char *what;
};
extern const struct cal_info cal_table[CAL_COUNT];

#define CAL_GEMM_SIZE 8192      /* M = N = K: every tensor-core GEMM is at its peak shape here */
#define CAL_REPS 10             /* timed repetitions after a warm-up; the best is kept */

struct gpu_ceilings {
    double value[CAL_COUNT];    /* FLOP/s, op/s or bytes/s; 0 unknown (unsupported, failed) */
    double clock_mhz[CAL_COUNT];/* the SM clock (NVML) right after each; 0 unknown */
    int loaded;                 /* 1: value[] is from the cache or measured */
    char origin[32];            /* "cached", "measured", "" none */
    char path[512];             /* the cache file; "" none */
    char why[200];              /* why none: "no GPU", ... */
};

/* The GPU's ceilings: from the cache, else (or with force) measured now
 * (seconds) and cached. g NULL (no GPU): nothing, why says so. */
void gpu_ceilings_load(struct gpu_ceilings *c, struct gpu_ctx *g, const struct gpu_info *info,
                       struct nvml_dev *nvml, int force);

/* The measured compute roof of a result's dtype: bf16 and fp16 their
 * GEMMs, fp32 the FMA rate (the kernels' fp32 paths are FMA, not tf32); 0
 * unknown. */
double gpu_ceiling_flops(const struct gpu_ceilings *c, enum dtype dt);
double gpu_ceiling_bandwidth(const struct gpu_ceilings *c);

/* {"gemm_bf16_tflops": 750.1, "gemm_bf16_clock_mhz": 1980, ...} ("{}" when
 * none). */
void gpu_ceilings_json(const struct gpu_ceilings *c, char *buf, size_t n);

#endif
