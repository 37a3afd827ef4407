/*
 * test_peer.c — the pieces of the peers' machinery that need no worker:
 *
 *   1. the line format (harness/peer_worker.h): values with spaces, '%',
 *      '=' and newlines survive encoding and parsing; malformed words and
 *      escapes are refused;
 *   2. the registry's run-time rows: added implementations are found, counted
 *      after the family's own and in order, and a taken name is refused;
 *   3. measure.c's path for implementations that time themselves
 *      (impl.sample): the same warm-up and stopping rule as the loop that
 *      times run(), fed by batches — where it stops and why for samples
 *      with a known sequence, that no batch is larger than the rule can use,
 *      and that a failing batch fails the measurement with its message.
 * The worker processes themselves are tests/peers.sh's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "measure.h"
#include "peer_worker.h"

/* ---- 1. the line format ------------------------------------------------------- */

static void test_line_format(void)
{
    char line[256] = "prepare", copy[256];
    CHECK(proto_append(line, sizeof line, "msg", "a b%c=d\nend") == 0, "append");
    CHECK(proto_append(line, sizeof line, "empty", "") == 0, "append empty");
    CHECK(strcmp(line, "prepare msg=a%20b%25c=d%0Aend empty=") == 0, "encoded as '%s'", line);
    CHECK(!strchr(line + 1, '\n'), "no newline in the line");
    snprintf(copy, sizeof copy, "%s", line);
    struct reply r;
    CHECK(reply_parse(strdup(copy), &r) == 0, "parses");
    CHECK(strcmp(r.verb, "prepare") == 0 && r.n == 2, "verb '%s', %d pairs", r.verb, r.n);
    CHECK(reply_get(&r, "msg") && strcmp(reply_get(&r, "msg"), "a b%c=d\nend") == 0,
          "msg decoded back: '%s'", reply_get(&r, "msg") ? reply_get(&r, "msg") : "(null)");
    CHECK(reply_get(&r, "empty") && reply_get(&r, "empty")[0] == 0, "an empty value");
    CHECK(reply_get(&r, "absent") == NULL, "an absent key");
    reply_free(&r);

    const char *bad[] = { "ok word-without-equals", "ok v=%zz", "ok v=%4", NULL };
    for (int i = 0; bad[i]; i++) {
        CHECK(reply_parse(strdup(bad[i]), &r) != 0, "'%s' refused", bad[i]);
        reply_free(&r);
    }
    char small[16] = "x";
    CHECK(proto_append(small, sizeof small, "key", "a long value that does not fit") != 0,
          "a value past the buffer is refused");
}

/* ---- 2. the registry ------------------------------------------------------------ */

static int noop_run(struct op_ctx *ctx)
{
    (void)ctx;
    return SB_OK;
}

static const struct impl added[2] = {
    { .name = "test-added-a", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32), .run = noop_run },
    { .name = "test-added-b", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32), .run = noop_run },
};

static void test_registry(void)
{
    const struct family *f = family_find("flash"), *g = family_find("gated");
    const int before = family_n_impls(f), g_before = family_n_impls(g);
    char err[200];
    CHECK(before == f->n_impls, "no extras yet: %d vs %d", before, f->n_impls);
    CHECK(registry_add_impl(f, &added[0], err, sizeof err) == 0, "add a: %s", err);
    CHECK(registry_add_impl(g, &added[1], err, sizeof err) == 0, "add b to gated: %s", err);
    CHECK(registry_add_impl(f, &added[1], err, sizeof err) == 0, "add b to flash: %s", err);
    CHECK(family_n_impls(f) == before + 2 && family_n_impls(g) == g_before + 1,
          "counts %d (want %d), %d (want %d)", family_n_impls(f), before + 2, family_n_impls(g),
          g_before + 1);
    CHECK(family_impl(f, before) == &added[0] && family_impl(f, before + 1) == &added[1],
          "extras after the table, in order added");
    CHECK(family_impl(f, before + 2) == NULL && family_impl(f, -1) == NULL, "out of range: NULL");
    CHECK(impl_find(f, "test-added-b") == &added[1], "found by name");
    CHECK(impl_find(family_find("softmax"), "test-added-a") == NULL, "only in its family");
    err[0] = 0;
    CHECK(registry_add_impl(f, &added[0], err, sizeof err) != 0 && strstr(err, "already exists"),
          "a taken name refused: '%s'", err);
    const struct impl same_as_builtin = { .name = "cpu", .run = noop_run };
    CHECK(registry_add_impl(f, &same_as_builtin, err, sizeof err) != 0,
          "a built-in name refused");
    CHECK(impl_available(&added[0], err, sizeof err) == 1, "no available(): available");
}

/* ---- 3. samples from outside ---------------------------------------------------- */

/* A self-timing implementation whose k-th run takes times[k % n] ms. */
struct fake {
    const double *times;
    int n, next;
    int requests, warmups, biggest, fail_at;
    double wall_per_run;            /* seconds of wall time each run "takes" (slept) */
};
static struct fake fk;

static int fake_sample(struct op_ctx *ctx, const struct sample_req *q, double *ms)
{
    fk.requests++;
    fk.warmups += q->warmup;
    if (!q->warmup && q->n > fk.biggest)
        fk.biggest = q->n;
    if (fk.fail_at && fk.requests == fk.fail_at) {
        snprintf(ctx->err, sizeof ctx->err, "worker died in samples");
        return SB_ERROR;
    }
    for (int i = 0; i < q->n; i++)
        ms[i] = fk.times[fk.next++ % fk.n];
    if (fk.wall_per_run > 0) {
        const double until = now_seconds() + q->n * fk.wall_per_run;
        while (now_seconds() < until)
            ;
    }
    return SB_OK;
}

static const struct impl fake_impl = { .name = "fake", .device = DEV_CPU, .run = noop_run,
                                       .sample = fake_sample };

static void run_fake(const double *times, int n, const struct measure_opts *o, double *samples,
                     struct measure_result *m, int *rc, char *err)
{
    fk = (struct fake){ .times = times, .n = n };
    struct op_ctx ctx = { 0 };
    *rc = measure_case(&fake_impl, &ctx, o, samples, m);
    strcpy(err, ctx.err);
}

static void test_external(void)
{
    double samples[1000], err_ms[] = { 1.0 };
    char err[256];
    struct measure_result m;
    int rc;

    /* Constant samples: the noise is 0 once the interval exists, so the rule
     * stops at the floor exactly, from batches that never overshoot it. */
    struct measure_opts o = MEASURE_DEFAULTS;
    o.warmup_seconds = 0;
    run_fake(err_ms, 1, &o, samples, &m, &rc, err);
    CHECK(rc == SB_OK && m.stop == STOP_TARGET && m.n == o.min_samples,
          "constant: rc %d, stop %d, n %d (want target at %d)", rc, m.stop, m.n, o.min_samples);
    CHECK(fk.warmups == 1, "one warm-up request when the budget is 0 (got %d)", fk.warmups);
    CHECK(fk.biggest == o.min_samples, "the first batch is the floor (biggest %d)", fk.biggest);
    CHECK(m.timing == TIMING_CPU, "a CPU implementation's timing is cpu");

    /* Alternating 1, 2 ms: the median's interval spans both values until
     * enough samples pin it; the rule must see each sample in order, so
     * the stop is where the in-process loop would stop on the same
     * sequence (computed here sample by sample). */
    const double alt[] = { 1.0, 2.0, 1.0, 1.0 };
    struct sample_set set;
    sample_set_init(&set, 1000);
    int want = 0;
    for (int i = 0; i < 1000; i++) {
        sample_set_add(&set, alt[(i + 1) % 4]);     /* the warm-up run took alt[0] */
        if (measure_stop(&o, &set, 0) != STOP_NONE) {
            want = i + 1;
            break;
        }
    }
    sample_set_free(&set);
    run_fake(alt, 4, &o, samples, &m, &rc, err);
    CHECK(rc == SB_OK && m.n == want && m.stop == STOP_TARGET,
          "alternating: n %d (the rule sample by sample says %d), stop %d", m.n, want, m.stop);
    CHECK(fk.biggest <= 64, "no batch over 64 (%d)", fk.biggest);
    for (int i = 0; i < m.n; i++)
        if (samples[i] != alt[(i + 1) % 4]) {
            CHECK(0, "sample %d is %g, arrival order %g", i, samples[i], alt[(i + 1) % 4]);
            break;
        }

    /* A cap on the samples: the target unreachable (0 with spread samples),
     * max_samples ends it and no request asks past it. */
    const double spread[] = { 1.0, 2.0, 3.0, 4.0, 5.0 };
    o.target_rel = 0;
    o.max_samples = 37;
    o.max_seconds = 100;
    run_fake(spread, 5, &o, samples, &m, &rc, err);
    CHECK(rc == SB_OK && m.n == 37 && m.stop == STOP_MAX_SAMPLES, "max_samples: n %d stop %d",
          m.n, m.stop);

    /* Slow runs: max_time ends it, and the batches shrink to what the time
     * left holds (runs of 20 ms of wall time, 0.1 s of sampling: a few). */
    o = (struct measure_opts)MEASURE_DEFAULTS;
    o.warmup_seconds = 0, o.max_seconds = 0.1, o.target_rel = 0;
    const double slow[] = { 20.0 };
    fk = (struct fake){ .times = slow, .n = 1, .wall_per_run = 0.02 };
    struct op_ctx ctx = { 0 };
    rc = measure_case(&fake_impl, &ctx, &o, samples, &m);
    CHECK(rc == SB_OK && m.stop == STOP_MAX_TIME && m.n >= 1 && m.n <= 10,
          "max_time: rc %d stop %d n %d", rc, m.stop, m.n);
    CHECK(fk.biggest <= 5, "batches sized by the time left (biggest %d)", fk.biggest);

    /* A batch fails: the measurement fails with its message. */
    o = (struct measure_opts)MEASURE_DEFAULTS;
    o.warmup_seconds = 0;
    fk = (struct fake){ .times = alt, .n = 4, .fail_at = 3 };
    memset(&ctx, 0, sizeof ctx);
    rc = measure_case(&fake_impl, &ctx, &o, samples, &m);
    CHECK(rc == SB_ERROR && strstr(ctx.err, "worker died"), "a failed batch: rc %d, '%s'", rc,
          ctx.err);
}

int main(void)
{
    test_line_format();
    test_registry();
    test_external();
    return check_done();
}
