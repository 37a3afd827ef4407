/*
 * ssm_s6.c — Mamba's selective scan (reference/ssm.h has the math and the
 * tensors): the float64 reference and the `cpu` form, which runs the GPU
 * kernel's decomposition.
 *
 * The decomposition. The update of one state element over a token is an
 * affine map h ↦ a·h + b (a = exp(Δ_t A_n), b = Δ_t u_t B_t[n]); maps
 * compose associatively, (a1, b1) then (a2, b2) = (a1·a2, a2·b1 + b2), so
 * the scan over L tokens can be cut into chunks of `chunk` tokens:
 *   1. a local scan of each chunk from h = 0: its summary (P, hl), P the
 *      product of its a, hl its end state from zero;
 *   2. carry propagation: the state entering chunk c+1 is
 *      h_in(c+1) = P_c ⊙ h_in(c) + hl_c, from h_in(0) = h0 (or 0);
 *   3. each chunk scanned again from its h_in with the maps step 1 made,
 *      which gives every h_t and the outputs y_t = C_t·h_t + D u_t
 *      (· silu(z_t)).
 * On the GPU (ops/ssm/s6_scan.cu) a thread owns one chunk: step 1 in its
 * registers, step 2 as a warp and block scan of the summaries plus the
 * carry from the previous block of chunks, step 3 from the a and b it kept
 * in registers. Here the chunks of a channel go in order, so step 2 is the
 * running composition; the same algebra, composed in another order.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssm.h"
#include "cpu_kernel.h"

/* Where channel (b, d)'s B and C rows start in [B,G,Ds,L]: row n of the
 * state is n·L further on. */
static int64_t s6_bc_offset(const struct shape *s, int64_t b, int64_t d)
{
    const int64_t g = d / (s->Dm / s->G);
    return (b * s->G + g) * s->Ds * s->N;
}

/* ---- reference ------------------------------------------------------------------ */

/* One channel (b, d): the recurrence over all L tokens in float64, the
 * outputs into y (NULL: not wanted) and the end state into hT (NULL: not
 * wanted). Returns the state updates done (one per token and state). */
static int64_t s6_ref_channel(const struct shape *s, const float *const in[], int64_t b,
                              int64_t d, double *y, double *hT, double *h)
{
    const struct ssm_layout l = ssm_layout(s);
    const int64_t L = s->N, Ds = s->Ds, row = b * s->Dm + d;
    const float *u = in[l.x] + row * L, *dl = in[l.dt] + row * L, *A = in[l.A] + d * Ds;
    const float *Bm = in[l.B] + s6_bc_offset(s, b, d), *Cm = in[l.C] + s6_bc_offset(s, b, d);
    const double Dd = in[l.D][d];
    for (int64_t n = 0; n < Ds; n++)
        h[n] = l.h0 >= 0 ? in[l.h0][row * Ds + n] : 0.0;
    for (int64_t t = 0; t < L; t++) {
        const double delta = dl[t], du = delta * u[t];
        double acc = 0;
        for (int64_t n = 0; n < Ds; n++) {
            h[n] = exp(delta * A[n]) * h[n] + du * Bm[n * L + t];
            acc += Cm[n * L + t] * h[n];
        }
        if (y) {
            acc += Dd * u[t];
            y[t] = l.z >= 0 ? acc * ssm_silu(in[l.z][row * L + t]) : acc;
        }
    }
    if (hT)
        memcpy(hT, h, (size_t)Ds * sizeof *h);
    return L * Ds;
}

/* Rows are channels b·Dm + d, each L outputs. With final, every channel
 * runs (the final state is checked in full), keeping the asked rows. */
void s6_reference(const struct shape *s, const float *const in[], const int64_t *rows,
                  int64_t nrows, double *out, double *final)
{
    const int64_t L = s->N, chans = s->B * s->Dm, jobs = final ? chans : nrows;
    /* with final: channel c's place in out, -1 when not asked */
    int64_t *slot = final ? malloc((size_t)chans * sizeof *slot) : NULL, updates = 0;
    int oom = final && !slot;
    for (int64_t c = 0; slot && c < chans; c++)
        slot[c] = -1;
    for (int64_t i = 0; slot && i < nrows; i++)
        slot[rows[i]] = i;
#pragma omp parallel reduction(+ : updates) reduction(| : oom)
    {
        double *h = malloc((size_t)s->Ds * sizeof *h);
        oom |= !h;
#pragma omp for schedule(dynamic, 1)
        for (int64_t j = 0; j < jobs; j++) {
            const int64_t c = final ? j : rows[j], at = final ? (slot ? slot[j] : -1) : j;
            if (h && (!final || slot))
                updates += s6_ref_channel(s, in, c / s->Dm, c % s->Dm, at >= 0 ? out + at * L : NULL,
                                          final ? final + c * s->Ds : NULL, h);
        }
        free(h);
    }
    if (oom)
        for (int64_t i = 0; i < nrows * L; i++)
            out[i] = NAN;       /* out of memory: fails the check */
    free(slot);
    ssm_ref_macs += updates;
}

/* ---- cpu: the chunked scan ------------------------------------------------------------ */

#define S6_LANES 16     /* fp32 lanes of a 512-bit vector: states per block */

/* Per-thread buffers; T is the chunk. */
struct s6_scratch {
    float *hin;     /* [Ds] the state entering the chunk (step 2's carry) */
    float *a, *b;   /* [T][S6_LANES] each token's map for a block of states, from
                     * step 1 to step 3 (the GPU thread keeps them in registers) */
    float *yp;      /* [T][S6_LANES] C_t ⊙ h_t summed over the blocks, by lane */
    float *du;      /* [T] Δ_t u_t */
    float *y;       /* [T] the chunk's outputs before the dtype's rounding */
};

/* Steps 1-3 of one chunk of nt tokens for the states n0 .. n0 + W − 1: in
 * full blocks W is the constant S6_LANES, so the summary (P, hl) and the
 * state h stay in vector registers. C_t ⊙ h_t is added into yp by lane,
 * and the block's carry into hin. */
static inline __attribute__((always_inline)) void
s6_block(const int64_t W, int64_t n0, int64_t nt, int64_t Ds, const float *restrict dl,
         const float *restrict A, const float *restrict Bt, const float *restrict Ct,
         const struct s6_scratch *w)
{
    float P[S6_LANES], hl[S6_LANES], h[S6_LANES];
    for (int64_t n = 0; n < W; n++)                       /* 1. the local scan from 0 */
        P[n] = 1.0f, hl[n] = 0.0f;
    for (int64_t i = 0; i < nt; i++) {
        const float delta = dl[i], du = w->du[i];
        const float *restrict Bn = Bt + i * Ds + n0;
        float *restrict a = w->a + i * S6_LANES, *restrict bb = w->b + i * S6_LANES;
        for (int64_t n = 0; n < W; n++) {
            a[n] = cpu_exp(delta * A[n0 + n]);
            bb[n] = du * Bn[n];
            P[n] *= a[n];
            hl[n] = cpu_fma(a[n], hl[n], bb[n]);
        }
    }
    for (int64_t n = 0; n < W; n++)                       /* 3. the outputs from h_in */
        h[n] = w->hin[n0 + n];
    for (int64_t i = 0; i < nt; i++) {
        const float *restrict Cn = Ct + i * Ds + n0;
        const float *restrict a = w->a + i * S6_LANES, *restrict bb = w->b + i * S6_LANES;
        float *restrict yp = w->yp + i * S6_LANES;
        for (int64_t n = 0; n < W; n++) {
            h[n] = cpu_fma(a[n], h[n], bb[n]);
            yp[n] = cpu_fma(Cn[n], h[n], yp[n]);
        }
    }
    for (int64_t n = 0; n < W; n++)                       /* 2. the carry into the next chunk */
        w->hin[n0 + n] = cpu_fma(P[n], w->hin[n0 + n], hl[n]);
}

/* silu(z) = z · sigmoid(z), with e^x for x ≤ 0 only (vectorises). */
static inline float s6_silu(float z)
{
    const float e = cpu_exp(-fabsf(z)), sig = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    return z * sig;
}

/* One channel (b, d): steps 1-3 chunk by chunk, block by block of states;
 * out rows and, with a final state, ht written. BT, CT: B and C of every
 * (batch, group) transposed to [L][Ds], so a token's states are contiguous. */
static void s6_cpu_channel(struct op_ctx *ctx, const float *BT, const float *CT, int64_t b,
                           int64_t d, const struct s6_scratch *w)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const int64_t L = s->N, Ds = s->Ds, row = b * s->Dm + d, T = s->chunk;
    const float *u = ctx->in[l.x] + row * L, *dl = ctx->in[l.dt] + row * L;
    const float *z = l.z >= 0 ? ctx->in[l.z] + row * L : NULL;
    const float *A = ctx->in[l.A] + d * Ds, Dd = ctx->in[l.D][d];
    const int64_t bc = s6_bc_offset(s, b, d);     /* [L][Ds] starts where [Ds][L] did */
    float *restrict y = w->y;

    for (int64_t n = 0; n < Ds; n++)
        w->hin[n] = l.h0 >= 0 ? ctx->in[l.h0][row * Ds + n] : 0.0f;
    for (int64_t t0 = 0; t0 < L; t0 += T) {
        const int64_t nt = t0 + T < L ? T : L - t0;
        const float *Bt = BT + bc + t0 * Ds, *Ct = CT + bc + t0 * Ds;
        for (int64_t i = 0; i < nt; i++)
            w->du[i] = dl[t0 + i] * u[t0 + i];
        memset(w->yp, 0, (size_t)(nt * S6_LANES) * sizeof *w->yp);
        int64_t n0 = 0;
        for (; n0 + S6_LANES <= Ds; n0 += S6_LANES)
            s6_block(S6_LANES, n0, nt, Ds, dl + t0, A, Bt, Ct, w);
        if (n0 < Ds)
            s6_block(Ds - n0, n0, nt, Ds, dl + t0, A, Bt, Ct, w);
        for (int64_t i = 0; i < nt; i++) {        /* the lanes' tree: 4 adds deep, not 16 */
            float *x = w->yp + i * S6_LANES;
            for (int k = S6_LANES / 2; k > 0; k /= 2)
                for (int q = 0; q < k; q++)
                    x[q] += x[q + k];
            y[i] = cpu_fma(Dd, u[t0 + i], x[0]);
        }
        if (z)
            for (int64_t i = 0; i < nt; i++)
                y[i] *= s6_silu(z[t0 + i]);
        cpu_store(s->dtype, ctx->out + row * L + t0, y, nt);
    }
    if (ctx->final)
        cpu_store(s->dtype, ctx->final + row * Ds, w->hin, Ds);
}

/* B or C [B,G,Ds,L] -> [B,G,L][Ds]. */
static void s6_transpose_bc(const struct shape *s, const float *src, float *dst)
{
    const int64_t L = s->N, Ds = s->Ds;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t bg = 0; bg < s->B * s->G; bg++)
        for (int64_t t = 0; t < L; t++)
            for (int64_t n = 0; n < Ds; n++)
                dst[(bg * L + t) * Ds + n] = src[(bg * Ds + n) * L + t];
}

int s6_cpu_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const int64_t bc = s->B * s->G * s->N * s->Ds;
    float *BT = malloc((size_t)bc * sizeof *BT), *CT = malloc((size_t)bc * sizeof *CT);
    int failed = !BT || !CT;
    if (!failed) {
        s6_transpose_bc(s, ctx->in[l.B], BT);
        s6_transpose_bc(s, ctx->in[l.C], CT);
    }
#pragma omp parallel num_threads(ctx->threads) reduction(| : failed)
    {
        const int64_t T = s->chunk, lanes = T * S6_LANES;
        float *buf = malloc((size_t)(s->Ds + 3 * lanes + 2 * T) * sizeof *buf);
        const struct s6_scratch w = { buf, buf + s->Ds, buf + s->Ds + lanes, buf + s->Ds + 2 * lanes,
                                      buf + s->Ds + 3 * lanes, buf + s->Ds + 3 * lanes + T };
        failed |= !buf;
#pragma omp for collapse(2) schedule(dynamic, 4)
        for (int64_t b = 0; b < s->B; b++)
            for (int64_t d = 0; d < s->Dm; d++)
                if (!failed)
                    s6_cpu_channel(ctx, BT, CT, b, d, &w);
        free(buf);
    }
    free(BT), free(CT);
    if (failed) {
        snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory");
        return SB_OOM;
    }
    return SB_OK;
}

CPU_KERNEL_END
