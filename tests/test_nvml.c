/*
 * test_nvml.c — NVML's loader, state, throttle rule and energy arithmetic
 * (harness/nvml.c), against a stand-in libnvidia-ml.so.1 with canned
 * answers (tests/fake_nvml.c, built into bin/tests/fake/), on a machine
 * without a GPU:
 *
 *   1. NVML absent, unusable, or failing to initialise: the reason says so;
 *   2. the device by UUID, a UUID NVML does not know;
 *   3. the run's state parsed: driver, clocks, applications clocks away
 *      from the default read as locked, power in W, temperature, ECC, MIG,
 *      persistence, reasons; the reasons as words;
 *   4. the throttle rule (75 % of the default clock, growing recovery);
 *   5. the timing loop dropping the samples a scripted throttled clock
 *      falls on, and counting them;
 *   6. energy per op from the counter, and a failing op.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "measure.h"
#include "nvml.h"

static char fake[1300];

static void test_absent(void)
{
    char why[400];
    setenv("SEQBENCH_NVML", "/nonexistent/libnvidia-ml.so.1", 1);
    CHECK(!nvml_open(NULL, 0, why, sizeof why) &&
              strstr(why, "NVML not found (SEQBENCH_NVML=/nonexistent/libnvidia-ml.so.1"),
          "absent: %s", why);
    setenv("SEQBENCH_NVML", "/proc/self/status", 1);     /* a file, not a library */
    CHECK(!nvml_open(NULL, 0, why, sizeof why) && strstr(why, "NVML unusable ("), "unusable: %s", why);
    setenv("SEQBENCH_NVML", fake, 1);
    setenv("FAKE_NVML_FAIL_INIT", "1", 1);
    CHECK(!nvml_open(NULL, 0, why, sizeof why) && strstr(why, "nvmlInit_v2: Driver Not Loaded"),
          "nvmlInit_v2 failing: %s", why);
    unsetenv("FAKE_NVML_FAIL_INIT");
}

static void test_state(struct nvml_dev *d)
{
    char why[400];
    CHECK(strcmp(nvml_path(d), fake) == 0, "the stand-in was loaded (%s)", nvml_path(d));
    CHECK(!nvml_open("GPU-other", 0, why, sizeof why) && strstr(why, "no NVML device with UUID GPU-other"),
          "an unknown UUID: %s", why);
    struct nvml_state s;
    nvml_read_state(d, &s);
    CHECK(strcmp(s.driver, "580.65.06") == 0 && strcmp(s.uuid, "GPU-fake-0000") == 0 &&
              strcmp(s.name, "NVIDIA H100 80GB HBM3") == 0, "driver, UUID, name");
    CHECK(s.sm_mhz == 1980 && s.mem_mhz == 2619 && s.max_sm_mhz == 1980 && s.default_sm_mhz == 1980 &&
              s.app_sm_mhz == 1755, "clocks: SM %d, memory %d, max %d, default %d, applications %d",
          s.sm_mhz, s.mem_mhz, s.max_sm_mhz, s.default_sm_mhz, s.app_sm_mhz);
    CHECK(s.clocks_locked == 1, "applications clocks away from their default read as locked");
    CHECK(s.power_limit_w == 700.0 && s.power_w == 81.5 && s.temperature_c == 37,
          "power %g W of %g W, %d C", s.power_w, s.power_limit_w, s.temperature_c);
    CHECK(s.ecc == 1 && s.mig == 0 && s.persistence == 0 && s.reasons == 1,
          "ECC on, MIG off, persistence off, reasons 0x%llx", (unsigned long long)s.reasons);
    char buf[200];
    nvml_reasons_text(NVML_REASON_SW_POWER_CAP | NVML_REASON_SW_THERMAL, buf, sizeof buf);
    CHECK(strcmp(buf, "sw_power_cap sw_thermal") == 0, "reasons as words: '%s'", buf);
    nvml_reasons_text(0, buf, sizeof buf);
    CHECK(strcmp(buf, "none") == 0, "no reason: '%s'", buf);
    nvml_reasons_text(0x10000 | NVML_REASON_HW_SLOWDOWN, buf, sizeof buf);
    CHECK(strcmp(buf, "hw_slowdown 0x10000") == 0, "an unknown bit kept as a number: '%s'", buf);
}

static void test_throttle_rule(void)
{
    struct throttle t;
    throttle_init(&t, 1980);
    CHECK(fabs(t.threshold_mhz - 1485) < 1e-9, "75 %% of 1980 MHz is %g", t.threshold_mhz);
    CHECK(throttle_judge(&t, 1980, 1900, NVML_REASON_GPU_IDLE) == 1 && t.recovery_s == 0,
          "a full clock keeps the sample");
    CHECK(throttle_judge(&t, 1980, 1400, NVML_REASON_SW_POWER_CAP) == 0 &&
              t.recovery_s == THROTTLE_RECOVERY_S, "1400 MHz after the sample drops it, then waits");
    CHECK(throttle_judge(&t, 1484, 1980, 0) == 0 && t.recovery_s == 2 * THROTTLE_RECOVERY_S,
          "1484 MHz before it drops it too; the wait doubles");
    for (int i = 0; i < 10; i++)
        throttle_judge(&t, 100, 100, 0);
    CHECK(t.recovery_s == THROTTLE_RECOVERY_MAX_S, "the wait stops growing at %g s", t.recovery_s);
    CHECK(throttle_judge(&t, 1485, 0, 0) == 1 && t.recovery_s == 0,
          "exactly 75 %% keeps; an unknown clock does not judge");
    CHECK(t.dropped == 12, "12 dropped (%d)", t.dropped);
    CHECK(t.reasons == NVML_REASON_SW_POWER_CAP, "reasons seen, idle left out (0x%llx)",
          (unsigned long long)t.reasons);
    CHECK(fabs(throttle_mean_mhz(&t) - (1940 + 1485) / 2.0) < 1e-9, "mean clock of the kept: %g",
          throttle_mean_mhz(&t));
    struct throttle none;
    throttle_init(&none, 0);
    CHECK(throttle_judge(&none, 100, 100, 0) == 1 && isnan(throttle_mean_mhz(&(struct throttle){ 0 })),
          "no default clock: no rule");
}

static int runs;
static int quick_run(struct op_ctx *ctx)
{
    (void)ctx;
    struct timespec ts = { 0, 200000 };     /* 0.2 ms */
    nanosleep(&ts, NULL);
    runs++;
    return SB_OK;
}

static void test_loop_drops(struct nvml_dev *d)
{
    /* Two reads per sample (before, after): the second sample's "after"
     * and the fifth sample's "before" are throttled. */
    setenv("FAKE_NVML_SM_CLOCKS", "1980,1970,1960,900,1950,1940,1930,1920,1000,1910,1900", 1);
    struct impl im = { .name = "quick", .device = DEV_CPU, .run = quick_run };
    struct op_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    struct measure_opts o = MEASURE_DEFAULTS;
    o.nvml = d;
    o.default_sm_mhz = 1980;
    o.max_samples = 8;
    o.target_rel = 0;                       /* never met: 8 kept samples end it */
    o.max_seconds = 30;
    double samples[8];
    struct measure_result m;
    int rc = measure_case(&im, &ctx, &o, samples, &m);
    CHECK(rc == SB_OK && m.n == 8 && m.stop == STOP_MAX_SAMPLES, "8 samples kept (%d, rc %d)", m.n, rc);
    CHECK(m.throttled == 2, "the 2 samples under 1485 MHz dropped (%d)", m.throttled);
    CHECK(m.reasons == (int64_t)NVML_REASON_SW_POWER_CAP, "their reason recorded (0x%llx)",
          (unsigned long long)m.reasons);
    /* Kept: (1980,1970) (1950,1940) (1930,1920) then 1900 on: mean over
     * the kept pairs' midpoints. */
    CHECK(m.sm_mhz > 1899 && m.sm_mhz < 1976, "the mean clock of the kept samples (%g MHz)", m.sm_mhz);
    unsetenv("FAKE_NVML_SM_CLOCKS");

    o.nvml = NULL;
    rc = measure_case(&im, &ctx, &o, samples, &m);
    CHECK(rc == SB_OK && m.throttled == -1 && m.reasons == -1 && isnan(m.sm_mhz),
          "without NVML nothing is watched");
}

static int energy_fail_at;
static int energy_run(void *p)
{
    (void)p;
    return ++runs == energy_fail_at ? -1 : 0;
}
static int energy_sync(void *p)
{
    (void)p;
    return 0;
}

static void test_energy(struct nvml_dev *d)
{
    double j, w;
    char err[300];
    runs = 0;
    energy_fail_at = -1;
    int rc = nvml_energy_per_op(d, energy_run, energy_sync, NULL, 0.02, &j, &w, err, sizeof err);
    /* The stand-in's counter grows 5000 mJ per read: one read before the
     * loop, one after. */
    CHECK(rc == 0 && runs > 0 && runs % 16 == 0 && fabs(j * runs - 5.0) < 1e-9,
          "5 J over %d runs: %g J per op", runs, j);
    CHECK(w > 0 && isfinite(w), "mean power %g W", w);
    runs = 0;
    energy_fail_at = 20;
    rc = nvml_energy_per_op(d, energy_run, energy_sync, NULL, 0.02, &j, &w, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "run 20") && isnan(j), "a failing run: %s", err);
}

int main(void)
{
    check_fake_lib("libnvidia-ml.so.1", fake, sizeof fake);
    test_absent();
    test_throttle_rule();
    char why[400];
    struct nvml_dev *d = nvml_open("GPU-fake-0000", 0, why, sizeof why);
    CHECK(d != NULL, "the stand-in loads and finds its device: %s", d ? "" : why);
    if (d) {
        test_state(d);
        test_loop_drops(d);
        test_energy(d);
        nvml_close(d);
    }
    return check_done();
}
