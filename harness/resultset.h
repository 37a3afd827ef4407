/*
 * resultset.h — the read side of a results database, for compare, merge and
 * export. A database is opened read-only (never written, never migrated) and
 * checked before use: it exists, it is SQLite, its user_version is one this
 * build knows (1..STORE_SCHEMA_VERSION; older ones are read by column name),
 * and it has the runs, results and samples tables. Every refusal is one line
 * in err naming the file.
 */
#ifndef SEQBENCH_RESULTSET_H
#define SEQBENCH_RESULTSET_H

#include <stddef.h>
#include <stdint.h>

struct sqlite3;

/* "The latest result of each case": the ids of the results that, for their
 * case_str, belong to the run started last (ties: the higher run id) among
 * the finished runs (runs.finished_at set), or among every run with
 * include_unfinished. A subquery, for `results.id IN (...)`; compare and
 * export both use it, so a merged database of shards reads as one run, and
 * a run that was killed or interrupted is left out unless asked for. */
const char *rs_latest_ids_sql(int include_unfinished);
/* How many runs of the database did not finish (finished_at NULL); -1 when
 * it cannot be read. */
int rs_unfinished_runs(struct sqlite3 *db);

/* What compare shows of a run's environment, one runs column each. The
 * first RS_MACHINE_FIELDS name the machine: two runs that differ in any of
 * them ran on different machines. */
enum rs_env {
    RS_HOST, RS_CPU, RS_GPU, RS_GPU_UUID,
    RS_DRIVER_RELEASE, RS_DRIVER_API, RS_RUNTIME_API, RS_CUBLAS, RS_NVCC, RS_COMMIT,
    RS_INPUT_VERSION,
    RS_ENV_COUNT
};
#define RS_MACHINE_FIELDS 4
struct rs_env_field {
    const char *column;         /* in runs */
    const char *label;          /* for people */
};
extern const struct rs_env_field rs_env_fields[RS_ENV_COUNT];

/* A run that holds at least one of the loaded results. */
struct rs_run {
    int64_t id;
    char *env[RS_ENV_COUNT];    /* as text; NULL when NULL or the schema lacks the column */
};

/* One result as compare needs it. */
struct rs_result {
    int64_t id;
    char *run_uid;
    int run;                    /* its run: index into resultset.runs */
    char *case_str;             /* canonical, with impl: the matching key */
    char *family;
    char *status;               /* "ok", "mismatch", "error: ...", ... */
    char *timing;               /* "cold", "warm", "graph", "cpu"; NULL unknown (before schema 4) */
    double median_ms;           /* NAN when NULL */
    double *samples;            /* every stored sample, in idx order */
    int n_samples;
};

struct resultset {
    struct rs_result *r;        /* sorted by case_str, one per case */
    int n;
    struct rs_run *runs;        /* the runs the results come from, by id */
    int n_runs;
};

/* 1 when two runs ran on the same machine: the same host, CPU model, GPU
 * name and GPU UUID (both NULL counts as the same). */
int rs_same_machine(const struct rs_run *a, const struct rs_run *b);
/* The run's input-generator version (SB_INPUT_VERSION), or 0 when unknown
 * (a run from before schema 4, or a test's run that did not set it). */
int rs_input_version(const struct rs_run *r);

/* Opens path read-only and checks it (see above). NULL with err set, e.g.
 * "x.db: no such file", "x.db: not a seqbench database (no results table)". */
struct sqlite3 *rs_open(const char *path, char *err, size_t n);
/* The database's PRAGMA user_version; -1 when it cannot be read. */
int rs_user_version(struct sqlite3 *db);
/* 1 when table has column col. */
int rs_has_column(struct sqlite3 *db, const char *table, const char *col);
/* The column names of table, in declaration order, into names[0..max);
 * returns how many (0 on error). Each name is malloc'd. */
int rs_columns(struct sqlite3 *db, const char *table, char **names, int max);

/* The latest result of each case (rs_latest_ids_sql) with its samples,
 * and the runs they come from. Returns 0, or -1 with err naming path. */
int rs_load_latest(struct sqlite3 *db, const char *path, int include_unfinished,
                   struct resultset *rs, char *err, size_t n);
void rs_free(struct resultset *rs);

#endif
