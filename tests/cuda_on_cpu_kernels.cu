/*
 * cuda_on_cpu_kernels.cu — small kernels for the CPU runner's own tests
 * (tests/cuda_on_cpu.cpp): each wrapper of ops/ptx.cuh and the warp
 * builtins against what the PTX ISA and the CUDA guide say they compute,
 * written out here independently of the fragment maps (the way a kernel
 * loads its fragments, by the ISA's tables), and planted bugs the runner
 * must stop on. The kernels compile with nvcc too (the Makefile builds them
 * for every architecture of the build: that assembles each wrapper's PTX,
 * which no kernel of ops/ may use yet, and gives the runner their ptxas
 * attributes); the host code that runs them is for the CPU runner only.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "../harness/gpu_kernels.h"
#include "../ops/launch.cuh"
#include "../ops/ptx.cuh"
#include "cuda_on_cpu_kernels.h"

#if !defined(__CUDACC__)
/* ---- helpers --------------------------------------------------------------------------- */

template <typename T> static T *dev_copy(const T *h, size_t n)
{
    void *d = nullptr;
    if (cudaMalloc(&d, n * sizeof(T)) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc failed\n");
        abort();
    }
    if (h)
        cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice);
    else
        cudaMemset(d, 0xFF, n * sizeof(T));
    return (T *)d;
}

template <typename T> static void host_copy(T *h, const T *d, size_t n)
{
    cudaMemcpy(h, d, n * sizeof(T), cudaMemcpyDeviceToHost);
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* Exact decodings, written here again on purpose (the test must not share
 * the emulator's code). */
static double bits_value(int kind, uint32_t x)
{
    switch (kind) {
    case SB_MMA_M16N8K16_BF16: {
        uint32_t b = x << 16;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    case SB_MMA_M16N8K16_F16: {
        __half_raw r;
        r.x = (unsigned short)x;
        return __half2float(__half(r));
    }
    case SB_MMA_M16N8K32_S8: return (int8_t)x;
    default: {   /* e4m3 */
        const int e = (x >> 3) & 15, m = x & 7;
        const double v = e ? ldexp(8 + m, e - 10) : ldexp(m, -9);
        return (x & 0x80) ? -v : v;
    }
    }
}

#endif
/* ---- mma.sync ------------------------------------------------------------------------------------ */

/* One warp: D (16×8, fp32 or s32, row-major) = C + A·B with A [16][K] and
 * B [8][K] (B stored n-major, k contiguous) in bytes of the kind's element
 * size; the fragments loaded by the ISA's tables, as a kernel writes them:
 * a register holds 32/bits consecutive k of one row. swap: lanes 0 and 1
 * trade their A fragments (the planted bug). */
__global__ void wrap_mma_kernel(int kind, const uint8_t *A, const uint8_t *B, const void *C, void *D,
                                int swap)
{
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int eb = kind == SB_MMA_M16N8K32_S8 || kind == SB_MMA_M16N8K32_E4M3 ? 1 : 2;  /* bytes */
    const int K = 32 / eb, per = 4 / eb;
    uint32_t a[4], b[2];
    /* A: a0 (g, per·t ..), a1 (g + 8, ..), a2 (g, per·t + K/2 ..), a3 (g + 8, ..) */
    for (int r = 0; r < 4; r++) {
        const int row = g + 8 * (r % 2), col = per * t + K / 2 * (r / 2);
        memcpy(&a[r], A + (row * K + col) * eb, 4);
    }
    /* B: b0 (k = per·t .., n = g), b1 (k = per·t + K/2 ..) */
    for (int r = 0; r < 2; r++)
        memcpy(&b[r], B + (g * K + per * t + K / 2 * r) * eb, 4);
    if (swap) {
        uint32_t other[4];
        for (int r = 0; r < 4; r++)
            other[r] = __shfl_xor_sync(0xffffffffu, a[r], lane < 2 ? 1 : 0);
        memcpy(a, other, sizeof a);
    }
    float df[4];
    int32_t di[4];
    for (int v = 0; v < 4; v++) {   /* c0, c1 (g, 2t ..), c2, c3 (g + 8, 2t ..) */
        const int idx = (g + 8 * (v / 2)) * 8 + 2 * t + v % 2;
        df[v] = ((const float *)C)[idx];
        di[v] = ((const int32_t *)C)[idx];
    }
    switch (kind) {
    case SB_MMA_M16N8K16_BF16: sb_mma_m16n8k16_bf16(df, a, b); break;
    case SB_MMA_M16N8K16_F16: sb_mma_m16n8k16_f16(df, a, b); break;
    case SB_MMA_M16N8K32_S8: sb_mma_m16n8k32_s8(di, a, b); break;
    default: sb_mma_m16n8k32_e4m3(df, a, b); break;
    }
    for (int v = 0; v < 4; v++) {
        const int idx = (g + 8 * (v / 2)) * 8 + 2 * t + v % 2;
        if (kind == SB_MMA_M16N8K32_S8)
            ((int32_t *)D)[idx] = di[v];
        else
            ((float *)D)[idx] = df[v];
    }
}

#if !defined(__CUDACC__)
static const char *const kind_names[] = { "m16n8k16 bf16", "m16n8k16 f16", "m16n8k32 s8", "m16n8k32 e4m3" };

/* Random operands of the kind (finite: e4m3 and f16 draw from bit patterns
 * that are not NaN/Inf), C random; D against the float64 (int64) product.
 * Returns the largest error relative to the largest |D|. */
static double mma_case(int kind, int swap)
{
    const int eb = kind >= SB_MMA_M16N8K32_S8 ? 1 : 2, K = 32 / eb;
    uint8_t hA[16 * 32 * 2], hB[8 * 32 * 2];
    for (int i = 0; i < 16 * K; i++) {
        uint32_t x = rnd();
        if (kind == SB_MMA_M16N8K16_BF16)
            x = (x & 0x807F) | 0x3C00 | ((x >> 7) & 0x0180);    /* |v| in [2^-7, 4) */
        else if (kind == SB_MMA_M16N8K16_F16)
            x = (x & 0x83FF) | 0x3000 | ((x >> 3) & 0x0C00);
        else if (kind == SB_MMA_M16N8K32_E4M3)
            x = (x & 0xB7);                                     /* exponent < 15: finite */
        memcpy(hA + i * eb, &x, (size_t)eb);
    }
    for (int i = 0; i < 8 * K; i++) {
        uint32_t x = rnd();
        if (kind == SB_MMA_M16N8K16_BF16)
            x = (x & 0x807F) | 0x3C00 | ((x >> 7) & 0x0180);
        else if (kind == SB_MMA_M16N8K16_F16)
            x = (x & 0x83FF) | 0x3000 | ((x >> 3) & 0x0C00);
        else if (kind == SB_MMA_M16N8K32_E4M3)
            x = (x & 0xB7);
        memcpy(hB + i * eb, &x, (size_t)eb);
    }
    float hCf[128];
    int32_t hCi[128];
    for (int i = 0; i < 128; i++)
        hCf[i] = (float)((int)(rnd() % 200) - 100) / 8, hCi[i] = (int32_t)(rnd() % 2000) - 1000;
    uint8_t *dA = dev_copy(hA, (size_t)16 * K * eb), *dB = dev_copy(hB, (size_t)8 * K * eb);
    void *dC = kind == SB_MMA_M16N8K32_S8 ? (void *)dev_copy(hCi, 128) : (void *)dev_copy(hCf, 128);
    float *dD = dev_copy<float>(nullptr, 128);
    sb_sim_launch(wrap_mma_kernel, dim3(1), dim3(32), 0, nullptr, kind, (const uint8_t *)dA,
                  (const uint8_t *)dB, (const void *)dC, (void *)dD, swap);
    float hD[128];
    host_copy(hD, dD, 128);
    double worst = 0, scale = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) {
            double want = kind == SB_MMA_M16N8K32_S8 ? hCi[i * 8 + j] : hCf[i * 8 + j];
            for (int k = 0; k < K; k++) {
                uint32_t xa = 0, xb = 0;
                memcpy(&xa, hA + (i * K + k) * eb, (size_t)eb);
                memcpy(&xb, hB + (j * K + k) * eb, (size_t)eb);
                want += bits_value(kind, xa) * bits_value(kind, xb);
            }
            double got;
            if (kind == SB_MMA_M16N8K32_S8) {
                int32_t x;
                memcpy(&x, &hD[i * 8 + j], 4);
                got = x;
            } else {
                got = hD[i * 8 + j];
            }
            worst = fmax(worst, fabs(got - want));
            scale = fmax(scale, fabs(want));
        }
    cudaFree(dA), cudaFree(dB), cudaFree(dC), cudaFree(dD);
    return worst / scale;
}

static bool test_mma(char *msg, size_t n)
{
    size_t k = 0;
    bool ok = true;
    for (int kind = 0; kind < SB_MMA_KIND_COUNT; kind++) {
        const double e = mma_case(kind, 0);
        /* The products are exact and the sum is double rounded once: the
         * float kinds come within fp32's half ulp of the largest value. */
        const bool good = kind == SB_MMA_M16N8K32_S8 ? e == 0 : e < 1e-6;
        ok = ok && good;
        k += (size_t)snprintf(msg + k, n - k, "%s%s %s (err %.1e)", k ? ", " : "", kind_names[kind],
                              good ? "ok" : "WRONG", e);
    }
    return ok;
}

#endif
/* ---- ldmatrix ------------------------------------------------------------------------------------- */

/* Matrices i < N of 8×8 uint16 at smem + 64·i (+ pad per row), element
 * (r, c) = 256·i + 8·r + c + 1; every lane supplies its row (lane % 8 of
 * matrix lane / 8), the registers go to out [32][N]. */
template <int N, bool TRANS>
__global__ void wrap_ldmatrix_kernel(uint32_t *out, int misalign)
{
    __shared__ __align__(16) uint16_t tile[4][8][8 + 8];    /* rows 32 bytes apart */
    const int lane = threadIdx.x;
    for (int f = lane; f < 4 * 8 * 8; f += 32)
        tile[f / 64][f / 8 % 8][f % 8] = (uint16_t)(256 * (f / 64) + 8 * (f / 8 % 8) + f % 8 + 1);
    __syncwarp();
    uint32_t r[N];
    const int i = lane / 8 < N ? lane / 8 : 0;
    sb_ldmatrix<N, TRANS>(r, (const char *)&tile[i][lane % 8][0] + misalign);
    for (int x = 0; x < N; x++)
        out[lane * N + x] = r[x];
}

#if !defined(__CUDACC__)
template <int N, bool TRANS> static bool ldmatrix_case(char *msg, size_t n)
{
    uint32_t *d = dev_copy<uint32_t>(nullptr, 32 * N), h[32 * 4];
    sb_sim_launch(wrap_ldmatrix_kernel<N, TRANS>, dim3(1), dim3(32), 0, nullptr, d, 0);
    host_copy(h, d, 32 * N);
    cudaFree(d);
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < N; i++)
            for (int e = 0; e < 2; e++) {
                /* PTX ISA: lane holds row lane/4, columns 2(lane%4) + e; .trans: the transpose. */
                const int row = TRANS ? 2 * (lane % 4) + e : lane / 4;
                const int col = TRANS ? lane / 4 : 2 * (lane % 4) + e;
                const uint32_t want = 256u * i + 8u * row + col + 1, got = (h[lane * N + i] >> (16 * e)) & 0xFFFF;
                if (got != want) {
                    snprintf(msg, n, "x%d%s: lane %d register %d half %d holds %u, the ISA says %u", N,
                             TRANS ? ".trans" : "", lane, i, e, got, want);
                    return false;
                }
            }
    return true;
}

static bool test_ldmatrix(char *msg, size_t n)
{
    if (!ldmatrix_case<1, false>(msg, n) || !ldmatrix_case<2, false>(msg, n) ||
        !ldmatrix_case<4, false>(msg, n) || !ldmatrix_case<1, true>(msg, n) ||
        !ldmatrix_case<2, true>(msg, n) || !ldmatrix_case<4, true>(msg, n))
        return false;
    snprintf(msg, n, "x1, x2, x4, each with and without .trans: every lane's registers as the ISA's table");
    return true;
}

#endif
/* ldmatrix.x4 for A (16×16 bf16 [row][k]) and .x2 for B (stored [n][k]),
 * then mma: the canonical pairing, against the float64 product. */
#if defined(__CUDACC__)
template __global__ void wrap_ldmatrix_kernel<1, false>(uint32_t *, int);
template __global__ void wrap_ldmatrix_kernel<2, false>(uint32_t *, int);
template __global__ void wrap_ldmatrix_kernel<4, false>(uint32_t *, int);
template __global__ void wrap_ldmatrix_kernel<1, true>(uint32_t *, int);
template __global__ void wrap_ldmatrix_kernel<2, true>(uint32_t *, int);
template __global__ void wrap_ldmatrix_kernel<4, true>(uint32_t *, int);
#endif

__global__ void wrap_ldsm_mma_kernel(const __nv_bfloat16 *A, const __nv_bfloat16 *B, float *D)
{
    __shared__ __align__(16) __nv_bfloat16 sA[16][16 + 8], sB[8][16 + 8];
    const int lane = threadIdx.x;
    for (int f = lane; f < 256; f += 32)
        sA[f / 16][f % 16] = A[f];
    for (int f = lane; f < 128; f += 32)
        sB[f / 16][f % 16] = B[f];
    __syncwarp();
    uint32_t a[4], b[2];
    /* x4: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) */
    sb_ldmatrix<4, false>(a, &sA[lane % 16][8 * (lane / 16)]);
    /* x2: (n 0-7, k 0-7), (n 0-7, k 8-15); lanes 16-31 supply nothing */
    sb_ldmatrix<2, false>(b, &sB[lane % 8][8 * (lane / 8 % 2)]);
    float d[4] = { 0, 0, 0, 0 };
    sb_mma_m16n8k16_bf16(d, a, b);
    const int g = lane / 4, t = lane % 4;
    for (int v = 0; v < 4; v++)
        D[(g + 8 * (v / 2)) * 8 + 2 * t + v % 2] = d[v];
}

#if !defined(__CUDACC__)
static bool test_ldsm_mma(char *msg, size_t n)
{
    __nv_bfloat16 hA[256], hB[128];
    float fA[256], fB[128];
    for (int i = 0; i < 256; i++)
        fA[i] = __bfloat162float(hA[i] = __float2bfloat16_rn((float)((int)(rnd() % 64) - 32) / 16));
    for (int i = 0; i < 128; i++)
        fB[i] = __bfloat162float(hB[i] = __float2bfloat16_rn((float)((int)(rnd() % 64) - 32) / 16));
    __nv_bfloat16 *dA = dev_copy(hA, 256), *dB = dev_copy(hB, 128);
    float *dD = dev_copy<float>(nullptr, 128), hD[128];
    sb_sim_launch(wrap_ldsm_mma_kernel, dim3(1), dim3(32), 0, nullptr, (const __nv_bfloat16 *)dA,
                  (const __nv_bfloat16 *)dB, dD);
    host_copy(hD, dD, 128);
    cudaFree(dA), cudaFree(dB), cudaFree(dD);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) {
            double want = 0;
            for (int k = 0; k < 16; k++)
                want += (double)fA[i * 16 + k] * fB[j * 16 + k];
            if (hD[i * 8 + j] != (float)want) {
                snprintf(msg, n, "D[%d][%d] = %g, want %g", i, j, hD[i * 8 + j], want);
                return false;
            }
        }
    snprintf(msg, n, "ldmatrix.x4 A, ldmatrix.x2 B, mma m16n8k16: D = A·Bᵀ exactly");
    return true;
}

#endif
/* ---- cp.async --------------------------------------------------------------------------------- */

/* A block of 64 threads streams src [n floats] through two shared stages
 * of 256 floats with 16-byte cp.async (the ragged tail: src-size < 16,
 * zero-filled), waits with wait_group 1 / 0 as a double-buffered loop
 * does, and writes dst[i] = 2·src[i] (and 0 past n, up to the padded
 * length). */
__global__ void wrap_cp_async_kernel(const float *src, float *dst, int n, int padded)
{
    __shared__ __align__(16) float stage[2][256];
    const int tid = threadIdx.x, tiles = padded / 256;
    auto issue = [&](int tile) {
        const int i = tile * 256 + tid * 4;
        const int valid = n - i >= 4 ? 16 : n - i > 0 ? 4 * (n - i) : 0;
        sb_cp_async<16>(&stage[tile % 2][tid * 4], valid ? src + i : src, valid);
        sb_cp_async_commit();
    };
    issue(0);
    for (int tile = 0; tile < tiles; tile++) {
        if (tile + 1 < tiles) {
            issue(tile + 1);
            sb_cp_async_wait<1>();
        } else {
            sb_cp_async_wait<0>();
        }
        __syncthreads();
        for (int x = tid; x < 256; x += 64)
            dst[tile * 256 + x] = 2 * stage[tile % 2][x];
        __syncthreads();            /* the stage is rewritten two tiles later */
    }
}

#if !defined(__CUDACC__)
static bool test_cp_async(char *msg, size_t n)
{
    const int len = 1000, padded = 1024;
    float h[1024], out[1024];
    for (int i = 0; i < len; i++)
        h[i] = (float)i - 300.5f;
    float *d = dev_copy(h, len), *o = dev_copy<float>(nullptr, padded);
    sb_sim_launch(wrap_cp_async_kernel, dim3(1), dim3(64), 0, nullptr, (const float *)d, o, len, padded);
    host_copy(out, o, padded);
    cudaFree(d), cudaFree(o);
    for (int i = 0; i < padded; i++) {
        const float want = i < len ? 2 * h[i] : 0.0f;
        if (out[i] != want) {
            snprintf(msg, n, "dst[%d] = %g, want %g", i, out[i], want);
            return false;
        }
    }
    snprintf(msg, n, "double-buffered 16-byte copies, wait_group 1 then 0, ragged tail zero-filled");
    return true;
}

#endif
/* ---- mbarrier, bulk copies, fence.proxy.async (sm_90) ------------------------------------------- */

#define BULK_TILE 256       /* floats per bulk copy: 1 KiB */

/* A TMA-style pipeline without a tensor map: thread 0 announces each
 * tile's bytes and issues its bulk copy into one of two stages, every
 * thread waits on the stage's mbarrier (parity flipping per reuse), adds
 * the tile to an accumulator row in shared memory; then the row goes out by
 * a bulk store after fence.proxy.async. plant: 1 waits on a stage's second
 * use with its first parity (returns at once, before the copy), 2 announces
 * more bytes than the copies bring, 3 leaves out the fence. */
__global__ void wrap_bulk_kernel(const float *src, float *dst, int tiles, int plant)
{
    __shared__ __align__(128) float stage[2][BULK_TILE];
    __shared__ __align__(16) float acc[BULK_TILE];
    __shared__ __align__(8) uint64_t bar[2];
    const int tid = threadIdx.x;
    if (tid == 0) {
        sb_mbarrier_init(&bar[0], 1);
        sb_mbarrier_init(&bar[1], 1);
    }
    for (int i = tid; i < BULK_TILE; i += blockDim.x)
        acc[i] = 0.0f;
    __syncthreads();
    unsigned parity = 0;        /* bit s: the parity stage s waits for next */
    for (int t = 0; t < tiles; t++) {
        const int s = t % 2;
        if (tid == 0) {
            const unsigned bytes = BULK_TILE * sizeof(float);
            sb_mbarrier_arrive_expect_tx(&bar[s], plant == 2 ? 2 * bytes : bytes);
            sb_bulk_copy_g2s(stage[s], src + (size_t)t * BULK_TILE, bytes, &bar[s]);
        }
        sb_mbarrier_wait(&bar[s], plant == 1 && t >= 2 ? 0 : parity >> s & 1);
        parity ^= 1u << s;
        for (int i = tid; i < BULK_TILE; i += blockDim.x)
            acc[i] += stage[s][i];
        __syncthreads();        /* stage s is read before its next copy */
    }
    if (plant != 3)
        sb_fence_proxy_async();
    __syncthreads();
    if (tid == 0) {
        sb_bulk_copy_s2g(dst, acc, BULK_TILE * sizeof(float));
        sb_bulk_commit();
        sb_bulk_wait_read<0>();
    }
}

#if !defined(__CUDACC__)
/* Runs wrap_bulk_kernel over 4 tiles; out[i] must be the sum of the tiles. */
static bool bulk_case(int plant, char *msg, size_t n)
{
    const int tiles = 4;
    float h[4 * BULK_TILE], out[BULK_TILE];
    for (int i = 0; i < tiles * BULK_TILE; i++)
        h[i] = (float)(i % 97) - 40.0f;
    float *d = dev_copy(h, (size_t)tiles * BULK_TILE), *o = dev_copy<float>(nullptr, BULK_TILE);
    sb_sim_launch(wrap_bulk_kernel, dim3(1), dim3(64), 0, nullptr, (const float *)d, o, tiles, plant);
    host_copy(out, o, BULK_TILE);
    cudaFree(d), cudaFree(o);
    for (int i = 0; i < BULK_TILE; i++) {
        float want = 0;
        for (int t = 0; t < tiles; t++)
            want += h[t * BULK_TILE + i];
        if (out[i] != want) {
            snprintf(msg, n, "result mismatch: dst[%d] = %g, want %g", i, out[i], want);
            return false;
        }
    }
    snprintf(msg, n, "4 tiles through 2 stages: mbarrier expect_tx and parity, bulk loads, "
             "fence.proxy.async, a bulk store");
    return true;
}

static bool test_bulk(char *msg, size_t n)
{
    return bulk_case(0, msg, n);
}
#endif

/* ---- tensor copies (TMA, sm_90) ------------------------------------------------------------------- */

#define TMA_ROWS 37             /* the tensor: 37 rows of 70 bf16, rows 144 bytes apart */
#define TMA_COLS 70
#define TMA_LD 72
#define TMA_BOX_X 64            /* boxes of 8 rows of 64 bf16: 128 bytes, the 128-byte swizzle's width */
#define TMA_BOX_Y 8

/* Every box of the tensor, ragged ones too (x = 64 holds 6 columns, y = 32
 * 5 rows): loaded by TMA with the 128-byte swizzle, each element read back
 * from shared memory by the swizzle written out here (chunk ^= row % 8)
 * into out [40][128] (the out-of-bounds ones must be 0), negated in place
 * with ordinary stores, fenced, and stored by TMA into the second tensor
 * (only its in-bounds elements). plant 1: the box 128 bytes off the 1024
 * the swizzle needs. */
__global__ void wrap_tma_kernel(const __grid_constant__ CUtensorMap src_map,
                                const __grid_constant__ CUtensorMap dst_map, __nv_bfloat16 *out, int plant)
{
    __shared__ __align__(1024) __nv_bfloat16 tile[TMA_BOX_Y * TMA_BOX_X + 64];
    __shared__ __align__(8) uint64_t bar;
    __nv_bfloat16 *box = tile + (plant == 1 ? 64 : 0);
    const int tid = threadIdx.x;
    if (tid == 0)
        sb_mbarrier_init(&bar, 1);
    __syncthreads();
    unsigned parity = 0;
    for (int y = 0; y < 40; y += TMA_BOX_Y)
        for (int x = 0; x < 128; x += TMA_BOX_X) {
            if (tid == 0) {
                sb_mbarrier_arrive_expect_tx(&bar, TMA_BOX_X * TMA_BOX_Y * 2);
                sb_tma_load_2d(box, &src_map, x, y, &bar);
            }
            sb_mbarrier_wait(&bar, parity);
            parity ^= 1;
            for (int f = tid; f < TMA_BOX_X * TMA_BOX_Y; f += blockDim.x) {
                const int r = f / TMA_BOX_X, c = f % TMA_BOX_X;
                const unsigned off = (unsigned)(r * 128 + c * 2) ^ ((unsigned)(r % 8) << 4);
                out[(y + r) * 128 + x + c] = box[off / 2];
            }
            __syncthreads();        /* every thread has read the box */
            for (int f = tid; f < TMA_BOX_X * TMA_BOX_Y; f += blockDim.x)
                box[f] = __float2bfloat16_rn(-__bfloat162float(box[f]));
            sb_fence_proxy_async();
            __syncthreads();
            if (tid == 0) {
                sb_tma_store_2d(&dst_map, x, y, box);
                sb_bulk_commit();
                sb_bulk_wait_read<0>();
            }
            __syncthreads();        /* the store has read the box before the next load */
        }
}

#if !defined(__CUDACC__)
static bool tma_case(int plant, char *msg, size_t n)
{
    __nv_bfloat16 h[TMA_ROWS * TMA_LD], back[TMA_ROWS * TMA_LD], got[40 * 128];
    for (int i = 0; i < TMA_ROWS * TMA_LD; i++)
        h[i] = __float2bfloat16_rn((float)(i % 251) - 125.0f);
    __nv_bfloat16 *src = dev_copy(h, TMA_ROWS * TMA_LD), *dst = dev_copy<__nv_bfloat16>(nullptr, TMA_ROWS * TMA_LD);
    __nv_bfloat16 *out = dev_copy<__nv_bfloat16>(nullptr, 40 * 128);
    CUtensorMap ms, md;
    const uint64_t dims[2] = { TMA_COLS, TMA_ROWS };
    const uint32_t box[2] = { TMA_BOX_X, TMA_BOX_Y };
    if (sb_tensor_map_2d(&ms, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, src, dims, TMA_LD * 2, box,
                         CU_TENSOR_MAP_SWIZZLE_128B) != cudaSuccess ||
        sb_tensor_map_2d(&md, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, dst, dims, TMA_LD * 2, box,
                         CU_TENSOR_MAP_SWIZZLE_128B) != cudaSuccess) {
        snprintf(msg, n, "sb_tensor_map_2d refused the maps");
        return false;
    }
    sb_sim_launch(wrap_tma_kernel, dim3(1), dim3(128), 0, nullptr, ms, md, out, plant);
    host_copy(got, out, 40 * 128);
    host_copy(back, dst, TMA_ROWS * TMA_LD);
    cudaFree(src), cudaFree(dst), cudaFree(out);
    for (int r = 0; r < 40; r++)
        for (int c = 0; c < 128; c++) {
            const bool in = r < TMA_ROWS && c < TMA_COLS;
            const float want = in ? __bfloat162float(h[r * TMA_LD + c]) : 0.0f, g = __bfloat162float(got[r * 128 + c]);
            if (g != want) {
                snprintf(msg, n, "result mismatch: box element (%d, %d) read %g, the tensor holds %g", r, c, g, want);
                return false;
            }
            if (in && __bfloat162float(back[r * TMA_LD + c]) != -want) {
                snprintf(msg, n, "result mismatch: stored (%d, %d) = %g, want %g", r, c,
                         __bfloat162float(back[r * TMA_LD + c]), -want);
                return false;
            }
        }
    snprintf(msg, n, "10 boxes of a 37 x 70 bf16 tensor (ragged ones zero-filled) loaded and stored with the "
             "128-byte swizzle, an mbarrier, fence.proxy.async");
    return true;
}

static bool test_tma(char *msg, size_t n)
{
    return tma_case(0, msg, n);
}
#endif

/* ---- shuffles and votes ------------------------------------------------------------------------ */

/* out[lane][0..7]: shfl idx/up/down/xor at width 32 and 8, ballot, and a
 * half-warp (mask 0xffff) xor that only lanes 0-15 execute. */
__global__ void wrap_shfl_kernel(int *out)
{
    const int lane = threadIdx.x;
    int *o = out + lane * 8;
    o[0] = __shfl_sync(0xffffffffu, lane * 10, 5);
    o[1] = __shfl_up_sync(0xffffffffu, lane * 10, 3, 8);
    o[2] = __shfl_down_sync(0xffffffffu, lane * 10, 2, 8);
    o[3] = __shfl_xor_sync(0xffffffffu, lane * 10, 9);
    o[4] = (int)__ballot_sync(0xffffffffu, lane % 3 == 0);
    o[5] = __any_sync(0xffffffffu, lane == 17) + 2 * __all_sync(0xffffffffu, lane < 32);
    o[6] = lane < 16 ? __shfl_xor_sync(0x0000ffffu, lane * 10, 4) : -1;
    /* Width 16: lanes 0-15 would read past their segment and keep their own
     * value; lanes 16-31 read the segment before theirs, which PTX's
     * shfl.bfly allows (only j > the segment's last lane falls back). */
    o[7] = __shfl_xor_sync(0xffffffffu, lane * 10, 16, 16);
}

#if !defined(__CUDACC__)
static bool test_shfl(char *msg, size_t n)
{
    int *d = dev_copy<int>(nullptr, 256), h[256];
    sb_sim_launch(wrap_shfl_kernel, dim3(1), dim3(32), 0, nullptr, d);
    host_copy(h, d, 256);
    cudaFree(d);
    unsigned ballot = 0;
    for (int l = 0; l < 32; l += 3)
        ballot |= 1u << l;
    for (int lane = 0; lane < 32; lane++) {
        const int want[8] = {
            50,
            (lane % 8 >= 3 ? lane - 3 : lane) * 10,
            (lane % 8 + 2 < 8 ? lane + 2 : lane) * 10,
            (lane ^ 9) * 10,
            (int)ballot,
            3,
            lane < 16 ? (lane ^ 4) * 10 : -1,
            (lane < 16 ? lane : lane - 16) * 10,
        };
        for (int i = 0; i < 8; i++)
            if (h[lane * 8 + i] != want[i]) {
                snprintf(msg, n, "lane %d, check %d: %d, want %d", lane, i, h[lane * 8 + i], want[i]);
                return false;
            }
    }
    snprintf(msg, n, "idx, up, down (width 8), xor (width 32, 16), ballot, any, all, a half-warp mask");
    return true;
}

#endif
/* ---- the launch checks ---------------------------------------------------------------------------- */

__global__ void wrap_smem_kernel(float *out)
{
    float *s = static_cast<float *>(sb_dynamic_smem());
    s[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = s[31 - threadIdx.x];
}

/* What a real runtime refuses: dynamic shared memory over 48 KiB without
 * the opt-in, over the device's opt-in limit, 1025 threads, a grid y of
 * 65536; and the opt-in made, the launch runs. */
#if !defined(__CUDACC__)
static bool test_launch_checks(char *msg, size_t n)
{
    float *d = dev_copy<float>(nullptr, 32), h[32];
    (void)cudaGetLastError();
    struct {
        dim3 grid;
        int threads;
        size_t smem;
        cudaError_t want;
    } cases[] = {
        { dim3(1), 32, 64 << 10, cudaErrorInvalidValue },
        { dim3(1), 1025, 0, cudaErrorInvalidConfiguration },
        { dim3(1, 65536), 32, 128, cudaErrorInvalidConfiguration },
    };
    for (auto &c : cases) {
        sb_sim_launch(wrap_smem_kernel, c.grid, dim3((unsigned)c.threads), c.smem, nullptr, d);
        const cudaError_t e = cudaGetLastError();
        if (e != c.want) {
            snprintf(msg, n, "launch (%u,%u) x %d, %zu bytes: %s, want %s", c.grid.x, c.grid.y, c.threads,
                     c.smem, cudaGetErrorName(e), cudaGetErrorName(c.want));
            return false;
        }
    }
    int optin = 0;
    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0);
    if (cudaFuncSetAttribute((const void *)wrap_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             optin + 1) != cudaErrorInvalidValue) {
        snprintf(msg, n, "an opt-in past the device's %d bytes was accepted", optin);
        return false;
    }
    (void)cudaGetLastError();
    cudaFuncSetAttribute((const void *)wrap_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 << 10);
    sb_sim_launch(wrap_smem_kernel, dim3(1), dim3(32), 64 << 10, nullptr, d);
    const cudaError_t e = cudaGetLastError();
    host_copy(h, d, 32);
    cudaFree(d);
    if (e != cudaSuccess || h[0] != 31 || h[31] != 0) {
        snprintf(msg, n, "after the opt-in: %s, out[0] = %g", cudaGetErrorName(e), h[0]);
        return false;
    }
    snprintf(msg, n, "64 KiB without opt-in, 1025 threads, grid y 65536 refused as a GPU does; "
             "an opt-in past %d bytes refused; 64 KiB after the opt-in runs", optin);
    return true;
}

/* ---- kernels run bare ------------------------------------------------------------------------
 * A kernel no plan reaches in some path, run on its own: one row in the
 * table below and a function that launches it (sb_sim_launch on the
 * runner's device buffers) and checks what it wrote. */

/* softmax_cublas.cu's kernel (instantiated there). */
template <typename T>
__global__ void softmax_rows_kernel(const float *__restrict__ S, T *__restrict__ P, int64_t rows,
                                    int64_t N, int64_t Nk, int causal);

/* The grid-stride loop, which its plan reaches only past 2^30 rows: 3
 * blocks over 10 causal rows (2 heads x N = 5) of 300 keys, longer than the
 * 256-thread block. */
static bool test_softmax_stride(char *msg, size_t n)
{
    const int64_t BH = 2, N = 5, Nk = 300, rows = BH * N;
    float h[3000], p[3000];
    for (int i = 0; i < rows * Nk; i++)
        h[i] = (float)((int)(rnd() % 1600) - 800) / 100;
    float *dS = dev_copy(h, (size_t)(rows * Nk)), *dP = dev_copy<float>(nullptr, (size_t)(rows * Nk));
    sb_sim_launch(softmax_rows_kernel<float>, dim3(3), dim3(256), 0, nullptr, (const float *)dS, dP, rows,
                  N, Nk, 1);
    host_copy(p, dP, (size_t)(rows * Nk));
    cudaFree(dS), cudaFree(dP);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t kend = r % N + Nk - N + 1;
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < kend; j++)
            mx = fmax(mx, h[r * Nk + j]);
        for (int64_t j = 0; j < kend; j++)
            sum += exp2(h[r * Nk + j] - mx);
        for (int64_t j = 0; j < Nk; j++) {
            const double want = j < kend ? exp2(h[r * Nk + j] - mx) / sum : 0;
            if (fabs(p[r * Nk + j] - want) > 1e-6 * fmax(1, want * 1e3)) {
                snprintf(msg, n, "P[%lld][%lld] = %g, want %g", (long long)r, (long long)j, p[r * Nk + j], want);
                return false;
            }
        }
    }
    snprintf(msg, n, "softmax_rows_kernel over 10 causal rows of 300 keys on 3 blocks of 256 threads");
    return true;
}

/* ---- the harness's blocking kernel (harness/gpu_kernels.cu) ---------------------------------
 * Its protocol through its own launch (sb_gpu_block_stream) on a stream of
 * the runner, the words in pinned, mapped host memory as gpu_open makes
 * them; then gpu_time_once itself, which times behind it. The runner runs
 * a stream's work when the host waits for it, so the release word is set
 * (or not) before the kernel polls it: the spin while the host is still
 * queueing is a GPU's alone. */

/* One kernel of generation gen on s with the timeout; `store` into the
 * release word after the launch (none when store is 0); the seconds until
 * the stream is done (sb_globaltimer_ns: on the CPU, the host's clock). */
static double block_one(cudaStream_t s, volatile unsigned *h, const unsigned *d_release,
                        unsigned *d_timed_out, unsigned gen, unsigned store, double timeout_s)
{
    const double t0 = (double)sb_globaltimer_ns() * 1e-9;
    const int e = sb_gpu_block_stream(s, d_release, gen, d_timed_out, (uint64_t)(timeout_s * 1e9));
    if (e != 0)
        return -1;
    if (store)
        __atomic_store_n(&h[0], store, __ATOMIC_SEQ_CST);
    cudaStreamSynchronize(s);
    return (double)sb_globaltimer_ns() * 1e-9 - t0;
}

static bool test_block_stream(char *msg, size_t n)
{
    unsigned *h = nullptr, *d_release = nullptr;
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (cudaHostAlloc((void **)&h, 64 * sizeof(unsigned), cudaHostAllocMapped | cudaHostAllocPortable) != cudaSuccess ||
        cudaHostGetDevicePointer((void **)&d_release, h, 0) != cudaSuccess) {
        snprintf(msg, n, "cudaHostAlloc / cudaHostGetDevicePointer failed");
        return false;
    }
    memset(h, 0, 64 * sizeof(unsigned));
    unsigned *d_timed_out = d_release + 32;
    volatile unsigned *timed_out = h + 32;
    struct {
        unsigned gen, store;
        double timeout_s;
        unsigned want_mark;     /* *timed_out afterwards */
        bool waits;             /* runs into its timeout */
        const char *what;
    } steps[] = {
        { 1, 1, 5.0, 0, false, "released by its own generation" },
        { 2, 1, 0.05, 2, true, "a late store of an earlier generation (1) does not release generation 2" },
        { 3, 0, 0.05, 3, true, "never released: the timeout lets it go and marks generation 3" },
        { 4, 4, 5.0, 3, false, "released: it leaves the last mark (3) alone" },
    };
    bool ok = true;
    for (auto &st : steps) {
        const double secs = block_one(s, h, d_release, d_timed_out, st.gen, st.store, st.timeout_s);
        const bool good = secs >= 0 && *timed_out == st.want_mark &&
                          (st.waits ? secs >= st.timeout_s : secs < 1.0);
        if (!good) {
            snprintf(msg, n, "%s: %.3f s, timed-out word %u (want %u)", st.what, secs, *timed_out, st.want_mark);
            ok = false;
            break;
        }
    }
    cudaStreamDestroy(s);
    cudaFreeHost(h);
    if (ok)
        snprintf(msg, n, "sb_block_stream_kernel: released by its generation only (an earlier one's store "
                 "does not), the timeout lets it go with its generation as the mark, a release leaves the mark");
    return ok;
}

/* run() for gpu_time_once: one small launch on the harness's stream, or
 * that and a wait for the GPU inside the sample. */
struct timed_fn_arg {
    struct gpu_ctx *g;
    float *d;
    bool wait;
};

static int timed_fn(void *p)
{
    timed_fn_arg *a = static_cast<timed_fn_arg *>(p);
    struct op_ctx ctx = {};
    ctx.gpu = a->g;
    sb_sim_launch(wrap_smem_kernel, dim3(1), dim3(32), 128, (cudaStream_t)sb_gpu_stream(&ctx), a->d);
    if (a->wait)
        cudaStreamSynchronize((cudaStream_t)sb_gpu_stream(&ctx));
    return SB_OK;
}

/* harness/gpu.c's cold sample: the flush, the blocking kernel, the events,
 * the release through the mapped word; and a run() that waits for the GPU
 * inside the sample, which the blocking kernel's timeout exposes. */
static bool test_gpu_time_once(char *msg, size_t n)
{
    char err[400] = "";
    struct gpu_ctx *g = gpu_open(0, err, sizeof err);
    if (!g) {
        snprintf(msg, n, "gpu_open: %s", err);
        return false;
    }
    struct op_ctx ctx = {};
    ctx.gpu = g;
    timed_fn_arg a = { g, (float *)sb_gpu_alloc(&ctx, 32 * sizeof(float)), false };
    double ms = -1, ms_wait = -1;
    const int rc = gpu_time_once(g, timed_fn, &a, 1, &ms, err, sizeof err);
    char err_wait[600] = "";
    a.wait = true;
    const int rc_wait = gpu_time_once(g, timed_fn, &a, 0, &ms_wait, err_wait, sizeof err_wait);
    gpu_close(g);
    if (rc != 0 || !(ms >= 0)) {
        snprintf(msg, n, "a cold sample of one launch: rc %d, %g ms: %s", rc, ms, err);
        return false;
    }
    if (rc_wait == 0 || !strstr(err_wait, "released itself")) {
        snprintf(msg, n, "a run() that waits for the GPU was timed (rc %d, %g ms): %.200s", rc_wait, ms_wait, err_wait);
        return false;
    }
    snprintf(msg, n, "a cold sample (flush, blocking kernel, events, release) took %.3f ms; a run() that "
             "waits inside the sample is refused: \"%.90s...\"", ms, err_wait);
    return true;
}

const wrapper_test wrapper_tests[] = {
    { "mma.sync", test_mma },
    { "ldmatrix", test_ldmatrix },
    { "ldmatrix + mma.sync", test_ldsm_mma },
    { "cp.async", test_cp_async },
    { "mbarrier + cp.async.bulk", test_bulk },
    { "cp.async.bulk.tensor (TMA)", test_tma },
    { "shuffles and votes", test_shfl },
    { "launch checks", test_launch_checks },
    { "softmax_rows_kernel, grid-stride", test_softmax_stride },
    { "blocking kernel", test_block_stream },
    { "gpu_time_once behind the blocking kernel", test_gpu_time_once },
};
const int n_wrapper_tests = (int)(sizeof wrapper_tests / sizeof wrapper_tests[0]);

#endif
/* ---- planted bugs --------------------------------------------------------------------------------- */

/* cp.async committed but never waited for; the data read after a barrier. */
__global__ void plant_cp_async_no_wait_kernel(const float *src, float *dst)
{
    __shared__ __align__(16) float s[128];
    sb_cp_async<16>(&s[threadIdx.x * 4], src + threadIdx.x * 4);
    sb_cp_async_commit();
    __syncthreads();
    dst[threadIdx.x] = s[(threadIdx.x * 4 + 4) % 128];
}

/* A shared write, then another thread's read of it with no barrier between. */
__global__ void plant_missing_sync_kernel(float *dst)
{
    __shared__ float s[64];
    s[threadIdx.x] = (float)threadIdx.x;
    dst[threadIdx.x] = s[(threadIdx.x + 1) % 64];
}

/* __syncthreads in a branch half the block takes. */
__global__ void plant_divergent_barrier_kernel(float *dst)
{
    if (threadIdx.x < 16)
        __syncthreads();
    dst[threadIdx.x] = 1;
}

/* A shuffle whose mask leaves out lane 31, which executes it too. */
__global__ void plant_shfl_mask_kernel(float *dst)
{
    dst[threadIdx.x] = __shfl_sync(0x7fffffffu, (float)threadIdx.x, 0);
}

/* ldmatrix from a row address 8 bytes off the 16 the ISA requires. */
__global__ void plant_ldmatrix_misaligned_kernel(uint32_t *out)
{
    __shared__ __align__(16) uint16_t tile[8][16];
    for (int f = threadIdx.x; f < 128; f += 32)
        tile[f / 16][f % 16] = (uint16_t)f;
    __syncwarp();
    uint32_t r[1];
    sb_ldmatrix<1, false>(r, &tile[threadIdx.x % 8][4]);
    out[threadIdx.x] = r[0];
}

/* One element past the end of a device buffer. */
__global__ void plant_oob_kernel(const float *src, float *dst, int n)
{
    dst[threadIdx.x] = src[n - 32 + threadIdx.x + 1];
}

#if !defined(__CUDACC__)
static int plant(const char *name)
{
    float h[512];
    for (int i = 0; i < 512; i++)
        h[i] = (float)i;
    float *src = dev_copy(h, 100), *dst = dev_copy<float>(nullptr, 512);
    if (strcmp(name, "cp_async_no_wait") == 0) {
        float *big = dev_copy(h, 512);
        sb_sim_launch(plant_cp_async_no_wait_kernel, dim3(1), dim3(32), 0, nullptr, (const float *)big, dst);
    } else if (strcmp(name, "missing_syncthreads") == 0) {
        sb_sim_launch(plant_missing_sync_kernel, dim3(1), dim3(64), 0, nullptr, dst);
    } else if (strcmp(name, "divergent_barrier") == 0) {
        sb_sim_launch(plant_divergent_barrier_kernel, dim3(1), dim3(32), 0, nullptr, dst);
    } else if (strcmp(name, "shfl_mask") == 0) {
        sb_sim_launch(plant_shfl_mask_kernel, dim3(1), dim3(32), 0, nullptr, dst);
    } else if (strcmp(name, "ldmatrix_misaligned") == 0) {
        sb_sim_launch(plant_ldmatrix_misaligned_kernel, dim3(1), dim3(32), 0, nullptr, (uint32_t *)dst);
    } else if (strcmp(name, "out_of_bounds") == 0) {
        sb_sim_launch(plant_oob_kernel, dim3(1), dim3(32), 0, nullptr, (const float *)src, dst, 100);
    } else if (strncmp(name, "bulk_", 5) == 0) {
        const int p = strcmp(name, "bulk_wrong_parity") == 0 ? 1 : strcmp(name, "bulk_short_tx") == 0 ? 2 : 3;
        char msg[300];
        if (!bulk_case(p, msg, sizeof msg)) {
            fprintf(stderr, "%s\n", msg);
            return 3;
        }
    } else if (strcmp(name, "tma_misaligned_box") == 0) {
        char msg[300];
        if (!tma_case(1, msg, sizeof msg)) {
            fprintf(stderr, "%s\n", msg);
            return 3;
        }
    } else if (strcmp(name, "host_reads_device") == 0) {
        printf("%g\n", src[0]);     /* host code dereferencing a device pointer */
    } else if (strcmp(name, "mma_swapped_lane") == 0) {
        const double e = mma_case(SB_MMA_M16N8K16_BF16, 1);
        if (e > 1e-6) {
            fprintf(stderr, "result mismatch: mma with lanes 0 and 1's A fragments swapped, error %.2g\n", e);
            return 3;
        }
    } else {
        fprintf(stderr, "no plant named %s\n", name);
        return 2;
    }
    cudaDeviceSynchronize();    /* the launches above run when the host waits for them */
    return 0;
}

int run_plant(const char *name)
{
    return plant(name);
}

const planted_bug planted_bugs[] = {
    { "cp_async_no_wait", "a cp.async with no wait (its destination read after a barrier)",
      "use-after-poison", "not waited for" },
    { "missing_syncthreads", "a missing __syncthreads (shared write, another thread's read)",
      nullptr, "data race" },
    { "divergent_barrier", "__syncthreads in a branch half the block takes", "__syncthreads",
      "__syncthreads" },
    { "shfl_mask", "a shuffle whose mask leaves out its own lane", "leaves out this lane",
      "leaves out this lane" },
    { "ldmatrix_misaligned", "ldmatrix from a row address not 16-byte aligned", "not 16-byte aligned",
      "not 16-byte aligned" },
    { "out_of_bounds", "a read one element past a cudaMalloc'd buffer", "use-after-poison", nullptr },
    { "bulk_wrong_parity", "an mbarrier waited on with a stale parity (a stage's second use)",
      "use-after-poison", "never landed" },
    { "bulk_short_tx", "expect_tx announcing more bytes than the bulk copies bring", "never completes",
      "never completes" },
    { "bulk_no_proxy_fence", "a bulk store of shared memory written without fence.proxy.async",
      "fence.proxy.async", "fence.proxy.async" },
    { "tma_misaligned_box", "a TMA box 128 bytes off the 1024 its 128-byte swizzle needs",
      "aligned for its swizzle", "aligned for its swizzle" },
    { "host_reads_device", "host code reading device memory", "SEGV", "SEGV" },
    { "mma_swapped_lane", "a swapped lane (lanes 0 and 1 trade A fragments before mma)",
      "result mismatch", "result mismatch" },
};
const int n_planted_bugs = (int)(sizeof planted_bugs / sizeof planted_bugs[0]);
#endif /* !__CUDACC__ */
