/*
 * peaks.h — NVIDIA's stated peaks per GPU product, the roofs a GPU result is
 * measured against: bf16 on the tensor cores (dense, fp32 accumulate), fp32
 * without tensor cores, and DRAM bandwidth. One convention for every row:
 * the datasheet's dense rate at boost clock (a figure the datasheet gives
 * only "with sparsity" is halved), never a per-SM rate times a clock.
 *
 * A device is recognised by its exact cudaDeviceProp.name, its compute
 * capability and, where the table knows it, its SM count (a MIG slice or a
 * cut-down part with the same name has fewer SMs and another peak). Anything
 * else is unknown: 0, which leaves every % of a GPU roof empty. No guess.
 */
#ifndef SEQBENCH_PEAKS_H
#define SEQBENCH_PEAKS_H

#include "gpu.h"
#include "seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gpu_peak {
    const char *name;           /* cudaDeviceProp.name, exactly */
    int cc_major, cc_minor;
    int sms;                    /* SMs of the full product; 0: not checked */
    const char *sku;            /* what the datasheet calls it: "H100 SXM5 80GB" */
    double bf16_tflops;         /* tensor cores, dense, fp32 accumulate */
    double fp32_tflops;         /* CUDA cores (FMA), no tensor cores */
    double mem_gbps;            /* DRAM, GB/s (10^9 bytes) */
};

/* The row for this device, or NULL (unknown: not in the table, another
 * compute capability, or another SM count). */
const struct gpu_peak *gpu_peak_find(const struct gpu_info *info);

/* The compute roof of dtype on this device in FLOP/s: bf16 against the
 * tensor cores, fp32 against the FMA units. 0 when unknown. */
double gpu_peak_flops(const struct gpu_info *info, enum dtype dt);
/* The DRAM bandwidth roof in bytes/s; 0 when unknown. */
double gpu_peak_bandwidth(const struct gpu_info *info);

/* One line saying where the device's peaks come from, or why it has none:
 * "NVIDIA datasheet: H100 SXM5 80GB", "unknown peak: ... not in harness/peaks.c". */
void gpu_peak_describe(const struct gpu_info *info, char *buf, size_t n);

/* The table, for tests. */
extern const struct gpu_peak gpu_peaks[];
extern const int n_gpu_peaks;

#ifdef __cplusplus
}
#endif

#endif
