/*
 * test_measure.c — statistics and the stopping rule of the timing loop.
 *
 *   1. the statistics: quantiles, mean, stdev; the incremental sorted set
 *      against a full sort after random inserts (duplicates included);
 *   2. the median's confidence interval: its order-statistic index against
 *      the textbook values and an independent binomial sum, and its
 *      coverage over 4000 lognormal samples;
 *   3. the stopping rule, driven sample by sample with synthetic seeded
 *      samples (tight and heavy lognormal, rare outliers, two bimodal mixes,
 *      constant, slow): where it stops, why, and that it did not stop
 *      before (the noise recomputed from scratch at every earlier count);
 *   4. the statuses: "ok", "ok: few samples (n of m)", "ok: noisy (...)";
 *   5. the loop itself on a CPU implementation that sleeps.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "measure.h"

/* ---- seeded samples --------------------------------------------------------- */

static uint64_t rng = 1;

static double uniform01(void)           /* (0, 1), splitmix64 */
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double normal01(void)            /* Box-Muller */
{
    return sqrt(-2 * log(uniform01())) * cos(2 * M_PI * uniform01());
}

/* The distributions, each around 1 ms, with a right (slow) tail as timings have. */
static double tight(void) { return exp(0.02 * normal01()); }
static double heavy(void) { return exp(0.3 * normal01()); }
static int outlier_clock;
static double outliers(void)            /* every 10th sample 3x slower: a preempted run */
{
    return (++outlier_clock % 10 == 3 ? 3 : 1) * exp(0.02 * normal01());
}
static double bimodal_even(void)        /* two clocks, half the time each */
{
    return (uniform01() < 0.5 ? 1.0 : 1.3) * exp(0.005 * normal01());
}
static double bimodal_40(void)          /* 40% in the slow mode */
{
    return (uniform01() < 0.4 ? 1.3 : 1.0) * exp(0.005 * normal01());
}
static double bimodal_rare(void)        /* 15% in the slow mode: the median is in the fast one */
{
    return (uniform01() < 0.15 ? 1.3 : 1.0) * exp(0.005 * normal01());
}
static double constant(void) { return 1.0; }

/* ---- an independent reference for the noise ------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* P(Binomial(n, 1/2) <= k), each term from lgamma. */
static double binom_cdf(int n, int k)
{
    double c = 0;
    for (int i = 0; i <= k; i++)
        c += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) - n * M_LN2);
    return c;
}

/* The 1-based index j of the 95% interval [x_(j), x_(n+1-j)], 0 for none
 * (memoised: the drives below ask for every n up to 1000). */
static int ref_ci_index(int n)
{
    static int memo[1001];
    if (n <= 1000 && memo[n])
        return memo[n] - 1;
    int j = 0;
    for (int k = 1; 2 * k <= n + 1 && binom_cdf(n, k - 1) <= 0.025; k++)
        j = k;
    if (n <= 1000)
        memo[n] = j + 1;
    return j;
}

/* The noise of x[0..n) from scratch: sort a copy, interval, median. */
static double ref_noise(const double *x, int n)
{
    int j = ref_ci_index(n);
    if (n < 1 || j == 0)
        return INFINITY;
    double *s = malloc((size_t)n * sizeof *s);
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    double noise = (s[n - j] - s[j - 1]) / (2 * median);
    free(s);
    return noise;
}

/* ---- 1. statistics ----------------------------------------------------------- */

static void test_stats(void)
{
    double s[] = { 5, 1, 4, 2, 3 };
    struct stats st;
    stats_compute(s, 5, &st);
    CHECK(st.n == 5 && st.median == 3 && st.min == 1 && st.max == 5, "median/min/max");
    CHECK(fabs(st.mean - 3) < 1e-12 && fabs(st.stdev - sqrt(2.5)) < 1e-12, "mean, sample stdev");
    CHECK(fabs(st.p10 - 1.4) < 1e-12 && fabs(st.p90 - 4.6) < 1e-12, "p10 %g p90 %g (linear)", st.p10,
          st.p90);
    CHECK(s[0] == 5 && s[4] == 3, "samples keep their order");
    CHECK(isinf(st.noise), "5 samples: no 95%% interval of the median (noise %g)", st.noise);
    double even[] = { 1, 2, 3, 10 };
    stats_compute(even, 4, &st);
    CHECK(st.median == 2.5, "even count: midpoint median");
    stats_compute(even, 0, &st);
    CHECK(isnan(st.median) && isinf(st.noise), "no samples: NaN, infinite noise");

    /* The incremental set against a full sort, with many equal values. */
    enum { N = 700 };
    double x[N], ref[N];
    struct sample_set set;
    CHECK(sample_set_init(&set, N) == 0, "set of %d", N);
    int bad_order = 0;
    double sum = 0;
    for (int i = 0; i < N; i++) {
        x[i] = floor(uniform01() * 50) / 8;     /* 50 distinct values */
        sample_set_add(&set, x[i]);
        sum += x[i];
        if (i % 97 == 0 || i == N - 1) {
            memcpy(ref, x, (size_t)(i + 1) * sizeof *ref);
            qsort(ref, (size_t)i + 1, sizeof *ref, cmp_double);
            bad_order += memcmp(ref, set.sorted, (size_t)(i + 1) * sizeof *ref) != 0;
        }
    }
    CHECK(bad_order == 0 && set.n == N, "binary insertion keeps the set sorted (%d bad)", bad_order);
    sample_set_add(&set, 1e9);
    CHECK(set.n == N && set.sorted[N - 1] < 1e9, "a full set ignores further samples");
    double mean = sum / N, ss = 0;
    for (int i = 0; i < N; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    sample_set_stats(&set, &st);
    CHECK(fabs(st.mean - mean) < 1e-12 && fabs(st.stdev - sqrt(ss / (N - 1))) < 1e-12,
          "running mean %g and stdev %g as two passes (%g, %g)", st.mean, st.stdev, mean,
          sqrt(ss / (N - 1)));
    CHECK(st.median == (ref[N / 2 - 1] + ref[N / 2]) / 2 && st.min == ref[0] && st.max == ref[N - 1],
          "median, min, max from the set");
    sample_set_free(&set);
}

/* ---- 2. the median's interval ----------------------------------------------- */

static void test_interval(void)
{
    /* Textbook ranks: n = 10 -> x(2)..x(9), 97.9%; n = 20 -> x(6)..x(15);
     * n = 100 -> x(40)..x(61); n = 6 -> x(1)..x(6), 96.9%; n = 5 -> none. */
    const struct { int n, j; } known[] = { { 5, 0 }, { 6, 1 }, { 10, 2 }, { 20, 6 }, { 100, 40 } };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        int n = known[i].n;
        struct sample_set set;
        sample_set_init(&set, n);
        for (int k = n; k >= 1; k--)
            sample_set_add(&set, k);            /* x_(k) = k */
        double lo = 0, hi = 0;
        int rc = sample_set_ci(&set, &lo, &hi);
        if (known[i].j == 0)
            CHECK(rc != 0, "n = %d: no 95%% interval", n);
        else
            CHECK(rc == 0 && lo == known[i].j && hi == n + 1 - known[i].j,
                  "n = %d: interval x(%g)..x(%g), expected x(%d)..x(%d)", n, lo, hi, known[i].j,
                  n + 1 - known[i].j);
        sample_set_free(&set);
    }
    int mismatched = 0;
    for (int n = 6; n <= 400; n++) {
        struct sample_set set;
        sample_set_init(&set, n);
        for (int k = 1; k <= n; k++)
            sample_set_add(&set, k);
        double lo, hi;
        mismatched += sample_set_ci(&set, &lo, &hi) != 0 || lo != ref_ci_index(n);
        sample_set_free(&set);
    }
    CHECK(mismatched == 0, "interval index = the lgamma binomial sum for n = 6..400 (%d differ)",
          mismatched);

    /* Coverage: the interval holds the true median (1 for exp(0.5·Z)) in
     * at least 95% of repeated experiments, whatever the skew; with 4000
     * trials the estimate's standard error is 0.35%. */
    enum { TRIALS = 4000, N = 25 };
    int held = 0;
    struct sample_set set;
    sample_set_init(&set, N);
    for (int t = 0; t < TRIALS; t++) {
        set.n = 0;
        for (int i = 0; i < N; i++)
            sample_set_add(&set, exp(0.5 * normal01()));
        double lo, hi;
        held += sample_set_ci(&set, &lo, &hi) == 0 && lo <= 1 && 1 <= hi;
    }
    sample_set_free(&set);
    double cover = (double)held / TRIALS;
    CHECK(cover >= 0.94 && cover <= 0.975, "lognormal, n = %d: coverage %.3f (nominal 0.957)", N,
          cover);
}

/* ---- 3. the stopping rule ------------------------------------------------------ */

struct drive {
    int n;
    enum stop_reason why;
    double noise;                       /* at the stop */
    int stopped_early;                  /* an earlier count >= min_samples already met the target */
};

/* Feeds gen()'s samples to the rule until it stops; the clock advances by
 * sample_s per sample (0: by the sample itself, in ms). Recomputes the
 * noise from scratch at every count. */
static struct drive drive(const struct measure_opts *o, double (*gen)(void), double sample_s)
{
    struct drive d = { 0 };
    double *x = malloc((size_t)o->max_samples * sizeof *x), elapsed = 0;
    struct sample_set set;
    sample_set_init(&set, o->max_samples);
    while (d.why == STOP_NONE) {
        x[d.n] = gen();
        sample_set_add(&set, x[d.n]);
        d.n++;
        elapsed += sample_s > 0 ? sample_s : x[d.n - 1] * 1e-3;
        d.why = measure_stop(o, &set, elapsed);
        if (d.why == STOP_NONE && d.n >= o->min_samples && ref_noise(x, d.n) <= o->target_rel)
            d.stopped_early = 1;        /* should have stopped here */
    }
    d.noise = ref_noise(x, d.n);
    if (fabs(d.noise - sample_set_noise(&set)) > 1e-12 * fmax(1, d.noise) && isfinite(d.noise))
        d.noise = NAN;                  /* the set disagrees with the reference: fails below */
    sample_set_free(&set);
    free(x);
    return d;
}

static void test_stopping(void)
{
    struct measure_opts o = MEASURE_DEFAULTS;
    o.max_seconds = 1e9;                /* the sample cap ends the hopeless cases */
    struct drive d;

    rng = 11;
    d = drive(&o, tight, 0);
    CHECK(d.why == STOP_TARGET && d.n >= o.min_samples && d.noise <= o.target_rel,
          "lognormal 2%%: stops on the target (n %d, noise %g, %s)", d.n, d.noise,
          stop_names[d.why] ? stop_names[d.why] : "none");
    CHECK(!d.stopped_early, "lognormal 2%%: not before the target was met (n %d)", d.n);
    CHECK(d.n > o.min_samples, "lognormal 2%%: needs more than the floor (n %d)", d.n);

    rng = 12, outlier_clock = 0;
    d = drive(&o, outliers, 0);
    CHECK(d.why == STOP_TARGET && !d.stopped_early && d.noise <= o.target_rel,
          "10%% outliers at 3x: stops on the target, not before (n %d, noise %g)", d.n, d.noise);
    {
        /* The old rule (1.25·stdev/sqrt(n) of the mean) would still be far
         * from 1% here: the outliers own the stdev, not the median. */
        rng = 12, outlier_clock = 0;
        struct sample_set s;
        sample_set_init(&s, d.n);
        for (int i = 0; i < d.n; i++)
            sample_set_add(&s, outliers());
        struct stats st;
        sample_set_stats(&s, &st);
        double old_rule = 1.2533 * st.stdev / sqrt((double)d.n) / st.median;
        CHECK(old_rule > 2 * o.target_rel, "outliers: a stdev rule would say %.3g at n %d", old_rule,
              d.n);
        sample_set_free(&s);
    }

    rng = 13;
    d = drive(&o, bimodal_rare, 0);
    CHECK(d.why == STOP_TARGET && !d.stopped_early && d.n >= o.min_samples,
          "bimodal 85/15: the median sits in the main mode; stops on the target (n %d, noise %g)",
          d.n, d.noise);

    rng = 14;
    d = drive(&o, bimodal_40, 0);
    CHECK(d.why == STOP_TARGET && !d.stopped_early && d.n > 3 * o.min_samples,
          "bimodal 60/40: the interval leaves the gap only after many samples (n %d, noise %g)",
          d.n, d.noise);

    /* A 50/50 mix has no stable median: the interval spans the gap until
     * the sample happens to hold more of one mode, which repeated looks
     * find in about half the runs (as any rule on the median would). What
     * holds is the contract: the samples never met the target before it
     * stopped, and a stop on the target met it. */
    o.max_samples = 400;
    int target_stops = 0;
    for (int seed = 100; seed < 120; seed++) {
        rng = (uint64_t)seed;
        d = drive(&o, bimodal_even, 0);
        CHECK(!d.stopped_early && d.n >= o.min_samples &&
              (d.why == STOP_TARGET ? d.noise <= o.target_rel
                                    : d.why == STOP_MAX_SAMPLES && d.noise > o.target_rel),
              "bimodal 50/50, seed %d: n %d, noise %g, %s", seed, d.n, d.noise,
              stop_names[d.why] ? stop_names[d.why] : "none");
        target_stops += d.why == STOP_TARGET;
    }
    CHECK(target_stops < 20, "bimodal 50/50: %d of 20 runs stopped on the target", target_stops);

    rng = 15;
    o.max_samples = 1000;
    d = drive(&o, heavy, 0);
    CHECK(d.why == STOP_MAX_SAMPLES && d.n == 1000 && d.noise > o.target_rel && !d.stopped_early,
          "lognormal 30%%: thousands needed, stops at the sample cap (n %d, noise %g)", d.n, d.noise);

    d = drive(&o, constant, 0);
    CHECK(d.why == STOP_TARGET && d.n == o.min_samples && d.noise == 0,
          "constant: noise 0 from %d samples, but not before the floor (n %d)", CI_MIN_SAMPLES, d.n);

    o.min_samples = 25;
    d = drive(&o, constant, 0);
    CHECK(d.why == STOP_TARGET && d.n == 25, "--min-samples 25: stops at 25 (n %d)", d.n);
    o.min_samples = 10;

    o.max_seconds = 2.0;
    rng = 16;
    d = drive(&o, tight, 0.5);          /* half a second per sample */
    CHECK(d.why == STOP_MAX_TIME && d.n == 4, "0.5 s samples, 2 s cap: stops on time at 4 (n %d, %s)",
          d.n, stop_names[d.why] ? stop_names[d.why] : "none");

    o.max_seconds = 0.02;               /* 20 ms of 1 ms samples: the floor, then time */
    o.target_rel = 0;
    rng = 17;
    d = drive(&o, tight, 0);
    CHECK(d.why == STOP_MAX_TIME && d.n >= 19 && d.n <= 21, "time cap with an unreachable target (n %d)",
          d.n);
}

/* ---- 4. statuses ------------------------------------------------------------- */

static void test_status(void)
{
    struct measure_opts o = MEASURE_DEFAULTS;
    char buf[120];
    struct measure_result m = { .n = 40, .noise = 0.004, .stop = STOP_TARGET };
    measure_status(&o, &m, buf, sizeof buf);
    CHECK(strcmp(buf, "ok") == 0, "target met: '%s'", buf);
    m = (struct measure_result){ .n = 1, .noise = INFINITY, .stop = STOP_MAX_TIME };
    measure_status(&o, &m, buf, sizeof buf);
    CHECK(strcmp(buf, "ok: few samples (1 of 10)") == 0, "one sample: '%s'", buf);
    m = (struct measure_result){ .n = 7, .noise = 0.001, .stop = STOP_MAX_TIME };
    measure_status(&o, &m, buf, sizeof buf);
    CHECK(strcmp(buf, "ok: few samples (7 of 10)") == 0, "under the floor, however quiet: '%s'", buf);
    m = (struct measure_result){ .n = 1000, .noise = 0.0234, .stop = STOP_MAX_SAMPLES };
    measure_status(&o, &m, buf, sizeof buf);
    CHECK(strcmp(buf, "ok: noisy (ci95 2.3% > 1%)") == 0, "target missed: '%s'", buf);
    o.min_samples = 3;
    m = (struct measure_result){ .n = 4, .noise = INFINITY, .stop = STOP_MAX_TIME };
    measure_status(&o, &m, buf, sizeof buf);
    CHECK(strcmp(buf, "ok: noisy (ci95 undefined with 4 samples)") == 0, "--min-samples 3: '%s'",
          buf);

    CHECK(timing_parse("cold") == TIMING_COLD && timing_parse("warm") == TIMING_WARM &&
          timing_parse("graph") == TIMING_GRAPH && timing_parse("kernel") == TIMING_KERNEL,
          "the GPU modes parse");
    CHECK(timing_parse("cpu") < 0 && timing_parse("kernels") < 0 && timing_parse("") < 0,
          "cpu (not a choice) and unknown modes do not");
}

/* ---- 5. the loop ------------------------------------------------------------ */

static int calls;
static int sleepy_run(struct op_ctx *ctx)
{
    (void)ctx;
    struct timespec ts = { 0, 2000000 };    /* 2 ms, steady */
    nanosleep(&ts, NULL);
    calls++;
    return SB_OK;
}

static int failing_run(struct op_ctx *ctx)
{
    snprintf(ctx->err, sizeof ctx->err, "planted failure");
    return SB_ERROR;
}

static void test_loop(void)
{
    struct impl im = { .name = "sleepy", .device = DEV_CPU, .run = sleepy_run };
    struct op_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    struct measure_opts o = MEASURE_DEFAULTS;
    o.max_seconds = 1.0;
    o.timing = TIMING_GRAPH;                /* ignored: a CPU implementation */
    double samples[1000];
    struct measure_result m;
    int rc = measure_case(&im, &ctx, &o, samples, &m);
    CHECK(rc == SB_OK, "steady op measured");
    CHECK(m.n >= o.min_samples, "at least min_samples (%d)", m.n);
    CHECK(m.timing == TIMING_CPU && m.graph_launches == 1, "a CPU implementation is timed as cpu");
    CHECK(m.stop == STOP_TARGET || m.stop == STOP_MAX_TIME, "stopped for a reason (%s)",
          stop_names[m.stop] ? stop_names[m.stop] : "none");
    struct stats st;
    stats_compute(samples, m.n, &st);
    CHECK(st.median >= 2.0 && st.median < 20, "2 ms sleep measured as %.3f ms", st.median);
    CHECK(fabs(st.noise - m.noise) < 1e-15 || (isinf(st.noise) && isinf(m.noise)),
          "the reported noise is the samples' (%g, %g)", m.noise, st.noise);
    CHECK(calls > m.n, "warm-up runs happened before the samples (%d calls, %d samples)", calls, m.n);

    o.max_seconds = 0.05;
    o.target_rel = 0;                       /* never satisfied: the time cap must stop it */
    rc = measure_case(&im, &ctx, &o, samples, &m);
    CHECK(rc == SB_OK && m.n < 100 && m.stop == STOP_MAX_TIME, "time cap stops the loop (%d samples)",
          m.n);

    o.max_seconds = 0.005;                  /* shorter than 10 samples: few samples, said so */
    o.target_rel = 0.01;
    rc = measure_case(&im, &ctx, &o, samples, &m);
    char status[120];
    measure_status(&o, &m, status, sizeof status);
    CHECK(rc == SB_OK && m.n < o.min_samples && m.stop == STOP_MAX_TIME &&
          strncmp(status, "ok: few samples (", 17) == 0, "a 5 ms cap: '%s'", status);

    im.run = failing_run;
    rc = measure_case(&im, &ctx, &o, samples, &m);
    CHECK(rc == SB_ERROR && strstr(ctx.err, "planted"), "an error in run stops and reports");
}

int main(void)
{
    test_stats();
    test_interval();
    test_stopping();
    test_status();
    test_loop();
    return check_done();
}
