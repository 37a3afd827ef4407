/*
 * test_peaks.c — the GPU datasheet table (harness/peaks.c) without a GPU:
 * gpu_info structs as cudaGetDeviceProperties fills them for each product
 * the table covers, checked against the figures NVIDIA's documents print
 * (tensor rates as printed "with sparsity", halved here, so a row that
 * forgot the halving, or copied another SKU's column, fails); and the
 * devices the table must not recognise (an unknown name, a near name, a
 * MIG slice, another compute capability) give 0 and say why.
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "peaks.h"

static struct gpu_info gpu(const char *name, int major, int minor, int sms)
{
    struct gpu_info g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "%s", name);
    g.cc_major = major, g.cc_minor = minor, g.sms = sms, g.present = 1;
    return g;
}

/* Each product as a datasheet prints it: bf16 tensor "with sparsity"
 * (0: the document prints the dense rate), dense, fp32, GB/s. */
static const struct {
    const char *name;
    int major, minor, sms;
    double bf16_sparse, bf16_dense, fp32, gbps;
} skus[] = {
    { "NVIDIA A100-SXM4-40GB", 8, 0, 108, 624, 312, 19.5, 1555 },
    { "NVIDIA A100-SXM4-80GB", 8, 0, 108, 624, 312, 19.5, 2039 },
    { "NVIDIA A100-PCIE-40GB", 8, 0, 108, 624, 312, 19.5, 1555 },
    { "NVIDIA A100 80GB PCIe", 8, 0, 108, 624, 312, 19.5, 1935 },
    { "NVIDIA A10", 8, 6, 72, 250, 125, 31.2, 600 },
    { "NVIDIA L4", 8, 9, 58, 242, 121, 30.3, 300 },
    { "NVIDIA L40S", 8, 9, 142, 0, 362.05, 91.6, 864 },
    { "NVIDIA GeForce RTX 4090", 8, 9, 128, 330.4, 165.2, 82.6, 1008 },
    { "NVIDIA H100 80GB HBM3", 9, 0, 132, 1979, 989.5, 67, 3350 },
    { "NVIDIA H100 PCIe", 9, 0, 114, 1513, 756.5, 51, 2000 },
    { "NVIDIA H100 NVL", 9, 0, 132, 1671, 835.5, 60, 3900 },
    { "NVIDIA H200", 9, 0, 132, 1979, 989.5, 67, 4800 },
    { "NVIDIA H200 NVL", 9, 0, 132, 1671, 835.5, 60, 4800 },
    { "NVIDIA H20", 9, 0, 78, 296, 148, 44, 4000 },
    { "NVIDIA B200", 10, 0, 148, 4500, 2250, 75, 8000 },
    { "NVIDIA GB200", 10, 0, 152, 5000, 2500, 80, 8000 },
    { "NVIDIA GeForce RTX 5090", 12, 0, 170, 419, 209.5, 104.8, 1792 },
};

static void test_known(void)
{
    for (size_t i = 0; i < sizeof skus / sizeof skus[0]; i++) {
        const struct gpu_info g = gpu(skus[i].name, skus[i].major, skus[i].minor, skus[i].sms);
        const double dense = skus[i].bf16_sparse ? skus[i].bf16_sparse / 2 : skus[i].bf16_dense;
        CHECK(fabs(dense - skus[i].bf16_dense) < 1e-9, "%s: the test's own halving", skus[i].name);
        CHECK(gpu_peak_find(&g) != NULL, "%s is known", skus[i].name);
        CHECK(fabs(gpu_peak_flops(&g, DT_BF16) - dense * 1e12) < 1e3, "%s: bf16 %.6g TFLOP/s, want %.6g",
              skus[i].name, gpu_peak_flops(&g, DT_BF16) / 1e12, dense);
        CHECK(fabs(gpu_peak_flops(&g, DT_FP32) - skus[i].fp32 * 1e12) < 1e3, "%s: fp32 %.6g, want %.6g",
              skus[i].name, gpu_peak_flops(&g, DT_FP32) / 1e12, skus[i].fp32);
        CHECK(fabs(gpu_peak_bandwidth(&g) - skus[i].gbps * 1e9) < 1, "%s: %.6g GB/s, want %.6g",
              skus[i].name, gpu_peak_bandwidth(&g) / 1e9, skus[i].gbps);
        char line[400];
        gpu_peak_describe(&g, line, sizeof line);
        CHECK(strncmp(line, "NVIDIA datasheet, ", 18) == 0, "%s: %s", skus[i].name, line);
    }
    /* Every row of the table is one this test knows (none untested). */
    CHECK(n_gpu_peaks == (int)(sizeof skus / sizeof skus[0]), "%d rows, %zu tested", n_gpu_peaks,
          sizeof skus / sizeof skus[0]);
}

static void test_unknown(void)
{
    const struct { struct gpu_info g; const char *why; } cases[] = {
        { gpu("NVIDIA H800", 9, 0, 132), "not in" },              /* not in the table */
        { gpu("NVIDIA H100", 9, 0, 132), "not in" },              /* a prefix of known names */
        { gpu("NVIDIA H2", 9, 0, 78), "not in" },
        { gpu("NVIDIA H200 NVL ", 9, 0, 132), "not in" },         /* names match exactly */
        { gpu("nvidia h200", 9, 0, 132), "not in" },
        { gpu("NVIDIA A100-SXM4-40GB MIG 1g.5gb", 8, 0, 14), "not in" },
        { gpu("NVIDIA A100-SXM4-40GB", 8, 0, 14), "SM count" },   /* a slice under the full name */
        { gpu("NVIDIA H100 80GB HBM3", 9, 1, 132), "compute capability" },
        { gpu("NVIDIA B300 SXM6 AC", 10, 3, 148), "not in" },     /* sm_103: no confirmed row */
        { gpu("", 0, 0, 0), "not in" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct gpu_info *g = &cases[i].g;
        CHECK(gpu_peak_find(g) == NULL, "'%s' is unknown", g->name);
        CHECK(gpu_peak_flops(g, DT_BF16) == 0 && gpu_peak_flops(g, DT_FP32) == 0 &&
              gpu_peak_bandwidth(g) == 0, "'%s': 0, never a guess", g->name);
        char line[400];
        gpu_peak_describe(g, line, sizeof line);
        CHECK(strncmp(line, "unknown peak: ", 14) == 0 && strstr(line, cases[i].why),
              "'%s': %s", g->name, line);
    }
    /* GB200's SM count is not checked (not confirmed); H20 is not H200. */
    struct gpu_info g = gpu("NVIDIA GB200", 10, 0, 160);
    CHECK(gpu_peak_find(&g) != NULL, "GB200 with any SM count");
    g = gpu("NVIDIA H20", 9, 0, 78);
    CHECK(gpu_peak_flops(&g, DT_BF16) == 148e12, "H20 is its own row, not H200's");
}

int main(void)
{
    test_known();
    test_unknown();
    return check_done();
}
