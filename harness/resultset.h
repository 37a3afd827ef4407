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
 * case_str, belong to the run started last (ties: the higher run id). A
 * subquery, for `results.id IN (...)`; compare and export both use it, so a
 * merged database of shards reads as one run. */
extern const char rs_latest_ids_sql[];

/* One result as compare needs it. */
struct rs_result {
    int64_t id;
    char *run_uid;
    char *case_str;             /* canonical, with impl: the matching key */
    char *family;
    char *status;               /* "ok", "mismatch", "error: ...", ... */
    double median_ms;           /* NAN when NULL */
    double *samples;            /* every stored sample, in idx order */
    int n_samples;
};

struct resultset {
    struct rs_result *r;        /* sorted by case_str, one per case */
    int n;
};

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

/* The latest result of each case (rs_latest_ids_sql) with its samples.
 * Returns 0, or -1 with err naming path. */
int rs_load_latest(struct sqlite3 *db, const char *path, struct resultset *rs, char *err,
                   size_t n);
void rs_free(struct resultset *rs);

#endif
