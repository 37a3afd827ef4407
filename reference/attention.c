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

static double attn_pairs(const struct shape *s)
{
    double N = (double)s->N, Nk = (double)s->Nk;
    return s->causal ? N * (Nk - N) + N * (N + 1) / 2 : N * Nk;
}

double attn_flops(const struct shape *s)
{
    return 2.0 * s->B * s->H * attn_pairs(s) * (double)(s->D + s->Dv);
}

double attn_min_bytes(const struct shape *s)
{
    double elems = (double)s->B * s->N * s->H * s->D        /* q */
                 + (double)s->B * s->Nk * s->Hkv * s->D     /* k */
                 + (double)s->B * s->Nk * s->Hkv * s->Dv    /* v */
                 + (double)s->B * s->N * s->H * s->Dv;      /* O */
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
    int64_t n = row % s->N;
    return (double)s->H * attn_kv_end(s, n) * (double)(s->D + s->Dv);
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

/* One (row, head): the definition in double. p is scratch for Nk doubles. */
static int64_t attn_ref_one(const struct shape *s, double scale, const float *q, const float *k,
                            const float *v, int64_t b, int64_t n, int64_t h, double *p, double *o)
{
    const int64_t D = s->D, Dv = s->Dv, g = h / (s->H / s->Hkv);
    const int64_t kv_end = attn_kv_end(s, n);
    const float *qr = q + ((b * s->N + n) * s->H + h) * D;
    double m = -INFINITY;
    int64_t j;
    for (j = 0; j < kv_end; j++) {
        const float *kr = k + ((b * s->Nk + j) * s->Hkv + g) * D;
        double dot = 0;
        for (int64_t d = 0; d < D; d++)
            dot += (double)qr[d] * kr[d];
        p[j] = scale * dot;
        if (p[j] > m)
            m = p[j];
    }
    double sum = 0;
    for (j = 0; j < kv_end; j++)
        sum += p[j] = exp(p[j] - m);
    for (int64_t e = 0; e < Dv; e++)
        o[e] = 0;
    for (j = 0; j < kv_end; j++) {
        const float *vr = v + ((b * s->Nk + j) * s->Hkv + g) * Dv;
        double w = p[j] / sum;
        for (int64_t e = 0; e < Dv; e++)
            o[e] += w * vr[e];
    }
    return j * (D + Dv);
}

void attn_reference(const struct shape *s, double scale, const float *const in[],
                    const int64_t *rows, int64_t nrows, double *out, double *final)
{
    (void)final;    /* attention has no second output */
    const int64_t H = s->H, Dv = s->Dv;
    int64_t macs = 0;
#pragma omp parallel reduction(+ : macs)
    {
        double *p = malloc((size_t)s->Nk * sizeof *p);
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t r = 0; r < nrows; r++)
            for (int64_t h = 0; h < H; h++) {
                int64_t b = rows[r] / s->N, n = rows[r] % s->N;
                if (p)
                    macs += attn_ref_one(s, scale, in[0], in[1], in[2], b, n, h, p,
                                         out + (r * H + h) * Dv);
                else
                    for (int64_t e = 0; e < Dv; e++)    /* out of memory: fails the check */
                        out[(r * H + h) * Dv + e] = NAN;
            }
        free(p);
    }
    attn_ref_macs += macs;
}

/* The `ref` implementation: all rows, in blocks so the double scratch stays
 * small, rounded to the dtype like any other implementation's output. */
int attn_ref_run(struct op_ctx *ctx)
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
        attn_reference(s, ctx->scale, ctx->in, idx, nr, buf, NULL);
        for (int64_t i = 0; i < nr * elems; i++) {
            float x = (float)buf[i];
            ctx->out[r0 * elems + i] = dtype_round(s->dtype, x);
        }
    }
    free(buf), free(idx);
    return SB_OK;
}

/* Edge cases small enough for the reference to check every row in well under
 * a second each. */
const char *const attn_edge_shapes[] = {
    "B=1 N=1 Nk=1 H=1 Hkv=1 D=64",              /* the smallest case */
    "B=2 N=1 Nk=4099 H=8 Hkv=2 D=128 causal",   /* decode, GQA, Nk not a multiple of the tile */
    "B=1 N=1 Nk=512 H=4 Hkv=1 D=64",            /* decode, MQA */
    "B=2 N=77 Nk=77 H=2 Hkv=2 D=64 causal",     /* N not a multiple of the tile, causal */
    "B=1 N=200 Nk=333 H=4 Hkv=2 D=128 causal",  /* Nk > N causal (bottom-right aligned), GQA */
    "B=1 N=130 Nk=130 H=3 Hkv=3 D=128",         /* two tiles plus two rows */
    "B=3 N=64 Nk=64 H=2 Hkv=1 D=64 causal",     /* exact tile, MQA, batch > 1 */
    "B=1 N=257 Nk=1000 H=2 Hkv=2 D=128",        /* cross attention, long Nk */
    NULL,
};
