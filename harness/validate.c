/*
 * validate.c — see validate.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t validate_pick_rows(const struct family *f, const struct shape *s, uint64_t seed,
                           int64_t **rows, int *sampled)
{
    struct io_specs io;
    f->io(s, &io);
    const int64_t total = family_out_rows(&io), per_batch = io.out.dims[1];

    /* Cost of all rows, from a few probes: row cost is monotone in the
     * position (causal) or constant, so first + last bound it. */
    double all = 0;
    for (int64_t b = 0; b < io.out.dims[0] && all <= VALIDATE_REF_BUDGET_MACS; b++)
        all += 0.5 * (f->row_cost(s, b * per_batch) + f->row_cost(s, b * per_batch + per_batch - 1))
             * (double)per_batch;
    if (all <= VALIDATE_REF_BUDGET_MACS) {
        *rows = malloc((size_t)total * sizeof **rows);
        if (!*rows)
            return -1;
        for (int64_t i = 0; i < total; i++)
            (*rows)[i] = i;
        *sampled = 0;
        return total;
    }

    double worst = f->row_cost(s, total - 1);
    int64_t want = worst > 0 ? (int64_t)(VALIDATE_REF_BUDGET_MACS / worst) : VALIDATE_MAX_ROWS;
    if (want < VALIDATE_MIN_ROWS) want = VALIDATE_MIN_ROWS;
    if (want > VALIDATE_MAX_ROWS) want = VALIDATE_MAX_ROWS;
    if (want > total) want = total;

    int64_t *r = malloc((size_t)(want + 2 * io.out.dims[0]) * sizeof *r), n = 0;
    if (!r)
        return -1;
    /* First and last token of the first and last batch: the shortest and the
     * longest causal rows, and the partial last tile. */
    int64_t fixed[4] = { 0, per_batch - 1, total - per_batch, total - 1 };
    for (int i = 0; i < 4; i++)
        r[n++] = fixed[i];
    uint64_t state = seed ^ 0xA5A5A5A55A5A5A5Aull;
    while (n < want)
        r[n++] = (int64_t)(sb_rng_next(&state) % (uint64_t)total);
    qsort(r, (size_t)n, sizeof *r, cmp_i64);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (m == 0 || r[i] != r[m - 1])
            r[m++] = r[i];
    *rows = r;
    *sampled = 1;
    return m;
}

void validate_compare(const struct family *f, const struct shape *s, const float *out,
                      int64_t total_elems, const int64_t *rows, int64_t nrows, int64_t elems,
                      const double *ref, struct check_result *r)
{
    const struct tolerance tol = f->tolerance(s);
    *r = (struct check_result){ .first_nonfinite = -1 };

    /* Poison (NaN) left anywhere means an element was never written. */
    for (int64_t i = 0; i < total_elems; i++)
        if (!isfinite(out[i])) {
            if (r->nonfinite++ == 0)
                r->first_nonfinite = i;
        }
    if (r->nonfinite) {
        snprintf(r->why, sizeof r->why, "%lld NaN/Inf or unwritten output elements (first at %lld)",
                 (long long)r->nonfinite, (long long)r->first_nonfinite);
        r->rel_l2 = r->worst_row_rel_l2 = r->max_abs = NAN;
        return;
    }

    double err2 = 0, ref2 = 0;
    int64_t worst_row = -1;
    for (int64_t i = 0; i < nrows; i++) {
        const float *o = out + rows[i] * elems;
        const double *x = ref + i * elems;
        double e2 = 0, x2 = 0;
        for (int64_t e = 0; e < elems; e++) {
            double d = (double)o[e] - x[e];
            e2 += d * d;
            x2 += x[e] * x[e];
            if (fabs(d) > r->max_abs)
                r->max_abs = fabs(d);
        }
        err2 += e2, ref2 += x2;
        double row = x2 > 0 ? sqrt(e2 / x2) : sqrt(e2);
        if (row > r->worst_row_rel_l2 || worst_row < 0)
            r->worst_row_rel_l2 = row, worst_row = rows[i];
    }
    r->rel_l2 = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
    if (!(r->rel_l2 <= tol.rel_l2))
        snprintf(r->why, sizeof r->why, "relative L2 error %.3g > tolerance %.3g (max abs %.3g)",
                 r->rel_l2, tol.rel_l2, r->max_abs);
    else if (!(r->worst_row_rel_l2 <= tol.row_rel_l2))
        snprintf(r->why, sizeof r->why, "row %lld: relative L2 error %.3g > row tolerance %.3g",
                 (long long)worst_row, r->worst_row_rel_l2, tol.row_rel_l2);
    else
        r->ok = 1;
}

void validate_final(const struct family *f, const struct shape *s, const struct io_specs *io,
                    const float *final, const double *ref_final, struct check_result *r)
{
    /* Rows of the final output: its first dim flattened with the second
     * (batch, head); all of them are checked. */
    const int64_t rows = io->final.dims[0] * io->final.dims[1];
    const int64_t total = tensor_numel(&io->final), elems = total / rows;
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    if (!idx) {
        *r = (struct check_result){ .first_nonfinite = -1 };
        snprintf(r->why, sizeof r->why, "%s: out of host memory", io->final.name);
        return;
    }
    for (int64_t i = 0; i < rows; i++)
        idx[i] = i;
    struct check_result out_chk = *r;
    validate_compare(f, s, final, total, idx, rows, elems, ref_final, r);
    free(idx);
    if (!r->ok) {
        char why[sizeof r->why];
        memcpy(why, r->why, sizeof why);
        snprintf(r->why, sizeof r->why, "final state %.16s: %.160s", io->final.name, why);
        return;
    }
    /* Both pass: report the output's errors, the worse of the two. */
    if (out_chk.rel_l2 > r->rel_l2) r->rel_l2 = out_chk.rel_l2;
    if (out_chk.max_abs > r->max_abs) r->max_abs = out_chk.max_abs;
    if (out_chk.worst_row_rel_l2 > r->worst_row_rel_l2) r->worst_row_rel_l2 = out_chk.worst_row_rel_l2;
}
