/*
 * test_store.c — the SQLite store: a round trip of runs, results and
 * samples; migration from an older user_version with the old rows intact;
 * a newer schema and a corrupt file refused without a byte changed.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store.h"

static char dir[] = "/tmp/test_store_XXXXXX";

static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    char *b = malloc((size_t)*len + 1);
    if (fread(b, 1, (size_t)*len, f) != (size_t)*len)
        *len = -1;
    fclose(f);
    return b;
}

static double query_double(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    double v = NAN;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void test_round_trip(void)
{
    char path[256], err[400];
    snprintf(path, sizeof path, "%s/a.db", dir);
    struct store *st = store_open(path, err, sizeof err);
    CHECK(st != NULL, "open new: %s", err);
    if (!st)
        return;
    CHECK(store_user_version(st) == STORE_SCHEMA_VERSION, "new database at the current schema");
    struct run_record run = { .suite = "smoke", .command = "bench suite smoke", .cpu_threads = 2,
                              .device = "cpu", .peak_tflops = 0.1, .peak_gbps = NAN };
    int64_t run_id = 0;
    CHECK(store_begin_run(st, &run, &run_id, err, sizeof err) == 0 && run_id > 0, "begin run: %s", err);
    struct result_record r = { .case_str = "flash/cpu fp32 B=1", .case_key = "flash fp32 B=1",
                               .family = "flash", .impl = "cpu", .device = "cpu", .dtype = "fp32",
                               .B = 1, .N = 77, .Nk = 77, .H = 2, .Hkv = 1, .D = 64, .Dv = 64,
                               .causal = 1, .status = "ok", .rel_err = 1e-7, .max_abs_err = 2e-7,
                               .rows_checked = 77, .rows_total = 77, .flops = 1e9, .min_bytes = 1e6,
                               .footprint_bytes = 4096, .median_ms = 1.5, .min_ms = 1.25,
                               .p10_ms = 1.3, .p90_ms = 1.7, .mean_ms = 1.5, .stdev_ms = 0.1,
                               .n_samples = 3, .tflops = 0.67, .gbps = NAN, .pct_peak = NAN,
                               .l2_flush = -1, .kernel_ms = NAN, .seed = 1 };
    double samples[3] = { 1.25, 1.5, 1.75 };
    CHECK(store_insert_result(st, run_id, &r, samples, 3, err, sizeof err) == 0, "insert: %s", err);
    struct result_record sk = r;
    sk.case_str = "flash/cuda fp32 B=1", sk.impl = "cuda", sk.status = "skipped: no CUDA device";
    sk.n_samples = 0;
    CHECK(store_insert_result(st, run_id, &sk, NULL, 0, err, sizeof err) == 0, "insert skip: %s", err);
    CHECK(store_insert_result(st, run_id, &r, samples, 3, err, sizeof err) != 0,
          "the same case twice in a run is refused");
    struct result_record bad = r;
    bad.case_str = "other", bad.status = "weird";
    CHECK(store_insert_result(st, run_id, &bad, NULL, 0, err, sizeof err) != 0 && strstr(err, "weird"),
          "an invalid status is refused: %s", err);
    CHECK(store_finish_run(st, run_id, err, sizeof err) == 0, "finish: %s", err);
    store_close(st);

    st = store_open(path, err, sizeof err);
    CHECK(st != NULL, "reopen: %s", err);
    if (!st)
        return;
    sqlite3 *db = store_db(st);
    CHECK(query_double(db, "SELECT count(*) FROM results") == 2, "two results stored");
    CHECK(query_double(db, "SELECT median_ms FROM results WHERE impl='cpu'") == 1.5, "median");
    CHECK(isnan(query_double(db, "SELECT gbps FROM results WHERE impl='cpu'")), "NaN stored as NULL");
    CHECK(query_double(db, "SELECT sum(ms) FROM samples") == 4.5, "samples round trip");
    CHECK(query_double(db, "SELECT length(run_uid) FROM runs") == 32, "run_uid is 32 hex characters");
    CHECK(query_double(db, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL") == 1, "finished");
    CHECK(query_double(db, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'") == 1,
          "WAL mode");
    store_close(st);
}

static void test_migration(void)
{
    char path[256], err[400];
    snprintf(path, sizeof path, "%s/old.db", dir);
    sqlite3 *db;
    sqlite3_open(path, &db);
    int rc = sqlite3_exec(db, store_migration_sql[0], NULL, NULL, NULL);
    rc |= sqlite3_exec(db, "PRAGMA user_version=1;"
                           "INSERT INTO runs (run_uid, started_at) VALUES ('old', '2026-01-01T00:00:00Z');"
                           "INSERT INTO results (run_id, created_at, case_str, case_key, family, impl,"
                           " device, dtype, status) VALUES (1, 'x', 'c', 'k', 'flash', 'cpu', 'cpu',"
                           " 'fp32', 'ok');", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(rc == SQLITE_OK, "version-1 database built");
    struct store *st = store_open(path, err, sizeof err);
    CHECK(st != NULL, "a version-1 database opens: %s", err);
    if (!st)
        return;
    CHECK(store_user_version(st) == STORE_SCHEMA_VERSION, "migrated to %d", STORE_SCHEMA_VERSION);
    CHECK(query_double(store_db(st), "SELECT count(*) FROM results WHERE case_str='c' AND kernel_ms IS NULL") == 1,
          "old row intact, new column present");
    store_close(st);
}

static void test_refusals(void)
{
    char path[256], err[400];
    long before, after;
    snprintf(path, sizeof path, "%s/newer.db", dir);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA user_version=99;", NULL, NULL, NULL);
    sqlite3_close(db);
    char *a = slurp(path, &before);
    CHECK(store_open(path, err, sizeof err) == NULL && strstr(err, "newer"), "newer refused: %s", err);
    char *b = slurp(path, &after);
    CHECK(before == after && memcmp(a, b, (size_t)before) == 0, "newer database unchanged");
    free(a), free(b);

    snprintf(path, sizeof path, "%s/junk.db", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 4096; i++)
        fputc("not a database "[i % 15], f);
    fclose(f);
    a = slurp(path, &before);
    CHECK(store_open(path, err, sizeof err) == NULL && strstr(err, "not a SQLite database"),
          "junk refused: %s", err);
    b = slurp(path, &after);
    CHECK(before == after && memcmp(a, b, (size_t)before) == 0, "junk file unchanged");
    free(a), free(b);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    CHECK(fopen(wal, "r") == NULL, "no -wal file left beside it");

    snprintf(path, sizeof path, "%s/missing/dir/x.db", dir);
    CHECK(store_open(path, err, sizeof err) == NULL && strstr(err, "cannot open"), "bad path: %s", err);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_migration();
    test_refusals();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
