/*
 * validate.h — correctness before timing: which rows the reference computes,
 * and the comparison (NaN/Inf and unwritten elements first, then relative L2
 * overall and for the worst row, against the family's tolerance).
 */
#ifndef SEQBENCH_VALIDATE_H
#define SEQBENCH_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "seqbench.h"

/* Reference work (multiply-adds) the check may spend on one case. At 2 cores
 * and ~1 GMAC/s of double-precision scalar code per core this is ~2-4 s: a
 * 128K-token attention row costs H·Nk·(D+Dv) ≈ 5e8 MACs, so a long case
 * gets the minimum sample below and is still checked in seconds. */
#define VALIDATE_REF_BUDGET_MACS 4e9
#define VALIDATE_MIN_ROWS 8     /* always checked, whatever the cost: first, last, random */
#define VALIDATE_MAX_ROWS 256   /* sampled rows when not every row fits the budget */

/* Chooses the output rows to check, sorted and distinct. All rows when their
 * total cost fits the budget (*sampled = 0); otherwise the first and last row
 * of every batch plus seeded random rows, up to what the budget allows. */
int64_t validate_pick_rows(const struct family *f, const struct shape *s, uint64_t seed,
                           int64_t **rows, int *sampled);

struct check_result {
    int ok;
    double rel_l2;          /* over all checked rows */
    double worst_row_rel_l2;
    double max_abs;
    int64_t nonfinite;      /* NaN/Inf elements anywhere in the output */
    int64_t first_nonfinite;
    char why[200];          /* for a mismatch: one line */
};

/* Compares out (the whole output, fp32) at rows[] with ref (nrows x elems). */
void validate_compare(const struct family *f, const struct shape *s, const float *out,
                      int64_t total_elems, const int64_t *rows, int64_t nrows, int64_t elems,
                      const double *ref, struct check_result *r);

/* Checks the second output (io->final) in full against ref_final, after the
 * output passed (r holds that check): on a mismatch r says so and names the
 * tensor; otherwise r keeps the worse of the two errors. */
void validate_final(const struct family *f, const struct shape *s, const struct io_specs *io,
                    const float *final, const double *ref_final, struct check_result *r);

#endif
