/*
 * gla.c — the `cpu` implementation of the linear and gated families: the
 * chunkwise-parallel algorithm of gla.h in plain C, fp32 arithmetic and
 * state, OpenMP over (batch, value head), each head walking its chunks in
 * order. The GPU kernels (ops/gated/) compute the same chunk quantities in
 * the same order; this file proves the decomposition (cumulative gates,
 * the sub-chunk split of gate=key, the state hand-over, partial last chunks,
 * h0/ht) on every machine.
 *
 * Speed (a 2-core AVX-512 EPYC shared with other jobs, so ±30%): B=1 H=16
 * N=8192 D=128 Dv=256 fp32, one thread: linear 334 ms (~70 GFLOP/s of the
 * chunked count; ref 1.28 s), gate=head 475-515 ms (ref 2.4 s), gate=key
 * 445-465 ms (ref 1.9 s); two threads, quietest run: gate=head 280 ms
 * (~84 GFLOP/s), gate=key 424 ms.
 *
 * All matrix products go through one register-blocked micro-kernel
 * (gla_gemm): GLA_MR rows of C × up to GLA_NR columns kept in registers over
 * the whole reduction, one broadcast per row and one row of B loaded per
 * step (6 × 64 fp32 = 24 of the 32 zmm registers with AVX-512, as
 * reference/flash.c found best).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gla.h"
#include "cpu_kernel.h"
#include "../ops/gated/gla_tiles.h"

int64_t gla_cpu_macs;

/* ---- the micro-kernel ---------------------------------------------------------
 *
 * C[u][r] = init + Σ_{t<k} A[u·lda + t] · B[t·ldb + r], u < mr, r < nr, with
 * init 0 (GLA_ZERO), C (GLA_ADD) or C[u][r]·rs[u] (GLA_SCALE: the state's
 * decay folded into the load). Always inlined into fixed (mr, nr) versions
 * so that the sums stay in registers. */
#define GLA_LANES 16            /* fp32 lanes of a 512-bit vector */
#define GLA_MR 6
#define GLA_NR 64

static inline __attribute__((always_inline)) void
gla_kernel(int mr, int nr, int64_t k, const float *A, int64_t lda, const float *restrict B,
           int64_t ldb, float *restrict C, int64_t ldc, enum gla_init init,
           const float *rs)
{
    float acc[GLA_MR][GLA_NR];
    for (int u = 0; u < mr; u++)
        for (int r = 0; r < nr; r++)
            acc[u][r] = init == GLA_ZERO ? 0.0f
                      : init == GLA_ADD  ? C[u * ldc + r]
                                         : C[u * ldc + r] * rs[u];
    for (int64_t t = 0; t < k; t++) {
        const float *restrict b = B + t * ldb;
        for (int u = 0; u < mr; u++) {
            const float a = A[u * lda + t];
            for (int r = 0; r < nr; r++)
                acc[u][r] = cpu_fma(a, b[r], acc[u][r]);
        }
    }
    for (int u = 0; u < mr; u++)
        memcpy(C + u * ldc, acc[u], (size_t)nr * sizeof acc[u][0]);
}

typedef void gla_kernel_fn(int64_t k, const float *A, int64_t lda, const float *restrict B,
                           int64_t ldb, float *restrict C, int64_t ldc, enum gla_init init,
                           const float *rs);

#if defined(__GNUC__) && !defined(__clang__)
#define GLA_KERNEL_ATTR __attribute__((noinline, noclone))
#else
#define GLA_KERNEL_ATTR __attribute__((noinline))
#endif
#define GLA_KERNEL(mr, nr)                                                                   \
    GLA_KERNEL_ATTR static void gla_kernel_##mr##_##nr(                                      \
        int64_t k, const float *A, int64_t lda, const float *restrict B, int64_t ldb,        \
        float *restrict C, int64_t ldc, enum gla_init init, const float *rs)                 \
    {                                                                                         \
        gla_kernel(mr, nr, k, A, lda, B, ldb, C, ldc, init, rs);                              \
    }
GLA_KERNEL(6, 64) GLA_KERNEL(6, 32) GLA_KERNEL(6, 16)
GLA_KERNEL(4, 64) GLA_KERNEL(4, 32) GLA_KERNEL(4, 16)
GLA_KERNEL(2, 64) GLA_KERNEL(2, 32) GLA_KERNEL(2, 16)
GLA_KERNEL(1, 64) GLA_KERNEL(1, 32) GLA_KERNEL(1, 16)
_Static_assert(GLA_MR == 6 && GLA_NR == 64, "the kernel table is written for these sizes");

/* Row counts, most first (64 rows = 10·6 + 4, 128 = 21·6 + 2). */
static const int gla_rows[] = { 6, 4, 2, 1 };
#define GLA_NROWS 4

/* The row block gla_gemm takes with `left` rows to go: an index into
 * gla_rows, the most rows that fit. */
static int gla_row_block(int64_t left)
{
    int ri = 0;
    while (gla_rows[ri] > left)
        ri++;
    return ri;
}

/* The reduction length of row block i0 (mr rows) of a product of k terms:
 * all k, or for a lower-triangular A only up to its last row's diagonal. */
static int64_t gla_block_k(int lower, int64_t i0, int mr, int64_t k)
{
    return lower && i0 + mr < k ? i0 + mr : k;
}

/* Multiply-adds gla_gemm does for m × n × k (what the micro-kernels
 * compute: a lower-triangular A's row blocks run to their last row's
 * diagonal). */
int64_t gla_gemm_macs(int64_t m, int64_t n, int64_t k, int lower)
{
    int64_t macs = 0;
    for (int64_t i0 = 0; i0 < m;) {
        const int mr = gla_rows[gla_row_block(m - i0)];
        macs += mr * gla_block_k(lower, i0, mr, k);
        i0 += mr;
    }
    return macs * n;
}

/* Multiply-adds counted as the micro-kernels run (tests), per thread. */
static _Thread_local int64_t gla_tl_macs;

int64_t gla_gemm_macs_take(void)
{
    const int64_t m = gla_tl_macs;
    gla_tl_macs = 0;
    return m;
}

static const struct {
    int nr;
    gla_kernel_fn *fn[GLA_NROWS];   /* by gla_rows[] */
} gla_kernels[] = {
    { 64, { gla_kernel_6_64, gla_kernel_4_64, gla_kernel_2_64, gla_kernel_1_64 } },
    { 32, { gla_kernel_6_32, gla_kernel_4_32, gla_kernel_2_32, gla_kernel_1_32 } },
    { 16, { gla_kernel_6_16, gla_kernel_4_16, gla_kernel_2_16, gla_kernel_1_16 } },
};

/* Columns past the last multiple of 16 (short chunks, odd head dims). */
GLA_KERNEL_ATTR static void gla_kernel_tail(int mr, int nr, int64_t k, const float *A,
                                            int64_t lda, const float *restrict B, int64_t ldb,
                                            float *restrict C, int64_t ldc, enum gla_init init,
                                            const float *rs)
{
    gla_kernel(mr, nr, k, A, lda, B, ldb, C, ldc, init, rs);
}

/* Column panels outside, so a panel of B (k × 64) stays in L1 while every
 * row block of C passes it. */
void gla_gemm(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
              const float *B, int64_t ldb, float *C, int64_t ldc, enum gla_init init,
              const float *rs, int lower)
{
    for (int64_t c0 = 0; c0 < n;) {
        size_t w = 0;
        while (w < sizeof gla_kernels / sizeof gla_kernels[0] && gla_kernels[w].nr > n - c0)
            w++;
        const int nr = w < sizeof gla_kernels / sizeof gla_kernels[0] ? gla_kernels[w].nr
                                                                      : (int)(n - c0);
        for (int64_t i0 = 0; i0 < m;) {
            const int ri = gla_row_block(m - i0);
            const int mr = gla_rows[ri];
            const int64_t kk = gla_block_k(lower, i0, mr, k);
            gla_tl_macs += mr * nr * kk;
            const float *a = A + i0 * lda;
            float *c = C + i0 * ldc + c0;
            const float *r = rs ? rs + i0 : NULL;
            if (w < sizeof gla_kernels / sizeof gla_kernels[0])
                gla_kernels[w].fn[ri](kk, a, lda, B + c0, ldb, c, ldc, init, r);
            else
                gla_kernel_tail(mr, nr, kk, a, lda, B + c0, ldb, c, ldc, init, r);
            i0 += mr;
        }
        c0 += nr;
    }
}

/* In GLA_LANES-square tiles: a tile's rows are read and its columns
 * written within a few cache lines (one element per line either way ran
 * ~5x slower). */
void gla_transpose(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                   int64_t ldd)
{
    for (int64_t r0 = 0; r0 < rows; r0 += GLA_LANES)
        for (int64_t c0 = 0; c0 < cols; c0 += GLA_LANES) {
            const int64_t r1 = r0 + GLA_LANES < rows ? r0 + GLA_LANES : rows;
            const int64_t c1 = c0 + GLA_LANES < cols ? c0 + GLA_LANES : cols;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = r0; r < r1; r++)
                    dst[c * ldd + r] = src[r * lds + c];
        }
}

/* ---- one chunk ------------------------------------------------------------------ */

/* Per-thread buffers; C is the chunk length, rows of a chunk-sized
 * dimension are C floats apart whatever the chunk's own length c. */
struct gla_scratch {
    float *S;       /* [D][Dv] the state, fp32 */
    float *G;       /* [C][Dg] gates summed inside the chunk (Dg = D or 1) */
    float *qg;      /* [C][D]  scale · q ⊙ e^{G}: the inter-chunk readout */
    float *kdt;     /* [D][C]  (k ⊙ e^{G_last − G})ᵀ: the state update */
    float *kt;      /* [D][C]  kᵀ (gate none/head), (k ⊙ e^{G_r − G})ᵀ (key) */
    float *qs;      /* [GLA_SUB][D] scale · q ⊙ e^{G − G_r} of one sub-chunk (key) */
    float *tmp;     /* [C][D]  k ⊙ e^{G_last − G}, k ⊙ e^{G_r − G} (key) before their
                     * transposition; a row of exps in the key scores */
    float *A;       /* [C][C]  scores, zero past the diagonal */
    float *v;       /* [C][Dv] the chunk's values, packed */
    float *o;       /* [C][Dv] the chunk's output */
    float *decay;   /* [D]     e^{G_last} */
};

/* Everything one (batch, value head) needs to find its rows. */
struct gla_head {
    const struct shape *s;
    enum gate_kind gate;
    int64_t Dg;                 /* gate values per token: D (key), 1 (head), 0 (none) */
    float scale;
    const float *q, *k;         /* [N][H·D] rows of this head, token stride qk_ld */
    const float *v;             /* token stride v_ld */
    const float *g;             /* token stride g_ld; NULL without a gate */
    float *out;                 /* token stride v_ld */
    int64_t qk_ld, v_ld, g_ld;
};

/* gate=key scores of one chunk, sub-chunk by sub-chunk (gla.h). */
static void gla_scores_key(const struct gla_head *h, int64_t t0, int64_t c, int64_t C,
                           struct gla_scratch *w)
{
    const int64_t D = h->s->D;
    for (int64_t i0 = 0; i0 < c; i0 += GLA_SUB) {
        const int64_t i1 = i0 + GLA_SUB < c ? i0 + GLA_SUB : c;
        const float *Gr = w->G + i0 * D;        /* the sub-chunk's first token */
        for (int64_t i = i0; i < i1; i++) {
            const float *q = h->q + (t0 + i) * h->qk_ld, *Gi = w->G + i * D;
            float *qs = w->qs + (i - i0) * D;
            for (int64_t d = 0; d < D; d++)
                qs[d] = h->scale * q[d] * cpu_exp(Gi[d] - Gr[d]);
        }
        if (i0 > 0) {           /* the earlier sub-chunks: one product */
            /* Row by row (the exps vectorise), then transposed (strided
             * reads: the cheaper side; strided writes ran 1.4x slower). */
            for (int64_t j = 0; j < i0; j++) {
                const float *k = h->k + (t0 + j) * h->qk_ld, *Gj = w->G + j * D;
                for (int64_t d = 0; d < D; d++)
                    w->tmp[j * D + d] = k[d] * cpu_exp(Gr[d] - Gj[d]);
            }
            gla_transpose(w->tmp, D, i0, D, w->kt, C);
            gla_gemm(i1 - i0, i0, D, w->qs, D, w->kt, C, w->A + i0 * C, C, GLA_ZERO, NULL, 0);
        }
        /* The diagonal block: one exp per term, of G_i − G_j ≤ 0. */
        for (int64_t i = i0; i < i1; i++) {
            const float *q = h->q + (t0 + i) * h->qk_ld, *Gi = w->G + i * D;
            for (int64_t j = i0; j <= i; j++) {
                const float *k = h->k + (t0 + j) * h->qk_ld, *Gj = w->G + j * D;
                /* The exps, then the sum in GLA_LANES partial sums: GCC
                 * vectorises neither gla_exp inside a reduction nor a float
                 * reduction without -ffast-math (nor, here, omp simd's). */
                float *ed = w->tmp, part[GLA_LANES] = { 0 }, sum = 0.0f;    /* tmp is free here */
                for (int64_t d = 0; d < D; d++)
                    ed[d] = cpu_exp(Gi[d] - Gj[d]);
                int64_t d = 0;
                for (; d + GLA_LANES <= D; d += GLA_LANES)
                    for (int l = 0; l < GLA_LANES; l++)
                        part[l] = cpu_fma(q[d + l] * k[d + l], ed[d + l], part[l]);
                for (; d < D; d++)
                    sum = cpu_fma(q[d] * k[d], ed[d], sum);
                for (int l = 0; l < GLA_LANES; l++)
                    sum += part[l];
                w->A[i * C + j] = h->scale * sum;
                gla_tl_macs += D;
            }
        }
    }
}

/* gate none/head scores: A = scale · Q Kᵀ, times e^{G_i − G_j} (head). */
static void gla_scores_head(const struct gla_head *h, int64_t t0, int64_t c, int64_t C,
                            struct gla_scratch *w)
{
    const int64_t D = h->s->D;
    gla_transpose(h->k + t0 * h->qk_ld, h->qk_ld, c, D, w->kt, C);
    gla_gemm(c, c, D, h->q + t0 * h->qk_ld, h->qk_ld, w->kt, C, w->A, C, GLA_ZERO, NULL, 0);
    for (int64_t i = 0; i < c; i++)
        for (int64_t j = 0; j <= i; j++)
            w->A[i * C + j] *= h->scale * (h->gate == GATE_HEAD ? cpu_exp(w->G[i] - w->G[j]) : 1.0f);
}

/* One chunk of tokens t0 .. t0+c-1: out rows written, w->S moved past it. */
static void gla_chunk(const struct gla_head *h, int64_t t0, int64_t c, struct gla_scratch *w)
{
    const struct shape *s = h->s;
    const int64_t D = s->D, Dv = s->Dv, C = s->chunk, Dg = h->Dg;

    /* Cumulative gates; with none, G = 0 and every factor below is 1. */
    for (int64_t i = 0; i < c; i++)
        for (int64_t x = 0; x < Dg; x++)
            w->G[i * Dg + x] = (i ? w->G[(i - 1) * Dg + x] : 0.0f) + h->g[(t0 + i) * h->g_ld + x];
    const float *Gl = w->G + (c - 1) * Dg;      /* G_last */

    /* The operands of the inter-chunk products, with their decays. */
    for (int64_t i = 0; i < c; i++) {
        const float *q = h->q + (t0 + i) * h->qk_ld, *k = h->k + (t0 + i) * h->qk_ld;
        float *qg = w->qg + i * D;
        float *kd = w->tmp + i * D;     /* row-major here, transposed below */
        if (Dg == 0) {
            for (int64_t d = 0; d < D; d++) {
                qg[d] = h->scale * q[d];
                kd[d] = k[d];
            }
        } else if (Dg == 1) {
            const float eq = h->scale * cpu_exp(w->G[i]), ek = cpu_exp(Gl[0] - w->G[i]);
            for (int64_t d = 0; d < D; d++) {
                qg[d] = q[d] * eq;
                kd[d] = k[d] * ek;
            }
        } else {
            const float *Gi = w->G + i * D;
            for (int64_t d = 0; d < D; d++) {
                qg[d] = h->scale * q[d] * cpu_exp(Gi[d]);
                kd[d] = k[d] * cpu_exp(Gl[d] - Gi[d]);
            }
        }
        memcpy(w->v + i * Dv, h->v + (t0 + i) * h->v_ld, (size_t)Dv * sizeof(float));
    }
    gla_transpose(w->tmp, D, c, D, w->kdt, C);
    for (int64_t d = 0; d < D; d++)
        w->decay[d] = Dg == 0 ? 1.0f : cpu_exp(Gl[Dg == 1 ? 0 : d]);

    /* Scores, zero past the diagonal (the lower-triangular product reads
     * up to GLA_MR - 1 columns beyond it). */
    if (h->gate == GATE_KEY)
        gla_scores_key(h, t0, c, C, w);
    else
        gla_scores_head(h, t0, c, C, w);
    for (int64_t i = 0; i < c; i++)
        for (int64_t j = i + 1; j < c; j++)
            w->A[i * C + j] = 0.0f;

    gla_gemm(c, Dv, D, w->qg, D, w->S, Dv, w->o, Dv, GLA_ZERO, NULL, 0);   /* inter */
    gla_gemm(c, Dv, c, w->A, C, w->v, Dv, w->o, Dv, GLA_ADD, NULL, 1);     /* intra */
    gla_gemm(D, Dv, c, w->kdt, C, w->v, Dv, w->S, Dv, GLA_SCALE, w->decay, 0); /* state */

    for (int64_t i = 0; i < c; i++)
        cpu_store(s->dtype, h->out + (t0 + i) * h->v_ld, w->o + i * Dv, Dv);
}

/* One (batch b, value head j): h0 in, every chunk, ht out. */
static void gla_head_run(enum rec_kind kind, struct op_ctx *ctx, int64_t b, int64_t j,
                            struct gla_scratch *w)
{
    const struct shape *s = ctx->shape;
    const struct rec_layout l = rec_layout(kind, s);
    const int64_t N = s->N, H = s->H, Hv = s->Hv, D = s->D, Dv = s->Dv;
    const int64_t hq = j / (Hv / H);
    struct gla_head h = {
        .s = s, .gate = rec_gate(kind, s), .scale = (float)ctx->scale,
        .q = ctx->in[l.q] + (b * N * H + hq) * D, .k = ctx->in[l.k] + (b * N * H + hq) * D,
        .v = ctx->in[l.v] + (b * N * Hv + j) * Dv, .out = ctx->out + (b * N * Hv + j) * Dv,
        .qk_ld = H * D, .v_ld = Hv * Dv,
    };
    h.Dg = h.gate == GATE_KEY ? D : h.gate == GATE_HEAD ? 1 : 0;
    if (h.Dg) {
        h.g = ctx->in[l.g] + (b * N * Hv + j) * h.Dg;
        h.g_ld = Hv * h.Dg;
    }
    if (l.h0 >= 0)
        memcpy(w->S, ctx->in[l.h0] + (b * Hv + j) * D * Dv, (size_t)(D * Dv) * sizeof(float));
    else
        memset(w->S, 0, (size_t)(D * Dv) * sizeof(float));
    for (int64_t t0 = 0; t0 < N; t0 += s->chunk)
        gla_chunk(&h, t0, N - t0 < s->chunk ? N - t0 : s->chunk, w);
    if (ctx->final)
        cpu_store(s->dtype, ctx->final + (b * Hv + j) * D * Dv, w->S, D * Dv);
}

/* ---- executed counts -------------------------------------------------------------
 *
 * Multiply-adds each implementation's products execute per chunk of c
 * tokens (C = the case's chunk), beside the algorithmic count of
 * recurrent.c (which takes only the pairs j ≤ i of the score tile). */

/* cpu (this file): the score tile whole (gate none/head) or by sub-chunk
 * (key: the products of the earlier sub-chunks, then the diagonal block's
 * pairs j ≤ i), Q S, the lower-triangular A V by row blocks, Kᵀ V. */
static double gla_cpu_chunk_macs(const struct shape *s, double cd)
{
    const int64_t c = (int64_t)cd, D = s->D, Dv = s->Dv;
    int64_t macs = 0;
    if (s->gate == GATE_KEY) {
        for (int64_t i0 = 0; i0 < c; i0 += GLA_SUB) {
            const int64_t i1 = i0 + GLA_SUB < c ? i0 + GLA_SUB : c;
            macs += gla_gemm_macs(i1 - i0, i0, D, 0) + (i1 - i0) * (i1 - i0 + 1) / 2 * D;
        }
    } else {
        macs += gla_gemm_macs(c, c, D, 0);
    }
    macs += gla_gemm_macs(c, Dv, D, 0) + gla_gemm_macs(c, Dv, c, 1) + gla_gemm_macs(D, Dv, c, 0);
    return (double)macs;
}

/* cuda (ops/gated/gla_fwd.cu): the scores over the pairs j ≤ i < c; the
 * chunk walk's threads cover GLA_GPU_CMAX rows in the readout Q S and in
 * A V (rows past the chunk multiply zeros; A V over all j < c, A's upper
 * triangle being zeros), the state update over the c tokens. */
static double gla_cuda_chunk_macs(const struct shape *s, double c)
{
    const double D = (double)s->D, Dv = (double)s->Dv;
    return c * (c + 1) / 2 * D + GLA_GPU_CMAX * D * Dv + c * D * Dv + GLA_GPU_CMAX * c * Dv;
}

/* cuda-opt (ops/gated/gla_fwd_mma.cu): every chunk as C tokens (a partial
 * last chunk padded with zeros), in sub-chunks of GLA_SUB rows, one warp
 * each. Warp w's scores take the columns j < GLA_SUB·(w + 1) on the tensor
 * cores (gate none/head), or j < GLA_SUB·w and the diagonal block's pairs
 * in fp32 (key); Q S and Kᵀ V whole, A V over the sub-chunks at or before
 * the warp's. */
static double gla_cuda_opt_chunk_macs(const struct shape *s, double c)
{
    (void)c;
    const double D = (double)s->D, Dv = (double)s->Dv, C = (double)s->chunk;
    const double nsub = C / GLA_SUB, blk = GLA_SUB * GLA_SUB, upto = nsub * (nsub + 1) / 2;
    const double scores = s->gate == GATE_KEY
                              ? blk * (upto - nsub) * D + nsub * GLA_SUB * (GLA_SUB + 1) / 2 * D
                              : blk * upto * D;
    return scores + 2 * C * D * Dv + blk * upto * Dv;
}

double gla_cpu_flops_executed(const struct shape *s)
{
    return 2 * rec_sum_chunks(s, s->chunk, gla_cpu_chunk_macs);
}

double gla_cuda_flops_executed(const struct shape *s)
{
    return 2 * rec_sum_chunks(s, s->chunk, gla_cuda_chunk_macs);
}

double gla_cuda_opt_flops_executed(const struct shape *s)
{
    return 2 * rec_sum_chunks(s, s->chunk, gla_cuda_opt_chunk_macs);
}

#define GLA_ALIGN 64

static float *gla_alloc(int64_t n)
{
    const size_t bytes = (size_t)n * sizeof(float);
    return aligned_alloc(GLA_ALIGN, (bytes + GLA_ALIGN - 1) / GLA_ALIGN * GLA_ALIGN);
}

int gla_cpu_run(enum rec_kind kind, struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const int64_t D = s->D, Dv = s->Dv, C = s->chunk;
    int64_t macs = 0;
    int failed = 0;
#pragma omp parallel num_threads(ctx->threads) reduction(+ : macs) reduction(| : failed)
    {
        struct gla_scratch w = {
            .S = gla_alloc(D * Dv), .G = gla_alloc(C * D), .qg = gla_alloc(C * D),
            .kdt = gla_alloc(D * C), .kt = gla_alloc(D * C), .qs = gla_alloc(GLA_SUB * D),
            .tmp = gla_alloc(C * D),
            .A = gla_alloc(C * C), .v = gla_alloc(C * Dv), .o = gla_alloc(C * Dv),
            .decay = gla_alloc(D),
        };
        failed = !w.S || !w.G || !w.qg || !w.kdt || !w.kt || !w.qs || !w.tmp || !w.A || !w.v || !w.o ||
                 !w.decay;
        gla_tl_macs = 0;
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t b = 0; b < s->B; b++)
            for (int64_t j = 0; j < s->Hv; j++)
                if (!failed)
                    gla_head_run(kind, ctx, b, j, &w);
        macs = gla_tl_macs;
        free(w.S), free(w.G), free(w.qg), free(w.kdt), free(w.kt), free(w.qs), free(w.tmp);
        free(w.A), free(w.v), free(w.o), free(w.decay);
    }
    gla_cpu_macs += macs;
    if (failed) {
        snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory for chunk scratch");
        return SB_OOM;
    }
    return SB_OK;
}

CPU_KERNEL_END
