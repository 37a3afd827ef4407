/*
 * test_store.c — the SQLite store, in a fresh mkdtemp directory:
 *   1. a new database is at STORE_SCHEMA_VERSION and in WAL mode;
 *   2. a run and two results (ok with samples and NaN fields; skipped with
 *      none) round-trip field by field through close and reopen;
 *   3. a version-1 database migrates to 2 with its old rows intact;
 *   4. a newer schema is refused and the file is byte-for-byte unchanged;
 *   5. a garbage file is refused, unchanged, with no -wal/-shm beside it;
 *   6. a path in a missing directory is refused;
 *   7. an invalid status is refused by the C check and by the table's CHECK;
 *   8. the same case twice in a run: the second fails, the first stays;
 *   9. an injected failure on the 4th sample rolls the whole result back.
 */
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store.h"

static char dir[] = "/tmp/test_store_XXXXXX";

/* ---- helpers ---------------------------------------------------------- */

static void path_in_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The whole file, malloc'd; *len = -1 when it cannot be read. */
static char *slurp(const char *path, long *len)
{
    *len = -1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        rewind(f);
        b = malloc((size_t)sz + 1);
        if (b && fread(b, 1, (size_t)sz, f) == (size_t)sz)
            *len = sz;
    }
    fclose(f);
    return b;
}

/* 1 when the two buffers are the same bytes. */
static int same_bytes(const char *a, long alen, const char *b, long blen)
{
    return a && b && alen >= 0 && alen == blen && memcmp(a, b, (size_t)alen) == 0;
}

/* One integer from a query (the first column of the first row); -999999
 * when there is no row or it fails. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -999999;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* One text value from a query into out ("" when none). */
static void query_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *s = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_text(s, 0))
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

/* What one column of a row should hold. */
enum expect_kind { E_NULL, E_INT, E_REAL, E_TEXT, E_ISO, E_HEX32, E_ANY };
struct expect {
    const char *col;
    enum expect_kind kind;
    int64_t i;
    double d;
    const char *t;
};
#define X_NULL(c)    { c, E_NULL, 0, 0, NULL }
#define X_INT(c, v)  { c, E_INT, (v), 0, NULL }
#define X_REAL(c, v) { c, E_REAL, 0, (v), NULL }
#define X_TEXT(c, v) { c, E_TEXT, 0, 0, (v) }
#define X_ISO(c)     { c, E_ISO, 0, 0, NULL }   /* "YYYY-MM-DDTHH:MM:SSZ" */
#define X_HEX32(c)   { c, E_HEX32, 0, 0, NULL } /* 32 lowercase hex chars */
#define X_ANY(c)     { c, E_ANY, 0, 0, NULL }   /* present, value not checked */

static int matches_pattern(const char *s, const char *pattern)
{
    /* pattern: 'd' a digit, 'h' lowercase hex, anything else literal */
    if (!s || strlen(s) != strlen(pattern))
        return 0;
    for (; *pattern; pattern++, s++) {
        if (*pattern == 'd' ? !(*s >= '0' && *s <= '9')
            : *pattern == 'h' ? !((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))
            : *s != *pattern)
            return 0;
    }
    return 1;
}

/* Checks one value against its expectation, reporting the column by name. */
static void check_value(sqlite3_stmt *s, int c, const struct expect *e, const char *what)
{
    int type = sqlite3_column_type(s, c);
    const char *text = (const char *)sqlite3_column_text(s, c);
    switch (e->kind) {
    case E_NULL:
        CHECK(type == SQLITE_NULL, "%s.%s is NULL (type %d)", what, e->col, type);
        break;
    case E_INT:
        CHECK(type == SQLITE_INTEGER && sqlite3_column_int64(s, c) == e->i, "%s.%s = %lld (got %s)",
              what, e->col, (long long)e->i, text ? text : "NULL");
        break;
    case E_REAL:
        CHECK(type == SQLITE_FLOAT && sqlite3_column_double(s, c) == e->d, "%s.%s = %.17g (got %s)",
              what, e->col, e->d, text ? text : "NULL");
        break;
    case E_TEXT:
        CHECK(type == SQLITE_TEXT && strcmp(text, e->t) == 0, "%s.%s = '%s' (got '%s')", what,
              e->col, e->t, text ? text : "NULL");
        break;
    case E_ISO:
        CHECK(type == SQLITE_TEXT && matches_pattern(text, "dddd-dd-ddTdd:dd:ddZ"),
              "%s.%s is an ISO 8601 UTC time (got '%s')", what, e->col, text ? text : "NULL");
        break;
    case E_HEX32:
        CHECK(type == SQLITE_TEXT && matches_pattern(text, "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"),
              "%s.%s is 32 hex chars (got '%s')", what, e->col, text ? text : "NULL");
        break;
    case E_ANY:
        break;
    }
}

/* Runs sql (one row expected) and checks every column of that row against
 * ex[]: each expectation must name a column, and each column must have an
 * expectation, so a column added to the schema but not to the test fails. */
static void check_row(sqlite3 *db, const char *sql, const struct expect *ex, int n_ex, const char *what)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    CHECK(rc == SQLITE_ROW, "%s: a row for %s (%s)", what, sql, sqlite3_errmsg(db));
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return;
    }
    int ncol = sqlite3_column_count(s);
    CHECK(ncol == n_ex, "%s: %d columns, %d expected", what, ncol, n_ex);
    for (int c = 0; c < ncol; c++) {
        const char *name = sqlite3_column_name(s, c);
        int k = 0;
        while (k < n_ex && strcmp(ex[k].col, name) != 0)
            k++;
        CHECK(k < n_ex, "%s: column %s has an expectation", what, name);
        if (k < n_ex)
            check_value(s, c, &ex[k], what);
    }
    CHECK(sqlite3_step(s) == SQLITE_DONE, "%s: exactly one row", what);
    sqlite3_finalize(s);
}

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- 1, 2: new database and round trip ---------------------------------- */

static const struct run_record full_run = {
    .suite = "smoke", .command = "bench suite smoke --db x.db", .seqbench_version = "0.3.0",
    .git_commit = "9743b49", .build_flags = "-O2 -march=native", .hostname = "box",
    .cpu_model = "AMD EPYC", .cpu_threads = 16, .device = "cuda:0", .gpu_name = "NVIDIA H100",
    .gpu_uuid = "GPU-1234", .gpu_sms = 132, .gpu_cc = "9.0", .gpu_mem_bytes = 85899345920,
    .gpu_l2_bytes = 52428800, .gpu_clock_khz = 1980000, .driver_version = 13000,
    .runtime_version = 13010, .peak_tflops = 989.5, .peak_gbps = NAN, .env_json = "{\"a\":1}",
    .driver_release = "580.65.06", .cublas_version = "13.0.2", .nvcc_version = NULL,
    .input_version = 3, .gpu_sm_clock_mhz = 1755, .gpu_mem_clock_mhz = 2619,
    .gpu_max_sm_clock_mhz = 1980, .gpu_default_sm_clock_mhz = 1980, .clocks_locked = 0,
    .power_limit_w = 700.5, .temperature_c = 41, .ecc_enabled = 1, .mig_enabled = 0,
    .persistence_enabled = 1, .throttle_reasons = 0x1, .nvml_why = NULL,
    .calibration_json = "{\"gpu\": {\"gemm_bf16_tflops\": 750}}",
    .config = "suite=smoke fnv=1 device=cuda:0",
};

/* The per-kernel breakdown of the ok result. */
static const struct kernel_row ok_kernels[2] = {
    { .name = "_Z9flash_fwdPKf", .grid = { 128, 16, 1 }, .block = { 128, 1, 1 }, .registers = 168,
      .shared_bytes = 49152, .duration_ns = 1234.5, .count = 1 },
    { .name = "combine", .grid = { 8, 1, 1 }, .block = { 256, 1, 1 }, .registers = 32,
      .shared_bytes = 0, .duration_ns = 55.25, .count = 2.5 },
};

static const double ok_samples[5] = { 1.25, 1.5, 1.0 / 3.0, 1e-300, 2.75 };

/* Every field distinct, so a column bound to the wrong parameter shows. */
static const struct result_record ok_result = {
    .case_str = "flash/cuda bf16 B=2 H=4 N=128 D=64 causal", .case_key = "flash bf16 B=2 H=4 N=128 D=64 causal",
    .family = "flash", .impl = "cuda", .device = "cuda:0", .dtype = "bf16",
    .B = 2, .N = 128, .Nk = 129, .H = 4, .Hkv = 3, .D = 64, .Dv = 65, .causal = 1,
    .status = "ok", .error = NULL, .rel_err = 1.5e-3, .max_abs_err = NAN,
    .rows_checked = 100, .rows_total = 1024, .flops = 4.5e9, .min_bytes = 2.5e6,
    .footprint_bytes = 123456789, .median_ms = 1.5, .min_ms = 1e-300, .p10_ms = 0.5,
    .p90_ms = 2.5, .mean_ms = 1.375, .stdev_ms = 0.625, .n_samples = 5, .tflops = 3.0,
    .gbps = NAN, .pct_peak = NAN, .l2_flush = 1, .seed = 0xfedcba9876543210ull,
    .shape_json = "{\"B\":2,\"gate\":\"key\"}", .flops_minimal = 4.25e9,
    .noise = 0.0075, .stop_reason = "target", .timing = "cold", .pct_bound = 87.5,
    .pct_compute = 62.5, .pct_bandwidth = NAN, .bound = "compute", .roof_flops = 9.5e14,
    .roof_bytes_s = 3.25e12, .flops_executed = 4.75e9, .worst_rel_err = 2.5e-3, .worst_row = 17,
    .worst_head = 3, .validate_s = 0.125, .recheck_rel_err = 1.25e-3,
    .impl_info = "{\"graph\":\"composite\",\"cudnn\":\"9.19.0\"}",
    .kernel_ms = 1.375, .dram_read_bytes = 1.5e9, .dram_write_bytes = 2.5e8, .l2_bytes = 3.25e9,
    .tensor_util_pct = 61.5, .dram_pct = NAN, .counters_json = "{\"dram__bytes_read.sum\": 1.5e9}",
    .counters_why = NULL, .energy_j_per_op = 0.125, .power_w = 612.5,
    .energy_why = "energy: this GPU has no total-energy counter", .throttled_samples = 2,
    .throttle_reasons = 0x24, .sm_clock_mhz = 1777.5, .footprint_predicted = 123000000,
    .pool_peak_bytes = 123731968, .meminfo_bytes = 125829120, .host_peak_bytes = 4096,
    .pct_bound_measured = 104.5, .roof_flops_measured = 7.5e14, .roof_bytes_s_measured = NAN,
    .kernels = ok_kernels, .n_kernels = 2,
    .started_at_ms = 1765000000123, .finished_at_ms = 1765000004567,
};

static struct result_record skipped_result(void)
{
    struct result_record r = {
        .case_str = "flash/cuda fp32 B=1 H=1 N=16 D=8", .case_key = "flash fp32 B=1 H=1 N=16 D=8",
        .family = "flash", .impl = "cuda", .device = "cpu", .dtype = "fp32",
        .B = 1, .N = 16, .Nk = 16, .H = 1, .Hkv = 1, .D = 8, .Dv = 8, .causal = 0,
        .status = "skipped: no CUDA device", .error = NULL, .footprint_bytes = -1,
        .n_samples = 0, .l2_flush = -1, .seed = 7, .worst_row = -1, .worst_head = -1,
    };
    r.rel_err = r.max_abs_err = r.flops = r.min_bytes = NAN;
    r.median_ms = r.min_ms = r.p10_ms = r.p90_ms = r.mean_ms = r.stdev_ms = NAN;
    r.tflops = r.gbps = r.pct_peak = r.kernel_ms = r.flops_minimal = NAN;
    r.noise = r.pct_bound = r.pct_compute = r.pct_bandwidth = r.roof_flops = r.roof_bytes_s = NAN;
    r.flops_executed = r.worst_rel_err = r.validate_s = r.recheck_rel_err = NAN;
    r.dram_read_bytes = r.dram_write_bytes = r.l2_bytes = r.tensor_util_pct = r.dram_pct = NAN;
    r.energy_j_per_op = r.power_w = r.sm_clock_mhz = NAN;
    r.pct_bound_measured = r.roof_flops_measured = r.roof_bytes_s_measured = NAN;
    r.throttled_samples = -1;
    r.throttle_reasons = r.footprint_predicted = r.pool_peak_bytes = r.meminfo_bytes = -1;
    r.host_peak_bytes = -1;
    r.counters_why = "kernel records: CUPTI not found (libcupti.so.13)";
    return r;
}

static void check_stored_run(sqlite3 *db, int64_t run_id)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM runs WHERE id = %lld", (long long)run_id);
    const struct expect ex[] = {
        X_INT("id", run_id), X_HEX32("run_uid"), X_ISO("started_at"), X_ISO("finished_at"),
        X_TEXT("suite", "smoke"), X_TEXT("command", "bench suite smoke --db x.db"),
        X_TEXT("seqbench_version", "0.3.0"), X_TEXT("git_commit", "9743b49"),
        X_TEXT("build_flags", "-O2 -march=native"), X_TEXT("hostname", "box"),
        X_TEXT("cpu_model", "AMD EPYC"), X_INT("cpu_threads", 16), X_TEXT("device", "cuda:0"),
        X_TEXT("gpu_name", "NVIDIA H100"), X_TEXT("gpu_uuid", "GPU-1234"), X_INT("gpu_sms", 132),
        X_TEXT("gpu_cc", "9.0"), X_INT("gpu_mem_bytes", 85899345920), X_INT("gpu_l2_bytes", 52428800),
        X_INT("gpu_clock_khz", 1980000), X_INT("driver_version", 13000),
        X_INT("runtime_version", 13010), X_REAL("peak_tflops", 989.5), X_NULL("peak_gbps"),
        X_TEXT("env_json", "{\"a\":1}"), X_TEXT("driver_release", "580.65.06"),
        X_TEXT("cublas_version", "13.0.2"), X_NULL("nvcc_version"), X_INT("input_version", 3),
        X_INT("gpu_sm_clock_mhz", 1755), X_INT("gpu_mem_clock_mhz", 2619),
        X_INT("gpu_max_sm_clock_mhz", 1980), X_INT("gpu_default_sm_clock_mhz", 1980),
        X_INT("clocks_locked", 0), X_REAL("power_limit_w", 700.5), X_INT("temperature_c", 41),
        X_INT("ecc_enabled", 1), X_INT("mig_enabled", 0), X_INT("persistence_enabled", 1),
        X_INT("throttle_reasons", 1), X_NULL("nvml_why"),
        X_TEXT("calibration_json", full_run.calibration_json),
        X_TEXT("config", "suite=smoke fnv=1 device=cuda:0"),
    };
    check_row(db, sql, ex, N_OF(ex), "runs");
}

static void check_stored_ok(sqlite3 *db, int64_t run_id)
{
    const struct result_record *r = &ok_result;
    const struct expect ex[] = {
        X_ANY("id"), X_INT("run_id", run_id), X_ISO("created_at"), X_TEXT("case_str", r->case_str),
        X_TEXT("case_key", r->case_key), X_TEXT("family", "flash"), X_TEXT("impl", "cuda"),
        X_TEXT("device", "cuda:0"), X_TEXT("dtype", "bf16"), X_INT("B", 2), X_INT("N", 128),
        X_INT("Nk", 129), X_INT("H", 4), X_INT("Hkv", 3), X_INT("D", 64), X_INT("Dv", 65),
        X_INT("causal", 1), X_TEXT("status", "ok"), X_NULL("error"), X_REAL("rel_err", 1.5e-3),
        X_NULL("max_abs_err"), X_INT("rows_checked", 100), X_INT("rows_total", 1024),
        X_REAL("flops", 4.5e9), X_REAL("min_bytes", 2.5e6), X_INT("footprint_bytes", 123456789),
        X_REAL("median_ms", 1.5), X_REAL("min_ms", 1e-300), X_REAL("p10_ms", 0.5),
        X_REAL("p90_ms", 2.5), X_REAL("mean_ms", 1.375), X_REAL("stdev_ms", 0.625),
        X_INT("n_samples", 5), X_REAL("tflops", 3.0), X_NULL("gbps"), X_NULL("pct_peak"),
        X_INT("l2_flush", 1), X_INT("seed", (int64_t)0xfedcba9876543210ull), X_REAL("kernel_ms", 1.375),
        X_TEXT("shape_json", r->shape_json), X_REAL("flops_minimal", 4.25e9),
        X_REAL("noise", 0.0075), X_TEXT("stop_reason", "target"), X_TEXT("timing", "cold"),
        X_REAL("pct_bound", 87.5), X_REAL("pct_compute", 62.5), X_NULL("pct_bandwidth"),
        X_TEXT("bound", "compute"), X_REAL("roof_flops", 9.5e14), X_REAL("roof_bytes_s", 3.25e12),
        X_REAL("flops_executed", 4.75e9), X_REAL("worst_rel_err", 2.5e-3), X_INT("worst_row", 17),
        X_INT("worst_head", 3), X_REAL("validate_s", 0.125), X_REAL("recheck_rel_err", 1.25e-3),
        X_TEXT("impl_info", r->impl_info),
        X_REAL("dram_read_bytes", 1.5e9), X_REAL("dram_write_bytes", 2.5e8), X_REAL("l2_bytes", 3.25e9),
        X_REAL("tensor_util_pct", 61.5), X_NULL("dram_pct"), X_TEXT("counters_json", r->counters_json),
        X_NULL("counters_why"), X_REAL("energy_j_per_op", 0.125), X_REAL("power_w", 612.5),
        X_TEXT("energy_why", r->energy_why), X_INT("throttled_samples", 2),
        X_INT("throttle_reasons", 0x24), X_REAL("sm_clock_mhz", 1777.5),
        X_INT("footprint_predicted", 123000000), X_INT("pool_peak_bytes", 123731968),
        X_INT("meminfo_bytes", 125829120), X_INT("host_peak_bytes", 4096),
        X_REAL("pct_bound_measured", 104.5), X_REAL("roof_flops_measured", 7.5e14),
        X_NULL("roof_bytes_s_measured"),
        X_INT("started_at", 1765000000123), X_INT("finished_at", 1765000004567),
    };
    check_row(db, "SELECT * FROM results WHERE status = 'ok'", ex, N_OF(ex), "ok result");
    /* The per-kernel breakdown, in the order given. */
    const struct expect k0[] = {
        X_ANY("result_id"), X_INT("idx", 0), X_TEXT("name", "_Z9flash_fwdPKf"), X_TEXT("grid", "128x16x1"),
        X_TEXT("block", "128x1x1"), X_INT("registers", 168), X_INT("shared_bytes", 49152),
        X_REAL("duration_ns", 1234.5), X_REAL("count", 1),
    };
    const struct expect k1[] = {
        X_ANY("result_id"), X_INT("idx", 1), X_TEXT("name", "combine"), X_TEXT("grid", "8x1x1"),
        X_TEXT("block", "256x1x1"), X_INT("registers", 32), X_INT("shared_bytes", 0),
        X_REAL("duration_ns", 55.25), X_REAL("count", 2.5),
    };
    check_row(db, "SELECT k.* FROM kernels k JOIN results r ON r.id = k.result_id"
                  " WHERE r.status = 'ok' AND k.idx = 0", k0, N_OF(k0), "kernel 0");
    check_row(db, "SELECT k.* FROM kernels k JOIN results r ON r.id = k.result_id"
                  " WHERE r.status = 'ok' AND k.idx = 1", k1, N_OF(k1), "kernel 1");
    CHECK((uint64_t)query_int(db, "SELECT seed FROM results WHERE status = 'ok'") == r->seed,
          "a uint64 seed above INT64_MAX reads back as the same bits");

    sqlite3_stmt *s = NULL;
    int k = 0, in_order = 1;
    sqlite3_prepare_v2(db, "SELECT s.idx, s.ms FROM samples s JOIN results r ON r.id = s.result_id"
                           " WHERE r.status = 'ok' ORDER BY s.idx", -1, &s, NULL);
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (k >= 5 || sqlite3_column_int(s, 0) != k || sqlite3_column_double(s, 1) != ok_samples[k])
            in_order = 0;
        k++;
    }
    sqlite3_finalize(s);
    CHECK(k == 5 && in_order, "5 samples, idx 0..4, values exact (got %d)", k);
}

static void check_stored_skipped(sqlite3 *db, int64_t run_id)
{
    struct result_record r = skipped_result();
    const struct expect ex[] = {
        X_ANY("id"), X_INT("run_id", run_id), X_ISO("created_at"), X_TEXT("case_str", r.case_str),
        X_TEXT("case_key", r.case_key), X_TEXT("family", "flash"), X_TEXT("impl", "cuda"),
        X_TEXT("device", "cpu"), X_TEXT("dtype", "fp32"), X_INT("B", 1), X_INT("N", 16),
        X_INT("Nk", 16), X_INT("H", 1), X_INT("Hkv", 1), X_INT("D", 8), X_INT("Dv", 8),
        X_INT("causal", 0), X_TEXT("status", "skipped: no CUDA device"), X_NULL("error"),
        X_NULL("rel_err"), X_NULL("max_abs_err"), X_INT("rows_checked", 0), X_INT("rows_total", 0),
        X_NULL("flops"), X_NULL("min_bytes"), X_NULL("footprint_bytes"), X_NULL("median_ms"),
        X_NULL("min_ms"), X_NULL("p10_ms"), X_NULL("p90_ms"), X_NULL("mean_ms"), X_NULL("stdev_ms"),
        X_INT("n_samples", 0), X_NULL("tflops"), X_NULL("gbps"), X_NULL("pct_peak"),
        X_NULL("l2_flush"), X_INT("seed", 7), X_NULL("kernel_ms"), X_NULL("shape_json"),
        X_NULL("flops_minimal"), X_NULL("noise"), X_NULL("stop_reason"), X_NULL("timing"),
        X_NULL("pct_bound"), X_NULL("pct_compute"), X_NULL("pct_bandwidth"), X_NULL("bound"),
        X_NULL("roof_flops"), X_NULL("roof_bytes_s"), X_NULL("flops_executed"),
        X_NULL("worst_rel_err"), X_NULL("worst_row"), X_NULL("worst_head"), X_NULL("validate_s"),
        X_NULL("recheck_rel_err"), X_NULL("impl_info"),
        X_NULL("dram_read_bytes"), X_NULL("dram_write_bytes"), X_NULL("l2_bytes"),
        X_NULL("tensor_util_pct"), X_NULL("dram_pct"), X_NULL("counters_json"),
        X_TEXT("counters_why", r.counters_why), X_NULL("energy_j_per_op"), X_NULL("power_w"),
        X_NULL("energy_why"), X_NULL("throttled_samples"), X_NULL("throttle_reasons"),
        X_NULL("sm_clock_mhz"), X_NULL("footprint_predicted"), X_NULL("pool_peak_bytes"),
        X_NULL("meminfo_bytes"), X_NULL("host_peak_bytes"), X_NULL("pct_bound_measured"),
        X_NULL("roof_flops_measured"), X_NULL("roof_bytes_s_measured"),
        X_NULL("started_at"), X_NULL("finished_at"),
    };
    check_row(db, "SELECT * FROM results WHERE status LIKE 'skipped:%'", ex, N_OF(ex), "skipped result");
    CHECK(query_int(db, "SELECT count(*) FROM samples s JOIN results r ON r.id = s.result_id"
                        " WHERE r.status LIKE 'skipped:%'") == 0, "no samples for the skipped result");
    CHECK(query_int(db, "SELECT count(*) FROM kernels k JOIN results r ON r.id = k.result_id"
                        " WHERE r.status LIKE 'skipped:%'") == 0, "no kernels for the skipped result");
}

static void test_new_and_round_trip(void)
{
    char path[256], err[512], mode[16];
    path_in_dir(path, sizeof path, "a.db");
    struct store *st = store_open(path, err, sizeof err);
    CHECK(st != NULL, "open a new database: %s", err);
    if (!st)
        return;
    sqlite3 *db = store_db(st);
    CHECK(store_user_version(st) == STORE_SCHEMA_VERSION, "new database at user_version %d (got %d)",
          STORE_SCHEMA_VERSION, store_user_version(st));
    query_text(db, "PRAGMA journal_mode", mode, sizeof mode);
    CHECK(strcmp(mode, "wal") == 0, "journal_mode is wal (got '%s')", mode);
    CHECK(query_int(db, "PRAGMA foreign_keys") == 1, "foreign keys on");

    int64_t run_id = 0, run2 = 0;
    CHECK(store_begin_run(st, &full_run, &run_id, err, sizeof err) == 0 && run_id > 0, "begin run: %s", err);
    CHECK(store_insert_result(st, run_id, &ok_result, ok_samples, 5, err, sizeof err) == 0,
          "insert ok result: %s", err);
    struct result_record sk = skipped_result();
    CHECK(store_insert_result(st, run_id, &sk, NULL, 0, err, sizeof err) == 0, "insert skipped: %s", err);
    CHECK(store_finish_run(st, run_id, err, sizeof err) == 0, "finish run: %s", err);
    CHECK(store_finish_run(st, run_id + 100, err, sizeof err) != 0 && strstr(err, "no run"),
          "finishing a run that does not exist fails: %s", err);

    /* A second run with its uid and start time given keeps them. */
    struct run_record given = { .run_uid = "0123456789abcdef0123456789abcdef",
                                .started_at = "2026-01-02T03:04:05Z", .peak_tflops = NAN,
                                .peak_gbps = NAN };
    CHECK(store_begin_run(st, &given, &run2, err, sizeof err) == 0 && run2 == run_id + 1,
          "begin a second run: %s", err);
    store_close(st);

    st = store_open(path, err, sizeof err);
    CHECK(st != NULL, "reopen: %s", err);
    if (!st)
        return;
    db = store_db(st);
    CHECK(store_user_version(st) == STORE_SCHEMA_VERSION, "reopened at the current version");
    check_stored_run(db, run_id);
    check_stored_ok(db, run_id);
    check_stored_skipped(db, run_id);
    CHECK(query_int(db, "SELECT count(*) FROM results") == 2, "two results");
    CHECK(query_int(db, "SELECT count(*) FROM runs WHERE run_uid = '0123456789abcdef0123456789abcdef'"
                        " AND started_at = '2026-01-02T03:04:05Z' AND finished_at IS NULL"
                        " AND cpu_threads = 0 AND gpu_sms = 0 AND suite IS NULL") == 1,
          "a given run_uid and started_at are kept; zeros stored as 0, NULL strings as NULL");
    CHECK(query_int(db, "SELECT count(DISTINCT run_uid) FROM runs") == 2, "run_uids differ");
    store_close(st);

    /* WAL is a property of the file, not just of our connection. */
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    query_text(db, "PRAGMA journal_mode", mode, sizeof mode);
    CHECK(strcmp(mode, "wal") == 0, "the file stays in WAL mode (got '%s')", mode);
    sqlite3_close(db);
}

/* ---- 3: migration ----------------------------------------------------- */

static void test_migration(void)
{
    char path[256], err[512];
    path_in_dir(path, sizeof path, "v1.db");
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, store_migration_sql[0], NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA user_version=1;"
                              "INSERT INTO runs (run_uid, started_at) VALUES ('old', '2025-01-01T00:00:00Z');"
                              "INSERT INTO results (run_id, created_at, case_str, case_key, family, impl,"
                              " device, dtype, status, median_ms) VALUES (1, '2025-01-01T00:00:01Z', 'c',"
                              " 'k', 'flash', 'cpu', 'cpu', 'fp32', 'ok', 2.5);"
                              "INSERT INTO samples VALUES (1, 0, 2.5);", NULL, NULL, NULL);
    CHECK(rc == SQLITE_OK, "build a version-1 database: %s", sqlite3_errmsg(db));
    sqlite3_close(db);

    struct store *st = store_open(path, err, sizeof err);
    CHECK(st != NULL, "a version-1 database opens: %s", err);
    if (!st)
        return;
    db = store_db(st);
    CHECK(store_user_version(st) == STORE_SCHEMA_VERSION, "migrated to %d (got %d)",
          STORE_SCHEMA_VERSION, store_user_version(st));
    CHECK(query_int(db, "SELECT count(*) FROM pragma_table_info('results') WHERE"
                        " (name = 'shape_json' AND type = 'TEXT') OR (name = 'flops_minimal' AND type = 'REAL')")
              == 2, "shape_json and flops_minimal columns added");
    CHECK(query_int(db, "SELECT count(*) FROM pragma_table_info('results') WHERE name = 'kernel_ms'"
                        " AND type = 'REAL'") == 1, "kernel_ms column added");
    CHECK(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                        " AND name = 'results_case'") == 1, "results_case index added");
    CHECK(query_int(db, "SELECT count(*) FROM results WHERE id = 1 AND run_id = 1 AND case_str = 'c'"
                        " AND status = 'ok' AND median_ms = 2.5 AND kernel_ms IS NULL") == 1,
          "the old row is intact, kernel_ms NULL");
    CHECK(query_int(db, "SELECT count(*) FROM samples WHERE result_id = 1 AND ms = 2.5") == 1,
          "the old sample is intact");
    CHECK(query_int(db, "SELECT count(*) FROM runs WHERE run_uid = 'old'") == 1, "the old run is intact");
    CHECK(query_int(db, "SELECT count(*) FROM results WHERE id = 1 AND timing = 'cpu'") == 1,
          "schema 4: an old ok result without l2_flush reads as timed on the CPU");
    CHECK(query_int(db, "SELECT count(*) FROM results WHERE id = 1 AND impl_info IS NULL") == 1 &&
              query_int(db, "SELECT count(*) FROM pragma_table_info('results') WHERE name = 'impl_info'"
                            " AND type = 'TEXT'") == 1,
          "schema 5: impl_info added, NULL for the old row");
    CHECK(query_int(db, "SELECT count(*) FROM results WHERE id = 1 AND kernel_ms IS NULL AND"
                        " counters_json IS NULL AND throttled_samples IS NULL AND"
                        " pct_bound_measured IS NULL") == 1 &&
              query_int(db, "SELECT count(*) FROM pragma_table_info('kernels')") == 9 &&
              query_int(db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name IN"
                            " ('calibration_json', 'nvml_why', 'clocks_locked')") == 3,
          "schema 6: the kernels table, the profiling columns NULL for the old row");
    CHECK(query_int(db, "SELECT count(*) FROM pragma_foreign_key_list('kernels') WHERE"
                        " \"table\" = 'results' AND on_delete = 'CASCADE'") == 1,
          "kernels reference results, deleted with them");
    CHECK(query_int(db, "SELECT count(*) FROM results WHERE id = 1 AND started_at IS NULL"
                        " AND finished_at IS NULL") == 1 &&
              query_int(db, "SELECT count(*) FROM runs WHERE run_uid = 'old' AND config IS NULL") == 1,
          "schema 7: started_at, finished_at and runs.config added, NULL for the old rows");
    CHECK(query_int(db, "PRAGMA foreign_keys") == 1, "foreign keys back on after the rebuild");
    CHECK(query_int(db, "SELECT count(*) FROM pragma_foreign_key_list('samples') WHERE"
                        " \"table\" = 'results'") == 1, "samples still reference results");
    int64_t run_id = 0;
    struct run_record r = { .peak_tflops = NAN, .peak_gbps = NAN };
    CHECK(store_begin_run(st, &r, &run_id, err, sizeof err) == 0 && run_id == 2,
          "the migrated database takes a new run: %s", err);
    struct result_record few = skipped_result();
    few.status = "ok: few samples (3 of 10)";
    few.case_str = "few";
    CHECK(store_insert_result(st, run_id, &few, NULL, 0, err, sizeof err) == 0,
          "the migrated database takes an 'ok: ...' status: %s", err);
    CHECK(sqlite3_exec(db, "DELETE FROM results WHERE id = 1", NULL, NULL, NULL) == SQLITE_OK &&
          query_int(db, "SELECT count(*) FROM samples WHERE result_id = 1") == 0,
          "deleting a migrated result still cascades to its samples");
    struct result_record bogus = skipped_result();
    bogus.status = "okay";
    CHECK(store_insert_result(st, run_id, &bogus, NULL, 0, err, sizeof err) != 0,
          "a status 'okay' is still refused");
    store_close(st);
}

/* ---- 4, 5, 6: refusals that leave files alone ------------------------- */

/* store_open(path) must fail with err containing want, the file's bytes
 * must be unchanged, and no -wal/-shm/-journal may appear beside it. */
static void check_refused_untouched(const char *path, const char *want, const char *what)
{
    char err[512] = "", side[300];
    long before, after;
    char *a = slurp(path, &before);
    struct store *st = store_open(path, err, sizeof err);
    CHECK(st == NULL && strstr(err, want) && strstr(err, path), "%s refused with '%s': %s", what, want, err);
    store_close(st);
    char *b = slurp(path, &after);
    CHECK(same_bytes(a, before, b, after), "%s: file unchanged (%ld -> %ld bytes)", what, before, after);
    free(a);
    free(b);
    static const char *const suffixes[] = { "-wal", "-shm", "-journal" };
    for (int i = 0; i < 3; i++) {
        snprintf(side, sizeof side, "%s%s", path, suffixes[i]);
        CHECK(!file_exists(side), "%s: no %s file beside it", what, suffixes[i]);
    }
}

static void test_newer(void)
{
    char path[256], err[512];
    path_in_dir(path, sizeof path, "newer.db");
    sqlite3 *db = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version=%d", STORE_SCHEMA_VERSION + 5);
    int rc = sqlite3_exec(db, store_migration_sql[0], NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, bump, NULL, NULL, NULL);
    CHECK(rc == SQLITE_OK, "build a newer database: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    check_refused_untouched(path, "newer", "a newer schema");

    char want[64];
    snprintf(want, sizeof want, "schema version %d is newer", STORE_SCHEMA_VERSION + 5);
    CHECK(store_open(path, err, sizeof err) == NULL && strstr(err, want) && strstr(err, "seqbench"),
          "the message names both versions: %s", err);
}

static void test_garbage(void)
{
    char path[256];
    path_in_dir(path, sizeof path, "junk.db");
    FILE *f = fopen(path, "wb");
    static const char text[] = "this is not a database, just text. ";
    for (int i = 0; i < 4096; i++)
        fputc(text[i % (int)(sizeof text - 1)], f);
    fclose(f);
    check_refused_untouched(path, "not a SQLite database", "a 4 KiB text file");
}

static void test_unwritable(void)
{
    char path[256], err[512] = "", missing[256];
    path_in_dir(missing, sizeof missing, "missing");
    path_in_dir(path, sizeof path, "missing/dir/x.db");
    struct store *st = store_open(path, err, sizeof err);
    CHECK(st == NULL && strstr(err, path) && strstr(err, "cannot open database"),
          "a path in a missing directory is refused: %s", err);
    store_close(st);
    CHECK(!file_exists(missing), "the missing directory was not created");

    /* A directory is not a database either. */
    st = store_open(dir, err, sizeof err);
    CHECK(st == NULL && strstr(err, dir), "a directory is refused: %s", err);
    store_close(st);
}

/* ---- 7, 8, 9: inserts that fail leave nothing behind -------------------- */

static void test_bad_inserts(void)
{
    char path[256], err[512];
    path_in_dir(path, sizeof path, "bad.db");
    struct store *st = store_open(path, err, sizeof err);
    CHECK(st != NULL, "open: %s", err);
    if (!st)
        return;
    sqlite3 *db = store_db(st);
    int64_t run_id = 0;
    CHECK(store_begin_run(st, &full_run, &run_id, err, sizeof err) == 0, "begin run: %s", err);

    /* 7. An invalid status: refused in C before any SQL, and by the CHECK. */
    struct result_record bad = ok_result;
    bad.status = "weird";
    CHECK(store_insert_result(st, run_id, &bad, ok_samples, 5, err, sizeof err) != 0 &&
          strstr(err, "'weird'") && strstr(err, "status"), "status 'weird' refused: %s", err);
    bad.status = NULL;
    CHECK(store_insert_result(st, run_id, &bad, ok_samples, 5, err, sizeof err) != 0,
          "a NULL status refused: %s", err);
    CHECK(query_int(db, "SELECT count(*) FROM results") == 0 &&
          query_int(db, "SELECT count(*) FROM samples") == 0, "nothing inserted");
    CHECK(sqlite3_get_autocommit(db), "no transaction left open");
    char sql[256];
    static const char *const refused[] = { "weird", "Skipped: x", "skipped:x", "OK", "error" };
    for (int i = 0; i < N_OF(refused); i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO results (run_id, created_at, case_str, case_key, family, impl, device,"
                 " dtype, status) VALUES (%lld, 'now', 'c%d', 'k', 'f', 'i', 'cpu', 'fp32', '%s')",
                 (long long)run_id, i, refused[i]);
        CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_CONSTRAINT,
              "the table's CHECK refuses status '%s'", refused[i]);
    }

    /* Inconsistent sample arguments are refused before any SQL. */
    CHECK(store_insert_result(st, run_id, &ok_result, ok_samples, 4, err, sizeof err) != 0 &&
          strstr(err, "n_samples"), "sample count disagreeing with n_samples refused: %s", err);
    struct result_record no_rows = ok_result;
    no_rows.kernels = NULL;
    CHECK(store_insert_result(st, run_id, &no_rows, ok_samples, 5, err, sizeof err) != 0 &&
          strstr(err, "kernels"), "kernels counted but not given refused: %s", err);
    double nan_samples[5] = { 1, 2, NAN, 4, 5 };
    CHECK(store_insert_result(st, run_id, &ok_result, nan_samples, 5, err, sizeof err) != 0 &&
          strstr(err, "sample 2 is NaN"), "a NaN sample refused: %s", err);

    /* 8. The same case twice in a run: the second fails, the first stays. */
    CHECK(store_insert_result(st, run_id, &ok_result, ok_samples, 5, err, sizeof err) == 0,
          "first insert: %s", err);
    struct result_record again = ok_result;
    again.median_ms = 99.0;
    double other[5] = { 9, 9, 9, 9, 9 };
    CHECK(store_insert_result(st, run_id, &again, other, 5, err, sizeof err) != 0 &&
          strstr(err, "insert result") && strstr(err, "UNIQUE"), "the same case twice refused: %s", err);
    CHECK(sqlite3_get_autocommit(db), "no transaction left open after the failure");
    CHECK(query_int(db, "SELECT count(*) FROM results") == 1 &&
          query_int(db, "SELECT count(*) FROM results WHERE median_ms = 1.5") == 1,
          "the first result is still there, unchanged");
    CHECK(query_int(db, "SELECT count(*) FROM samples") == 5 &&
          query_int(db, "SELECT count(*) FROM samples WHERE ms = 9") == 0, "only its 5 samples");

    /* 9. Fault injection: the 4th sample insert fails inside the
     * transaction, after the result row and 3 samples went in; all of it
     * must be rolled back and the next insert must work. */
    CHECK(sqlite3_exec(db, "CREATE TEMP TRIGGER inject BEFORE INSERT ON main.samples WHEN NEW.idx = 3"
                           " BEGIN SELECT RAISE(ABORT, 'injected fault'); END", NULL, NULL, NULL) == SQLITE_OK,
          "install the fault: %s", sqlite3_errmsg(db));
    struct result_record third = ok_result;
    third.case_str = "flash/cuda bf16 third";
    CHECK(store_insert_result(st, run_id, &third, ok_samples, 5, err, sizeof err) != 0 &&
          strstr(err, "insert sample") && strstr(err, "injected fault"),
          "the injected fault is reported with its step: %s", err);
    CHECK(sqlite3_get_autocommit(db), "rolled back, no transaction open");
    CHECK(query_int(db, "SELECT count(*) FROM results") == 1 &&
          query_int(db, "SELECT count(*) FROM samples") == 5, "the partial result was rolled back");
    sqlite3_exec(db, "DROP TRIGGER temp.inject", NULL, NULL, NULL);
    CHECK(store_insert_result(st, run_id, &third, ok_samples, 5, err, sizeof err) == 0 &&
          query_int(db, "SELECT count(*) FROM samples") == 10, "the same insert works without the fault: %s",
          err);
    /* The second kernel row fails: the result, its samples and the first
     * kernel row are rolled back with it. */
    CHECK(sqlite3_exec(db, "CREATE TEMP TRIGGER inject_k BEFORE INSERT ON main.kernels WHEN NEW.idx = 1"
                           " BEGIN SELECT RAISE(ABORT, 'injected fault'); END", NULL, NULL, NULL) == SQLITE_OK,
          "install the kernel fault: %s", sqlite3_errmsg(db));
    struct result_record fourth = ok_result;
    fourth.case_str = "flash/cuda bf16 fourth";
    CHECK(store_insert_result(st, run_id, &fourth, ok_samples, 5, err, sizeof err) != 0 &&
          strstr(err, "insert kernel") && strstr(err, "injected fault"),
          "a failed kernel row is reported with its step: %s", err);
    CHECK(query_int(db, "SELECT count(*) FROM results") == 2 &&
          query_int(db, "SELECT count(*) FROM samples") == 10 &&
          query_int(db, "SELECT count(*) FROM kernels") == 4, "the partial result was rolled back");
    sqlite3_exec(db, "DROP TRIGGER temp.inject_k", NULL, NULL, NULL);
    struct result_record orphan = skipped_result();
    CHECK(store_insert_result(st, run_id + 100, &orphan, NULL, 0, err, sizeof err) != 0 &&
          strstr(err, "FOREIGN KEY"), "a result for a run that does not exist is refused: %s", err);
    store_close(st);
}

/* ---- 10: a valid header over a corrupt page -------------------------- */

/* Overwrites 8 bytes at offset off of path with 0xff. */
static void scribble(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL, "open %s to corrupt it", path);
    if (!f)
        return;
    static const unsigned char junk[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    fseek(f, off, SEEK_SET);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
}

/* A database written by the store (WAL), and the same in a rollback journal
 * (as another tool leaves it), each with page 2's b-tree header (the runs
 * table's root) overwritten: the header and the schema still read, so only
 * PRAGMA quick_check finds it. Refused, byte for byte as it was, and not
 * switched to WAL. */
static void test_corrupt_page(void)
{
    char path[256], err[512];
    for (int rollback = 0; rollback < 2; rollback++) {
        path_in_dir(path, sizeof path, rollback ? "corrupt-rollback.db" : "corrupt-wal.db");
        struct store *st = store_open(path, err, sizeof err);
        int64_t run_id = 0;
        CHECK(st && store_begin_run(st, &full_run, &run_id, err, sizeof err) == 0 &&
                  store_insert_result(st, run_id, &ok_result, ok_samples, 5, err, sizeof err) == 0,
              "a database to corrupt: %s", err);
        if (rollback)
            CHECK(sqlite3_exec(store_db(st), "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) == SQLITE_OK,
                  "switch it to a rollback journal");
        store_close(st);
        scribble(path, 4096);
        check_refused_untouched(path, "quick_check", rollback ? "a rollback-journal database with a "
                                "corrupt page 2" : "a WAL database with a corrupt page 2");
        char mode[16] = "";
        sqlite3 *db = NULL;
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
        query_text(db, "PRAGMA journal_mode", mode, sizeof mode);
        sqlite3_close(db);
        CHECK(strcmp(mode, rollback ? "delete" : "wal") == 0, "its journal mode is still %s (got %s)",
              rollback ? "delete" : "wal", mode);
    }
}

/* ---- 11: another writer holds the lock past the busy timeout ------------- */

struct holder {
    const char *path;
    double seconds;             /* how long it keeps the write lock */
    volatile int holding;       /* 1 once it has it, 2 when it let go */
};

static void *hold_write_lock(void *arg)
{
    struct holder *h = arg;
    sqlite3 *db = NULL;
    sqlite3_open_v2(h->path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
        h->holding = 1;
        usleep((useconds_t)(h->seconds * 1e6));
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    h->holding = 2;
    sqlite3_close(db);
    return NULL;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The store's busy timeout is 5 s; a writer holding the lock for 6 s must
 * make the insert wait and succeed, not fail (the suite used to stop and
 * lose the case in flight). */
static void test_busy_writer(void)
{
    char path[256], err[512];
    path_in_dir(path, sizeof path, "busy.db");
    struct store *st = store_open(path, err, sizeof err);
    int64_t run_id = 0;
    CHECK(st && store_begin_run(st, &full_run, &run_id, err, sizeof err) == 0, "begin: %s", err);
    if (!st)
        return;
    struct holder h = { .path = path, .seconds = 6.5 };
    pthread_t th;
    pthread_create(&th, NULL, hold_write_lock, &h);
    while (!h.holding)
        usleep(1000);
    CHECK(h.holding == 1, "the other connection holds the write lock");
    double t0 = wall_seconds();
    int rc = store_insert_result(st, run_id, &ok_result, ok_samples, 5, err, sizeof err);
    double waited = wall_seconds() - t0;
    pthread_join(th, NULL);
    CHECK(rc == 0, "the insert waited for the lock and succeeded: %s", err);
    CHECK(waited > 5.0, "it waited past one busy timeout (%.1f s)", waited);
    CHECK(query_int(store_db(st), "SELECT count(*) FROM results") == 1 &&
              query_int(store_db(st), "SELECT count(*) FROM samples") == 5, "the result and its samples");
    store_close(st);
}

/* ---- 12: resuming: unfinished runs, a case's result, replacing, reading back */

static void test_resume_api(void)
{
    char path[256], err[512], uid[40] = "", status[64];
    path_in_dir(path, sizeof path, "resume.db");
    struct store *st = store_open(path, err, sizeof err);
    CHECK(st != NULL, "open: %s", err);
    if (!st)
        return;
    struct run_record a = full_run, b = full_run;
    b.config = "another configuration";
    int64_t done_id, open_id, other_id, found = 0, rid = 0, rid2 = 0;
    CHECK(store_find_unfinished(st, a.config, &found, uid, sizeof uid, err, sizeof err) == 0,
          "no run yet: none unfinished");
    store_begin_run(st, &a, &done_id, err, sizeof err);
    store_finish_run(st, done_id, err, sizeof err);
    CHECK(store_find_unfinished(st, a.config, &found, uid, sizeof uid, err, sizeof err) == 0,
          "a finished run is not resumed");
    store_begin_run(st, &a, &open_id, err, sizeof err);
    store_begin_run(st, &b, &other_id, err, sizeof err);
    CHECK(store_find_unfinished(st, a.config, &found, uid, sizeof uid, err, sizeof err) == 1 &&
              found == open_id && strlen(uid) == 32,
          "the unfinished run of the same config (%lld, uid %s), not the other config's",
          (long long)found, uid);

    struct result_record failed = skipped_result();
    failed.status = "error: child killed by SIGSEGV";
    CHECK(store_find_result(st, open_id, failed.case_str, &rid, status, sizeof status, err,
                            sizeof err) == 0, "no result for the case yet");
    CHECK(store_insert_result(st, open_id, &failed, NULL, 0, err, sizeof err) == 0, "store the error");
    CHECK(store_find_result(st, open_id, failed.case_str, &rid, status, sizeof status, err,
                            sizeof err) == 1 && strcmp(status, failed.status) == 0,
          "found with its status (%s)", status);
    CHECK(store_find_result(st, other_id, failed.case_str, &rid2, NULL, 0, err, sizeof err) == 0,
          "not in another run");
    struct result_record again = ok_result;
    again.case_str = failed.case_str;
    CHECK(store_replace_result(st, open_id, rid, &again, ok_samples, 5, err, sizeof err) == 0,
          "replace the error: %s", err);
    CHECK(store_find_result(st, open_id, failed.case_str, &rid2, status, sizeof status, err,
                            sizeof err) == 1 && strcmp(status, "ok") == 0,
          "the case now has one result, ok (%s)", status);
    CHECK(query_int(store_db(st), "SELECT count(*) FROM results") == 1 &&
              query_int(store_db(st), "SELECT count(*) FROM samples") == 5,
          "one result, its 5 samples");
    CHECK(store_replace_result(st, open_id, rid2 + 100, &again, ok_samples, 5, err, sizeof err) != 0 &&
              strstr(err, "no result"), "replacing a result that is not there fails: %s", err);
    CHECK(store_replace_result(st, other_id, rid2, &again, ok_samples, 5, err, sizeof err) != 0,
          "replacing another run's result fails");
    CHECK(query_int(store_db(st), "SELECT count(*) FROM results") == 1, "and changes nothing");

    struct result_record back;
    char text[2048];
    CHECK(store_load_result(st, rid2, &back, text, sizeof text, err, sizeof err) == 0, "load: %s", err);
    CHECK(strcmp(back.case_str, failed.case_str) == 0 && strcmp(back.status, "ok") == 0 &&
              back.median_ms == 1.5 && back.p10_ms == 0.5 && back.p90_ms == 2.5 &&
              back.n_samples == 5 && back.tflops == 3.0 && isnan(back.gbps) &&
              back.pct_bound == 87.5 && strcmp(back.bound, "compute") == 0 &&
              back.noise == 0.0075 && back.rel_err == 1.5e-3 && back.error == NULL &&
              back.started_at_ms == 1765000000123 && back.finished_at_ms == 1765000004567 &&
              back.kernel_ms == 1.375 && back.n_kernels == 2 && back.throttled_samples == 2 &&
              strcmp(back.counters_json, ok_result.counters_json) == 0 &&
              strcmp(back.energy_why, ok_result.energy_why) == 0 && back.pct_bound_measured == 104.5,
          "read back as stored, the profiling fields and the kernels' count too");
    CHECK(store_replace_result(st, open_id, rid2, &again, ok_samples, 5, err, sizeof err) == 0 &&
              query_int(store_db(st), "SELECT count(*) FROM kernels") == 2,
          "replacing a result with kernels leaves only the new one's kernels: %s", err);
    CHECK(store_load_result(st, rid2 + 100, &back, text, sizeof text, err, sizeof err) != 0 &&
              strstr(err, "no result"), "a missing id: %s", err);
    store_close(st);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_new_and_round_trip();
    test_migration();
    test_newer();
    test_garbage();
    test_unwritable();
    test_bad_inserts();
    test_corrupt_page();
    test_busy_writer();
    test_resume_api();

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
