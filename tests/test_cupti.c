/*
 * test_cupti.c — CUPTI without a GPU (harness/cupti.c, cupti_counters.c,
 * profile.c's counter columns):
 *
 *   1. what CUPTI's refusals mean, and the one-line fix for each that has
 *      one (CUPTI_ERROR_INSUFFICIENT_PRIVILEGES: the driver's
 *      NVreg_RestrictProfilingToAdminUsers);
 *   2. CUPTI absent ($SEQBENCH_CUPTI naming a missing file) and a profiler
 *      already attached: no CUPTI, the reason says which;
 *   3. the host-side metric API on the toolkit's libcupti (no GPU needed):
 *      the default set is valid on GH100, GA100, AD102 and GB100 and
 *      single-pass on the first three (GB100's count is printed); an
 *      unknown metric is named; a multi-pass metric counts more passes;
 *   4. a driver that refuses counters (a stand-in libcupti answering
 *      CUPTI_ERROR_INSUFFICIENT_PRIVILEGES, tests/fake_cupti.c): the probe
 *      returns the refusal with its reason and fix, and the reason is what
 *      a result stores in counters_why and reads back;
 *   5. the metric list's parsing, how per-kernel values combine, and which
 *      result columns the default metrics fill.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "counters.h"
#include "cupti.h"
#include "profile.h"
#include "runcase.h"
#include "store.h"

static void test_reasons(void)
{
    const char *name, *fix;
    const char *why = cupti_reason(35, &name, &fix);
    CHECK(why && strstr(why, "counters not permitted") && strstr(why, "NVreg_RestrictProfilingToAdminUsers"),
          "35 is the admin-only restriction: %s", why ? why : "(none)");
    CHECK(name && strcmp(name, "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES") == 0, "35's name: %s", name);
    CHECK(fix && strstr(fix, "NVreg_RestrictProfilingToAdminUsers=0") && strstr(fix, "/etc/modprobe.d/") &&
              !strchr(fix, '\n'), "35's fix is one line naming the module option: %s", fix ? fix : "(none)");
    why = cupti_reason(43, &name, &fix);
    CHECK(why && strstr(why, "MIG") && fix && strstr(fix, "-mig 0"), "43: MIG, and how to leave it");
    why = cupti_reason(40, &name, &fix);
    CHECK(why && strstr(why, "virtual GPU") && fix, "40: a vGPU's profiling is the host's to enable");
    CHECK(cupti_reason(12345, &name, &fix) == NULL && !name && !fix, "an unknown result has no reason");
}

static void test_absent(void)
{
    char why[400];
#ifndef SB_HAVE_CUPTI
    CHECK(!cupti_get(why, sizeof why) && strstr(why, "built without CUPTI"), "%s", why);
#else
    setenv("SEQBENCH_CUPTI", "/nonexistent/libcupti.so.13", 1);
    CHECK(!cupti_get(why, sizeof why) && strstr(why, "CUPTI not found (SEQBENCH_CUPTI=/nonexistent/"),
          "absent: %s", why);
    unsetenv("SEQBENCH_CUPTI");
    setenv("CUDA_INJECTION64_PATH", "/opt/nsight/libInjection.so", 1);
    CHECK(!cupti_get(why, sizeof why) && strstr(why, "a profiler is attached (CUDA_INJECTION64_PATH"),
          "a profiler attached: %s", why);
    CHECK(strcmp(cupti_injected_profiler(), "CUDA_INJECTION64_PATH") == 0, "named");
    unsetenv("CUDA_INJECTION64_PATH");
    CHECK(cupti_injected_profiler() == NULL, "none attached");
#endif
}

#ifdef SB_HAVE_CUPTI
/* The default set on one chip: 0 when valid, with its passes. */
static int default_set_on(struct cupti *c, const char *chip, size_t *passes, char *err, size_t n)
{
    struct counter_set cs;
    int rc = counter_set_parse(&cs, NULL, err, n);
    if (rc == 0)
        rc = counter_set_prepare(c, &cs, chip, NULL, err, n);
    *passes = cs.passes;
    counter_set_free(&cs);
    return rc;
}

static void test_host_api(struct cupti *c)
{
    char err[400];
    const char *const *chips = NULL;
    int n = counters_supported_chips(c, &chips, err, sizeof err);
    int seen = 0;
    for (int i = 0; i < n; i++)
        seen += !strcmp(chips[i], "GH100") + !strcmp(chips[i], "GA100") + !strcmp(chips[i], "AD102") +
                !strcmp(chips[i], "GB100");
    CHECK(n > 0 && seen == 4, "the host API knows GH100, GA100, AD102, GB100 (%d chips)", n);

    static const char *const single[] = { "GH100", "GA100", "AD102" };
    for (int i = 0; i < 3; i++) {
        size_t passes = 0;
        int rc = default_set_on(c, single[i], &passes, err, sizeof err);
        CHECK(rc == 0 && passes == 1, "the default set on %s: valid, %zu pass (%s)", single[i], passes,
              rc ? err : "ok");
    }
    size_t passes = 0;
    int rc = default_set_on(c, "GB100", &passes, err, sizeof err);
    CHECK(rc == 0 && passes >= 1, "the default set on GB100 is valid (%s)", rc ? err : "ok");
    printf("default counter set on GB100: %zu pass%s per kernel\n", passes, passes == 1 ? "" : "es");

    struct counter_set cs;
    CHECK(counter_set_parse(&cs, "dram__bytes_read.sum,bogus__nothing.sum", err, sizeof err) == 0,
          "a list parses: %s", err);
    CHECK(counter_set_prepare(c, &cs, "GH100", NULL, err, sizeof err) != 0 &&
              strstr(err, "unknown metric 'bogus__nothing.sum' on GH100"), "an unknown metric is named: %s", err);
    counter_set_free(&cs);
    /* A % of SM throughput needs several passes (the reason it is not in
     * the default set). */
    CHECK(counter_set_parse(&cs, "sm__throughput.avg.pct_of_peak_sustained_elapsed", err, sizeof err) == 0 &&
              counter_set_prepare(c, &cs, "GH100", NULL, err, sizeof err) == 0 && cs.passes > 1,
          "sm__throughput on GH100: %zu passes", cs.passes);
    counter_set_free(&cs);
}

/* A refusal probed through the stand-in, and stored. */
static void test_refused(void)
{
    char fake[1300], why[400], err[600];
    check_fake_lib("libcupti.so.13", fake, sizeof fake);
    struct cupti *c = cupti_load(fake, why, sizeof why);
    CHECK(c != NULL, "the stand-in loads: %s", c ? "" : why);
    if (!c)
        return;
    char chip[32];
    uint8_t *avail = (uint8_t *)1;
    const char *fix = NULL;
    int r = counters_probe(c, NULL, 0, chip, sizeof chip, &avail, why, sizeof why, &fix);
    CHECK(r == 35 && !avail, "the probe returns the refusal (%d)", r);
    CHECK(strstr(why, "counters not permitted") && strstr(why, "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES") &&
              strstr(why, "cuptiProfilerInitialize"), "its reason names the cause and the call: %s", why);
    CHECK(fix && strstr(fix, "NVreg_RestrictProfilingToAdminUsers=0"), "and the fix: %s", fix ? fix : "-");

    /* What a GPU result then stores (profile.c writes "counters: <why>"). */
    char path[] = "/tmp/test_cupti_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    struct store *st = store_open(path, err, sizeof err);
    int64_t run = 0;
    char stored_why[500];
    snprintf(stored_why, sizeof stored_why, "counters: %s", why);
    struct result_record rec = { .case_str = "c", .case_key = "k", .family = "flash", .impl = "cuda",
                                 .device = "cuda:0", .dtype = "bf16", .status = "ok",
                                 .counters_why = stored_why, .footprint_bytes = -1, .l2_flush = 1 };
    struct run_record rr = { .peak_tflops = NAN, .peak_gbps = NAN };
    CHECK(st && store_begin_run(st, &rr, &run, err, sizeof err) == 0 &&
              store_insert_result(st, run, &rec, NULL, 0, err, sizeof err) == 0, "stored: %s", err);
    if (st) {
        sqlite3_stmt *s = NULL;
        sqlite3_prepare_v2(store_db(st), "SELECT counters_why FROM results", -1, &s, NULL);
        CHECK(sqlite3_step(s) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), stored_why),
              "counters_why reads back");
        sqlite3_finalize(s);
        store_close(st);
    }
    unlink(path);

    setenv("FAKE_CUPTI_RESULT", "43", 1);
    r = counters_probe(c, NULL, 0, chip, sizeof chip, &avail, why, sizeof why, &fix);
    CHECK(r == 43 && strstr(why, "MIG instance"), "a MIG slice: %s", why);
    unsetenv("FAKE_CUPTI_RESULT");
    cupti_unload(c);
}

#endif

static void test_lists(void)
{
    struct counter_set cs;
    char err[300];
    CHECK(counter_set_parse(&cs, "default", err, sizeof err) == 0 && cs.n == n_counter_defaults &&
              !strcmp(cs.names[0], COUNTERS_DURATION), "'default' is the default set (%d)", cs.n);
    counter_set_free(&cs);
    CHECK(counter_set_parse(&cs, "lts__t_bytes.sum", err, sizeof err) == 0 && cs.n == 2 &&
              !strcmp(cs.names[1], COUNTERS_DURATION), "the duration is added when missing");
    counter_set_free(&cs);
    CHECK(counter_set_parse(&cs, "a.sum,,b.sum", err, sizeof err) != 0 && strstr(err, "empty"),
          "an empty name: %s", err);
    CHECK(counter_set_parse(&cs, ",", err, sizeof err) != 0, "only commas: %s", err);

    CHECK(counter_combine_of("dram__bytes_read.sum") == COMBINE_SUM &&
              counter_combine_of("dram__throughput.avg.pct_of_peak_sustained_elapsed") == COMBINE_MEAN &&
              counter_combine_of("sm__cycles_elapsed.avg.per_second") == COMBINE_MEAN &&
              counter_combine_of("sm__warps_active.max") == COMBINE_MAX &&
              counter_combine_of("launch__grid_size.min") == COMBINE_MIN, "rollups read from names");
    const char *names[] = { "a.sum", "b.avg.pct_of_peak_sustained_active", "c.max" };
    const double per_range[] = { 10, 50, 3,  /* kernel 0 */
                                 30, 80, 7,  /* kernel 1 */
                                 NAN, NAN, NAN };
    const double duration[] = { 1000, 3000, 5 };
    double v[3];
    counters_combine(names, 3, per_range, 3, duration, v);
    CHECK(v[0] == 40 && fabs(v[1] - (50 * 1000 + 80 * 3000) / 4000.0) < 1e-12 && v[2] == 7,
          "sum %g, duration-weighted mean %g, max %g", v[0], v[1], v[2]);
    counters_combine(names, 3, per_range, 0, duration, v);
    CHECK(isnan(v[0]) && isnan(v[1]) && isnan(v[2]), "no kernel: no value");

    /* The default metrics fill their columns, the rest goes to JSON only. */
    CHECK(counter_set_parse(&cs, "default", err, sizeof err) == 0, "default");
    double values[COUNTERS_MAX];
    for (int m = 0; m < cs.n; m++)
        values[m] = 100.0 * (m + 1);
    values[cs.n - 1] = NAN;
    struct case_result res;
    memset(&res, 0, sizeof res);
    res.rec.dram_read_bytes = res.rec.dram_write_bytes = res.rec.l2_bytes = NAN;
    res.rec.tensor_util_pct = res.rec.dram_pct = NAN;
    profile_counters_store(&cs, values, &res);
    CHECK(res.rec.dram_read_bytes == 200 && res.rec.dram_write_bytes == 300 && res.rec.l2_bytes == 400 &&
              res.rec.tensor_util_pct == 500 && isnan(res.rec.dram_pct),
          "hot columns: %g %g %g %g %g", res.rec.dram_read_bytes, res.rec.dram_write_bytes,
          res.rec.l2_bytes, res.rec.tensor_util_pct, res.rec.dram_pct);
    CHECK(res.rec.counters_json && strstr(res.rec.counters_json, "\"gpu__time_duration.sum\": 100") &&
              strstr(res.rec.counters_json, "\"dram__throughput.avg.pct_of_peak_sustained_elapsed\": null"),
          "every metric in the JSON: %s", res.rec.counters_json ? res.rec.counters_json : "(none)");
    counter_set_free(&cs);
    CHECK(counters_chip_of_cc(9, 0) && !strcmp(counters_chip_of_cc(9, 0), "GH100") &&
              !strcmp(counters_chip_of_cc(8, 9), "AD102") && !counters_chip_of_cc(6, 1),
          "chips by compute capability");
}

int main(void)
{
    test_reasons();
    test_lists();
    test_absent();
#ifdef SB_HAVE_CUPTI
    char why[400];
    struct cupti *c = cupti_get(why, sizeof why);
    CHECK(c != NULL, "the toolkit's libcupti loads without a GPU: %s", c ? cupti_path(c) : why);
    if (c)
        test_host_api(c);
    test_refused();
#else
    check_skip("built without CUPTI (no nvcc or cupti.h): the host API and the refusal are untested");
#endif
    return check_done();
}
