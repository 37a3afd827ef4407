/*
 * cmd_merge.c — `bench merge A.db B.db ... -o OUT.db`: the runs of every
 * input copied into OUT, keyed by run_uid (integer ids differ between files
 * and are never trusted): a run whose run_uid OUT already has is skipped,
 * and a copied run's results and samples get OUT's new ids. So merging the
 * same inputs again changes nothing, and merging A then B gives what merging
 * both at once gives.
 *
 * Kernels (the per-kernel breakdown, schema 6) follow their result as
 * samples do.
 *
 * Every input is opened read-only and checked before OUT is touched (a newer
 * schema is refused); an older one is read by column name: a column OUT has
 * and the input lacks stays NULL. OUT is created, or migrated, by store_open.
 * Each input is copied in one transaction, so a failure leaves OUT as it was
 * before that input.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "resultset.h"
#include "store.h"

#define MERGE_MAX_INPUTS 256
#define MERGE_MAX_COLS 128      /* per table; the results table has about 40 */

/* Copies the rows of one table from an input to OUT. */
struct copier {
    sqlite3_stmt *sel;          /* input: [id,] common columns [WHERE fk = ?1] */
    sqlite3_stmt *ins;          /* OUT: [fk,] common columns */
    int first;                  /* sel's column of the first common column (0 or 1) */
    int n_cols;                 /* columns both tables have, keys excepted */
    int uid_col;                /* sel's column holding run_uid; -1 if none */
};

struct merge_counts {
    int runs_added, runs_present;
    long results, samples, kernels;
};

static int in_list(char **names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* Appends to buf (size n) the printf-formatted text; returns -1 when it does
 * not fit. */
static int append(char *buf, size_t n, const char *fmt, const char *s)
{
    size_t used = strlen(buf);
    int k = snprintf(buf + used, n - used, fmt, s);
    return k < 0 || (size_t)k >= n - used ? -1 : 0;
}

/* Builds the SELECT on the input and the INSERT on OUT over the columns both
 * have (OUT's names, so only our own identifiers reach the SQL). key is the
 * input's row id column copied to sel's column 0 ("id"), or NULL; fk is the
 * parent column set from the new parent id, or NULL. */
static int copier_init(struct copier *cp, sqlite3 *out, sqlite3 *in, const char *table,
                       const char *key, const char *fk, const char *order)
{
    char *out_cols[MERGE_MAX_COLS], *in_cols[MERGE_MAX_COLS];
    char sel[8192] = "SELECT ", ins[8192] = "INSERT INTO ", vals[1024] = "";
    int n_out = rs_columns(out, table, out_cols, MERGE_MAX_COLS);
    int n_in = rs_columns(in, table, in_cols, MERGE_MAX_COLS), bad = 0;
    *cp = (struct copier){ .first = key ? 1 : 0, .uid_col = -1 };
    bad |= key && append(sel, sizeof sel, "\"%s\"", key);
    bad |= append(ins, sizeof ins, "\"%s\" (", table);
    if (fk) {
        bad |= append(ins, sizeof ins, "\"%s\"", fk);
        bad |= append(vals, sizeof vals, "%s", "?");
    }
    for (int i = 0; i < n_out; i++) {
        const char *c = out_cols[i];
        if ((key && strcmp(c, key) == 0) || (fk && strcmp(c, fk) == 0) || !in_list(in_cols, n_in, c))
            continue;
        int sep = key || cp->n_cols;
        bad |= append(sel, sizeof sel, sep ? ", \"%s\"" : "\"%s\"", c);
        bad |= append(ins, sizeof ins, fk || cp->n_cols ? ", \"%s\"" : "\"%s\"", c);
        bad |= append(vals, sizeof vals, "%s", fk || cp->n_cols ? ", ?" : "?");
        if (strcmp(c, "run_uid") == 0)
            cp->uid_col = cp->first + cp->n_cols;
        cp->n_cols++;
    }
    bad |= append(sel, sizeof sel, " FROM \"%s\"", table);
    bad |= fk && append(sel, sizeof sel, " WHERE \"%s\" = ?1", fk);
    bad |= append(sel, sizeof sel, " ORDER BY %s", order);
    bad |= append(ins, sizeof ins, ") VALUES (%s)", vals);
    for (int i = 0; i < n_out; i++)
        free(out_cols[i]);
    for (int i = 0; i < n_in; i++)
        free(in_cols[i]);
    if (bad || !cp->n_cols)
        return -1;
    return sqlite3_prepare_v2(in, sel, -1, &cp->sel, NULL) == SQLITE_OK &&
           sqlite3_prepare_v2(out, ins, -1, &cp->ins, NULL) == SQLITE_OK ? 0 : -1;
}

static void copier_free(struct copier *cp)
{
    sqlite3_finalize(cp->sel);
    sqlite3_finalize(cp->ins);
}

/* Inserts sel's current row into OUT under parent (when the table has a
 * parent column). Returns 0 and *new_id, or -1. */
static int copy_row(struct copier *cp, sqlite3 *out, int has_parent, int64_t parent,
                    int64_t *new_id)
{
    int p = 1, rc = SQLITE_OK;
    sqlite3_reset(cp->ins);
    if (has_parent)
        rc = sqlite3_bind_int64(cp->ins, p++, parent);
    for (int i = 0; i < cp->n_cols && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_value(cp->ins, p++, sqlite3_column_value(cp->sel, cp->first + i));
    if (rc != SQLITE_OK || sqlite3_step(cp->ins) != SQLITE_DONE)
        return -1;
    *new_id = sqlite3_last_insert_rowid(out);
    return 0;
}

/* Copies the rows of a child table (samples, kernels) of the input result
 * old_result to OUT's new_result; *count grows by the rows copied. */
static int copy_children(struct copier *c, sqlite3 *out, int64_t old_result, int64_t new_result,
                         long *count)
{
    int64_t ignored;
    int rc;
    sqlite3_reset(c->sel);
    if (sqlite3_bind_int64(c->sel, 1, old_result) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(c->sel)) == SQLITE_ROW) {
        if (copy_row(c, out, 1, new_result, &ignored) != 0)
            return -1;
        (*count)++;
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Copies every result of the input run old_run (and each result's samples
 * and, from schema 6, kernels: ker NULL when the input has none) into OUT's
 * run new_run. */
static int copy_results(struct copier *res, struct copier *smp, struct copier *ker, sqlite3 *out,
                        int64_t old_run, int64_t new_run, struct merge_counts *k)
{
    int rc;
    sqlite3_reset(res->sel);
    if (sqlite3_bind_int64(res->sel, 1, old_run) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(res->sel)) == SQLITE_ROW) {
        int64_t new_result, old_result = sqlite3_column_int64(res->sel, 0);
        if (copy_row(res, out, 1, new_run, &new_result) != 0)
            return -1;
        k->results++;
        if (copy_children(smp, out, old_result, new_result, &k->samples) != 0 ||
            (ker && copy_children(ker, out, old_result, new_result, &k->kernels) != 0))
            return -1;
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 when OUT already has a run with this run_uid (the uid as stored). */
static int run_present(sqlite3_stmt *exists, sqlite3_value *uid)
{
    sqlite3_reset(exists);
    return sqlite3_bind_value(exists, 1, uid) == SQLITE_OK && sqlite3_step(exists) == SQLITE_ROW;
}

/* Copies every run of in whose run_uid OUT lacks. The caller owns the
 * transaction. On failure *why is a message of ours, or NULL when SQLite's
 * message says it. */
static int copy_runs(sqlite3 *out, sqlite3 *in, struct merge_counts *k, const char **why)
{
    struct copier runs, res, smp, ker = { 0 };
    sqlite3_stmt *exists = NULL;
    int rc = -1;
    const int has_kernels = rs_has_column(in, "kernels", "idx");
    if (copier_init(&runs, out, in, "runs", "id", NULL, "id") != 0 ||
        copier_init(&res, out, in, "results", "id", "run_id", "id") != 0 ||
        copier_init(&smp, out, in, "samples", NULL, "result_id", "idx") != 0 ||
        (has_kernels && copier_init(&ker, out, in, "kernels", NULL, "result_id", "idx") != 0) ||
        (runs.uid_col < 0 && (*why = "its runs table has no run_uid column")) ||
        sqlite3_prepare_v2(out, "SELECT 1 FROM runs WHERE run_uid = ?1", -1, &exists, NULL) != SQLITE_OK)
        goto done;
    int step;
    while ((step = sqlite3_step(runs.sel)) == SQLITE_ROW) {
        int64_t new_run;
        if (run_present(exists, sqlite3_column_value(runs.sel, runs.uid_col))) {
            k->runs_present++;
            continue;
        }
        if (copy_row(&runs, out, 0, 0, &new_run) != 0 ||
            copy_results(&res, &smp, has_kernels ? &ker : NULL, out, sqlite3_column_int64(runs.sel, 0),
                         new_run, k) != 0)
            goto done;
        k->runs_added++;
    }
    rc = step == SQLITE_DONE ? 0 : -1;
done:
    sqlite3_finalize(exists);
    copier_free(&runs);
    copier_free(&res);
    copier_free(&smp);
    copier_free(&ker);
    return rc;
}

/* One input into OUT in one transaction; prints the input's summary line.
 * Returns 0, or -1 after printing the error (OUT rolled back). */
static int merge_one(sqlite3 *out, sqlite3 *in, const char *path)
{
    struct merge_counts k = { 0 };
    const char *msg = NULL;
    if (sqlite3_exec(out, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        copy_runs(out, in, &k, &msg) != 0 ||
        sqlite3_exec(out, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        /* A failed call leaves its code on its connection; the other is OK. */
        int in_failed = sqlite3_errcode(in) != SQLITE_OK && sqlite3_errcode(in) != SQLITE_ROW &&
                        sqlite3_errcode(in) != SQLITE_DONE;
        if (!msg)
            msg = in_failed ? sqlite3_errmsg(in) : sqlite3_errmsg(out);
        cli_error("merge: %s: %s; the output is as it was before this input", path, msg);
        if (!sqlite3_get_autocommit(out))
            sqlite3_exec(out, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    char kernels[48] = "";
    if (k.kernels)
        snprintf(kernels, sizeof kernels, ", %ld kernels", k.kernels);
    printf("%s: %d runs added (%ld results, %ld samples%s), %d already present\n", path,
           k.runs_added, k.results, k.samples, kernels, k.runs_present);
    return 0;
}

/* 1 when a and b name the same existing file. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Opens and checks every input; NULL-terminated handles in dbs. */
static int open_inputs(char **paths, int n, const char *out, sqlite3 **dbs)
{
    char err[600];
    for (int i = 0; i < n; i++) {
        if (same_file(paths[i], out)) {
            cli_error("merge: %s is also the output; merge it into another file", paths[i]);
            return -1;
        }
        if (!(dbs[i] = rs_open(paths[i], err, sizeof err))) {
            cli_error("merge: %s", err);
            return -1;
        }
    }
    return 0;
}

int cmd_merge(int argc, char **argv)
{
    const char *out_path = NULL;
    struct opt opts[] = {
        OPT("o", OPT_STRING, &out_path, "OUT.db", "the database to merge into (created if missing)"),
    };
    const struct command *cmd = NULL;
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == cmd_merge)
            cmd = &commands[i];
    char *pos[MERGE_MAX_INPUTS];
    int n_pos, rc = cli_parse(cmd, argc, argv, opts, 1, pos, MERGE_MAX_INPUTS, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
        return rc;
    if (!out_path || n_pos == 0) {
        cli_error("merge: expected input databases and -o OUT.db (see bench merge --help)");
        return EXIT_USAGE;
    }
    sqlite3 *in[MERGE_MAX_INPUTS] = { 0 };
    struct store *out = NULL;
    char err[600];
    rc = EXIT_USAGE;
    if (open_inputs(pos, n_pos, out_path, in) != 0)
        goto done;
    if (!(out = store_open(out_path, err, sizeof err))) {
        cli_error("merge: %s", err);
        goto done;
    }
    for (int i = 0; i < n_pos; i++)
        if (merge_one(store_db(out), in[i], pos[i]) != 0)
            goto done;
    rc = EXIT_OK;
done:
    store_close(out);
    for (int i = 0; i < n_pos; i++)
        sqlite3_close(in[i]);
    return rc;
}
