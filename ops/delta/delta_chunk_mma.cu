/*
 * delta_chunk_mma.cu — family "delta", implementation "cuda-opt": the two
 * kernels of delta_chunk.cu (the chunked WY/UT algorithm; math in
 * reference/delta.c) with every chunk product on tensor cores:
 * mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (ops/ptx.cuh; bf16
 * operands, fp32 accumulators; sm_80+). The triangular solve stays fp32 in
 * shared memory, G in float64, the state in fp32 registers.
 * sass-expect: HMMA
 *
 *   kernel 1  delta_k1_mma   grid (chunks, Hv, B), 128 threads = 4 warps,
 *             warp w owns chunk rows 16w..16w+15:
 *               K Kᵀ and Q Kᵀ (A = K or Q rows, B = K rows: both k-major)
 *               → A (fp32, shared) and P (bf16, workspace);
 *               T = (I + A)⁻¹ (fp32, columns independent, 2 lanes each), then bf16;
 *               W = T·(β e^G K) (B = (β e^G K)ᵀ, built transposed) → bf16;
 *               U = T·(β V)     (B = (β V)ᵀ)                       → fp32.
 *   kernel 2  delta_k2_mma<D>  grid (Dv/32, Hv, B), 128 threads: a 32-column
 *             slice of the state, D × 32 fp32, lives in the accumulators of
 *             the update product (warp w: rows w·D/4 .. (w+1)·D/4 − 1);
 *             per chunk its bf16 transpose goes to shared memory as the B
 *             operand of
 *               W·S and (scale e^G Q)·S            (warp w: rows 16w.., 32 cols)
 *               V' = U − W·S  → bf16, transposed (B operand of the next two)
 *               O += P·V'
 *               S = e^{G_last} S + (e^{G_last−G} K)ᵀ·V' (A = decayed keys, transposed)
 *
 * Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16", .bf16): lane =
 * 4·g + t; A (16×16, row): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g,
 * 2t+8..), a3 = (g+8, 2t+8..); B (16×8, col): b0 = (k 2t..2t+1, n g), b1 =
 * (k 2t+8.., n g); C (16×8): c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..).
 * Both operands are read from shared memory stored k-contiguous (A as
 * [row][k], B as [n][k]), two bf16 per 32-bit load, lower address in the
 * lower half. Row strides are (multiple of 64) + 8 elements, so the 8 rows
 * × 4 words of a fragment load fall in 32 distinct banks.
 *
 * Shapes: bf16, chunk = 64, D, Dv ∈ {64, 128, 256}. Shared memory at
 * D = Dv = 128 / 256, static 1 KiB included: kernel 1 77.5 / 111.5 KiB,
 * kernel 2 57 / 97 KiB (sm_89's 99 KiB takes D ≤ 128 for kernel 1; checked
 * at setup). Workspace per chunk
 * and value head: W 64·D bf16, U 64·Dv fp32, P 64·64 bf16, G 64 float64.
 *
 * Status: compiled for sm_80/89/90a (HMMA in the sm_90a SASS); mma.sync
 * emulated to the PTX ISA (ops/ptx.cuh), both kernels and their plans
 * run on the CPU from this source, host code included, under ASan/UBSan
 * and TSan against the float64 reference (tests/cuda_on_cpu.sh); never on a
 * GPU.
 */
#include <stdint.h>

#include "../ops.h"
#include "../ptx.cuh"
#include "delta_dev.cuh"

typedef __nv_bfloat16 bf16;

#define DC DELTA_GPU_CHUNK
#define M_THREADS 128
#define M_WARPS (M_THREADS / 32)
#define M_PAD 8                     /* bf16 after each shared row: stride ≡ 8 (mod 64) */
#define M_LDC (DC + M_PAD)          /* stride of [.][DC] bf16 tiles */
#define DM_E 32                      /* state columns per kernel-2 block */

static_assert(DC == DELTA_GPU_SUB * M_WARPS, "one 16-row m-tile of the chunk per warp");

/* ---- tensor-core fragments --------------------------------------------------- */

static __device__ __forceinline__ uint32_t ld_pair(const bf16 *p)
{
    return *reinterpret_cast<const uint32_t *>(p);
}

/* A fragment: rows r0..r0+15, k0..k0+15 of M stored [row][k], lda elements. */
static __device__ __forceinline__ void frag_a(uint32_t a[4], const bf16 *M, int lda, int r0, int k0)
{
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const bf16 *p = M + (r0 + g) * lda + k0 + 2 * t;
    a[0] = ld_pair(p);
    a[1] = ld_pair(p + 8 * lda);
    a[2] = ld_pair(p + 8);
    a[3] = ld_pair(p + 8 * lda + 8);
}

/* B fragment: k0..k0+15, columns n0..n0+7 of B stored transposed [n][k]. */
static __device__ __forceinline__ void frag_b(uint32_t b[2], const bf16 *Bt, int ldb, int n0, int k0)
{
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const bf16 *p = Bt + (n0 + g) * ldb + k0 + 2 * t;
    b[0] = ld_pair(p);
    b[1] = ld_pair(p + 8);
}

static __device__ __forceinline__ void st_pair(bf16 *p, float x, float y)
{
    *reinterpret_cast<__nv_bfloat162 *>(p) = __floats2bfloat162_rn(x, y);
}

/* Copies rows [0, r) of a [rows][width] bf16 matrix (row i at src + i·src_rs)
 * into dst [64][width + M_PAD], zero rows from r on; 16 bytes per step. */
static __device__ __forceinline__ void copy_rows(bf16 *dst, const bf16 *src, int64_t src_rs,
                                                 int width, int r)
{
    const int per_row = width / 8;
    for (int f = threadIdx.x; f < DC * per_row; f += M_THREADS) {
        const int i = f / per_row, c = f % per_row * 8;
        uint4 x = make_uint4(0, 0, 0, 0);
        if (i < r)
            x = *reinterpret_cast<const uint4 *>(src + i * src_rs + c);
        *reinterpret_cast<uint4 *>(dst + i * (width + M_PAD) + c) = x;
    }
}

/* ---- kernel 1 ------------------------------------------------------------------ */

/* Shared-memory carve-up of kernel 1, in bytes. */
struct k1m_smem {
    size_t a, t, tb, r1, r2, bytes;
    __host__ __device__ k1m_smem(int D, int Dv)
    {
        const int wide = D > Dv ? D : Dv;
        const size_t r2_elems = (size_t)(DC * (D + M_PAD) > wide * M_LDC ? DC * (D + M_PAD) : wide * M_LDC);
        a = 0;                                          /* fp32 [DC][DC + 1] A */
        t = a + DC * (DC + 1) * sizeof(float);          /* fp32 [DC][DC + 1] T */
        tb = t + DC * (DC + 1) * sizeof(float);         /* bf16 [DC][M_LDC] T */
        r1 = tb + DC * M_LDC * sizeof(bf16);            /* bf16 [DC][D + 8] K */
        r2 = r1 + DC * (D + M_PAD) * sizeof(bf16);      /* bf16 Q, then (βe^G K)ᵀ, then (βV)ᵀ */
        bytes = r2 + r2_elems * sizeof(bf16);
    }
};

__global__ void __launch_bounds__(M_THREADS)
delta_k1_mma(const bf16 *__restrict__ q, const bf16 *__restrict__ k, const bf16 *__restrict__ v,
             const bf16 *__restrict__ g, const bf16 *__restrict__ beta, bf16 *__restrict__ ws_w,
             float *__restrict__ ws_u, bf16 *__restrict__ ws_p, double *__restrict__ ws_G, int N,
             int H, int Hv, int D, int Dv, float scale)
{
    const k1m_smem L(D, Dv);
    char *base = static_cast<char *>(sb_dynamic_smem());
    float *sA = reinterpret_cast<float *>(base + L.a);     /* [DC][DC + 1] */
    float *sT = reinterpret_cast<float *>(base + L.t);     /* [DC][DC + 1] */
    bf16 *sTb = reinterpret_cast<bf16 *>(base + L.tb);     /* [DC][M_LDC] */
    bf16 *sK = reinterpret_cast<bf16 *>(base + L.r1);      /* [DC][D + 8] */
    bf16 *sR = reinterpret_cast<bf16 *>(base + L.r2);      /* by phase */
    __shared__ double sG[DC];
    __shared__ float sB[DC], sBE[DC];

    const int c = blockIdx.x, j = blockIdx.y, b = blockIdx.z, tid = threadIdx.x;
    const int warp = tid / 32, lane = tid % 32, gq = lane / 4, tq = lane % 4;
    const int nch = gridDim.x, hq = j / (Hv / H);
    const int t0 = c * DC, r = min(DC, N - t0);
    const int64_t blk = ((int64_t)b * Hv + j) * nch + c;
    const int64_t tok0 = (int64_t)b * N + t0;
    const int64_t qk_rs = (int64_t)H * D;
    const bf16 *qb = q + tok0 * qk_rs + (int64_t)hq * D;
    const bf16 *kb = k + tok0 * qk_rs + (int64_t)hq * D;
    const bf16 *vb = v + (tok0 * Hv + j) * Dv;
    const int ldk = D + M_PAD;

    if (tid < DC) {
        sB[tid] = tid < r ? __bfloat162float(beta[(tok0 + tid) * Hv + j]) : 0.0f;
        sG[tid] = g && tid < r ? (double)__bfloat162float(g[(tok0 + tid) * Hv + j]) : 0.0;
    }
    copy_rows(sK, kb, qk_rs, D, r);
    copy_rows(sR, qb, qk_rs, D, r);
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

    /* K Kᵀ and Q Kᵀ for rows 16·warp.., all 64 columns (8 n-tiles). */
    {
        float kk[8][4], qk[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                kk[nt][e] = qk[nt][e] = 0.0f;
        for (int k0 = 0; k0 < D; k0 += 16) {
            uint32_t ak[4], aq[4];
            frag_a(ak, sK, ldk, 16 * warp, k0);
            frag_a(aq, sR, ldk, 16 * warp, k0);
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                uint32_t bk[2];
                frag_b(bk, sK, ldk, 8 * nt, k0);
                sb_mma_m16n8k16_bf16(kk[nt], ak, bk);
                SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                sb_mma_m16n8k16_bf16(qk[nt], aq, bk);
                SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
            }
        }
        bf16 *pout = ws_p + blk * DC * DC;
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int i = 16 * warp + gq + 8 * h;
                float p2[2];
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int m = 8 * nt + 2 * tq + e;
                    const float dec = m <= i ? expf((float)(sG[i] - sG[m])) : 0.0f;
                    p2[e] = scale * dec * qk[nt][2 * h + e];
                    sA[i * (DC + 1) + m] = m < i ? sB[i] * dec * kk[nt][2 * h + e] : 0.0f;
                }
                st_pair(pout + i * DC + 8 * nt + 2 * tq, p2[0], p2[1]);
            }
    }
    __syncthreads();

    /* T = (I + A)⁻¹ in fp32, column by column (delta_chunk.cu's solve):
     * x_i = −Σ_{n≤m<i} A[i][m] x_m for column n; 2 lanes per column, a warp
     * owns 16 columns and needs only warp barriers. */
    {
        const int n = tid / 2, part = tid % 2, n_first = warp * 16;
        if (part == 0)
            for (int i = 0; i <= n; i++)
                sT[i * (DC + 1) + n] = i == n ? 1.0f : 0.0f;
        __syncwarp();
        for (int i = n_first + 1; i < DC; i++) {
            float acc = 0.0f;
            for (int m = n + part; m < i; m += 2) {
                acc = fmaf(sA[i * (DC + 1) + m], sT[m * (DC + 1) + n], acc);
                SB_COUNT_MACS(1);
            }
            acc += __shfl_xor_sync(0xffffffffu, acc, 1);
            if (part == 0 && i > n)
                sT[i * (DC + 1) + n] = -acc;
            __syncwarp();
        }
    }
    __syncthreads();
    /* T in bf16 (A operand); (β e^G K)ᵀ [D][M_LDC] from the keys in shared memory. */
    for (int f = tid; f < DC * DC; f += M_THREADS)
        sTb[(f / DC) * M_LDC + f % DC] = __float2bfloat16_rn(sT[(f / DC) * (DC + 1) + f % DC]);
    for (int f = tid; f < DC * D; f += M_THREADS) {
        const int m = f % DC, d = f / DC;
        sR[d * M_LDC + m] = __float2bfloat16_rn(sBE[m] * __bfloat162float(sK[m * ldk + d]));
    }
    __syncthreads();

    /* W = T·(β e^G K) (bf16 out), then U = T·(β V) (fp32 out); 64 columns at a time. */
    for (int pass = 0; pass < 2; pass++) {
        const int width = pass == 0 ? D : Dv;
        if (pass == 1) {
            __syncthreads();                /* W's reads of sR are done */
            for (int f = tid; f < DC * Dv; f += M_THREADS) {
                const int m = f / Dv, e = f % Dv;
                const float x = m < r ? sB[m] * __bfloat162float(vb[(int64_t)m * Hv * Dv + e]) : 0.0f;
                sR[e * M_LDC + m] = __float2bfloat16_rn(x);
            }
            __syncthreads();
        }
        for (int n0 = 0; n0 < width; n0 += 64) {
            float acc[8][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    acc[nt][e] = 0.0f;
#pragma unroll
            for (int k0 = 0; k0 < DC; k0 += 16) {
                uint32_t a[4];
                frag_a(a, sTb, M_LDC, 16 * warp, k0);
#pragma unroll
                for (int nt = 0; nt < 8; nt++) {
                    uint32_t bb[2];
                    frag_b(bb, sR, M_LDC, n0 + 8 * nt, k0);
                    sb_mma_m16n8k16_bf16(acc[nt], a, bb);
                    SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                }
            }
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int i = 16 * warp + gq + 8 * h, col = n0 + 8 * nt + 2 * tq;
                    if (pass == 0)
                        st_pair(ws_w + blk * DC * D + i * D + col, acc[nt][2 * h], acc[nt][2 * h + 1]);
                    else
                        *reinterpret_cast<float2 *>(ws_u + blk * DC * Dv + i * Dv + col) =
                            make_float2(acc[nt][2 * h], acc[nt][2 * h + 1]);
                }
        }
    }
}

/* ---- kernel 2 ------------------------------------------------------------------ */

/* Shared-memory carve-up of kernel 2, in bytes. */
struct k2m_smem {
    size_t st, vt, p, u, bytes;
    __host__ __device__ k2m_smem(int D)
    {
        const size_t wq = 2 * (size_t)DC * (D + M_PAD), kd = (size_t)D * M_LDC;
        st = 0;                                         /* bf16 [DM_E][D + 8] Sᵀ */
        vt = st + DM_E * (D + M_PAD) * sizeof(bf16);     /* bf16 [DM_E][M_LDC] V'ᵀ */
        p = vt + DM_E * M_LDC * sizeof(bf16);            /* bf16 [DC][M_LDC] P */
        u = p + DC * M_LDC * sizeof(bf16);              /* W, Q [DC][D + 8] each | Kdᵀ [D][M_LDC] */
        bytes = u + (wq > kd ? wq : kd) * sizeof(bf16);
    }
};

template <int D>
__global__ void __launch_bounds__(M_THREADS)
delta_k2_mma(const bf16 *__restrict__ q, const bf16 *__restrict__ k, const bf16 *__restrict__ h0,
             bf16 *__restrict__ out, bf16 *__restrict__ ht, const bf16 *__restrict__ ws_w,
             const float *__restrict__ ws_u, const bf16 *__restrict__ ws_p,
             const double *__restrict__ ws_G, int N, int H, int Hv, int Dv, float scale)
{
    constexpr int MT = D / 64;              /* 16-row m-tiles of the state per warp */
    constexpr int ldk = D + M_PAD;
    const k2m_smem L(D);
    char *base = static_cast<char *>(sb_dynamic_smem());
    bf16 *sSt = reinterpret_cast<bf16 *>(base + L.st);
    bf16 *sVt = reinterpret_cast<bf16 *>(base + L.vt);
    bf16 *sP = reinterpret_cast<bf16 *>(base + L.p);
    bf16 *sW = reinterpret_cast<bf16 *>(base + L.u);
    bf16 *sQ = sW + DC * ldk;
    bf16 *sKd = sW;                         /* [D][M_LDC], after W and Q are consumed */
    __shared__ double sG[DC];
    __shared__ float sEq[DC], sEk[DC];

    const int e0 = blockIdx.x * DM_E, j = blockIdx.y, b = blockIdx.z, tid = threadIdx.x;
    const int warp = tid / 32, lane = tid % 32, gq = lane / 4, tq = lane % 4;
    const int nch = (N + DC - 1) / DC, hq = j / (Hv / H);
    const int64_t qk_rs = (int64_t)H * D;
    const int64_t sbase = ((int64_t)b * Hv + j) * D * Dv + e0;     /* h0[b, j, 0, e0] */
    const int drow = warp * (D / M_WARPS);  /* first state row of this warp */

    /* The state slice in the update's accumulators: s[mt][nt][2h + c] is
     * S[drow + 16·mt + gq + 8h][8·nt + 2·tq + c]. */
    float s[MT][4][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nt = 0; nt < 4; nt++)
#pragma unroll
            for (int h = 0; h < 2; h++)
#pragma unroll
                for (int cc = 0; cc < 2; cc++) {
                    const int d = drow + 16 * mt + gq + 8 * h, e = 8 * nt + 2 * tq + cc;
                    s[mt][nt][2 * h + cc] = h0 ? __bfloat162float(h0[sbase + (int64_t)d * Dv + e]) : 0.0f;
                }

    for (int c = 0; c < nch; c++) {
        const int t0 = c * DC, r = min(DC, N - t0);
        const int64_t blk = ((int64_t)b * Hv + j) * nch + c;
        const int64_t tok0 = (int64_t)b * N + t0;
        const bf16 *qb = q + tok0 * qk_rs + (int64_t)hq * D;
        const bf16 *kb = k + tok0 * qk_rs + (int64_t)hq * D;
        __syncthreads();                    /* the last chunk's readers of everything are done */
        if (tid < DC)
            sG[tid] = ws_G[blk * DC + tid];
        __syncthreads();
        if (tid < DC) {
            sEq[tid] = scale * expf((float)sG[tid]);
            sEk[tid] = expf((float)(sG[DC - 1] - sG[tid]));
        }
        const float el = expf((float)sG[DC - 1]);   /* padded g = 0: G[DC-1] = G[r-1] */
        /* Sᵀ in bf16: the B operand of W·S and Q·S. */
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int h = 0; h < 2; h++)
#pragma unroll
                    for (int cc = 0; cc < 2; cc++) {
                        const int d = drow + 16 * mt + gq + 8 * h, e = 8 * nt + 2 * tq + cc;
                        sSt[e * ldk + d] = __float2bfloat16_rn(s[mt][nt][2 * h + cc]);
                    }
        copy_rows(sW, ws_w + blk * DC * D, D, D, DC);
        copy_rows(sP, ws_p + blk * DC * DC, DC, DC, DC);
        __syncthreads();                    /* sEq is written */
        for (int f = tid; f < DC * D; f += M_THREADS) {
            const int i = f / D, d = f % D;
            const float x = i < r ? sEq[i] * __bfloat162float(qb[i * qk_rs + d]) : 0.0f;
            sQ[i * ldk + d] = __float2bfloat16_rn(x);
        }
        __syncthreads();

        /* −(W·S) and the inter-chunk output, rows 16·warp.., 32 columns. */
        float av[4][4], ao[4][4];
#pragma unroll
        for (int nt = 0; nt < 4; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                av[nt][e] = ao[nt][e] = 0.0f;
#pragma unroll 4
        for (int k0 = 0; k0 < D; k0 += 16) {
            uint32_t aw[4], aq[4];
            frag_a(aw, sW, ldk, 16 * warp, k0);
            frag_a(aq, sQ, ldk, 16 * warp, k0);
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                uint32_t bs[2];
                frag_b(bs, sSt, ldk, 8 * nt, k0);
                sb_mma_m16n8k16_bf16(av[nt], aw, bs);
                SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                sb_mma_m16n8k16_bf16(ao[nt], aq, bs);
                SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
            }
        }
        /* V' = U − W·S, stored transposed in bf16. */
        const float *usrc = ws_u + blk * DC * Dv + e0;
#pragma unroll
        for (int nt = 0; nt < 4; nt++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int i = 16 * warp + gq + 8 * h, e = 8 * nt + 2 * tq;
                const float2 u = *reinterpret_cast<const float2 *>(usrc + i * Dv + e);
                sVt[e * M_LDC + i] = __float2bfloat16_rn(u.x - av[nt][2 * h]);
                sVt[(e + 1) * M_LDC + i] = __float2bfloat16_rn(u.y - av[nt][2 * h + 1]);
            }
        __syncthreads();                    /* sVt complete; W and Q consumed */

        /* O += P·V' and out. */
#pragma unroll
        for (int k0 = 0; k0 < DC; k0 += 16) {
            uint32_t ap[4];
            frag_a(ap, sP, M_LDC, 16 * warp, k0);
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                uint32_t bv[2];
                frag_b(bv, sVt, M_LDC, 8 * nt, k0);
                sb_mma_m16n8k16_bf16(ao[nt], ap, bv);
                SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
            }
        }
#pragma unroll
        for (int nt = 0; nt < 4; nt++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int i = 16 * warp + gq + 8 * h;
                if (i < r)
                    st_pair(out + ((tok0 + i) * Hv + j) * Dv + e0 + 8 * nt + 2 * tq,
                            ao[nt][2 * h], ao[nt][2 * h + 1]);
            }

        /* Decayed keys, transposed: Kd[d][m] = e^{G_last − G_m} k_m[d]. */
        for (int f = tid; f < DC * D; f += M_THREADS) {
            const int m = f / D, d = f % D;
            const float x = m < r ? sEk[m] * __bfloat162float(kb[m * qk_rs + d]) : 0.0f;
            sKd[d * M_LDC + m] = __float2bfloat16_rn(x);
        }
        __syncthreads();

        /* S = e^{G_last} S + Kdᵀ·V'. */
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    s[mt][nt][e] *= el;
#pragma unroll
        for (int k0 = 0; k0 < DC; k0 += 16) {
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                uint32_t a[4];
                frag_a(a, sKd, M_LDC, drow + 16 * mt, k0);
#pragma unroll
                for (int nt = 0; nt < 4; nt++) {
                    uint32_t bv[2];
                    frag_b(bv, sVt, M_LDC, 8 * nt, k0);
                    sb_mma_m16n8k16_bf16(s[mt][nt], a, bv);
                    SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                }
            }
        }
    }

    if (ht) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int d = drow + 16 * mt + gq + 8 * h, e = 8 * nt + 2 * tq;
                    st_pair(ht + sbase + (int64_t)d * Dv + e, s[mt][nt][2 * h], s[mt][nt][2 * h + 1]);
                }
    }
}

/* ---- host ------------------------------------------------------------------ */

struct delta_mma_state {
    struct delta_dev io;
    bf16 *w;        /* d_ [B·Hv·chunks][DC][D] */
    float *u;       /* d_ [..][DC][Dv] */
    bf16 *p;        /* d_ [..][DC][DC] */
    double *G;      /* d_ [..][DC] */
    struct sb_plan k1, k2;
};

static int64_t delta_mma_rows(const struct shape *s)
{
    return s->B * s->Hv * ((s->N + DC - 1) / DC) * DC;
}

extern "C" int64_t delta_cuda_opt_workspace_bytes(const struct shape *s)
{
    return delta_mma_rows(s) * ((s->D + DC) * 2 + s->Dv * 4 + 8);
}

/* The launches: as delta_chunk.cu's, 4 warps, the carve-ups above. */
static struct sb_plan delta_k1_mma_plan(const struct shape *s)
{
    return { "delta_k1_mma", { (s->N + DC - 1) / DC, s->Hv, s->B }, M_THREADS,
             k1m_smem((int)s->D, (int)s->Dv).bytes };
}

static struct sb_plan delta_k2_mma_plan(const struct shape *s)
{
    return { "delta_k2_mma", { s->Dv / DM_E, s->Hv, s->B }, M_THREADS, k2m_smem((int)s->D).bytes };
}

/* The kernel-2 instantiations by D. */
template <int D>
static int delta_k2_mma_launch(struct op_ctx *ctx, const struct delta_mma_state *st)
{
    const struct shape *s = ctx->shape;
    const struct delta_dev *d = &st->io;
    return sb_launch(ctx, delta_k2_mma<D>, st->k2, (const bf16 *)d->q, (const bf16 *)d->k,
                     (const bf16 *)d->h0, (bf16 *)d->out, (bf16 *)d->ht, (const bf16 *)st->w,
                     (const float *)st->u, (const bf16 *)st->p, (const double *)st->G, (int)s->N,
                     (int)s->H, (int)s->Hv, (int)s->Dv, (float)ctx->scale);
}

static const struct {
    int D;
    const void *fn;
    int (*launch)(struct op_ctx *, const struct delta_mma_state *);
} delta_k2_mma_variants[] = {
    { 64, (const void *)delta_k2_mma<64>, delta_k2_mma_launch<64> },
    { 128, (const void *)delta_k2_mma<128>, delta_k2_mma_launch<128> },
    { 256, (const void *)delta_k2_mma<256>, delta_k2_mma_launch<256> },
};

static int delta_k2_mma_variant(int64_t D)
{
    for (int i = 0; i < (int)(sizeof delta_k2_mma_variants / sizeof delta_k2_mma_variants[0]); i++)
        if (delta_k2_mma_variants[i].D == D)
            return i;
    return -1;
}

extern "C" int delta_cuda_opt_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    int rc = delta_check_common(ctx, "cuda-opt");
    if (rc != SB_OK)
        return rc;
    if (s->chunk != DC) {
        snprintf(ctx->err, sizeof ctx->err,
                 "cuda-opt: chunk=%lld: the kernels are built for chunk=%d", (long long)s->chunk, DC);
        return SB_UNSUPPORTED;
    }
    if (s->dtype != DT_BF16) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-opt: dtype %s: tensor-core kernels take bf16 only",
                 dtype_table[s->dtype].name);
        return SB_UNSUPPORTED;
    }
    int dev = 0, major = 0;
    SB_CUDA_CHECK(ctx, cudaGetDevice(&dev));
    SB_CUDA_CHECK(ctx, cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    if (major < 8) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-opt: bf16 mma.sync needs sm_80+, cuda:%d is sm_%d0",
                 dev, major);
        return SB_UNSUPPORTED;
    }
    struct delta_mma_state *st = (struct delta_mma_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-opt: out of host memory");
        return SB_OOM;
    }
    const size_t rows = (size_t)delta_mma_rows(s);
    st->k1 = delta_k1_mma_plan(s);
    st->k2 = delta_k2_mma_plan(s);
    if ((rc = sb_plan_prepare(ctx, (const void *)delta_k1_mma, &st->k1, "cuda-opt")) != SB_OK ||
        (rc = sb_plan_prepare(ctx, delta_k2_mma_variants[delta_k2_mma_variant(s->D)].fn, &st->k2,
                              "cuda-opt")) != SB_OK ||
        (rc = delta_dev_setup(ctx, &st->io)) != SB_OK ||
        (rc = sb_alloc(ctx, (void **)&st->w, rows * (size_t)s->D * sizeof(bf16))) != SB_OK ||
        (rc = sb_alloc(ctx, (void **)&st->u, rows * (size_t)s->Dv * sizeof(float))) != SB_OK ||
        (rc = sb_alloc(ctx, (void **)&st->p, rows * DC * sizeof(bf16))) != SB_OK ||
        (rc = sb_alloc(ctx, (void **)&st->G, rows * sizeof(double))) != SB_OK) {
        free(st);               /* the harness frees the tracked device buffers */
        return rc;
    }
    ctx->priv = st;
    return SB_OK;
}

extern "C" int delta_cuda_opt_run(struct op_ctx *ctx)
{
    const struct delta_mma_state *st = (const struct delta_mma_state *)ctx->priv;
    const struct delta_dev *d = &st->io;
    const struct shape *s = ctx->shape;
    int rc = sb_launch(ctx, delta_k1_mma, st->k1, (const bf16 *)d->q, (const bf16 *)d->k,
                       (const bf16 *)d->v, (const bf16 *)d->g, (const bf16 *)d->beta, st->w, st->u,
                       st->p, st->G, (int)s->N, (int)s->H, (int)s->Hv, (int)s->D, (int)s->Dv,
                       (float)ctx->scale);
    if (rc != SB_OK)
        return rc;
    return delta_k2_mma_variants[delta_k2_mma_variant(s->D)].launch(ctx, st);
}

extern "C" int delta_cuda_opt_fetch(struct op_ctx *ctx)
{
    return delta_dev_fetch(ctx, &((const struct delta_mma_state *)ctx->priv)->io);
}

extern "C" void delta_cuda_opt_teardown(struct op_ctx *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}
