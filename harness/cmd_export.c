/*
 * cmd_export.c — `bench export --db FILE --format csv|json|gab`: results
 * for other tools. csv and json carry the same columns (the table below),
 * one row or object per result; gab is github-action-benchmark's
 * customSmallerIsBetter input, one entry per ok result. Columns are selected
 * by name, so an older database exports too (a column it lacks is empty or
 * null); adding a column to the export is one row in the table.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "emit.h"
#include "resultset.h"

enum format { F_CSV, F_JSON, F_GAB };

/* The exported columns, in order: run provenance, then the result. */
static const struct xcol {
    const char *table;          /* "runs" (alias u) or "results" (alias r) */
    const char *name;
} xcols[] = {
    { "runs", "run_uid" }, { "runs", "started_at" }, { "runs", "git_commit" },
    { "runs", "hostname" }, { "runs", "gpu_name" },
    { "results", "case_str" }, { "results", "family" }, { "results", "impl" },
    { "results", "device" }, { "results", "dtype" }, { "results", "B" }, { "results", "N" },
    { "results", "Nk" }, { "results", "H" }, { "results", "Hkv" }, { "results", "D" },
    { "results", "Dv" }, { "results", "causal" }, { "results", "status" }, { "results", "error" },
    { "results", "median_ms" }, { "results", "min_ms" }, { "results", "p10_ms" },
    { "results", "p90_ms" }, { "results", "mean_ms" }, { "results", "stdev_ms" },
    { "results", "n_samples" }, { "results", "tflops" }, { "results", "gbps" },
    { "results", "pct_peak" }, { "results", "rel_err" }, { "results", "max_abs_err" },
    { "results", "rows_checked" }, { "results", "rows_total" }, { "results", "flops" },
    { "results", "min_bytes" }, { "results", "footprint_bytes" }, { "results", "kernel_ms" },
    { "results", "l2_flush" }, { "results", "seed" }, { "results", "created_at" },
    { "results", "impl_info" },
};
enum { N_XCOLS = (int)(sizeof xcols / sizeof xcols[0]) };

static int xcol(const char *name)
{
    for (int i = 0; i < N_XCOLS; i++)
        if (strcmp(xcols[i].name, name) == 0)
            return i;
    return -1;
}

/* The SELECT of every exported column (NULL for one the database lacks)
 * with the run filter: latest, all (of the finished runs, or of every run
 * with include_unfinished), or ?1 = a run_uid or id. */
static int build_query(sqlite3 *db, const char *run, int include_unfinished, char *sql, size_t n)
{
    size_t used = (size_t)snprintf(sql, n, "SELECT ");
    for (int i = 0; i < N_XCOLS && used < n; i++) {
        const char *sep = i ? ", " : "";
        if (rs_has_column(db, xcols[i].table, xcols[i].name))
            used += (size_t)snprintf(sql + used, n - used, "%s%s.\"%s\"", sep,
                                     strcmp(xcols[i].table, "runs") == 0 ? "u" : "r", xcols[i].name);
        else
            used += (size_t)snprintf(sql + used, n - used, "%sNULL", sep);
    }
    if (used < n)
        used += (size_t)snprintf(sql + used, n - used, " FROM results r JOIN runs u ON u.id = r.run_id");
    if (used < n && strcmp(run, "latest") == 0)
        used += (size_t)snprintf(sql + used, n - used, " WHERE r.id IN (%s)",
                                 rs_latest_ids_sql(include_unfinished));
    else if (used < n && strcmp(run, "all") == 0 && !include_unfinished)
        used += (size_t)snprintf(sql + used, n - used, " WHERE u.finished_at IS NOT NULL");
    else if (used < n && strcmp(run, "all") != 0)
        used += (size_t)snprintf(sql + used, n - used,
                                 " WHERE u.run_uid = ?1 OR CAST(u.id AS TEXT) = ?1");
    if (used < n)
        used += (size_t)snprintf(sql + used, n - used, " ORDER BY u.started_at, u.id, r.id");
    return used < n ? 0 : -1;
}

/* 1 when the database has a run with this run_uid or id. */
static int run_exists(sqlite3 *db, const char *run)
{
    sqlite3_stmt *s = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM runs WHERE run_uid = ?1 OR CAST(id AS TEXT) = ?1",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_bind_text(s, 1, run, -1, SQLITE_STATIC) == SQLITE_OK)
        found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

/* ---- writers: one row of the query each ----------------------------------- */

static void csv_header(FILE *f)
{
    for (int i = 0; i < N_XCOLS; i++)
        fprintf(f, "%s%s", i ? "," : "", xcols[i].name);
    fputc('\n', f);
}

static void csv_row(FILE *f, sqlite3_stmt *s)
{
    char buf[40];
    for (int i = 0; i < N_XCOLS; i++) {
        if (i)
            fputc(',', f);
        switch (sqlite3_column_type(s, i)) {
        case SQLITE_INTEGER:
            fprintf(f, "%lld", (long long)sqlite3_column_int64(s, i));
            break;
        case SQLITE_FLOAT:
            emit_double(buf, sizeof buf, sqlite3_column_double(s, i));
            fputs(buf, f);
            break;
        case SQLITE_NULL:
            break;
        default:
            emit_csv_field(f, (const char *)sqlite3_column_text(s, i));
        }
    }
    fputc('\n', f);     /* LF, not RFC 4180's CRLF: what Unix tools and every CSV reader take */
}

static void json_value(FILE *f, sqlite3_stmt *s, int i)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER:
        fprintf(f, "%lld", (long long)sqlite3_column_int64(s, i));
        break;
    case SQLITE_FLOAT:
        emit_json_number(f, sqlite3_column_double(s, i));
        break;
    case SQLITE_NULL:
        fputs("null", f);
        break;
    default:
        emit_json_string(f, (const char *)sqlite3_column_text(s, i));
    }
}

static void json_row(FILE *f, sqlite3_stmt *s)
{
    fputc('{', f);
    for (int i = 0; i < N_XCOLS; i++) {
        fputs(i ? ", " : "", f);
        emit_json_string(f, xcols[i].name);
        fputs(": ", f);
        json_value(f, s, i);
    }
    fputc('}', f);
}

/* {"name": case, "unit": "ms", "value": median, "extra": "..."}; 0 when
 * the row is not an ok result (nothing written). */
static int gab_row(FILE *f, sqlite3_stmt *s, int first)
{
    const char *status = (const char *)sqlite3_column_text(s, xcol("status"));
    if (!status || strcmp(status, "ok") != 0 || sqlite3_column_type(s, xcol("median_ms")) == SQLITE_NULL)
        return 0;
    char extra[512];
    const char *gpu = (const char *)sqlite3_column_text(s, xcol("gpu_name"));
    const char *dev = (const char *)sqlite3_column_text(s, xcol("device"));
    snprintf(extra, sizeof extra, "device %s%s%s; %.4g TFLOP/s; %.4g GB/s; %d samples; run %s",
             dev ? dev : "?", gpu ? " " : "", gpu ? gpu : "",
             sqlite3_column_double(s, xcol("tflops")), sqlite3_column_double(s, xcol("gbps")),
             sqlite3_column_int(s, xcol("n_samples")),
             (const char *)sqlite3_column_text(s, xcol("run_uid")));
    fprintf(f, "%s\n  {\"name\": ", first ? "" : ",");
    emit_json_string(f, (const char *)sqlite3_column_text(s, xcol("case_str")));
    fputs(", \"unit\": \"ms\", \"value\": ", f);
    emit_json_number(f, sqlite3_column_double(s, xcol("median_ms")));
    fputs(", \"extra\": ", f);
    emit_json_string(f, extra);
    fputc('}', f);
    return 1;
}

/* Writes every row of s to f in fmt. Returns 0, or -1 on a read error. */
static int write_rows(FILE *f, sqlite3_stmt *s, enum format fmt)
{
    int rc, n = 0;
    if (fmt == F_CSV)
        csv_header(f);
    else
        fputc('[', f);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (fmt == F_CSV)
            csv_row(f, s);
        else if (fmt == F_GAB)
            n += gab_row(f, s, n == 0);
        else {
            fputs(n++ ? ",\n  " : "\n  ", f);
            json_row(f, s);
        }
    }
    if (fmt != F_CSV)
        fputs(n ? "\n]\n" : "]\n", f);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int parse_format(const char *s, enum format *f)
{
    static const char *const names[] = { [F_CSV] = "csv", [F_JSON] = "json", [F_GAB] = "gab" };
    if (!s) {
        cli_error("export: which format? (--format csv|json|gab)");
        return -1;
    }
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *f = (enum format)i;
            return 0;
        }
    cli_error("export: --format '%s': expected csv, json or gab", s);
    return -1;
}

/* Runs the export of db into out_path (stdout when NULL). */
static int export_db(sqlite3 *db, const char *path, const char *run, int include_unfinished,
                     enum format fmt, const char *out_path)
{
    char sql[8192];
    sqlite3_stmt *s = NULL;
    if (strcmp(run, "latest") != 0 && strcmp(run, "all") != 0 && !run_exists(db, run)) {
        cli_error("export: no run '%s' in %s (a run_uid, a run id, latest or all)", run, path);
        return EXIT_USAGE;
    }
    if (build_query(db, run, include_unfinished, sql, sizeof sql) != 0 ||
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK ||
        (sqlite3_bind_parameter_count(s) && sqlite3_bind_text(s, 1, run, -1, SQLITE_STATIC))) {
        cli_error("export: %s: cannot read results: %s", path, sqlite3_errmsg(db));
        sqlite3_finalize(s);
        return EXIT_USAGE;
    }
    FILE *f = out_path ? fopen(out_path, "w") : stdout;
    int rc = EXIT_USAGE;
    if (!f)
        cli_error("export: cannot write %s", out_path);
    else if (write_rows(f, s, fmt) != 0)
        cli_error("export: %s: cannot read results: %s", path, sqlite3_errmsg(db));
    else if (fflush(f) != 0 || ferror(f))
        cli_error("export: cannot write %s", out_path ? out_path : "stdout");
    else
        rc = EXIT_OK;
    if (f && f != stdout && fclose(f) != 0 && rc == EXIT_OK) {
        cli_error("export: cannot write %s", out_path);
        rc = EXIT_USAGE;
    }
    sqlite3_finalize(s);
    return rc;
}

int cmd_export(int argc, char **argv)
{
    const char *db_path = NULL, *format_s = NULL, *run = "latest", *out_path = NULL;
    int include_unfinished = 0;
    struct opt opts[] = {
        OPT("db", OPT_STRING, &db_path, "FILE", "the results database (read-only)"),
        OPT("format", OPT_STRING, &format_s, "csv|json|gab", "what to write"),
        OPT("run", OPT_STRING, &run, "ID|latest|all", "which results (default latest: each case's latest)"),
        OPT("o", OPT_STRING, &out_path, "FILE", "write to FILE (default stdout)"),
        OPT("include-unfinished", OPT_FLAG, &include_unfinished, NULL, "latest and all: also runs that did not finish (left out by default; a run named by ID is always taken)"),
    };
    const struct command *cmd = NULL;
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == cmd_export)
            cmd = &commands[i];
    char *pos[1];
    int n_pos;
    enum format fmt;
    int rc = cli_parse(cmd, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos, 0, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
        return rc;
    if (!db_path) {
        cli_error("export: which database? (--db FILE)");
        return EXIT_USAGE;
    }
    if (parse_format(format_s, &fmt) != 0)
        return EXIT_USAGE;
    char err[600];
    sqlite3 *db = rs_open(db_path, err, sizeof err);
    if (!db) {
        cli_error("export: %s", err);
        return EXIT_USAGE;
    }
    rc = export_db(db, db_path, run, include_unfinished, fmt, out_path);
    sqlite3_close(db);
    return rc;
}
