/*
 * measure.c — see measure.h. The statistics first (the sorted sample set,
 * the median's confidence interval), then the stopping rule, then the loop
 * that takes samples in each timing mode.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cupti.h"
#include "gpu.h"
#include "kernrec.h"
#include "measure.h"
#include "nvml.h"
#include "nvtx.h"

const char *const timing_names[TIMING_COUNT] = {
    [TIMING_COLD] = "cold", [TIMING_WARM] = "warm", [TIMING_GRAPH] = "graph",
    [TIMING_KERNEL] = "kernel", [TIMING_CPU] = "cpu",
};
const char *const stop_names[STOP_COUNT] = {
    [STOP_NONE] = NULL, [STOP_TARGET] = "target", [STOP_MAX_SAMPLES] = "max_samples",
    [STOP_MAX_TIME] = "max_time",
};

/* The confidence of the median's interval, and its two-sided tail. */
#define CI_TAIL 0.025

/* graph: launches per replay so that one replay lasts about this long
 * (event resolution ~0.5 us is then under 0.1% of a sample), within
 * [1, GRAPH_MAX_LAUNCHES] (a graph of 1000 captured runs instantiates in
 * milliseconds). */
#define GRAPH_TARGET_MS 1.0
#define GRAPH_MAX_LAUNCHES 1000

int timing_parse(const char *s)
{
    for (int t = 0; t < TIMING_COUNT; t++)
        if (t != TIMING_CPU && strcmp(s, timing_names[t]) == 0)
            return t;
    return -1;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the sample set ------------------------------------------------------- */

int sample_set_init(struct sample_set *s, int cap)
{
    memset(s, 0, sizeof *s);
    s->sorted = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *s->sorted);
    s->cap = cap;
    return s->sorted ? 0 : -1;
}

void sample_set_free(struct sample_set *s)
{
    free(s->sorted);
    memset(s, 0, sizeof *s);
}

void sample_set_add(struct sample_set *s, double x)
{
    if (s->n >= s->cap)
        return;
    int lo = 0, hi = s->n;                  /* first element > x: equal values keep arrival order */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (s->sorted[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(s->sorted + lo + 1, s->sorted + lo, (size_t)(s->n - lo) * sizeof *s->sorted);
    s->sorted[lo] = x;
    s->n++;
    double d = x - s->mean;
    s->mean += d / s->n;
    s->m2 += d * (x - s->mean);
}

/* Linear interpolation between order statistics (NumPy's default). */
static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1)
        return sorted[n - 1];
    return sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]);
}

/* The 1-based index j of the median's interval [x_(j), x_(n+1-j)], or 0
 * when n is too small for one. The count of samples below the median is
 * Binomial(n, 1/2) whatever the distribution, so the interval misses the
 * median with probability 2·P(B <= j-1): j is the largest index for which
 * that is at most 2·CI_TAIL. The binomial terms are stepped in logs
 * (P(B = k+1) = P(B = k)·(n-k)/(k+1)), so no 2^-n underflows a sum that
 * matters. */
static int ci_index(int n)
{
    double log_pmf = -n * M_LN2, cdf = 0;
    int j = 0;
    for (int k = 0; 2 * k < n; k++) {
        cdf += exp(log_pmf);
        if (cdf > CI_TAIL)
            break;
        j = k + 1;
        log_pmf += log((double)(n - k) / (k + 1));
    }
    return j;
}

int sample_set_ci(const struct sample_set *s, double *lo, double *hi)
{
    int j = s->n >= CI_MIN_SAMPLES ? ci_index(s->n) : 0;
    if (j == 0)
        return -1;
    *lo = s->sorted[j - 1];
    *hi = s->sorted[s->n - j];
    return 0;
}

double sample_set_noise(const struct sample_set *s)
{
    double lo, hi, median = s->n ? quantile(s->sorted, s->n, 0.5) : NAN;
    if (sample_set_ci(s, &lo, &hi) != 0 || !(median > 0))
        return INFINITY;
    return (hi - lo) / (2 * median);
}

void sample_set_stats(const struct sample_set *s, struct stats *st)
{
    memset(st, 0, sizeof *st);
    st->n = s->n;
    st->noise = sample_set_noise(s);
    if (s->n <= 0) {
        st->median = st->min = st->max = st->p10 = st->p90 = st->mean = st->stdev = NAN;
        return;
    }
    const double *x = s->sorted;
    st->min = x[0];
    st->max = x[s->n - 1];
    st->median = quantile(x, s->n, 0.5);
    st->p10 = quantile(x, s->n, 0.1);
    st->p90 = quantile(x, s->n, 0.9);
    st->mean = s->mean;
    st->stdev = s->n > 1 ? sqrt(s->m2 / (s->n - 1)) : 0;
}

void stats_compute(const double *samples, int n, struct stats *st)
{
    struct sample_set s;
    if (sample_set_init(&s, n) != 0) {
        memset(st, 0, sizeof *st);
        st->median = st->min = st->max = st->p10 = st->p90 = st->mean = st->stdev = NAN;
        st->noise = INFINITY;
        return;
    }
    for (int i = 0; i < n; i++)
        sample_set_add(&s, samples[i]);
    sample_set_stats(&s, st);
    sample_set_free(&s);
}

/* ---- the stopping rule ------------------------------------------------------ */

enum stop_reason measure_stop(const struct measure_opts *o, const struct sample_set *s,
                              double elapsed_s)
{
    if (s->n >= o->min_samples && sample_set_noise(s) <= o->target_rel)
        return STOP_TARGET;
    if (s->n >= o->max_samples)
        return STOP_MAX_SAMPLES;
    if (elapsed_s >= o->max_seconds)
        return STOP_MAX_TIME;
    return STOP_NONE;
}

void noise_format(double noise, char *buf, size_t n)
{
    double pct = 100 * noise;
    snprintf(buf, n, "%.*f%%", pct < 1 ? 2 : pct < 10 ? 1 : 0, pct);
}

void measure_status(const struct measure_opts *o, const struct measure_result *m, char *buf,
                    size_t n)
{
    if (m->n < o->min_samples)
        snprintf(buf, n, "ok: few samples (%d of %d)", m->n, o->min_samples);
    else if (m->noise <= o->target_rel)
        snprintf(buf, n, "ok");
    else if (isfinite(m->noise)) {
        char v[32];
        noise_format(m->noise, v, sizeof v);
        snprintf(buf, n, "ok: noisy (ci95 %s > %.2g%%)", v, 100 * o->target_rel);
    }
    else            /* --min-samples under CI_MIN_SAMPLES, or a median of 0 */
        snprintf(buf, n, "ok: noisy (ci95 undefined with %d samples)", m->n);
}

/* ---- the loop ------------------------------------------------------------- */

/* The kernel records of the process (CUPTI delivers into it while a pass
 * is on); names interned for the process's life. */
static struct kernel_log kernel_records;

struct run_arg {
    const struct impl *im;
    struct op_ctx *ctx;
    int timed;              /* inside NVTX's "timed" range (nvtx.h) */
};

static int run_once(void *p)
{
    struct run_arg *a = p;
    if (!a->timed)
        return a->im->run(a->ctx);
    nvtx_push_timed();
    int rc = a->im->run(a->ctx);
    nvtx_pop();
    return rc;
}

static int graph_once(void *p)
{
    struct op_ctx *ctx = p;
    nvtx_push_timed();
    int rc = gpu_graph_launch(ctx->gpu, ctx->err, sizeof ctx->err);
    nvtx_pop();
    return rc;
}

/* One kernel-timed sample: the op's kernel records between the host's
 * queueing and its seeing the stop event, summed. */
static int kernel_sample(struct cupti *c, struct op_ctx *ctx, struct run_arg *a, int flush,
                         double *ms, int *count)
{
    double event_ms;
    const uint64_t t0 = cupti_timestamp(c);
    if (gpu_time_once(ctx->gpu, run_once, a, flush, &event_ms, ctx->err, sizeof ctx->err) != 0)
        return SB_ERROR;
    if (cupti_activity_flush(c, ctx->err, sizeof ctx->err) != 0)
        return SB_ERROR;
    *ms = kernel_log_sum_ms(&kernel_records, t0, cupti_timestamp(c), count);
    if (*count == 0) {
        snprintf(ctx->err, sizeof ctx->err, "timing=kernel: CUPTI recorded no kernel of the sample "
                 "(%ld records dropped)", kernel_records.dropped);
        return SB_ERROR;
    }
    return SB_OK;
}

/* One sample in milliseconds per run() (the whole replay for a graph). */
static int sample(const struct impl *im, struct op_ctx *ctx, const struct measure_opts *o,
                  enum timing t, int timed, double *ms)
{
    struct run_arg a = { im, ctx, timed };
    switch (t) {
    case TIMING_CPU: {
        double t0 = now_seconds();
        int rc = run_once(&a);
        *ms = 1e3 * (now_seconds() - t0);
        return rc;
    }
    case TIMING_GRAPH:
        return gpu_time_once(ctx->gpu, graph_once, ctx, 0, ms, ctx->err, sizeof ctx->err);
    case TIMING_KERNEL: {
        int count, rc = kernel_sample(o->cupti, ctx, &a, 1, ms, &count);
        kernel_log_clear(&kernel_records);
        return rc;
    }
    default:
        return gpu_time_once(ctx->gpu, run_once, &a, t == TIMING_COLD, ms, ctx->err,
                             sizeof ctx->err);
    }
}

/* Captures run() into the graph mode's graph, sized from the fastest
 * warm-up sample best_ms. Returns SB_OK, SB_UNSUPPORTED or SB_ERROR. */
static int graph_setup(const struct impl *im, struct op_ctx *ctx, double best_ms, int *launches)
{
    double want = best_ms > 0 ? ceil(GRAPH_TARGET_MS / best_ms) : GRAPH_MAX_LAUNCHES;
    *launches = want < 1 ? 1 : want > GRAPH_MAX_LAUNCHES ? GRAPH_MAX_LAUNCHES : (int)want;
    struct run_arg a = { im, ctx, 0 };
    return gpu_graph_capture(ctx->gpu, run_once, &a, *launches, ctx->err, sizeof ctx->err);
}

static void sleep_seconds(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
    nanosleep(&ts, NULL);
}

/* The SM clock now, 0 when nobody watches it; reasons OR-ed into *reasons. */
static unsigned clock_now(const struct measure_opts *o, uint64_t *reasons)
{
    unsigned mhz = 0;
    uint64_t r = 0;
    if (o->nvml && nvml_sm_clock(o->nvml, &mhz, &r) == 0)
        *reasons |= r;
    return mhz;
}

/* ---- samples taken outside this process ---------------------------------- */

/* Most runs one request to an implementation that times itself asks for:
 * a batch amortises the round trip to a worker process (a pipe and a
 * Python loop, ~0.1 ms) without running far past the stopping rule. */
#define EXTERNAL_MAX_BATCH 64

/* Runs in the next request: up to the floor of samples while under it,
 * then a quarter more at a time (the noise shrinks as 1/sqrt(n), so the
 * rule's verdict changes slowly); never more than the time left allows at
 * the typical run time typ_ms, nor past max_samples. At least 1. */
static int external_batch(const struct measure_opts *o, int n, double typ_ms, double left_s)
{
    int k = n < o->min_samples ? o->min_samples - n : n / 4;
    if (typ_ms > 0 && k > left_s * 1e3 / typ_ms)
        k = (int)(left_s * 1e3 / typ_ms);
    if (k > EXTERNAL_MAX_BATCH)
        k = EXTERNAL_MAX_BATCH;
    if (k > o->max_samples - n)
        k = o->max_samples - n;
    return k < 1 ? 1 : k;
}

/* measure_case for an implementation with impl.sample: the same warm-up
 * and stopping rule, fed by batches of runs it times itself. The rule is
 * applied after each sample in arrival order, exactly as for the runs
 * timed here; the rest of a batch past the stop is dropped. */
static int measure_external(const struct impl *im, struct op_ctx *ctx, const struct measure_opts *o,
                            enum timing mode, double *samples, struct measure_result *out)
{
    double *batch = malloc(EXTERNAL_MAX_BATCH * sizeof *batch);
    struct sample_set set;
    if (!batch || sample_set_init(&set, o->max_samples) != 0) {
        free(batch);
        snprintf(ctx->err, sizeof ctx->err, "out of host memory for %d samples", o->max_samples);
        return SB_OOM;
    }
    struct sample_req req = { .timing = timing_names[mode], .n = 1, .warmup = 1,
                              .graph_ms = GRAPH_TARGET_MS, .graph_max = GRAPH_MAX_LAUNCHES };
    double typ = INFINITY, t0 = now_seconds();
    int rc;
    do {                                /* warm-up: at least one run, then the budget */
        if ((rc = im->sample(ctx, &req, batch)) != SB_OK)
            goto done;
        typ = fmin(typ, batch[0]);
    } while (now_seconds() - t0 < o->warmup_seconds);

    req.warmup = 0;
    t0 = now_seconds();
    while (out->stop == STOP_NONE) {
        const double t_req = now_seconds() - t0;
        req.n = external_batch(o, out->n, typ, o->max_seconds - t_req);
        if ((rc = im->sample(ctx, &req, batch)) != SB_OK)
            break;
        /* Each run's end is placed evenly through the request's wall time. */
        const double t_got = now_seconds() - t0;
        for (int i = 0; i < req.n && out->stop == STOP_NONE; i++) {
            samples[out->n++] = batch[i];
            sample_set_add(&set, batch[i]);
            out->stop = measure_stop(o, &set, t_req + (t_got - t_req) * (i + 1) / req.n);
        }
        struct stats st;
        sample_set_stats(&set, &st);
        typ = st.median;
    }
done:
    out->noise = sample_set_noise(&set);
    sample_set_free(&set);
    free(batch);
    return rc;
}

int measure_case(const struct impl *im, struct op_ctx *ctx, const struct measure_opts *o,
                 double *samples, struct measure_result *out)
{
    const enum timing mode = im->device == DEV_CUDA ? o->timing : TIMING_CPU;
    if (im->sample) {           /* timed in its own process: no clock of ours to watch */
        *out = (struct measure_result){ .noise = INFINITY, .timing = mode, .graph_launches = 1,
                                        .throttled = -1, .reasons = -1, .sm_mhz = NAN };
        return measure_external(im, ctx, o, mode, samples, out);
    }
    /* Clocks are watched on GPU samples, or wherever the caller gave NVML
     * (a test drives the rule with a fake library and a CPU op). */
    const int watched = o->nvml != NULL;
    *out = (struct measure_result){ .noise = INFINITY, .timing = mode, .graph_launches = 1,
                                    .throttled = watched ? 0 : -1, .reasons = watched ? 0 : -1,
                                    .sm_mhz = NAN };
    struct sample_set set;
    struct throttle thr;
    throttle_init(&thr, watched ? o->default_sm_mhz : 0);
    if (sample_set_init(&set, o->max_samples) != 0) {
        snprintf(ctx->err, sizeof ctx->err, "out of host memory for %d samples", o->max_samples);
        return SB_OOM;
    }
    if (mode == TIMING_KERNEL && !o->cupti) {
        sample_set_free(&set);
        snprintf(ctx->err, sizeof ctx->err, "timing=kernel needs CUPTI's kernel records: %.200s",
                 o->cupti_why ? o->cupti_why : "no CUPTI in this session");
        return SB_UNSUPPORTED;
    }
    double ms, best = INFINITY, t0 = now_seconds();
    int rc, activity = 0;
    /* Warm-up: caches, page faults, clocks, library heuristics, module
     * loading. A run longer than the whole warm-up budget is its own
     * warm-up. GPU warm-up samples are warm single launches, whatever the
     * mode: the graph's size comes from their best time. */
    const enum timing warm_mode = mode == TIMING_CPU ? TIMING_CPU : TIMING_WARM;
    /* The first GPU run is not held behind the blocking kernel: with CUDA's
     * lazy module loading, a kernel's first launch may wait for the device
     * to go idle, which a spinning kernel prevents until its timeout. */
    if (mode != TIMING_CPU) {
        if ((rc = im->run(ctx)) != SB_OK)
            goto done;
        if (gpu_synchronize(ctx->gpu, ctx->err, sizeof ctx->err) != 0) {
            rc = SB_ERROR;
            goto done;
        }
    }
    do {
        if ((rc = sample(im, ctx, o, warm_mode, 0, &ms)) != SB_OK)
            goto done;
        best = fmin(best, ms);
    } while (now_seconds() - t0 < o->warmup_seconds);
    if (mode == TIMING_GRAPH) {
        if ((rc = graph_setup(im, ctx, best, &out->graph_launches)) != SB_OK)
            goto done;
        if ((rc = sample(im, ctx, o, mode, 0, &ms)) != SB_OK)  /* the first replay is not timed */
            goto done;
    }
    if (mode == TIMING_KERNEL) {
        kernel_log_clear(&kernel_records);
        if (cupti_activity_start(o->cupti, &kernel_records, ctx->err, sizeof ctx->err) != 0) {
            rc = SB_ERROR;
            goto done;
        }
        activity = 1;
    }

    t0 = now_seconds();
    while (out->stop == STOP_NONE) {
        uint64_t reasons = 0;
        const unsigned before = clock_now(o, &reasons);
        if ((rc = sample(im, ctx, o, mode, 1, &ms)) != SB_OK)
            break;
        const unsigned after = clock_now(o, &reasons);
        if (throttle_judge(&thr, before, after, reasons)) {
            samples[out->n++] = ms / out->graph_launches;
            sample_set_add(&set, ms / out->graph_launches);
        } else {
            sleep_seconds(thr.recovery_s);
        }
        out->stop = measure_stop(o, &set, now_seconds() - t0);
    }
done:
    if (activity) {
        char err[256];
        cupti_activity_stop(o->cupti, err, sizeof err);
        kernel_log_clear(&kernel_records);
    }
    out->noise = sample_set_noise(&set);
    if (watched) {
        out->throttled = thr.dropped;
        out->reasons = (int64_t)thr.reasons;
        out->sm_mhz = throttle_mean_mhz(&thr);
    }
    if (mode == TIMING_GRAPH)
        gpu_graph_release(ctx->gpu);
    sample_set_free(&set);
    return rc;
}

int measure_kernels(const struct impl *im, struct op_ctx *ctx, const struct measure_opts *o,
                    double *kernel_ms, struct kernel_row **rows, int *n_rows)
{
    double ms[KERNEL_PASS_RUNS];
    int n = 0, rc = SB_OK, count;
    *kernel_ms = NAN;
    *rows = NULL;
    *n_rows = 0;
    kernel_log_clear(&kernel_records);
    if (cupti_activity_start(o->cupti, &kernel_records, ctx->err, sizeof ctx->err) != 0)
        return SB_ERROR;
    struct run_arg a = { im, ctx, 0 };
    const int flush = o->timing == TIMING_COLD || o->timing == TIMING_KERNEL;
    const uint64_t first = cupti_timestamp(o->cupti);
    const double t0 = now_seconds();
    while (n < KERNEL_PASS_RUNS && (n == 0 || now_seconds() - t0 < KERNEL_PASS_SECONDS)) {
        if ((rc = kernel_sample(o->cupti, ctx, &a, flush, &ms[n], &count)) != SB_OK)
            break;
        n++;
    }
    const uint64_t last = cupti_timestamp(o->cupti);
    char err[256];
    if (cupti_activity_stop(o->cupti, err, sizeof err) != 0 && rc == SB_OK) {
        snprintf(ctx->err, sizeof ctx->err, "%s", err);
        rc = SB_ERROR;
    }
    if (rc == SB_OK) {
        struct stats st;
        stats_compute(ms, n, &st);
        *kernel_ms = st.median;
        if ((*n_rows = kernel_log_group(&kernel_records, first, last, n, rows)) < 0) {
            *n_rows = 0;
            snprintf(ctx->err, sizeof ctx->err, "out of host memory for the kernel breakdown");
            rc = SB_OOM;
        }
    }
    kernel_log_clear(&kernel_records);
    return rc;
}
