/*
 * delta_chunk.cu — family "delta", implementation "cuda": the chunked WY/UT
 * algorithm of DeltaNet / Gated DeltaNet in two kernels, plain fp32 FMA.
 *
 * The math is reference/delta.c's (header comment), and so is the order of
 * the operations: per (batch b, value head j) and chunk of DC = 64 tokens,
 * G the in-chunk cumulative log-decay (float64),
 *   A = strictly-lower(diag(β) K Kᵀ ⊙ e^{G_i−G_m}),  T = (I + A)⁻¹,
 *   W = T diag(β e^G) K,  U = T diag(β) V,  P = scale·lower(Q Kᵀ ⊙ e^{G_i−G_m})
 * and then, chunk after chunk with the state S,
 *   V' = U − W S,  O = diag(scale·e^G) Q S + P V',
 *   S ← e^{G_last} S + (diag(e^{G_last−G}) K)ᵀ V'.
 * Only differences G_i − G_m with m ≤ i (and G itself) are exponentiated:
 * all ≤ 0, so very negative gates give zeros, never Inf/NaN.
 *
 *   kernel 1  delta_k1   grid (chunks, Hv, B), 256 threads: the chunk's
 *             K Kᵀ and Q Kᵀ over d-tiles of 16 (a 4×4 micro-tile per thread
 *             on a 16×16 grid), A and P, T by forward substitution (row by
 *             row, 4 threads per column summing a quarter each), W and U
 *             (T times d-tiles of 16 scaled keys/values). Chunks are
 *             independent: the grid covers the whole sequence at once.
 *             Writes W [DC][D], U [DC][Dv], P [DC][DC] (fp32) and G [DC]
 *             (float64) per chunk to the workspace.
 *   kernel 2  delta_k2   grid (Dv/32, Hv, B), 256 threads: a 32-column slice
 *             of the state (D × 32 fp32 in shared memory) carried over the
 *             chunks in order; per chunk V' and Q·S together (thread owns
 *             rows ti, ti+32 and 4 columns), P·V', the output, then the
 *             state update (thread owns 4 entries of each 32-row d-tile).
 *
 * A partial last chunk is padded with zero keys, queries, values and β and
 * g = 0: the padded rows of A, W, U, V' are then zero and change nothing,
 * so every chunk is computed whole (as the FLOP count assumes) and only the
 * r real output rows are written.
 *
 * Shapes: D, Dv ∈ {64, 128, 256}, chunk = 64, fp32 or bf16 in memory (fp32
 * everywhere inside). Workspace: B·Hv·⌈N/64⌉·64·(D + Dv + 64) fp32 + the G.
 *
 * Status: compiled for sm_80/89/90a; both kernels and their plans
 * run on the CPU from this source, host code included, under ASan/UBSan
 * and TSan against the float64 reference (tests/cuda_on_cpu.sh); never on a
 * GPU.
 */
#include "delta_dev.cuh"
#include "../ops.h"

#define DC DELTA_GPU_CHUNK
#define K1_THREADS 256
#define K1_TD 16                    /* d-tile width in kernel 1 */
#define K2_THREADS 256
#define K2_E 32                     /* state columns per kernel-2 block */
#define K2_TD 16                    /* d-tile of V' = U − W·S and Q·S */
#define K2_TU 32                    /* d-tile of the state update */
/* Kernel 2's shared buffer for one phase at a time: the W and Q d-tiles,
 * then P, then the decayed-key d-tile (floats; rows padded by one float so
 * column walks hit distinct banks). */
#define K2_UNION_FLOATS (DC * (DC + 1))

static_assert(DC == 64 && K1_THREADS == 256, "kernel 1's thread grids assume 64 x 256");
static_assert(K2_THREADS == 8 * K2_E && DC == 2 * (K2_THREADS / 8), "kernel 2's mapping");
static_assert(2 * DC * (K2_TD + 1) <= K2_UNION_FLOATS && DC * (K2_TU + 1) <= K2_UNION_FLOATS,
              "the tiles fit the union");

/* ---- kernel 1: per (chunk, value head, batch) ------------------------------- */

template <typename T>
__global__ void __launch_bounds__(K1_THREADS)
delta_k1(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
         const T *__restrict__ g, const T *__restrict__ beta, float *__restrict__ ws_w,
         float *__restrict__ ws_u, float *__restrict__ ws_p, double *__restrict__ ws_G, int N,
         int H, int Hv, int D, int Dv, float scale)
{
    __shared__ double sG[DC];               /* cumulative log-decay */
    __shared__ float sB[DC];                /* β (0 past the chunk's end) */
    __shared__ float sBE[DC];               /* β e^G */
    __shared__ float sA[DC][DC + 1];
    __shared__ float sT[DC][DC + 1];
    __shared__ float sX[DC][K1_TD + 1];     /* key tile */
    __shared__ float sY[DC][K1_TD + 1];     /* query tile */

    const int c = blockIdx.x, j = blockIdx.y, b = blockIdx.z, tid = threadIdx.x;
    const int nch = gridDim.x, hq = j / (Hv / H);
    const int t0 = c * DC, r = min(DC, N - t0);
    const int64_t blk = ((int64_t)b * Hv + j) * nch + c;       /* chunk of (b, j) */
    const int64_t tok0 = (int64_t)b * N + t0;                  /* first token */
    const int64_t qk_rs = (int64_t)H * D;                       /* q/k row stride */
    const T *qb = q + tok0 * qk_rs + (int64_t)hq * D;           /* q[b, t0, hq, 0] */
    const T *kb = k + tok0 * qk_rs + (int64_t)hq * D;
    const T *vb = v + (tok0 * Hv + j) * Dv;                     /* v[b, t0, j, 0] */

    if (tid < DC) {
        sB[tid] = tid < r ? delta_ld(beta + (tok0 + tid) * Hv + j) : 0.0f;
        sG[tid] = g && tid < r ? (double)delta_ld(g + (tok0 + tid) * Hv + j) : 0.0;
    }
    __syncthreads();
    if (tid == 0) {
        double acc = 0;
        for (int i = 0; i < DC; i++)
            sG[i] = acc += sG[i];
    }
    __syncthreads();
    if (tid < DC) {
        ws_G[blk * DC + tid] = sG[tid];
        sBE[tid] = sB[tid] * expf((float)sG[tid]);
    }

    /* K Kᵀ and Q Kᵀ: rows ty + 16·a, columns tx + 16·bb. */
    const int ty = tid / 16, tx = tid % 16;
    float kk[4][4], qk[4][4];
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int bb = 0; bb < 4; bb++)
            kk[a][bb] = qk[a][bb] = 0.0f;
    for (int d0 = 0; d0 < D; d0 += K1_TD) {
        __syncthreads();
        for (int f = tid; f < DC * K1_TD; f += K1_THREADS) {
            const int i = f / K1_TD, dd = f % K1_TD;
            sX[i][dd] = i < r ? delta_ld(kb + i * qk_rs + d0 + dd) : 0.0f;
            sY[i][dd] = i < r ? delta_ld(qb + i * qk_rs + d0 + dd) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int dd = 0; dd < K1_TD; dd++) {
            float ki[4], qi[4], km[4];
#pragma unroll
            for (int a = 0; a < 4; a++) {
                ki[a] = sX[ty + 16 * a][dd];
                qi[a] = sY[ty + 16 * a][dd];
                km[a] = sX[tx + 16 * a][dd];
            }
#pragma unroll
            for (int a = 0; a < 4; a++)
#pragma unroll
                for (int bb = 0; bb < 4; bb++) {
                    kk[a][bb] = fmaf(ki[a], km[bb], kk[a][bb]);
                    qk[a][bb] = fmaf(qi[a], km[bb], qk[a][bb]);
                    SB_COUNT_MACS(2);
                }
        }
    }

    /* A (shared) and P (workspace), each decay e^{G_i − G_m} with m ≤ i. */
    float *pout = ws_p + blk * DC * DC;
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int bb = 0; bb < 4; bb++) {
            const int i = ty + 16 * a, m = tx + 16 * bb;
            const float dec = m <= i ? expf((float)(sG[i] - sG[m])) : 0.0f;
            pout[i * DC + m] = scale * dec * qk[a][bb];
            sA[i][m] = m < i ? sB[i] * dec * kk[a][bb] : 0.0f;
        }
    __syncthreads();

    /* T = (I + A)⁻¹ column by column: column n solves (I + A) x = e_n,
     * x_i = −Σ_{n≤m<i} A[i][m] x_m in row order. Columns are independent:
     * 4 consecutive lanes share column n (lane part sums m ≡ n + part mod 4,
     * xor-shuffles add the four), a warp owns 8 columns and steps through
     * its rows with warp barriers only. */
    {
        const int n = tid / 4, part = tid % 4, n_first = (tid / 32) * 8;
        if (part == 0)
            for (int i = 0; i <= n; i++)
                sT[i][n] = i == n ? 1.0f : 0.0f;
        __syncwarp();
        for (int i = n_first + 1; i < DC; i++) {
            float acc = 0.0f;
            for (int m = n + part; m < i; m += 4) {
                acc = fmaf(sA[i][m], sT[m][n], acc);
                SB_COUNT_MACS(1);
            }
            acc += __shfl_xor_sync(0xffffffffu, acc, 1);
            acc += __shfl_xor_sync(0xffffffffu, acc, 2);
            if (part == 0 && i > n)
                sT[i][n] = -acc;
            __syncwarp();
        }
    }

    /* W = T · diag(β e^G) K and U = T · diag(β) V, a 16-wide tile at a time:
     * thread owns row wi, columns wc..wc+3. */
    const int wi = tid / 4, wc = (tid % 4) * 4;
    for (int pass = 0; pass < 2; pass++) {
        const int width = pass == 0 ? D : Dv;
        float *dst = pass == 0 ? ws_w + blk * DC * D : ws_u + blk * DC * Dv;
        for (int d0 = 0; d0 < width; d0 += K1_TD) {
            __syncthreads();
            for (int f = tid; f < DC * K1_TD; f += K1_THREADS) {
                const int i = f / K1_TD, dd = f % K1_TD;
                float x = 0.0f;
                if (i < r)
                    x = pass == 0 ? sBE[i] * delta_ld(kb + i * qk_rs + d0 + dd)
                                  : sB[i] * delta_ld(vb + (int64_t)i * Hv * Dv + d0 + dd);
                sX[i][dd] = x;
            }
            __syncthreads();
            float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
#pragma unroll 8
            for (int m = 0; m < DC; m++) {
                const float t = sT[wi][m];
#pragma unroll
                for (int e = 0; e < 4; e++)
                    acc[e] = fmaf(t, sX[m][wc + e], acc[e]);
                SB_COUNT_MACS(4);
            }
            *reinterpret_cast<float4 *>(dst + wi * width + d0 + wc) =
                make_float4(acc[0], acc[1], acc[2], acc[3]);
        }
    }
}

/* ---- kernel 2: per (Dv slice, value head, batch), chunks in order -------- */

template <typename T>
__global__ void __launch_bounds__(K2_THREADS, 2)
delta_k2(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ h0,
         T *__restrict__ out, T *__restrict__ ht, const float *__restrict__ ws_w,
         const float *__restrict__ ws_u, const float *__restrict__ ws_p,
         const double *__restrict__ ws_G, int N, int H, int Hv, int D, int Dv, float scale)
{
    float *sS = static_cast<float *>(sb_dynamic_smem());   /* [D][K2_E] the state slice */
    float *sV = sS + D * K2_E;                              /* [DC][K2_E] V' */
    float *sU = sV + DC * K2_E;                             /* K2_UNION_FLOATS, by phase */
    __shared__ double sG[DC];
    __shared__ float sEq[DC];               /* scale · e^{G_i} */
    __shared__ float sEk[DC];               /* e^{G_last − G_m} */

    const int e0 = blockIdx.x * K2_E, j = blockIdx.y, b = blockIdx.z, tid = threadIdx.x;
    const int nch = (N + DC - 1) / DC, hq = j / (Hv / H);
    const int ti = tid / 8, tc = (tid % 8) * 4;     /* rows ti, ti + 32; columns tc..tc+3 */
    const int64_t qk_rs = (int64_t)H * D;
    const int64_t sbase = ((int64_t)b * Hv + j) * D * Dv + e0;     /* h0[b, j, 0, e0] */

    for (int f = tid; f < D * K2_E; f += K2_THREADS)
        sS[f] = h0 ? delta_ld(h0 + sbase + (int64_t)(f / K2_E) * Dv + f % K2_E) : 0.0f;

    for (int c = 0; c < nch; c++) {
        const int t0 = c * DC, r = min(DC, N - t0);
        const int64_t blk = ((int64_t)b * Hv + j) * nch + c;
        const int64_t tok0 = (int64_t)b * N + t0;
        const T *qb = q + tok0 * qk_rs + (int64_t)hq * D;
        const T *kb = k + tok0 * qk_rs + (int64_t)hq * D;
        __syncthreads();                    /* the last chunk is done with sG, sEk, sS */
        if (tid < DC)
            sG[tid] = ws_G[blk * DC + tid];
        __syncthreads();
        if (tid < DC) {
            sEq[tid] = scale * expf((float)sG[tid]);
            sEk[tid] = expf((float)(sG[DC - 1] - sG[tid]));
        }
        const float el = expf((float)sG[DC - 1]);  /* padded g = 0: G[DC-1] = G[r-1] */

        /* V' (before U) and the inter-chunk part of O: −W·S and e^G Q·S. */
        float av[2][4], ao[2][4];
#pragma unroll
        for (int a = 0; a < 2; a++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                av[a][e] = ao[a][e] = 0.0f;
        float *sW = sU, *sQ = sU + DC * (K2_TD + 1);
        const float *wsrc = ws_w + blk * DC * D;
        for (int d0 = 0; d0 < D; d0 += K2_TD) {
            __syncthreads();
            for (int f = tid; f < DC * K2_TD; f += K2_THREADS) {
                const int i = f / K2_TD, dd = f % K2_TD;
                sW[i * (K2_TD + 1) + dd] = wsrc[i * D + d0 + dd];
                sQ[i * (K2_TD + 1) + dd] = i < r ? sEq[i] * delta_ld(qb + i * qk_rs + d0 + dd) : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int dd = 0; dd < K2_TD; dd++) {
                const float4 s4 = *reinterpret_cast<const float4 *>(sS + (d0 + dd) * K2_E + tc);
                const float sv[4] = { s4.x, s4.y, s4.z, s4.w };
#pragma unroll
                for (int a = 0; a < 2; a++) {
                    const float w = sW[(ti + 32 * a) * (K2_TD + 1) + dd];
                    const float x = sQ[(ti + 32 * a) * (K2_TD + 1) + dd];
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        av[a][e] = fmaf(w, sv[e], av[a][e]);
                        ao[a][e] = fmaf(x, sv[e], ao[a][e]);
                    }
                    SB_COUNT_MACS(8);
                }
            }
        }

        /* V' = U − W·S into sV; P into the union. */
        const float *usrc = ws_u + blk * DC * Dv + e0;
        __syncthreads();                    /* the W and Q tiles are consumed */
#pragma unroll
        for (int a = 0; a < 2; a++) {
            const int i = ti + 32 * a;
            const float4 u = *reinterpret_cast<const float4 *>(usrc + i * Dv + tc);
            *reinterpret_cast<float4 *>(sV + i * K2_E + tc) =
                make_float4(u.x - av[a][0], u.y - av[a][1], u.z - av[a][2], u.w - av[a][3]);
        }
        float *sP = sU;
        const float *psrc = ws_p + blk * DC * DC;
        for (int f = tid; f < DC * DC; f += K2_THREADS)
            sP[(f / DC) * (DC + 1) + f % DC] = psrc[f];
        __syncthreads();

        /* O += P·V' and out. */
#pragma unroll 4
        for (int m = 0; m < DC; m++) {
            const float4 v4 = *reinterpret_cast<const float4 *>(sV + m * K2_E + tc);
            const float vv[4] = { v4.x, v4.y, v4.z, v4.w };
#pragma unroll
            for (int a = 0; a < 2; a++) {
                const float p = sP[(ti + 32 * a) * (DC + 1) + m];
#pragma unroll
                for (int e = 0; e < 4; e++)
                    ao[a][e] = fmaf(p, vv[e], ao[a][e]);
                SB_COUNT_MACS(4);
            }
        }
#pragma unroll
        for (int a = 0; a < 2; a++) {
            const int i = ti + 32 * a;
            if (i < r)
                sb_elem<T>::store4(out + ((tok0 + i) * Hv + j) * Dv + e0 + tc, ao[a][0], ao[a][1],
                                   ao[a][2], ao[a][3]);
        }

        /* S ← e^{G_last} S + Kdᵀ V', a tile of K2_TU rows of d at a time:
         * thread owns row d0 + tid/8, columns tc..tc+3. */
        float *sK = sU;
        const int dr = tid / 8;
        for (int d0 = 0; d0 < D; d0 += K2_TU) {
            __syncthreads();                /* P (first tile) or the last key tile consumed */
            for (int f = tid; f < DC * K2_TU; f += K2_THREADS) {
                const int i = f / K2_TU, dd = f % K2_TU;
                sK[i * (K2_TU + 1) + dd] = i < r ? sEk[i] * delta_ld(kb + i * qk_rs + d0 + dd) : 0.0f;
            }
            __syncthreads();
            float4 *sp = reinterpret_cast<float4 *>(sS + (d0 + dr) * K2_E + tc);
            float4 s4 = *sp;
            s4.x *= el, s4.y *= el, s4.z *= el, s4.w *= el;
#pragma unroll 8
            for (int m = 0; m < DC; m++) {
                const float kd = sK[m * (K2_TU + 1) + dr];
                const float4 v4 = *reinterpret_cast<const float4 *>(sV + m * K2_E + tc);
                s4.x = fmaf(kd, v4.x, s4.x);
                s4.y = fmaf(kd, v4.y, s4.y);
                s4.z = fmaf(kd, v4.z, s4.z);
                s4.w = fmaf(kd, v4.w, s4.w);
                SB_COUNT_MACS(4);
            }
            *sp = s4;
        }
    }

    if (ht) {
        __syncthreads();
        for (int f = tid; f < D * K2_E; f += K2_THREADS)
            ht[sbase + (int64_t)(f / K2_E) * Dv + f % K2_E] = sb_elem<T>::from_float(sS[f]);
    }
}

/* ---- host ------------------------------------------------------------------ */

struct delta_cuda_state {
    struct delta_dev io;
    float *w, *u, *p;       /* d_ workspace: [B·Hv·chunks][DC][D], [..][DC][Dv], [..][DC][DC] */
    double *G;              /* d_ [B·Hv·chunks][DC] */
    struct sb_plan k1, k2;
};

static int64_t delta_cuda_chunks(const struct shape *s)
{
    return (s->N + DC - 1) / DC;
}

extern "C" int64_t delta_cuda_workspace_bytes(const struct shape *s)
{
    const int64_t rows = s->B * s->Hv * delta_cuda_chunks(s) * DC;
    return rows * (s->D + s->Dv + DC) * (int64_t)sizeof(float) + rows * (int64_t)sizeof(double);
}

/* The launches: kernel 1 over (chunk, value head, batch), kernel 2 over
 * (Dv slice, value head, batch) with the state slice, V' and the phase
 * union in dynamic shared memory. */
static struct sb_plan delta_k1_plan(const struct shape *s)
{
    return { "delta_k1", { delta_cuda_chunks(s), s->Hv, s->B }, K1_THREADS, 0 };
}

static struct sb_plan delta_k2_plan(const struct shape *s)
{
    const size_t smem = (size_t)(s->D * K2_E + DC * K2_E + K2_UNION_FLOATS) * sizeof(float);
    return { "delta_k2", { s->Dv / K2_E, s->Hv, s->B }, K2_THREADS, smem };
}

static int delta_cuda_check(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    int rc = delta_check_common(ctx, "cuda");
    if (rc != SB_OK)
        return rc;
    if (s->chunk != DC) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: chunk=%lld: the kernels are built for chunk=%d",
                 (long long)s->chunk, DC);
        return SB_UNSUPPORTED;
    }
    return SB_OK;
}

template <typename T>
static int delta_cuda_prepare(struct op_ctx *ctx, const struct delta_cuda_state *st)
{
    int rc = sb_plan_prepare(ctx, (const void *)delta_k1<T>, &st->k1, "cuda");
    return rc != SB_OK ? rc : sb_plan_prepare(ctx, (const void *)delta_k2<T>, &st->k2, "cuda");
}

extern "C" int delta_cuda_setup(struct op_ctx *ctx)
{
    int rc = delta_cuda_check(ctx);
    if (rc != SB_OK)
        return rc;
    const struct shape *s = ctx->shape;
    struct delta_cuda_state *st = (struct delta_cuda_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: out of host memory");
        return SB_OOM;
    }
    const size_t rows = (size_t)(s->B * s->Hv * delta_cuda_chunks(s) * DC);
    st->k1 = delta_k1_plan(s);
    st->k2 = delta_k2_plan(s);
    if ((rc = s->dtype == DT_BF16 ? delta_cuda_prepare<__nv_bfloat16>(ctx, st)
                                  : delta_cuda_prepare<float>(ctx, st)) != SB_OK ||
        (rc = delta_dev_setup(ctx, &st->io)) != SB_OK ||
        (rc = sb_alloc(ctx, (void **)&st->w, rows * (size_t)s->D * sizeof(float))) != SB_OK ||
        (rc = sb_alloc(ctx, (void **)&st->u, rows * (size_t)s->Dv * sizeof(float))) != SB_OK ||
        (rc = sb_alloc(ctx, (void **)&st->p, rows * DC * sizeof(float))) != SB_OK ||
        (rc = sb_alloc(ctx, (void **)&st->G, rows * sizeof(double))) != SB_OK) {
        free(st);               /* the harness frees the tracked device buffers */
        return rc;
    }
    ctx->priv = st;
    return SB_OK;
}

template <typename T>
static int delta_cuda_launch(struct op_ctx *ctx, const struct delta_cuda_state *st)
{
    const struct shape *s = ctx->shape;
    const struct delta_dev *d = &st->io;
    const int N = (int)s->N, H = (int)s->H, Hv = (int)s->Hv, D = (int)s->D, Dv = (int)s->Dv;
    const float scale = (float)ctx->scale;
    int rc = sb_launch(ctx, delta_k1<T>, st->k1, (const T *)d->q, (const T *)d->k, (const T *)d->v,
                       (const T *)d->g, (const T *)d->beta, st->w, st->u, st->p, st->G, N, H, Hv, D,
                       Dv, scale);
    if (rc != SB_OK)
        return rc;
    return sb_launch(ctx, delta_k2<T>, st->k2, (const T *)d->q, (const T *)d->k, (const T *)d->h0,
                     (T *)d->out, (T *)d->ht, (const float *)st->w, (const float *)st->u,
                     (const float *)st->p, (const double *)st->G, N, H, Hv, D, Dv, scale);
}

extern "C" int delta_cuda_run(struct op_ctx *ctx)
{
    const struct delta_cuda_state *st = (const struct delta_cuda_state *)ctx->priv;
    return ctx->shape->dtype == DT_BF16 ? delta_cuda_launch<__nv_bfloat16>(ctx, st)
                                        : delta_cuda_launch<float>(ctx, st);
}

extern "C" int delta_cuda_fetch(struct op_ctx *ctx)
{
    return delta_dev_fetch(ctx, &((const struct delta_cuda_state *)ctx->priv)->io);
}

extern "C" void delta_cuda_teardown(struct op_ctx *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}
