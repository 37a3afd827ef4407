/*
 * store.c — the SQLite result store; see store.h for the contract.
 *
 * Opening never changes a file it then refuses: the header is read first
 * (not a database → refused), then user_version (newer → refused), and only
 * then is WAL switched on and are migrations applied, each in its own
 * transaction with its version bump inside.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

struct store {
    sqlite3 *db;
    char path[512];
};

/* SQL_CHECK: on failure, the call, file:line and SQLite's message into err. */
#define SQL_CHECK(st, call, what)                                                        \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != SQLITE_OK && rc_ != SQLITE_DONE && rc_ != SQLITE_ROW) {               \
            snprintf(err, n, "%s: %s: %s (%s:%d)", (st)->path, what,                     \
                     sqlite3_errmsg((st)->db), __FILE__, __LINE__);                      \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

const char *const store_migration_sql[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: the tables. */
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY, run_uid TEXT NOT NULL UNIQUE, started_at TEXT NOT NULL,"
    " finished_at TEXT, suite TEXT, command TEXT, seqbench_version TEXT, git_commit TEXT,"
    " build_flags TEXT, hostname TEXT, cpu_model TEXT, cpu_threads INTEGER, device TEXT,"
    " gpu_name TEXT, gpu_uuid TEXT, gpu_sms INTEGER, gpu_cc TEXT, gpu_mem_bytes INTEGER,"
    " gpu_l2_bytes INTEGER, gpu_clock_khz INTEGER, driver_version INTEGER,"
    " runtime_version INTEGER, peak_tflops REAL, peak_gbps REAL, env_json TEXT);"
    "CREATE TABLE results ("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    " created_at TEXT NOT NULL, case_str TEXT NOT NULL, case_key TEXT NOT NULL,"
    " family TEXT NOT NULL, impl TEXT NOT NULL, device TEXT NOT NULL, dtype TEXT NOT NULL,"
    " B INTEGER, N INTEGER, Nk INTEGER, H INTEGER, Hkv INTEGER, D INTEGER, Dv INTEGER,"
    " causal INTEGER,"
    " status TEXT NOT NULL CHECK (status IN ('ok', 'mismatch', 'oom')"
    "   OR status LIKE 'skipped: %' OR status LIKE 'error: %'),"
    " error TEXT, rel_err REAL, max_abs_err REAL, rows_checked INTEGER, rows_total INTEGER,"
    " flops REAL, min_bytes REAL, footprint_bytes INTEGER, median_ms REAL, min_ms REAL,"
    " p10_ms REAL, p90_ms REAL, mean_ms REAL, stdev_ms REAL, n_samples INTEGER,"
    " tflops REAL, gbps REAL, pct_peak REAL, l2_flush INTEGER, seed INTEGER,"
    " UNIQUE (run_id, case_str));"
    "CREATE TABLE samples ("
    " result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, ms REAL NOT NULL, PRIMARY KEY (result_id, idx)) WITHOUT ROWID;",
    /* 1 -> 2: CUPTI kernel time (NULL until profiling), and the compare index. */
    "ALTER TABLE results ADD COLUMN kernel_ms REAL;"
    "CREATE INDEX results_case ON results(case_key, impl);",
};

static void now_iso(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Reads the first 16 bytes: an existing non-empty file must be SQLite. */
static int looks_like_sqlite(const char *path, char *err, size_t n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errno == ENOENT ? 0 : (snprintf(err, n, "%s: cannot open database: %s", path,
                                               strerror(errno)), -1);
    char head[16];
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    if (got == 0)
        return 0;
    if (got != 16 || memcmp(head, "SQLite format 3", 16) != 0) {
        snprintf(err, n, "%s: not a SQLite database (file is not a database)", path);
        return -1;
    }
    return 0;
}

static int exec(struct store *st, const char *sql, const char *what, char *err, size_t n)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, n, "%s: %s: %s", st->path, what, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_user_version(struct store *st)
{
    sqlite3_stmt *s;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

struct store *store_open(const char *path, char *err, size_t n)
{
    if (looks_like_sqlite(path, err, n) != 0)
        return NULL;
    struct store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, n, "%s: out of memory", path);
        return NULL;
    }
    snprintf(st->path, sizeof st->path, "%s", path);
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, n, "%s: cannot open database: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        store_close(st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_stmt *probe = NULL;
    /* Reading the schema is the first access: a corrupt file fails here. */
    if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM sqlite_master", -1, &probe, NULL) != SQLITE_OK ||
        sqlite3_step(probe) != SQLITE_ROW) {
        int code = sqlite3_errcode(st->db);
        if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
            snprintf(err, n, "%s: not a SQLite database (%s)", path, sqlite3_errmsg(st->db));
        else
            snprintf(err, n, "%s: cannot open database: %s", path, sqlite3_errmsg(st->db));
        sqlite3_finalize(probe);
        store_close(st);
        return NULL;
    }
    sqlite3_finalize(probe);
    int v = store_user_version(st);
    if (v > STORE_SCHEMA_VERSION) {
        snprintf(err, n, "%s: schema version %d is newer than this bench understands (%d); "
                 "use a newer seqbench", path, v, STORE_SCHEMA_VERSION);
        store_close(st);
        return NULL;
    }
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        snprintf(err, n, "%s: database is read-only", path);
        store_close(st);
        return NULL;
    }
    if (exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
             "cannot open database", err, n) != 0) {
        store_close(st);
        return NULL;
    }
    for (; v < STORE_SCHEMA_VERSION; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d;", v + 1);
        if (exec(st, "BEGIN IMMEDIATE", "migration", err, n) != 0)
            goto fail_open;
        if (exec(st, store_migration_sql[v], "migration", err, n) != 0 ||
            exec(st, bump, "migration", err, n) != 0 || exec(st, "COMMIT", "migration", err, n) != 0) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail_open;
        }
    }
    return st;
fail_open:
    store_close(st);
    return NULL;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st);
}

struct sqlite3 *store_db(struct store *st)
{
    return st->db;
}

/* Binding helpers: NULL strings and NaN doubles become SQL NULL. */
static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

static int bind_real(sqlite3_stmt *s, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v);
}

static void random_uid(char out[33])
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof b) {                  /* no urandom: time and pid, still unique enough */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
        for (int i = 0; i < 16; i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
            b[i] = (unsigned char)(x >> 56);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int store_begin_run(struct store *st, const struct run_record *r, int64_t *run_id, char *err,
                    size_t n)
{
    static const char sql[] =
        "INSERT INTO runs (run_uid, started_at, suite, command, seqbench_version, git_commit,"
        " build_flags, hostname, cpu_model, cpu_threads, device, gpu_name, gpu_uuid, gpu_sms,"
        " gpu_cc, gpu_mem_bytes, gpu_l2_bytes, gpu_clock_khz, driver_version, runtime_version,"
        " peak_tflops, peak_gbps, env_json)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23)";
    sqlite3_stmt *s = NULL;
    char uid[33], started[32];
    random_uid(uid);
    now_iso(started, sizeof started);
    SQL_CHECK(st, sqlite3_prepare_v2(st->db, sql, -1, &s, NULL), "insert run");
    bind_text(s, 1, r->run_uid ? r->run_uid : uid);
    bind_text(s, 2, r->started_at ? r->started_at : started);
    bind_text(s, 3, r->suite);
    bind_text(s, 4, r->command);
    bind_text(s, 5, r->seqbench_version);
    bind_text(s, 6, r->git_commit);
    bind_text(s, 7, r->build_flags);
    bind_text(s, 8, r->hostname);
    bind_text(s, 9, r->cpu_model);
    sqlite3_bind_int(s, 10, r->cpu_threads);
    bind_text(s, 11, r->device);
    bind_text(s, 12, r->gpu_name);
    bind_text(s, 13, r->gpu_uuid);
    sqlite3_bind_int(s, 14, r->gpu_sms);
    bind_text(s, 15, r->gpu_cc);
    sqlite3_bind_int64(s, 16, r->gpu_mem_bytes);
    sqlite3_bind_int64(s, 17, r->gpu_l2_bytes);
    sqlite3_bind_int(s, 18, r->gpu_clock_khz);
    sqlite3_bind_int(s, 19, r->driver_version);
    sqlite3_bind_int(s, 20, r->runtime_version);
    bind_real(s, 21, r->peak_tflops);
    bind_real(s, 22, r->peak_gbps);
    bind_text(s, 23, r->env_json);
    SQL_CHECK(st, sqlite3_step(s), "insert run");
    *run_id = sqlite3_last_insert_rowid(st->db);
    sqlite3_finalize(s);
    return 0;
fail:
    sqlite3_finalize(s);
    return -1;
}

int store_finish_run(struct store *st, int64_t run_id, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    char now[32];
    now_iso(now, sizeof now);
    SQL_CHECK(st, sqlite3_prepare_v2(st->db, "UPDATE runs SET finished_at = ?1 WHERE id = ?2", -1,
                                     &s, NULL), "finish run");
    bind_text(s, 1, now);
    sqlite3_bind_int64(s, 2, run_id);
    SQL_CHECK(st, sqlite3_step(s), "finish run");
    sqlite3_finalize(s);
    return 0;
fail:
    sqlite3_finalize(s);
    return -1;
}

static int status_valid(const char *s)
{
    return s && (strcmp(s, "ok") == 0 || strcmp(s, "mismatch") == 0 || strcmp(s, "oom") == 0 ||
                 strncmp(s, "skipped: ", 9) == 0 || strncmp(s, "error: ", 7) == 0);
}

int store_insert_result(struct store *st, int64_t run_id, const struct result_record *r,
                        const double *samples_ms, int n_samples, char *err, size_t n)
{
    static const char sql[] =
        "INSERT INTO results (run_id, created_at, case_str, case_key, family, impl, device, dtype,"
        " B, N, Nk, H, Hkv, D, Dv, causal, status, error, rel_err, max_abs_err, rows_checked,"
        " rows_total, flops, min_bytes, footprint_bytes, median_ms, min_ms, p10_ms, p90_ms,"
        " mean_ms, stdev_ms, n_samples, tflops, gbps, pct_peak, l2_flush, seed, kernel_ms)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,"
        "?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,?35,?36,?37,?38)";
    sqlite3_stmt *s = NULL, *smp = NULL;
    int in_txn = 0;
    char now[32];
    if (!status_valid(r->status)) {
        snprintf(err, n, "%s: result status '%s' is not ok, mismatch, oom, skipped: or error:",
                 st->path, r->status ? r->status : "(null)");
        return -1;
    }
    now_iso(now, sizeof now);
    SQL_CHECK(st, sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin result");
    in_txn = 1;
    SQL_CHECK(st, sqlite3_prepare_v2(st->db, sql, -1, &s, NULL), "insert result");
    int i = 1;
    sqlite3_bind_int64(s, i++, run_id);
    bind_text(s, i++, now);
    bind_text(s, i++, r->case_str);
    bind_text(s, i++, r->case_key);
    bind_text(s, i++, r->family);
    bind_text(s, i++, r->impl);
    bind_text(s, i++, r->device);
    bind_text(s, i++, r->dtype);
    const int64_t dims[] = { r->B, r->N, r->Nk, r->H, r->Hkv, r->D, r->Dv, r->causal };
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        sqlite3_bind_int64(s, i++, dims[d]);
    bind_text(s, i++, r->status);
    bind_text(s, i++, r->error);
    bind_real(s, i++, r->rel_err);
    bind_real(s, i++, r->max_abs_err);
    sqlite3_bind_int64(s, i++, r->rows_checked);
    sqlite3_bind_int64(s, i++, r->rows_total);
    bind_real(s, i++, r->flops);
    bind_real(s, i++, r->min_bytes);
    if (r->footprint_bytes >= 0)
        sqlite3_bind_int64(s, i++, r->footprint_bytes);
    else
        sqlite3_bind_null(s, i++);
    const double times[] = { r->median_ms, r->min_ms, r->p10_ms, r->p90_ms, r->mean_ms, r->stdev_ms };
    for (size_t t = 0; t < sizeof times / sizeof times[0]; t++)
        bind_real(s, i++, times[t]);
    sqlite3_bind_int(s, i++, r->n_samples);
    bind_real(s, i++, r->tflops);
    bind_real(s, i++, r->gbps);
    bind_real(s, i++, r->pct_peak);
    if (r->l2_flush >= 0)
        sqlite3_bind_int(s, i++, r->l2_flush);
    else
        sqlite3_bind_null(s, i++);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r->seed);
    bind_real(s, i++, r->kernel_ms);
    SQL_CHECK(st, sqlite3_step(s), "insert result");
    int64_t result_id = sqlite3_last_insert_rowid(st->db);

    SQL_CHECK(st, sqlite3_prepare_v2(st->db, "INSERT INTO samples (result_id, idx, ms) VALUES (?1, ?2, ?3)",
                                     -1, &smp, NULL), "insert samples");
    for (int k = 0; k < n_samples; k++) {
        sqlite3_bind_int64(smp, 1, result_id);
        sqlite3_bind_int(smp, 2, k);
        sqlite3_bind_double(smp, 3, samples_ms[k]);
        SQL_CHECK(st, sqlite3_step(smp), "insert sample");
        sqlite3_reset(smp);
        sqlite3_clear_bindings(smp);
    }
    SQL_CHECK(st, sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL), "commit result");
    sqlite3_finalize(s);
    sqlite3_finalize(smp);
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_finalize(smp);
    if (in_txn)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
