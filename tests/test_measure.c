/*
 * test_measure.c — statistics and the stopping rule of the timing loop.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "measure.h"

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
    double even[] = { 1, 2, 3, 10 };
    stats_compute(even, 4, &st);
    CHECK(st.median == 2.5, "even count: midpoint median");
    stats_compute(even, 0, &st);
    CHECK(isnan(st.median) && isinf(st.rel_se), "no samples: NaN, infinite error");
}

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
    double samples[1000];
    int n;
    int rc = measure_case(&im, &ctx, &o, samples, &n);
    CHECK(rc == SB_OK, "steady op measured");
    CHECK(n >= o.min_samples, "at least min_samples (%d)", n);
    struct stats st;
    stats_compute(samples, n, &st);
    CHECK(st.median >= 2.0 && st.median < 20, "2 ms sleep measured as %.3f ms", st.median);
    CHECK(calls > n, "warm-up runs happened before the samples (%d calls, %d samples)", calls, n);

    o.max_seconds = 0.05;
    o.target_rel = 0;                       /* never satisfied: the time cap must stop it */
    rc = measure_case(&im, &ctx, &o, samples, &n);
    CHECK(rc == SB_OK && n < 100, "time cap stops the loop (%d samples)", n);

    im.run = failing_run;
    rc = measure_case(&im, &ctx, &o, samples, &n);
    CHECK(rc == SB_ERROR && strstr(ctx.err, "planted"), "an error in run stops and reports");
}

int main(void)
{
    test_stats();
    test_loop();
    return check_done();
}
