/*
 * shard.c — see shard.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gpu.h"
#include "peaks.h"
#include "shard.h"
#include "validate.h"

/* What a case costs besides its arithmetic, as constants of the model (a
 * partition must not depend on the machine computing it, so none is
 * measured). Their absolute values only scale every shard alike; what
 * matters is their weight against one another.
 *   COST_FIXED_S      per case: a process and a context (isolated), setup,
 *                     the warm-up's 50 ms, storing.
 *   COST_HOST_BYTES_S the host making, rounding and uploading the inputs,
 *                     per compulsory byte (min_bytes): about 1 GB/s.
 *   COST_REF_MACS_S   the float64 reference on the checked rows: ~4.5
 *                     GMAC/s per core (validate.h) on a nominal 8 cores.
 *   COST_RUNS         timed runs of a case: the validation run, warm-up,
 *                     --min-samples (10) and what the 1% target usually
 *                     adds on a quiet device.
 *   COST_SAMPLING_S   where sampling stops (--max-time's default). */
#define COST_FIXED_S 0.2
#define COST_HOST_BYTES_S 1e9
#define COST_REF_MACS_S (4.5e9 * 8)
#define COST_RUNS 25
#define COST_SAMPLING_S 2.0
#define COST_REF_SEED 1         /* the rows picked for the model's reference cost */

/* The CPU class's nominal roofs: a server socket's fp32 FMA rate and
 * STREAM bandwidth, round numbers (the CPU implementations compute in fp32
 * whatever the dtype, so both compute roofs are the same). */
#define CPU_NOMINAL_FLOPS 1e12
#define CPU_NOMINAL_BYTES_S 1e11

uint64_t fnv1a64(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int shard_parse(const char *s, int *i, int *n, char *err, size_t len)
{
    char a[32], b[32];
    const char *slash = strchr(s, '/');
    int64_t vi, vn;
    if (slash && (size_t)(slash - s) < sizeof a && strlen(slash + 1) < sizeof b) {
        snprintf(a, sizeof a, "%.*s", (int)(slash - s), s);
        snprintf(b, sizeof b, "%s", slash + 1);
        if (cli_parse_int(a, &vi) == 0 && cli_parse_int(b, &vn) == 0 && vn >= 1 &&
            vn <= SHARD_MAX && vi >= 1 && vi <= vn) {
            *i = (int)vi, *n = (int)vn;
            return 0;
        }
    }
    snprintf(err, len, "--shard '%s': expected I/N with 1 <= I <= N <= %d, e.g. 2/4", s, SHARD_MAX);
    return -1;
}

/* The classes: a short name for one datasheet row of harness/peaks.c (its
 * roofs are the class's), or NULL for the CPU's nominal roofs. */
static const struct {
    const char *name;
    const char *datasheet;      /* gpu_peaks[].name */
} classes[] = {
    { "cpu", NULL },
    { "a10", "NVIDIA A10" },
    { "a100", "NVIDIA A100-SXM4-80GB" },
    { "l4", "NVIDIA L4" },
    { "l40s", "NVIDIA L40S" },
    { "rtx4090", "NVIDIA GeForce RTX 4090" },
    { "h100", "NVIDIA H100 80GB HBM3" },
    { "h100-pcie", "NVIDIA H100 PCIe" },
    { "h20", "NVIDIA H20" },
    { "h200", "NVIDIA H200" },
    { "b200", "NVIDIA B200" },
    { "rtx5090", "NVIDIA GeForce RTX 5090" },
};
#define N_CLASSES ((int)(sizeof classes / sizeof classes[0]))

const char *shard_class_default(int on_cpu)
{
    return on_cpu ? "cpu" : "h100";
}

int shard_class_find(const char *name, struct shard_class *c, char *err, size_t n)
{
    for (int k = 0; k < N_CLASSES; k++) {
        if (strcmp(classes[k].name, name) != 0)
            continue;
        memset(c, 0, sizeof *c);
        c->name = classes[k].name;
        if (!classes[k].datasheet) {
            c->what = "nominal CPU roofs";
            c->flops_fp32 = c->flops_tensor = CPU_NOMINAL_FLOPS;
            c->bytes_s = CPU_NOMINAL_BYTES_S;
            return 0;
        }
        for (int p = 0; p < n_gpu_peaks; p++)
            if (strcmp(gpu_peaks[p].name, classes[k].datasheet) == 0) {
                c->what = gpu_peaks[p].sku;
                c->flops_fp32 = gpu_peaks[p].fp32_tflops * 1e12;
                c->flops_tensor = gpu_peaks[p].bf16_tflops * 1e12;
                c->bytes_s = gpu_peaks[p].mem_gbps * 1e9;
                return 0;
            }
    }
    size_t used = (size_t)snprintf(err, n, "--shard-class '%s': expected one of", name);
    for (int k = 0; k < N_CLASSES && used < n; k++)
        used += (size_t)snprintf(err + used, n - used, "%s %s", k ? "," : "", classes[k].name);
    return -1;
}

/* Multiply-adds of the reference on the rows validation checks. */
static double reference_macs(const struct family *f, const struct shape *s)
{
    int64_t *rows = NULL;
    int sampled;
    int64_t n = validate_pick_rows(f, s, COST_REF_SEED, &rows, &sampled);
    double macs = 0;
    for (int64_t i = 0; i < n; i++)
        macs += f->row_cost(s, rows[i]);
    free(rows);
    return macs;
}

double shard_case_cost(const struct shard_class *c, const struct family *f,
                       const struct impl *im, const struct shape *s)
{
    char why[200];
    if (f->validate(s, why, sizeof why) != 0 || !(im->dtypes & DT_BIT(s->dtype)))
        return COST_FIXED_S;            /* skipped at once */
    const double flops = im->flops_executed ? im->flops_executed(s) : f->flops(s);
    const double bytes = f->min_bytes(s);
    const double roof = s->dtype == DT_FP32 ? c->flops_fp32 : c->flops_tensor;
    const double t_op = fmax(flops / roof, bytes / c->bytes_s);
    return COST_FIXED_S + bytes / COST_HOST_BYTES_S + reference_macs(f, s) / COST_REF_MACS_S +
           fmin(COST_SAMPLING_S, COST_RUNS * t_op);
}

/* The deal's order: the dearest first, then by case string. */
struct deal {
    int64_t us;                 /* predicted cost, whole microseconds */
    const char *key;
    int i;
};

static int deal_cmp(const void *a, const void *b)
{
    const struct deal *x = a, *y = b;
    if (x->us != y->us)
        return x->us > y->us ? -1 : 1;
    return strcmp(x->key, y->key);
}

int shard_partition(const double *cost, const char *const *keys, int n, int n_shards,
                    int *shard_of, double *load)
{
    struct deal *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    int64_t *sum = calloc((size_t)n_shards, sizeof *sum);
    if (!d || !sum) {
        free(d), free(sum);
        return -1;
    }
    for (int i = 0; i < n; i++)
        d[i] = (struct deal){ .us = llround(cost[i] * 1e6), .key = keys[i], .i = i };
    qsort(d, (size_t)n, sizeof *d, deal_cmp);
    for (int k = 0; k < n; k++) {
        int least = 0;
        for (int j = 1; j < n_shards; j++)
            if (sum[j] < sum[least])
                least = j;
        sum[least] += d[k].us;
        shard_of[d[k].i] = least + 1;
    }
    for (int j = 0; load && j < n_shards; j++)
        load[j] = (double)sum[j] * 1e-6;
    free(d), free(sum);
    return 0;
}
