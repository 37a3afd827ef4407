/*
 * recurrent.c — the math the linear, gated and delta families share
 * (recurrent.h has the recurrence and the tensor layout): shape rules, FLOP
 * and byte formulas, seeded inputs, and the reference, which runs the
 * recurrence once per (batch, value head) with a float64 state and keeps the
 * rows it was asked for. Its cost is the recurrence, O(N·D·Dv) per head,
 * whatever the rows: a 128K-token case is checked in seconds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"
#include "../harness/gpu_ref.h"
#include "ref_run.h"

int64_t rec_ref_macs;

#define REC_MAX_ELEMS 0x1p40   /* no tensor beyond 2^40 elements (int64 index math) */
#define REC_MAX_CHUNK 1024

struct rec_layout rec_layout(enum rec_kind kind, const struct shape *s)
{
    struct rec_layout l = { .q = 0, .k = 1, .v = 2, .g = -1, .beta = -1, .h0 = -1 };
    int n = 3;
    if (rec_gate(kind, s) != GATE_NONE)
        l.g = n++;
    if (kind == REC_DELTA)
        l.beta = n++;
    if (s->state)
        l.h0 = n++;
    l.n_in = n;
    return l;
}

void rec_defaults(enum rec_kind kind, struct shape *s)
{
    if (s->B < 0) s->B = 1;
    if (s->N < 0) s->N = 1024;
    if (s->H < 0) s->H = 8;
    if (s->Hv < 0) s->Hv = s->H;
    if (s->D < 0) s->D = 128;
    if (s->Dv < 0) s->Dv = s->D;
    if (s->chunk < 0) s->chunk = REC_DEFAULT_CHUNK;
    if (s->state < 0) s->state = 0;
    if (s->gate < 0) s->gate = kind == REC_GATED ? GATE_KEY : GATE_NONE;
    if (kind == REC_LINEAR) s->gate = GATE_NONE;
}

int rec_validate(enum rec_kind kind, const struct shape *s, char *msg, size_t n)
{
    const struct { const char *name; int64_t v; } pos[] = {
        { "B", s->B }, { "N", s->N }, { "H", s->H }, { "Hv", s->Hv },
        { "D", s->D }, { "Dv", s->Dv }, { "chunk", s->chunk },
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v < 1) {
            snprintf(msg, n, "%s=%lld: must be at least 1", pos[i].name, (long long)pos[i].v);
            return -1;
        }
    if (s->Hv % s->H != 0) {
        snprintf(msg, n, "Hv=%lld: must be a multiple of H=%lld", (long long)s->Hv,
                 (long long)s->H);
        return -1;
    }
    if (s->chunk > REC_MAX_CHUNK) {
        snprintf(msg, n, "chunk=%lld: at most %d", (long long)s->chunk, REC_MAX_CHUNK);
        return -1;
    }
    if (s->state != 0 && s->state != 1) {
        snprintf(msg, n, "state=%lld: must be 0 or 1", (long long)s->state);
        return -1;
    }
    if (kind == REC_GATED && s->gate != GATE_HEAD && s->gate != GATE_KEY) {
        snprintf(msg, n, "gate: the gated family needs gate=head or gate=key "
                 "(without a gate it is the linear family)");
        return -1;
    }
    if (kind == REC_DELTA && s->gate != GATE_NONE && s->gate != GATE_HEAD) {
        snprintf(msg, n, "gate: the delta family takes gate=none (DeltaNet) or gate=head "
                 "(Gated DeltaNet)");
        return -1;
    }
    double big = (double)(s->D > s->Dv ? s->D : s->Dv);
    if ((double)s->B * s->N * s->Hv * big > REC_MAX_ELEMS ||
        (double)s->B * s->Hv * s->D * s->Dv > REC_MAX_ELEMS) {
        snprintf(msg, n, "shape too large: a tensor would hold more than 2^40 elements");
        return -1;
    }
    return 0;
}

/* ---- counting --------------------------------------------------------------
 *
 * A multiply-add is 2 FLOPs; gate scalings (elementwise multiplies) and the
 * exp of the gates are not counted, as flash-linear-attention does not.
 *
 * Recurrent (minimal) count, per token and value head: the state update
 * k_tᵀ v_t (D·Dv multiply-adds) and the readout q_t S_t (D·Dv):
 *     4·B·Hv·N·D·Dv.
 * The delta rule's k_t S' is a third D·Dv product, but the field's convention
 * (FlashInfer's and FlashQLA's TFLOP/s figures) counts 4·D·Dv for it as well,
 * so figures compare.
 *
 * Chunked (algorithmic) count: the chunked algorithm over the causal pairs
 * of each chunk, per value head and chunk of c tokens (the last one may be
 * shorter), in multiply-adds — the convention attention's exact count
 * follows. What an implementation's tiles compute beyond it (the upper
 * triangle of a score tile, sub-blocks past the diagonal, padded rows) is
 * its executed count (impl.flops_executed; rec_macs_* below):
 *   linear, gated:  Q S (cDDv) + Kᵀ V (cDDv) + the pairs j ≤ i of Q Kᵀ
 *                   and of P V: c(c+1)/2·(D + Dv)
 *   delta (WY/UT):  A = β K Kᵀ over the pairs m < i (c(c−1)/2·D), T =
 *                   (I + A)⁻¹ by forward substitution (row i, column n < i
 *                   sums m in [n, i): (c³ − c)/6), W = T βK and U = T βV
 *                   with T lower triangular (c(c+1)/2·(D + Dv)), W S, Q S
 *                   and Kᵀ V' (3cDDv), Q Kᵀ over m ≤ i (c(c+1)/2·D), P V'
 *                   (c(c+1)/2·Dv)
 */
static double rec_chunk_macs(enum rec_kind kind, const struct shape *s, double c)
{
    const double D = (double)s->D, Dv = (double)s->Dv, tri = c * (c + 1) / 2;
    if (kind == REC_DELTA)
        return (c * (c - 1) / 2 + 2 * tri) * D + 2 * tri * Dv + (c * c * c - c) / 6 +
               3 * c * D * Dv;
    return tri * (D + Dv) + 2 * c * D * Dv;
}

double rec_sum_chunks(const struct shape *s, int64_t chunk,
                      double (*per_chunk)(const struct shape *, double))
{
    const int64_t full = s->N / chunk, rest = s->N % chunk;
    double per_head = (double)full * per_chunk(s, (double)chunk);
    if (rest)
        per_head += per_chunk(s, (double)rest);
    return (double)s->B * s->Hv * per_head;
}

static double rec_chunk_macs_lin(const struct shape *s, double c)
{
    return rec_chunk_macs(REC_LINEAR, s, c);
}

static double rec_chunk_macs_delta(const struct shape *s, double c)
{
    return rec_chunk_macs(REC_DELTA, s, c);
}

double rec_flops_chunked(enum rec_kind kind, const struct shape *s)
{
    return 2 * rec_sum_chunks(s, s->chunk, kind == REC_DELTA ? rec_chunk_macs_delta
                                                             : rec_chunk_macs_lin);
}

double rec_flops_recurrent(const struct shape *s)
{
    return 4.0 * s->B * s->Hv * s->N * (double)s->D * s->Dv;
}

double rec_flops_delta_recurrent(const struct shape *s)
{
    return 1.5 * rec_flops_recurrent(s);
}

/* Every input read once, the output (and final state) written once. */
double rec_min_bytes(enum rec_kind kind, const struct shape *s)
{
    const double tok = (double)s->B * s->N, state = (double)s->B * s->Hv * s->D * s->Dv;
    double elems = 2 * tok * s->H * s->D            /* q, k */
                 + 2 * tok * s->Hv * s->Dv;         /* v, o */
    enum gate_kind g = rec_gate(kind, s);
    if (g == GATE_HEAD)
        elems += tok * s->Hv;
    else if (g == GATE_KEY)
        elems += tok * s->Hv * s->D;
    if (kind == REC_DELTA)
        elems += tok * s->Hv;                       /* beta */
    if (s->state)
        elems += 2 * state;                         /* h0 in, ht out */
    return elems * dtype_table[s->dtype].bytes;
}

/* ---- tensors ---------------------------------------------------------------- */

void rec_io(enum rec_kind kind, const struct shape *s, struct io_specs *io)
{
    const struct rec_layout l = rec_layout(kind, s);
    memset(io, 0, sizeof *io);
    io->n_in = l.n_in;
    tensor_spec_set(&io->in[l.q], "q", 4, s->B, s->N, s->H, s->D);
    tensor_spec_set(&io->in[l.k], "k", 4, s->B, s->N, s->H, s->D);
    tensor_spec_set(&io->in[l.v], "v", 4, s->B, s->N, s->Hv, s->Dv);
    if (l.g >= 0) {
        if (rec_gate(kind, s) == GATE_KEY)
            tensor_spec_set(&io->in[l.g], "g", 4, s->B, s->N, s->Hv, s->D);
        else
            tensor_spec_set(&io->in[l.g], "g", 3, s->B, s->N, s->Hv, 0);
    }
    if (l.beta >= 0)
        tensor_spec_set(&io->in[l.beta], "beta", 3, s->B, s->N, s->Hv, 0);
    if (l.h0 >= 0)
        tensor_spec_set(&io->in[l.h0], "h0", 4, s->B, s->Hv, s->D, s->Dv);
    tensor_spec_set(&io->out, "out", 4, s->B, s->N, s->Hv, s->Dv);
    if (s->state)
        tensor_spec_set(&io->final, "ht", 4, s->B, s->Hv, s->D, s->Dv);
}

static double log_sigmoid(double z)
{
    return z > 0 ? -log1p(exp(-z)) : z - log1p(exp(z));
}

/* Scales each length-d row of x to unit L2 norm. */
static void l2_normalise(float *x, int64_t rows, int64_t d)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *p = x + r * d;
        double ss = 0;
        for (int64_t i = 0; i < d; i++)
            ss += (double)p[i] * p[i];
        double inv = ss > 0 ? 1 / sqrt(ss) : 0;
        for (int64_t i = 0; i < d; i++)
            p[i] = (float)(p[i] * inv);
    }
}

/* Ranges, per tensor from its own stream (seed, tensor name), so q is the
 * same whatever the other tensors are:
 *   q, k, v  unit variance (uniform ±√3); for the delta rule q and k are
 *            L2-normalised per head, as DeltaNet requires for a stable
 *            update (‖k‖ = 1, β < 1: I − β kᵀk is a contraction)
 *   g        head: logsigmoid(3 + 3u) ∈ [-0.69, -0.0025], decays from a
 *            half per token to RetNet's slowest; key: logsigmoid(3u)/16 ∈
 *            [-0.19, -0.003], GLA's gate with its normaliser 16
 *   beta     sigmoid(2u) ∈ (0.12, 0.88)
 *   h0       uniform ±0.5
 * Everything is then rounded to the dtype, so the reference sees what the
 * device sees. */
void rec_inputs(enum rec_kind kind, const struct shape *s, uint64_t seed, float *const in[])
{
    struct io_specs io;
    rec_io(kind, s, &io);
    const struct rec_layout l = rec_layout(kind, s);
    for (int t = 0; t < io.n_in; t++) {
        const int64_t n = tensor_numel(&io.in[t]);
        const uint64_t state = sb_rng_stream(seed, io.in[t].name);
        float *x = in[t];
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            double u = sb_rng_uniform_at(state, i);
            if (t == l.g)
                x[i] = (float)(rec_gate(kind, s) == GATE_HEAD ? log_sigmoid(3 + 3 * u)
                                                              : log_sigmoid(3 * u) / 16);
            else if (t == l.beta)
                x[i] = (float)(1 / (1 + exp(-2 * u)));
            else if (t == l.h0)
                x[i] = (float)(0.5 * u);
            else
                x[i] = (float)(1.7320508075688772 * u);
        }
        if (kind == REC_DELTA && (t == l.q || t == l.k))
            l2_normalise(x, n / s->D, s->D);
        if (s->dtype == DT_BF16) {
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; i++)
                x[i] = bf16_round(x[i]);
        }
    }
}

/* ---- reference -------------------------------------------------------------- */

/* The reference walks the tokens in tiles of REC_REF_TILE, their gates
 * exponentiated once per tile, and within a tile updates the state
 * REC_REF_COLS columns at a time: every column of S follows its own
 * recurrence (column e needs only column e of S, k, and v[e]; the delta
 * rule's k·S' too), so a D × 32 block of doubles stays in L1 across the
 * tile's tokens instead of the whole state streaming through L2 per token.
 * Same arithmetic, same order per element as the token-by-token loop. */
#define REC_REF_TILE 64
#define REC_REF_COLS 32

struct rec_scratch {
    double *S;      /* D × Dv, the state */
    double *a;      /* REC_REF_TILE × D: exp(g) per token of the tile and state row */
    double *u;      /* REC_REF_COLS: the rank-1 update's right factor */
};

/* -std=c11 turns floating-point contraction off; the reference's inner
 * loops are multiply-adds in double, and one FMA (a single rounding) is
 * both faster and no less accurate than a multiply and an add. */
#define REC_REF_FMA __attribute__((optimize("fp-contract=fast")))

/* Tokens t0 .. t0+nt of one tile for the state columns e0 .. e0+ne: the
 * update, and the readout of the sampled rows from rows[r] on. */
static inline __attribute__((always_inline)) REC_REF_FMA int64_t
rec_ref_cols(enum rec_kind kind, const struct shape *s, double scale, const float *const in[],
             int64_t b, int64_t j, int64_t t0, int64_t nt, int64_t e0, const int64_t ne,
             const int64_t *rows, int64_t r, int64_t r1, double *out, const struct rec_scratch *w)
{
    const struct rec_layout l = rec_layout(kind, s);
    const int64_t N = s->N, H = s->H, Hv = s->Hv, D = s->D, Dv = s->Dv;
    const int64_t hq = j / (Hv / H);
    double *S = w->S, *u = w->u;
    int64_t macs = 0, rr = r;
    for (int64_t tt = 0; tt < nt; tt++) {
        const int64_t tok = b * N + t0 + tt;
        const float *q = in[l.q] + (tok * H + hq) * D;
        const float *k = in[l.k] + (tok * H + hq) * D;
        const float *v = in[l.v] + (tok * Hv + j) * Dv + e0;
        const double *a = w->a + tt * D;
        for (int64_t e = 0; e < ne; e++)
            u[e] = v[e];
        if (kind == REC_DELTA) {    /* u = β (v − k S'), S' = diag(a) S */
            const double beta = in[l.beta][tok * Hv + j];
            for (int64_t i = 0; i < D; i++) {
                const double ka = (double)k[i] * a[i];
                for (int64_t e = 0; e < ne; e++)
                    u[e] -= ka * S[i * Dv + e0 + e];
            }
            for (int64_t e = 0; e < ne; e++)
                u[e] *= beta;
            macs += D * ne;
        }
        for (int64_t i = 0; i < D; i++) {   /* S = diag(a) S + kᵀ u */
            const double ki = k[i], ai = a[i];
            for (int64_t e = 0; e < ne; e++)
                S[i * Dv + e0 + e] = ai * S[i * Dv + e0 + e] + ki * u[e];
        }
        macs += D * ne;
        for (; rr < r1 && rows[rr] == tok; rr++) {     /* o = scale · q S */
            double *o = out + (rr * Hv + j) * Dv + e0;
            for (int64_t e = 0; e < ne; e++)
                o[e] = 0;
            for (int64_t i = 0; i < D; i++) {
                const double qi = q[i];
                for (int64_t e = 0; e < ne; e++)
                    o[e] += qi * S[i * Dv + e0 + e];
            }
            for (int64_t e = 0; e < ne; e++)
                o[e] *= scale;
            macs += D * ne;
        }
    }
    return macs;
}

/* One (batch b, value head j): the recurrence over all N tokens, with the
 * readout for the tokens in rows[r0, r1) (sorted, all in batch b) into out
 * and, when final is not NULL, S_N into it. Returns the multiply-adds done
 * (the gates' multiplies are not counted). */
REC_REF_FMA static int64_t rec_ref_head(enum rec_kind kind, const struct shape *s, double scale,
                                        const float *const in[], int64_t b, int64_t j,
                                        const int64_t *rows, int64_t r0, int64_t r1, double *out,
                                        double *final, const struct rec_scratch *w)
{
    const struct rec_layout l = rec_layout(kind, s);
    const enum gate_kind gk = rec_gate(kind, s);
    const int64_t N = s->N, Hv = s->Hv, D = s->D, Dv = s->Dv;
    double *S = w->S;
    int64_t macs = 0, r = r0;

    if (l.h0 >= 0) {
        const float *h0 = in[l.h0] + (b * Hv + j) * D * Dv;
        for (int64_t i = 0; i < D * Dv; i++)
            S[i] = h0[i];
    } else {
        memset(S, 0, (size_t)(D * Dv) * sizeof *S);
    }
    for (int64_t t0 = 0; t0 < N; t0 += REC_REF_TILE) {
        const int64_t nt = N - t0 < REC_REF_TILE ? N - t0 : REC_REF_TILE;
        for (int64_t tt = 0; tt < nt; tt++) {       /* a = exp(g): the decay of each row */
            const int64_t tok = b * N + t0 + tt;
            for (int64_t i = 0; i < D; i++)
                w->a[tt * D + i] = gk == GATE_HEAD ? exp((double)in[l.g][tok * Hv + j])
                                 : gk == GATE_KEY  ? exp((double)in[l.g][(tok * Hv + j) * D + i])
                                                   : 1.0;
        }
        for (int64_t e0 = 0; e0 < Dv; e0 += REC_REF_COLS) {
            const int64_t ne = Dv - e0 < REC_REF_COLS ? Dv - e0 : REC_REF_COLS;
            /* a full block with a constant width, so the compiler keeps the
             * block's columns in vector registers */
            if (ne == REC_REF_COLS)
                macs += rec_ref_cols(kind, s, scale, in, b, j, t0, nt, e0, REC_REF_COLS, rows, r,
                                     r1, out, w);
            else
                macs += rec_ref_cols(kind, s, scale, in, b, j, t0, nt, e0, ne, rows, r, r1, out, w);
        }
        while (r < r1 && rows[r] < b * N + t0 + nt)
            r++;
    }
    if (final)
        memcpy(final + (b * Hv + j) * D * Dv, S, (size_t)(D * Dv) * sizeof *S);
    return macs;
}

void rec_reference(enum rec_kind kind, const struct shape *s, double scale,
                   const float *const in[], const int64_t *rows, int64_t nrows, double *out,
                   double *final)
{
    const int64_t B = s->B, Hv = s->Hv;
    /* rows are sorted: batch b's rows are rows[first[b], first[b+1]) */
    int64_t *first = malloc((size_t)(B + 1) * sizeof *first);
    if (!first) {
        for (int64_t i = 0; i < nrows * Hv * s->Dv; i++)
            out[i] = NAN;       /* out of memory: fails the check */
        return;
    }
    for (int64_t b = 0, r = 0; b <= B; b++) {
        while (r < nrows && rows[r] < b * s->N)
            r++;
        first[b] = r;
    }
    int64_t macs = 0;
    int oom = 0;
#pragma omp parallel reduction(+ : macs) reduction(| : oom)
    {
        double *S = malloc((size_t)(s->D * s->Dv + REC_REF_TILE * s->D + REC_REF_COLS) * sizeof *S);
        const struct rec_scratch w = { S, S + s->D * s->Dv, S + s->D * s->Dv + REC_REF_TILE * s->D };
        oom = !S;
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < Hv; j++)
                if (S)
                    macs += rec_ref_head(kind, s, scale, in, b, j, rows, first[b], first[b + 1],
                                         out, final, &w);
        free(S);
    }
    if (oom)
        for (int64_t i = 0; i < nrows * Hv * s->Dv; i++)
            out[i] = NAN;
    free(first);
    rec_ref_macs += macs;
}

/* The reference's work for one output row, amortised: the recurrence costs
 * D·Dv (two products for the delta rule) per token and head whichever rows
 * are kept, plus the readout, D·Dv. */
double rec_row_cost(enum rec_kind kind, const struct shape *s, int64_t row)
{
    (void)row;
    return (double)s->Hv * s->D * s->Dv * (kind == REC_DELTA ? 3 : 2);
}

int rec_row_tilings(const struct shape *s, int64_t sub, struct row_tiling *t)
{
    t[0] = (struct row_tiling){ .what = "chunk", .len = s->chunk };
    if (sub <= 0 || sub >= s->chunk)
        return 1;
    t[1] = (struct row_tiling){ .what = "sub-chunk", .len = sub, .within = s->chunk };
    return 2;
}

int rec_gpu_ref(enum rec_kind kind, const struct shape *s, double scale, const float *const in[],
                struct gref_case *c)
{
    const struct rec_layout l = rec_layout(kind, s);
    *c = (struct gref_case){ .kind = GREF_RECURRENT, .B = s->B, .N = s->N, .H = s->H,
                             .Hv = s->Hv, .D = s->D, .Dv = s->Dv, .gate = (int)rec_gate(kind, s),
                             .delta = kind == REC_DELTA, .scale = (float)scale,
                             .q = in[l.q], .k = in[l.k], .v = in[l.v],
                             .g = l.g >= 0 ? in[l.g] : NULL,
                             .beta = l.beta >= 0 ? in[l.beta] : NULL,
                             .h0 = l.h0 >= 0 ? in[l.h0] : NULL };
    return 1;
}

/* fp32: the chunked algorithms reorder sums of up to N terms (the state is a
 * running sum) and fold the gates into exp of cumulative sums; errors stay
 * near 1e-6 at small N and grow like sqrt(N/chunk)·2^-24. 1e-4 bounds them
 * at 1M tokens. A single row may be a short sum (the first tokens): 1e-3.
 * bf16: inputs are exact; the tensor-core kernels round the intra-chunk
 * scores, the decayed keys and the state to bf16 before each product
 * (relative 2^-9 per operand, several in series) and the output is rounded
 * to bf16 (≈1.1e-3 relative L2): 2e-2, 6e-2 for a row. */
struct tolerance rec_tolerance(const struct shape *s)
{
    if (s->dtype == DT_BF16)
        return (struct tolerance){ .rel_l2 = 2e-2, .row_rel_l2 = 6e-2 };
    return (struct tolerance){ .rel_l2 = 1e-4, .row_rel_l2 = 1e-3 };
}

/* rec_reference bound to each kind, for ref_run_all. */
#define REC_REF_OF(p, kind)                                                                 \
    static void rec_reference_##p(const struct shape *s, double scale, const float *const in[], \
                                  const int64_t *rows, int64_t nrows, double *out, double *final) \
    { rec_reference(kind, s, scale, in, rows, nrows, out, final); }
REC_REF_OF(linear, REC_LINEAR)
REC_REF_OF(gated, REC_GATED)
REC_REF_OF(delta, REC_DELTA)

int rec_ref_run(enum rec_kind kind, struct op_ctx *ctx)
{
    switch (kind) {
    case REC_LINEAR: return ref_run_all(rec_reference_linear, ctx);
    case REC_GATED:  return ref_run_all(rec_reference_gated, ctx);
    case REC_DELTA:  break;
    }
    return ref_run_all(rec_reference_delta, ctx);
}
