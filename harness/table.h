/*
 * table.h — results as a markdown table on stdout, progress on stderr, and
 * storing a finished case.
 */
#ifndef SEQBENCH_TABLE_H
#define SEQBENCH_TABLE_H

#include <stdio.h>

#include "runcase.h"
#include "session.h"

void table_header(FILE *f);
void table_row(FILE *f, const struct case_result *r);

/* One line on f for a GPU case's profiling, when there is any: kernel time
 * against event time (the launch overhead), the kernels, counters, energy,
 * throttled samples, % of the measured ceiling; and what is missing, why. */
void table_profile_line(FILE *f, const struct case_result *r);

/* Stores r in the session's run (when there is a store); prints one line
 * and returns -1 if that failed. */
int table_store(struct session *s, const struct case_result *r);
/* Reads stored result result_id back into r (what a table row shows; no
 * samples), as a case stored by another process (an isolated case's child,
 * an earlier part of a resumed run). 0, or -1 with err. */
int table_load(struct store *st, int64_t result_id, struct case_result *r, char *err, size_t n);

/* Is this status a failure (mismatch, error)? ok, skipped and oom (a
 * measured outcome: the case does not fit) are not. */
int status_failed(const char *status);

#endif
