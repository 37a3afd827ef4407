/*
 * peaks.c — the datasheet table; see peaks.h.
 *
 * Every number is NVIDIA's, per GPU, from the document named above its row.
 * Datasheets print tensor rates "with sparsity" (2:4 structured) and mark
 * them with an asterisk; the dense rate this table holds is half of that
 * figure, and a footnote in each of those datasheets says so. bf16 is the
 * rate with fp32 accumulation, the mode every kernel here uses: on GeForce
 * parts that is half the fp16-accumulate rate the marketing pages quote.
 * Bandwidths are the datasheet's, in 10^9 bytes/s. Where a figure could not
 * be confirmed against NVIDIA's own document, the row says so.
 */
#include <stdio.h>
#include <string.h>

#include "peaks.h"

const struct gpu_peak gpu_peaks[] = {
    /* NVIDIA A100 Tensor Core GPU datasheet: BF16 Tensor Core 312 | 624*
     * TFLOPS, FP32 19.5 TFLOPS; bandwidth 1,555 GB/s (40GB, both forms),
     * 1,935 GB/s (80GB PCIe), 2,039 GB/s (80GB SXM). */
    { "NVIDIA A100-SXM4-40GB", 8, 0, 108, "A100 SXM4 40GB", 312, 19.5, 1555 },
    { "NVIDIA A100-SXM4-80GB", 8, 0, 108, "A100 SXM4 80GB", 312, 19.5, 2039 },
    { "NVIDIA A100-PCIE-40GB", 8, 0, 108, "A100 PCIe 40GB", 312, 19.5, 1555 },
    { "NVIDIA A100 80GB PCIe", 8, 0, 108, "A100 PCIe 80GB", 312, 19.5, 1935 },
    /* NVIDIA A10 Tensor Core GPU datasheet: BF16 Tensor Core 125 | 250*
     * TFLOPS, FP32 31.2 TFLOPS, 600 GB/s. */
    { "NVIDIA A10", 8, 6, 72, "A10", 125, 31.2, 600 },
    /* NVIDIA L4 Tensor Core GPU datasheet: BF16 Tensor Core 242* TFLOPS (121
     * dense), FP32 30.3 TFLOPS, 300 GB/s. */
    { "NVIDIA L4", 8, 9, 58, "L4", 121, 30.3, 300 },
    /* NVIDIA L40S GPU datasheet: BF16 Tensor Core 362.05 | 733* TFLOPS,
     * FP32 91.6 TFLOPS, 864 GB/s. */
    { "NVIDIA L40S", 8, 9, 142, "L40S", 362.05, 91.6, 864 },
    /* NVIDIA Ada GPU Architecture whitepaper, appendix (GeForce RTX 4090):
     * peak BF16 Tensor TFLOPS with FP32 accumulate 165.2 | 330.4*, FP32
     * 82.6 TFLOPS, 1,008 GB/s. */
    { "NVIDIA GeForce RTX 4090", 8, 9, 128, "GeForce RTX 4090", 165.2, 82.6, 1008 },
    /* NVIDIA H100 Tensor Core GPU datasheet: H100 SXM BF16 Tensor Core
     * 1,979* TFLOPS, FP32 67 TFLOPS, 3.35 TB/s; H100 PCIe 1,513*, 51,
     * 2 TB/s; H100 NVL 1,671*, 60, 3.9 TB/s (the NVL column as revised to
     * one GPU per column; the first edition printed a pair of GPUs —
     * uncertain which edition a reader has, so check before relying on it). */
    { "NVIDIA H100 80GB HBM3", 9, 0, 132, "H100 SXM5 80GB", 989.5, 67, 3350 },
    { "NVIDIA H100 PCIe", 9, 0, 114, "H100 PCIe 80GB", 756.5, 51, 2000 },
    { "NVIDIA H100 NVL", 9, 0, 132, "H100 NVL 94GB", 835.5, 60, 3900 },
    /* NVIDIA H200 Tensor Core GPU datasheet: H200 SXM BF16 Tensor Core
     * 1,979* TFLOPS, FP32 67 TFLOPS, 4.8 TB/s; H200 NVL 1,671*, 60, 4.8 TB/s. */
    { "NVIDIA H200", 9, 0, 132, "H200 SXM 141GB", 989.5, 67, 4800 },
    { "NVIDIA H200 NVL", 9, 0, 132, "H200 NVL 141GB", 835.5, 60, 4800 },
    /* NVIDIA H20 product brief (not on NVIDIA's public datasheet pages; the
     * figures every third-party table repeats): BF16 Tensor Core 148 TFLOPS
     * dense (296 with sparsity), FP32 44 TFLOPS, 4.0 TB/s, 78 SMs.
     * Uncertain: not confirmed against an NVIDIA document here. */
    { "NVIDIA H20", 9, 0, 78, "H20 96GB", 148, 44, 4000 },
    /* NVIDIA HGX B200 specifications (per 8-GPU board, divided by 8):
     * FP16/BF16 Tensor Core 36* PFLOPS -> 2.25 PFLOPS dense per GPU, FP32
     * 600 TFLOPS -> 75, 64 TB/s -> 8 TB/s. Uncertain: NVIDIA's first
     * Blackwell datasheet gave 80 TFLOPS FP32 per GPU at 1,000 W. */
    { "NVIDIA B200", 10, 0, 148, "B200 (HGX)", 2250, 75, 8000 },
    /* NVIDIA GB200 NVL72 specifications (per 72 GPUs, divided by 72):
     * FP16/BF16 Tensor Core 360* PFLOPS -> 2.5 PFLOPS dense per GPU, FP32
     * 5,760 TFLOPS -> 80, 576 TB/s -> 8 TB/s. SM count not checked (not
     * confirmed here). */
    { "NVIDIA GB200", 10, 0, 0, "GB200 (NVL72, per GPU)", 2500, 80, 8000 },
    /* NVIDIA RTX Blackwell GPU Architecture whitepaper, appendix (GeForce
     * RTX 5090): peak FP16/BF16 Tensor TFLOPS with FP32 accumulate
     * 209.5 | 419*, FP32 104.8 TFLOPS, 1,792 GB/s. Uncertain: the
     * fp32-accumulate rate is from third-party transcriptions of that table. */
    { "NVIDIA GeForce RTX 5090", 12, 0, 170, "GeForce RTX 5090", 209.5, 104.8, 1792 },
};
const int n_gpu_peaks = (int)(sizeof gpu_peaks / sizeof gpu_peaks[0]);

const struct gpu_peak *gpu_peak_find(const struct gpu_info *info)
{
    for (int i = 0; i < n_gpu_peaks; i++) {
        const struct gpu_peak *p = &gpu_peaks[i];
        if (strcmp(p->name, info->name) == 0 && p->cc_major == info->cc_major &&
            p->cc_minor == info->cc_minor && (p->sms == 0 || p->sms == info->sms))
            return p;
    }
    return NULL;
}

double gpu_peak_flops(const struct gpu_info *info, enum dtype dt)
{
    const struct gpu_peak *p = gpu_peak_find(info);
    if (!p)
        return 0;
    return (dt == DT_FP32 ? p->fp32_tflops : p->bf16_tflops) * 1e12;
}

double gpu_peak_bandwidth(const struct gpu_info *info)
{
    const struct gpu_peak *p = gpu_peak_find(info);
    return p ? p->mem_gbps * 1e9 : 0;
}

void gpu_peak_describe(const struct gpu_info *info, char *buf, size_t n)
{
    const struct gpu_peak *p = gpu_peak_find(info);
    if (p) {
        snprintf(buf, n, "NVIDIA datasheet, %s: bf16 tensor %.4g TFLOP/s dense, fp32 %.4g TFLOP/s, "
                 "%.4g GB/s", p->sku, p->bf16_tflops, p->fp32_tflops, p->mem_gbps);
        return;
    }
    /* Say which check failed, so a near miss (a MIG slice) reads as such. */
    const char *why = "not in harness/peaks.c's table";
    for (int i = 0; i < n_gpu_peaks; i++)
        if (strcmp(gpu_peaks[i].name, info->name) == 0)
            why = gpu_peaks[i].cc_major != info->cc_major || gpu_peaks[i].cc_minor != info->cc_minor
                      ? "in the table with another compute capability"
                      : "in the table with another SM count (a MIG slice?)";
    snprintf(buf, n, "unknown peak: \"%s\" (cc %d.%d, %d SMs) is %s; %% of bound is left empty",
             info->name, info->cc_major, info->cc_minor, info->sms, why);
}
