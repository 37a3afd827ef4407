/*
 * profile.c — see profile.h. The GPU passes (kernel records, counters,
 * energy) are unverified: they compile here and have never run on a GPU;
 * what happens when an instrument is missing is tested (tests/test_cupti.c,
 * tests/test_nvml.c, tests/profile.sh).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "emit.h"
#include "gpu.h"
#include "profile.h"
#include "runcase.h"

/* The chip a metric list is checked against when no GPU says its own. */
#define COUNTERS_DEFAULT_CHIP "GH100"

int profile_prepare(struct profiler *p, const struct profile_opts *o, const struct gpu_info *gpu,
                    int gpu_session)
{
    memset(p, 0, sizeof *p);
    snprintf(p->nvml_why, sizeof p->nvml_why, "not asked (no GPU in this session)");
    p->metrics = o->metrics != NULL;
    p->energy = o->energy;
    if (gpu_session || p->metrics)
        p->cupti = cupti_get(p->cupti_why, sizeof p->cupti_why);
    else
        snprintf(p->cupti_why, sizeof p->cupti_why, "not loaded (no GPU in this session)");
    if (!p->metrics)
        return EXIT_OK;
    char err[400];
    if (counter_set_parse(&p->counters, o->metrics, err, sizeof err) != 0) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }
    if (!p->cupti) {
        snprintf(p->counters_why, sizeof p->counters_why, "%s", p->cupti_why);
        cli_error("--metrics: no counters: %s; timing goes on (install CUPTI: the toolkit's "
                  "extras/CUPTI or the nvidia-cuda-cupti wheel, or point SEQBENCH_CUPTI at "
                  "libcupti.so.13)", p->cupti_why);
        return EXIT_OK;
    }
    const char *chip = gpu && gpu->present ? counters_chip_of_cc(gpu->cc_major, gpu->cc_minor) : NULL;
    if (!chip)
        chip = COUNTERS_DEFAULT_CHIP;
    if (counter_set_prepare(p->cupti, &p->counters, chip, NULL, err, sizeof err) != 0) {
        if (strstr(err, "unknown metric")) {
            cli_error("%s", err);
            return EXIT_USAGE;
        }
        snprintf(p->counters_why, sizeof p->counters_why, "%s", err);
        cli_error("--metrics: no counters: %s; timing goes on", err);
        return EXIT_OK;
    }
    fprintf(stderr, "bench: counters: %d metrics, %zu pass%s per kernel on %s (CUPTI kernel replay, "
            "apart from timing)%s\n", p->counters.n, p->counters.passes,
            p->counters.passes == 1 ? "" : "es", chip,
            gpu_session ? "" : "; this session's device is not a GPU: none will be read");
    p->counters_on = gpu_session;
    if (!gpu_session)
        snprintf(p->counters_why, sizeof p->counters_why, "the device is not a GPU");
    return EXIT_OK;
}

/* The permission probe on the real device, and the configuration again
 * with the device's chip and counter availability. */
static void counters_attach(struct profiler *p, struct gpu_ctx *g, const struct gpu_info *gpu)
{
    char chip[32], err[400];
    if (!(p->cuctx = gpu_cu_context(g))) {
        snprintf(p->counters_why, sizeof p->counters_why, "no CUDA context for CUPTI");
    } else if (counters_probe(p->cupti, p->cuctx, gpu->index, chip, sizeof chip, &p->avail,
                              p->counters_why, sizeof p->counters_why, &p->counters_fix) != 0) {
        /* the probe wrote the reason */
    } else if (counter_set_prepare(p->cupti, &p->counters, chip, p->avail, err, sizeof err) != 0) {
        snprintf(p->counters_why, sizeof p->counters_why, "on %s: %.360s", chip, err);
    } else {
        return;     /* p->avail stays: CUPTI's host object may refer to it */
    }
    p->counters_on = 0;
    cli_error("--metrics: no counters: %s; timing goes on%s%s", p->counters_why,
              p->counters_fix ? "\nbench: " : "", p->counters_fix ? p->counters_fix : "");
}

void profile_attach(struct profiler *p, const struct profile_opts *o, struct gpu_ctx *g,
                    const struct gpu_info *gpu)
{
    if (!g) {
        if (p->counters_on) {
            p->counters_on = 0;
            snprintf(p->counters_why, sizeof p->counters_why, "no usable GPU");
        }
        return;
    }
    if ((p->nvml = nvml_open(gpu->uuid, gpu->index, p->nvml_why, sizeof p->nvml_why)))
        nvml_read_state(p->nvml, &p->state);
    else
        cli_error("NVML: %s; clocks, throttling and energy are not recorded (NVML ships with the "
                  "NVIDIA driver: libnvidia-ml.so.1, or SEQBENCH_NVML=PATH)", p->nvml_why);
    if (p->energy && !p->nvml)
        cli_error("--energy: no energy: %s", p->nvml_why);
    if (p->counters_on)
        counters_attach(p, g, gpu);
    if (o->calibrate)
        gpu_ceilings_load(&p->ceil, g, gpu, p->nvml, o->calibrate == 2);
}

void profile_close(struct profiler *p)
{
    counter_set_free(&p->counters);
    free(p->avail);
    p->avail = NULL;
    if (p->nvml)
        nvml_close(p->nvml);
    p->nvml = NULL;
}

void profile_measure_opts(const struct profiler *p, struct measure_opts *o)
{
    if (!p)
        return;
    o->nvml = p->nvml;
    o->default_sm_mhz = p->nvml ? (unsigned)(p->state.default_sm_mhz > 0 ? p->state.default_sm_mhz
                                            : p->state.max_sm_mhz > 0 ? p->state.max_sm_mhz : 0)
                                : 0;
    o->cupti = p->cupti;
    o->cupti_why = p->cupti_why;
}

/* Appends "; <formatted>" (or the text alone) to a reason buffer. */
static void why_add(char *buf, size_t n, const char *fmt, ...)
{
    size_t k = strlen(buf);
    if (k + 2 >= n)
        return;
    if (k)
        k += (size_t)snprintf(buf + k, n - k, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - k, fmt, ap);
    va_end(ap);
}

void profile_counters_store(const struct counter_set *cs, const double *values,
                            struct case_result *res)
{
    struct result_record *r = &res->rec;
    size_t k = (size_t)snprintf(res->counters_json, sizeof res->counters_json, "{");
    for (int m = 0; m < cs->n && k < sizeof res->counters_json; m++) {
        char name[160], num[40];
        emit_json_string_buf(name, sizeof name, cs->names[m]);
        if (isfinite(values[m]))
            emit_double(num, sizeof num, values[m]);
        else
            snprintf(num, sizeof num, "null");
        k += (size_t)snprintf(res->counters_json + k, sizeof res->counters_json - k, "%s%s: %s",
                              m ? ", " : "", name, num);
        for (int d = 0; d < n_counter_defaults; d++) {
            const char *col = counter_defaults[d].column;
            if (!col || strcmp(counter_defaults[d].metric, cs->names[m]) != 0)
                continue;
            double *dst = strcmp(col, "dram_read_bytes") == 0 ? &r->dram_read_bytes
                        : strcmp(col, "dram_write_bytes") == 0 ? &r->dram_write_bytes
                        : strcmp(col, "l2_bytes") == 0 ? &r->l2_bytes
                        : strcmp(col, "tensor_util_pct") == 0 ? &r->tensor_util_pct
                        : strcmp(col, "dram_pct") == 0 ? &r->dram_pct : NULL;
            if (dst)
                *dst = values[m];
        }
    }
    if (k + 1 < sizeof res->counters_json) {
        snprintf(res->counters_json + k, sizeof res->counters_json - k, "}");
        r->counters_json = res->counters_json;
    }
}

struct counter_launch {
    const struct impl *im;
    struct op_ctx *ctx;
    int flush;
};

/* One run of the op under the Range Profiler: the flush as the timing mode
 * does it, then run(), waited for. No blocking kernel: kernel replay would
 * replay it too. */
static int counter_launch(void *p)
{
    struct counter_launch *a = p;
    if (a->flush && gpu_flush(a->ctx->gpu, a->ctx->err, sizeof a->ctx->err) != 0)
        return -1;
    if (a->im->run(a->ctx) != SB_OK)
        return -1;
    return gpu_synchronize(a->ctx->gpu, a->ctx->err, sizeof a->ctx->err);
}

static int energy_run(void *p)
{
    struct counter_launch *a = p;
    return a->im->run(a->ctx);
}

static int energy_sync(void *p)
{
    struct counter_launch *a = p;
    return gpu_synchronize(a->ctx->gpu, a->ctx->err, sizeof a->ctx->err);
}

void profile_case(struct profiler *p, const struct impl *im, struct op_ctx *ctx,
                  const struct measure_opts *o, struct case_result *res)
{
    struct result_record *r = &res->rec;
    if (!p || !ctx->gpu)
        return;
    if (im->sample) {
        /* A peer's worker process launches the kernels: this process's
         * CUPTI never sees them, and its run() is a round trip to the
         * worker, which a steady energy loop would count as idle time. */
        snprintf(res->counters_why, sizeof res->counters_why, "kernel records, counters and energy: "
                 "the implementation runs in a worker process, which bench's CUPTI and energy loop "
                 "do not see");
        r->counters_why = res->counters_why;
        return;
    }
    /* Kernel records: every GPU case. */
    if (p->cupti) {
        double kms;
        struct kernel_row *rows;
        int nr;
        if (measure_kernels(im, ctx, o, &kms, &rows, &nr) == SB_OK) {
            r->kernel_ms = kms;
            res->kernels = rows;
            r->kernels = rows;
            r->n_kernels = nr;
        } else {
            why_add(res->counters_why, sizeof res->counters_why, "kernel records: %s", ctx->err);
        }
    } else {
        why_add(res->counters_why, sizeof res->counters_why, "kernel records: %s", p->cupti_why);
    }
    /* Counters: --metrics. */
    const int flush = o->timing == TIMING_COLD || o->timing == TIMING_KERNEL;
    struct counter_launch a = { im, ctx, flush };
    if (p->counters_on) {
        double values[COUNTERS_MAX];
        int ranges = 0;
        char err[300] = "";
        if (counters_measure(p->cupti, &p->counters, p->cuctx, counter_launch, &a, values, &ranges,
                             err, sizeof err) == 0 && ranges > 0)
            profile_counters_store(&p->counters, values, res);
        else
            why_add(res->counters_why, sizeof res->counters_why, "counters: %s",
                    ranges == 0 && !err[0] ? "no kernel was profiled" : err);
    } else if (p->metrics) {
        why_add(res->counters_why, sizeof res->counters_why, "counters: %s", p->counters_why);
    }
    if (res->counters_why[0])
        r->counters_why = res->counters_why;
    /* Energy: --energy. */
    if (p->energy) {
        char err[300] = "";
        if (!p->nvml)
            snprintf(res->energy_why, sizeof res->energy_why, "%s", p->nvml_why);
        else if (nvml_energy_per_op(p->nvml, energy_run, energy_sync, &a, ENERGY_MIN_SECONDS,
                                    &r->energy_j_per_op, &r->power_w, err, sizeof err) != 0)
            snprintf(res->energy_why, sizeof res->energy_why, "%s", err);
        if (res->energy_why[0])
            r->energy_why = res->energy_why;
    }
}

void profile_calibration_json(const struct profiler *p, double cpu_flops, double cpu_bytes_s,
                              char *buf, size_t n)
{
    char gpu[1024] = "{}";
    if (p && p->ceil.loaded)
        gpu_ceilings_json(&p->ceil, gpu, sizeof gpu);
    snprintf(buf, n, "{\"gpu\": %s, \"gpu_origin\": \"%s\", \"cpu_fma_gflops\": %.1f, "
             "\"cpu_stream_gbps\": %.1f}", gpu, p && p->ceil.loaded ? p->ceil.origin : "none",
             cpu_flops / 1e9, cpu_bytes_s / 1e9);
}

/* "on", "off" or "unknown" for a -1/0/1 state. */
static const char *onoff(int v)
{
    return v < 0 ? "unknown" : v ? "on" : "off";
}

void profile_env_print(const struct profiler *p)
{
    char buf[400];
    /* bench env names them even when the session did not need them. */
    struct cupti *c = p->cupti ? p->cupti : cupti_get(buf, sizeof buf);
    if (c)
        cupti_version(c, buf, sizeof buf);
    printf("| CUPTI (loaded at run time) | %s |\n", buf);
    if (!p->nvml) {
        struct nvml_dev *d = nvml_open(NULL, 0, buf, sizeof buf);
        if (d)
            snprintf(buf, sizeof buf, "%s (no GPU in this session)", nvml_path(d));
        nvml_close(d);
        printf("| NVML (loaded at run time) | %s |\n", buf);
    } else {
        const struct nvml_state *st = &p->state;
        nvml_reasons_text((uint64_t)(st->reasons < 0 ? 0 : st->reasons), buf, sizeof buf);
        printf("| NVML (loaded at run time) | %s, driver %s |\n", nvml_path(p->nvml),
               st->driver[0] ? st->driver : "unknown");
        printf("| gpu clocks (NVML, MHz) | SM %d now, %d max, %d default; memory %d; applications "
               "clocks locked: %s |\n", st->sm_mhz, st->max_sm_mhz, st->default_sm_mhz, st->mem_mhz,
               st->clocks_locked < 0 ? "unknown" : st->clocks_locked ? "yes" : "no");
        printf("| gpu power, temperature | %.0f W limit, %.0f W now, %d C |\n", st->power_limit_w,
               st->power_w, st->temperature_c);
        printf("| ECC / MIG / persistence | %s / %s / %s |\n", onoff(st->ecc), onoff(st->mig),
               onoff(st->persistence));
        printf("| clocks-event reasons now | %s |\n", st->reasons < 0 ? "unknown" : buf);
    }
    if (p->ceil.loaded) {
        gpu_ceilings_json(&p->ceil, buf, sizeof buf);
        printf("| gpu measured ceilings (%s) | %s |\n", p->ceil.origin, buf);
    } else {
        printf("| gpu measured ceilings | none yet (bench env --calibrate measures them) |\n");
    }
}

void profile_print_ceilings(const struct profiler *p)
{
    printf("| ceiling | value | SM clock MHz | how |\n|---|---:|---:|---|\n");
    for (int i = 0; i < CAL_COUNT; i++) {
        const double v = p->ceil.value[i];
        if (v > 0)
            printf("| %s | %.4g %s | %.0f | %s |\n", cal_table[i].name, v / cal_table[i].scale,
                   cal_table[i].unit, p->ceil.clock_mhz[i], cal_table[i].what);
        else
            printf("| %s | - | - | %s (not measured: unsupported or failed here) |\n",
                   cal_table[i].name, cal_table[i].what);
    }
}
