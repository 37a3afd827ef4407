/*
 * validate.c — see validate.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_ref.h"
#include "validate.h"

/* ---- which rows ------------------------------------------------------------ */

struct rowset {
    int64_t *r;
    int64_t n, cap;
    int oom;
};

static void rows_add(struct rowset *rs, int64_t row)
{
    if (rs->n == rs->cap) {
        int64_t cap = rs->cap ? 2 * rs->cap : 256;
        int64_t *r = realloc(rs->r, (size_t)cap * sizeof *r);
        if (!r) {
            rs->oom = 1;
            return;
        }
        rs->r = r, rs->cap = cap;
    }
    rs->r[rs->n++] = row;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts rs and drops repeats. */
static void rows_sort(struct rowset *rs)
{
    qsort(rs->r, (size_t)rs->n, sizeof *rs->r, cmp_i64);
    int64_t m = 0;
    for (int64_t i = 0; i < rs->n; i++)
        if (m == 0 || rs->r[i] != rs->r[m - 1])
            rs->r[m++] = rs->r[i];
    rs->n = m;
}

/* Row n (0 <= n < N) starts a tile of t. */
static int tile_starts(const struct row_tiling *t, int64_t n)
{
    const int64_t m = t->within > 0 ? n % t->within : n;
    return (t->within > 0 && m == 0) || (m + t->offset) % t->len == 0;
}

/* Row n is the first or the last row of a tile of t (the first and the last
 * row of the batch always are). */
static int tile_edge(const struct row_tiling *t, int64_t N, int64_t n)
{
    return n == 0 || n == N - 1 || tile_starts(t, n) || tile_starts(t, n + 1);
}

static double rows_cost(const struct family *f, const struct shape *s, const int64_t *r,
                        int64_t n)
{
    double c = 0;
    for (int64_t i = 0; i < n; i++)
        c += f->row_cost(s, r[i]);
    return c;
}

/* N <= VALIDATE_EDGE_N: both edges of every tile of every tiling, in every
 * batch when affordable, else tile position k in batch k mod B. */
static void pick_all_edges(const struct family *f, const struct shape *s, int64_t B, int64_t N,
                           const struct row_tiling *t, int nt, struct rowset *rs)
{
    struct rowset pos = { 0 };
    for (int64_t n = 0; n < N; n++) {
        int edge = nt == 0 && (n == 0 || n == N - 1);
        for (int i = 0; i < nt && !edge; i++)
            edge = tile_edge(&t[i], N, n);
        if (edge)
            rows_add(&pos, n);
    }
    double cost = 0;
    for (int64_t b = 0; b < B && cost <= VALIDATE_REF_BUDGET_MACS; b++)
        for (int64_t i = 0; i < pos.n; i++)
            cost += f->row_cost(s, b * N + pos.r[i]);
    const int every_batch = B * pos.n <= VALIDATE_EDGE_ROWS_ALL_BATCHES &&
                            cost <= VALIDATE_REF_BUDGET_MACS;
    for (int64_t i = 0; i < pos.n; i++) {
        if (every_batch)
            for (int64_t b = 0; b < B; b++)
                rows_add(rs, b * N + pos.r[i]);
        else
            rows_add(rs, (i % B) * N + pos.r[i]);
    }
    rs->oom |= pos.oom;
    free(pos.r);
}

/* N > VALIDATE_EDGE_N: both edges of the first tile (batch 0) and of the
 * last tile (batch B-1) of each tiling. */
static void pick_end_tiles(int64_t B, int64_t N, const struct row_tiling *t, int nt,
                           struct rowset *rs)
{
    for (int i = 0; i < nt; i++) {
        int64_t first = 1, last = N - 1;
        while (first < N && !tile_starts(&t[i], first))
            first++;
        while (last > 0 && !tile_starts(&t[i], last))
            last--;
        rows_add(rs, first - 1);
        rows_add(rs, (B - 1) * N + last);
    }
}

/* Every position class of each tiling over all N rows that no row in rs
 * covers yet: a row of that class in a seeded random tile and batch. */
static void pick_classes(int64_t B, int64_t N, const struct row_tiling *t, int nt,
                         uint64_t *rng, struct rowset *rs)
{
    for (int i = 0; i < nt; i++) {
        const int64_t len = t[i].len, off = t[i].offset;
        if (t[i].within > 0)
            continue;   /* its classes are classes of the tiling it is within */
        char *covered = calloc((size_t)len, 1);
        if (!covered) {
            rs->oom = 1;
            return;
        }
        for (int64_t k = 0; k < rs->n; k++)
            covered[(rs->r[k] % N + off) % len] = 1;
        for (int64_t c = 0; c < len; c++) {
            const int64_t r0 = ((c - off) % len + len) % len;  /* first row of class c */
            if (covered[c] || r0 >= N)
                continue;
            const int64_t tiles = (N - 1 - r0) / len + 1;
            const int64_t n = r0 + (int64_t)(sb_rng_next(rng) % (uint64_t)tiles) * len;
            rows_add(rs, (int64_t)(sb_rng_next(rng) % (uint64_t)B) * N + n);
        }
        free(covered);
    }
}

int64_t validate_pick_rows(const struct family *f, const struct shape *s, uint64_t seed,
                           int64_t **rows, int *sampled)
{
    struct io_specs io;
    f->io(s, &io);
    const int64_t B = io.out.dims[0], N = io.out.dims[1], total = B * N;
    const double ref_bytes = (double)total * (double)family_row_elems(&io) * sizeof(double);
    struct rowset rs = { 0 };

    /* Cost of all rows, from a few probes: row cost is monotone in the
     * position (causal) or constant, so first + last bound it. */
    double all = 0;
    for (int64_t b = 0; b < B && all <= VALIDATE_REF_BUDGET_MACS; b++)
        all += 0.5 * (f->row_cost(s, b * N) + f->row_cost(s, b * N + N - 1)) * (double)N;
    if (all <= VALIDATE_REF_BUDGET_MACS && ref_bytes <= VALIDATE_MAX_REF_BYTES) {
        for (int64_t i = 0; i < total; i++)
            rows_add(&rs, i);
        *sampled = 0;
        *rows = rs.r;
        return rs.oom ? (free(rs.r), -1) : total;
    }

    struct row_tiling t[SB_MAX_TILINGS];
    const int nt = f->row_tilings ? f->row_tilings(s, t) : 0;
    uint64_t rng = seed ^ 0xA5A5A5A55A5A5A5Aull;
    for (int64_t b = 0; b < B; b++) {
        rows_add(&rs, b * N);
        rows_add(&rs, b * N + N - 1);
    }
    if (N <= VALIDATE_EDGE_N)
        pick_all_edges(f, s, B, N, t, nt, &rs);
    else
        pick_end_tiles(B, N, t, nt, &rs);
    pick_classes(B, N, t, nt, &rng, &rs);

    /* Seeded uniform rows, as many as the budget left allows. */
    const double left = VALIDATE_REF_BUDGET_MACS - rows_cost(f, s, rs.r, rs.n);
    const double mean = all / (double)total;
    int64_t want = mean > 0 && left > 0 ? (int64_t)(left / mean) : 0;
    want = want < VALIDATE_MIN_RANDOM ? VALIDATE_MIN_RANDOM : want;
    want = want > VALIDATE_MAX_RANDOM ? VALIDATE_MAX_RANDOM : want;
    for (int64_t i = 0; i < want; i++)
        rows_add(&rs, (int64_t)(sb_rng_next(&rng) % (uint64_t)total));

    if (rs.oom) {
        free(rs.r);
        return -1;
    }
    rows_sort(&rs);
    *rows = rs.r;
    *sampled = 1;
    return rs.n;
}

/* ---- how far off ----------------------------------------------------------- */

/* Running totals of a comparison. */
struct err_acc {
    double err2, ref2;
};

/* One checked row from its per-head sums e2[h] = Σ(o − x)², x2[h] = Σx²:
 * into the totals, and the worst (row, head) so far (validate_compare says
 * how a head's error is normalised). */
static void acc_row(struct err_acc *a, struct check_result *r, int64_t row, const double *e2,
                    const double *x2, int64_t heads)
{
    double row_e2 = 0, row_x2 = 0;
    for (int64_t h = 0; h < heads; h++)
        row_e2 += e2[h], row_x2 += x2[h];
    a->err2 += row_e2, a->ref2 += row_x2;
    const double rms_head2 = row_x2 / (double)heads;
    for (int64_t h = 0; h < heads; h++) {
        const double norm2 = x2[h] > rms_head2 ? x2[h] : rms_head2;
        const double e = norm2 > 0 ? sqrt(e2[h] / norm2) : sqrt(e2[h]);
        if (r->worst_row < 0 || e > r->worst_rel_l2)
            r->worst_rel_l2 = e, r->worst_row = row, r->worst_head = h;
    }
}

/* The verdict from the totals. */
static void acc_judge(const struct err_acc *a, const struct tolerance *tol, struct check_result *r)
{
    r->rel_l2 = a->ref2 > 0 ? sqrt(a->err2 / a->ref2) : sqrt(a->err2);
    if (!(r->rel_l2 <= tol->rel_l2))
        snprintf(r->why, sizeof r->why, "relative L2 error %.3g > tolerance %.3g (max abs %.3g)",
                 r->rel_l2, tol->rel_l2, r->max_abs);
    else if (!(r->worst_rel_l2 <= tol->row_rel_l2))
        snprintf(r->why, sizeof r->why,
                 "row %lld head %lld: relative L2 error %.3g > row tolerance %.3g",
                 (long long)r->worst_row, (long long)r->worst_head, r->worst_rel_l2,
                 tol->row_rel_l2);
    else
        r->ok = 1;
}

static void check_init(struct check_result *r)
{
    *r = (struct check_result){ .first_nonfinite = -1, .worst_row = -1, .worst_head = -1 };
}

void validate_compare(const struct tolerance *tol, const float *out, int64_t total_elems,
                      const int64_t *rows, int64_t nrows, int64_t elems, int64_t heads,
                      const double *ref, struct check_result *r)
{
    check_init(r);
    /* Poison (NaN) left anywhere means an element was never written. */
    for (int64_t i = 0; i < total_elems; i++)
        if (!isfinite(out[i])) {
            if (r->nonfinite++ == 0)
                r->first_nonfinite = i;
        }
    if (r->nonfinite) {
        snprintf(r->why, sizeof r->why, "%lld NaN/Inf or unwritten output elements (first at %lld)",
                 (long long)r->nonfinite, (long long)r->first_nonfinite);
        r->rel_l2 = r->worst_rel_l2 = r->max_abs = NAN;
        return;
    }
    double *e2 = malloc((size_t)(2 * heads) * sizeof *e2), *x2 = e2 + heads;
    if (!e2) {
        snprintf(r->why, sizeof r->why, "out of host memory");
        r->rel_l2 = r->worst_rel_l2 = r->max_abs = NAN;
        return;
    }
    const int64_t he = elems / heads;
    struct err_acc a = { 0 };
    for (int64_t i = 0; i < nrows; i++) {
        for (int64_t h = 0; h < heads; h++) {
            const float *o = out + rows[i] * elems + h * he;
            const double *x = ref + i * elems + h * he;
            double se = 0, sx = 0;
            for (int64_t e = 0; e < he; e++) {
                const double d = (double)o[e] - x[e];
                se += d * d, sx += x[e] * x[e];
                if (fabs(d) > r->max_abs)
                    r->max_abs = fabs(d);
            }
            e2[h] = se, x2[h] = sx;
        }
        acc_row(&a, r, rows[i], e2, x2, heads);
    }
    free(e2);
    acc_judge(&a, tol, r);
}

void validate_sums(const struct tolerance *tol, const float *sums, const int64_t *rows,
                   int64_t nrows, int64_t heads, struct check_result *r)
{
    check_init(r);
    double *e2 = malloc((size_t)(2 * heads) * sizeof *e2), *x2 = e2 + heads;
    if (!e2) {
        snprintf(r->why, sizeof r->why, "out of host memory");
        r->rel_l2 = r->worst_rel_l2 = r->max_abs = NAN;
        return;
    }
    struct err_acc a = { 0 };
    for (int64_t i = 0; i < nrows; i++) {
        for (int64_t h = 0; h < heads; h++) {
            const float *x = sums + (i * heads + h) * 3;
            e2[h] = x[0], x2[h] = x[1];
            if (!(x[2] <= r->max_abs))
                r->max_abs = x[2];
        }
        acc_row(&a, r, rows ? rows[i] : i, e2, x2, heads);
    }
    free(e2);
    acc_judge(&a, tol, r);
}

void validate_final(const struct tolerance *tol, const struct io_specs *io, const float *final,
                    const double *ref_final, struct check_result *r)
{
    /* Rows of the final output: its first dim flattened with the second
     * (batch, head), one head each; all of them are checked. */
    const int64_t rows = io->final.dims[0] * io->final.dims[1];
    const int64_t total = tensor_numel(&io->final), elems = total / rows;
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    if (!idx) {
        check_init(r);
        snprintf(r->why, sizeof r->why, "%s: out of host memory", io->final.name);
        return;
    }
    for (int64_t i = 0; i < rows; i++)
        idx[i] = i;
    struct check_result out_chk = *r;
    validate_compare(tol, final, total, idx, rows, elems, 1, ref_final, r);
    free(idx);
    if (!r->ok) {
        char why[sizeof r->why];
        memcpy(why, r->why, sizeof why);
        snprintf(r->why, sizeof r->why, "final state %.16s: %.160s", io->final.name, why);
        return;
    }
    /* Both pass: the worse overall errors; the output's worst (row, head). */
    const double rel = r->rel_l2, mabs = r->max_abs;
    *r = out_chk;
    if (rel > r->rel_l2) r->rel_l2 = rel;
    if (mabs > r->max_abs) r->max_abs = mabs;
}

int64_t validate_out_heads(const struct io_specs *io)
{
    return io->out.ndim >= 3 ? io->out.dims[2] : 1;
}

int validate_on_device(const struct family *f, struct op_ctx *ctx, struct check_result *r,
                       int *ran)
{
    *ran = 0;
    check_init(r);
    struct gref_case c;
    if (!ctx->gpu || !f->gpu_ref || !f->gpu_ref(ctx->shape, ctx->scale, ctx->in, &c))
        return SB_OK;
#ifdef SB_HAVE_CUDA
    const int64_t rows = gref_rows(&c), heads = gref_heads(&c);
    float *sums = malloc((size_t)(rows * heads * 3) * sizeof *sums);
    if (!sums)
        return SB_OK;       /* host memory for the sums: not checked, rows_checked says so */
    int rc = gpu_ref_sums(ctx, &c, ctx->out, sums);
    if (rc == SB_OK) {
        struct shape s32 = *ctx->shape;
        s32.dtype = DT_FP32;
        const struct tolerance a = f->tolerance(ctx->shape), b = f->tolerance(&s32);
        const struct tolerance tol = { a.rel_l2 + b.rel_l2, a.row_rel_l2 + b.row_rel_l2 };
        validate_sums(&tol, sums, NULL, rows, heads, r);
        *ran = 1;
    }
    free(sums);
    if (rc == SB_OOM) {
        ctx->err[0] = 0;
        return SB_OK;
    }
    return rc;
#else
    return SB_OK;
#endif
}
