/*
 * measure.c — see measure.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu.h"
#include "measure.h"

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
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

void stats_compute(const double *samples, int n, struct stats *st)
{
    memset(st, 0, sizeof *st);
    st->n = n;
    if (n <= 0) {
        st->median = st->min = st->max = st->p10 = st->p90 = st->mean = st->stdev = NAN;
        st->rel_se = INFINITY;
        return;
    }
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) {
        st->rel_se = INFINITY;
        return;
    }
    memcpy(s, samples, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double sum = 0, ss = 0;
    for (int i = 0; i < n; i++)
        sum += s[i];
    st->mean = sum / n;
    for (int i = 0; i < n; i++)
        ss += (s[i] - st->mean) * (s[i] - st->mean);
    st->stdev = n > 1 ? sqrt(ss / (n - 1)) : 0;
    st->min = s[0];
    st->max = s[n - 1];
    st->median = quantile(s, n, 0.5);
    st->p10 = quantile(s, n, 0.1);
    st->p90 = quantile(s, n, 0.9);
    /* Standard error of the median for a near-normal sample: sqrt(pi/2)·σ/√n. */
    st->rel_se = n > 1 && st->median > 0 ? 1.2533 * st->stdev / sqrt((double)n) / st->median
                                          : INFINITY;
    free(s);
}

struct run_arg {
    const struct impl *im;
    struct op_ctx *ctx;
};

static int run_once(void *p)
{
    struct run_arg *a = p;
    return a->im->run(a->ctx);
}

/* One sample in milliseconds on the implementation's device. */
static int sample(const struct impl *im, struct op_ctx *ctx, int flush, double *ms)
{
    struct run_arg a = { im, ctx };
    if (im->device == DEV_CUDA)
        return gpu_time_once(ctx->gpu, run_once, &a, flush, ms, ctx->err, sizeof ctx->err)
                   ? SB_ERROR : SB_OK;
    double t0 = now_seconds();
    int rc = im->run(ctx);
    *ms = 1e3 * (now_seconds() - t0);
    return rc;
}

int measure_case(const struct impl *im, struct op_ctx *ctx, const struct measure_opts *o,
                 double *samples, int *n_samples)
{
    double ms, t0 = now_seconds();
    int rc;
    *n_samples = 0;
    /* Warm-up: caches, page faults, clocks, library heuristics. A run longer
     * than the whole warm-up budget is its own warm-up. */
    do {
        if ((rc = sample(im, ctx, 0, &ms)) != SB_OK)
            return rc;
    } while (now_seconds() - t0 < o->warmup_seconds);

    struct stats st;
    t0 = now_seconds();
    for (int n = 0; n < o->max_samples;) {
        if ((rc = sample(im, ctx, o->flush_l2, &samples[n])) != SB_OK)
            return rc;
        *n_samples = ++n;
        double elapsed = now_seconds() - t0;
        if (elapsed >= o->max_seconds && n >= 1)
            break;
        if (n >= o->min_samples) {
            stats_compute(samples, n, &st);
            if (st.rel_se < o->target_rel)
                break;
        }
        /* Too slow for min_samples within the cap: stop at 3 samples rather
         * than spend minutes per case; the spread is stored with the result. */
        if (n >= 3 && elapsed / n * o->min_samples > 4 * o->max_seconds)
            break;
    }
    return SB_OK;
}
