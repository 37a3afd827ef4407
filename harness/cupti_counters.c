/*
 * cupti_counters.c — see counters.h: CUPTI's Range Profiler, host half
 * (metric names, configuration image, passes; no GPU needed) and target
 * half (probe, kernel-replay pass, evaluation). The target half follows
 * CUPTI 13.0's cupti_range_profiler.h step by step; it is unverified: it
 * compiles here and has never run on a GPU.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "cupti_lib.h"

/* The default set: one pass per kernel on GH100, GA100 and AD102. SM or
 * tensor throughput as a % of peak (sm__throughput...) would cost 5-8
 * passes, so the tensor pipe's own activity stands in for it. */
const struct counter_metric counter_defaults[] = {
    { COUNTERS_DURATION, NULL, "ns", "kernel duration under replay (a weight, never a latency)" },
    { "dram__bytes_read.sum", "dram_read_bytes", "bytes", "DRAM bytes read" },
    { "dram__bytes_write.sum", "dram_write_bytes", "bytes", "DRAM bytes written" },
    { "lts__t_bytes.sum", "l2_bytes", "bytes", "L2 (LTS) bytes, all requests" },
    { "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active", "tensor_util_pct", "%",
      "tensor pipe active cycles, % of peak while the SM is active" },
    { "dram__throughput.avg.pct_of_peak_sustained_elapsed", "dram_pct", "%",
      "DRAM throughput, % of peak over the kernel" },
};
const int n_counter_defaults = (int)(sizeof counter_defaults / sizeof counter_defaults[0]);

/* ---- what needs no library ----------------------------------------------------- */

enum counter_combine counter_combine_of(const char *m)
{
    if (strstr(m, ".pct_of_") || strstr(m, ".per_") || strstr(m, ".avg") || strstr(m, ".ratio"))
        return COMBINE_MEAN;
    const char *dot = strrchr(m, '.');
    if (dot && strcmp(dot, ".max") == 0)
        return COMBINE_MAX;
    if (dot && strcmp(dot, ".min") == 0)
        return COMBINE_MIN;
    return COMBINE_SUM;
}

void counters_combine(const char *const *names, int n, const double *per_range, int ranges,
                      const double *duration, double *values)
{
    for (int m = 0; m < n; m++) {
        const enum counter_combine how = counter_combine_of(names[m]);
        double acc = 0, weight = 0;
        int seen = 0;
        for (int r = 0; r < ranges; r++) {
            const double v = per_range[(size_t)r * n + m];
            if (!isfinite(v))
                continue;
            /* Without durations every kernel weighs the same. */
            const double w = duration && isfinite(duration[r]) && duration[r] > 0 ? duration[r] : 1;
            switch (how) {
            case COMBINE_SUM: acc += v; break;
            case COMBINE_MEAN: acc += w * v, weight += w; break;
            case COMBINE_MAX: acc = seen ? fmax(acc, v) : v; break;
            case COMBINE_MIN: acc = seen ? fmin(acc, v) : v; break;
            }
            seen = 1;
        }
        values[m] = !seen ? NAN : how == COMBINE_MEAN ? acc / weight : acc;
    }
}

int counter_set_parse(struct counter_set *cs, const char *list, char *err, size_t n)
{
    memset(cs, 0, sizeof *cs);
    int has_duration = 0;
    if (!list || strcmp(list, "default") == 0) {
        for (int i = 0; i < n_counter_defaults; i++)
            cs->names[cs->n++] = strdup(counter_defaults[i].metric);
    } else {
        const char *p = list;
        for (;;) {
            size_t len = strcspn(p, ",");
            if (len == 0) {
                snprintf(err, n, "--metrics '%s': an empty metric name", list);
                goto fail;
            }
            if (cs->n >= COUNTERS_MAX - 1) {
                snprintf(err, n, "--metrics: more than %d metrics", COUNTERS_MAX - 1);
                goto fail;
            }
            cs->names[cs->n++] = strndup(p, len);
            if (!p[len])
                break;
            p += len + 1;
        }
    }
    for (int i = 0; i < cs->n; i++) {
        if (!cs->names[i]) {
            snprintf(err, n, "out of memory");
            goto fail;
        }
        has_duration |= strcmp(cs->names[i], COUNTERS_DURATION) == 0;
    }
    if (!has_duration && !(cs->names[cs->n++] = strdup(COUNTERS_DURATION))) {
        snprintf(err, n, "out of memory");
        goto fail;
    }
    return 0;
fail:
    counter_set_free(cs);
    return -1;
}

static const struct { int major, minor; const char *chip; } cc_chips[] = {
    { 7, 0, "GV100" }, { 7, 5, "TU102" }, { 8, 0, "GA100" }, { 8, 6, "GA102" }, { 8, 7, "GA10B" },
    { 8, 9, "AD102" }, { 9, 0, "GH100" }, { 10, 0, "GB100" }, { 10, 3, "GB110" }, { 12, 0, "GB202" },
};

const char *counters_chip_of_cc(int major, int minor)
{
    for (size_t i = 0; i < sizeof cc_chips / sizeof cc_chips[0]; i++)
        if (cc_chips[i].major == major && cc_chips[i].minor == minor)
            return cc_chips[i].chip;
    return NULL;
}

#ifndef SB_HAVE_CUPTI

void counter_set_free(struct counter_set *cs)
{
    for (int i = 0; i < cs->n; i++)
        free(cs->names[i]);
    memset(cs, 0, sizeof *cs);
}
int counter_set_prepare(struct cupti *c, struct counter_set *cs, const char *chip,
                        const uint8_t *avail, char *err, size_t n)
{
    (void)c, (void)cs, (void)chip, (void)avail;
    cupti_get(err, n);
    return -1;
}
int counters_supported_chips(struct cupti *c, const char *const **chips, char *err, size_t n)
{
    (void)c, (void)chips;
    cupti_get(err, n);
    return -1;
}
int counters_probe(struct cupti *c, void *cuctx, int device, char *chip, size_t cn,
                   uint8_t **avail, char *why, size_t n, const char **fix)
{
    (void)c, (void)cuctx, (void)device, (void)chip, (void)cn;
    *avail = NULL;
    *fix = NULL;
    cupti_get(why, n);
    return -1;
}
int counters_measure(struct cupti *c, const struct counter_set *cs, void *cuctx,
                     int (*launch)(void *), void *arg, double *values, int *ranges, char *err,
                     size_t n)
{
    (void)c, (void)cs, (void)cuctx, (void)launch, (void)arg, (void)values, (void)ranges;
    cupti_get(err, n);
    return -1;
}

#else /* SB_HAVE_CUPTI */

/* A CUPTI params struct, zeroed, with its size set (NVIDIA's `T p = {
 * T_STRUCT_SIZE }` idiom trips -Wmissing-field-initializers in C). */
#define PARAMS(T, v) T v = { .structSize = T##_STRUCT_SIZE }

static void host_free(struct cupti *c, void *host)
{
    if (host) {
        PARAMS(CUpti_Profiler_Host_Deinitialize_Params, d);
        d.pHostObject = host;
        c->cuptiProfilerHostDeinitialize(&d);
    }
}

void counter_set_free(struct counter_set *cs)
{
    char why[200];
    struct cupti *c = cs->host ? cupti_get(why, sizeof why) : NULL;
    if (c)
        host_free(c, cs->host);
    for (int i = 0; i < cs->n; i++)
        free(cs->names[i]);
    free(cs->config);
    memset(cs, 0, sizeof *cs);
}

int counters_supported_chips(struct cupti *c, const char *const **chips, char *err, size_t n)
{
    int rc_ = 0;
    PARAMS(CUpti_Profiler_Host_GetSupportedChips_Params, p);
    CUPTI_CALL(c, c->cuptiProfilerHostGetSupportedChips(&p));
    *chips = p.ppChipNames;
    return (int)p.numChips;
fail:
    (void)rc_;
    return -1;
}

int counter_set_prepare(struct cupti *c, struct counter_set *cs, const char *chip,
                        const uint8_t *avail, char *err, size_t n)
{
    int rc_ = 0;
    host_free(c, cs->host);
    cs->host = NULL;
    free(cs->config);
    cs->config = NULL;
    snprintf(cs->chip, sizeof cs->chip, "%s", chip);

    PARAMS(CUpti_Profiler_Host_Initialize_Params, hi);
    hi.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    hi.pChipName = chip;
    hi.pCounterAvailabilityImage = avail;
    CUPTI_CALL(c, c->cuptiProfilerHostInitialize(&hi));
    cs->host = hi.pHostObject;
    /* Name by name first, so an unknown one is named (AddMetrics only says
     * that one of them is wrong). */
    for (int i = 0; i < cs->n; i++) {
        PARAMS(CUpti_Profiler_Host_GetMetricProperties_Params, mp);
        mp.pHostObject = cs->host;
        mp.pMetricName = cs->names[i];
        if (c->cuptiProfilerHostGetMetricProperties(&mp) != CUPTI_SUCCESS) {
            snprintf(err, n, "--metrics: unknown metric '%s' on %s (CUPTI's metric names, e.g. %s)",
                     cs->names[i], chip, counter_defaults[1].metric);
            rc_ = CUPTI_ERROR_INVALID_METRIC_NAME;
            goto fail;
        }
    }
    PARAMS(CUpti_Profiler_Host_ConfigAddMetrics_Params, am);
    am.pHostObject = cs->host;
    am.ppMetricNames = (const char **)cs->names;
    am.numMetrics = (size_t)cs->n;
    CUPTI_CALL(c, c->cuptiProfilerHostConfigAddMetrics(&am));
    PARAMS(CUpti_Profiler_Host_GetConfigImageSize_Params, gs);
    gs.pHostObject = cs->host;
    CUPTI_CALL(c, c->cuptiProfilerHostGetConfigImageSize(&gs));
    if (!(cs->config = malloc(gs.configImageSize ? gs.configImageSize : 1))) {
        snprintf(err, n, "out of memory for a %zu-byte CUPTI config image", gs.configImageSize);
        goto fail;
    }
    cs->config_size = gs.configImageSize;
    PARAMS(CUpti_Profiler_Host_GetConfigImage_Params, gi);
    gi.pHostObject = cs->host;
    gi.configImageSize = cs->config_size;
    gi.pConfigImage = cs->config;
    CUPTI_CALL(c, c->cuptiProfilerHostGetConfigImage(&gi));
    PARAMS(CUpti_Profiler_Host_GetNumOfPasses_Params, np);
    np.configImageSize = cs->config_size;
    np.pConfigImage = cs->config;
    CUPTI_CALL(c, c->cuptiProfilerHostGetNumOfPasses(&np));
    cs->passes = np.numOfPasses;
    return 0;
fail:
    (void)rc_;
    host_free(c, cs->host);
    cs->host = NULL;
    free(cs->config);
    cs->config = NULL;
    return -1;
}

/* A refusal's reason and fix into why/fix; returns the result. */
static int refused(struct cupti *c, int result, const char *call, char *why, size_t n,
                   const char **fix)
{
    const char *name = NULL, *text = cupti_reason(result, &name, fix);
    if (text)
        snprintf(why, n, "%s (%s from %s)", text, name, call);
    else
        cupti_error_text(c, result, call, why, n);
    return result;
}

int counters_probe(struct cupti *c, void *cuctx, int device, char *chip, size_t cn,
                   uint8_t **avail, char *why, size_t n, const char **fix)
{
    CUptiResult r;
    *avail = NULL;
    *fix = NULL;
    if (!c->target_ready) {
        PARAMS(CUpti_Profiler_Initialize_Params, ip);
        if ((r = c->cuptiProfilerInitialize(&ip)) != CUPTI_SUCCESS)
            return refused(c, r, "cuptiProfilerInitialize", why, n, fix);
        c->target_ready = 1;
    }
    PARAMS(CUpti_Device_GetChipName_Params, cp);
    cp.deviceIndex = (size_t)device;
    if ((r = c->cuptiDeviceGetChipName(&cp)) != CUPTI_SUCCESS)
        return refused(c, r, "cuptiDeviceGetChipName", why, n, fix);
    snprintf(chip, cn, "%s", cp.pChipName ? cp.pChipName : "?");
    PARAMS(CUpti_Profiler_DeviceSupported_Params, ds);
    ds.cuDevice = (CUdevice)device;
    ds.api = CUPTI_PROFILER_RANGE_PROFILING;
    if ((r = c->cuptiProfilerDeviceSupported(&ds)) != CUPTI_SUCCESS)
        return refused(c, r, "cuptiProfilerDeviceSupported", why, n, fix);
    if (ds.isSupported != CUPTI_PROFILER_CONFIGURATION_SUPPORTED) {
        /* The first feature that says no, as the matching CUPTI result. */
        const int code = ds.vGpu != CUPTI_PROFILER_CONFIGURATION_SUPPORTED
                             ? (ds.vGpu == CUPTI_PROFILER_CONFIGURATION_DISABLED
                                    ? CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES
                                    : CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED)
                         : ds.confidentialCompute != CUPTI_PROFILER_CONFIGURATION_SUPPORTED
                             ? CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED
                         : ds.cmp != CUPTI_PROFILER_CONFIGURATION_SUPPORTED
                             ? CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED
                         : ds.wsl != CUPTI_PROFILER_CONFIGURATION_SUPPORTED
                             ? CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED
                             : CUPTI_ERROR_NOT_SUPPORTED;
        return refused(c, code, "cuptiProfilerDeviceSupported", why, n, fix);
    }
    PARAMS(CUpti_Profiler_GetCounterAvailability_Params, ca);
    ca.ctx = (CUcontext)cuctx;
    if ((r = c->cuptiProfilerGetCounterAvailability(&ca)) != CUPTI_SUCCESS)
        return refused(c, r, "cuptiProfilerGetCounterAvailability", why, n, fix);
    if (!(*avail = malloc(ca.counterAvailabilityImageSize ? ca.counterAvailabilityImageSize : 1))) {
        snprintf(why, n, "out of memory for the counter availability image");
        return -1;
    }
    ca.pCounterAvailabilityImage = *avail;
    if ((r = c->cuptiProfilerGetCounterAvailability(&ca)) != CUPTI_SUCCESS) {
        free(*avail);
        *avail = NULL;
        return refused(c, r, "cuptiProfilerGetCounterAvailability", why, n, fix);
    }
    return 0;
}

int counters_measure(struct cupti *c, const struct counter_set *cs, void *cuctx,
                     int (*launch)(void *), void *arg, double *values, int *ranges, char *err,
                     size_t n)
{
    int rc_ = 0, enabled = 0;
    uint8_t *data = NULL;
    double *per_range = NULL, *duration = NULL;
    *ranges = 0;
    for (int m = 0; m < cs->n; m++)
        values[m] = NAN;

    PARAMS(CUpti_RangeProfiler_Enable_Params, en);
    en.ctx = (CUcontext)cuctx;
    CUPTI_CALL(c, c->cuptiRangeProfilerEnable(&en));
    enabled = 1;
    CUpti_RangeProfiler_Object *obj = en.pRangeProfilerObject;

    PARAMS(CUpti_RangeProfiler_GetCounterDataSize_Params, ds);
    ds.pRangeProfilerObject = obj;
    ds.pMetricNames = (const char **)cs->names;
    ds.numMetrics = (size_t)cs->n;
    ds.maxNumOfRanges = COUNTERS_MAX_RANGES;
    ds.maxNumRangeTreeNodes = COUNTERS_MAX_RANGES;
    CUPTI_CALL(c, c->cuptiRangeProfilerGetCounterDataSize(&ds));
    if (!(data = calloc(1, ds.counterDataSize ? ds.counterDataSize : 1))) {
        snprintf(err, n, "out of memory for a %zu-byte counter data image", ds.counterDataSize);
        goto fail;
    }
    PARAMS(CUpti_RangeProfiler_CounterDataImage_Initialize_Params, di);
    di.pRangeProfilerObject = obj;
    di.counterDataSize = ds.counterDataSize;
    di.pCounterData = data;
    CUPTI_CALL(c, c->cuptiRangeProfilerCounterDataImageInitialize(&di));

    /* Auto range (one range per kernel) under kernel replay: CUPTI replays
     * each kernel for every pass itself, saving and restoring memory, so one
     * run of the op is enough and the op need not be idempotent. */
    PARAMS(CUpti_RangeProfiler_SetConfig_Params, sc);
    sc.pRangeProfilerObject = obj;
    sc.configSize = cs->config_size;
    sc.pConfig = cs->config;
    sc.counterDataImageSize = ds.counterDataSize;
    sc.pCounterDataImage = data;
    sc.range = CUPTI_AutoRange;
    sc.replayMode = CUPTI_KernelReplay;
    sc.maxRangesPerPass = COUNTERS_MAX_RANGES;
    sc.numNestingLevels = 1;
    sc.minNestingLevel = 1;
    sc.passIndex = 0;
    sc.targetNestingLevel = 1;
    CUPTI_CALL(c, c->cuptiRangeProfilerSetConfig(&sc));

    PARAMS(CUpti_RangeProfiler_Start_Params, st);
    PARAMS(CUpti_RangeProfiler_Stop_Params, sp);
    st.pRangeProfilerObject = sp.pRangeProfilerObject = obj;
    /* Kernel replay submits every pass within one Start/Stop; the loop
     * stays for CUPTI's contract, with a bound. */
    for (int round = 0; round < 64; round++) {
        CUPTI_CALL(c, c->cuptiRangeProfilerStart(&st));
        int lrc = launch(arg);
        CUPTI_CALL(c, c->cuptiRangeProfilerStop(&sp));
        if (lrc != 0) {
            snprintf(err, n, "the op failed under the range profiler");
            goto fail;
        }
        if (sp.isAllPassSubmitted)
            break;
    }
    PARAMS(CUpti_RangeProfiler_DecodeData_Params, dd);
    dd.pRangeProfilerObject = obj;
    CUPTI_CALL(c, c->cuptiRangeProfilerDecodeData(&dd));
    PARAMS(CUpti_RangeProfiler_GetCounterDataInfo_Params, gi);
    gi.pCounterDataImage = data;
    gi.counterDataImageSize = ds.counterDataSize;
    CUPTI_CALL(c, c->cuptiRangeProfilerGetCounterDataInfo(&gi));
    const int nr = (int)gi.numTotalRanges;
    per_range = malloc((size_t)(nr > 0 ? nr : 1) * (size_t)cs->n * sizeof *per_range);
    duration = malloc((size_t)(nr > 0 ? nr : 1) * sizeof *duration);
    if (!per_range || !duration) {
        snprintf(err, n, "out of memory for %d ranges", nr);
        goto fail;
    }
    int dur_m = -1;
    for (int m = 0; m < cs->n; m++)
        if (strcmp(cs->names[m], COUNTERS_DURATION) == 0)
            dur_m = m;
    for (int r = 0; r < nr; r++) {
        PARAMS(CUpti_Profiler_Host_EvaluateToGpuValues_Params, ev);
        ev.pHostObject = cs->host;
        ev.pCounterDataImage = data;
        ev.counterDataImageSize = ds.counterDataSize;
        ev.rangeIndex = (size_t)r;
        ev.ppMetricNames = (const char **)cs->names;
        ev.numMetrics = (size_t)cs->n;
        ev.pMetricValues = per_range + (size_t)r * cs->n;
        CUPTI_CALL(c, c->cuptiProfilerHostEvaluateToGpuValues(&ev));
        duration[r] = dur_m >= 0 ? per_range[(size_t)r * cs->n + dur_m] : NAN;
    }
    counters_combine((const char *const *)cs->names, cs->n, per_range, nr, duration, values);
    *ranges = nr;
    PARAMS(CUpti_RangeProfiler_Disable_Params, dis);
    dis.pRangeProfilerObject = obj;
    enabled = 0;
    CUPTI_CALL(c, c->cuptiRangeProfilerDisable(&dis));
    free(data), free(per_range), free(duration);
    return 0;
fail:
    (void)rc_;
    if (enabled) {
        PARAMS(CUpti_RangeProfiler_Disable_Params, dis);
        dis.pRangeProfilerObject = en.pRangeProfilerObject;
        c->cuptiRangeProfilerDisable(&dis);
    }
    free(data), free(per_range), free(duration);
    return -1;
}

#endif /* SB_HAVE_CUPTI */
