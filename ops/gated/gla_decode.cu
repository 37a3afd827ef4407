/*
 * gla_decode.cu — families "gated" and "linear", implementation "decode":
 * a few new tokens (N ≤ GLA_DEC_MAX_N) against the state h0, the recurrent
 * families' counterpart of flash decode. Its cost does not grow with the
 * context: the state (D × Dv per value head) is read once and written once,
 * whatever the number of tokens before it. fp32 or bf16 in memory, fp32 in
 * registers. The linear family runs it with gate=none.
 *
 *   per token t, in order:  S = diag(e^{g_t}) S + k_tᵀ v_t,  o_t = scale · q_t S
 *
 * (the recurrence itself: with one token a chunk is that token, and the
 * chunked form of reference/gla.h reduces to it). e^{g_t} takes g_t ≤ 0 only.
 *
 * Mapping: one block per (GLA_DEC_DVS columns of Dv, value head, batch), 256
 * threads; thread (rg = tid / 64, x = tid % 64) keeps S[rg + 4r][e0 + x],
 * r < D/4, in registers (64 at D = 256). Rows of the state slice are read
 * and written as 64 consecutive elements per row group (coalesced). Per
 * token: q, k, the decay and v's slice go through shared memory; the
 * readout sums each column over the 4 row groups in shared memory.
 * Memory-bound: 2·D·Dv elements of state per head against 4·D·Dv FLOPs
 * per token.
 *
 * Status: compiled for sm_80/89/90a with no spills and no stack
 * (build/ops/gated/gla_decode.ptxas: 64-71 / 96 / 128 registers at D = 64 /
 * 128 / 256); the kernel and its plan
 * run on the CPU from this source, host code included, under ASan/UBSan
 * and TSan against the float64 reference (tests/cuda_on_cpu.sh); never on a
 * GPU.
 */
#include <math.h>

#include "gla_dev.cuh"

#define GLA_DEC_MAX_N 16        /* more tokens: a chunked implementation's case */
#define GLA_DEC_THREADS 256
#define GLA_DEC_DVS 64          /* Dv columns per block */
#define GLA_DEC_RG (GLA_DEC_THREADS / GLA_DEC_DVS)  /* row groups: 4 */

template <typename T, int D>
__global__ void __launch_bounds__(GLA_DEC_THREADS, 2)
gla_decode_kernel(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                  const T *__restrict__ g, const T *__restrict__ h0, T *__restrict__ out,
                  T *__restrict__ ht, int N, int H, int Hv, int Dv, int gate, float scale)
{
    constexpr int R = D / GLA_DEC_RG;               /* state rows per thread */
    __shared__ float sq[D], sk[D], sdecay[D];
    __shared__ float sv[GLA_DEC_DVS];
    __shared__ float sred[GLA_DEC_RG][GLA_DEC_DVS];

    const int e0 = blockIdx.x * GLA_DEC_DVS, j = blockIdx.y, b = blockIdx.z, hq = j / (Hv / H);
    const int tid = threadIdx.x, rg = tid / GLA_DEC_DVS, x = tid % GLA_DEC_DVS;
    const int64_t st0 = ((int64_t)b * Hv + j) * D * Dv + e0 + x;   /* S[0][e0 + x] */

    float S[R];                                     /* S[rg + 4r][e0 + x] */
#pragma unroll
    for (int r = 0; r < R; r++)
        S[r] = h0 ? sb_elem<T>::to_float(h0[st0 + (int64_t)(rg + GLA_DEC_RG * r) * Dv]) : 0.0f;

    for (int t = 0; t < N; t++) {
        const int64_t tok = (int64_t)b * N + t;
        __syncthreads();                            /* the last token's shared data is used */
        for (int d = tid; d < D; d += GLA_DEC_THREADS) {
            sq[d] = scale * sb_elem<T>::to_float(q[(tok * H + hq) * D + d]);
            sk[d] = sb_elem<T>::to_float(k[(tok * H + hq) * D + d]);
            const float gv = gate == GATE_KEY    ? sb_elem<T>::to_float(g[(tok * Hv + j) * D + d])
                           : gate == GATE_HEAD   ? sb_elem<T>::to_float(g[tok * Hv + j])
                                                 : 0.0f;
            sdecay[d] = exp2f(gv * (float)SB_LOG2E);    /* e^{g}, g ≤ 0 */
        }
        if (tid < GLA_DEC_DVS)
            sv[tid] = sb_elem<T>::to_float(v[(tok * Hv + j) * Dv + e0 + tid]);
        __syncthreads();
        const float vx = sv[x];
        float o = 0.0f;
#pragma unroll
        for (int r = 0; r < R; r++) {
            const int d = rg + GLA_DEC_RG * r;
            S[r] = fmaf(sk[d], vx, S[r] * sdecay[d]);
            o = fmaf(sq[d], S[r], o);
            SB_COUNT_MACS(2);
        }
        sred[rg][x] = o;
        __syncthreads();
        if (rg == 0) {
            float sum = 0.0f;
#pragma unroll
            for (int i = 0; i < GLA_DEC_RG; i++)
                sum += sred[i][x];
            out[(tok * Hv + j) * Dv + e0 + x] = sb_elem<T>::from_float(sum);
        }
    }
    if (ht) {
#pragma unroll
        for (int r = 0; r < R; r++)
            ht[st0 + (int64_t)(rg + GLA_DEC_RG * r) * Dv] = sb_elem<T>::from_float(S[r]);
    }
}

/* ---- host ------------------------------------------------------------------------ */

struct gla_decode_state {
    struct gla_dev dev;
    struct sb_plan plan;
};

/* The launch: one block per (GLA_DEC_DVS columns of Dv, value head, batch). */
static struct sb_plan gla_decode_plan(const struct shape *s)
{
    return { "gla_decode_kernel", { s->Dv / GLA_DEC_DVS, s->Hv, s->B }, GLA_DEC_THREADS, 0 };
}

template <typename T, int D>
static int gla_decode_prepare(struct op_ctx *ctx, const struct gla_decode_state *st)
{
    return sb_plan_prepare(ctx, (const void *)gla_decode_kernel<T, D>, &st->plan, "decode");
}

template <typename T, int D>
static int gla_decode_launch(struct op_ctx *ctx, const struct gla_decode_state *st)
{
    const struct shape *s = ctx->shape;
    const struct gla_dev *d = &st->dev;
    return sb_launch(ctx, gla_decode_kernel<T, D>, st->plan, (const T *)d->q, (const T *)d->k,
                     (const T *)d->v, (const T *)d->g, (const T *)d->h0, (T *)d->out, (T *)d->ht,
                     (int)s->N, (int)s->H, (int)s->Hv, (int)s->Dv, (int)s->gate, (float)ctx->scale);
}

static const struct {
    enum dtype dt;
    int D;
    int (*prepare)(struct op_ctx *, const struct gla_decode_state *);
    int (*launch)(struct op_ctx *, const struct gla_decode_state *);
} gla_decode_variants[] = {
    { DT_FP32, 64, gla_decode_prepare<float, 64>, gla_decode_launch<float, 64> },
    { DT_FP32, 128, gla_decode_prepare<float, 128>, gla_decode_launch<float, 128> },
    { DT_FP32, 256, gla_decode_prepare<float, 256>, gla_decode_launch<float, 256> },
    { DT_BF16, 64, gla_decode_prepare<__nv_bfloat16, 64>, gla_decode_launch<__nv_bfloat16, 64> },
    { DT_BF16, 128, gla_decode_prepare<__nv_bfloat16, 128>, gla_decode_launch<__nv_bfloat16, 128> },
    { DT_BF16, 256, gla_decode_prepare<__nv_bfloat16, 256>, gla_decode_launch<__nv_bfloat16, 256> },
};

static int gla_decode_variant(const struct shape *s)
{
    for (int i = 0; i < (int)(sizeof gla_decode_variants / sizeof gla_decode_variants[0]); i++)
        if (gla_decode_variants[i].dt == s->dtype && gla_decode_variants[i].D == s->D)
            return i;
    return -1;
}

extern "C" int64_t gla_decode_workspace_bytes(const struct shape *s)
{
    (void)s;
    return 0;
}

extern "C" int gla_decode_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    int rc = gla_check_common(ctx, "decode");
    if (rc != SB_OK)
        return rc;
    if (s->N > GLA_DEC_MAX_N) {
        snprintf(ctx->err, sizeof ctx->err,
                 "decode: N=%lld: at most %d new tokens (longer inputs: the chunked cuda, cuda-opt)",
                 (long long)s->N, GLA_DEC_MAX_N);
        return SB_UNSUPPORTED;
    }
    if (gla_decode_variant(s) < 0) {
        snprintf(ctx->err, sizeof ctx->err, "decode: dtype %s not built", dtype_table[s->dtype].name);
        return SB_UNSUPPORTED;
    }
    struct gla_decode_state *st = (struct gla_decode_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "decode: out of host memory");
        return SB_OOM;
    }
    ctx->priv = st;
    st->plan = gla_decode_plan(s);
    if ((rc = gla_decode_variants[gla_decode_variant(s)].prepare(ctx, st)) != SB_OK ||
        (rc = gla_dev_setup(ctx, &st->dev, 0)) != SB_OK)
        gla_free_priv(ctx);
    return rc;
}

extern "C" int gla_decode_run(struct op_ctx *ctx)
{
    return gla_decode_variants[gla_decode_variant(ctx->shape)].launch(
        ctx, (const struct gla_decode_state *)ctx->priv);
}

extern "C" int gla_decode_fetch(struct op_ctx *ctx)
{
    return gla_dev_fetch(ctx, &((const struct gla_decode_state *)ctx->priv)->dev);
}

extern "C" void gla_decode_teardown(struct op_ctx *ctx)
{
    gla_free_priv(ctx);
}
