/*
 * test_ceilings.c — the CPU roofs' cache (harness/ceilings.c) and the bound
 * a result is given (harness/runcase.c): a first load measures and writes
 * the cache, a second reads it back unchanged; a corrupt file, a file of
 * another key and an unwritable directory cost a measurement, never a
 * wrong value; the re-measure runs once per run and never lowers a roof;
 * the binding roof is the one that needs longer; an unknown roof leaves the
 * % empty; a result that beats its roof is re-measured against (measured
 * roofs), then clamped to 100 with a note, its status still ok.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../reference/attention.h"
#include "ceilings.h"
#include "check.h"
#include "runcase.h"

static char dir[64];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "write %s", path);
    if (f)
        fputs(text, f), fclose(f);
}

static void test_cache(void)
{
    struct cpu_ceilings a, b;
    ceilings_load(&a, 2);
    CHECK(strcmp(a.origin, "measured") == 0, "first load measures (%s)", a.origin);
    CHECK(a.flops > 0 && a.bytes_s > 0, "measured %.3g FLOP/s, %.3g B/s", a.flops, a.bytes_s);
    CHECK(strncmp(a.path, dir, strlen(dir)) == 0, "cache under SEQBENCH_CACHE_DIR: %s", a.path);
    CHECK(access(a.path, R_OK) == 0, "cache written");
    ceilings_load(&b, 2);
    CHECK(strcmp(b.origin, "cached") == 0, "second load reads the cache (%s)", b.origin);
    CHECK(b.flops == a.flops && b.bytes_s == a.bytes_s, "values read back exactly");

    /* Corrupt, or of another key (another host, CPU, thread count or
     * build): ignored, re-measured. */
    const char *bad[] = {
        "garbage\n",
        "key nothing|x|2 threads|y\nfma_flops 1e99\nstream_bytes_s 1e99\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(a.path, bad[i]);
        ceilings_load(&b, 2);
        CHECK(strcmp(b.origin, "measured") == 0 && b.flops > 0 && b.flops < 1e15,
              "bad cache %zu ignored (%s, %.3g)", i, b.origin, b.flops);
    }
    /* The right key with a broken value. */
    FILE *f = fopen(a.path, "r");
    char key[1200] = "";
    while (f && fgets(key, sizeof key, f) && strncmp(key, "key ", 4) != 0)
        ;
    if (f)
        fclose(f);
    char text[1400];
    snprintf(text, sizeof text, "%sfma_flops -5\nstream_bytes_s nan\n", key);
    write_file(a.path, text);
    ceilings_load(&b, 2);
    CHECK(strcmp(b.origin, "measured") == 0 && b.flops > 0, "negative and NaN values ignored");
    CHECK(access(a.path, R_OK) == 0, "rewritten");

    /* Re-measure: once per run, never lower. */
    ceilings_load(&b, 2);
    b.flops = 1, b.bytes_s = 1e30;
    CHECK(ceilings_remeasure(&b) == 1, "the first re-measure runs");
    CHECK(b.flops > 1 && b.bytes_s == 1e30, "raised, never lowered: %.3g, %.3g", b.flops, b.bytes_s);
    const double kept = b.flops;
    b.flops = 2;
    CHECK(ceilings_remeasure(&b) == 0 && b.flops == 2, "at most once per run");
    ceilings_load(&b, 2);
    CHECK(b.bytes_s == 1e30 && b.flops == kept, "the raised roofs are cached");
}

/* A tiny case timed for a few samples, measured against the given roofs. */
static void timed(struct roof roof, struct case_result *r)
{
    struct shape s;
    shape_unset(&s);
    s.B = 1, s.N = 64, s.Nk = 64, s.H = 2, s.Hkv = 2, s.D = 32, s.Dv = 32, s.causal = 1;
    s.dtype = DT_FP32;
    struct case_req q = { .family = family_find("flash"), .shape = s, .seed = 1, .device = "cpu",
                          .no_gpu_reason = "no CUDA device", .roof = roof };
    q.impl = impl_find(q.family, "cpu");
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    q.mopts.max_seconds = 0.05;
    run_case(&q, r);
    /* Plain ok or 'ok: few samples/noisy' (a loaded machine): the bound is
     * computed from whatever median was measured. */
    CHECK(status_is_ok(r->status), "%s: %s", r->case_str, r->status);
}

static void test_bound(void)
{
    /* Roofs so high nothing nears them: the one that needs longer binds. */
    struct case_result r;
    timed((struct roof){ .flops = 1e18, .bytes_s = 1e30 }, &r);
    CHECK(strcmp(r.rec.bound ? r.rec.bound : "", "compute") == 0, "compute binds: %s", r.rec.bound);
    CHECK(r.rec.pct_bound == r.rec.pct_compute && r.rec.pct_bound > r.rec.pct_bandwidth,
          "%% of bound is the larger: %g vs %g", r.rec.pct_compute, r.rec.pct_bandwidth);
    const double t = r.rec.median_ms * 1e-3;
    CHECK(fabs(r.rec.pct_compute - 100 * r.rec.flops / 1e18 / t) < 1e-9 * r.rec.pct_compute,
          "%% compute = flops / roof / t");
    CHECK(r.rec.pct_peak == r.rec.pct_compute, "pct_peak keeps %% of the compute roof");
    CHECK(r.rec.roof_flops == 1e18 && r.rec.roof_bytes_s == 1e30, "roofs stored");
    CHECK(r.rec.error == NULL, "no note");
    case_result_free(&r);
    timed((struct roof){ .flops = 1e30, .bytes_s = 1e15 }, &r);
    CHECK(strcmp(r.rec.bound ? r.rec.bound : "", "bandwidth") == 0, "bandwidth binds: %s", r.rec.bound);
    CHECK(r.rec.pct_bound == r.rec.pct_bandwidth, "%% of bound is %% of bandwidth");
    case_result_free(&r);

    /* An unknown roof: its % and the bound stay empty. */
    timed((struct roof){ .flops = 0, .bytes_s = 1e15 }, &r);
    CHECK(isnan(r.rec.pct_compute) && isnan(r.rec.pct_bound) && isnan(r.rec.pct_peak) &&
          !r.rec.bound && isfinite(r.rec.pct_bandwidth) && isnan(r.rec.roof_flops),
          "unknown compute roof: %g %g", r.rec.pct_compute, r.rec.pct_bound);
    case_result_free(&r);

    /* A datasheet roof beaten: clamped, noted, still ok. */
    timed((struct roof){ .flops = 1e3, .bytes_s = 1e30 }, &r);
    CHECK(r.rec.pct_compute == 100 && r.rec.pct_bound == 100 && r.rec.pct_peak == 100,
          "clamped to 100: %g", r.rec.pct_compute);
    CHECK(r.rec.pct_bandwidth < 100, "the other roof's %% untouched");
    CHECK(r.rec.error && strstr(r.rec.error, "above its roof") && strstr(r.rec.error, "datasheet"),
          "noted: %s", r.rec.error ? r.rec.error : "(none)");
    case_result_free(&r);

    /* A measured roof beaten: re-measured once, and the result compared with
     * the new roofs; only the FMA-loop roof was planted low. */
    struct cpu_ceilings c;
    ceilings_load(&c, 2);
    const double real = c.flops;
    c.flops = 1e3;
    timed((struct roof){ .flops = c.flops, .bytes_s = c.bytes_s, .cpu = &c }, &r);
    CHECK(c.remeasured && c.flops >= real * 0.5, "re-measured: %.3g (cached %.3g)", c.flops, real);
    CHECK(r.rec.roof_flops == c.flops, "compared with the re-measured roof");
    CHECK(r.rec.pct_compute <= 100 && r.rec.pct_bandwidth <= 100, "no %% above 100: %g %g",
          r.rec.pct_compute, r.rec.pct_bandwidth);
    case_result_free(&r);
    /* Beaten again in the same run: no second measurement, clamped, noted. */
    c.flops = 1e3;
    timed((struct roof){ .flops = c.flops, .bytes_s = c.bytes_s, .cpu = &c }, &r);
    CHECK(c.flops == 1e3, "no second re-measure in a run");
    CHECK(r.rec.pct_compute == 100 && r.rec.error && strstr(r.rec.error, "re-measured"),
          "clamped with a note: %s", r.rec.error ? r.rec.error : "(none)");
    case_result_free(&r);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sb_ceil.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a/b", dir);      /* folders the cache must make */
    setenv("SEQBENCH_CACHE_DIR", sub, 1);
    test_cache();
    test_bound();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
