/*
 * delta.c — the delta family: the delta rule, whose update first reads what
 * the state predicts for k_t and writes back the correction,
 *   S' = exp(g_t) S_{t-1}  (gate=head: Gated DeltaNet; gate=none: DeltaNet)
 *   S_t = S' + β_t k_tᵀ (v_t − k_t S'),   o_t = scale · q_t S_t
 * with q, k L2-normalised and β in (0, 1); value heads may be a multiple of
 * the query/key heads (Hv = 4·H in Qwen3-Next's Gated DeltaNet). Shared math:
 * recurrent.h.
 *
 * The chunked algorithm (WY/UT form; Yang et al., "Parallelizing Linear
 * Transformers with the Delta Rule over Sequence Length", NeurIPS'24, and
 * "Gated Delta Networks", ICLR'25; flash-linear-attention's
 * chunk_gated_delta_rule). Per value head, a chunk of c tokens with the state
 * S_0 it starts from, G_i = g_0 + … + g_i the in-chunk cumulative log-decay
 * (G = 0 without a gate). Unrolling the recurrence inside the chunk, the
 * corrections u_i = β_i (v_i − k_i S'_i) satisfy
 *   u_i + Σ_{m<i} β_i e^{G_i−G_m} (k_i·k_m) u_m = β_i v_i − β_i e^{G_i} k_i S_0
 * i.e. with A = strictly-lower(diag(β) K Kᵀ ⊙ e^{G_i−G_m}) and T = (I + A)⁻¹
 * (forward substitution):
 *   W = T diag(β e^G) K,  U = T diag(β) V,  V' = U − W S_0   (the u_i)
 *   O = scale·(diag(e^G) Q S_0 + (Q Kᵀ ⊙ e^{G_i−G_m})_{m≤i} V')
 *   S ← e^{G_last} S_0 + (diag(e^{G_last−G}) K)ᵀ V'.
 * Every exponent is a difference G_i − G_m with m ≤ i, or G_i itself, so
 * ≤ 0: no overflow whatever the gates (g = −1e4 gives exact zeros). G is
 * summed in float64: after a very negative gate, |G| is large and the
 * difference of two fp32 sums would lose the small gates that follow.
 *
 * Implementations:
 *   ref       the recurrence with a float64 state, OpenMP over (batch, value head)
 *   cpu       the chunked algorithm above, the one the CUDA kernels run, in
 *             fp32 (bf16 inputs are exact in fp32; the output and final
 *             state are rounded to the dtype); any chunk, any D, Dv; OpenMP
 *             over (batch, value head), the chunk products in register-blocked
 *             micro-kernels ("Products" below). B=1 N=8192 H=4 Hv=16
 *             D=Dv=128 gate=head fp32 on 2 shared AVX-512 cores: ~290 ms,
 *             ref ~1300 ms (the first version, with scalar gathers, 484 ms)
 *   cuda      kernel 1 per (batch, value head, chunk): A, T, W, U and the
 *             masked scores; kernel 2 per (batch, value head, Dv slice): the
 *             chunks in order with the state slice in shared memory; fp32 FMA
 *             (ops/delta/delta_chunk.cu)
 *   cuda-opt  the same two kernels with the chunk products on tensor cores
 *             (mma.sync m16n8k16 bf16, fp32 accumulate), bf16 only
 *             (ops/delta/delta_chunk_mma.cu)
 *   decode    N ≤ 16 tokens: the recurrence itself, the state read and written
 *             once (ops/delta/delta_decode.cu)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"
#include "../ops/delta/delta_chunk.h"
#include "../ops/ops.h"
#include "../ops/delta/delta_chunk.h"
#include "cpu_kernel.h"

REC_FAMILY_FNS(delta, REC_DELTA)

/*
 * Products: every chunk product is C (+)= A·B with B's rows contiguous
 * (B[t][0..n) in a row of a padded width), A read by scalar broadcast with
 * any strides (so Aᵀ costs nothing), C row-major. The micro-kernel keeps
 * DELTA_MR × 64 fp32 sums in registers (24 of 32 zmm), loads a 64-float
 * row of B and broadcasts DELTA_MR scalars of A per step: 24 FMAs for 4 row
 * loads, as flash/cpu's kernel. Widths are padded to multiples of 16 floats
 * (one zmm), padding kept at zero, so the column blocks are 64, 32 or 16.
 */
#define DELTA_MR 6
#define DELTA_NB 64
#define DELTA_VL 16

static inline __attribute__((always_inline)) void
delta_kernel(int mr, int nb, int64_t n, const float *a, int64_t a_rs, int64_t a_ks,
             const float *restrict b, int64_t b_rs, float *restrict c, int64_t c_rs, int acc)
{
    float s[DELTA_MR][DELTA_NB];
    for (int i = 0; i < mr; i++)
        for (int e = 0; e < nb; e++)
            s[i][e] = acc ? c[i * c_rs + e] : 0.0f;
    for (int64_t t = 0; t < n; t++) {
        const float *restrict row = b + t * b_rs;
#pragma GCC unroll 6  /* DELTA_MR */
        for (int i = 0; i < mr; i++) {
            const float x = a[i * a_rs + t * a_ks];
            for (int e = 0; e < nb; e++)
                s[i][e] = cpu_fma(x, row[e], s[i][e]);
        }
    }
    for (int i = 0; i < mr; i++)
        memcpy(c + i * c_rs, s[i], (size_t)nb * sizeof s[i][0]);
}

typedef void delta_kernel_fn(int64_t n, const float *a, int64_t a_rs, int64_t a_ks,
                             const float *restrict b, int64_t b_rs, float *restrict c,
                             int64_t c_rs, int acc);

#if defined(__GNUC__) && !defined(__clang__)
#define DELTA_KERNEL_ATTR __attribute__((noinline, noclone))
#else
#define DELTA_KERNEL_ATTR __attribute__((noinline))
#endif
#define DELTA_KERNEL(mr, nb)                                                                 \
    DELTA_KERNEL_ATTR static void delta_kernel_##mr##_##nb(                                  \
        int64_t n, const float *a, int64_t a_rs, int64_t a_ks, const float *restrict b,       \
        int64_t b_rs, float *restrict c, int64_t c_rs, int acc)                               \
    {                                                                                         \
        delta_kernel(mr, nb, n, a, a_rs, a_ks, b, b_rs, c, c_rs, acc);                        \
    }
DELTA_KERNEL(6, 64) DELTA_KERNEL(4, 64) DELTA_KERNEL(2, 64) DELTA_KERNEL(1, 64)
DELTA_KERNEL(6, 32) DELTA_KERNEL(4, 32) DELTA_KERNEL(2, 32) DELTA_KERNEL(1, 32)
DELTA_KERNEL(6, 16) DELTA_KERNEL(4, 16) DELTA_KERNEL(2, 16) DELTA_KERNEL(1, 16)
_Static_assert(DELTA_MR == 6 && DELTA_NB == 64 && DELTA_VL == 16,
               "the kernel table below is written for these sizes");

static const struct {
    int rows;
    delta_kernel_fn *fn[3];     /* 64, 32, 16 columns */
} delta_kernels[] = {
    { 6, { delta_kernel_6_64, delta_kernel_6_32, delta_kernel_6_16 } },
    { 4, { delta_kernel_4_64, delta_kernel_4_32, delta_kernel_4_16 } },
    { 2, { delta_kernel_2_64, delta_kernel_2_32, delta_kernel_2_16 } },
    { 1, { delta_kernel_1_64, delta_kernel_1_32, delta_kernel_1_16 } },
};

/* Which triangle of a product is needed. */
enum delta_tri {
    DELTA_FULL,
    DELTA_TRI_K,    /* A lower-triangular (zero past the diagonal): row i sums t <= i */
    DELTA_TRI_N,    /* only columns <= row needed (scores before masking); the
                       others are left unwritten */
};

/* One row block of delta_gemm: from row i0 of m, its kernel (index into
 * delta_kernels), its reduction length *nn and its columns *ncc. */
static size_t delta_block(int64_t m, int64_t nc, int64_t n, enum delta_tri tri, int64_t i0,
                          int64_t *nn, int64_t *ncc)
{
    size_t r = 0;
    while (delta_kernels[r].rows > m - i0)
        r++;
    const int mr = delta_kernels[r].rows;
    *nn = tri == DELTA_TRI_K && i0 + mr < n ? i0 + mr : n;
    *ncc = nc;
    if (tri == DELTA_TRI_N) {
        const int64_t need = (i0 + mr + DELTA_VL - 1) / DELTA_VL * DELTA_VL;
        *ncc = need < nc ? need : nc;
    }
    return r;
}

/* Multiply-adds delta_gemm executes (its blocks, padding columns included). */
static int64_t delta_gemm_macs(int64_t m, int64_t nc, int64_t n, enum delta_tri tri)
{
    int64_t macs = 0, nn, ncc;
    for (int64_t i0 = 0; i0 < m;) {
        const int mr = delta_kernels[delta_block(m, nc, n, tri, i0, &nn, &ncc)].rows;
        macs += mr * nn * ncc;
        i0 += mr;
    }
    return macs;
}

/* Multiply-adds counted as the products run (tests), per thread. */
static _Thread_local int64_t delta_tl_macs;
int64_t delta_cpu_macs;

/* C[i][0..nc) (+)= Σ_{t<n} A(i, t) · B[t][0..nc) for i < m, A(i, t) =
 * a[i·a_rs + t·a_ks]; nc a multiple of DELTA_VL; c_rs, b_rs too. */
static void delta_gemm(int64_t m, int64_t nc, int64_t n, const float *a, int64_t a_rs,
                       int64_t a_ks, const float *b, int64_t b_rs, float *c, int64_t c_rs,
                       int acc, enum delta_tri tri)
{
    for (int64_t i0 = 0; i0 < m;) {
        int64_t nn, ncc;
        const size_t r = delta_block(m, nc, n, tri, i0, &nn, &ncc);
        const int mr = delta_kernels[r].rows;
        delta_tl_macs += mr * nn * ncc;
        for (int64_t e0 = 0; e0 < ncc;) {
            const int64_t left = ncc - e0;
            const int w = left >= 64 ? 0 : left >= 32 ? 1 : 2;
            delta_kernels[r].fn[w](nn, a + i0 * a_rs, a_rs, a_ks, b + e0, b_rs,
                                   c + i0 * c_rs + e0, c_rs, acc);
            e0 += 64 >> w;
        }
        i0 += mr;
    }
}

static int64_t delta_pad(int64_t x)
{
    return (x + DELTA_VL - 1) / DELTA_VL * DELTA_VL;
}

/* Per-thread scratch of the cpu implementation: one chunk of one head.
 * Widths padded to DELTA_VL (pD, pDv, pc); padding columns stay zero. */
struct delta_scratch {
    int64_t pD, pDv, pc;
    float *S;       /* [pD][pDv] the state */
    float *qc;      /* [c][pD] the chunk's queries */
    float *kc;      /* [c][pD] keys */
    float *kt;      /* [pD][pc] keys transposed (B operand of the scores) */
    float *kb;      /* [c][pD] −β_m e^{G_m} k_m (so T·kb = −W) */
    float *kd;      /* [c][pD] e^{G_last−G_m} k_m (the state update's keys) */
    float *vb;      /* [c][pDv] β_m v_m */
    float *sc;      /* [c][pc] scores Q Kᵀ, then P */
    float *a;       /* [c][pc] scores K Kᵀ, then A (strictly lower) */
    float *t;       /* [c][pc] T = (I + A)⁻¹, lower, unit diagonal */
    float *x;       /* [2c][pD] rows 0..r: −W; rows r..2r: scale·e^{G_i} q_i */
    float *y;       /* [2c][pDv] rows 0..r: U then V'; rows r..2r: O */
    double *G;      /* [c] cumulative log-decay */
};

#define DELTA_ALIGN 64
/* Longest chunk (recurrent.c's REC_MAX_CHUNK): one row of decays on the stack. */
#define DELTA_MAX_CHUNK 1024

static void *delta_alloc(size_t bytes)
{
    return aligned_alloc(DELTA_ALIGN, (bytes + DELTA_ALIGN - 1) / DELTA_ALIGN * DELTA_ALIGN);
}

static void delta_scratch_free(struct delta_scratch *w)
{
    free(w->S), free(w->qc), free(w->kc), free(w->kt), free(w->kb), free(w->kd);
    free(w->vb), free(w->sc), free(w->a), free(w->t), free(w->x), free(w->y), free(w->G);
}

static int delta_scratch_init(struct delta_scratch *w, const struct shape *s)
{
    const int64_t c = s->chunk;
    w->pD = delta_pad(s->D), w->pDv = delta_pad(s->Dv), w->pc = delta_pad(c);
    const size_t f = sizeof(float);
    float **mats[] = { &w->S, &w->qc, &w->kc, &w->kt, &w->kb, &w->kd, &w->vb,
                       &w->sc, &w->a, &w->t, &w->x, &w->y };
    const int64_t sizes[] = { w->pD * w->pDv, c * w->pD, c * w->pD, w->pD * w->pc, c * w->pD,
                              c * w->pD, c * w->pDv, c * w->pc, c * w->pc, c * w->pc,
                              2 * c * w->pD, 2 * c * w->pDv };
    int ok = 1;
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        *mats[i] = delta_alloc((size_t)sizes[i] * f);
        if (*mats[i])
            memset(*mats[i], 0, (size_t)sizes[i] * f);     /* padding stays zero */
        ok &= *mats[i] != NULL;
    }
    w->G = malloc((size_t)c * sizeof *w->G);
    return ok && w->G;
}

/* One chunk of r tokens starting at token t0 of (batch b, value head j):
 * what one CUDA kernel-1 block and one step of a kernel-2 block do. */
static void delta_chunk(const struct shape *s, double scale, const float *const in[],
                        const struct rec_layout *l, int64_t b, int64_t j, int64_t t0, int64_t r,
                        float *out, struct delta_scratch *w)
{
    const int64_t H = s->H, Hv = s->Hv, D = s->D, Dv = s->Dv, N = s->N;
    const int64_t hq = j / (Hv / H), pD = w->pD, pDv = w->pDv, pc = w->pc;

    /* Gather the chunk; the cumulative gate in float64. */
    double G = 0;
    for (int64_t i = 0; i < r; i++) {
        const int64_t tok = b * N + t0 + i;
        memcpy(w->qc + i * pD, in[l->q] + (tok * H + hq) * D, (size_t)D * sizeof(float));
        memcpy(w->kc + i * pD, in[l->k] + (tok * H + hq) * D, (size_t)D * sizeof(float));
        if (l->g >= 0)
            G += in[l->g][tok * Hv + j];
        w->G[i] = G;
    }
    const double Glast = w->G[r - 1];
    for (int64_t i = 0; i < r; i++) {
        const int64_t tok = b * N + t0 + i;
        const float beta = in[l->beta][tok * Hv + j];
        const float eg = cpu_exp((float)w->G[i]);
        const float el = cpu_exp((float)(Glast - w->G[i]));
        const float qs = (float)scale * eg, kbs = -beta * eg;
        const float *restrict k = w->kc + i * pD, *restrict q = w->qc + i * pD;
        const float *restrict v = in[l->v] + (tok * Hv + j) * Dv;
        float *restrict kb = w->kb + i * pD, *restrict kd = w->kd + i * pD;
        float *restrict xq = w->x + (r + i) * pD, *restrict vb = w->vb + i * pDv;
        for (int64_t d = 0; d < D; d++) {
            kb[d] = kbs * k[d];
            kd[d] = el * k[d];
            xq[d] = qs * q[d];
        }
        for (int64_t e = 0; e < Dv; e++)
            vb[e] = beta * v[e];
    }
    /* Kᵀ, columns r..pc zero (a short last chunk). */
    for (int64_t d = 0; d < D; d++) {
        float *restrict kt = w->kt + d * pc;
        for (int64_t i = 0; i < r; i++)
            kt[i] = w->kc[i * pD + d];
        for (int64_t i = r; i < pc; i++)
            kt[i] = 0;
    }

    /* Scores Q Kᵀ and K Kᵀ (lower triangles); then P and A. */
    delta_gemm(r, pc, pD, w->qc, pD, 1, w->kt, pc, w->sc, pc, 0, DELTA_TRI_N);
    delta_gemm(r, pc, pD, w->kc, pD, 1, w->kt, pc, w->a, pc, 0, DELTA_TRI_N);
    for (int64_t i = 0; i < r; i++) {
        const float beta = in[l->beta][(b * N + t0 + i) * Hv + j];
        float *restrict p = w->sc + i * pc, *restrict a = w->a + i * pc;
        const double *restrict G = w->G;
        float dec[DELTA_MAX_CHUNK];
        for (int64_t m = 0; m <= i; m++)
            dec[m] = cpu_exp((float)(G[i] - G[m]));
        for (int64_t m = 0; m <= i; m++) {
            p[m] = (float)scale * dec[m] * p[m];
            a[m] = beta * dec[m] * a[m];
        }
        a[i] = 0.0f;
        for (int64_t m = i + 1; m < pc; m++)
            p[m] = a[m] = 0.0f;
    }

    /* T = (I + A)⁻¹ by forward substitution: T_i = e_i − Σ_{m<i} A_im T_m
     * (T_m is zero past column m). */
    for (int64_t i = 0; i < r; i++) {
        float *ti = w->t + i * pc;
        memset(ti, 0, (size_t)pc * sizeof *ti);
        for (int64_t m = 0; m < i; m++) {
            const float x = w->a[i * pc + m];
            const float *tm = w->t + m * pc;
            const int64_t len = delta_pad(m + 1);
            for (int64_t n = 0; n < len; n++)
                ti[n] = cpu_fma(-x, tm[n], ti[n]);
            delta_tl_macs += len;
        }
        ti[i] = 1.0f;
    }

    /* −W = T·kb, U = T·vb (rows 0..r of x and y); O rows start at zero. */
    delta_gemm(r, pD, r, w->t, pc, 1, w->kb, pD, w->x, pD, 0, DELTA_TRI_K);
    delta_gemm(r, pDv, r, w->t, pc, 1, w->vb, pDv, w->y, pDv, 0, DELTA_TRI_K);
    memset(w->y + r * pDv, 0, (size_t)(r * pDv) * sizeof(float));
    /* [V'; O] = [U; 0] + [−W; e^G·scale·Q]·S, one pass over the state. */
    delta_gemm(2 * r, pDv, pD, w->x, pD, 1, w->S, pDv, w->y, pDv, 1, DELTA_FULL);
    /* O += P·V'. */
    delta_gemm(r, pDv, r, w->sc, pc, 1, w->y, pDv, w->y + r * pDv, pDv, 1, DELTA_TRI_K);
    /* S ← e^{G_last} S + kdᵀ·V'. */
    const float el = cpu_exp((float)Glast);
    if (l->g >= 0)
        for (int64_t i = 0; i < pD * pDv; i++)
            w->S[i] *= el;
    delta_gemm(pD, pDv, r, w->kd, 1, pD, w->y, pDv, w->S, pDv, 1, DELTA_FULL);

    for (int64_t i = 0; i < r; i++) {
        const float *o = w->y + (r + i) * pDv;
        float *dst = out + ((b * N + t0 + i) * Hv + j) * Dv;
        for (int64_t e = 0; e < Dv; e++)
            dst[e] = s->dtype == DT_BF16 ? bf16_round(o[e]) : o[e];
    }
}

/* Asks for the rows of q, k, v a chunk will gather (into L2: a chunk's rows
 * are ~100 KiB at D = Dv = 128). They are Hv·Dv floats apart, 8 KiB and
 * more, a stride the hardware prefetchers do not follow: without this the
 * gather of v stalled on DRAM for ~10% of the run. */
static void delta_prefetch(const struct shape *s, const float *const in[],
                           const struct rec_layout *l, int64_t b, int64_t j, int64_t t0, int64_t r)
{
    const int64_t H = s->H, Hv = s->Hv, D = s->D, Dv = s->Dv, hq = j / (Hv / H);
    for (int64_t i = 0; i < r; i++) {
        const int64_t tok = b * s->N + t0 + i;
        const char *q = (const char *)(in[l->q] + (tok * H + hq) * D);
        const char *k = (const char *)(in[l->k] + (tok * H + hq) * D);
        const char *v = (const char *)(in[l->v] + (tok * Hv + j) * Dv);
        for (int64_t x = 0; x < D * (int64_t)sizeof(float); x += 64) {
            __builtin_prefetch(q + x, 0, 2);
            __builtin_prefetch(k + x, 0, 2);
        }
        for (int64_t x = 0; x < Dv * (int64_t)sizeof(float); x += 64)
            __builtin_prefetch(v + x, 0, 2);
    }
}

/* One (batch, value head): the chunks in order, carrying S. */
static void delta_head(const struct shape *s, double scale, const float *const in[],
                       const struct rec_layout *l, int64_t b, int64_t j, float *out,
                       float *final, struct delta_scratch *w)
{
    const int64_t D = s->D, Dv = s->Dv, pDv = w->pDv, base = (b * s->Hv + j) * D * Dv;
    memset(w->S, 0, (size_t)(w->pD * pDv) * sizeof(float));
    if (l->h0 >= 0)
        for (int64_t d = 0; d < D; d++)
            memcpy(w->S + d * pDv, in[l->h0] + base + d * Dv, (size_t)Dv * sizeof(float));
    for (int64_t t0 = 0; t0 < s->N; t0 += s->chunk) {
        const int64_t r = s->N - t0 < s->chunk ? s->N - t0 : s->chunk;
        const int64_t t1 = t0 + s->chunk;
        if (t1 < s->N)
            delta_prefetch(s, in, l, b, j, t1, s->N - t1 < s->chunk ? s->N - t1 : s->chunk);
        delta_chunk(s, scale, in, l, b, j, t0, r, out, w);
    }
    if (final)
        for (int64_t d = 0; d < D; d++)
            for (int64_t e = 0; e < Dv; e++) {
                const float x = w->S[d * pDv + e];
                final[base + d * Dv + e] = s->dtype == DT_BF16 ? bf16_round(x) : x;
            }
}

static int delta_cpu_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct rec_layout l = rec_layout(REC_DELTA, s);
    int failed = 0;
    int64_t macs = 0;
#pragma omp parallel num_threads(ctx->threads) reduction(| : failed) reduction(+ : macs)
    {
        struct delta_scratch w = { 0 };
        failed = !delta_scratch_init(&w, s);
        delta_tl_macs = 0;
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t b = 0; b < s->B; b++)
            for (int64_t j = 0; j < s->Hv; j++)
                if (!failed)
                    delta_head(s, ctx->scale, ctx->in, &l, b, j, ctx->out,
                               s->state ? ctx->final : NULL, &w);
        delta_scratch_free(&w);
        macs = delta_tl_macs;
    }
    delta_cpu_macs += macs;
    if (failed) {
        snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory for chunk scratch");
        return SB_OOM;
    }
    return SB_OK;
}

/* ---- executed counts ---------------------------------------------------------- */

/* cpu: delta_chunk's products as its blocks run them (widths padded to
 * DELTA_VL, triangles by row block), the forward substitution by padded
 * rows of T. */
static double delta_cpu_chunk_macs(const struct shape *s, double rd)
{
    const int64_t r = (int64_t)rd, pD = delta_pad(s->D), pDv = delta_pad(s->Dv);
    const int64_t pc = delta_pad(s->chunk);
    int64_t macs = 2 * delta_gemm_macs(r, pc, pD, DELTA_TRI_N)          /* Q Kᵀ, K Kᵀ */
                 + delta_gemm_macs(r, pD, r, DELTA_TRI_K)               /* W */
                 + 2 * delta_gemm_macs(r, pDv, r, DELTA_TRI_K)          /* U, P V' */
                 + delta_gemm_macs(2 * r, pDv, pD, DELTA_FULL)          /* [W; Q] S */
                 + delta_gemm_macs(pD, pDv, r, DELTA_FULL);             /* Kᵀ V' */
    for (int64_t i = 0; i < r; i++)
        for (int64_t m = 0; m < i; m++)
            macs += delta_pad(m + 1);
    return (double)macs;
}

static double delta_cpu_flops_executed(const struct shape *s)
{
    return 2 * rec_sum_chunks(s, s->chunk, delta_cpu_chunk_macs);
}

/* cuda, cuda-opt (ops/delta/delta_chunk*.cu): every chunk as
 * DELTA_GPU_CHUNK tokens (a partial last one padded with zeros), its
 * products whole: K Kᵀ and Q Kᵀ, W = T βK and U = T βV over all columns
 * of T, W S and Q S, P V', Kᵀ V'; only T's forward substitution runs over
 * its exact triangle ((c³ − c)/6). The same work on FMA units or on the
 * tensor cores. */
static double delta_gpu_chunk_macs(const struct shape *s, double r)
{
    (void)r;
    const double c = DELTA_GPU_CHUNK, D = (double)s->D, Dv = (double)s->Dv;
    return 3 * c * c * D + 2 * c * c * Dv + (c * c * c - c) / 6 + 3 * c * D * Dv;
}

static double delta_gpu_flops_executed(const struct shape *s)
{
    return 2 * rec_sum_chunks(s, DELTA_GPU_CHUNK, delta_gpu_chunk_macs);
}

CPU_KERNEL_END

/* Chunks, and the tensor-core kernel's sub-chunks of DELTA_GPU_SUB rows
 * (one warp each). */
static int delta_row_tilings(const struct shape *s, struct row_tiling *t)
{
    return rec_row_tilings(s, DELTA_GPU_SUB, t);
}

static const struct impl delta_impls[] = {
    {
        .name = "ref", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = "verified",
        .summary = "the recurrence, float64 state, OpenMP over (batch, head)",
        .run = delta_ref_run, .flops_executed = rec_flops_delta_recurrent,
    },
    {
        .name = "cpu", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = "verified",
        .summary = "the CUDA kernels' chunked WY/UT algorithm in C, fp32, OpenMP",
        .run = delta_cpu_run, .flops_executed = delta_cpu_flops_executed,
    },
    {
        .name = "cuda", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = SB_GPU_STATUS_CPU_ONLY,
        .summary = "chunked WY/UT: per-chunk A, T, W, U kernel + sequential state kernel, FMA",
        .flops_executed = delta_gpu_flops_executed, SB_GPU_FNS(delta_cuda),
    },
    {
        .name = "cuda-opt", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),
        .status = SB_GPU_STATUS_CPU_ONLY,
        .summary = "the two chunked kernels with mma.sync m16n8k16 bf16 tensor cores, fp32 state",
        .flops_executed = delta_gpu_flops_executed, SB_GPU_FNS(delta_cuda_opt),
    },
    {
        .name = "decode", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = SB_GPU_STATUS_CPU_ONLY,
        .summary = "N <= 16 tokens: the recurrence on a carried state, read and written once",
        .flops_executed = rec_flops_delta_recurrent, SB_GPU_FNS(delta_decode),
    },
};

static const char *const delta_edge_shapes[] = {
    "B=1 N=1 H=1 D=16 Dv=16",
    "B=2 N=77 H=2 D=64 Dv=32",
    "B=2 N=77 H=2 D=64 Dv=32 gate=head",
    "B=1 N=200 H=2 Hv=8 D=64 Dv=128 chunk=32 gate=head",
    "B=1 N=64 H=3 D=128 state",
    "B=2 N=1 H=4 D=128 gate=head state",
    "B=1 N=1000 H=2 D=128 Dv=128 gate=head",
    /* Shapes the GPU kernels take (D, Dv in 64/128/256, chunk 64): a
     * partial last chunk with Hv = 4H and D != Dv; decode-sized N with a
     * state; D = Dv = 256. */
    "B=2 N=130 H=1 Hv=4 D=64 Dv=128 gate=head state",
    "B=1 N=3 H=2 Hv=4 D=128 Dv=64 gate=head state",
    "B=1 N=200 H=1 Hv=2 D=256 Dv=256",
    NULL,
};

const struct family family_delta = {
    .name = "delta",
    .summary = "delta rule: DeltaNet (gate=none), Gated DeltaNet (gate=head)",
    .fields = REC_FIELDS_GATED,
    REC_FAMILY_MEMBERS(delta),
    .row_tilings = delta_row_tilings,
    .impls = delta_impls,
    .n_impls = (int)(sizeof delta_impls / sizeof delta_impls[0]),
    .edge_shapes = delta_edge_shapes,
};
