/*
 * ssd_chunk_mma.cu — family "ssm", variant ssd, implementation "cuda-opt":
 * the chunked algorithm of ssd_chunk.cu (reference/ssm_ssd.c) with every
 * product on the tensor cores, mma.sync m16n8k16 with bf16 operands and fp32
 * accumulators (sm_80+); bf16 in memory, the states in fp32.
 * sass-expect: HMMA
 *
 *   ssd_mma_state_kernel   a block per (chunk, head, batch), 8 warps: Λ and
 *       the weights w_j = e^{Λ_last − Λ_j} dt_j (ssd_dev.cuh), then
 *       S_c = (w ⊙ x)ᵀ B over the chunk's tokens, K = 16 tokens a step;
 *       the (P/16)·(Ds/8) output tiles dealt to the warps round-robin
 *   ssd_state_pass_kernel  (ssd_dev.cuh) states[c] becomes the state
 *       entering chunk c, ht the last
 *   ssd_mma_out_kernel     a block per (SSD_MQT query rows, head, batch),
 *       8 warps, warp w on query rows 16·(w % 4) and half w / 4 of the
 *       columns:  Y = e^{Λ_i} (C h_inᵀ)  (K = Ds), then per key tile
 *       M = (C Bᵀ) ⊙ e^{Λ_i − Λ_j} masked to j ≤ i (K = Ds, rounded to bf16
 *       in shared memory) and Y += M x̃ (K = the tile's 64 tokens).
 *
 * Operands in shared memory are bf16, k-contiguous ([row][k] for A, [n][k]
 * for B), rows padded by 8 elements so a warp's fragment loads (8 rows × 4
 * consecutive words) fall in 32 distinct banks. The state in the workspace
 * is [P][Ds] fp32: as the B operand of C h_inᵀ ([n = p][k = Ds]) it is
 * already k-contiguous. Fragment layout of m16n8k16 (PTX ISA, "Matrix
 * fragments for mma.m16n8k16"): lane = 4g + t; A: a0 (row g, k 2t..2t+1),
 * a1 (row g+8), a2 (row g, k 2t+8..), a3 (row g+8, k 2t+8..); B: b0
 * (k 2t..2t+1, col g), b1 (k 2t+8.., col g); C: c0, c1 (row g, cols 2t,
 * 2t+1), c2, c3 (row g+8).
 *
 * Rounding (bf16 operands): w ⊙ x, B, C, the state entering a chunk, the
 * scores M and x̃ = dt·x; sums in fp32.
 *
 * Shapes: bf16; P ∈ {32, 64, 128}, Ds ∈ {16, 32, 64, 128}, P·Ds ≤ 8192;
 * chunk a multiple of 64 up to 256. Shared memory of the output kernel
 * 2·(2·64·(Ds+8) + P·(Ds+8) + P·72 + 64·72) + 512 bytes: 69.5 KiB at P = 64,
 * Ds = 128.
 *
 * Status: compiled for sm_80/89/90a (build/ops/ssm/ssd_chunk_mma.ptxas);
 * mma.sync emulated to the PTX ISA (ops/ptx.cuh), the three kernels and
 * their plans run on the CPU from this source, host code included, under
 * ASan/UBSan and TSan against the float64 reference (tests/cuda_on_cpu.sh);
 * never on a GPU.
 */
#include <stdint.h>

#include "../ptx.cuh"
#include "ssd_dev.cuh"

#define SSD_MQT SSD_GPU_QT      /* query rows of an output block; key rows of its tiles */
#define SSD_MKT SSD_GPU_MKT     /* tokens per shared-memory stage of the state kernel */
#define SSD_MPAD 8              /* bf16 elements after each operand row */
#define SSD_MWARPS (SSD_THREADS / 32)

typedef __nv_bfloat16 bf16;

static __device__ __forceinline__ uint32_t ssd_ld32(const bf16 *p)
{
    return *reinterpret_cast<const uint32_t *>(p);
}

/* The A fragment of rows r0 .. r0+15, k0 .. k0+15 of a [row][k] operand
 * with row stride ld. */
static __device__ __forceinline__ void ssd_frag_a(uint32_t a[4], const bf16 *s, int ld, int r0, int k0)
{
    const int lane = threadIdx.x & 31, g = lane / 4, t = lane % 4;
    const bf16 *p = s + (r0 + g) * ld + k0 + 2 * t;
    a[0] = ssd_ld32(p), a[1] = ssd_ld32(p + 8 * ld), a[2] = ssd_ld32(p + 8), a[3] = ssd_ld32(p + 8 * ld + 8);
}

/* The B fragment of columns n0 .. n0+7, k0 .. k0+15 of an [n][k] operand. */
static __device__ __forceinline__ void ssd_frag_b(uint32_t b[2], const bf16 *s, int ld, int n0, int k0)
{
    const int lane = threadIdx.x & 31, g = lane / 4, t = lane % 4;
    const bf16 *p = s + (n0 + g) * ld + k0 + 2 * t;
    b[0] = ssd_ld32(p), b[1] = ssd_ld32(p + 8);
}

template <int TP, int TN>
__global__ void __launch_bounds__(SSD_THREADS)
ssd_mma_state_kernel(const ssd_args<bf16> p)
{
    constexpr int P = 16 * TP, Ds = 16 * TN, NT = Ds / 8, TILES = TP * NT;
    constexpr int TPW = (TILES + SSD_MWARPS - 1) / SSD_MWARPS, LD = SSD_MKT + SSD_MPAD;
    __shared__ float s_lam[SSD_CMAX], s_w[SSD_CMAX], warp_sums[SSD_MWARPS];
    __shared__ __align__(16) bf16 sXT[P][LD], sBT[Ds][LD];     /* [p][token], [n][token] */
    const int ci = blockIdx.x, h = blockIdx.y, b = blockIdx.z, g = h / (p.H / p.G);
    const int64_t c0 = (int64_t)ci * p.chunk, bh = (int64_t)b * p.H + h;
    const int c = (int)(p.L - c0 < p.chunk ? p.L - c0 : p.chunk);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    ssd_chunk_decay(p, bh, c0, c, s_lam, s_w, warp_sums);

    float acc[TPW][4] = {};
    for (int j0 = 0; j0 < c; j0 += SSD_MKT) {
        for (int e = tid; e < SSD_MKT * P; e += SSD_THREADS) {
            const int j = e / P, q = e % P;
            const int64_t tok = (int64_t)b * p.L + c0 + j0 + j;
            sXT[q][j] = __float2bfloat16_rn(
                j0 + j < c ? __bfloat162float(p.x[(tok * p.H + h) * P + q]) * s_w[j0 + j] : 0.0f);
        }
        for (int e = tid; e < SSD_MKT * Ds; e += SSD_THREADS) {
            const int j = e / Ds, n = e % Ds;
            const int64_t tok = (int64_t)b * p.L + c0 + j0 + j;
            sBT[n][j] = j0 + j < c ? p.B[(tok * p.G + g) * Ds + n] : __float2bfloat16_rn(0.0f);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < SSD_MKT; kk += 16)
#pragma unroll
            for (int u = 0; u < TPW; u++) {
                const int tile = warp + SSD_MWARPS * u;
                if (TILES % SSD_MWARPS == 0 || tile < TILES) {
                    uint32_t af[4], bfr[2];
                    ssd_frag_a(af, &sXT[0][0], LD, tile / NT * 16, kk);
                    ssd_frag_b(bfr, &sBT[0][0], LD, tile % NT * 8, kk);
                    SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                    sb_mma_m16n8k16_bf16(acc[u], af, bfr);
                }
            }
        __syncthreads();
    }
    float *S = p.states + (bh * p.nch + ci) * P * Ds;
    const int gq = lane / 4, t = lane % 4;
#pragma unroll
    for (int u = 0; u < TPW; u++) {
        const int tile = warp + SSD_MWARPS * u;
        if (TILES % SSD_MWARPS == 0 || tile < TILES)
#pragma unroll
            for (int v = 0; v < 4; v++)
                S[(tile / NT * 16 + gq + 8 * (v / 2)) * Ds + tile % NT * 8 + 2 * t + v % 2] = acc[u][v];
    }
}

/* Dynamic shared memory of ssd_mma_out_kernel, in bytes. */
static __host__ __device__ int ssd_mma_out_smem(int P, int Ds)
{
    const int ldd = Ds + SSD_MPAD, ldq = SSD_MQT + SSD_MPAD;
    return 2 * (2 * SSD_MQT * ldd + P * ldd + P * ldq + SSD_MQT * ldq) + 2 * SSD_MQT * 4;
}

template <int TP>
__global__ void __launch_bounds__(SSD_THREADS)
ssd_mma_out_kernel(const ssd_args<bf16> p)
{
    constexpr int P = 16 * TP, LDQ = SSD_MQT + SSD_MPAD;
    unsigned char *ssd_mma_smem = static_cast<unsigned char *>(sb_dynamic_smem());
    const int Ds = p.Ds, LDD = Ds + SSD_MPAD, tiles = p.chunk / SSD_MQT;
    const int ci = blockIdx.x / tiles, h = blockIdx.y, b = blockIdx.z, g = h / (p.H / p.G);
    const int64_t c0 = (int64_t)ci * p.chunk, i0 = c0 + (int64_t)(blockIdx.x % tiles) * SSD_MQT;
    if (i0 >= p.L)
        return;                                     /* the whole block: no barrier waits */
    const int64_t bh = (int64_t)b * p.H + h, tok0 = (int64_t)b * p.L;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, gq = lane / 4, t = lane % 4;
    const int mt = warp % 4, half = warp / 4;       /* rows 16·mt .., columns of this half */
    bf16 *sC = (bf16 *)ssd_mma_smem;               /* [QT][Ds+8] */
    bf16 *sB = sC + SSD_MQT * LDD;                  /* [QT][Ds+8] a key tile's B */
    bf16 *sH = sB + SSD_MQT * LDD;                  /* [P][Ds+8] the state entering the chunk */
    bf16 *sXT = sH + P * LDD;                       /* [P][QT+8] x̃ of a key tile, transposed */
    bf16 *sM = sXT + P * LDQ;                       /* [QT][QT+8] the masked scores */
    float *s_lq = (float *)(sM + SSD_MQT * LDQ), *s_lk = s_lq + SSD_MQT;

    for (int e = tid; e < SSD_MQT * Ds; e += SSD_THREADS) {
        const int i = e / Ds, n = e % Ds;
        sC[i * LDD + n] = i0 + i < p.L ? p.C[((tok0 + i0 + i) * p.G + g) * Ds + n] : __float2bfloat16_rn(0.0f);
    }
    for (int i = tid; i < SSD_MQT; i += SSD_THREADS)
        s_lq[i] = i0 + i < p.L ? p.lam[bh * p.L + i0 + i] : 0.0f;
    const float *hin = p.states + (bh * p.nch + ci) * P * Ds;
    for (int e = tid; e < P * Ds; e += SSD_THREADS)
        sH[e / Ds * LDD + e % Ds] = __float2bfloat16_rn(hin[e]);
    __syncthreads();

    /* inter: Y = e^{Λ_i} C h_inᵀ, this warp's TP n-tiles of 8 columns */
    float acc[TP][4] = {};
    for (int kk = 0; kk < Ds; kk += 16) {
        uint32_t af[4];
        ssd_frag_a(af, sC, LDD, 16 * mt, kk);
#pragma unroll
        for (int u = 0; u < TP; u++) {
            uint32_t bfr[2];
            ssd_frag_b(bfr, sH, LDD, 8 * (half * TP + u), kk);
            SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
            sb_mma_m16n8k16_bf16(acc[u], af, bfr);
        }
    }
    const float e0 = ssm_dev_exp(s_lq[16 * mt + gq]), e1 = ssm_dev_exp(s_lq[16 * mt + gq + 8]);
#pragma unroll
    for (int u = 0; u < TP; u++)
        acc[u][0] *= e0, acc[u][1] *= e0, acc[u][2] *= e1, acc[u][3] *= e1;

    for (int64_t j0 = c0; j0 <= i0; j0 += SSD_MQT) {
        __syncthreads();                            /* the last tile's operands are used */
        for (int e = tid; e < SSD_MQT * Ds; e += SSD_THREADS) {
            const int j = e / Ds, n = e % Ds;
            sB[j * LDD + n] = j0 + j < p.L ? p.B[((tok0 + j0 + j) * p.G + g) * Ds + n] : __float2bfloat16_rn(0.0f);
        }
        for (int e = tid; e < SSD_MQT * P; e += SSD_THREADS) {
            const int j = e / P, q = e % P;
            const int64_t tok = tok0 + j0 + j;
            sXT[q * LDQ + j] = __float2bfloat16_rn(
                j0 + j < p.L ? __bfloat162float(p.x[(tok * p.H + h) * P + q]) * __bfloat162float(p.dt[tok * p.H + h])
                             : 0.0f);
        }
        for (int j = tid; j < SSD_MQT; j += SSD_THREADS)
            s_lk[j] = j0 + j < p.L ? p.lam[bh * p.L + j0 + j] : 0.0f;
        __syncthreads();
        /* scores: this warp's rows, key columns 32·half .. 32·half + 31 */
        float sc[4][4] = {};
        for (int kk = 0; kk < Ds; kk += 16) {
            uint32_t af[4];
            ssd_frag_a(af, sC, LDD, 16 * mt, kk);
#pragma unroll
            for (int u = 0; u < 4; u++) {
                uint32_t bfr[2];
                ssd_frag_b(bfr, sB, LDD, 8 * (4 * half + u), kk);
                SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                sb_mma_m16n8k16_bf16(sc[u], af, bfr);
            }
        }
#pragma unroll
        for (int u = 0; u < 4; u++)
#pragma unroll
            for (int v = 0; v < 4; v++) {
                const int i = 16 * mt + gq + 8 * (v / 2), j = 8 * (4 * half + u) + 2 * t + v % 2;
                const float m = j0 + j <= i0 + i ? sc[u][v] * ssm_dev_exp(s_lq[i] - s_lk[j]) : 0.0f;
                sM[i * LDQ + j] = __float2bfloat16_rn(m);
            }
        __syncthreads();
        /* intra: Y += M x̃ over the tile's tokens */
#pragma unroll
        for (int kk = 0; kk < SSD_MQT; kk += 16) {
            uint32_t af[4];
            ssd_frag_a(af, sM, LDQ, 16 * mt, kk);
#pragma unroll
            for (int u = 0; u < TP; u++) {
                uint32_t bfr[2];
                ssd_frag_b(bfr, sXT, LDQ, 8 * (half * TP + u), kk);
                SB_COUNT_MACS(SB_MMA_M16N8K16_LANE_MACS);
                sb_mma_m16n8k16_bf16(acc[u], af, bfr);
            }
        }
    }

    const float Dh = p.D ? __bfloat162float(p.D[h]) : 0.0f;
#pragma unroll
    for (int u = 0; u < TP; u++)
#pragma unroll
        for (int v = 0; v < 4; v++) {
            const int64_t tk = i0 + 16 * mt + gq + 8 * (v / 2);
            if (tk < p.L)
                ssd_store_out(p, tok0 + tk, h, 8 * (half * TP + u) + 2 * t + v % 2, acc[u][v], Dh);
        }
}

/* ---- host ------------------------------------------------------------------------ */

static struct ssd_plans ssd_mma_plans(const struct shape *s)
{
    return ssd_plans_of(s, "ssd_mma_state_kernel", "ssd_mma_out_kernel",
                        (size_t)ssd_mma_out_smem((int)s->P, (int)s->Ds));
}

template <int TP, int TN>
static int ssd_mma_launch(struct op_ctx *ctx)
{
    const ssd_args<bf16> a = ssd_args_of<bf16>(ctx);
    const struct ssd_plans pl = ssd_mma_plans(ctx->shape);
    int rc;
    if ((rc = sb_launch(ctx, ssd_mma_state_kernel<TP, TN>, pl.state, a)) != SB_OK ||
        (rc = sb_launch(ctx, ssd_state_pass_kernel<bf16>, pl.pass, a)) != SB_OK)
        return rc;
    return sb_launch(ctx, ssd_mma_out_kernel<TP>, pl.out, a);
}

/* The plans against the device (the output kernel's shared memory opted in). */
template <int TP, int TN>
static int ssd_mma_prepare(struct op_ctx *ctx)
{
    return ssd_prepare(ctx, ssd_mma_plans(ctx->shape), (const void *)ssd_mma_state_kernel<TP, TN>,
                       (const void *)ssd_state_pass_kernel<bf16>, (const void *)ssd_mma_out_kernel<TP>,
                       "cuda-opt");
}

#define SSD_MMA_VARIANT(P, Ds) { P, Ds, ssd_mma_prepare<P / 16, Ds / 16>, ssd_mma_launch<P / 16, Ds / 16> }

static const struct {
    int P, Ds;
    int (*prepare)(struct op_ctx *);
    int (*launch)(struct op_ctx *);
} ssd_mma_variants[] = {
    SSD_MMA_VARIANT(32, 16), SSD_MMA_VARIANT(32, 32), SSD_MMA_VARIANT(32, 64),
    SSD_MMA_VARIANT(32, 128), SSD_MMA_VARIANT(64, 16), SSD_MMA_VARIANT(64, 32),
    SSD_MMA_VARIANT(64, 64), SSD_MMA_VARIANT(64, 128), SSD_MMA_VARIANT(128, 16),
    SSD_MMA_VARIANT(128, 32), SSD_MMA_VARIANT(128, 64),
};

static int ssd_mma_variant(const struct shape *s)
{
    for (int i = 0; i < (int)(sizeof ssd_mma_variants / sizeof ssd_mma_variants[0]); i++)
        if (ssd_mma_variants[i].P == s->P && ssd_mma_variants[i].Ds == s->Ds)
            return i;
    return -1;
}

extern "C" int64_t ssd_cuda_opt_workspace_bytes(const struct shape *s)
{
    return ssd_workspace_bytes(s);
}

extern "C" int ssd_cuda_opt_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const int v = ssd_mma_variant(s);
    if (s->dtype != DT_BF16 || v < 0) {
        snprintf(ctx->err, sizeof ctx->err,
                 "cuda-opt: %s P=%lld Ds=%lld not supported (bf16; P 32/64/128, Ds 16/32/64/128, "
                 "P·Ds <= 8192)", dtype_table[s->dtype].name, (long long)s->P, (long long)s->Ds);
        return SB_UNSUPPORTED;
    }
    int rc = ssd_check_chunk(ctx, "cuda-opt");
    if (rc == SB_OK)
        rc = ssd_mma_variants[v].prepare(ctx);
    return rc != SB_OK ? rc
                       : ssm_dev_open(ctx, sizeof(struct ssm_dev), (size_t)ssd_workspace_bytes(s), "cuda-opt");
}

extern "C" int ssd_cuda_opt_run(struct op_ctx *ctx)
{
    return ssd_mma_variants[ssd_mma_variant(ctx->shape)].launch(ctx);
}

extern "C" int ssd_cuda_opt_fetch(struct op_ctx *ctx)
{
    return ssm_dev_fetch(ctx);
}

extern "C" void ssd_cuda_opt_teardown(struct op_ctx *ctx)
{
    ssm_dev_close(ctx);
}
