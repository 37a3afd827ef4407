/*
 * store.c — the SQLite result store; see store.h for the contract.
 *
 * Opening never changes a file it then refuses. The order is the point:
 *   1. open the handle (nothing is written yet; a missing file is created
 *      empty, an unopenable path fails here);
 *   2. read the schema: a file that is not SQLite fails here, untouched;
 *   3. read PRAGMA user_version: a newer schema is refused, untouched;
 *   4. refuse a read-only database;
 *   5. PRAGMA quick_check: a valid header over corrupt pages fails here,
 *      untouched (a rollback-journal file is not even switched to WAL);
 *   6. only now switch to WAL (this writes the header) and set the
 *      per-connection pragmas;
 *   7. apply each missing migration in its own BEGIN IMMEDIATE with its
 *      user_version bump inside, so a crash leaves a consistent version.
 *
 * Every write begins with begin_write(): BEGIN IMMEDIATE, retried for as
 * long as another connection holds the write lock (the busy handler waits
 * STORE_BUSY_TIMEOUT_MS per try, then one line on stderr per try), so a
 * bench never loses a finished result to a busy database.
 *
 * Every value reaches SQLite as a bound parameter; the only SQL built with
 * printf is `PRAGMA user_version=N`, whose N is our own loop counter
 * (PRAGMA arguments cannot be bound).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define STORE_BUSY_TIMEOUT_MS 5000  /* one try's wait for another writer; begin_write retries */
#define RUN_UID_BYTES 16            /* 128 random bits: unique across merged databases */

struct store {
    sqlite3 *db;
    char *path;                 /* as given, for messages */
};

/* SQL_CHECK: evaluate an sqlite3_* call; unless it returned OK, ROW or DONE,
 * write "PATH: step: sqlite message (store.c:LINE)" into err and goto fail.
 * Expects `st`, `err` and `n` in scope and a `fail:` label. */
#define SQL_CHECK(call, step)                                                            \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != SQLITE_OK && rc_ != SQLITE_ROW && rc_ != SQLITE_DONE) {               \
            snprintf(err, n, "%s: %s: %s (%s:%d)", st->path, (step),                     \
                     sqlite3_errmsg(st->db), __FILE__, __LINE__);                        \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

const char *const store_migration_sql[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: runs, results, samples. The status CHECK mirrors status_valid();
     * GLOB, not LIKE, because LIKE ignores case. */
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
    "   OR status GLOB 'skipped: *' OR status GLOB 'error: *'),"
    " error TEXT, rel_err REAL, max_abs_err REAL, rows_checked INTEGER, rows_total INTEGER,"
    " flops REAL, min_bytes REAL, footprint_bytes INTEGER, median_ms REAL, min_ms REAL,"
    " p10_ms REAL, p90_ms REAL, mean_ms REAL, stdev_ms REAL, n_samples INTEGER,"
    " tflops REAL, gbps REAL, pct_peak REAL, l2_flush INTEGER, seed INTEGER,"
    " UNIQUE (run_id, case_str));"
    "CREATE TABLE samples ("
    " result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, ms REAL NOT NULL, PRIMARY KEY (result_id, idx)) WITHOUT ROWID;",
    /* 1 -> 2: CUPTI kernel time (NULL until profiling), and the index compare uses. */
    "ALTER TABLE results ADD COLUMN kernel_ms REAL;"
    "CREATE INDEX results_case ON results(case_key, impl);",
    /* 2 -> 3: the whole shape (fields beyond the fixed columns: Hv, chunk,
     * gate, state) and the minimal FLOP count beside the algorithm's. */
    "ALTER TABLE results ADD COLUMN shape_json TEXT;"
    "ALTER TABLE results ADD COLUMN flops_minimal REAL;",
    /* 3 -> 4: "ok: <why>" statuses (a CHECK cannot be altered, so the table
     * is rebuilt: SQLite's create-copy-drop-rename, run with foreign keys
     * off by migrate()), the stopping rule's outcome, the timing mode, the
     * roofline bound, the executed FLOPs, the per-head error and the
     * reproduction metadata of a run. */
    "CREATE TABLE results_v4 ("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    " created_at TEXT NOT NULL, case_str TEXT NOT NULL, case_key TEXT NOT NULL,"
    " family TEXT NOT NULL, impl TEXT NOT NULL, device TEXT NOT NULL, dtype TEXT NOT NULL,"
    " B INTEGER, N INTEGER, Nk INTEGER, H INTEGER, Hkv INTEGER, D INTEGER, Dv INTEGER,"
    " causal INTEGER,"
    " status TEXT NOT NULL CHECK (status IN ('ok', 'mismatch', 'oom') OR status GLOB 'ok: *'"
    "   OR status GLOB 'skipped: *' OR status GLOB 'error: *'),"
    " error TEXT, rel_err REAL, max_abs_err REAL, rows_checked INTEGER, rows_total INTEGER,"
    " flops REAL, min_bytes REAL, footprint_bytes INTEGER, median_ms REAL, min_ms REAL,"
    " p10_ms REAL, p90_ms REAL, mean_ms REAL, stdev_ms REAL, n_samples INTEGER,"
    " tflops REAL, gbps REAL, pct_peak REAL, l2_flush INTEGER, seed INTEGER,"
    " kernel_ms REAL, shape_json TEXT, flops_minimal REAL,"
    " UNIQUE (run_id, case_str));"
    "INSERT INTO results_v4 SELECT * FROM results;"
    "DROP TABLE results;"
    "ALTER TABLE results_v4 RENAME TO results;"
    "CREATE INDEX results_case ON results(case_key, impl);"
    "ALTER TABLE results ADD COLUMN noise REAL;"
    "ALTER TABLE results ADD COLUMN stop_reason TEXT;"
    "ALTER TABLE results ADD COLUMN timing TEXT;"
    "ALTER TABLE results ADD COLUMN pct_bound REAL;"
    "ALTER TABLE results ADD COLUMN pct_compute REAL;"
    "ALTER TABLE results ADD COLUMN pct_bandwidth REAL;"
    "ALTER TABLE results ADD COLUMN bound TEXT;"
    "ALTER TABLE results ADD COLUMN roof_flops REAL;"
    "ALTER TABLE results ADD COLUMN roof_bytes_s REAL;"
    "ALTER TABLE results ADD COLUMN flops_executed REAL;"
    "ALTER TABLE results ADD COLUMN worst_rel_err REAL;"
    "ALTER TABLE results ADD COLUMN worst_row INTEGER;"
    "ALTER TABLE results ADD COLUMN worst_head INTEGER;"
    "ALTER TABLE results ADD COLUMN validate_s REAL;"
    "ALTER TABLE results ADD COLUMN recheck_rel_err REAL;"
    "UPDATE results SET timing = CASE l2_flush WHEN 1 THEN 'cold' WHEN 0 THEN 'warm'"
    "   ELSE 'cpu' END WHERE status = 'ok';"
    "ALTER TABLE runs ADD COLUMN driver_release TEXT;"
    "ALTER TABLE runs ADD COLUMN cublas_version TEXT;"
    "ALTER TABLE runs ADD COLUMN nvcc_version TEXT;"
    "ALTER TABLE runs ADD COLUMN input_version INTEGER;",
    /* 4 -> 5: what an implementation chose at setup, as JSON (a vendor
     * library's graph, engine and version: flash/cudnn). */
    "ALTER TABLE results ADD COLUMN impl_info TEXT;",
    /* 5 -> 6: profiling: CUPTI's counters and per-kernel breakdown, NVML's
     * GPU state, throttling and energy, measured memory and ceilings. */
    "CREATE TABLE kernels ("
    " result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, name TEXT NOT NULL, grid TEXT, block TEXT, registers INTEGER,"
    " shared_bytes INTEGER, duration_ns REAL, count REAL,"
    " PRIMARY KEY (result_id, idx)) WITHOUT ROWID;"
    "ALTER TABLE results ADD COLUMN dram_read_bytes REAL;"
    "ALTER TABLE results ADD COLUMN dram_write_bytes REAL;"
    "ALTER TABLE results ADD COLUMN l2_bytes REAL;"
    "ALTER TABLE results ADD COLUMN tensor_util_pct REAL;"
    "ALTER TABLE results ADD COLUMN dram_pct REAL;"
    "ALTER TABLE results ADD COLUMN counters_json TEXT;"
    "ALTER TABLE results ADD COLUMN counters_why TEXT;"
    "ALTER TABLE results ADD COLUMN energy_j_per_op REAL;"
    "ALTER TABLE results ADD COLUMN power_w REAL;"
    "ALTER TABLE results ADD COLUMN energy_why TEXT;"
    "ALTER TABLE results ADD COLUMN throttled_samples INTEGER;"
    "ALTER TABLE results ADD COLUMN throttle_reasons INTEGER;"
    "ALTER TABLE results ADD COLUMN sm_clock_mhz REAL;"
    "ALTER TABLE results ADD COLUMN footprint_predicted INTEGER;"
    "ALTER TABLE results ADD COLUMN pool_peak_bytes INTEGER;"
    "ALTER TABLE results ADD COLUMN meminfo_bytes INTEGER;"
    "ALTER TABLE results ADD COLUMN host_peak_bytes INTEGER;"
    "ALTER TABLE results ADD COLUMN pct_bound_measured REAL;"
    "ALTER TABLE results ADD COLUMN roof_flops_measured REAL;"
    "ALTER TABLE results ADD COLUMN roof_bytes_s_measured REAL;"
    "ALTER TABLE runs ADD COLUMN gpu_sm_clock_mhz INTEGER;"
    "ALTER TABLE runs ADD COLUMN gpu_mem_clock_mhz INTEGER;"
    "ALTER TABLE runs ADD COLUMN gpu_max_sm_clock_mhz INTEGER;"
    "ALTER TABLE runs ADD COLUMN gpu_default_sm_clock_mhz INTEGER;"
    "ALTER TABLE runs ADD COLUMN clocks_locked INTEGER;"
    "ALTER TABLE runs ADD COLUMN power_limit_w REAL;"
    "ALTER TABLE runs ADD COLUMN temperature_c INTEGER;"
    "ALTER TABLE runs ADD COLUMN ecc_enabled INTEGER;"
    "ALTER TABLE runs ADD COLUMN mig_enabled INTEGER;"
    "ALTER TABLE runs ADD COLUMN persistence_enabled INTEGER;"
    "ALTER TABLE runs ADD COLUMN throttle_reasons INTEGER;"
    "ALTER TABLE runs ADD COLUMN nvml_why TEXT;"
    "ALTER TABLE runs ADD COLUMN calibration_json TEXT;",
    /* 6 -> 7: when each case began and its result was complete (ms since
     * the Unix epoch), and the configuration of a run, which `bench suite
     * --resume` matches to continue a run that did not finish. */
    "ALTER TABLE results ADD COLUMN started_at INTEGER;"
    "ALTER TABLE results ADD COLUMN finished_at INTEGER;"
    "ALTER TABLE runs ADD COLUMN config TEXT;",
};

/* ---- small helpers ---------------------------------------------------- */

/* Writes the current UTC time as "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with NUL). */
static void now_iso(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills out[33] with 32 lowercase hex chars from RUN_UID_BYTES random bytes
 * (getrandom, else /dev/urandom). Returns 0, or -1 when neither gave bytes:
 * a weak uid would make merged databases collide, so there is no fallback. */
static int random_uid(char out[2 * RUN_UID_BYTES + 1])
{
    unsigned char b[RUN_UID_BYTES];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof b) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        got = 0;
        while (fd >= 0 && got < sizeof b) {
            ssize_t r = read(fd, b + got, sizeof b - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (fd >= 0)
            close(fd);
    }
    if (got < sizeof b)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof b; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * sizeof b] = '\0';
    return 0;
}

/* A cursor over one statement's parameters, 1, 2, 3, ... in order. The first
 * failing bind is kept in rc (later ones are skipped), so a statement is
 * checked once after all its binds; bind_done() also checks that exactly
 * every parameter was bound, which catches a column list and its binds
 * drifting apart. */
struct binder {
    sqlite3_stmt *s;
    int i;                      /* last parameter index bound */
    int rc;                     /* first failure, else SQLITE_OK */
};

/* NULL text binds SQL NULL. */
static void bind_text(struct binder *b, const char *v)
{
    int i = ++b->i;
    if (b->rc == SQLITE_OK)
        b->rc = v ? sqlite3_bind_text(b->s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(b->s, i);
}

static void bind_int64(struct binder *b, int64_t v)
{
    int i = ++b->i;
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->s, i, v);
}

/* For fields whose -1 means "unknown / not applicable": -1 binds SQL NULL. */
static void bind_int64_or_null(struct binder *b, int64_t v)
{
    int i = ++b->i;
    if (b->rc == SQLITE_OK)
        b->rc = v == -1 ? sqlite3_bind_null(b->s, i) : sqlite3_bind_int64(b->s, i, v);
}

/* NaN binds SQL NULL (a double that does not apply). */
static void bind_real(struct binder *b, double v)
{
    int i = ++b->i;
    if (b->rc == SQLITE_OK)
        b->rc = isnan(v) ? sqlite3_bind_null(b->s, i) : sqlite3_bind_double(b->s, i, v);
}

/* SQLITE_OK when every bind succeeded and covered every parameter; else the
 * bind's error, or SQLITE_RANGE (with the count in the db's message) on a
 * count mismatch. */
static int bind_done(struct binder *b)
{
    if (b->rc != SQLITE_OK)
        return b->rc;
    if (b->i != sqlite3_bind_parameter_count(b->s))
        return sqlite3_bind_null(b->s, sqlite3_bind_parameter_count(b->s) + 1); /* SQLITE_RANGE */
    return SQLITE_OK;
}

/* Runs SQL with no values in it (BEGIN, COMMIT, migrations, pragmas).
 * Returns the SQLite result code; the message is then in sqlite3_errmsg. */
static int exec(struct store *st, const char *sql)
{
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}

/* Rolls back the open transaction, if any; used on failure paths after the
 * error message has been captured. Some errors (e.g. SQLITE_FULL) roll back
 * by themselves, hence the autocommit check. */
static void rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        exec(st, "ROLLBACK");
}

/* BEGIN IMMEDIATE (the write lock), waiting for as long as another
 * connection holds it: each try waits STORE_BUSY_TIMEOUT_MS in SQLite's
 * busy handler; a try that timed out prints one line naming what waits and
 * tries again. Any other failure returns SQLITE's code (message in
 * sqlite3_errmsg). */
static int begin_write(struct store *st, const char *what)
{
    for (int tries = 1;; tries++) {
        int rc = exec(st, "BEGIN IMMEDIATE");
        if ((rc & 0xff) != SQLITE_BUSY) {
            if (rc == SQLITE_OK && tries > 1)
                fprintf(stderr, "bench: %s: the write lock is free; %s goes on\n", st->path, what);
            return rc;
        }
        fprintf(stderr, "bench: %s: another connection has held the write lock for %d s; %s "
                "waits for it (nothing is dropped)\n", st->path, tries * STORE_BUSY_TIMEOUT_MS / 1000,
                what);
    }
}

/* ---- open and migrate ------------------------------------------------- */

int store_user_version(struct store *st)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The first read of the file: SQLite parses the header and page 1 here, so
 * a file that is not a database (or is corrupt) fails with nothing written.
 * Returns 0, or -1 with err set. */
static int probe(struct store *st, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT count(*) FROM sqlite_master", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        sqlite3_finalize(s);
        return 0;
    }
    const char *msg = sqlite3_errmsg(st->db);
    int code = sqlite3_errcode(st->db) & 0xff;
    if (code == SQLITE_NOTADB)
        snprintf(err, n, "%s: not a SQLite database (%s)", st->path, msg);
    else if (code == SQLITE_CORRUPT)
        snprintf(err, n, "%s: corrupt SQLite database (%s)", st->path, msg);
    else if (code == SQLITE_READONLY)       /* a WAL file whose -shm we may not create */
        snprintf(err, n, "%s: database is read-only (%s)", st->path, msg);
    else
        snprintf(err, n, "%s: cannot open database: %s", st->path, msg);
    sqlite3_finalize(s);
    return -1;
}

/* PRAGMA quick_check: the b-tree pages, their headers and cells, without the
 * index-content cross-check of integrity_check (linear in the file). A
 * corrupt page anywhere fails it, where a plain read of the schema does
 * not. Returns 0, or -1 with err naming the first problem. */
static int quick_check(struct store *st, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check(1)", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    const unsigned char *what = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
    if (what && strcmp((const char *)what, "ok") == 0) {
        sqlite3_finalize(s);
        return 0;
    }
    snprintf(err, n, "%s: corrupt SQLite database (PRAGMA quick_check: %s); refused, the file is "
             "left as it was", st->path, what ? (const char *)what : sqlite3_errmsg(st->db));
    for (char *p = err; *p; p++)            /* SQLite's report spans lines: keep it one */
        if (*p == '\n')
            *p = ' ';
    sqlite3_finalize(s);
    return -1;
}

/* Switches to WAL and confirms it took (journal_mode answers the mode it
 * ended in, not an error, when it cannot switch), then the per-connection
 * pragmas. Returns 0, or -1 with err set. */
static int set_pragmas(struct store *st, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    SQL_CHECK(sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL), "journal_mode=WAL");
    SQL_CHECK(sqlite3_step(s), "journal_mode=WAL");
    const unsigned char *mode = sqlite3_column_text(s, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0) {
        snprintf(err, n, "%s: cannot switch to WAL journal mode (still '%s')", st->path,
                 mode ? (const char *)mode : "?");
        goto fail;
    }
    sqlite3_finalize(s);
    s = NULL;
    SQL_CHECK(exec(st, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"), "pragmas");
    return 0;
fail:
    sqlite3_finalize(s);
    return -1;
}

/* 1 when PRAGMA foreign_key_check reports a row (a sample whose result, or a
 * result whose run, is gone) or cannot run. */
static int foreign_keys_broken(struct store *st)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc != SQLITE_DONE;
}

/* Applies store_migration_sql[v] for every v from the file's user_version up
 * to STORE_SCHEMA_VERSION, each in its own BEGIN IMMEDIATE with the version
 * bump inside. The version is re-read under the write lock, so two benches
 * opening the same old file at once do not both migrate it. Returns 0, or -1
 * with err naming the step (the failed step is rolled back). */
static int migrate(struct store *st, char *err, size_t n)
{
    /* Off while migrating: a table rebuild drops the parent of samples,
     * which with foreign keys on would cascade-delete every sample. The
     * pragma is a no-op inside a transaction, hence here. */
    SQL_CHECK(exec(st, "PRAGMA foreign_keys=OFF"), "migration: foreign_keys off");
    for (;;) {
        char step[64];
        SQL_CHECK(begin_write(st, "opening"), "migration: begin");
        int v = store_user_version(st);
        if (v < 0 || v > STORE_SCHEMA_VERSION) {
            snprintf(err, n, "%s: migration: user_version became %d under another writer",
                     st->path, v);
            goto fail;
        }
        if (v == STORE_SCHEMA_VERSION) {
            if (foreign_keys_broken(st)) {
                snprintf(err, n, "%s: migration: a foreign key no longer matches", st->path);
                goto fail;
            }
            SQL_CHECK(exec(st, "COMMIT"), "migration: commit");
            SQL_CHECK(exec(st, "PRAGMA foreign_keys=ON"), "migration: foreign_keys on");
            return 0;
        }
        snprintf(step, sizeof step, "migration %d -> %d", v, v + 1);
        SQL_CHECK(exec(st, store_migration_sql[v]), step);
        char bump[48];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
        SQL_CHECK(exec(st, bump), step);
        SQL_CHECK(exec(st, "COMMIT"), step);
    }
fail:
    rollback(st);
    return -1;
}

/* Opens, checks and migrates; see the order at the top of this file. */
static struct store *open_store(const char *path, int check, char *err, size_t n)
{
    struct store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        snprintf(err, n, "%s: out of memory", path);
        free(st);
        return NULL;
    }
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, n, "%s: cannot open database: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    if (probe(st, err, n) != 0)
        goto fail;
    int v = store_user_version(st);
    if (v < 0) {
        snprintf(err, n, "%s: cannot read user_version: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    if (v > STORE_SCHEMA_VERSION) {
        snprintf(err, n, "%s: schema version %d is newer than this bench understands (%d); "
                 "use a newer seqbench", path, v, STORE_SCHEMA_VERSION);
        goto fail;
    }
    /* READWRITE on a file we may not write opens it read-only, silently. */
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        snprintf(err, n, "%s: database is read-only", path);
        goto fail;
    }
    if ((check && quick_check(st, err, n) != 0) || set_pragmas(st, err, n) != 0 ||
        migrate(st, err, n) != 0)
        goto fail;
    return st;
fail:
    store_close(st);
    return NULL;
}

struct store *store_open(const char *path, char *err, size_t n)
{
    return open_store(path, 1, err, n);
}

struct store *store_open_checked_by_parent(const char *path, char *err, size_t n)
{
    return open_store(path, 0, err, n);
}

/* Closes the handle (all statements are finalized by their functions, so
 * sqlite3_close cannot be busy) and frees st. NULL is a no-op. */
void store_close(struct store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st->path);
    free(st);
}

/* The underlying handle, owned by st. */
struct sqlite3 *store_db(struct store *st)
{
    return st->db;
}

/* ---- runs --------------------------------------------------------------- */

/* Inserts one runs row (a single statement, so atomic without BEGIN). A NULL
 * run_uid is generated, a NULL started_at is now. On success *run_id is the
 * row's id. */
int store_begin_run(struct store *st, const struct run_record *r, int64_t *run_id, char *err,
                    size_t n)
{
    static const char sql[] =
        "INSERT INTO runs (run_uid, started_at, suite, command, seqbench_version, git_commit,"
        " build_flags, hostname, cpu_model, cpu_threads, device, gpu_name, gpu_uuid, gpu_sms,"
        " gpu_cc, gpu_mem_bytes, gpu_l2_bytes, gpu_clock_khz, driver_version, runtime_version,"
        " peak_tflops, peak_gbps, env_json, driver_release, cublas_version, nvcc_version,"
        " input_version, gpu_sm_clock_mhz, gpu_mem_clock_mhz, gpu_max_sm_clock_mhz,"
        " gpu_default_sm_clock_mhz, clocks_locked, power_limit_w, temperature_c, ecc_enabled,"
        " mig_enabled, persistence_enabled, throttle_reasons, nvml_why, calibration_json, config)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *s = NULL;
    char uid[2 * RUN_UID_BYTES + 1], started[32];
    if (!r->run_uid && random_uid(uid) != 0) {
        snprintf(err, n, "%s: begin run: no random bytes for run_uid: %s", st->path, strerror(errno));
        return -1;
    }
    now_iso(started, sizeof started);
    SQL_CHECK(begin_write(st, "beginning a run"), "begin run: begin");
    SQL_CHECK(sqlite3_prepare_v2(st->db, sql, -1, &s, NULL), "begin run: prepare");
    struct binder b = { .s = s };
    bind_text(&b, r->run_uid ? r->run_uid : uid);
    bind_text(&b, r->started_at ? r->started_at : started);
    bind_text(&b, r->suite);
    bind_text(&b, r->command);
    bind_text(&b, r->seqbench_version);
    bind_text(&b, r->git_commit);
    bind_text(&b, r->build_flags);
    bind_text(&b, r->hostname);
    bind_text(&b, r->cpu_model);
    bind_int64(&b, r->cpu_threads);
    bind_text(&b, r->device);
    bind_text(&b, r->gpu_name);
    bind_text(&b, r->gpu_uuid);
    bind_int64(&b, r->gpu_sms);
    bind_text(&b, r->gpu_cc);
    bind_int64(&b, r->gpu_mem_bytes);
    bind_int64(&b, r->gpu_l2_bytes);
    bind_int64(&b, r->gpu_clock_khz);
    bind_int64(&b, r->driver_version);
    bind_int64(&b, r->runtime_version);
    bind_real(&b, r->peak_tflops);
    bind_real(&b, r->peak_gbps);
    bind_text(&b, r->env_json);
    bind_text(&b, r->driver_release);
    bind_text(&b, r->cublas_version);
    bind_text(&b, r->nvcc_version);
    bind_int64(&b, r->input_version);
    bind_int64_or_null(&b, r->gpu_sm_clock_mhz);
    bind_int64_or_null(&b, r->gpu_mem_clock_mhz);
    bind_int64_or_null(&b, r->gpu_max_sm_clock_mhz);
    bind_int64_or_null(&b, r->gpu_default_sm_clock_mhz);
    bind_int64_or_null(&b, r->clocks_locked);
    bind_real(&b, r->power_limit_w);
    bind_int64_or_null(&b, r->temperature_c);
    bind_int64_or_null(&b, r->ecc_enabled);
    bind_int64_or_null(&b, r->mig_enabled);
    bind_int64_or_null(&b, r->persistence_enabled);
    bind_int64_or_null(&b, r->throttle_reasons);
    bind_text(&b, r->nvml_why);
    bind_text(&b, r->calibration_json);
    bind_text(&b, r->config);
    SQL_CHECK(bind_done(&b), "begin run: bind");
    SQL_CHECK(sqlite3_step(s), "begin run: insert");
    *run_id = sqlite3_last_insert_rowid(st->db);
    sqlite3_finalize(s);
    s = NULL;
    SQL_CHECK(exec(st, "COMMIT"), "begin run: commit");
    return 0;
fail:
    sqlite3_finalize(s);
    rollback(st);
    return -1;
}

/* Sets finished_at = now on run run_id; -1 if there is no such run. */
int store_finish_run(struct store *st, int64_t run_id, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    char now[32];
    now_iso(now, sizeof now);
    SQL_CHECK(begin_write(st, "finishing the run"), "finish run: begin");
    SQL_CHECK(sqlite3_prepare_v2(st->db, "UPDATE runs SET finished_at = ? WHERE id = ?", -1, &s, NULL),
              "finish run: prepare");
    struct binder b = { .s = s };
    bind_text(&b, now);
    bind_int64(&b, run_id);
    SQL_CHECK(bind_done(&b), "finish run: bind");
    SQL_CHECK(sqlite3_step(s), "finish run: update");
    if (sqlite3_changes(st->db) != 1) {
        snprintf(err, n, "%s: finish run: no run with id %lld", st->path, (long long)run_id);
        goto fail;
    }
    sqlite3_finalize(s);
    s = NULL;
    SQL_CHECK(exec(st, "COMMIT"), "finish run: commit");
    return 0;
fail:
    sqlite3_finalize(s);
    rollback(st);
    return -1;
}

int store_find_unfinished(struct store *st, const char *config, int64_t *run_id, char *uid,
                          size_t uid_n, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    SQL_CHECK(sqlite3_prepare_v2(st->db, "SELECT id, run_uid FROM runs WHERE config = ?"
                                 " AND finished_at IS NULL ORDER BY id DESC LIMIT 1", -1, &s, NULL),
              "find unfinished run: prepare");
    struct binder b = { .s = s };
    bind_text(&b, config);
    SQL_CHECK(bind_done(&b), "find unfinished run: bind");
    int rc = sqlite3_step(s);
    SQL_CHECK(rc, "find unfinished run");
    if (rc == SQLITE_ROW) {
        *run_id = sqlite3_column_int64(s, 0);
        snprintf(uid, uid_n, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW;
fail:
    sqlite3_finalize(s);
    return -1;
}

int store_find_result(struct store *st, int64_t run_id, const char *case_str, int64_t *result_id,
                      char *status, size_t sn, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    SQL_CHECK(sqlite3_prepare_v2(st->db, "SELECT id, status FROM results WHERE run_id = ?"
                                 " AND case_str = ?", -1, &s, NULL), "find result: prepare");
    struct binder b = { .s = s };
    bind_int64(&b, run_id);
    bind_text(&b, case_str);
    SQL_CHECK(bind_done(&b), "find result: bind");
    int rc = sqlite3_step(s);
    SQL_CHECK(rc, "find result");
    if (rc == SQLITE_ROW) {
        *result_id = sqlite3_column_int64(s, 0);
        if (status)
            snprintf(status, sn, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW;
fail:
    sqlite3_finalize(s);
    return -1;
}

/* ---- results ------------------------------------------------------------ */

/* 1 when status is one the results CHECK constraint accepts. */
static int status_valid(const char *s)
{
    return s && (status_is_ok(s) || strcmp(s, "mismatch") == 0 || strcmp(s, "oom") == 0 ||
                 strncmp(s, "skipped: ", 9) == 0 || strncmp(s, "error: ", 7) == 0);
}

int status_is_ok(const char *s)
{
    return s && (strcmp(s, "ok") == 0 || strncmp(s, "ok: ", 4) == 0);
}

int status_is_reliable(const char *s)
{
    return s && strcmp(s, "ok") == 0;
}

/* What can be refused before touching the database: the status, the sample
 * count (it is also the n_samples column, so the two must agree) and NaN
 * samples (samples.ms is NOT NULL). Returns 0, or -1 with err set. */
static int validate_result(const struct store *st, const struct result_record *r,
                           const double *samples_ms, int n_samples, char *err, size_t n)
{
    if (!status_valid(r->status)) {
        snprintf(err, n, "%s: insert result: status '%s' is not ok, 'ok: ...', mismatch, "
                 "oom, 'skipped: ...' or 'error: ...'", st->path, r->status ? r->status : "(null)");
        return -1;
    }
    if (n_samples < 0 || n_samples != r->n_samples || (n_samples > 0 && !samples_ms)) {
        snprintf(err, n, "%s: insert result: %d samples given but n_samples is %d", st->path,
                 n_samples, r->n_samples);
        return -1;
    }
    if (r->n_kernels < 0 || (r->n_kernels > 0 && !r->kernels)) {
        snprintf(err, n, "%s: insert result: %d kernels given without rows", st->path, r->n_kernels);
        return -1;
    }
    for (int k = 0; k < n_samples; k++)
        if (isnan(samples_ms[k])) {
            snprintf(err, n, "%s: insert result: sample %d is NaN", st->path, k);
            return -1;
        }
    return 0;
}

/* Binds every results column in the order of the INSERT in
 * store_insert_result. -1 sentinels (footprint_bytes unknown, l2_flush not
 * applicable) are stored as NULL, like NaN doubles. seed is stored as its
 * int64 bit pattern (SQLite integers are signed); read it back with
 * (uint64_t)sqlite3_column_int64. */
static int bind_result(sqlite3_stmt *s, int64_t run_id, const char *created_at,
                       const struct result_record *r)
{
    struct binder b = { .s = s };
    bind_int64(&b, run_id);
    bind_text(&b, created_at);
    bind_text(&b, r->case_str);
    bind_text(&b, r->case_key);
    bind_text(&b, r->family);
    bind_text(&b, r->impl);
    bind_text(&b, r->device);
    bind_text(&b, r->dtype);
    bind_int64(&b, r->B);
    bind_int64(&b, r->N);
    bind_int64(&b, r->Nk);
    bind_int64(&b, r->H);
    bind_int64(&b, r->Hkv);
    bind_int64(&b, r->D);
    bind_int64(&b, r->Dv);
    bind_int64(&b, r->causal);
    bind_text(&b, r->status);
    bind_text(&b, r->error);
    bind_real(&b, r->rel_err);
    bind_real(&b, r->max_abs_err);
    bind_int64(&b, r->rows_checked);
    bind_int64(&b, r->rows_total);
    bind_real(&b, r->flops);
    bind_real(&b, r->min_bytes);
    bind_int64_or_null(&b, r->footprint_bytes);
    bind_real(&b, r->median_ms);
    bind_real(&b, r->min_ms);
    bind_real(&b, r->p10_ms);
    bind_real(&b, r->p90_ms);
    bind_real(&b, r->mean_ms);
    bind_real(&b, r->stdev_ms);
    bind_int64(&b, r->n_samples);
    bind_real(&b, r->tflops);
    bind_real(&b, r->gbps);
    bind_real(&b, r->pct_peak);
    bind_int64_or_null(&b, r->l2_flush);
    bind_int64(&b, (int64_t)r->seed);
    bind_real(&b, r->kernel_ms);
    bind_text(&b, r->shape_json);
    bind_real(&b, r->flops_minimal);
    bind_real(&b, r->noise);
    bind_text(&b, r->stop_reason);
    bind_text(&b, r->timing);
    bind_real(&b, r->pct_bound);
    bind_real(&b, r->pct_compute);
    bind_real(&b, r->pct_bandwidth);
    bind_text(&b, r->bound);
    bind_real(&b, r->roof_flops);
    bind_real(&b, r->roof_bytes_s);
    bind_real(&b, r->flops_executed);
    bind_real(&b, r->worst_rel_err);
    bind_int64_or_null(&b, r->worst_row);
    bind_int64_or_null(&b, r->worst_head);
    bind_real(&b, r->validate_s);
    bind_real(&b, r->recheck_rel_err);
    bind_text(&b, r->impl_info);
    bind_real(&b, r->dram_read_bytes);
    bind_real(&b, r->dram_write_bytes);
    bind_real(&b, r->l2_bytes);
    bind_real(&b, r->tensor_util_pct);
    bind_real(&b, r->dram_pct);
    bind_text(&b, r->counters_json);
    bind_text(&b, r->counters_why);
    bind_real(&b, r->energy_j_per_op);
    bind_real(&b, r->power_w);
    bind_text(&b, r->energy_why);
    bind_int64_or_null(&b, r->throttled_samples);
    bind_int64_or_null(&b, r->throttle_reasons);
    bind_real(&b, r->sm_clock_mhz);
    bind_int64_or_null(&b, r->footprint_predicted);
    bind_int64_or_null(&b, r->pool_peak_bytes);
    bind_int64_or_null(&b, r->meminfo_bytes);
    bind_int64_or_null(&b, r->host_peak_bytes);
    bind_real(&b, r->pct_bound_measured);
    bind_real(&b, r->roof_flops_measured);
    bind_real(&b, r->roof_bytes_s_measured);
    bind_int64_or_null(&b, r->started_at_ms ? r->started_at_ms : -1);
    bind_int64_or_null(&b, r->finished_at_ms ? r->finished_at_ms : -1);
    return bind_done(&b);
}

/* Inserts the result and its samples (idx 0..n_samples-1) in one BEGIN
 * IMMEDIATE transaction, after deleting result replace_id (when not 0):
 * either all of it is stored or, on any failure, nothing (rolled back) and
 * err names the failing step. */
static int insert_result(struct store *st, int64_t run_id, int64_t replace_id,
                         const struct result_record *r, const double *samples_ms, int n_samples,
                         char *err, size_t n)
{
    static const char result_sql[] =
        "INSERT INTO results (run_id, created_at, case_str, case_key, family, impl, device, dtype,"
        " B, N, Nk, H, Hkv, D, Dv, causal, status, error, rel_err, max_abs_err, rows_checked,"
        " rows_total, flops, min_bytes, footprint_bytes, median_ms, min_ms, p10_ms, p90_ms,"
        " mean_ms, stdev_ms, n_samples, tflops, gbps, pct_peak, l2_flush, seed, kernel_ms,"
        " shape_json, flops_minimal, noise, stop_reason, timing, pct_bound, pct_compute,"
        " pct_bandwidth, bound, roof_flops, roof_bytes_s, flops_executed, worst_rel_err,"
        " worst_row, worst_head, validate_s, recheck_rel_err, impl_info, dram_read_bytes,"
        " dram_write_bytes, l2_bytes, tensor_util_pct, dram_pct, counters_json, counters_why,"
        " energy_j_per_op, power_w, energy_why, throttled_samples, throttle_reasons, sm_clock_mhz,"
        " footprint_predicted, pool_peak_bytes, meminfo_bytes, host_peak_bytes, pct_bound_measured,"
        " roof_flops_measured, roof_bytes_s_measured, started_at, finished_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
        "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    static const char sample_sql[] = "INSERT INTO samples (result_id, idx, ms) VALUES (?, ?, ?)";
    static const char kernel_sql[] =
        "INSERT INTO kernels (result_id, idx, name, grid, block, registers, shared_bytes,"
        " duration_ns, count) VALUES (?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *s = NULL, *smp = NULL, *ker = NULL;
    char now[32];
    if (validate_result(st, r, samples_ms, n_samples, err, n) != 0)
        return -1;
    now_iso(now, sizeof now);
    SQL_CHECK(begin_write(st, "storing a result"), "insert result: begin");
    if (replace_id) {
        SQL_CHECK(sqlite3_prepare_v2(st->db, "DELETE FROM results WHERE id = ? AND run_id = ?", -1,
                                     &s, NULL), "replace result: prepare");
        struct binder b = { .s = s };
        bind_int64(&b, replace_id);
        bind_int64(&b, run_id);
        SQL_CHECK(bind_done(&b), "replace result: bind");
        SQL_CHECK(sqlite3_step(s), "replace result: delete");
        if (sqlite3_changes(st->db) != 1) {
            snprintf(err, n, "%s: replace result: run %lld has no result %lld", st->path,
                     (long long)run_id, (long long)replace_id);
            goto fail;
        }
        sqlite3_finalize(s);
        s = NULL;
    }
    SQL_CHECK(sqlite3_prepare_v2(st->db, result_sql, -1, &s, NULL), "insert result: prepare");
    SQL_CHECK(bind_result(s, run_id, now, r), "insert result: bind");
    SQL_CHECK(sqlite3_step(s), "insert result");
    int64_t result_id = sqlite3_last_insert_rowid(st->db);

    SQL_CHECK(sqlite3_prepare_v2(st->db, sample_sql, -1, &smp, NULL), "insert samples: prepare");
    for (int k = 0; k < n_samples; k++) {
        struct binder b = { .s = smp };
        bind_int64(&b, result_id);
        bind_int64(&b, k);
        bind_real(&b, samples_ms[k]);
        SQL_CHECK(bind_done(&b), "insert sample: bind");
        SQL_CHECK(sqlite3_step(smp), "insert sample");
        sqlite3_reset(smp);
        sqlite3_clear_bindings(smp);
    }
    if (r->n_kernels > 0)
        SQL_CHECK(sqlite3_prepare_v2(st->db, kernel_sql, -1, &ker, NULL), "insert kernels: prepare");
    for (int k = 0; k < r->n_kernels; k++) {
        const struct kernel_row *kr = &r->kernels[k];
        char grid[64], block[64];
        snprintf(grid, sizeof grid, "%dx%dx%d", kr->grid[0], kr->grid[1], kr->grid[2]);
        snprintf(block, sizeof block, "%dx%dx%d", kr->block[0], kr->block[1], kr->block[2]);
        struct binder b = { .s = ker };
        bind_int64(&b, result_id);
        bind_int64(&b, k);
        bind_text(&b, kr->name ? kr->name : "?");
        bind_text(&b, grid);
        bind_text(&b, block);
        bind_int64(&b, kr->registers);
        bind_int64(&b, kr->shared_bytes);
        bind_real(&b, kr->duration_ns);
        bind_real(&b, kr->count);
        SQL_CHECK(bind_done(&b), "insert kernel: bind");
        SQL_CHECK(sqlite3_step(ker), "insert kernel");
        sqlite3_reset(ker);
        sqlite3_clear_bindings(ker);
    }
    sqlite3_finalize(s);
    sqlite3_finalize(smp);
    sqlite3_finalize(ker);
    s = smp = ker = NULL;
    SQL_CHECK(exec(st, "COMMIT"), "insert result: commit");
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_finalize(smp);
    sqlite3_finalize(ker);
    rollback(st);
    return -1;
}

int store_insert_result(struct store *st, int64_t run_id, const struct result_record *r,
                        const double *samples_ms, int n_samples, char *err, size_t n)
{
    return insert_result(st, run_id, 0, r, samples_ms, n_samples, err, n);
}

int store_replace_result(struct store *st, int64_t run_id, int64_t replace_id,
                         const struct result_record *r, const double *samples_ms, int n_samples,
                         char *err, size_t n)
{
    return insert_result(st, run_id, replace_id, r, samples_ms, n_samples, err, n);
}

/* ---- reading a result back ---------------------------------------------- */

/* The columns store_load_result reads, in SELECT order, and where each goes:
 * a string (into the text buffer), a double (NULL: NAN) or an integer (NULL:
 * -1, or 0 for the ms times). One table, so the SELECT and the reading
 * cannot drift apart. */
enum load_kind { LK_TEXT, LK_REAL, LK_INT, LK_INT32, LK_MS };
struct load_col {
    const char *name;
    enum load_kind kind;
    size_t offset;              /* in struct result_record */
};
#define LC(name, kind) { #name, kind, offsetof(struct result_record, name) }
static const struct load_col load_cols[] = {
    LC(case_str, LK_TEXT), LC(case_key, LK_TEXT), LC(family, LK_TEXT), LC(impl, LK_TEXT),
    LC(device, LK_TEXT), LC(dtype, LK_TEXT), LC(status, LK_TEXT), LC(error, LK_TEXT),
    LC(timing, LK_TEXT), LC(stop_reason, LK_TEXT), LC(bound, LK_TEXT), LC(impl_info, LK_TEXT),
    LC(rel_err, LK_REAL), LC(max_abs_err, LK_REAL), LC(flops, LK_REAL), LC(min_bytes, LK_REAL),
    LC(median_ms, LK_REAL), LC(min_ms, LK_REAL), LC(p10_ms, LK_REAL), LC(p90_ms, LK_REAL),
    LC(mean_ms, LK_REAL), LC(stdev_ms, LK_REAL), LC(tflops, LK_REAL), LC(gbps, LK_REAL),
    LC(pct_peak, LK_REAL), LC(noise, LK_REAL), LC(pct_bound, LK_REAL), LC(pct_compute, LK_REAL),
    LC(pct_bandwidth, LK_REAL), LC(roof_flops, LK_REAL), LC(roof_bytes_s, LK_REAL),
    LC(flops_executed, LK_REAL), LC(flops_minimal, LK_REAL), LC(worst_rel_err, LK_REAL),
    LC(validate_s, LK_REAL), LC(recheck_rel_err, LK_REAL), LC(kernel_ms, LK_REAL),
    LC(rows_checked, LK_INT), LC(rows_total, LK_INT), LC(footprint_bytes, LK_INT),
    LC(worst_row, LK_INT), LC(worst_head, LK_INT), LC(n_samples, LK_INT32),
    LC(dram_read_bytes, LK_REAL), LC(dram_write_bytes, LK_REAL), LC(l2_bytes, LK_REAL),
    LC(tensor_util_pct, LK_REAL), LC(dram_pct, LK_REAL), LC(counters_json, LK_TEXT),
    LC(counters_why, LK_TEXT), LC(energy_j_per_op, LK_REAL), LC(power_w, LK_REAL),
    LC(energy_why, LK_TEXT), LC(throttled_samples, LK_INT32), LC(throttle_reasons, LK_INT),
    LC(sm_clock_mhz, LK_REAL), LC(footprint_predicted, LK_INT), LC(pool_peak_bytes, LK_INT),
    LC(meminfo_bytes, LK_INT), LC(host_peak_bytes, LK_INT), LC(pct_bound_measured, LK_REAL),
    LC(roof_flops_measured, LK_REAL), LC(roof_bytes_s_measured, LK_REAL),
    LC(started_at_ms, LK_MS), LC(finished_at_ms, LK_MS),
};
#undef LC
#define N_LOAD_COLS ((int)(sizeof load_cols / sizeof load_cols[0]))

/* The SELECT reads started_at_ms from the column started_at (and so on). */
static const char *column_of(const char *field)
{
    return strcmp(field, "started_at_ms") == 0 ? "started_at"
           : strcmp(field, "finished_at_ms") == 0 ? "finished_at" : field;
}

int store_load_result(struct store *st, int64_t result_id, struct result_record *r, char *text,
                      size_t text_n, char *err, size_t n)
{
    char sql[2400];
    size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT ");
    for (int c = 0; c < N_LOAD_COLS; c++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s\"%s\"", c ? ", " : "",
                                column_of(load_cols[c].name));
    snprintf(sql + len, sizeof sql - len, " FROM results WHERE id = ?");
    sqlite3_stmt *s = NULL;
    memset(r, 0, sizeof *r);
    SQL_CHECK(sqlite3_prepare_v2(st->db, sql, -1, &s, NULL), "load result: prepare");
    SQL_CHECK(sqlite3_bind_int64(s, 1, result_id), "load result: bind");
    int rc = sqlite3_step(s);
    SQL_CHECK(rc, "load result");
    if (rc != SQLITE_ROW) {
        snprintf(err, n, "%s: load result: no result %lld", st->path, (long long)result_id);
        goto fail;
    }
    size_t used = 0;
    for (int c = 0; c < N_LOAD_COLS; c++) {
        void *dst = (char *)r + load_cols[c].offset;
        int null = sqlite3_column_type(s, c) == SQLITE_NULL;
        switch (load_cols[c].kind) {
        case LK_TEXT: {
            const char *v = (const char *)sqlite3_column_text(s, c);
            size_t vl = v ? strlen(v) + 1 : 0;
            *(const char **)dst = NULL;
            if (v && used + vl <= text_n) {
                memcpy(text + used, v, vl);
                *(const char **)dst = text + used;
                used += vl;
            }
            break;
        }
        case LK_REAL:
            *(double *)dst = null ? NAN : sqlite3_column_double(s, c);
            break;
        case LK_INT:
            *(int64_t *)dst = null ? -1 : sqlite3_column_int64(s, c);
            break;
        case LK_INT32:
            *(int *)dst = null ? 0 : sqlite3_column_int(s, c);
            break;
        case LK_MS:
            *(int64_t *)dst = null ? 0 : sqlite3_column_int64(s, c);
            break;
        }
    }
    r->l2_flush = -1;
    sqlite3_finalize(s);
    /* The per-kernel rows are counted, not read (a table line says how many). */
    s = NULL;
    SQL_CHECK(sqlite3_prepare_v2(st->db, "SELECT count(*) FROM kernels WHERE result_id = ?", -1, &s,
                                 NULL), "load result: kernels");
    SQL_CHECK(sqlite3_bind_int64(s, 1, result_id), "load result: kernels");
    if (sqlite3_step(s) == SQLITE_ROW)
        r->n_kernels = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return 0;
fail:
    sqlite3_finalize(s);
    return -1;
}
