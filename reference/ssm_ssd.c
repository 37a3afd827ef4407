/*
 * ssm_ssd.c — Mamba-2's SSD (reference/ssm.h has the math and the tensors):
 * the float64 recurrence and the `cpu` form, the block decomposition the
 * GPU kernels run (ops/ssm/ssd_chunk*.cu).
 *
 * The decomposition, per (batch, head) and chunk of c tokens with
 * x̃_j = dt_j x_j (Mamba-2's ssd_minimal takes X·dt and A·dt, as here),
 * a_j = dt_j A_h and Λ_i = Σ_{j ≤ i} a_j summed inside the chunk (≤ 0,
 * falling), S the state before the chunk stored as Ds × P:
 *   intra   Y_i  = Σ_{j ≤ i} (C_i·B_j) e^{Λ_i − Λ_j} x̃_j   C Bᵀ masked by the decay
 *   inter   Y_i += e^{Λ_i} C_i S                              the output from the state
 *   state   S    = e^{Λ_last} S + Σ_j (B_j e^{Λ_last − Λ_j})ᵀ x̃_j   chunk state, passed on
 *   then    y_i  = Y_i + D x_i, times silu(z_i)
 * Only exponents ≤ 0 are formed, so long chunks of fast decay underflow to
 * 0 instead of overflowing. It is the gated family's per-head gate (simple
 * GLA) with q = C, k = B, v = x̃, g = a, no scale: the products run through
 * gla.c's register-blocked micro-kernel.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gla.h"
#include "ssm.h"
#include "cpu_kernel.h"

/* ---- reference ------------------------------------------------------------------ */

/* Everything one (batch b, head h) reads, and where. */
struct ssd_head {
    const float *x, *dt, *B, *C, *z;    /* row of token 0; strides below */
    int64_t x_ld, dt_ld, bc_ld;          /* H·P, H, G·Ds */
    float A, D;                          /* D = 0 without skip */
};

static struct ssd_head ssd_head_of(const struct shape *s, const float *const in[], int64_t b,
                                   int64_t h)
{
    const struct ssm_layout l = ssm_layout(s);
    const int64_t L = s->N, H = s->H, P = s->P, G = s->G, Ds = s->Ds, g = h / (H / G);
    return (struct ssd_head){
        .x = in[l.x] + (b * L * H + h) * P, .dt = in[l.dt] + b * L * H + h,
        .B = in[l.B] + (b * L * G + g) * Ds, .C = in[l.C] + (b * L * G + g) * Ds,
        .z = l.z >= 0 ? in[l.z] + (b * L * H + h) * P : NULL,
        .x_ld = H * P, .dt_ld = H, .bc_ld = G * Ds,
        .A = in[l.A][h], .D = l.D >= 0 ? in[l.D][h] : 0.0f,
    };
}

/* One (batch b, head h): the recurrence over all L tokens with a float64
 * state S [P][Ds], the outputs of the tokens rows[r0, r1) (sorted, all in
 * batch b) into out, and S_L into final (NULL: not wanted). Returns the
 * multiply-adds: P·Ds per token for the update, P·Ds per asked row. */
static int64_t ssd_ref_head(const struct shape *s, const float *const in[], int64_t b,
                            int64_t h, const int64_t *rows, int64_t r0, int64_t r1, double *out,
                            double *final, double *S)
{
    const struct ssm_layout l = ssm_layout(s);
    const struct ssd_head hd = ssd_head_of(s, in, b, h);
    const int64_t L = s->N, H = s->H, P = s->P, Ds = s->Ds;
    int64_t macs = 0, r = r0;
    for (int64_t i = 0; i < P * Ds; i++)
        S[i] = l.h0 >= 0 ? in[l.h0][(b * H + h) * P * Ds + i] : 0.0;
    for (int64_t t = 0; t < L; t++) {
        const double dt = hd.dt[t * hd.dt_ld], a = exp(dt * hd.A);
        const float *x = hd.x + t * hd.x_ld, *Bt = hd.B + t * hd.bc_ld, *Ct = hd.C + t * hd.bc_ld;
        for (int64_t p = 0; p < P; p++) {
            const double xp = dt * x[p];
            double *Sp = S + p * Ds;
            for (int64_t n = 0; n < Ds; n++)
                Sp[n] = a * Sp[n] + xp * Bt[n];
        }
        macs += P * Ds;
        for (; r < r1 && rows[r] == b * L + t; r++) {
            double *y = out + (r * H + h) * P;
            for (int64_t p = 0; p < P; p++) {
                double acc = 0;
                for (int64_t n = 0; n < Ds; n++)
                    acc += S[p * Ds + n] * Ct[n];
                acc += (double)hd.D * x[p];
                y[p] = hd.z ? acc * ssm_silu(hd.z[t * hd.x_ld + p]) : acc;
            }
            macs += P * Ds;
        }
    }
    if (final)
        memcpy(final + (b * H + h) * P * Ds, S, (size_t)(P * Ds) * sizeof *S);
    return macs;
}

void ssd_reference(const struct shape *s, const float *const in[], const int64_t *rows,
                   int64_t nrows, double *out, double *final)
{
    const int64_t B = s->B, H = s->H, L = s->N;
    int64_t *first = malloc((size_t)(B + 1) * sizeof *first);  /* batch b: rows[first[b], first[b+1]) */
    int64_t macs = 0;
    int oom = !first;
    if (first) {
        for (int64_t b = 0, r = 0; b <= B; b++) {
            while (r < nrows && rows[r] < b * L)
                r++;
            first[b] = r;
        }
#pragma omp parallel reduction(+ : macs) reduction(| : oom)
        {
            double *S = malloc((size_t)(s->P * s->Ds) * sizeof *S);
            oom = !S;
#pragma omp for collapse(2) schedule(dynamic, 1)
            for (int64_t b = 0; b < B; b++)
                for (int64_t h = 0; h < H; h++)
                    if (S)
                        macs += ssd_ref_head(s, in, b, h, rows, first[b], first[b + 1], out,
                                             final, S);
            free(S);
        }
    }
    if (oom)
        for (int64_t i = 0; i < nrows * H * s->P; i++)
            out[i] = NAN;       /* out of memory: fails the check */
    free(first);
    ssm_ref_macs += macs;
}

/* ---- cpu: the chunked form ---------------------------------------------------------- */

/* Per-thread buffers; C is the chunk length, rows of a chunk-sized
 * dimension are C floats apart whatever the chunk's own length c. */
struct ssd_scratch {
    float *S;       /* [Ds][P] the state */
    float *lam;     /* [C]     Λ, the decay summed inside the chunk */
    float *xt;      /* [C][P]  x̃ = dt·x */
    float *Ce;      /* [C][Ds] e^{Λ_i} C_i: the inter-chunk readout */
    float *BT;      /* [Ds][C] Bᵀ: the scores */
    float *BdT;     /* [Ds][C] (B_j e^{Λ_last − Λ_j})ᵀ: the state update */
    float *M;       /* [C][C]  the masked, decayed scores, zero past the diagonal */
    float *Y;       /* [C][P]  the chunk's output */
    float *tmp;     /* [C][Ds] rows before their transposition */
    float *decay;   /* [Ds]    e^{Λ_last}, the same for every row of S */
};

/* One chunk of tokens t0 .. t0+c-1 of one head: out rows written, w->S
 * moved past it. Its products are ssd_cpu_chunk_macs' (ssm.c). */
static void ssd_chunk(const struct shape *s, const struct ssd_head *hd, float *out,
                      int64_t t0, int64_t c, const struct ssd_scratch *w)
{
    const int64_t P = s->P, Ds = s->Ds, C = s->chunk, H = s->H;
    for (int64_t i = 0; i < c; i++) {
        const float dt = hd->dt[(t0 + i) * hd->dt_ld];
        w->lam[i] = (i ? w->lam[i - 1] : 0.0f) + dt * hd->A;
        const float *x = hd->x + (t0 + i) * hd->x_ld;
        for (int64_t p = 0; p < P; p++)
            w->xt[i * P + p] = dt * x[p];
    }
    const float lam_last = w->lam[c - 1];
    for (int64_t i = 0; i < c; i++) {       /* e^{Λ_i} C_i, and B_j e^{Λ_last − Λ_j} */
        const float *Ci = hd->C + (t0 + i) * hd->bc_ld, *Bi = hd->B + (t0 + i) * hd->bc_ld;
        const float ec = cpu_exp(w->lam[i]), eb = cpu_exp(lam_last - w->lam[i]);
        for (int64_t n = 0; n < Ds; n++) {
            w->Ce[i * Ds + n] = ec * Ci[n];
            w->tmp[i * Ds + n] = eb * Bi[n];
        }
    }
    gla_transpose(w->tmp, Ds, c, Ds, w->BdT, C);
    gla_transpose(hd->B + t0 * hd->bc_ld, hd->bc_ld, c, Ds, w->BT, C);
    for (int64_t n = 0; n < Ds; n++)
        w->decay[n] = cpu_exp(lam_last);

    /* C Bᵀ, masked by the decay; zero past the diagonal (the lower
     * triangular product reads a few columns beyond it) */
    gla_gemm(c, c, Ds, hd->C + t0 * hd->bc_ld, hd->bc_ld, w->BT, C, w->M, C, GLA_ZERO, NULL, 0);
    for (int64_t i = 0; i < c; i++) {
        for (int64_t j = 0; j <= i; j++)
            w->M[i * C + j] *= cpu_exp(w->lam[i] - w->lam[j]);
        for (int64_t j = i + 1; j < c; j++)
            w->M[i * C + j] = 0.0f;
    }

    gla_gemm(c, P, Ds, w->Ce, Ds, w->S, P, w->Y, P, GLA_ZERO, NULL, 0);             /* inter */
    gla_gemm(c, P, c, w->M, C, w->xt, P, w->Y, P, GLA_ADD, NULL, 1);                /* intra */
    gla_gemm(Ds, P, c, w->BdT, C, w->xt, P, w->S, P, GLA_SCALE, w->decay, 0);       /* state */

    for (int64_t i = 0; i < c; i++) {
        const float *x = hd->x + (t0 + i) * hd->x_ld;
        const float *z = hd->z ? hd->z + (t0 + i) * hd->x_ld : NULL;
        float *y = w->Y + i * P;
        for (int64_t p = 0; p < P; p++) {
            float v = cpu_fma(hd->D, x[p], y[p]);
            y[p] = z ? v * (z[p] / (1.0f + expf(-z[p]))) : v;
        }
        cpu_store(s->dtype, out + (t0 + i) * H * P, y, P);
    }
}

/* One (batch b, head h): h0 in, every chunk, ht out. */
static void ssd_cpu_head(struct op_ctx *ctx, int64_t b, int64_t h, const struct ssd_scratch *w)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const int64_t L = s->N, H = s->H, P = s->P, Ds = s->Ds;
    const struct ssd_head hd = ssd_head_of(s, ctx->in, b, h);
    if (l.h0 >= 0)      /* [P][Ds] -> [Ds][P] */
        gla_transpose(ctx->in[l.h0] + (b * H + h) * P * Ds, Ds, P, Ds, w->S, P);
    else
        memset(w->S, 0, (size_t)(P * Ds) * sizeof *w->S);
    float *out = ctx->out + (b * L * H + h) * P;
    for (int64_t t0 = 0; t0 < L; t0 += s->chunk)
        ssd_chunk(s, &hd, out, t0, L - t0 < s->chunk ? L - t0 : s->chunk, w);
    if (ctx->final) {
        float *ht = ctx->final + (b * H + h) * P * Ds;
        gla_transpose(w->S, P, Ds, P, ht, Ds);
        if (s->dtype == DT_BF16)
            for (int64_t i = 0; i < P * Ds; i++)
                ht[i] = cpu_bf16(ht[i]);
    }
}

int ssd_cpu_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const int64_t P = s->P, Ds = s->Ds, C = s->chunk;
    const int64_t sizes[] = { Ds * P, C, C * P, C * Ds, Ds * C, Ds * C, C * C, C * P, C * Ds, Ds };
    enum { N_BUF = sizeof sizes / sizeof sizes[0] };
    int failed = 0;
    int64_t macs = 0;
#pragma omp parallel num_threads(ctx->threads) reduction(| : failed) reduction(+ : macs)
    {
        float *buf[N_BUF];
        gla_gemm_macs_take();
        for (int i = 0; i < N_BUF; i++)
            failed |= !(buf[i] = malloc((size_t)sizes[i] * sizeof(float)));
        const struct ssd_scratch w = { buf[0], buf[1], buf[2], buf[3], buf[4],
                                       buf[5], buf[6], buf[7], buf[8], buf[9] };
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t b = 0; b < s->B; b++)
            for (int64_t h = 0; h < s->H; h++)
                if (!failed)
                    ssd_cpu_head(ctx, b, h, &w);
        macs += gla_gemm_macs_take();
        for (int i = 0; i < N_BUF; i++)
            free(buf[i]);
    }
    ssm_cpu_macs += macs;
    if (failed) {
        snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory for chunk scratch");
        return SB_OOM;
    }
    return SB_OK;
}

CPU_KERNEL_END
