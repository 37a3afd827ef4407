/*
 * report.c — reading results databases for `bench report`; see report.h.
 *
 * A database is opened SQLITE_OPEN_READONLY, so no check below can change
 * it. In order: the file exists; SQLite can read it (else "not a SQLite
 * database"); PRAGMA user_version is one this report knows (1..STORE_SCHEMA_VERSION); the runs
 * and results tables exist. Columns are selected by name from
 * pragma_table_info, so a column an older schema lacks (or an optional one
 * a newer schema adds) reads as NULL. The only SQL built with printf is the
 * column list, whose names come from the constant tables here.
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"
#include "resultset.h"
#include "store.h"

/* Columns read from runs, in the order of struct rp_run's fields below. */
enum { RC_STARTED, RC_FINISHED, RC_SUITE, RC_COMMAND, RC_VERSION, RC_COMMIT, RC_FLAGS, RC_HOST,
       RC_CPU, RC_DEVICE, RC_GPU, RC_CC, RC_THREADS, RC_SMS, RC_DRIVER, RC_RUNTIME, RC_PEAK_TF,
       RC_PEAK_GB, RC_SM_CLOCK, RC_MAX_CLOCK, RC_LOCKED, RC_TEMP, RC_ECC, RC_MIG, RC_PERSIST,
       RC_POWER, RC_NVML_WHY, RC_CALIBRATION, RC_N };
static const char *const run_cols[RC_N] = {
    "started_at", "finished_at", "suite", "command", "seqbench_version", "git_commit",
    "build_flags", "hostname", "cpu_model", "device", "gpu_name", "gpu_cc", "cpu_threads",
    "gpu_sms", "driver_version", "runtime_version", "peak_tflops", "peak_gbps",
    "gpu_sm_clock_mhz", "gpu_max_sm_clock_mhz", "clocks_locked", "temperature_c", "ecc_enabled",
    "mig_enabled", "persistence_enabled", "power_limit_w", "nvml_why", "calibration_json",
};

/* Columns read from results; the first four are required. */
enum { XC_CASE, XC_FAMILY, XC_IMPL, XC_STATUS, XC_KEY, XC_DEVICE, XC_DTYPE, XC_ERROR, XC_BOUND,
       XC_B, XC_N, XC_NK, XC_H, XC_HKV, XC_D, XC_DV, XC_CAUSAL, XC_REL, XC_FLOPS, XC_FLOPS_MIN,
       XC_BYTES, XC_FOOT, XC_MEDIAN, XC_TFLOPS, XC_GBPS, XC_PCT, XC_PCT_BOUND, XC_PCT_COMPUTE,
       XC_PCT_BW, XC_ROOF_FLOPS, XC_ROOF_BW, XC_FLOPS_EXEC, XC_SHAPE, XC_ID, XC_KERNEL_MS,
       XC_DRAM_READ, XC_DRAM_WRITE, XC_L2, XC_TENSOR, XC_DRAM_PCT, XC_ENERGY, XC_POWER,
       XC_PCT_MEASURED, XC_SM_CLOCK, XC_THROTTLED, XC_COUNTERS_WHY, XC_ENERGY_WHY, XC_N_COLS };
#define XC_REQUIRED 4
static const char *const result_cols[XC_N_COLS] = {
    "case_str", "family", "impl", "status", "case_key", "device", "dtype", "error", "bound", "B",
    "N", "Nk", "H", "Hkv", "D", "Dv", "causal", "rel_err", "flops", "flops_minimal", "min_bytes",
    "footprint_bytes", "median_ms", "tflops", "gbps", "pct_peak", "pct_bound", "pct_compute",
    "pct_bandwidth", "roof_flops", "roof_bytes_s", "flops_executed", "shape_json", "id",
    "kernel_ms", "dram_read_bytes", "dram_write_bytes", "l2_bytes", "tensor_util_pct", "dram_pct",
    "energy_j_per_op", "power_w", "pct_bound_measured", "sm_clock_mhz", "throttled_samples",
    "counters_why", "energy_why",
};
/* The row order of every table and figure: stable, and groups a family's
 * sweep by dtype, mask and shape with N ascending. */
static const char result_order[] =
    " ORDER BY family, dtype, causal, H, Hkv, D, Dv, N, Nk, B, impl, case_str";

/* ---- small readers ----------------------------------------------------- */

static char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static int64_t col_int(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, i);
}

static double col_real(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

/* A peak of 0 means unknown in the runs table. */
static double col_peak(sqlite3_stmt *s, int i)
{
    double v = col_real(s, i);
    return v > 0 ? v : NAN;
}

static void *grow_array(void *p, int count, size_t size)
{
    p = realloc(p, (size_t)(count + 1) * size);
    if (!p) {
        fputs("bench: out of memory\n", stderr);
        abort();
    }
    memset((char *)p + (size_t)count * size, 0, size);
    return p;
}

/* ---- checks ------------------------------------------------------------ */

/* The first read: a file that is not SQLite fails here. */
static int check_sqlite(sqlite3 *db, const char *path, int *version, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) {
        int code = sqlite3_errcode(db) & 0xff;
        snprintf(err, n, "%s: %s (%s)", path,
                 code == SQLITE_NOTADB ? "not a SQLite database" :
                 code == SQLITE_CORRUPT ? "corrupt SQLite database" : "cannot read database",
                 sqlite3_errmsg(db));
        return -1;
    }
    *version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return 0;
}

/* has[i] = 1 for each name in cols[] that table has. Returns the number of
 * columns the table has (0: no such table). */
static int table_columns(sqlite3 *db, const char *table, const char *const *cols, int n_cols,
                         int *has)
{
    sqlite3_stmt *s = NULL;
    int count = 0;
    memset(has, 0, (size_t)n_cols * sizeof *has);
    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?)", -1, &s, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        count++;
        for (int i = 0; i < n_cols; i++)
            if (name && strcmp(name, cols[i]) == 0)
                has[i] = 1;
    }
    sqlite3_finalize(s);
    return count;
}

/* "a, NULL, c": each wanted column, or NULL where the table lacks it. */
static void select_list(struct strbuf *sql, const char *const *cols, const int *has, int n_cols)
{
    for (int i = 0; i < n_cols; i++)
        sb_printf(sql, "%s%s", i ? ", " : "", has[i] ? cols[i] : "NULL");
}

/* ---- loading ----------------------------------------------------------- */

static void read_run(sqlite3_stmt *s, const char *path, struct rp_run *r)
{
    r->db = path;
    r->id = sqlite3_column_int64(s, 0);
    char **text[] = { &r->started_at, &r->finished_at, &r->suite, &r->command, &r->version,
                      &r->git_commit, &r->build_flags, &r->hostname, &r->cpu_model, &r->device,
                      &r->gpu_name, &r->gpu_cc };
    for (int i = 0; i <= RC_CC; i++)
        *text[i] = col_text(s, 1 + i);
    r->cpu_threads = col_int(s, 1 + RC_THREADS);
    r->gpu_sms = col_int(s, 1 + RC_SMS);
    r->driver_version = col_int(s, 1 + RC_DRIVER);
    r->runtime_version = col_int(s, 1 + RC_RUNTIME);
    r->peak_tflops = col_peak(s, 1 + RC_PEAK_TF);
    r->peak_gbps = col_peak(s, 1 + RC_PEAK_GB);
    int64_t *state[] = { &r->sm_clock_mhz, &r->max_sm_clock_mhz, &r->clocks_locked,
                         &r->temperature_c, &r->ecc, &r->mig, &r->persistence };
    for (int i = RC_SM_CLOCK; i <= RC_PERSIST; i++)
        *state[i - RC_SM_CLOCK] = col_int(s, 1 + i);
    r->power_limit_w = col_real(s, 1 + RC_POWER);
    r->nvml_why = col_text(s, 1 + RC_NVML_WHY);
    r->calibration_json = col_text(s, 1 + RC_CALIBRATION);
}

/* The shape fields beyond the fixed columns, from results.shape_json
 * ({"B":1,...,"gate":"key","state":1}; schema 3): "Hv=64 chunk=64 gate=key
 * state", empty when there are none or the column is absent. A shape with
 * no causal field is a recurrent family's, causal by definition: *causal
 * becomes 1 so its curves meet flash's causal ones. */
static char *shape_variant(const char *json, int64_t *causal)
{
    static const char *const fixed[] = { "B", "N", "Nk", "H", "Hkv", "D", "Dv", "causal" };
    struct strbuf v = { 0 };
    if (!json)
        return sb_take(&v);
    int has_causal = 0;
    for (const char *p = strchr(json, '"'); p; p = strchr(p, '"')) {
        char key[32] = "", val[32] = "";
        int used = 0;
        if (sscanf(p, "\"%31[^\"]\":%31[^,}]%n", key, val, &used) < 2 || used == 0)
            break;
        p += used;
        size_t k = 0;
        while (k < sizeof fixed / sizeof fixed[0] && strcmp(key, fixed[k]) != 0)
            k++;
        has_causal |= strcmp(key, "causal") == 0;
        if (k < sizeof fixed / sizeof fixed[0] || strcmp(val, "0") == 0)
            continue;                       /* a column already, or a flag that is off */
        char *q = val;
        if (*q == '"')
            q++, q[strcspn(q, "\"")] = 0;
        if (strcmp(key, "state") == 0)      /* flags read as their name */
            sb_printf(&v, "%s%s", v.len ? " " : "", key);
        else
            sb_printf(&v, "%s%s=%s", v.len ? " " : "", key, q);
    }
    if (!has_causal)
        *causal = 1;
    return sb_take(&v);
}

static void read_result(sqlite3_stmt *s, int run, struct rp_result *r)
{
    r->run = run;
    char **text[] = { &r->case_str, &r->family, &r->impl, &r->status, &r->case_key,
                      &r->device, &r->dtype, &r->error, &r->bound };
    for (int i = 0; i <= XC_BOUND; i++)
        *text[i] = col_text(s, i);
    int64_t *ints[] = { &r->B, &r->N, &r->Nk, &r->H, &r->Hkv, &r->D, &r->Dv, &r->causal };
    for (int i = XC_B; i <= XC_CAUSAL; i++)
        *ints[i - XC_B] = col_int(s, i);
    double *reals[] = { &r->rel_err, &r->flops, &r->flops_minimal, &r->min_bytes, &r->footprint,
                        &r->median_ms, &r->tflops, &r->gbps, &r->pct_peak, &r->pct_bound,
                        &r->pct_compute, &r->pct_bandwidth, &r->roof_flops, &r->roof_bytes_s,
                        &r->flops_executed };
    for (int i = XC_REL; i <= XC_FLOPS_EXEC; i++)
        *reals[i - XC_REL] = col_real(s, i);
    /* Before schema 4 the only % was of the compute roof (pct_peak). */
    if (isnan(r->pct_compute))
        r->pct_compute = r->pct_peak;
    char *shape = col_text(s, XC_SHAPE);
    r->variant = shape_variant(shape, &r->causal);
    free(shape);
    /* A GPU case timed warm or as a graph ends its case string with
     * " timing=MODE" (runcase.c): a series of its own, never a point on
     * the cold curve. */
    const char *timing = strstr(r->case_str, " timing=");
    if (timing) {
        struct strbuf v = { 0 };
        sb_printf(&v, "%s%s%s", r->variant, *r->variant ? " " : "", timing + 1);
        free(r->variant);
        r->variant = sb_take(&v);
    }
    if (!r->case_key)
        r->case_key = strdup(r->case_str);
    if (!r->dtype)
        r->dtype = strdup("?");
    r->id = col_int(s, XC_ID);
    double *prof[] = { &r->kernel_ms, &r->dram_read_bytes, &r->dram_write_bytes, &r->l2_bytes,
                       &r->tensor_util_pct, &r->dram_pct, &r->energy_j_per_op, &r->power_w,
                       &r->pct_bound_measured, &r->sm_clock_mhz };
    for (int i = XC_KERNEL_MS; i <= XC_SM_CLOCK; i++)
        *prof[i - XC_KERNEL_MS] = col_real(s, i);
    r->throttled_samples = col_int(s, XC_THROTTLED);
    r->counters_why = col_text(s, XC_COUNTERS_WHY);
    r->energy_why = col_text(s, XC_ENERGY_WHY);
}

/* The per-kernel breakdown of result r (schema 6; none before). */
static int load_kernels(sqlite3 *db, const char *path, struct rp_result *r, char *err, size_t n)
{
    sqlite3_stmt *s = NULL;
    if (r->id < 0 || sqlite3_prepare_v2(db, "SELECT name, grid, block, registers, shared_bytes,"
                                            " duration_ns, count FROM kernels WHERE result_id = ?"
                                            " ORDER BY idx", -1, &s, NULL) != SQLITE_OK)
        return 0;       /* no kernels table: an older database */
    int rc;
    sqlite3_bind_int64(s, 1, r->id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        r->kernels = grow_array(r->kernels, r->n_kernels, sizeof *r->kernels);
        struct rp_kernel *k = &r->kernels[r->n_kernels++];
        k->name = col_text(s, 0);
        k->grid = col_text(s, 1);
        k->block = col_text(s, 2);
        k->registers = col_int(s, 3);
        k->shared_bytes = col_int(s, 4);
        k->duration_ns = col_real(s, 5);
        k->count = col_real(s, 6);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        snprintf(err, n, "%s: reading kernels: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* Appends every result of run index `run` (runs.id = id) to rp. */
static int load_results(struct report *rp, sqlite3 *db, const char *path, int run, int64_t id,
                        const int *has, char *err, size_t n)
{
    struct strbuf sql = { 0 };
    sb_puts(&sql, "SELECT ");
    select_list(&sql, result_cols, has, XC_N_COLS);
    sb_printf(&sql, " FROM results WHERE run_id = ?%s", result_order);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sb_str(&sql), -1, &s, NULL);
    sb_free(&sql);
    if (rc != SQLITE_OK) {
        snprintf(err, n, "%s: reading results: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_int64(s, 1, id);
    const int first = rp->n_res;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        rp->res = grow_array(rp->res, rp->n_res, sizeof *rp->res);
        read_result(s, run, &rp->res[rp->n_res++]);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        snprintf(err, n, "%s: reading results: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    for (int i = first; i < rp->n_res; i++)
        if (load_kernels(db, path, &rp->res[i], err, n) != 0)
            return -1;
    return 0;
}

/* The runs run_sel picks from one database, each followed by its results. */
static int load_runs(struct report *rp, sqlite3 *db, const char *path, const char *run_sel,
                     int include_unfinished, char *err, size_t n)
{
    const char *finished = include_unfinished ? "" : " WHERE finished_at IS NOT NULL";
    int has_run[RC_N], has_res[XC_N_COLS];
    table_columns(db, "runs", run_cols, RC_N, has_run);
    table_columns(db, "results", result_cols, XC_N_COLS, has_res);
    struct strbuf sql = { 0 };
    sb_puts(&sql, "SELECT id, ");
    select_list(&sql, run_cols, has_run, RC_N);
    if (strcmp(run_sel, "all") == 0)
        sb_printf(&sql, " FROM runs%s ORDER BY id", finished);
    else if (strcmp(run_sel, "latest") == 0)
        sb_printf(&sql, " FROM runs%s ORDER BY id DESC LIMIT 1", finished);
    else
        sb_puts(&sql, " FROM runs WHERE id = ?");
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sb_str(&sql), -1, &s, NULL), found = 0;
    sb_free(&sql);
    if (rc != SQLITE_OK) {
        snprintf(err, n, "%s: reading runs: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (sqlite3_bind_parameter_count(s) == 1)
        sqlite3_bind_int64(s, 1, strtoll(run_sel, NULL, 10));
    while (sqlite3_step(s) == SQLITE_ROW) {
        rp->runs = grow_array(rp->runs, rp->n_runs, sizeof *rp->runs);
        struct rp_run *r = &rp->runs[rp->n_runs];
        read_run(s, path, r);
        char label[32];
        snprintf(label, sizeof label, "run %d", rp->n_runs + 1);
        r->label = strdup(label);
        found++;
        if (load_results(rp, db, path, rp->n_runs++, r->id, has_res, err, n) != 0) {
            sqlite3_finalize(s);
            return -1;
        }
    }
    sqlite3_finalize(s);
    if (!found) {
        int unfinished = include_unfinished ? 0 : rs_unfinished_runs(db);
        if (unfinished > 0 && (strcmp(run_sel, "latest") == 0 || strcmp(run_sel, "all") == 0))
            snprintf(err, n, "%s: no run finished (%d did not: killed or interrupted; "
                     "--include-unfinished reports them)", path, unfinished);
        else
            snprintf(err, n, "%s: %s", path, strcmp(run_sel, "latest") == 0 ||
                     strcmp(run_sel, "all") == 0 ? "the database holds no runs"
                                                 : "no run with that id (--run)");
        return -1;
    }
    return 0;
}

/* The URI the database is opened with. A WAL database that no connection
 * has open has no -wal file; a read-only connection would create -wal and
 * -shm beside it and, unable to checkpoint, leave them there. So such a file
 * is opened immutable (no locks, no side files): nothing else is using it.
 * When a -wal exists (a bench is writing, or crashed), the plain read-only
 * open reads what it holds. */
static void open_uri(const char *path, char *uri, size_t len)
{
    char wal[4200];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", path);
    int idle = stat(wal, &st) != 0;
    size_t k = (size_t)snprintf(uri, len, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p && k + 4 < len; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/._-", *p))
            uri[k++] = (char)*p;
        else
            k += (size_t)snprintf(uri + k, len - k, "%%%02X", *p);
    uri[k] = 0;
    if (idle)
        snprintf(uri + k, len - k, "?immutable=1");
}

/* Opens one database read-only, checks it is a seqbench database this
 * report can read, and loads the selected runs. */
static int load_db(struct report *rp, const char *path, const char *run_sel,
                   int include_unfinished, char *err, size_t n)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, n, "%s: not a regular file", path);
        return -1;
    }
    sqlite3 *db = NULL;
    char uri[4200];
    open_uri(path, uri, sizeof uri);
    if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        snprintf(err, n, "%s: cannot open database: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    int version, rc = -1, has_run[RC_N], has_res[XC_N_COLS];
    if (check_sqlite(db, path, &version, err, n) != 0)
        goto done;
    if (version > REPORT_MAX_SCHEMA) {
        snprintf(err, n, "%s: schema version %d is newer than this bench reads (%d..%d); "
                 "use a newer seqbench", path, version, REPORT_MIN_SCHEMA, REPORT_MAX_SCHEMA);
        goto done;
    }
    int missing = 0;
    table_columns(db, "results", result_cols, XC_N_COLS, has_res);
    for (int i = 0; i < XC_REQUIRED; i++)
        missing |= !has_res[i];
    if (version < REPORT_MIN_SCHEMA || !table_columns(db, "runs", run_cols, RC_N, has_run) ||
        missing) {
        snprintf(err, n, "%s: not a seqbench database (schema version %d, no runs/results tables)",
                 path, version);
        goto done;
    }
    rc = load_runs(rp, db, path, run_sel, include_unfinished, err, n);
done:
    sqlite3_close(db);
    return rc;
}

static void collect_families(struct report *rp)
{
    for (int i = 0; i < rp->n_res; i++) {
        int known = 0;
        for (int f = 0; f < rp->n_families && !known; f++)
            known = strcmp(rp->families[f], rp->res[i].family) == 0;
        if (!known) {
            rp->families = grow_array(rp->families, rp->n_families, sizeof *rp->families);
            rp->families[rp->n_families++] = rp->res[i].family;
        }
    }
}

int report_load(struct report *rp, const char *const *dbs, int n_dbs, const char *run_sel,
                int include_unfinished, char *err, size_t n)
{
    memset(rp, 0, sizeof *rp);
    rp->dbs = dbs;
    rp->n_dbs = n_dbs;
    for (int i = 0; i < n_dbs; i++)
        if (load_db(rp, dbs[i], run_sel, include_unfinished, err, n) != 0)
            return -1;
    collect_families(rp);
    return 0;
}

void report_free(struct report *rp)
{
    for (int i = 0; i < rp->n_runs; i++) {
        struct rp_run *r = &rp->runs[i];
        char *text[] = { r->label, r->started_at, r->finished_at, r->suite, r->command, r->version,
                         r->git_commit, r->build_flags, r->hostname, r->cpu_model, r->device,
                         r->gpu_name, r->gpu_cc, r->nvml_why, r->calibration_json };
        for (size_t k = 0; k < sizeof text / sizeof text[0]; k++)
            free(text[k]);
    }
    for (int i = 0; i < rp->n_res; i++) {
        struct rp_result *r = &rp->res[i];
        char *text[] = { r->case_str, r->case_key, r->family, r->impl, r->device, r->dtype,
                         r->status, r->error, r->bound, r->variant, r->counters_why, r->energy_why };
        for (size_t k = 0; k < sizeof text / sizeof text[0]; k++)
            free(text[k]);
        for (int k = 0; k < r->n_kernels; k++) {
            free(r->kernels[k].name);
            free(r->kernels[k].grid);
            free(r->kernels[k].block);
        }
        free(r->kernels);
    }
    for (int i = 0; i < rp->n_items; i++) {
        free(rp->items[i].section);
        free(rp->items[i].title);
        free(rp->items[i].stem);
        free(rp->items[i].note);
        free(rp->items[i].html);
    }
    free(rp->runs);
    free(rp->res);
    free(rp->families);
    free(rp->items);
    memset(rp, 0, sizeof *rp);
}

/* ---- helpers shared with the figures and the page ----------------------- */

/* "ok: few samples ..." and "ok: noisy ..." are drawn too: their medians
 * are measured, and the tables say how far to trust them. */
int rp_ok(const struct rp_result *r)
{
    return status_is_ok(r->status) && r->median_ms > 0;
}

int rp_is_decode(const struct rp_result *r)
{
    return r->N > 0 && r->N <= REPORT_DECODE_MAX_N && r->Nk > r->N;
}

int rp_is_state_decode(const struct rp_result *r)
{
    return r->N > 0 && r->N <= REPORT_DECODE_MAX_N && r->Nk < 0 && strstr(r->variant, "state");
}

int rp_is_sweep(const struct rp_result *r)
{
    return r->N > 0 && (r->Nk < 0 || r->Nk == r->N) && !rp_is_state_decode(r);
}

void rp_add_item(struct report *rp, const char *section, const char *title, const char *stem,
                 const char *note, char *html)
{
    rp->items = grow_array(rp->items, rp->n_items, sizeof *rp->items);
    struct rp_item *it = &rp->items[rp->n_items++];
    it->section = strdup(section);
    it->title = strdup(title);
    it->stem = stem ? strdup(stem) : NULL;
    it->note = note ? strdup(note) : NULL;
    it->html = html;
}
