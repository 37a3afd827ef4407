/*
 * test_validate.c — harness/validate.c and the checks of harness/runcase.c:
 * the rows picked cover the work decomposition (every tile and chunk edge,
 * every split and the diagonal at N <= 16K; every position class above),
 * the per-(row, head) error catches a wrong head that the row-level error
 * of old let through, and the recheck after timing catches an output that
 * changes between the checked run and the last timed run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/delta/delta_chunk.h"
#include "../ops/flash/flash_tiles.h"
#include "../reference/attention.h"
#include "../reference/gla.h"
#include "check.h"
#include "check_shape.h"
#include "runcase.h"
#include "validate.h"

/* The rows validation picks for a shape, as a per-position flag (in any
 * batch) and a per-row one. */
struct picked {
    int64_t n, *rows;
    int sampled;
    char *pos;      /* [N]: some batch's row at this position is checked */
    char *row;      /* [B·N] */
};

static struct picked pick(const char *fam, const struct shape *s)
{
    struct picked p = { 0 };
    p.n = validate_pick_rows(family_find(fam), s, 11, &p.rows, &p.sampled);
    p.pos = calloc((size_t)s->N, 1);
    p.row = calloc((size_t)(s->B * s->N), 1);
    for (int64_t i = 0; i < p.n; i++)
        p.pos[p.rows[i] % s->N] = p.row[p.rows[i]] = 1;
    return p;
}

static void picked_free(struct picked *p)
{
    free(p->rows), free(p->pos), free(p->row);
}

/* Both edges of every tile of length len whose boundaries are the rows n
 * with (n + off) % len == 0, within outer tiles of `within` rows (0: none),
 * computed here from the tile sizes, not from validate.c's tilings. */
static int64_t missing_edges(const struct picked *p, int64_t N, int64_t len, int64_t off,
                             int64_t within)
{
    int64_t missing = 0;
    const int64_t outer = within > 0 ? within : N;
    for (int64_t o0 = 0; o0 < N; o0 += outer) {
        const int64_t o1 = o0 + outer < N ? o0 + outer : N;
        for (int64_t n = o0; n < o1; n++) {
            const int64_t m = n - (within > 0 ? o0 : 0);
            const int starts = n == o0 || (m + off) % len == 0;
            if (starts)
                missing += !p->pos[n] + (n > 0 && !p->pos[n - 1]);
        }
        missing += !p->pos[o1 - 1];
    }
    return missing;
}

/* Every position class c of a tiling (rows with (n + off) % len == c) has a
 * checked row. */
static int64_t missing_classes(const struct picked *p, int64_t N, int64_t len, int64_t off)
{
    char *seen = calloc((size_t)len, 1);
    for (int64_t n = 0; n < N; n++)
        if (p->pos[n])
            seen[(n + off) % len] = 1;
    int64_t missing = 0;
    for (int64_t c = 0; c < len; c++)
        missing += !seen[c];
    free(seen);
    return missing;
}

static void check_batch_ends(const struct picked *p, const struct shape *s, const char *what)
{
    int ok = 1;
    for (int64_t b = 0; b < s->B; b++)
        ok &= p->row[b * s->N] && p->row[b * s->N + s->N - 1];
    CHECK(ok, "%s: first and last row of every batch", what);
}

/* N <= 16K, sampled: flash's query tiles, the causal diagonal (Nk - N = 37
 * is no multiple of the key tile) and every batch's ends. */
static void test_flash_edges(void)
{
    struct shape s = mk("flash", "B=2 N=3000 Nk=3037 H=16 D=128 causal", DT_BF16);
    struct picked p = pick("flash", &s);
    CHECK(p.sampled && p.n < s.B * s.N, "sampled: %lld of %lld rows", (long long)p.n,
          (long long)(s.B * s.N));
    check_batch_ends(&p, &s, "flash");
    CHECK(missing_edges(&p, s.N, FLASH_BR, 0, 0) == 0, "both edges of every query tile");
    CHECK(missing_edges(&p, s.N, FLASH_BC, (s.Nk - s.N) % FLASH_BC, 0) == 0,
          "the diagonal: rows whose last key is the first or last of a key tile");
    int sorted = 1;
    for (int64_t i = 1; i < p.n; i++)
        sorted &= p.rows[i] > p.rows[i - 1];
    CHECK(sorted, "rows sorted and distinct");
    picked_free(&p);

    /* Without the mask there is no diagonal: only the query tiles' edges
     * (and position classes) are required, fewer rows. */
    s.causal = 0;
    struct picked q = pick("flash", &s);
    CHECK(missing_edges(&q, s.N, FLASH_BR, 0, 0) == 0, "non-causal: every query tile's edges");
    CHECK(q.n < p.n, "non-causal: fewer rows (%lld < %lld)", (long long)q.n, (long long)p.n);
    picked_free(&q);
}

/* A split-KV case too long to check in full: every split of every query
 * tile (flash_tiles.h, the plan for FLASH_NOMINAL_SMS) meets a checked row
 * that sees keys of it. */
static void test_flash_splits(void)
{
    struct shape s = mk("flash", "B=1 N=1000 Nk=200000 H=8 D=128 causal", DT_BF16);
    const struct flash_split plan = flash_splits(s.B, s.H, s.N, s.Nk, s.causal, FLASH_NOMINAL_SMS);
    CHECK(plan.max > 1, "the case splits (%lld splits)", (long long)plan.max);
    struct picked p = pick("flash", &s);
    CHECK(p.sampled, "too long to check every row");
    int64_t pairs = 0, covered = 0;
    for (int64_t i0 = 0; i0 < s.N; i0 += FLASH_BR) {
        const int64_t count = flash_tile_splits(plan, s.N, s.Nk, s.causal, i0);
        for (int64_t sp = 0; sp < count; sp++) {
            int64_t jb, je;
            flash_split_keys(plan, s.N, s.Nk, s.causal, i0, sp, &jb, &je);
            int hit = 0;
            for (int64_t n = i0; n < i0 + FLASH_BR && n < s.N; n++)
                hit |= p.pos[n] && attn_kv_end(&s, n) > jb;
            pairs++, covered += hit;
        }
    }
    CHECK(pairs > 16 && covered == pairs, "%lld of %lld (tile, split) pairs checked",
          (long long)covered, (long long)pairs);
    picked_free(&p);
}

/* Recurrent: chunk edges and sub-chunk edges, also with a chunk that is no
 * multiple of the sub-chunk (the cpu forms take any chunk). */
static void test_recurrent_edges(void)
{
    const struct { const char *fam, *words; int64_t sub; } cases[] = {
        { "gated", "B=4 N=16384 H=16 D=128 gate=key", GLA_SUB },
        { "linear", "B=4 N=16000 H=16 D=128 chunk=50", GLA_SUB },
        { "delta", "B=4 N=16384 H=16 D=128 gate=head", DELTA_GPU_SUB },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct shape s = mk(cases[i].fam, cases[i].words, DT_BF16);
        struct picked p = pick(cases[i].fam, &s);
        CHECK(p.sampled, "%s: sampled", cases[i].words);
        check_batch_ends(&p, &s, cases[i].words);
        CHECK(missing_edges(&p, s.N, s.chunk, 0, 0) == 0, "%s: every chunk's edges",
              cases[i].words);
        CHECK(missing_edges(&p, s.N, cases[i].sub, 0, s.chunk) == 0,
              "%s: every sub-chunk's edges", cases[i].words);
        picked_free(&p);
    }
}

/* Above 16K: the first and last tile's edges and every position class of
 * the query tiles, the diagonal and the chunks, in a few hundred rows. */
static void test_long_classes(void)
{
    struct shape s = mk("flash", "B=1 N=131072 Nk=131077 H=16 D=128 causal", DT_BF16);
    struct picked p = pick("flash", &s);
    const int64_t N = s.N, shift = s.Nk - s.N;
    CHECK(p.sampled && p.n < 400, "128K flash: %lld rows", (long long)p.n);
    CHECK(missing_classes(&p, N, FLASH_BR, 0) == 0, "every row-in-query-tile position");
    CHECK(missing_classes(&p, N, FLASH_BC, shift % FLASH_BC) == 0,
          "every position relative to the diagonal key tile");
    CHECK(p.pos[0] && p.pos[FLASH_BR - 1] && p.pos[N - FLASH_BR] && p.pos[N - 1],
          "first and last query tile, both edges");
    const int64_t d_first = FLASH_BC - shift % FLASH_BC;     /* first row starting a diagonal tile */
    const int64_t d_last = N - 1 - (N - 1 + shift) % FLASH_BC;
    CHECK(p.pos[d_first - 1] && p.pos[d_last], "first and last diagonal tile (%lld, %lld)",
          (long long)(d_first - 1), (long long)d_last);
    printf("flash B=1 N=131072 H=16 D=128 causal: %lld rows checked (before: 6)\n",
           (long long)p.n);
    picked_free(&p);

    s = mk("delta", "B=2 N=131072 H=16 D=128 gate=head", DT_BF16);
    p = pick("delta", &s);
    CHECK(p.sampled, "128K delta sampled");
    check_batch_ends(&p, &s, "128K delta");
    CHECK(missing_classes(&p, s.N, s.chunk, 0) == 0, "every row-in-chunk position");
    picked_free(&p);

    /* A family without tilings (softmax: cuBLAS's tiles) still gets the
     * batch ends and seeded rows. */
    s = mk("softmax", "B=2 N=65536 H=16 D=128 causal", DT_BF16);
    p = pick("softmax", &s);
    check_batch_ends(&p, &s, "softmax");
    CHECK(p.n >= 4 + VALIDATE_MIN_RANDOM / 2, "softmax: %lld rows", (long long)p.n);
    picked_free(&p);
}

/* ---- a wrong head ------------------------------------------------------------ */

static int bad_head = -1;

/* The reference's answer with one head of the last row (always checked)
 * off by a tenth of the row's RMS head norm: the smallest head, so its own
 * norm is at most the RMS and its error, measured per head, is at least
 * 0.1; over the whole row of H heads it is 0.1/√H. */
static int wrong_head_run(struct op_ctx *ctx)
{
    int rc = attn_ref_run(ctx);
    const struct shape *s = ctx->shape;
    float *o = ctx->out + (s->B * s->N - 1) * s->H * s->Dv;
    double row2 = 0, min2 = INFINITY;
    for (int64_t h = 0; h < s->H; h++) {
        double x2 = 0;
        for (int64_t e = 0; e < s->Dv; e++)
            x2 += (double)o[h * s->Dv + e] * o[h * s->Dv + e];
        row2 += x2;
        if (x2 < min2)
            min2 = x2, bad_head = (int)h;
    }
    const double delta = 0.1 * sqrt(row2 / (double)s->H) / sqrt((double)s->Dv);
    for (int64_t e = 0; e < s->Dv; e++)
        o[bad_head * s->Dv + e] += (float)(e % 2 ? delta : -delta);
    return rc;
}

static void test_wrong_head(void)
{
    struct shape s = mk("flash", "B=1 N=256 H=16 D=64 causal", DT_BF16);
    static const struct impl bad = { .name = "wrong-head", .device = DEV_CPU,
                                     .dtypes = DT_BIT(DT_BF16), .run = wrong_head_run };
    struct case_req q = { .family = family_find("flash"), .impl = &bad, .shape = s, .seed = 3,
                          .device = "cpu", .verify_only = 1 };
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    struct case_result r;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "mismatch") == 0 && r.error && strstr(r.error, "head"),
          "a wrong head is a mismatch: %s (%s)", r.status, r.error);
    CHECK(r.rec.worst_row == s.N - 1 && r.rec.worst_head == bad_head,
          "worst (row, head) = (%lld, %lld), planted (%lld, %d)", (long long)r.rec.worst_row,
          (long long)r.rec.worst_head, (long long)(s.N - 1), bad_head);
    CHECK(r.rec.worst_rel_err > 0.09, "the head's error %.3g", r.rec.worst_rel_err);
    case_result_free(&r);

    /* The same output judged per row (one "head" spanning all 16, the old
     * check) passes: the error is diluted to 0.1/√16 = 0.025 < 0.03. */
    struct io_specs io;
    attn_io(&s, &io);
    float *in[3];
    for (int t = 0; t < 3; t++)
        in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
    attn_inputs(&s, 3, in);
    const int64_t rows = s.B * s.N, elems = s.H * s.Dv;
    float *out = malloc((size_t)(rows * elems) * sizeof *out);
    double *ref = malloc((size_t)(rows * elems) * sizeof *ref);
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    for (int64_t i = 0; i < rows; i++)
        idx[i] = i;
    struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in, .out = out,
                          .scale = 1 / sqrt((double)s.D), .threads = 2 };
    wrong_head_run(&ctx);
    attn_reference(&s, ctx.scale, ctx.in, idx, rows, ref, NULL);
    const struct tolerance tol = attn_tolerance(&s);
    struct check_result per_row, per_head;
    validate_compare(&tol, out, rows * elems, idx, rows, elems, 1, ref, &per_row);
    validate_compare(&tol, out, rows * elems, idx, rows, elems, s.H, ref, &per_head);
    CHECK(per_row.ok && per_row.worst_rel_l2 < tol.row_rel_l2,
          "per row it passes: %.3g < %.3g (%s)", per_row.worst_rel_l2, tol.row_rel_l2,
          per_row.why);
    CHECK(!per_head.ok && per_head.worst_head == bad_head,
          "per (row, head) it fails: %.3g at head %lld", per_head.worst_rel_l2,
          (long long)per_head.worst_head);

    /* The device check's judgement from per-(row, head) sums is the same. */
    float *sums = malloc((size_t)(rows * s.H * 3) * sizeof *sums);
    for (int64_t i = 0; i < rows * s.H; i++) {
        double se = 0, sx = 0, mx = 0;
        for (int64_t e = 0; e < s.Dv; e++) {
            const double d = out[i * s.Dv + e] - ref[i * s.Dv + e];
            se += d * d, sx += ref[i * s.Dv + e] * ref[i * s.Dv + e];
            mx = fabs(d) > mx ? fabs(d) : mx;
        }
        sums[3 * i] = (float)se, sums[3 * i + 1] = (float)sx, sums[3 * i + 2] = (float)mx;
    }
    struct check_result from_sums;
    validate_sums(&tol, sums, NULL, rows, s.H, &from_sums);
    CHECK(!from_sums.ok && from_sums.worst_row == per_head.worst_row &&
          from_sums.worst_head == per_head.worst_head &&
          fabs(from_sums.worst_rel_l2 - per_head.worst_rel_l2) < 1e-5 * per_head.worst_rel_l2 &&
          fabs(from_sums.rel_l2 - per_head.rel_l2) < 1e-5 * per_head.rel_l2,
          "from sums: %s, %.6g vs %.6g", from_sums.why, from_sums.worst_rel_l2,
          per_head.worst_rel_l2);
    free(sums);

    /* A head whose output nearly cancels is measured against the row's RMS
     * head norm, so rounding there is not a mismatch. */
    float o2[8] = { 1, -1, 1, -1, 1e-6f, 1e-6f, 1e-6f, 1e-6f };
    double x2[8] = { 1, -1, 1, -1, 2e-6, 0, 2e-6, 0 };     /* head 1 off by 1e-6 absolute */
    int64_t r0 = 0;
    struct check_result c;
    validate_compare(&tol, o2, 8, &r0, 1, 8, 2, x2, &c);
    CHECK(c.ok && c.worst_rel_l2 < 1e-5, "a tiny head's rounding passes (%.3g: %s)",
          c.worst_rel_l2, c.why);
    o2[4] = 0.5f;       /* but a wrong value there does not */
    validate_compare(&tol, o2, 8, &r0, 1, 8, 2, x2, &c);
    CHECK(!c.ok && c.worst_head == 1, "a tiny head's wrong value fails (%.3g)", c.worst_rel_l2);

    for (int t = 0; t < 3; t++)
        free(in[t]);
    free(out), free(ref), free(idx);
}

/* ---- the recheck after timing ----------------------------------------------- */

static int runs, change_after;

/* The reference's answer; from run change_after on, the last row is off
 * (as a race under back-to-back launches would leave it). */
static int drifting_run(struct op_ctx *ctx)
{
    int rc = attn_ref_run(ctx);
    if (++runs > change_after) {
        const struct shape *s = ctx->shape;
        ctx->out[(s->B * s->N - 1) * s->H * s->Dv + 5] += 1.0f;
    }
    return rc;
}

/* As a GPU implementation: runs into its own buffer, fetch copies it out. */
static float *device_buf;
static int buffered_run(struct op_ctx *ctx)
{
    float *out = ctx->out;
    int rc = attn_ref_run(ctx);
    memcpy(device_buf, out, (size_t)tensor_numel(&ctx->io->out) * sizeof *out);
    for (int64_t i = 0; i < tensor_numel(&ctx->io->out); i++)
        out[i] = NAN;       /* the host copy is only what fetch brings */
    return rc;
}
static int buffered_fetch(struct op_ctx *ctx)
{
    memcpy(ctx->out, device_buf, (size_t)tensor_numel(&ctx->io->out) * sizeof *ctx->out);
    return SB_OK;
}

/* Writes its output on the first run only: the timed runs leave the
 * buffer alone (a stale result standing in for a fresh one). */
static int lazy_run(struct op_ctx *ctx)
{
    return runs++ == 0 ? attn_ref_run(ctx) : SB_OK;
}

static void test_recheck(void)
{
    struct shape s = mk("flash", "B=1 N=70 H=2 D=16 causal", DT_FP32);
    static struct impl stub = { .name = "stub", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) };
    struct case_req q = { .family = family_find("flash"), .impl = &stub, .shape = s, .seed = 3,
                          .device = "cpu" };
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    q.mopts.max_seconds = 0.2, q.mopts.warmup_seconds = 0;
    struct case_result r;

    stub.run = drifting_run, runs = 0, change_after = 1 << 30;     /* never changes */
    run_case(&q, &r);
    CHECK(status_is_ok(r.status) && r.rec.n_samples >= 1, "steady: %s, %d samples",
          r.status, r.rec.n_samples);
    CHECK(r.rec.recheck_rel_err == r.rec.rel_err, "recheck %.3g = check %.3g",
          r.rec.recheck_rel_err, r.rec.rel_err);
    CHECK(r.rec.validate_s >= 0 && r.rec.validate_s < 10, "validate_s %.3g", r.rec.validate_s);
    case_result_free(&r);

    runs = 0, change_after = 2;     /* the checked run and the warm-up are right */
    run_case(&q, &r);
    CHECK(strcmp(r.status, "mismatch") == 0 && r.error && strstr(r.error, "after timing"),
          "changed after timing: %s (%s)", r.status, r.error);
    CHECK(r.rec.rel_err < 1e-6 && r.rec.recheck_rel_err > attn_tolerance(&s).rel_l2,
          "checked run %.3g, last timed run %.3g", r.rec.rel_err, r.rec.recheck_rel_err);
    CHECK(r.rec.n_samples == 0 && isnan(r.rec.median_ms), "a mismatch stores no timing");
    case_result_free(&r);

    stub.run = lazy_run, runs = 0;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "mismatch") == 0 && r.error && strstr(r.error, "NaN"),
          "timed runs that write nothing: %s (%s)", r.status, r.error);
    case_result_free(&r);

    /* An implementation with a fetch is fetched again after timing (the
     * host copy was poisoned before it: without the fetch, NaN). */
    device_buf = malloc((size_t)(s.B * s.N * s.H * s.Dv) * sizeof *device_buf);
    stub.run = buffered_run, stub.fetch = buffered_fetch;
    run_case(&q, &r);
    CHECK(status_is_ok(r.status) && r.rec.recheck_rel_err == r.rec.rel_err,
          "fetched after timing: %s (%s)", r.status, r.error);
    case_result_free(&r);
    stub.fetch = NULL;
    free(device_buf);
}

int main(void)
{
    test_flash_edges();
    test_flash_splits();
    test_recurrent_edges();
    test_long_classes();
    test_wrong_head();
    test_recheck();
    return check_done();
}
