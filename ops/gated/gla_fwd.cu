/*
 * gla_fwd.cu — families "gated" and "linear", implementation "cuda": the
 * chunked algorithm of reference/gla.h with plain fp32 FMA (no tensor
 * cores), fp32 or bf16 in memory, fp32 state. The linear family runs these
 * kernels with gate=none.
 *
 *   per chunk of C tokens (G: the gate summed inside the chunk)
 *   O_i  = scale·(q_i ⊙ e^{G_i}) S + Σ_{j≤i} A_ij v_j
 *   A_ij = scale·Σ_d q_id k_jd e^{G_id − G_jd}        (head: (q_i·k_j) e^{G_i − G_j})
 *   S    = diag(e^{G_last}) S + Σ_j (k_j ⊙ e^{G_last − G_j})ᵀ v_j
 *
 * Two kernels, in the order the cpu form (reference/gla.c) computes a chunk:
 *   gla_scores_kernel  one block per (chunk, value head, batch): the gates'
 *                      cumulative sums (into the workspace Gc) and the masked
 *                      scores A (into the workspace), independent of the
 *                      state, so every chunk at once. gate=key takes the exp
 *                      inside the sum for every pair (the cpu form's
 *                      diagonal-block formula over the whole chunk: one
 *                      exp of G_i − G_j ≤ 0 per term; cheap next to the
 *                      state products, which this kernel does not do).
 *   gla_chunk_kernel   one block per (32 columns of Dv, value head, batch)
 *                      walking the chunks in order with its slice of the
 *                      state, S[D][32], in shared memory: per chunk the
 *                      inter-chunk readout Q S, the state update, then the
 *                      intra-chunk A V, d-tile by d-tile (GLA_DT rows of S
 *                      at a time, so the q/k tiles stay small).
 * Only exponents ≤ 0 are taken (e^{G_i}, e^{G_last − G_j}, e^{G_i − G_j}).
 *
 * Shapes: D, Dv ∈ {64, 128, 256}; chunk a multiple of 16 up to 64 (the
 * score tile is 4×4 entries per thread of a 16×16 grid).
 * Workspace: Gc [B,N,Hv,Dg] fp32 (Dg = D, 1, 0 for key, head, none) and
 * A [B,Hv,chunks,C,C] fp32: B·N·Hv·(Dg + C)·4 bytes.
 *
 * Status: compiled for sm_80/89/90a with no spills and no stack
 * (build/ops/gated/gla_fwd.ptxas: scores 128 registers, chunk walk 64-72);
 * both kernels and their plans
 * run on the CPU from this source, host code included, under ASan/UBSan
 * and TSan against the float64 reference (tests/cuda_on_cpu.sh); never on a
 * GPU.
 */
#include <math.h>

#include "gla_dev.cuh"

#define GLA_DT 32               /* d-tile: head dims per shared-memory tile */
#define GLA_CMAX GLA_GPU_CMAX   /* largest chunk (gla_tiles.h) */
#define GLA_SC_THREADS 256      /* gla_scores_kernel: a 16 × 16 grid */
#define GLA_CH_THREADS 128      /* gla_chunk_kernel: a 16 × 8 grid */
#define GLA_DVS 32              /* Dv columns per gla_chunk_kernel block */
#define GLA_VS (GLA_DVS + 4)    /* row stride of sS, sV: float4 rows, conflict-free */

/* e^x for the x ≤ 0 this file takes: exp2f (one MUFU.EX2 and a range
 * fix-up; CUDA's expf adds a slow path and here spilled registers). x·log2 e
 * rounds with a relative error of |x|·2^-24, far under the fp32 tolerance
 * for the |x| where e^x is not negligible. */
static __device__ __forceinline__ float gla_expf(float x)
{
    return exp2f(x * (float)SB_LOG2E);
}

static_assert(GLA_CMAX == 4 * 16, "a thread owns 4 × 4 scores / 4 output rows");
static_assert(GLA_DVS == 4 * 8, "8 threads × 4 columns cover a Dv slice");

/* ---- scores ------------------------------------------------------------------ */

template <typename T>
__global__ void __launch_bounds__(GLA_SC_THREADS, 2)
gla_scores_kernel(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ g,
                  float *__restrict__ Gc, float *__restrict__ A, int N, int H, int Hv, int D,
                  int C, int gate, float scale)
{
    __shared__ float sQ[GLA_CMAX][GLA_DT + 1];      /* q tile [i][dd] */
    __shared__ float sK[GLA_CMAX][GLA_DT + 1];      /* k tile [j][dd] */
    __shared__ float sG[GLA_CMAX][GLA_DT + 1];      /* gate=key: G tile */
    __shared__ float sGh[GLA_CMAX];                 /* gate=head: G per token */

    const int chunk = blockIdx.x, j = blockIdx.y, b = blockIdx.z, hq = j / (Hv / H);
    const int nch = gridDim.x;
    const int64_t t0 = (int64_t)chunk * C;
    const int c = (int)min((int64_t)C, (int64_t)N - t0);   /* tokens in this chunk */
    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    const int nb = C / 16;                                  /* score rows/cols per thread */

    if (gate == GATE_HEAD && tid == 0) {
        float run = 0.0f;
        for (int i = 0; i < c; i++) {
            const int64_t gi = ((int64_t)b * N + t0 + i) * Hv + j;
            run += sb_elem<T>::to_float(g[gi]);
            sGh[i] = run;
            Gc[gi] = run;
        }
    }

    float acc[4][4];                                /* A[ty + 16a][tx + 16bb] */
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int bb = 0; bb < 4; bb++)
            acc[a][bb] = 0.0f;

    for (int d0 = 0; d0 < D; d0 += GLA_DT) {
        __syncthreads();                            /* the last tile is consumed */
        for (int f = tid; f < C * GLA_DT; f += GLA_SC_THREADS) {
            const int i = f / GLA_DT, dd = f % GLA_DT;
            const int64_t row = ((int64_t)b * N + t0 + i) * H + hq;
            const bool in = i < c;
            sQ[i][dd] = in ? sb_elem<T>::to_float(q[row * D + d0 + dd]) : 0.0f;
            sK[i][dd] = in ? sb_elem<T>::to_float(k[row * D + d0 + dd]) : 0.0f;
            if (gate == GATE_KEY)
                sG[i][dd] = in ? sb_elem<T>::to_float(g[(((int64_t)b * N + t0 + i) * Hv + j) * D + d0 + dd])
                               : 0.0f;
        }
        __syncthreads();
        if (gate == GATE_KEY) {
            if (tid < GLA_DT) {                     /* cumulative sum down each column */
                float run = 0.0f;
                for (int i = 0; i < c; i++) {
                    run += sG[i][tid];
                    sG[i][tid] = run;
                    Gc[(((int64_t)b * N + t0 + i) * Hv + j) * D + d0 + tid] = run;
                }
            }
            __syncthreads();
        }
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int bb = 0; bb < 4; bb++) {
                const int i = ty + 16 * a, jj = tx + 16 * bb;
                if (a < nb && bb < nb && jj <= i && i < c) {
                    float s = acc[a][bb];
                    if (gate == GATE_KEY) {
#pragma unroll 4
                        for (int dd = 0; dd < GLA_DT; dd++)
                            s = fmaf(sQ[i][dd] * sK[jj][dd], gla_expf(sG[i][dd] - sG[jj][dd]), s);
                    } else {
#pragma unroll 4
                        for (int dd = 0; dd < GLA_DT; dd++)
                            s = fmaf(sQ[i][dd], sK[jj][dd], s);
                    }
                    SB_COUNT_MACS(GLA_DT);
                    acc[a][bb] = s;
                }
            }
    }

    /* Masked, scaled, the head gate's factor: every entry of the C × C tile
     * is written (zeros past the diagonal and past the chunk's end). */
    float *At = A + (((int64_t)b * Hv + j) * nch + chunk) * C * C;
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int bb = 0; bb < 4; bb++) {
            const int i = ty + 16 * a, jj = tx + 16 * bb;
            if (a < nb && bb < nb) {
                float x = 0.0f;
                if (jj <= i && i < c)
                    x = acc[a][bb] * scale * (gate == GATE_HEAD ? gla_expf(sGh[i] - sGh[jj]) : 1.0f);
                At[i * C + jj] = x;
            }
        }
}

/* ---- the state walk ------------------------------------------------------------ */

/* Shared memory of gla_chunk_kernel, in floats. */
template <int D> struct gla_ch_smem {
    static constexpr int s = D * GLA_VS;                    /* sS [D][GLA_VS] the state slice */
    static constexpr int v = GLA_CMAX * GLA_VS;             /* sV [C][GLA_VS] */
    static constexpr int a = GLA_CMAX * (GLA_CMAX + 1);     /* sA [C][C + 1] */
    static constexpr int q = GLA_CMAX * (GLA_DT + 1);       /* sQ [C][DT + 1] scale·q e^{G} */
    static constexpr int k = GLA_CMAX * (GLA_DT + 1);       /* sK [C][DT + 1] k e^{G_last − G} */
    static constexpr int decay = D;                         /* e^{G_last} */
    static constexpr size_t bytes = (size_t)(s + v + a + q + k + decay) * sizeof(float);
};

template <typename T, int D>
__global__ void __launch_bounds__(GLA_CH_THREADS)
gla_chunk_kernel(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                 const T *__restrict__ h0, const float *__restrict__ Gc,
                 const float *__restrict__ A, T *__restrict__ out, T *__restrict__ ht, int N,
                 int H, int Hv, int Dv, int C, int gate, float scale)
{
    using SM = gla_ch_smem<D>;
    float *sS = static_cast<float *>(sb_dynamic_smem());
    float *sV = sS + SM::s, *sA = sV + SM::v, *sQ = sA + SM::a, *sK = sQ + SM::q;
    float *sDecay = sK + SM::k;

    const int e0 = blockIdx.x * GLA_DVS, j = blockIdx.y, b = blockIdx.z, hq = j / (Hv / H);
    const int tid = threadIdx.x, ty = tid / 8, tx = tid % 8, e = 4 * tx;
    const int nch = (N + C - 1) / C, nb = C / 16;
    const int Dg = gate == GATE_KEY ? D : 1;

    /* The state slice S[d][e0 .. e0 + 32): h0 or 0. */
    const int64_t st0 = ((int64_t)b * Hv + j) * D * Dv + e0;
    for (int f = tid; f < D * GLA_DVS; f += GLA_CH_THREADS) {
        const int d = f / GLA_DVS, x = f % GLA_DVS;
        sS[d * GLA_VS + x] = h0 ? sb_elem<T>::to_float(h0[st0 + (int64_t)d * Dv + x]) : 0.0f;
    }

    for (int chunk = 0; chunk < nch; chunk++) {
        const int64_t t0 = (int64_t)chunk * C;
        const int c = (int)min((int64_t)C, (int64_t)N - t0);
        const int64_t last = ((int64_t)b * N + t0 + c - 1) * Hv + j;   /* Gc row of G_last */
        __syncthreads();                    /* the last chunk is done with sV, sA, sDecay */
        for (int f = tid; f < C * GLA_DVS; f += GLA_CH_THREADS) {
            const int i = f / GLA_DVS, x = f % GLA_DVS;
            sV[i * GLA_VS + x] = i < c ? sb_elem<T>::to_float(
                                             v[(((int64_t)b * N + t0 + i) * Hv + j) * Dv + e0 + x])
                                       : 0.0f;
        }
        const float *At = A + (((int64_t)b * Hv + j) * nch + chunk) * C * C;
        for (int f = tid; f < C * C; f += GLA_CH_THREADS)
            sA[(f / C) * (GLA_CMAX + 1) + f % C] = At[f];
        for (int d = tid; d < D; d += GLA_CH_THREADS)
            sDecay[d] = gate == GATE_NONE ? 1.0f : gla_expf(Gc[last * Dg + (gate == GATE_KEY ? d : 0)]);

        float o[4][4];                      /* O[ty + 16a][e0 + e + u] */
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int u = 0; u < 4; u++)
                o[a][u] = 0.0f;

        for (int d0 = 0; d0 < D; d0 += GLA_DT) {
            __syncthreads();                /* the last tile's sQ, sK and sS rows are done */
            for (int f = tid; f < C * GLA_DT; f += GLA_CH_THREADS) {
                const int i = f / GLA_DT, dd = f % GLA_DT;
                float qv = 0.0f, kv = 0.0f;
                if (i < c) {
                    const int64_t row = ((int64_t)b * N + t0 + i) * H + hq;
                    const int64_t gi = ((int64_t)b * N + t0 + i) * Hv + j;
                    qv = scale * sb_elem<T>::to_float(q[row * D + d0 + dd]);
                    kv = sb_elem<T>::to_float(k[row * D + d0 + dd]);
                    if (gate != GATE_NONE) {
                        const int x = gate == GATE_KEY ? d0 + dd : 0;
                        const float Gi = Gc[gi * Dg + x];
                        qv *= gla_expf(Gi);
                        kv *= gla_expf(Gc[last * Dg + x] - Gi);
                    }
                }
                sQ[i * (GLA_DT + 1) + dd] = qv;
                sK[i * (GLA_DT + 1) + dd] = kv;
            }
            __syncthreads();
            /* inter: O += (scale·q ⊙ e^{G}) S, this tile's rows of S */
#pragma unroll 4
            for (int dd = 0; dd < GLA_DT; dd++) {
                const float4 s4 = *reinterpret_cast<const float4 *>(sS + (d0 + dd) * GLA_VS + e);
#pragma unroll
                for (int a = 0; a < 4; a++) {
                    const float x = a < nb ? sQ[(ty + 16 * a) * (GLA_DT + 1) + dd] : 0.0f;
                    o[a][0] = fmaf(x, s4.x, o[a][0]);
                    o[a][1] = fmaf(x, s4.y, o[a][1]);
                    o[a][2] = fmaf(x, s4.z, o[a][2]);
                    o[a][3] = fmaf(x, s4.w, o[a][3]);
                    SB_COUNT_MACS(4);
                }
            }
            __syncthreads();                /* every thread has read these rows of S */
            /* state: S = e^{G_last} S + (k ⊙ e^{G_last − G})ᵀ V, rows d0 + ty + 16r */
#pragma unroll
            for (int r = 0; r < GLA_DT / 16; r++) {
                const int dd = ty + 16 * r;
                float4 s4 = *reinterpret_cast<const float4 *>(sS + (d0 + dd) * GLA_VS + e);
                const float dec = sDecay[d0 + dd];
                s4.x *= dec, s4.y *= dec, s4.z *= dec, s4.w *= dec;
                for (int i = 0; i < c; i++) {
                    const float kv = sK[i * (GLA_DT + 1) + dd];
                    const float4 v4 = *reinterpret_cast<const float4 *>(sV + i * GLA_VS + e);
                    s4.x = fmaf(kv, v4.x, s4.x);
                    s4.y = fmaf(kv, v4.y, s4.y);
                    s4.z = fmaf(kv, v4.z, s4.z);
                    s4.w = fmaf(kv, v4.w, s4.w);
                    SB_COUNT_MACS(4);
                }
                *reinterpret_cast<float4 *>(sS + (d0 + dd) * GLA_VS + e) = s4;
            }
        }

        /* intra: O += A V over j ≤ i (A is zero past the diagonal). */
        for (int jj = 0; jj < c; jj++) {
            const float4 v4 = *reinterpret_cast<const float4 *>(sV + jj * GLA_VS + e);
#pragma unroll
            for (int a = 0; a < 4; a++) {
                const float x = a < nb ? sA[(ty + 16 * a) * (GLA_CMAX + 1) + jj] : 0.0f;
                o[a][0] = fmaf(x, v4.x, o[a][0]);
                o[a][1] = fmaf(x, v4.y, o[a][1]);
                o[a][2] = fmaf(x, v4.z, o[a][2]);
                o[a][3] = fmaf(x, v4.w, o[a][3]);
                SB_COUNT_MACS(4);
            }
        }
#pragma unroll
        for (int a = 0; a < 4; a++) {
            const int i = ty + 16 * a;
            if (a < nb && i < c)
                sb_elem<T>::store4(out + (((int64_t)b * N + t0 + i) * Hv + j) * Dv + e0 + e,
                                   o[a][0], o[a][1], o[a][2], o[a][3]);
        }
    }

    if (ht) {
        __syncthreads();                    /* the last state update is complete */
        for (int f = tid; f < D * GLA_DVS; f += GLA_CH_THREADS) {
            const int d = f / GLA_DVS, x = f % GLA_DVS;
            ht[st0 + (int64_t)d * Dv + x] = sb_elem<T>::from_float(sS[d * GLA_VS + x]);
        }
    }
}

/* ---- host ------------------------------------------------------------------------- */

struct gla_cuda_state {
    struct gla_dev dev;
    float *Gc, *A;          /* parts of dev.work */
    struct sb_plan scores, chunk;
};

static int64_t gla_chunks(const struct shape *s)
{
    return (s->N + s->chunk - 1) / s->chunk;
}

static int64_t gla_gc_floats(const struct shape *s)
{
    const int64_t Dg = s->gate == GATE_KEY ? s->D : s->gate == GATE_HEAD ? 1 : 0;
    return s->B * s->N * s->Hv * Dg;
}

extern "C" int64_t gla_cuda_workspace_bytes(const struct shape *s)
{
    const int64_t a = s->B * s->Hv * gla_chunks(s) * s->chunk * s->chunk;
    return (gla_gc_floats(s) + a) * (int64_t)sizeof(float);
}

/* The launches: scores over (chunk, value head, batch), the chunk walk
 * over (Dv slice, value head, batch). */
static struct sb_plan gla_scores_plan(const struct shape *s)
{
    return { "gla_scores_kernel", { gla_chunks(s), s->Hv, s->B }, GLA_SC_THREADS, 0 };
}

static struct sb_plan gla_chunk_plan(const struct shape *s)
{
    const size_t smem = s->D == 64    ? gla_ch_smem<64>::bytes
                      : s->D == 128   ? gla_ch_smem<128>::bytes
                                      : gla_ch_smem<256>::bytes;
    return { "gla_chunk_kernel", { s->Dv / GLA_DVS, s->Hv, s->B }, GLA_CH_THREADS, smem };
}

template <typename T, int D>
static int gla_cuda_prepare(struct op_ctx *ctx, const struct gla_cuda_state *st)
{
    int rc = sb_plan_prepare(ctx, (const void *)gla_scores_kernel<T>, &st->scores, "cuda");
    return rc != SB_OK ? rc : sb_plan_prepare(ctx, (const void *)gla_chunk_kernel<T, D>, &st->chunk, "cuda");
}

template <typename T, int D>
static int gla_cuda_launch(struct op_ctx *ctx, const struct gla_cuda_state *st)
{
    const struct shape *s = ctx->shape;
    const struct gla_dev *d = &st->dev;
    const float scale = (float)ctx->scale;
    int rc = sb_launch(ctx, gla_scores_kernel<T>, st->scores, (const T *)d->q, (const T *)d->k,
                       (const T *)d->g, st->Gc, st->A, (int)s->N, (int)s->H, (int)s->Hv, D,
                       (int)s->chunk, (int)s->gate, scale);
    if (rc != SB_OK)
        return rc;
    return sb_launch(ctx, gla_chunk_kernel<T, D>, st->chunk, (const T *)d->q, (const T *)d->k,
                     (const T *)d->v, (const T *)d->h0, (const float *)st->Gc, (const float *)st->A,
                     (T *)d->out, (T *)d->ht, (int)s->N, (int)s->H, (int)s->Hv, (int)s->Dv,
                     (int)s->chunk, (int)s->gate, scale);
}

/* The instantiations: one row per (dtype, D); Dv is a runtime multiple of 32. */
static const struct {
    enum dtype dt;
    int D;
    int (*prepare)(struct op_ctx *, const struct gla_cuda_state *);
    int (*launch)(struct op_ctx *, const struct gla_cuda_state *);
} gla_cuda_variants[] = {
    { DT_FP32, 64, gla_cuda_prepare<float, 64>, gla_cuda_launch<float, 64> },
    { DT_FP32, 128, gla_cuda_prepare<float, 128>, gla_cuda_launch<float, 128> },
    { DT_FP32, 256, gla_cuda_prepare<float, 256>, gla_cuda_launch<float, 256> },
    { DT_BF16, 64, gla_cuda_prepare<__nv_bfloat16, 64>, gla_cuda_launch<__nv_bfloat16, 64> },
    { DT_BF16, 128, gla_cuda_prepare<__nv_bfloat16, 128>, gla_cuda_launch<__nv_bfloat16, 128> },
    { DT_BF16, 256, gla_cuda_prepare<__nv_bfloat16, 256>, gla_cuda_launch<__nv_bfloat16, 256> },
};

static int gla_cuda_variant(const struct shape *s)
{
    for (int i = 0; i < (int)(sizeof gla_cuda_variants / sizeof gla_cuda_variants[0]); i++)
        if (gla_cuda_variants[i].dt == s->dtype && gla_cuda_variants[i].D == s->D)
            return i;
    return -1;
}

static int gla_cuda_check(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    int rc = gla_check_common(ctx, "cuda");
    if (rc != SB_OK)
        return rc;
    if (s->chunk % 16 != 0 || s->chunk > GLA_CMAX) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: chunk=%lld not supported (16, 32, 48, 64)",
                 (long long)s->chunk);
        return SB_UNSUPPORTED;
    }
    if (gla_cuda_variant(s) < 0) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: dtype %s not built", dtype_table[s->dtype].name);
        return SB_UNSUPPORTED;
    }
    return SB_OK;
}

extern "C" int gla_cuda_setup(struct op_ctx *ctx)
{
    int rc = gla_cuda_check(ctx);
    if (rc != SB_OK)
        return rc;
    struct gla_cuda_state *st = (struct gla_cuda_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: out of host memory");
        return SB_OOM;
    }
    ctx->priv = st;
    st->scores = gla_scores_plan(ctx->shape);
    st->chunk = gla_chunk_plan(ctx->shape);
    if ((rc = gla_cuda_variants[gla_cuda_variant(ctx->shape)].prepare(ctx, st)) != SB_OK ||
        (rc = gla_dev_setup(ctx, &st->dev, (size_t)gla_cuda_workspace_bytes(ctx->shape))) != SB_OK) {
        gla_free_priv(ctx);
        return rc;
    }
    st->Gc = (float *)st->dev.work;
    st->A = st->Gc + gla_gc_floats(ctx->shape);
    return SB_OK;
}

extern "C" int gla_cuda_run(struct op_ctx *ctx)
{
    const struct gla_cuda_state *st = (const struct gla_cuda_state *)ctx->priv;
    return gla_cuda_variants[gla_cuda_variant(ctx->shape)].launch(ctx, st);
}

extern "C" int gla_cuda_fetch(struct op_ctx *ctx)
{
    return gla_dev_fetch(ctx, &((const struct gla_cuda_state *)ctx->priv)->dev);
}

extern "C" void gla_cuda_teardown(struct op_ctx *ctx)
{
    gla_free_priv(ctx);
}
