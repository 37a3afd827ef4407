/*
 * gla_fwd_mma.cu — families "gated" and "linear", implementation "cuda-opt":
 * the chunked algorithm of reference/gla.h with every product on the tensor
 * cores, mma.sync m16n8k16 with bf16 operands and fp32 accumulators (sm_80+),
 * bf16 in memory, the state accumulated in fp32. The linear family runs these
 * kernels with gate=none.
 * sass-expect: HMMA
 *
 * Two kernels, as in gla_fwd.cu (the cuda implementation):
 *   gla_mma_scores_kernel  one block per (chunk, value head, batch), 4 warps,
 *       warp w owning the sub-chunk of rows 16w .. 16w+15 (reference/gla.h):
 *       the gates' cumulative sums (workspace Gc, fp32) and the masked scores
 *       A (workspace, bf16, the P·V operand):
 *         gate none/head: Q Kᵀ on the tensor cores over the columns j <
 *             16(w+1), times scale (and e^{G_i − G_j} for head);
 *         gate key: the sub-chunk split — the columns j < 16w of warp w as
 *             one product (q_i e^{G_i − G_r}) (k_j e^{G_r − G_j})ᵀ, r = 16w,
 *             on the tensor cores; its diagonal 16×16 block with the exp
 *             inside the sum, in fp32 FMA (as the cpu form does).
 *   gla_mma_chunk_kernel   one block per (32 columns of Dv, value head,
 *       batch), 4 warps, walking the chunks in order. The state slice
 *       S[D][32] lives in the warps' fp32 mma accumulators (warp w: rows
 *       w·D/4 ..), a bf16 copy goes to shared memory per chunk as the
 *       operand of the readout. Per chunk, all m16n8k16:
 *         O  = (scale·q ⊙ e^{G}) S          warp w: rows 16w.., K = D
 *         O += A V                           K = the sub-chunks j ≤ i
 *         S  = e^{G_last} ⊙ S + (k ⊙ e^{G_last − G})ᵀ V    warp w: its S rows, K = C
 *
 * Operands in shared memory are bf16, k-contiguous ([row][k] for A, [n][k]
 * for B), rows padded by 8 elements so the fragment loads of a warp (8 rows
 * × 4 consecutive words) fall in 32 distinct banks. Fragment layout of
 * m16n8k16 (PTX ISA, "Matrix fragments for mma.m16n8k16"): lane = 4g + t;
 * A: a0 (row g, k 2t..2t+1), a1 (row g+8), a2 (row g, k 2t+8..), a3 (row
 * g+8, k 2t+8..); B: b0 (k 2t..2t+1, col g), b1 (k 2t+8.., col g);
 * C: c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8).
 *
 * Shapes: bf16; D, Dv ∈ {64, 128, 256}; chunk ∈ {16, 32, 48, 64}. Shared
 * memory of the chunk walk: 57.5 KiB at D = 128, 100 KiB at D = 256 (1 KiB
 * past sm_86/89's 99 KiB: skipped there, with the reason); of the scores
 * kernel 66.25 KiB.
 * Workspace: Gc [B,N,Hv,Dg] fp32 and A [B,Hv,chunks,C,C] bf16.
 *
 * Status: compiled for sm_80/89/90a with no spills and no stack
 * (build/ops/gated/gla_fwd_mma.ptxas: scores 161-168 registers, chunk walk
 * 120 / 128-130 / 160-162 at D = 64 / 128 / 256), 176 HMMA in the sm_90a
 * SASS; mma.sync emulated to the PTX ISA (ops/ptx.cuh), both kernels and
 * their plans
 * run on the CPU from this source, host code included, under ASan/UBSan
 * and TSan against the float64 reference (tests/cuda_on_cpu.sh); never on a
 * GPU.
 */
#include <math.h>
#include <stdint.h>

#include "../ptx.cuh"
#include "gla_dev.cuh"

#define GLA_M_THREADS 128       /* 4 warps */
#define GLA_M_CMAX GLA_GPU_CMAX /* largest chunk: 4 sub-chunks of 16, one per warp (gla_tiles.h) */
#define GLA_M_DT 32             /* scores kernel: head dims per shared-memory tile */
#define GLA_M_DVS 32            /* chunk walk: Dv columns per block (4 n-tiles) */
#define GLA_M_PAD 8             /* bf16 elements after each operand row */

typedef __nv_bfloat16 bf16;

static __device__ __forceinline__ float gla_m_exp(float x)  /* e^x, x ≤ 0 */
{
    return exp2f(x * (float)SB_LOG2E);
}

static __device__ __forceinline__ uint32_t gla_ld32(const bf16 *p)
{
    return *reinterpret_cast<const uint32_t *>(p);
}

/* The A fragment of rows r0 .. r0+15, k0 .. k0+15 of X ([row][k], ld). */
static __device__ __forceinline__ void gla_frag_a(uint32_t a[4], const bf16 *X, int ld, int r0,
                                                  int k0, int g, int t)
{
    a[0] = gla_ld32(X + (r0 + g) * ld + k0 + 2 * t);
    a[1] = gla_ld32(X + (r0 + g + 8) * ld + k0 + 2 * t);
    a[2] = gla_ld32(X + (r0 + g) * ld + k0 + 2 * t + 8);
    a[3] = gla_ld32(X + (r0 + g + 8) * ld + k0 + 2 * t + 8);
}

/* The B fragment of cols n0 .. n0+7, k0 .. k0+15 of Y stored [n][k] (ld). */
static __device__ __forceinline__ void gla_frag_b(uint32_t b[2], const bf16 *Y, int ld, int n0,
                                                  int k0, int g, int t)
{
    b[0] = gla_ld32(Y + (n0 + g) * ld + k0 + 2 * t);
    b[1] = gla_ld32(Y + (n0 + g) * ld + k0 + 2 * t + 8);
}

/* ---- scores ----------------------------------------------------------------------- */

#define GLA_MS_LD (GLA_M_DT + GLA_M_PAD)   /* bf16 operand rows of the scores kernel */
#define GLA_MS_F (GLA_M_DT + 1)            /* fp32 tile rows */

struct gla_ms_smem {
    float q[GLA_M_CMAX][GLA_MS_F];          /* q tile, fp32 (diagonal blocks) */
    float k[GLA_M_CMAX][GLA_MS_F];          /* k tile */
    float G[GLA_M_CMAX][GLA_MS_F];          /* gate=key: cumulative gates of the tile */
    float a[GLA_M_CMAX][GLA_M_CMAX + 1];    /* the scores before they go out */
    float Gh[GLA_M_CMAX];                   /* gate=head: cumulative gate per token */
    bf16 qt[GLA_M_CMAX][GLA_MS_LD];         /* A operand: q (none/head), q e^{G − G_r} (key) */
    bf16 kt[4][GLA_M_CMAX][GLA_MS_LD];      /* B operands: [0] k (none/head); [w] k e^{G_16w − G} (key) */
};

__global__ void __launch_bounds__(GLA_M_THREADS, 1)
gla_mma_scores_kernel(const bf16 *__restrict__ q, const bf16 *__restrict__ k,
                      const bf16 *__restrict__ g, float *__restrict__ Gc, bf16 *__restrict__ A,
                      int N, int H, int Hv, int D, int C, int gate, float scale)
{
    gla_ms_smem &sm = *static_cast<gla_ms_smem *>(sb_dynamic_smem());

    const int chunk = blockIdx.x, j = blockIdx.y, b = blockIdx.z, hq = j / (Hv / H);
    const int nch = gridDim.x;
    const int64_t t0 = (int64_t)chunk * C;
    const int c = (int)min((int64_t)C, (int64_t)N - t0);
    const int tid = threadIdx.x, w = tid / 32, lane = tid % 32, gq = lane / 4, tq = lane % 4;
    const bool key = gate == GATE_KEY;
    /* Columns warp w takes from the tensor cores: before its diagonal block
     * (key), through it (none/head); none when its rows are past the chunk. */
    const int nt_mma = 16 * w >= C ? 0 : key ? 2 * w : 2 * w + 2;     /* n-tiles of 8 */

    if (gate == GATE_HEAD && tid == 0) {
        float run = 0.0f;
        for (int i = 0; i < c; i++) {
            const int64_t gi = ((int64_t)b * N + t0 + i) * Hv + j;
            run += __bfloat162float(g[gi]);
            sm.Gh[i] = run;
            Gc[gi] = run;
        }
    }

    float acc[8][4];                        /* A[16w + g (+8)][8n + 2t (+1)] */
#pragma unroll
    for (int n = 0; n < 8; n++)
#pragma unroll
        for (int x = 0; x < 4; x++)
            acc[n][x] = 0.0f;
    float diag[8];                          /* key: A[16w + lane/2][16w + 8(lane%2) + u] */
#pragma unroll
    for (int u = 0; u < 8; u++)
        diag[u] = 0.0f;
    const int di = 16 * w + lane / 2, dj0 = 16 * w + 8 * (lane % 2);

    for (int d0 = 0; d0 < D; d0 += GLA_M_DT) {
        __syncthreads();                    /* the last tile's operands are consumed */
        for (int f = tid; f < GLA_M_CMAX * GLA_M_DT; f += GLA_M_THREADS) {
            const int i = f / GLA_M_DT, dd = f % GLA_M_DT;
            const bool in = i < c;
            const int64_t row = ((int64_t)b * N + t0 + i) * H + hq;
            sm.q[i][dd] = in ? __bfloat162float(q[row * D + d0 + dd]) : 0.0f;
            sm.k[i][dd] = in ? __bfloat162float(k[row * D + d0 + dd]) : 0.0f;
            if (key)
                sm.G[i][dd] = in ? __bfloat162float(g[(((int64_t)b * N + t0 + i) * Hv + j) * D + d0 + dd])
                                 : 0.0f;
        }
        __syncthreads();
        if (key) {
            if (tid < GLA_M_DT) {           /* cumulative sums down the columns */
                float run = 0.0f;
                for (int i = 0; i < c; i++) {
                    run += sm.G[i][tid];
                    sm.G[i][tid] = run;
                    Gc[(((int64_t)b * N + t0 + i) * Hv + j) * D + d0 + tid] = run;
                }
                for (int i = c; i < GLA_M_CMAX; i++)
                    sm.G[i][tid] = run;     /* rows past the chunk: factors stay ≤ 1 */
            }
            __syncthreads();
        }
        /* The bf16 operands of this tile. */
        for (int f = tid; f < GLA_M_CMAX * GLA_M_DT; f += GLA_M_THREADS) {
            const int i = f / GLA_M_DT, dd = f % GLA_M_DT;
            if (key) {
                const int r = i & ~15;      /* first token of i's sub-chunk */
                sm.qt[i][dd] = __float2bfloat16_rn(sm.q[i][dd] * gla_m_exp(sm.G[i][dd] - sm.G[r][dd]));
#pragma unroll
                for (int x = 1; x < 4; x++)     /* warp x's keys j < 16x, decayed to 16x */
                    if (i < 16 * x)
                        sm.kt[x][i][dd] = __float2bfloat16_rn(
                            sm.k[i][dd] * gla_m_exp(sm.G[16 * x][dd] - sm.G[i][dd]));
            } else {
                sm.qt[i][dd] = __float2bfloat16_rn(sm.q[i][dd]);
                sm.kt[0][i][dd] = __float2bfloat16_rn(sm.k[i][dd]);
            }
        }
        __syncthreads();
        /* Tensor cores: rows 16w.., columns 8n.. for n < nt_mma. */
        const bf16 *kt = &sm.kt[key ? w : 0][0][0];
#pragma unroll
        for (int ks = 0; ks < GLA_M_DT; ks += 16) {
            uint32_t a[4];
            gla_frag_a(a, &sm.qt[0][0], GLA_MS_LD, 16 * w, ks, gq, tq);
#pragma unroll
            for (int n = 0; n < 8; n++)
                if (n < nt_mma) {
                    uint32_t bb[2];
                    gla_frag_b(bb, kt, GLA_MS_LD, 8 * n, ks, gq, tq);
                    sb_mma_m16n8k16_bf16(acc[n], a, bb);
                    SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                }
        }
        /* gate=key: the diagonal block, one exp per term of G_i − G_j ≤ 0. */
        if (key && 16 * w < C) {
#pragma unroll
            for (int u = 0; u < 8; u++) {
                const int jj = dj0 + u;
                if (jj <= di) {
                    float s = diag[u];
#pragma unroll 4
                    for (int dd = 0; dd < GLA_M_DT; dd++)
                        s = fmaf(sm.q[di][dd] * sm.k[jj][dd], gla_m_exp(sm.G[di][dd] - sm.G[jj][dd]), s);
                    SB_COUNT_MACS(GLA_M_DT);
                    diag[u] = s;
                }
            }
        }
    }

    /* Gather the tile in shared memory: zeros, then each warp's part. */
    __syncthreads();
    for (int f = tid; f < GLA_M_CMAX * GLA_M_CMAX; f += GLA_M_THREADS)
        sm.a[f / GLA_M_CMAX][f % GLA_M_CMAX] = 0.0f;
    __syncthreads();
#pragma unroll
    for (int n = 0; n < 8; n++)
        if (n < nt_mma) {
#pragma unroll
            for (int x = 0; x < 4; x++) {
                const int i = 16 * w + gq + 8 * (x / 2), jj = 8 * n + 2 * tq + x % 2;
                float v = 0.0f;             /* past the diagonal or the chunk: 0 */
                if (jj <= i && i < c)
                    v = acc[n][x] * scale * (gate == GATE_HEAD ? gla_m_exp(sm.Gh[i] - sm.Gh[jj]) : 1.0f);
                sm.a[i][jj] = v;
            }
        }
    if (key && 16 * w < C) {
#pragma unroll
        for (int u = 0; u < 8; u++)
            sm.a[di][dj0 + u] = dj0 + u <= di && di < c ? diag[u] * scale : 0.0f;
    }
    __syncthreads();
    bf16 *At = A + (((int64_t)b * Hv + j) * nch + chunk) * C * C;
    for (int f = tid; f < C * C; f += GLA_M_THREADS)
        At[f] = __float2bfloat16_rn(sm.a[f / C][f % C]);
}

/* ---- the state walk ---------------------------------------------------------------- */

#define GLA_MC_LDC (GLA_M_CMAX + GLA_M_PAD)     /* rows whose k runs over a chunk */

/* Shared memory of gla_mma_chunk_kernel, in bf16 elements (decay: fp32 after). */
template <int D> struct gla_mc_smem {
    static constexpr int ldd = D + GLA_M_PAD;               /* rows whose k runs over D */
    static constexpr int qg = GLA_M_CMAX * ldd;             /* [i][d]  scale·q e^{G} */
    static constexpr int kdt = D * GLA_MC_LDC;              /* [d][j]  k e^{G_last − G}, transposed */
    static constexpr int vt = GLA_M_DVS * GLA_MC_LDC;       /* [e][j]  v, transposed */
    static constexpr int a = GLA_M_CMAX * GLA_MC_LDC;       /* [i][j]  scores */
    static constexpr int st = GLA_M_DVS * ldd;              /* [e][d]  the state, bf16, transposed */
    static constexpr int halves = qg + kdt + vt + a + st;
    static constexpr size_t bytes = (size_t)halves * sizeof(bf16) + (size_t)D * sizeof(float);
    static_assert(halves % 8 == 0, "the fp32 decay row starts 16-byte aligned");
};

template <int D>
__global__ void __launch_bounds__(GLA_M_THREADS, 1)
gla_mma_chunk_kernel(const bf16 *__restrict__ q, const bf16 *__restrict__ k,
                     const bf16 *__restrict__ v, const bf16 *__restrict__ h0,
                     const float *__restrict__ Gc, const bf16 *__restrict__ A,
                     bf16 *__restrict__ out, bf16 *__restrict__ ht, int N, int H, int Hv, int Dv,
                     int C, int gate, float scale)
{
    using SM = gla_mc_smem<D>;
    constexpr int MT = D / 64;              /* m-tiles of S per warp: D/4 rows */
    bf16 *sQg = static_cast<bf16 *>(sb_dynamic_smem());
    bf16 *sKdt = sQg + SM::qg, *sVt = sKdt + SM::kdt, *sA = sVt + SM::vt, *sSt = sA + SM::a;
    float *sDecay = reinterpret_cast<float *>(sSt + SM::st);

    const int e0 = blockIdx.x * GLA_M_DVS, j = blockIdx.y, b = blockIdx.z, hq = j / (Hv / H);
    const int tid = threadIdx.x, w = tid / 32, lane = tid % 32, gq = lane / 4, tq = lane % 4;
    const int nch = (N + C - 1) / C, nsub = C / 16;
    const int Dg = gate == GATE_KEY ? D : 1;
    const int64_t st0 = ((int64_t)b * Hv + j) * D * Dv + e0;     /* h0/ht[b, j, 0, e0] */

    /* S[d][e], d = w·D/4 + 16m + g (+8), e = 8n + 2t (+1): fp32 accumulators. */
    float S[MT][4][4];
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
        for (int n = 0; n < 4; n++)
#pragma unroll
            for (int x = 0; x < 4; x++) {
                const int d = w * (D / 4) + 16 * m + gq + 8 * (x / 2), e = 8 * n + 2 * tq + x % 2;
                S[m][n][x] = h0 ? __bfloat162float(h0[st0 + (int64_t)d * Dv + e]) : 0.0f;
            }

    for (int chunk = 0; chunk < nch; chunk++) {
        const int64_t t0 = (int64_t)chunk * C;
        const int c = (int)min((int64_t)C, (int64_t)N - t0);
        const int64_t last = ((int64_t)b * N + t0 + c - 1) * Hv + j;   /* Gc row of G_last */
        __syncthreads();                    /* the last chunk's operands are consumed */

        for (int f = tid; f < C * GLA_M_DVS; f += GLA_M_THREADS) {
            const int i = f / GLA_M_DVS, e = f % GLA_M_DVS;
            sVt[e * GLA_MC_LDC + i] = i < c ? v[(((int64_t)b * N + t0 + i) * Hv + j) * Dv + e0 + e]
                                            : __float2bfloat16_rn(0.0f);
        }
        const bf16 *At = A + (((int64_t)b * Hv + j) * nch + chunk) * C * C;
        for (int f = tid; f < C * C; f += GLA_M_THREADS)
            sA[(f / C) * GLA_MC_LDC + f % C] = At[f];
        for (int d = tid; d < D; d += GLA_M_THREADS)
            sDecay[d] = gate == GATE_NONE ? 1.0f : gla_m_exp(Gc[last * Dg + (gate == GATE_KEY ? d : 0)]);
        for (int f = tid; f < C * D; f += GLA_M_THREADS) {
            const int i = f / D, d = f % D;
            float qv = 0.0f, kv = 0.0f;
            if (i < c) {
                const int64_t row = ((int64_t)b * N + t0 + i) * H + hq;
                qv = scale * __bfloat162float(q[row * D + d]);
                kv = __bfloat162float(k[row * D + d]);
                if (gate != GATE_NONE) {
                    const int x = gate == GATE_KEY ? d : 0;
                    const float Gi = Gc[(((int64_t)b * N + t0 + i) * Hv + j) * Dg + x];
                    qv *= gla_m_exp(Gi);
                    kv *= gla_m_exp(Gc[last * Dg + x] - Gi);
                }
            }
            sQg[i * SM::ldd + d] = __float2bfloat16_rn(qv);
            sKdt[d * GLA_MC_LDC + i] = __float2bfloat16_rn(kv);
        }
        /* The state before this chunk, bf16, as the readout's B operand [e][d]. */
#pragma unroll
        for (int m = 0; m < MT; m++)
#pragma unroll
            for (int n = 0; n < 4; n++)
#pragma unroll
                for (int x = 0; x < 4; x++) {
                    const int d = w * (D / 4) + 16 * m + gq + 8 * (x / 2), e = 8 * n + 2 * tq + x % 2;
                    sSt[e * SM::ldd + d] = __float2bfloat16_rn(S[m][n][x]);
                }
        __syncthreads();

        if (w < nsub) {                     /* warp w: output rows 16w .. 16w+15 */
            float o[4][4];
#pragma unroll
            for (int n = 0; n < 4; n++)
#pragma unroll
                for (int x = 0; x < 4; x++)
                    o[n][x] = 0.0f;
#pragma unroll 2
            for (int ks = 0; ks < D; ks += 16) {        /* inter: (scale·q e^{G}) S */
                uint32_t a[4];
                gla_frag_a(a, sQg, SM::ldd, 16 * w, ks, gq, tq);
#pragma unroll
                for (int n = 0; n < 4; n++) {
                    uint32_t bb[2];
                    gla_frag_b(bb, sSt, SM::ldd, 8 * n, ks, gq, tq);
                    sb_mma_m16n8k16_bf16(o[n], a, bb);
                    SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                }
            }
            for (int ks = 0; ks <= w; ks++) {           /* intra: A V over j < 16(w+1) */
                uint32_t a[4];
                gla_frag_a(a, sA, GLA_MC_LDC, 16 * w, 16 * ks, gq, tq);
#pragma unroll
                for (int n = 0; n < 4; n++) {
                    uint32_t bb[2];
                    gla_frag_b(bb, sVt, GLA_MC_LDC, 8 * n, 16 * ks, gq, tq);
                    sb_mma_m16n8k16_bf16(o[n], a, bb);
                    SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                }
            }
#pragma unroll
            for (int n = 0; n < 4; n++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int i = 16 * w + gq + 8 * h;
                    if (i < c) {
                        const __nv_bfloat162 pair = __floats2bfloat162_rn(o[n][2 * h], o[n][2 * h + 1]);
                        *reinterpret_cast<__nv_bfloat162 *>(
                            out + (((int64_t)b * N + t0 + i) * Hv + j) * Dv + e0 + 8 * n + 2 * tq) = pair;
                    }
                }
        }

        /* state: S = e^{G_last} ⊙ S + (k e^{G_last − G})ᵀ V, warp w's rows of S. */
#pragma unroll
        for (int m = 0; m < MT; m++) {
            const int d = w * (D / 4) + 16 * m + gq;
            const float lo = sDecay[d], hi = sDecay[d + 8];
#pragma unroll
            for (int n = 0; n < 4; n++) {
                S[m][n][0] *= lo, S[m][n][1] *= lo;
                S[m][n][2] *= hi, S[m][n][3] *= hi;
            }
        }
        for (int ks = 0; ks < nsub; ks++) {
#pragma unroll
            for (int m = 0; m < MT; m++) {
                uint32_t a[4];
                gla_frag_a(a, sKdt, GLA_MC_LDC, w * (D / 4) + 16 * m, 16 * ks, gq, tq);
#pragma unroll
                for (int n = 0; n < 4; n++) {
                    uint32_t bb[2];
                    gla_frag_b(bb, sVt, GLA_MC_LDC, 8 * n, 16 * ks, gq, tq);
                    sb_mma_m16n8k16_bf16(S[m][n], a, bb);
                    SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                }
            }
        }
    }

    if (ht) {
#pragma unroll
        for (int m = 0; m < MT; m++)
#pragma unroll
            for (int n = 0; n < 4; n++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int d = w * (D / 4) + 16 * m + gq + 8 * h, e = 8 * n + 2 * tq;
                    *reinterpret_cast<__nv_bfloat162 *>(ht + st0 + (int64_t)d * Dv + e) =
                        __floats2bfloat162_rn(S[m][n][2 * h], S[m][n][2 * h + 1]);
                }
    }
}

/* ---- host --------------------------------------------------------------------------- */

struct gla_mma_state {
    struct gla_dev dev;
    float *Gc;              /* parts of dev.work */
    bf16 *A;
    struct sb_plan scores, chunk;
};

static int64_t gla_m_chunks(const struct shape *s)
{
    return (s->N + s->chunk - 1) / s->chunk;
}

static int64_t gla_m_gc_floats(const struct shape *s)
{
    const int64_t Dg = s->gate == GATE_KEY ? s->D : s->gate == GATE_HEAD ? 1 : 0;
    return s->B * s->N * s->Hv * Dg;
}

/* Bytes of Gc, rounded up so that A starts 16-byte aligned. */
static int64_t gla_m_a_offset(const struct shape *s)
{
    return (gla_m_gc_floats(s) * (int64_t)sizeof(float) + 15) & ~(int64_t)15;
}

extern "C" int64_t gla_cuda_opt_workspace_bytes(const struct shape *s)
{
    const int64_t a = s->B * s->Hv * gla_m_chunks(s) * s->chunk * s->chunk;
    return gla_m_a_offset(s) + a * (int64_t)sizeof(bf16);
}

/* The launches: as gla_fwd.cu's, with the operands' shared memory. */
static struct sb_plan gla_mma_scores_plan(const struct shape *s)
{
    return { "gla_mma_scores_kernel", { gla_m_chunks(s), s->Hv, s->B }, GLA_M_THREADS, sizeof(gla_ms_smem) };
}

static struct sb_plan gla_mma_chunk_plan(const struct shape *s)
{
    const size_t smem = s->D == 64    ? gla_mc_smem<64>::bytes
                      : s->D == 128   ? gla_mc_smem<128>::bytes
                                      : gla_mc_smem<256>::bytes;
    return { "gla_mma_chunk_kernel", { s->Dv / GLA_M_DVS, s->Hv, s->B }, GLA_M_THREADS, smem };
}

template <int D>
static int gla_mma_prepare(struct op_ctx *ctx, const struct gla_mma_state *st)
{
    int rc = sb_plan_prepare(ctx, (const void *)gla_mma_scores_kernel, &st->scores, "cuda-opt");
    return rc != SB_OK ? rc : sb_plan_prepare(ctx, (const void *)gla_mma_chunk_kernel<D>, &st->chunk, "cuda-opt");
}

template <int D>
static int gla_mma_launch(struct op_ctx *ctx, const struct gla_mma_state *st)
{
    const struct shape *s = ctx->shape;
    const struct gla_dev *d = &st->dev;
    const float scale = (float)ctx->scale;
    int rc = sb_launch(ctx, gla_mma_scores_kernel, st->scores, (const bf16 *)d->q, (const bf16 *)d->k,
                       (const bf16 *)d->g, st->Gc, st->A, (int)s->N, (int)s->H, (int)s->Hv, D,
                       (int)s->chunk, (int)s->gate, scale);
    if (rc != SB_OK)
        return rc;
    return sb_launch(ctx, gla_mma_chunk_kernel<D>, st->chunk, (const bf16 *)d->q, (const bf16 *)d->k,
                     (const bf16 *)d->v, (const bf16 *)d->h0, (const float *)st->Gc,
                     (const bf16 *)st->A, (bf16 *)d->out, (bf16 *)d->ht, (int)s->N, (int)s->H,
                     (int)s->Hv, (int)s->Dv, (int)s->chunk, (int)s->gate, scale);
}

static const struct {
    int D;
    int (*prepare)(struct op_ctx *, const struct gla_mma_state *);
    int (*launch)(struct op_ctx *, const struct gla_mma_state *);
} gla_mma_variants[] = {
    { 64, gla_mma_prepare<64>, gla_mma_launch<64> },
    { 128, gla_mma_prepare<128>, gla_mma_launch<128> },
    { 256, gla_mma_prepare<256>, gla_mma_launch<256> },
};

static int gla_mma_variant(const struct shape *s)
{
    for (int i = 0; i < (int)(sizeof gla_mma_variants / sizeof gla_mma_variants[0]); i++)
        if (gla_mma_variants[i].D == s->D)
            return i;
    return -1;
}

static int gla_mma_check(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    int rc = gla_check_common(ctx, "cuda-opt");
    if (rc != SB_OK)
        return rc;
    if (s->dtype != DT_BF16) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-opt: dtype %s: bf16 only (tensor-core operands)",
                 dtype_table[s->dtype].name);
        return SB_UNSUPPORTED;
    }
    if (s->chunk % 16 != 0 || s->chunk > GLA_M_CMAX) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-opt: chunk=%lld not supported (16, 32, 48, 64)",
                 (long long)s->chunk);
        return SB_UNSUPPORTED;
    }
    return SB_OK;
}

extern "C" int gla_cuda_opt_setup(struct op_ctx *ctx)
{
    int rc = gla_mma_check(ctx);
    if (rc != SB_OK)
        return rc;
    struct gla_mma_state *st = (struct gla_mma_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-opt: out of host memory");
        return SB_OOM;
    }
    ctx->priv = st;
    st->scores = gla_mma_scores_plan(ctx->shape);
    st->chunk = gla_mma_chunk_plan(ctx->shape);
    if ((rc = gla_mma_variants[gla_mma_variant(ctx->shape)].prepare(ctx, st)) != SB_OK ||
        (rc = gla_dev_setup(ctx, &st->dev, (size_t)gla_cuda_opt_workspace_bytes(ctx->shape))) != SB_OK) {
        gla_free_priv(ctx);
        return rc;
    }
    st->Gc = (float *)st->dev.work;
    st->A = (bf16 *)((char *)st->dev.work + gla_m_a_offset(ctx->shape));
    return SB_OK;
}

extern "C" int gla_cuda_opt_run(struct op_ctx *ctx)
{
    const struct gla_mma_state *st = (const struct gla_mma_state *)ctx->priv;
    return gla_mma_variants[gla_mma_variant(ctx->shape)].launch(ctx, st);
}

extern "C" int gla_cuda_opt_fetch(struct op_ctx *ctx)
{
    return gla_dev_fetch(ctx, &((const struct gla_mma_state *)ctx->priv)->dev);
}

extern "C" void gla_cuda_opt_teardown(struct op_ctx *ctx)
{
    gla_free_priv(ctx);
}
