/*
 * resultset.c — see resultset.h. Nothing here writes: the handle is opened
 * with SQLITE_OPEN_READONLY, so even a WAL database is read without being
 * checkpointed or migrated.
 *
 * A WAL database opened read-only still gets a -shm (and an empty -wal)
 * created beside it, which litters a checkout's results/baselines/ and fails
 * on a read-only mount. So when no -wal with content is there (a finished
 * database: bench checkpoints on close), the file is opened immutable: no
 * side files, no locks. The cost: a bench that starts writing the same file
 * while we read it could make the read fail; compare, merge and export read
 * finished databases.
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "resultset.h"
#include "store.h"

#define RS_BUSY_TIMEOUT_MS 5000     /* a bench writing the file makes us wait, not fail */

#define LATEST_IDS(where)                                                                   \
    "SELECT id FROM (SELECT r.id AS id, row_number() OVER (PARTITION BY r.case_str"          \
    " ORDER BY u.started_at DESC, u.id DESC) AS k FROM results r JOIN runs u ON u.id = r.run_id" \
    where ") WHERE k = 1"

const char *rs_latest_ids_sql(int include_unfinished)
{
    return include_unfinished ? LATEST_IDS("") : LATEST_IDS(" WHERE u.finished_at IS NOT NULL");
}

int rs_unfinished_runs(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM runs WHERE finished_at IS NULL", -1, &s,
                           NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

const struct rs_env_field rs_env_fields[RS_ENV_COUNT] = {
    [RS_HOST] = { "hostname", "host" },
    [RS_CPU] = { "cpu_model", "CPU" },
    [RS_GPU] = { "gpu_name", "GPU" },
    [RS_GPU_UUID] = { "gpu_uuid", "GPU UUID" },
    [RS_DRIVER_RELEASE] = { "driver_release", "NVIDIA driver" },
    [RS_DRIVER_API] = { "driver_version", "CUDA driver API" },
    [RS_RUNTIME_API] = { "runtime_version", "CUDA runtime API" },
    [RS_CUBLAS] = { "cublas_version", "cuBLAS" },
    [RS_NVCC] = { "nvcc_version", "nvcc" },
    [RS_COMMIT] = { "git_commit", "commit" },
    [RS_INPUT_VERSION] = { "input_version", "input version" },
};

static int same_text(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

int rs_same_machine(const struct rs_run *a, const struct rs_run *b)
{
    for (int f = 0; f < RS_MACHINE_FIELDS; f++)
        if (!same_text(a->env[f], b->env[f]))
            return 0;
    return 1;
}

int rs_input_version(const struct rs_run *r)
{
    const char *v = r->env[RS_INPUT_VERSION];
    return v ? atoi(v) : 0;
}

int rs_user_version(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The first read: SQLite parses the header here, so a file that is not a
 * database fails now. Returns 0, or -1 with err set. */
static int probe(sqlite3 *db, const char *path, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return 0;
    int code = sqlite3_errcode(db) & 0xff;
    if (code == SQLITE_NOTADB)
        snprintf(err, n, "%s: not a SQLite database", path);
    else if (code == SQLITE_CORRUPT)
        snprintf(err, n, "%s: corrupt SQLite database (%s)", path, sqlite3_errmsg(db));
    else
        snprintf(err, n, "%s: cannot read database: %s", path, sqlite3_errmsg(db));
    return -1;
}

static int has_table(sqlite3 *db, const char *table)
{
    sqlite3_stmt *s = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC) == SQLITE_OK)
        found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

/* The schema checks after the file opened as SQLite: a version this build
 * knows, and the three tables. Returns 0, or -1 with err set. */
static int check_schema(sqlite3 *db, const char *path, char *err, size_t n)
{
    static const char *const tables[] = { "runs", "results", "samples" };
    int v = rs_user_version(db);
    if (v > STORE_SCHEMA_VERSION) {
        snprintf(err, n, "%s: schema version %d is newer than this bench understands (%d); "
                 "use a newer seqbench", path, v, STORE_SCHEMA_VERSION);
        return -1;
    }
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (!has_table(db, tables[i])) {
            snprintf(err, n, "%s: not a seqbench database (no %s table)", path, tables[i]);
            return -1;
        }
    if (v < 1) {
        snprintf(err, n, "%s: not a seqbench database (user_version %d)", path, v);
        return -1;
    }
    return 0;
}

/* 1 when path-wal exists with content: a database still in use or not
 * checkpointed, which must be read through its WAL. */
static int has_live_wal(const char *path)
{
    char wal[4096];
    struct stat sb;
    snprintf(wal, sizeof wal, "%s-wal", path);
    return stat(wal, &sb) == 0 && sb.st_size > 0;
}

/* "file:PATH?immutable=1" with every byte of PATH outside [A-Za-z0-9/._~-]
 * percent-encoded (RFC 3986), so ? # % in a name stay part of it. Returns
 * 0, or -1 when it does not fit. */
static int immutable_uri(const char *path, char *uri, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = (size_t)snprintf(uri, n, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p && k + 4 < n; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("/._~-", *p))
            uri[k++] = (char)*p;
        else {
            uri[k++] = '%';
            uri[k++] = hex[*p >> 4];
            uri[k++] = hex[*p & 15];
        }
    }
    uri[k] = 0;
    return k + sizeof "?immutable=1" <= n ? (strcat(uri, "?immutable=1"), 0) : -1;
}

struct sqlite3 *rs_open(const char *path, char *err, size_t n)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, n, "%s: %s", path, errno == ENOENT ? "no such file" : strerror(errno));
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, n, "%s: not a regular file", path);
        return NULL;
    }
    sqlite3 *db = NULL;
    char uri[8192];
    int immutable = !has_live_wal(path) && immutable_uri(path, uri, sizeof uri) == 0;
    if (sqlite3_open_v2(immutable ? uri : path, &db,
                        SQLITE_OPEN_READONLY | (immutable ? SQLITE_OPEN_URI : 0), NULL) != SQLITE_OK) {
        snprintf(err, n, "%s: cannot open database: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, RS_BUSY_TIMEOUT_MS);
    if (probe(db, path, err, n) != 0 || check_schema(db, path, err, n) != 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int rs_columns(sqlite3 *db, const char *table, char **names, int max)
{
    sqlite3_stmt *s = NULL;
    int k = 0;
    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", -1, &s,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(s);
        return 0;
    }
    while (k < max && sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (name && (names[k] = strdup(name)))
            k++;
    }
    sqlite3_finalize(s);
    return k;
}

int rs_has_column(sqlite3 *db, const char *table, const char *col)
{
    char *names[256];
    int k = rs_columns(db, table, names, 256), found = 0;
    for (int i = 0; i < k; i++) {
        found |= strcmp(names[i], col) == 0;
        free(names[i]);
    }
    return found;
}

static char *dup_col(sqlite3_stmt *s, int c)
{
    const unsigned char *t = sqlite3_column_text(s, c);
    return strdup(t ? (const char *)t : "");
}

/* Appends every sample of r (ordered by idx) using the prepared statement
 * smp (one parameter: result_id). Returns 0, or -1 when out of memory or the
 * read fails. */
static int load_samples(sqlite3_stmt *smp, struct rs_result *r)
{
    int cap = 0, rc;
    sqlite3_reset(smp);
    if (sqlite3_bind_int64(smp, 1, r->id) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(smp)) == SQLITE_ROW) {
        if (r->n_samples == cap) {
            cap = cap ? 2 * cap : 64;
            double *grown = realloc(r->samples, (size_t)cap * sizeof *grown);
            if (!grown)
                return -1;
            r->samples = grown;
        }
        r->samples[r->n_samples++] = sqlite3_column_double(smp, 0);
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A text column, or NULL when SQL NULL; *oom set when the copy fails. */
static char *dup_or_null(sqlite3_stmt *s, int c, int *oom)
{
    const unsigned char *t = sqlite3_column_text(s, c);
    char *d = t ? strdup((const char *)t) : NULL;
    *oom |= t && !d;
    return d;
}

/* The runs the loaded results come from (ordered by id), each column of
 * rs_env_fields that the schema has; a column it lacks reads as NULL.
 * Returns 0, or -1 when out of memory or the read fails. */
static int load_runs(sqlite3 *db, int include_unfinished, struct resultset *rs)
{
    char sql[2048];
    size_t k = (size_t)snprintf(sql, sizeof sql, "SELECT id");
    for (int f = 0; f < RS_ENV_COUNT; f++)
        k += (size_t)snprintf(sql + k, sizeof sql - k, ", %s",
                              rs_has_column(db, "runs", rs_env_fields[f].column)
                                  ? rs_env_fields[f].column : "NULL");
    snprintf(sql + k, sizeof sql - k, " FROM runs WHERE id IN (SELECT run_id FROM results"
             " WHERE id IN (%s)) ORDER BY id", rs_latest_ids_sql(include_unfinished));
    sqlite3_stmt *s = NULL;
    int rc, cap = 0, oom = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && !oom) {
        if (rs->n_runs == cap) {
            cap = cap ? 2 * cap : 8;
            struct rs_run *grown = realloc(rs->runs, (size_t)cap * sizeof *grown);
            if (!grown)
                break;
            rs->runs = grown;
        }
        struct rs_run *r = &rs->runs[rs->n_runs++];
        r->id = sqlite3_column_int64(s, 0);
        for (int f = 0; f < RS_ENV_COUNT; f++)
            r->env[f] = dup_or_null(s, 1 + f, &oom);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE && !oom ? 0 : -1;
}

/* Index into rs->runs of run id, or -1. */
static int run_index(const struct resultset *rs, int64_t id)
{
    int lo = 0, hi = rs->n_runs - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (rs->runs[mid].id == id)
            return mid;
        if (rs->runs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Appends one row of the results query to rs, growing it as needed. */
static int add_result(struct resultset *rs, int *cap, sqlite3_stmt *s)
{
    if (rs->n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        struct rs_result *grown = realloc(rs->r, (size_t)*cap * sizeof *grown);
        if (!grown)
            return -1;
        rs->r = grown;
    }
    struct rs_result *r = &rs->r[rs->n++];
    *r = (struct rs_result){
        .id = sqlite3_column_int64(s, 0),
        .run_uid = dup_col(s, 1),
        .case_str = dup_col(s, 2),
        .family = dup_col(s, 3),
        .status = dup_col(s, 4),
        .median_ms = sqlite3_column_type(s, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 5),
        .run = run_index(rs, sqlite3_column_int64(s, 6)),
    };
    int oom = 0;
    r->timing = dup_or_null(s, 7, &oom);
    return r->run_uid && r->case_str && r->family && r->status && r->run >= 0 && !oom ? 0 : -1;
}

int rs_load_latest(sqlite3 *db, const char *path, int include_unfinished, struct resultset *rs,
                   char *err, size_t n)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT r.id, u.run_uid, r.case_str, r.family, r.status, r.median_ms, u.id, %s"
             " FROM results r JOIN runs u ON u.id = r.run_id WHERE r.id IN (%s)"
             " ORDER BY r.case_str", rs_has_column(db, "results", "timing") ? "r.timing" : "NULL",
             rs_latest_ids_sql(include_unfinished));
    sqlite3_stmt *s = NULL, *smp = NULL;
    int cap = 0, rc = SQLITE_OK;
    *rs = (struct resultset){ 0 };
    if (load_runs(db, include_unfinished, rs) != 0 ||
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT ms FROM samples WHERE result_id = ?1 ORDER BY idx", -1,
                           &smp, NULL) != SQLITE_OK)
        goto fail;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (add_result(rs, &cap, s) != 0 || load_samples(smp, &rs->r[rs->n - 1]) != 0)
            goto fail;
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(s);
    sqlite3_finalize(smp);
    return 0;
fail:
    snprintf(err, n, "%s: cannot read results: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_finalize(smp);
    rs_free(rs);
    return -1;
}

void rs_free(struct resultset *rs)
{
    for (int i = 0; i < rs->n; i++) {
        free(rs->r[i].run_uid);
        free(rs->r[i].case_str);
        free(rs->r[i].family);
        free(rs->r[i].status);
        free(rs->r[i].timing);
        free(rs->r[i].samples);
    }
    for (int i = 0; i < rs->n_runs; i++)
        for (int f = 0; f < RS_ENV_COUNT; f++)
            free(rs->runs[i].env[f]);
    free(rs->runs);
    free(rs->r);
    *rs = (struct resultset){ 0 };
}
