/*
 * flash_fwd.cu — family "flash", implementation "cuda": a first fused
 * attention forward kernel, plain fp32 FMA (no tensor cores yet).
 *
 *   O = softmax(scale·QKᵀ + causal mask)·V, the N×Nk scores never in memory.
 *
 * q [B,N,H,D], k [B,Nk,Hkv,D], v [B,Nk,Hkv,D], out [B,N,H,D], token-major
 * (reference/attention.c: math, FLOP and byte formulas); fp32 or bf16 in
 * memory, fp32 in registers; D = Dv ∈ {64, 128}; head h reads kv head
 * h / (H/Hkv); causal aligned bottom-right (key j visible to query i iff
 * j <= i + Nk - N); decode (N = 1..16, long Nk) is a grid of single-row tiles
 * whose keys are split (split-KV, below).
 *
 * Algorithm: the one flash/cpu runs (reference/flash.c), tile for tile:
 * one block per (query tile of FLASH_BR rows, head, batch); key tiles of
 * FLASH_BC keys streamed through shared memory; online softmax in base 2
 * (scale·log2 e folded into Q as it is loaded), the accumulator rescaled by
 * 2^(m_old - m_new) once per key tile; causal: key tiles past the last row's
 * diagonal are never loaded, the mask is applied only to tiles that cross
 * the first row's diagonal or the end of the keys. Every row sees the first
 * key of the block's range (key 0, or its split's first: flash_tiles.h), in
 * the first tile, so the running max is finite from the first tile on.
 *
 * Split-KV (Flash-Decoding), for grids too small for the GPU: when the
 * (query tile, head, batch) blocks are fewer than FLASH_SPLIT_BELOW per SM,
 * flash_splits() (flash_tiles.h; the device's SM count) cuts each tile's
 * keys into splits of plan.len keys (a multiple of FLASH_BC, at most
 * FLASH_MAX_SPLITS; B = 4, H = 16, N = 1, Nk = 128K on 132 SMs: 9 splits of
 * 14592 keys, 576 blocks). blockIdx.x is then (tile, split); each block runs
 * the loop above over its keys [jb, je) and writes its rows' unnormalised O
 * with their m and l into a workspace (layout: struct flash_partials in
 * reference/flash.c); flash_combine_kernel merges a row's splits:
 * m* = max m_s, l* = Σ l_s·2^(m_s - m*), O = Σ O_s·2^(m_s - m*) / l*. Every
 * split starts at a key all its tile's rows see, so m_s is finite. The
 * workspace, B·N·H·splits·(D + 2) fp32 (4.8 MB for that case at N = 16), is
 * what flash_cuda_workspace_bytes reports. Prefill grids are large enough:
 * one split, no workspace, no second kernel.
 *
 * Thread mapping (FLASH_THREADS = 128 as a 16 × 8 grid, ty = tid / 8,
 * tx = tid % 8; the 8 threads of a ty are 8 consecutive lanes of one warp):
 *   rows   thread (ty, tx) owns query rows ty + 16·i, i < 4, in both products,
 *          so a row's max and sum are reduced over its 8 threads by
 *          xor-shuffles 1, 2, 4;
 *   S      keys tx + 8·c, c < 8: a 4×8 micro-tile of S = Q·Kᵀ, each step
 *          loading 4 float4 of Q and 8 float4 of K for 128 FMAs;
 *   O      dims 4·tx + 32·g + {0..3}, g < D/32: a 4×(D/8) micro-tile of
 *          O += P·V (64 fp32 accumulators at D = 128), 4 keys per step
 *          loading 4 float4 of P and D/8 float4 of V for 4·4·D/8 = 2·D FMAs.
 * Shared memory, all fp32 (bf16 is widened while a tile is loaded, so one
 * code path computes both dtypes):
 *   sQ  [FLASH_BR][D + 4]   the query tile, pre-scaled
 *   sKV [FLASH_BC][D + 4]   the K tile, then the V tile (one buffer: with two,
 *                           D = 128 needs 112 KiB, over sm_89's 99 KiB)
 *   sP  [FLASH_BR][FLASH_BC + 8]  the probabilities of the key tile
 * = 84 KiB at D = 128, 52 KiB at D = 64 (dynamic, opted in past 48 KiB):
 * blocks per SM at D = 128 / 64: 2 / 3 on sm_90 (228 KiB, registers cap
 * D = 64 at 3), 1 / 3 on sm_80 (164 KiB), 1 / 1 on sm_86/89 (100 KiB).
 * (Two D = 128 blocks on sm_80 would need the pads replaced by a swizzle:
 * 80 KiB.) The pads make every
 * access conflict-free: a warp reads 4 rows of sQ (row stride ≡ 4 banks),
 * 8 rows of sKV in the S step (8 × 4 distinct banks), 32 consecutive floats
 * of a sKV row in the O step, and writes/reads 4 rows of sP (stride ≡ 8).
 *
 * Status: compiled for sm_80/89/90a with no spills and no local memory
 * (build/ops/flash/flash_fwd.ptxas); both kernels and their launch plans
 * run on the CPU from this source, host code included, under ASan/UBSan
 * and TSan against the float64 reference (tests/cuda_on_cpu.sh); never on a
 * GPU.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "../common.cuh"
#include "../ops.h"
#include "../../reference/flash.h"
#include "flash_fwd.h"

#define FLASH_THREADS 128
#define FLASH_TX 8                              /* threads across a row */
#define FLASH_TY (FLASH_THREADS / FLASH_TX)     /* row groups: 16 */
#define FLASH_RM (FLASH_BR / FLASH_TY)          /* rows per thread: 4 */
#define FLASH_CN (FLASH_BC / FLASH_TX)          /* keys per thread in S: 8 */
#define FLASH_PAD 4                             /* floats after each sQ/sKV row */
#define FLASH_P_STRIDE (FLASH_BC + 8)           /* floats per sP row */
/* Unroll factors, chosen with ptxas -v on sm_80/89/90a (no GPU to time them
 * yet): the S and O loops unrolled twice give the scheduler two steps of
 * shared-memory loads to overlap and stay spill-free at D = 128 (208-252
 * registers); a tile load issues 4 of its 16-byte global loads at a time
 * (8 pushes D = 128 to 254 registers and D = 64 into spills). */
static constexpr int flash_s_unroll = 2, flash_pv_unroll = 2, flash_ld_unroll = 4;

static_assert(FLASH_TX == 8, "row reductions are xor-shuffles over lanes 1, 2, 4");
static_assert(FLASH_BR % FLASH_TY == 0 && FLASH_BC % FLASH_TX == 0, "tiles split evenly");
static_assert(FLASH_BC % 4 == 0, "the O step reads P four keys at a time");

/* The shared-memory carve-up for head dim D, in floats. */
template <int D> struct flash_smem {
    static constexpr int qk_stride = D + FLASH_PAD;
    static constexpr int q_floats = FLASH_BR * qk_stride;
    static constexpr int kv_floats = FLASH_BC * qk_stride;
    static constexpr int p_floats = FLASH_BR * FLASH_P_STRIDE;
    static constexpr size_t bytes = (size_t)(q_floats + kv_floats + p_floats) * sizeof(float);
    /* Blocks per SM the registers must allow (__launch_bounds__): shared
     * memory already caps D = 128 at 2 (84 KiB; sm_90 has 227 KiB), so
     * up to 255 registers cost nothing; D = 64 (52 KiB) fits 3 on sm_80
     * (164 KiB), so 168 registers. Asking for 4 at D = 64 spills. */
    static constexpr int min_blocks = D == 128 ? 2 : 3;
};

/* dst[r][c] (rows D + FLASH_PAD floats apart) = mul · src[r·src_stride + c]
 * for r < rows_valid, 0 for the rows after, up to ROWS; c < D. Each thread
 * moves 16 bytes of T per step, consecutive threads consecutive bytes of a
 * row (coalesced). src and src_stride·sizeof(T) are 16-byte aligned: rows
 * start at multiples of D elements. */
template <typename T, int D, int ROWS>
static __device__ __forceinline__ void flash_load_tile(float *__restrict__ dst,
                                                       const T *__restrict__ src,
                                                       int64_t src_stride, int rows_valid,
                                                       float mul)
{
    constexpr int V = sb_elem<T>::per16;
    constexpr int per_row = D / V;
    constexpr int steps = ROWS * per_row / FLASH_THREADS;
    static_assert(ROWS * per_row % FLASH_THREADS == 0, "the tile splits evenly over the block");
#pragma unroll flash_ld_unroll
    for (int it = 0; it < steps; it++) {
        const int f = threadIdx.x + it * FLASH_THREADS;
        const int r = f / per_row, c = f % per_row * V;
        float x[V];
        if (r < rows_valid) {
            sb_elem<T>::load16(src + r * src_stride + c, x);
        } else {
#pragma unroll
            for (int e = 0; e < V; e++)
                x[e] = 0.0f;
        }
        float *d = dst + r * (D + FLASH_PAD) + c;
#pragma unroll
        for (int e = 0; e < V; e += 4)
            *reinterpret_cast<float4 *>(d + e) =
                make_float4(x[e] * mul, x[e + 1] * mul, x[e + 2] * mul, x[e + 3] * mul);
    }
}

static __device__ __forceinline__ float f4_at(const float4 &v, int i)
{
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

template <typename T, int D>
__global__ void __launch_bounds__(FLASH_THREADS, flash_smem<D>::min_blocks)
flash_fwd_kernel(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                 T *__restrict__ out, float *__restrict__ ws_o, float *__restrict__ ws_ml,
                 int N, int Nk, int H, int Hkv, int causal, float qscale,
                 struct flash_split plan, struct flash_keys keys)
{
    using SM = flash_smem<D>;
    constexpr int DG = D / (4 * FLASH_TX);      /* float4 groups of O dims per thread */
    float *sQ = static_cast<float *>(sb_dynamic_smem());        /* [BR][D + PAD] */
    float *sKV = sQ + SM::q_floats;                             /* [BC][D + PAD] */
    float *sP = sKV + SM::kv_floats;                            /* [BR][P_STRIDE] */

    const int tx = threadIdx.x % FLASH_TX, ty = threadIdx.x / FLASH_TX;
    /* blockIdx.x = (query tile, key split); the last query tiles see the
     * most keys when causal: start them first. */
    const int ts = gridDim.x - 1 - blockIdx.x;
    const int tile = ts / (int)plan.max, sp = ts % (int)plan.max;
    const int h = blockIdx.y, b = blockIdx.z, g = h / (H / Hkv);
    const int64_t i0 = (int64_t)tile * FLASH_BR;                /* first query row */
    const int nr = (int)min((int64_t)FLASH_BR, N - i0);         /* rows in this tile */
    const int64_t shift = (int64_t)Nk - N;      /* causal: key j visible iff j <= i + shift */
    /* This block's key tiles [tb, te) of the tile's walk (flash_tiles.h:
     * none past the last row's diagonal, nor outside the window and sinks
     * or the block mask); a tile with fewer splits than the grid leaves the
     * rest idle. */
    const struct flash_walk walk = flash_walk_of(N, Nk, causal, &keys, b, h, i0);
    const int64_t count = flash_walk_splits(plan, &walk);
    if (sp >= count)
        return;
    int64_t tb, te;
    flash_walk_split(plan, &walk, sp, &tb, &te);
    const int64_t je = flash_kv_end(N, Nk, causal, i0);        /* keys past it are not loaded */
    const int64_t kv_stride = (int64_t)Hkv * D;                 /* elements from key j to j + 1 */
    const T *kb = k + ((int64_t)b * Nk * Hkv + g) * D;          /* k[b, 0, g, 0] */
    const T *vb = v + ((int64_t)b * Nk * Hkv + g) * D;          /* v[b, 0, g, 0] */

    /* q[b, i0, h, 0], rows H·D apart; rows past N are 0: finite, never written. */
    flash_load_tile<T, D, FLASH_BR>(sQ, q + (((int64_t)b * N + i0) * H + h) * D,
                                    (int64_t)H * D, nr, qscale);

    float o[FLASH_RM][DG][4];                   /* O rows ty + 16·i, dims 4·tx + 32·g + e */
    float m[FLASH_RM], l[FLASH_RM];             /* running max (log2 units); this thread's
                                                 * part of the running sum */
#pragma unroll
    for (int i = 0; i < FLASH_RM; i++) {
        m[i] = -INFINITY, l[i] = 0.0f;
#pragma unroll
        for (int gi = 0; gi < DG; gi++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                o[i][gi][e] = 0.0f;
    }

    /* The walk in int (tile indices are below 2^25), the part the loop
     * keeps live: in int64 it cost the D = 64 kernels their spill-free
     * registers on sm_89. */
    const int32_t *const widx = walk.idx;
    const int wsinks = (int)walk.sink_tiles, wskip = (int)walk.skip;
    for (int t = (int)tb; t < (int)te; t++) {
        const int64_t j0 = (int64_t)FLASH_WALK_TILE(widx, wsinks, wskip, t) * FLASH_BC;
        const int nc = (int)min((int64_t)FLASH_BC, je - j0);        /* keys loaded; rest 0 */
        __syncthreads();                        /* sQ is loaded; the last tile's sKV, sP consumed */
        flash_load_tile<T, D, FLASH_BC>(sKV, kb + j0 * kv_stride, kv_stride, nc, 1.0f);
        __syncthreads();

        /* S micro-tile: s[i][c] = q'[ty + 16·i] · k[j0 + tx + 8·c]. */
        float s[FLASH_RM][FLASH_CN];
#pragma unroll
        for (int i = 0; i < FLASH_RM; i++)
#pragma unroll
            for (int c = 0; c < FLASH_CN; c++)
                s[i][c] = 0.0f;
#pragma unroll flash_s_unroll
        for (int d = 0; d < D; d += 4) {
            float4 qf[FLASH_RM], kf[FLASH_CN];
#pragma unroll
            for (int i = 0; i < FLASH_RM; i++)
                qf[i] = *reinterpret_cast<const float4 *>(sQ + (ty + FLASH_TY * i) * SM::qk_stride + d);
#pragma unroll
            for (int c = 0; c < FLASH_CN; c++)
                kf[c] = *reinterpret_cast<const float4 *>(sKV + (tx + FLASH_TX * c) * SM::qk_stride + d);
#pragma unroll
            for (int i = 0; i < FLASH_RM; i++)
#pragma unroll
                for (int c = 0; c < FLASH_CN; c++) {
                    s[i][c] = fmaf(qf[i].x, kf[c].x, s[i][c]);
                    s[i][c] = fmaf(qf[i].y, kf[c].y, s[i][c]);
                    s[i][c] = fmaf(qf[i].z, kf[c].z, s[i][c]);
                    s[i][c] = fmaf(qf[i].w, kf[c].w, s[i][c]);
                    SB_COUNT_MACS(4);
                }
        }

        /* The mask, where a tile crosses the end of the loaded keys, the
         * first row's diagonal, or the window's edge below a row (uniform
         * over the block; the window's by flash_visible, flash_tiles.h). */
        const bool edge = flash_window_edge(N, Nk, &keys, i0, j0, nc);
        if (j0 + FLASH_BC > je || (causal && j0 + FLASH_BC - 1 > i0 + shift) || edge) {
            /* flash_visible in int (N, Nk < 2^31): a sink bound past every
             * key where the tile needs no window mask */
            const int wsink = edge ? (int)keys.sink : INT_MAX, wlen = (int)keys.window;
#pragma unroll
            for (int i = 0; i < FLASH_RM; i++) {
                const int64_t row = i0 + ty + FLASH_TY * i;
                const int diag = (int)(row + shift);
#pragma unroll
                for (int c = 0; c < FLASH_CN; c++) {
                    const int64_t j = j0 + tx + FLASH_TX * c;
                    if (j >= je || (causal && j > row + shift) ||
                        FLASH_WINDOW_HIDES((int)j, diag, wlen, wsink))
                        s[i][c] = -INFINITY;
                }
            }
        }

        /* Online softmax per row; p goes to sP for the O step. */
#pragma unroll
        for (int i = 0; i < FLASH_RM; i++) {
            float mx = m[i];
#pragma unroll
            for (int c = 0; c < FLASH_CN; c++)
                mx = fmaxf(mx, s[i][c]);
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
            /* A row that has seen no key yet (a window, a block mask) has
             * max -inf: 0 stands in, so p and alpha are 0, not NaN. */
            const float mref = mx == -INFINITY ? 0.0f : mx;
            const float alpha = exp2f(m[i] - mref); /* 0 on the first tile: m = -inf */
            m[i] = mx;
            float sum = 0.0f;
#pragma unroll
            for (int c = 0; c < FLASH_CN; c++) {
                const float p = exp2f(s[i][c] - mref);
                sum += p;
                sP[(ty + FLASH_TY * i) * FLASH_P_STRIDE + tx + FLASH_TX * c] = p;
            }
            l[i] = fmaf(l[i], alpha, sum);          /* the row's alpha: same in its 8 threads */
#pragma unroll
            for (int gi = 0; gi < DG; gi++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    o[i][gi][e] *= alpha;
        }
        __syncthreads();                        /* sP complete; sKV (K) consumed */
        flash_load_tile<T, D, FLASH_BC>(sKV, vb + j0 * kv_stride, kv_stride, nc, 1.0f);
        __syncthreads();

        /* O micro-tile += P[rows][j0 .. j0 + BC) · V[j0 .. j0 + BC)[dims]. */
#pragma unroll flash_pv_unroll
        for (int j = 0; j < FLASH_BC; j += 4) {
            float4 pf[FLASH_RM];
#pragma unroll
            for (int i = 0; i < FLASH_RM; i++)
                pf[i] = *reinterpret_cast<const float4 *>(sP + (ty + FLASH_TY * i) * FLASH_P_STRIDE + j);
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                float4 vf[DG];
#pragma unroll
                for (int gi = 0; gi < DG; gi++)
                    vf[gi] = *reinterpret_cast<const float4 *>(
                        sKV + (j + jj) * SM::qk_stride + 4 * tx + 4 * FLASH_TX * gi);
#pragma unroll
                for (int i = 0; i < FLASH_RM; i++) {
                    const float p = f4_at(pf[i], jj);
#pragma unroll
                    for (int gi = 0; gi < DG; gi++) {
                        o[i][gi][0] = fmaf(p, vf[gi].x, o[i][gi][0]);
                        o[i][gi][1] = fmaf(p, vf[gi].y, o[i][gi][1]);
                        o[i][gi][2] = fmaf(p, vf[gi].z, o[i][gi][2]);
                        o[i][gi][3] = fmaf(p, vf[gi].w, o[i][gi][3]);
                        SB_COUNT_MACS(4);
                    }
                }
            }
        }
    }

    /* out[b, row, h, dims] = O / l, l summed over the row's 8 threads; or,
     * split, O, m and l into the workspace (layout as struct flash_partials
     * in reference/flash.c) for flash_combine_kernel. */
#pragma unroll
    for (int i = 0; i < FLASH_RM; i++) {
        float sum = l[i];
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        sum += __shfl_xor_sync(0xffffffffu, sum, 4);
        const int64_t row = i0 + ty + FLASH_TY * i;
        if (row < N && count > 1) {
            const int64_t slot = (((int64_t)b * N + row) * H + h) * plan.max + sp;
            float *wo = ws_o + slot * D + 4 * tx;
#pragma unroll
            for (int gi = 0; gi < DG; gi++)
                *reinterpret_cast<float4 *>(wo + 4 * FLASH_TX * gi) =
                    make_float4(o[i][gi][0], o[i][gi][1], o[i][gi][2], o[i][gi][3]);
            if (tx == 0)
                *reinterpret_cast<float2 *>(ws_ml + slot * 2) = make_float2(m[i], sum);
        } else if (row < N) {
            const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;  /* no key seen: 0 */
            T *op = out + (((int64_t)b * N + row) * H + h) * D + 4 * tx;
#pragma unroll
            for (int gi = 0; gi < DG; gi++)
                sb_elem<T>::store4(op + 4 * FLASH_TX * gi, o[i][gi][0] * inv, o[i][gi][1] * inv,
                                   o[i][gi][2] * inv, o[i][gi][3] * inv);
        }
    }
}

/* The split-KV combine: a warp per output row (b, n, h) of a split tile,
 * lane owning dims lane + 32·k:
 *   m* = max_s m_s,  l* = Σ_s l_s·2^(m_s - m*),  out = Σ_s O_s·2^(m_s - m*) / l*
 * over the tile's `count` splits (every m_s finite: flash_tiles.h). Rows of
 * tiles with one split were written by flash_fwd_kernel. Reads the
 * partials once, coalesced along D; the weights are recomputed per lane
 * (count exp2f each, count <= FLASH_MAX_SPLITS). */
#define FLASH_COMBINE_THREADS 128
#define FLASH_COMBINE_ROWS (FLASH_COMBINE_THREADS / 32)        /* rows per block */

template <typename T, int D>
__global__ void __launch_bounds__(FLASH_COMBINE_THREADS)
flash_combine_kernel(const float *__restrict__ ws_o, const float *__restrict__ ws_ml,
                     T *__restrict__ out, int B, int N, int Nk, int H, int causal,
                     struct flash_split plan, struct flash_keys keys)
{
    constexpr int E = D / 32;                   /* dims per lane */
    const int lane = threadIdx.x % 32;
    /* row = (b·N + n)·H + h, as out [B,N,H,D] is laid out. */
    const int64_t row = (int64_t)blockIdx.x * FLASH_COMBINE_ROWS + threadIdx.x / 32;
    if (row >= (int64_t)B * N * H)
        return;
    const int64_t n = row / H % N;
    const struct flash_walk walk =
        flash_walk_of(N, Nk, causal, &keys, row / H / N, row % H, n / FLASH_BR * FLASH_BR);
    const int64_t count = flash_walk_splits(plan, &walk);
    if (count == 1)
        return;
    const float *ml = ws_ml + row * plan.max * 2;     /* [max][2]: m, l */
    const float *po = ws_o + row * plan.max * D;      /* [max][D] */
    float mx = -INFINITY;
    for (int64_t sp = lane; sp < count; sp += 32)
        mx = fmaxf(mx, ml[sp * 2]);
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    mx = mx == -INFINITY ? 0.0f : mx;           /* no split saw a key: every weight 0 */
    float l = 0.0f, o[E];
#pragma unroll
    for (int e = 0; e < E; e++)
        o[e] = 0.0f;
    for (int64_t sp = 0; sp < count; sp++) {
        const float w = exp2f(ml[sp * 2] - mx);
        l = fmaf(ml[sp * 2 + 1], w, l);
#pragma unroll
        for (int e = 0; e < E; e++)
            o[e] = fmaf(po[sp * D + lane + 32 * e], w, o[e]);
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    T *op = out + row * D;
#pragma unroll
    for (int e = 0; e < E; e++)
        op[lane + 32 * e] = sb_elem<T>::from_float(o[e] * inv);
}

/* ---- host ------------------------------------------------------------------ */

struct flash_state {
    struct attn_dev io;     /* q, k, v, out */
    struct flash_split split;       /* split-KV plan for this device's SMs */
    struct sb_plan fwd, combine;    /* the launches (combine: only when split) */
    struct flash_keys keys;         /* window and sinks, or a block index (d_ ptr, idx) */
    float *ws_o, *ws_ml;    /* d_ split partials [B·N·H][split.max][D], [..][2]; NULL unsplit */
};

/* The SM count the split is made for: the current device's; without one
 * (workspace_bytes may be asked before any setup), the nominal count. */
static int64_t flash_device_sms(void)
{
    int dev = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        sms <= 0) {
        (void)cudaGetLastError();   /* not sticky: clear it */
        return FLASH_NOMINAL_SMS;
    }
    return sms;
}

/* The split of a shape (its window and sinks), or of a block-sparse case
 * whose query tiles visit at most max_tiles key tiles (max_tiles >= 0). */
static struct flash_split flash_split_for(const struct shape *s, int64_t max_tiles)
{
    if (max_tiles >= 0)
        return flash_splits_for(s->B * s->H * ((s->N + FLASH_BR - 1) / FLASH_BR), max_tiles,
                                flash_device_sms());
    const struct flash_keys m = flash_keys_of(s);
    return flash_splits_keys(s->B, s->H, s->N, s->Nk, s->causal, &m, flash_device_sms());
}

/* Bytes of the split partials: O (Dv floats), m and l per row and split. */
static int64_t flash_ws_bytes(const struct shape *s, struct flash_split p)
{
    return p.max > 1 ? s->B * s->N * s->H * p.max * (s->Dv + 2) * (int64_t)sizeof(float) : 0;
}

/* The launches: x is (query tile, key split), the splits of a tile
 * adjacent; the combine takes FLASH_COMBINE_ROWS rows per block. */
static struct sb_plan flash_fwd_plan(const struct shape *s, struct flash_split sp)
{
    const size_t smem = s->D == 64 ? flash_smem<64>::bytes : flash_smem<128>::bytes;
    return { "flash_fwd_kernel", { (s->N + FLASH_BR - 1) / FLASH_BR * sp.max, s->H, s->B },
             FLASH_THREADS, smem };
}

static struct sb_plan flash_combine_plan(const struct shape *s)
{
    const int64_t rows = s->B * s->N * s->H;
    return { "flash_combine_kernel", { (rows + FLASH_COMBINE_ROWS - 1) / FLASH_COMBINE_ROWS, 1, 1 },
             FLASH_COMBINE_THREADS, 0 };
}

/* Per instantiation: the plans against the device, the opt-in. */
template <typename T, int D>
static int flash_prepare(struct op_ctx *ctx, const struct flash_state *st)
{
    int rc = sb_plan_prepare(ctx, (const void *)flash_fwd_kernel<T, D>, &st->fwd, "cuda");
    if (rc == SB_OK && st->split.max > 1)
        rc = sb_plan_prepare(ctx, (const void *)flash_combine_kernel<T, D>, &st->combine, "cuda");
    return rc;
}

template <typename T, int D>
static int flash_launch(struct op_ctx *ctx, const struct flash_state *st)
{
    const struct shape *s = ctx->shape;
    const float qscale = (float)(ctx->scale * SB_LOG2E);
    int rc = sb_launch(ctx, flash_fwd_kernel<T, D>, st->fwd, (const T *)st->io.q,
                       (const T *)st->io.k, (const T *)st->io.v, (T *)st->io.out, st->ws_o,
                       st->ws_ml, (int)s->N, (int)s->Nk, (int)s->H, (int)s->Hkv, (int)s->causal,
                       qscale, st->split, st->keys);
    if (rc != SB_OK || st->split.max == 1)
        return rc;
    return sb_launch(ctx, flash_combine_kernel<T, D>, st->combine, (const float *)st->ws_o,
                     (const float *)st->ws_ml, (T *)st->io.out, (int)s->B, (int)s->N, (int)s->Nk,
                     (int)s->H, (int)s->causal, st->split, st->keys);
}

/* The instantiations: one row per (dtype, D). */
static const struct {
    enum dtype dt;
    int D;
    int (*prepare)(struct op_ctx *, const struct flash_state *);
    int (*launch)(struct op_ctx *, const struct flash_state *);
} flash_variants[] = {
    { DT_FP32, 64, flash_prepare<float, 64>, flash_launch<float, 64> },
    { DT_FP32, 128, flash_prepare<float, 128>, flash_launch<float, 128> },
    { DT_BF16, 64, flash_prepare<__nv_bfloat16, 64>, flash_launch<__nv_bfloat16, 64> },
    { DT_BF16, 128, flash_prepare<__nv_bfloat16, 128>, flash_launch<__nv_bfloat16, 128> },
};

static int flash_variant(const struct shape *s)
{
    for (int i = 0; i < (int)(sizeof flash_variants / sizeof flash_variants[0]); i++)
        if (flash_variants[i].dt == s->dtype && flash_variants[i].D == s->D)
            return i;
    return -1;
}

/* Shapes this kernel does not take, with the reason; SB_OK otherwise (the
 * grid's limits are the plan's to check). */
static int flash_check_shape(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    if (s->D != 64 && s->D != 128) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: D=%lld not supported (64, 128)", (long long)s->D);
        return SB_UNSUPPORTED;
    }
    if (s->Dv != s->D) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: Dv=%lld not supported (Dv = D = %lld)",
                 (long long)s->Dv, (long long)s->D);
        return SB_UNSUPPORTED;
    }
    if (s->N > INT_MAX || s->Nk > INT_MAX) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: N=%lld Nk=%lld: the kernel indexes rows in int",
                 (long long)s->N, (long long)s->Nk);
        return SB_UNSUPPORTED;
    }
    if (flash_variant(s) < 0) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: dtype %s not built", dtype_table[s->dtype].name);
        return SB_UNSUPPORTED;
    }
    return SB_OK;
}

extern "C" int64_t flash_cuda_workspace_bytes(const struct shape *s)
{
    return flash_ws_bytes(s, flash_split_for(s, -1));
}

extern "C" int64_t flash_cuda_workspace_bytes_keys(const struct shape *s, int64_t max_tiles)
{
    return flash_ws_bytes(s, flash_split_for(s, max_tiles));
}

extern "C" int flash_cuda_setup_keys(struct op_ctx *ctx, const struct flash_keys *keys,
                                     int64_t max_tiles)
{
    int rc = flash_check_shape(ctx);
    if (rc != SB_OK)
        return rc;
    struct flash_state *st = (struct flash_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: out of host memory");
        return SB_OOM;
    }
    const struct shape *s = ctx->shape;
    st->keys = *keys;
    st->split = flash_split_for(s, max_tiles);
    st->fwd = flash_fwd_plan(s, st->split);
    st->combine = flash_combine_plan(s);
    const int64_t ws = flash_ws_bytes(s, st->split);
    if ((rc = flash_variants[flash_variant(s)].prepare(ctx, st)) != SB_OK ||
        (rc = attn_dev_setup(ctx, &st->io)) != SB_OK ||
        (ws > 0 && (rc = sb_alloc(ctx, (void **)&st->ws_o, (size_t)ws)) != SB_OK)) {
        free(st);               /* the harness frees the tracked device buffers */
        return rc;
    }
    /* One allocation: O of every (row, split), then their (m, l) pairs
     * (8-byte aligned: Dv is even). */
    st->ws_ml = ws > 0 ? st->ws_o + s->B * s->N * s->H * st->split.max * s->Dv : NULL;
    ctx->priv = st;
    return SB_OK;
}

extern "C" int flash_cuda_setup(struct op_ctx *ctx)
{
    const struct flash_keys keys = flash_keys_of(ctx->shape);
    return flash_cuda_setup_keys(ctx, &keys, -1);
}

extern "C" int flash_cuda_run(struct op_ctx *ctx)
{
    const struct flash_state *st = (const struct flash_state *)ctx->priv;
    return flash_variants[flash_variant(ctx->shape)].launch(ctx, st);
}

extern "C" int flash_cuda_fetch(struct op_ctx *ctx)
{
    return attn_dev_fetch(ctx, &((const struct flash_state *)ctx->priv)->io);
}

/* Device buffers are the harness's to free; only the host state goes. */
extern "C" void flash_cuda_teardown(struct op_ctx *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}
