/*
 * flash.c — the flash family: the same attention function as softmax
 * (reference/attention.c for the math, shapes and formulas), fused so the
 * N×Nk scores never leave the chip: a query tile of FLASH_BR rows meets the
 * keys FLASH_BC at a time, with the online softmax (running max m, running
 * sum l, the accumulator rescaled by 2^(m_old - m_new) when the max grows).
 *
 * Implementations:
 *   ref   the definition in double precision (shared with softmax)
 *   cpu   the GPU kernel's algorithm in plain C: the same tiles
 *         (ops/flash/flash_tiles.h), the same causal tile skipping, scale·log2(e)
 *         folded into Q and exp2 — so the tiling is proven on every machine and
 *         only the thread mapping is left to the GPU check. fp32 arithmetic;
 *         bf16 inputs are exact in fp32 and the output is rounded to bf16.
 *         OpenMP over (batch, head, query tile).
 *   cuda  a first fused kernel, one query tile per block (ops/flash/flash_fwd.cu)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "../ops/ops.h"
#include "../ops/flash/flash_tiles.h"

/* 2^x for x <= 0 in fp32, written so the compiler vectorises it (no libm
 * call): x = i + f with i = round(x), |f| <= 1/2, 2^f from its Taylor series
 * to degree 7 (truncation error (ln2/2)^8/8! < 6e-9, below fp32's 2^-24), 2^i
 * assembled in the exponent bits. x < -126 (including -inf from the mask)
 * gives exactly 0. */
static inline float flash_exp2(float x)
{
    float xc = x < -126.0f ? -126.0f : x;
    float i = floorf(xc + 0.5f), f = xc - i;
    float p = 1.5252734e-5f;
    p = p * f + 1.5403530e-4f;
    p = p * f + 1.3333558e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    int32_t bits = ((int32_t)i + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return x < -126.0f ? 0.0f : p * scale;
}

struct flash_scratch {
    float *q;       /* [FLASH_BR][D], pre-scaled by scale·log2(e) */
    float *kt;      /* [D][FLASH_BC], the K tile transposed */
    float *s;       /* [FLASH_BR][FLASH_BC], scores then probabilities */
    float *acc;     /* [FLASH_BR][Dv] */
    float m[FLASH_BR], l[FLASH_BR];
};

/* S[r][:] = q_r · K_tileᵀ for 4 rows at a time: each K element loaded once
 * feeds 4 FMAs, and the j loop is unit-stride for the vectoriser. */
static void flash_scores(int64_t D, int nr, const float *restrict q, const float *restrict kt,
                         float *restrict s)
{
    int r = 0;
    for (; r + 4 <= nr; r += 4) {
        float *restrict s0 = s + (r + 0) * FLASH_BC, *restrict s1 = s + (r + 1) * FLASH_BC;
        float *restrict s2 = s + (r + 2) * FLASH_BC, *restrict s3 = s + (r + 3) * FLASH_BC;
        const float *q0 = q + (r + 0) * D, *q1 = q + (r + 1) * D;
        const float *q2 = q + (r + 2) * D, *q3 = q + (r + 3) * D;
        float a0[FLASH_BC] = { 0 }, a1[FLASH_BC] = { 0 }, a2[FLASH_BC] = { 0 }, a3[FLASH_BC] = { 0 };
        for (int64_t d = 0; d < D; d++) {
            const float *restrict k = kt + d * FLASH_BC;
            float x0 = q0[d], x1 = q1[d], x2 = q2[d], x3 = q3[d];
            for (int c = 0; c < FLASH_BC; c++) {
                a0[c] += x0 * k[c];
                a1[c] += x1 * k[c];
                a2[c] += x2 * k[c];
                a3[c] += x3 * k[c];
            }
        }
        memcpy(s0, a0, sizeof a0), memcpy(s1, a1, sizeof a1);
        memcpy(s2, a2, sizeof a2), memcpy(s3, a3, sizeof a3);
    }
    for (; r < nr; r++) {
        float a[FLASH_BC] = { 0 };
        for (int64_t d = 0; d < D; d++)
            for (int c = 0; c < FLASH_BC; c++)
                a[c] += q[r * D + d] * kt[d * FLASH_BC + c];
        memcpy(s + r * FLASH_BC, a, sizeof a);
    }
}

/* acc[r][:] += Σ_c p[r][c] · v_c for 2 rows at a time. */
static void flash_pv(int64_t Dv, int nr, int nc, const float *restrict p, const float *v,
                     int64_t v_stride, float *restrict acc)
{
    int r = 0;
    for (; r + 2 <= nr; r += 2) {
        float *restrict a0 = acc + r * Dv, *restrict a1 = acc + (r + 1) * Dv;
        for (int c = 0; c < nc; c++) {
            const float *restrict vc = v + c * v_stride;
            float p0 = p[r * FLASH_BC + c], p1 = p[(r + 1) * FLASH_BC + c];
            for (int64_t e = 0; e < Dv; e++) {
                a0[e] += p0 * vc[e];
                a1[e] += p1 * vc[e];
            }
        }
    }
    for (; r < nr; r++)
        for (int c = 0; c < nc; c++)
            for (int64_t e = 0; e < Dv; e++)
                acc[r * Dv + e] += p[r * FLASH_BC + c] * v[c * v_stride + e];
}

/* One (batch b, head h, query tile starting at row i0): what one GPU block does. */
static void flash_tile(const struct shape *s, float qscale, const float *const in[], float *out,
                       int64_t b, int64_t h, int64_t i0, struct flash_scratch *w)
{
    const int64_t N = s->N, Nk = s->Nk, H = s->H, Hkv = s->Hkv, D = s->D, Dv = s->Dv;
    const int64_t g = h / (H / Hkv), shift = Nk - N;   /* causal: key j visible iff j <= i + shift */
    const int nr = (int)(N - i0 < FLASH_BR ? N - i0 : FLASH_BR);
    const float *k = in[1] + (b * Nk * Hkv + g) * D;
    const float *v = in[2] + (b * Nk * Hkv + g) * Dv;

    for (int r = 0; r < nr; r++) {
        const float *qr = in[0] + ((b * N + i0 + r) * H + h) * D;
        for (int64_t d = 0; d < D; d++)
            w->q[r * D + d] = qr[d] * qscale;
        w->m[r] = -INFINITY;
        w->l[r] = 0;
    }
    memset(w->acc, 0, (size_t)(nr * Dv) * sizeof *w->acc);

    /* Key tiles past the last row's diagonal are never loaded (causal). */
    const int64_t kv_end = s->causal ? i0 + nr + shift : Nk;
    for (int64_t j0 = 0; j0 < kv_end; j0 += FLASH_BC) {
        const int nc = (int)(kv_end - j0 < FLASH_BC ? kv_end - j0 : FLASH_BC);
        for (int c = 0; c < FLASH_BC; c++)
            for (int64_t d = 0; d < D; d++)
                w->kt[d * FLASH_BC + c] = c < nc ? k[(j0 + c) * Hkv * D + d] : 0.0f;
        flash_scores(D, nr, w->q, w->kt, w->s);

        /* A tile needs the mask when it crosses the first row's diagonal. */
        const int diagonal = s->causal && j0 + FLASH_BC - 1 > i0 + shift;
        for (int r = 0; r < nr; r++) {
            float *sr = w->s + r * FLASH_BC;
            int visible = nc;
            if (diagonal && i0 + r + shift + 1 - j0 < visible)
                visible = (int)(i0 + r + shift + 1 - j0);
            float mx = w->m[r];
            for (int c = 0; c < FLASH_BC; c++) {
                if (c >= visible)
                    sr[c] = -INFINITY;
                mx = sr[c] > mx ? sr[c] : mx;
            }
            /* Every row sees key 0 in the first tile, so mx is finite here. */
            float alpha = flash_exp2(w->m[r] - mx), sum = 0;
            for (int c = 0; c < FLASH_BC; c++) {
                sr[c] = flash_exp2(sr[c] - mx);
                sum += sr[c];
            }
            w->l[r] = w->l[r] * alpha + sum;
            w->m[r] = mx;
            if (alpha != 1.0f)
                for (int64_t e = 0; e < Dv; e++)
                    w->acc[r * Dv + e] *= alpha;
        }
        flash_pv(Dv, nr, nc, w->s, v + j0 * Hkv * Dv, Hkv * Dv, w->acc);
    }

    for (int r = 0; r < nr; r++) {
        float *o = out + ((b * N + i0 + r) * H + h) * Dv, inv = 1.0f / w->l[r];
        for (int64_t e = 0; e < Dv; e++) {
            float x = w->acc[r * Dv + e] * inv;
            o[e] = s->dtype == DT_BF16 ? bf16_round(x) : x;
        }
    }
}

static int flash_cpu_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const int64_t tiles = (s->N + FLASH_BR - 1) / FLASH_BR;
    const float qscale = (float)(ctx->scale * 1.4426950408889634);  /* log2(e) */
    int failed = 0;
#pragma omp parallel num_threads(ctx->threads) reduction(| : failed)
    {
        struct flash_scratch w;
        w.q = malloc((size_t)(FLASH_BR * s->D) * sizeof(float));
        w.kt = malloc((size_t)(s->D * FLASH_BC) * sizeof(float));
        w.s = malloc((size_t)(FLASH_BR * FLASH_BC) * sizeof(float));
        w.acc = malloc((size_t)(FLASH_BR * s->Dv) * sizeof(float));
        failed = !w.q || !w.kt || !w.s || !w.acc;
        /* Longest tiles first: with causal masks the last query tiles see
         * the most keys, so hand them out first. */
#pragma omp for collapse(3) schedule(dynamic, 1)
        for (int64_t t = tiles - 1; t >= 0; t--)
            for (int64_t b = 0; b < s->B; b++)
                for (int64_t h = 0; h < s->H; h++)
                    if (!failed)
                        flash_tile(s, qscale, ctx->in, ctx->out, b, h, t * FLASH_BR, &w);
        free(w.q), free(w.kt), free(w.s), free(w.acc);
    }
    if (failed) {
        snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory for tile scratch");
        return SB_OOM;
    }
    return SB_OK;
}

static const struct impl flash_impls[] = {
    {
        .name = "ref", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = "verified",
        .summary = "definition, float64 accumulation, OpenMP",
        .run = attn_ref_run,
    },
    {
        .name = "cpu", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = "verified",
        .summary = "the CUDA kernel's tiled online-softmax algorithm in C, OpenMP",
        .run = flash_cpu_run,
    },
    {
        .name = "cuda", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = "unverified: never run on a GPU",
        .summary = "first fused kernel: a query tile per block, online softmax, FMA",
        SB_GPU_FNS(flash_cuda),
    },
};

const struct family family_flash = {
    .name = "flash",
    .summary = "attention fused with the online softmax; no N x Nk buffer",
    .fields = ATTN_FIELDS,
    .defaults = attn_defaults,
    .validate = attn_validate,
    .flops = attn_flops,
    .min_bytes = attn_min_bytes,
    .io = attn_io,
    .inputs = attn_inputs,
    .reference = attn_reference,
    .row_cost = attn_row_cost,
    .tolerance = attn_tolerance,
    .impls = flash_impls,
    .n_impls = (int)(sizeof flash_impls / sizeof flash_impls[0]),
};
