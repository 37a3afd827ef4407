/*
 * validate.h — correctness before timing: which rows the reference computes,
 * and the comparison (NaN/Inf and unwritten elements first, then relative L2
 * overall and for the worst (row, head), against the family's tolerance).
 *
 * A row is a token (b, n): out[b, n, :, :], every head of it. The rows worth
 * checking follow the implementations' work decomposition (family.row_tilings:
 * query tiles, the causal diagonal, chunks and sub-chunks): a bug in a kernel
 * lives at a tile's edge, in one position of a tile, or in one head, and a
 * uniform sample of rows over all heads dilutes it.
 */
#ifndef SEQBENCH_VALIDATE_H
#define SEQBENCH_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "seqbench.h"

/* Reference work (multiply-adds, family.row_cost) the check may spend on
 * one case beyond the structural rows below. The float64 references run at
 * ~4.5 GMAC/s per core (reference/attention.c, recurrent.c), so this is
 * ~2 s on 2 cores. A case whose every row fits (and whose reference rows fit
 * VALIDATE_MAX_REF_BYTES) is checked in full. */
#define VALIDATE_REF_BUDGET_MACS 2e10
#define VALIDATE_MAX_REF_BYTES (256.0 * 1024 * 1024)
/* Up to this N every tile edge of every tiling is checked; above it, the
 * first and the last tile of each and every position class (below). */
#define VALIDATE_EDGE_N 16384
/* Edge rows checked in every batch when there are at most this many (and
 * their cost fits the budget); beyond, tile k's edges are checked in batch
 * k mod B, so every tile position is checked in one batch. */
#define VALIDATE_EDGE_ROWS_ALL_BATCHES 4096
/* Seeded uniform rows on top of the structure: at least the first, as many
 * as the budget allows up to the second. */
#define VALIDATE_MIN_RANDOM 8
#define VALIDATE_MAX_RANDOM 256

/* Chooses the output rows to check, sorted and distinct. All rows when their
 * total cost fits the budget (*sampled = 0). Otherwise (*sampled = 1):
 *   - the first and last row of every batch;
 *   - N <= VALIDATE_EDGE_N: both edges of every tile of every tiling (the
 *     query tiles, the diagonal, chunks, sub-chunks; see family.row_tilings);
 *     N above: both edges of the first and of the last tile of each;
 *   - for each tiling over all N rows, every position class (a row's place
 *     in its tile, 0 .. len-1) not yet covered, in a seeded random tile and
 *     batch: a bug that only hits row 37 of a tile is found at any N;
 *   - seeded uniform rows, VALIDATE_MIN_RANDOM .. VALIDATE_MAX_RANDOM as the
 *     budget allows.
 * Returns the count, or -1 when out of memory. */
int64_t validate_pick_rows(const struct family *f, const struct shape *s, uint64_t seed,
                           int64_t **rows, int *sampled);

struct check_result {
    int ok;
    double rel_l2;          /* over all checked rows */
    double worst_rel_l2;    /* the worst (row, head), as validate_compare says */
    int64_t worst_row;      /* its row (token index b·N + n), -1 none */
    int64_t worst_head;     /* its head, -1 none */
    double max_abs;
    int64_t nonfinite;      /* NaN/Inf elements anywhere in the output */
    int64_t first_nonfinite;
    char why[200];          /* for a mismatch: one line */
};

/* Compares out (the whole output, fp32) at rows[] with ref (nrows × elems;
 * a row holds `heads` heads of elems/heads elements each). Passes when no
 * element is NaN/Inf, the relative L2 error over all checked rows is within
 * tol.rel_l2, and every (row, head) is within tol.row_rel_l2 — the head's
 * error ‖o − x‖ relative to its own norm ‖x‖, or to the row's RMS head norm
 * ‖x_row‖/√heads when that is larger: a head whose output nearly cancels
 * (its norm far under the others') would otherwise turn rounding into a
 * large relative error, while a wrong head is still measured against a
 * typical head's size instead of against all heads (which shrinks its
 * error by √heads). */
void validate_compare(const struct tolerance *tol, const float *out, int64_t total_elems,
                      const int64_t *rows, int64_t nrows, int64_t elems, int64_t heads,
                      const double *ref, struct check_result *r);

/* The same judgement from per-(row, head) sums computed elsewhere (the
 * device reference, harness/gpu_ref.h): for checked row i (token rows[i],
 * or i when rows is NULL) and head h, sums[(i·heads + h)·3 + 0, 1, 2] =
 * Σ(o − x)², Σx², max |o − x|. No NaN/Inf check: the caller has done it. */
void validate_sums(const struct tolerance *tol, const float *sums, const int64_t *rows,
                   int64_t nrows, int64_t heads, struct check_result *r);

/* Checks the second output (io->final) in full against ref_final, after the
 * output passed (r holds that check): on a mismatch r says so and names the
 * tensor; otherwise r keeps the worse of the two overall errors and the
 * output's worst (row, head). */
void validate_final(const struct tolerance *tol, const struct io_specs *io, const float *final,
                    const double *ref_final, struct check_result *r);

/* Checks every row of a GPU implementation's output (ctx->out, fetched)
 * against the device reference (harness/gpu_ref.h), judged as above with
 * the tolerance of the case's dtype plus the family's fp32 tolerance: the
 * reference is itself an fp32 computation of the function, whose distance
 * from the exact result the fp32 tolerance bounds, so
 * |out − ref32| <= |out − exact| + |exact − ref32| <= tol(dtype) + tol(fp32).
 * Returns SB_OK with *ran = 1 and r the verdict; SB_OK with *ran = 0 when it
 * cannot run here (a CPU-only build, a family without a device reference,
 * too little device memory); or an error status, ctx->err saying why. */
int validate_on_device(const struct family *f, struct op_ctx *ctx, struct check_result *r,
                       int *ran);

/* Heads per output row: the output's third dimension ([B, N, heads, Dv]). */
int64_t validate_out_heads(const struct io_specs *io);

#endif
