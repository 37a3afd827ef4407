/*
 * attention.c — scaled dot-product attention, the definition both the
 * softmax and the flash families are checked against.
 *
 *   O[b,n,h,:] = Σ_j softmax_j(scale · q[b,n,h,:]·k[b,j,g,:] + mask[n,j]) · v[b,j,g,:]
 *
 * q [B,N,H,D], k [B,Nk,Hkv,D], v [B,Nk,Hkv,Dv], O [B,N,H,Dv], token-major as in
 * FlashAttention; g = h / (H/Hkv) (GQA, MQA when Hkv = 1); scale = 1/sqrt(D).
 * Causal: key j is visible to query n iff j <= n + (Nk - N) (aligned
 * bottom-right, as FlashAttention >= 2.1 does, so decode with N = 1 sees the
 * whole context). Causal needs Nk >= N, so every row sees at least one key.
 *
 * FLOPs (a multiply-add is 2): 2·B·H·P·(D + Dv), P the number of visible
 * (query, key) pairs: N·Nk, or N·(Nk-N) + N(N+1)/2 causal. FlashAttention's
 * benchmarks count 4·B·H·N·Nk·D halved for causal; ours is the exact count of
 * the multiply-adds the definition needs (equal up to a factor (N+1)/N).
 * Compulsory bytes: q, k, v read once and O written once, in the dtype.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "../harness/gpu_ref.h"

int64_t attn_ref_macs;

void attn_defaults(struct shape *s)
{
    if (s->B < 0) s->B = 1;
    if (s->N < 0) s->N = 1024;
    if (s->Nk < 0) s->Nk = s->N;
    if (s->H < 0) s->H = 8;
    if (s->Hkv < 0) s->Hkv = s->H;
    if (s->D < 0) s->D = 128;
    if (s->Dv < 0) s->Dv = s->D;
    if (s->causal < 0) s->causal = 0;
    if (s->window < 0) s->window = 0;
    if (s->sink < 0) s->sink = 0;
}

/* Largest tensor the harness will allocate on the host, in elements: keeps
 * int64 index arithmetic and malloc sizes far from overflow. */
#define ATTN_MAX_ELEMS (INT64_C(1) << 40)

int attn_validate(const struct shape *s, char *msg, size_t n)
{
    static const int positive[] = { SF_B, SF_N, SF_NK, SF_H, SF_HKV, SF_D, SF_DV };
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++) {
        int64_t v = shape_field_get(s, positive[i]);
        if (v <= 0) {
            snprintf(msg, n, "%s=%lld: must be a positive integer", shape_fields[positive[i]].name,
                     (long long)v);
            return -1;
        }
    }
    if (s->causal != 0 && s->causal != 1) {
        snprintf(msg, n, "causal=%lld: must be 0 or 1", (long long)s->causal);
        return -1;
    }
    if (s->H % s->Hkv != 0) {
        snprintf(msg, n, "Hkv=%lld: must divide H=%lld", (long long)s->Hkv, (long long)s->H);
        return -1;
    }
    if (s->window > 0 && !s->causal) {
        snprintf(msg, n, "window=%lld: a sliding window needs causal (keys up to the diagonal)",
                 (long long)s->window);
        return -1;
    }
    if (s->sink > 0 && s->window <= 0) {
        snprintf(msg, n, "sink=%lld: sink tokens need a window (--window W); without one every key is seen",
                 (long long)s->sink);
        return -1;
    }
    if (s->causal && s->Nk < s->N) {
        snprintf(msg, n, "Nk=%lld: causal attention needs Nk >= N=%lld", (long long)s->Nk,
                 (long long)s->N);
        return -1;
    }
    double q = (double)s->B * s->N * s->H * s->D, o = (double)s->B * s->N * s->H * s->Dv;
    double kv = (double)s->B * s->Nk * s->Hkv * (s->D > s->Dv ? s->D : s->Dv);
    if (q > ATTN_MAX_ELEMS || o > ATTN_MAX_ELEMS || kv > ATTN_MAX_ELEMS) {
        snprintf(msg, n, "shape too large: a tensor would hold more than 2^40 elements");
        return -1;
    }
    return 0;
}

/* Keys row n sees under the shape's mask (attn_mask_spans). */
static int64_t attn_row_keys(const struct shape *s, int64_t n)
{
    int64_t iv[4], keys = 0;
    const int64_t k = attn_mask_spans(s, NULL, 0, 0, n, iv);
    for (int64_t c = 0; c < k; c++)
        keys += iv[2 * c + 1] - iv[2 * c];
    return keys;
}

/* The visible (query, key) pairs: N·Nk, or N·(Nk-N) + N(N+1)/2 causal;
 * with a window, the sum over the rows (a closed form would be one more
 * thing to get wrong: the rows are at most a few million). */
static double attn_pairs(const struct shape *s)
{
    double N = (double)s->N, Nk = (double)s->Nk;
    if (s->window <= 0)
        return s->causal ? N * (Nk - N) + N * (N + 1) / 2 : N * Nk;
    double pairs = 0;
    for (int64_t n = 0; n < s->N; n++)
        pairs += (double)attn_row_keys(s, n);
    return pairs;
}

double attn_flops(const struct shape *s)
{
    return 2.0 * s->B * s->H * attn_pairs(s) * (double)(s->D + s->Dv);
}

/* Keys some row sees: every key (causal, the last row sees them all) but,
 * with a window, none before the first row's window (lo) that no sink
 * shows. The rows' windows are consecutive, so what they cover is one span. */
static double attn_keys_seen(const struct shape *s)
{
    if (s->window <= 0)
        return (double)s->Nk;
    const int64_t lo = s->Nk - s->N - s->window + 1 > 0 ? s->Nk - s->N - s->window + 1 : 0;
    return (double)(s->Nk - lo + (s->sink < lo ? s->sink : lo));
}

/* Every input element a result depends on read once, the output written
 * once: q and O whole (every row sees its diagonal key), k and v at the
 * keys some row sees, so that a windowed decode against a long context is
 * not charged for the keys its window leaves out. */
double attn_min_bytes(const struct shape *s)
{
    double elems = (double)s->B * s->N * s->H * s->D                    /* q */
                 + (double)s->B * attn_keys_seen(s) * s->Hkv * (s->D + s->Dv) /* k, v */
                 + (double)s->B * s->N * s->H * s->Dv;                  /* O */
    return elems * dtype_table[s->dtype].bytes;
}

static void spec(struct tensor_spec *t, const char *name, int64_t a, int64_t b, int64_t c, int64_t d)
{
    t->name = name;
    t->ndim = 4;
    t->dims[0] = a, t->dims[1] = b, t->dims[2] = c, t->dims[3] = d;
}

void attn_io(const struct shape *s, struct io_specs *io)
{
    memset(io, 0, sizeof *io);
    io->n_in = 3;
    spec(&io->in[0], "q", s->B, s->N, s->H, s->D);
    spec(&io->in[1], "k", s->B, s->Nk, s->Hkv, s->D);
    spec(&io->in[2], "v", s->B, s->Nk, s->Hkv, s->Dv);
    spec(&io->out, "out", s->B, s->N, s->H, s->Dv);
}

/* q has standard deviation 2, k and v 1: with scale 1/sqrt(D) the logits have
 * standard deviation 2, peaked enough that a wrong mask or a wrong key tile
 * moves the output well past the tolerance even at long context. Each
 * tensor draws from its own stream (seed, tensor index), so q is the same
 * whatever Nk is. */
void attn_inputs(const struct shape *s, uint64_t seed, float *const in[])
{
    static const float amplitude[3] = { 3.4641016f /* 2·sqrt(3) */, 1.7320508f, 1.7320508f };
    struct io_specs io;
    attn_io(s, &io);
    for (int t = 0; t < 3; t++) {
        int64_t n = tensor_numel(&io.in[t]);
        const uint64_t state = seed * 0x9E3779B97F4A7C15ull + (uint64_t)t * 0xD1B54A32D192ED03ull;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float x = amplitude[t] * sb_rng_uniform_at(state, i);
            in[t][i] = dtype_round(s->dtype, x);
        }
    }
}

double attn_row_cost(const struct shape *s, int64_t row)
{
    return (double)s->H * (double)attn_row_keys(s, row % s->N) * (double)(s->D + s->Dv);
}

/* bf16: inputs are exactly representable, so the error is the kernel's:
 * probabilities rounded to bf16 before P·V (relative 2^-9 each, averaging
 * out over keys) and the output rounded to bf16 (2^-9 ≈ 2e-3 per element,
 * ≈ 1.1e-3 relative L2). 1e-2 leaves room for fp32 accumulation orders.
 * fp32: dot products of length D and sums over up to 128K keys in fp32 with
 * exp2 approximations (≤ 2 ulp); measured errors stay below 1e-6 at small N
 * and grow like sqrt(Nk)·2^-24; 1e-4 bounds them at 1M keys. The worst single
 * row may be 3x worse than the average (short causal rows are few-term sums).
 * fp16: the same two roundings with 3 more mantissa bits. The output's
 * alone measures 2.0e-4 to 2.1e-4 relative L2 (flash/ref and flash/cpu over
 * the edge shapes); probabilities rounded to fp16 before P·V, as cuDNN
 * does, add about as much again in quadrature: ≈ 3e-4. 1e-3 leaves a
 * margin of about 3x and still fails a kernel that rounds to bf16 where it
 * should keep fp16 (8x the error; tests/test_attention.c plants one). */
struct tolerance attn_tolerance(const struct shape *s)
{
    if (s->dtype == DT_BF16)
        return (struct tolerance){ .rel_l2 = 1e-2, .row_rel_l2 = 3e-2 };
    if (s->dtype == DT_FP16)
        return (struct tolerance){ .rel_l2 = 1e-3, .row_rel_l2 = 3e-3 };
    return (struct tolerance){ .rel_l2 = 1e-4, .row_rel_l2 = 3e-4 };
}

int attn_gpu_ref(const struct shape *s, double scale, const float *const in[],
                 struct gref_case *c)
{
    *c = (struct gref_case){ .kind = GREF_ATTENTION, .B = s->B, .N = s->N, .Nk = s->Nk,
                             .H = s->H, .Hkv = s->Hkv, .D = s->D, .Dv = s->Dv,
                             .causal = (int)s->causal, .window = s->window, .sink = s->sink,
                             .scale = (float)scale,
                             .q = in[0], .k = in[1], .v = in[2] };
    return 1;
}

/* The reference computes ATTN_REF_ROWS rows of one head together, keys in
 * blocks of ATTN_REF_KEYS: each block of K (or V) is read from memory once
 * for all the rows and then from cache (a 128K-token head's K is 64 MiB;
 * row by row, every row streamed all of it). Per row the arithmetic is the
 * definition's: scores in float64, the exact max, exp, sum, weights p/sum.
 * Scratch: ATTN_REF_ROWS × Nk scores per thread (8 MiB at 128K keys). */
#define ATTN_REF_ROWS 8
#define ATTN_REF_KEYS 256

/* -std=c11 turns floating-point contraction off; one FMA (a single
 * rounding) is both faster and no less accurate than a multiply and an add. */
#define ATTN_REF_FMA __attribute__((optimize("fp-contract=fast", "no-predictive-commoning", "no-loop-unroll-and-jam")))

/* q·k_u for ATTN_REF_DOTS keys k_u = k + u·ks at once, in float64, each
 * with eight partial sums (d ≡ l mod 8) added at the end: a summation order
 * the vectoriser keeps as written (C forbids it to reorder a single sum),
 * exact to float64 rounding like any other, and with 2·ATTN_REF_DOTS
 * independent chains the FMA units stay busy instead of waiting on one sum. */
#define ATTN_REF_DOTS 4
static inline ATTN_REF_FMA void attn_ref_dots(const double *q, const float *k, int64_t ks,
                                              int64_t D, double *dot)
{
    double acc[ATTN_REF_DOTS][8] = { { 0 } }, tail[ATTN_REF_DOTS] = { 0 };
    int64_t d = 0;
    for (; d + 8 <= D; d += 8)
        for (int u = 0; u < ATTN_REF_DOTS; u++)
            for (int l = 0; l < 8; l++)
                acc[u][l] += q[d + l] * (double)k[u * ks + d + l];
    for (; d < D; d++)
        for (int u = 0; u < ATTN_REF_DOTS; u++)
            tail[u] += q[d] * (double)k[u * ks + d];
    for (int u = 0; u < ATTN_REF_DOTS; u++) {
        const double *a = acc[u];
        dot[u] = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail[u];
    }
}

/* o[0..32) += Σ_j w[j] · v_j for n keys v_j = v + j·vs: the 32 sums stay in
 * registers over the keys instead of a load and a store per key. */
#define ATTN_REF_COLS 32
static inline ATTN_REF_FMA void attn_ref_axpys(const double *w, const float *v, int64_t vs,
                                               int64_t n, int64_t ne, double *o)
{
    double acc[ATTN_REF_COLS];
    for (int e = 0; e < ATTN_REF_COLS; e++)
        acc[e] = e < ne ? o[e] : 0;
    if (ne == ATTN_REF_COLS) {
        for (int64_t j = 0; j < n; j++)
            for (int e = 0; e < ATTN_REF_COLS; e++)
                acc[e] += w[j] * (double)v[j * vs + e];
    } else {
        for (int64_t j = 0; j < n; j++)
            for (int e = 0; e < ne; e++)
                acc[e] += w[j] * (double)v[j * vs + e];
    }
    for (int e = 0; e < ne; e++)
        o[e] = acc[e];
}

/* Rows rows[0..nr) (each a token b·N + n), head h, into out rows (nr × H × Dv,
 * this head's Dv elements of each), each row over the keys its spans list
 * (struct attn_spans). p: ATTN_REF_ROWS × Nk scratch; qd: the rows' queries
 * in float64, ATTN_REF_ROWS × D; iv: ATTN_REF_ROWS × 2·max_spans. Returns
 * the multiply-adds. */
static ATTN_REF_FMA int64_t attn_ref_rows(const struct shape *s, double scale,
                                          const float *const in[], const struct attn_spans *sp,
                                          const int64_t *rows, int64_t nr, int64_t h, double *p,
                                          double *qd, int64_t *iv, double *out)
{
    const int64_t D = s->D, Dv = s->Dv, H = s->H, Hkv = s->Hkv, N = s->N, Nk = s->Nk;
    const int64_t g = h / (H / Hkv), ivn = 2 * sp->max;
    int64_t n_iv[ATTN_REF_ROWS], b[ATTN_REF_ROWS], cur[ATTN_REF_ROWS], kv_max = 0, macs = 0;
    for (int64_t r = 0; r < nr; r++) {
        int64_t *v = iv + r * ivn;
        b[r] = rows[r] / N;
        n_iv[r] = sp->fn(s, in, b[r], h, rows[r] % N, v);
        for (int64_t k = 0; k < n_iv[r]; k++)
            macs += (v[2 * k + 1] - v[2 * k]) * (D + Dv);
        kv_max = n_iv[r] && v[2 * n_iv[r] - 1] > kv_max ? v[2 * n_iv[r] - 1] : kv_max;
        const float *q = in[0] + (rows[r] * H + h) * D;
        for (int64_t d = 0; d < D; d++)
            qd[r * D + d] = q[d];
    }
    /* scores: p[r][j] = scale · q_r·k_j for the keys row r sees, a block of
     * ATTN_REF_KEYS keys for all rows at a time (cur: each row's first span
     * not yet done) */
    for (int64_t r = 0; r < nr; r++)
        cur[r] = 0;
    for (int64_t j0 = 0; j0 < kv_max; j0 += ATTN_REF_KEYS)
        for (int64_t r = 0; r < nr; r++) {
            const int64_t *v = iv + r * ivn, jend = j0 + ATTN_REF_KEYS;
            const float *k = in[1] + (b[r] * Nk * Hkv + g) * D;
            for (int64_t c = cur[r]; c < n_iv[r] && v[2 * c] < jend; c++) {
                const int64_t j1 = v[2 * c + 1] < jend ? v[2 * c + 1] : jend;
                int64_t j = v[2 * c] > j0 ? v[2 * c] : j0;
                double dot[ATTN_REF_DOTS];
                for (; j + ATTN_REF_DOTS <= j1; j += ATTN_REF_DOTS) {
                    attn_ref_dots(qd + r * D, k + j * Hkv * D, Hkv * D, D, dot);
                    for (int u = 0; u < ATTN_REF_DOTS; u++)
                        p[r * Nk + j + u] = scale * dot[u];
                }
                for (; j < j1; j++) {   /* the last few keys: one dot, the others unused */
                    attn_ref_dots(qd + r * D, k + j * Hkv * D, 0, D, dot);
                    p[r * Nk + j] = scale * dot[0];
                }
            }
            while (cur[r] < n_iv[r] && v[2 * cur[r] + 1] <= jend)
                cur[r]++;
        }
    /* the softmax of each row: exact max, exp, sum, weights p / sum; a row
     * that sees no key is 0 (as FlashAttention and FlexAttention give it) */
    for (int64_t r = 0; r < nr; r++) {
        const int64_t *v = iv + r * ivn;
        double m = -INFINITY, l = 0;
        for (int64_t c = 0; c < n_iv[r]; c++)
            for (int64_t j = v[2 * c]; j < v[2 * c + 1]; j++)
                m = p[r * Nk + j] > m ? p[r * Nk + j] : m;
        for (int64_t c = 0; c < n_iv[r]; c++)
            for (int64_t j = v[2 * c]; j < v[2 * c + 1]; j++)
                l += p[r * Nk + j] = exp(p[r * Nk + j] - m);
        for (int64_t c = 0; c < n_iv[r]; c++)
            for (int64_t j = v[2 * c]; j < v[2 * c + 1]; j++)
                p[r * Nk + j] /= l;
        double *o = out + (r * H + h) * Dv;
        for (int64_t e = 0; e < Dv; e++)
            o[e] = 0;
        cur[r] = 0;
    }
    /* o_r = Σ_j p[r][j] · v_j */
    for (int64_t j0 = 0; j0 < kv_max; j0 += ATTN_REF_KEYS)
        for (int64_t r = 0; r < nr; r++) {
            const int64_t *v = iv + r * ivn, jend = j0 + ATTN_REF_KEYS;
            for (int64_t c = cur[r]; c < n_iv[r] && v[2 * c] < jend; c++) {
                const int64_t j1 = v[2 * c + 1] < jend ? v[2 * c + 1] : jend;
                const int64_t jb = v[2 * c] > j0 ? v[2 * c] : j0;
                const float *vv = in[2] + ((b[r] * Nk + jb) * Hkv + g) * Dv;
                for (int64_t e0 = 0; e0 < Dv; e0 += ATTN_REF_COLS)
                    attn_ref_axpys(p + r * Nk + jb, vv + e0, Hkv * Dv, j1 - jb,
                                   Dv - e0 < ATTN_REF_COLS ? Dv - e0 : ATTN_REF_COLS,
                                   out + (r * H + h) * Dv + e0);
            }
            while (cur[r] < n_iv[r] && v[2 * cur[r] + 1] <= jend)
                cur[r]++;
        }
    return macs;
}

void attn_reference_spans(const struct shape *s, double scale, const float *const in[],
                          const struct attn_spans *sp, const int64_t *rows, int64_t nrows,
                          double *out)
{
    const int64_t H = s->H, Dv = s->Dv, blocks = (nrows + ATTN_REF_ROWS - 1) / ATTN_REF_ROWS;
    int64_t macs = 0;
    int oom = 0;
#pragma omp parallel reduction(+ : macs) reduction(| : oom)
    {
        double *p = malloc((size_t)(ATTN_REF_ROWS * (s->Nk + s->D)) * sizeof *p);
        int64_t *iv = malloc((size_t)(ATTN_REF_ROWS * 2 * sp->max) * sizeof *iv);
        oom = !p || !iv;
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t bl = 0; bl < blocks; bl++)
            for (int64_t h = 0; h < H; h++) {
                const int64_t r0 = bl * ATTN_REF_ROWS;
                const int64_t nr = nrows - r0 < ATTN_REF_ROWS ? nrows - r0 : ATTN_REF_ROWS;
                if (p && iv)
                    macs += attn_ref_rows(s, scale, in, sp, rows + r0, nr, h, p,
                                          p + ATTN_REF_ROWS * s->Nk, iv, out + r0 * H * Dv);
            }
        free(p), free(iv);
    }
    if (oom)        /* out of memory: fails the check */
        for (int64_t i = 0; i < nrows * H * Dv; i++)
            out[i] = NAN;
    attn_ref_macs += macs;
}

int64_t attn_mask_spans(const struct shape *s, const float *const in[], int64_t b, int64_t h,
                        int64_t n, int64_t *iv)
{
    (void)in, (void)b, (void)h;     /* the same for every batch and head */
    const int64_t diag = n + s->Nk - s->N, end = s->causal ? diag + 1 : s->Nk;
    if (s->window <= 0) {
        iv[0] = 0, iv[1] = end;
        return 1;
    }
    const int64_t lo = diag - s->window + 1 > 0 ? diag - s->window + 1 : 0;
    const int64_t sink_end = s->sink < lo ? s->sink : lo;
    int k = 0;
    if (sink_end > 0)
        iv[k++] = 0, iv[k++] = sink_end;
    iv[k++] = lo, iv[k++] = end;
    return k / 2;
}

void attn_reference(const struct shape *s, double scale, const float *const in[],
                    const int64_t *rows, int64_t nrows, double *out, double *final)
{
    (void)final;    /* attention has no second output */
    const struct attn_spans sp = { attn_mask_spans, 2 };
    attn_reference_spans(s, scale, in, &sp, rows, nrows, out);
}

/* The `ref` implementation: all rows, in blocks so the double scratch stays
 * small, rounded to the dtype like any other implementation's output. */
int attn_ref_run(struct op_ctx *ctx)
{
    return attn_ref_run_with(ctx, attn_reference);
}

int attn_ref_run_with(struct op_ctx *ctx, attn_reference_fn *reference)
{
    const struct shape *s = ctx->shape;
    const int64_t rows = s->B * s->N, elems = s->H * s->Dv, block = 256;
    double *buf = malloc((size_t)(block * elems) * sizeof *buf);
    int64_t *idx = malloc((size_t)block * sizeof *idx);
    if (!buf || !idx) {
        free(buf), free(idx);
        snprintf(ctx->err, sizeof ctx->err, "ref: out of host memory");
        return SB_OOM;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
        int64_t nr = rows - r0 < block ? rows - r0 : block;
        for (int64_t i = 0; i < nr; i++)
            idx[i] = r0 + i;
        reference(s, ctx->scale, ctx->in, idx, nr, buf, NULL);
        for (int64_t i = 0; i < nr * elems; i++) {
            float x = (float)buf[i];
            ctx->out[r0 * elems + i] = dtype_round(s->dtype, x);
        }
    }
    free(buf), free(idx);
    return SB_OK;
}

/* Edge cases small enough for the reference to check every row in well under
 * a second each (ATTN_EDGE_SHAPES, attention.h). */
const char *const attn_edge_shapes[] = { ATTN_EDGE_SHAPES, NULL };
