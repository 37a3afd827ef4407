// cuda_on_cpu.cpp — flash_fwd.cu's kernels (flash_fwd_kernel and
// flash_combine_kernel, with windows, sinks and block-sparse tile lists as
// flash --window and sparse/cuda launch them) and softmax_cublas.cu's
// softmax_rows_kernel,
// extracted by tests/cuda_on_cpu.sh, executed on the
// CPU: one std::thread per CUDA thread, __syncthreads as a block barrier,
// warp shuffles through per-warp slots behind a warp barrier (every shuffle
// in these kernels is warp-uniform), shared memory one malloc of exactly the
// launch's dynamic bytes, filled with NaN. Built with AddressSanitizer and
// UBSan (an out-of-bounds global or shared access aborts), and with
// ThreadSanitizer (a missing __syncthreads between a shared-memory write and
// another thread's read shows as a data race). Outputs are checked against
// float64 attention. What it cannot see: the GPU's memory model beyond
// barriers, warp-synchronous code, device math (exp2f here is the host's),
// performance. Prints "N passed, M failed" last.
#include <barrier>
#include <thread>
#include <vector>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <random>
#include <atomic>
/* What the kernels' product statements execute (SB_COUNT_MACS, ops/common.cuh):
 * per emulated thread, summed when it ends. */
static thread_local long long t_macs;
static std::atomic<long long> g_macs;
#define SB_COUNT_MACS(n) (t_macs += (n))
#include "ops/common.cuh"
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __launch_bounds__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
static thread_local dim3 threadIdx, blockIdx;
static dim3 gridDim, blockDim;
static std::barrier<> *g_bar;
static std::barrier<> *g_wbar[32];
static float g_slots[1024];
static float4 *g_smem;
static inline void __syncthreads() { g_bar->arrive_and_wait(); }
static inline float __shfl_xor_sync(unsigned, float v, int off)
{
    std::barrier<> *b = g_wbar[threadIdx.x / 32];
    b->arrive_and_wait();
    g_slots[threadIdx.x] = v;
    b->arrive_and_wait();
    float r = g_slots[(threadIdx.x & ~31u) | ((threadIdx.x & 31u) ^ (unsigned)off)];
    b->arrive_and_wait();
    return r;
}
static inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
#include "ops/flash/flash_tiles.h"
#include KERNEL_PART      /* flash_fwd.cu from FLASH_THREADS to the host code */
#include <cublas_v2.h>      /* softmax_cublas.cu's declarations before its kernel */
#undef __shared__
#define __shared__ static   /* one block at a time: a function-local static is its shared memory */
#include SOFTMAX_PART     /* softmax_cublas.cu from SOFTMAX_THREADS to the host code */

template <class F> static void launch(dim3 grid, int threads, size_t smem, F body)
{
    gridDim = grid, blockDim = dim3(threads);
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                g_smem = smem ? (float4 *)malloc(smem) : nullptr;   /* exact size: ASan */
                if (g_smem) memset(g_smem, 0xFF, smem);             /* NaN */
                std::barrier<> bar(threads);
                std::vector<std::barrier<> *> wb;
                for (int w = 0; w < (threads + 31) / 32; w++) g_wbar[w] = new std::barrier<>(32);
                g_bar = &bar;
                std::vector<std::thread> ts;
                for (int t = 0; t < threads; t++)
                    ts.emplace_back([=] {
                        threadIdx = dim3(t), blockIdx = dim3(x, y, z), t_macs = 0;
                        body();
                        g_macs += t_macs;
                    });
                for (auto &t : ts) t.join();
                for (int w = 0; w < (threads + 31) / 32; w++) delete g_wbar[w];
                free(g_smem);
            }
}

static float bf(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

/* A block mask for run_case: density % of the 64 x 64 tiles of each (batch,
 * head), as the CSR index ops/sparse/sparse_tiles.h builds (key tiles
 * before each query tile's last row's diagonal); density < 0: none. */
struct tile_mask {
    std::vector<uint8_t> on;        /* [B][H][query tiles][key tiles] */
    std::vector<int32_t> ptr, idx;
    int64_t most = 0;
};

static void make_tile_mask(tile_mask &m, int B, int N, int Nk, int H, int causal, int density)
{
    std::mt19937 rng(13);
    const int qt = (N + FLASH_BR - 1) / FLASH_BR, kt = (Nk + FLASH_BC - 1) / FLASH_BC;
    m.on.assign((size_t)B * H * qt * kt, 0);
    m.ptr.assign(1, 0);
    for (int r = 0; r < B * H * qt; r++) {
        const int64_t kv_end = flash_kv_end(N, Nk, causal, (int64_t)(r % qt) * FLASH_BR);
        int64_t n = 0;
        for (int t = 0; t < kt; t++) {
            const bool on = (int)(rng() % 100) < density && (int64_t)t * FLASH_BC < kv_end;
            m.on[(size_t)r * kt + t] = on;
            if (on)
                m.idx.push_back(t), n++;
        }
        m.ptr.push_back((int32_t)m.idx.size());
        m.most = n > m.most ? n : m.most;
    }
}

template <typename T, int D>
static int run_case(int B, int N, int Nk, int H, int Hkv, int causal, int sms, int window = 0,
                    int sink = 0, int density = -1)
{
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> U(-1, 1);
    size_t nq = (size_t)B * N * H * D, nk = (size_t)B * Nk * Hkv * D, no = nq;
    std::vector<float> hq(nq), hk(nk), hv(nk);
    for (auto &x : hq) x = bf(U(rng));
    for (auto &x : hk) x = bf(U(rng));
    for (auto &x : hv) x = bf(U(rng));
    T *q = (T *)malloc(nq * sizeof(T)), *k = (T *)malloc(nk * sizeof(T)), *v = (T *)malloc(nk * sizeof(T));
    T *out = (T *)malloc(no * sizeof(T));
    memset(out, 0xFF, no * sizeof(T));
    for (size_t i = 0; i < nq; i++) q[i] = (T)hq[i];
    for (size_t i = 0; i < nk; i++) k[i] = (T)hk[i], v[i] = (T)hv[i];
    tile_mask tm;
    flash_keys keys = { window, sink, nullptr, nullptr, 1, 1 };
    flash_split plan = flash_splits_keys(B, H, N, Nk, causal, &keys, sms);
    if (density >= 0) {
        make_tile_mask(tm, B, N, Nk, H, causal, density);
        keys = { 0, 0, tm.ptr.data(), tm.idx.data(), B, H };
        plan = flash_splits_for((int64_t)B * H * ((N + FLASH_BR - 1) / FLASH_BR), tm.most, sms);
    }
    const int qtiles = (N + FLASH_BR - 1) / FLASH_BR, ktiles = (Nk + FLASH_BC - 1) / FLASH_BC;
    float *ws = nullptr, *ws_ml = nullptr;
    if (plan.max > 1) {
        size_t slots = (size_t)B * N * H * plan.max;
        ws = (float *)malloc(slots * (D + 2) * sizeof(float));
        memset(ws, 0xFF, slots * (D + 2) * sizeof(float));
        ws_ml = ws + slots * D;
    }
    double scale = 1 / sqrt((double)D);
    float qscale = (float)(scale * SB_LOG2E);
    dim3 grid((unsigned)((N + FLASH_BR - 1) / FLASH_BR * plan.max), H, B);
    g_macs = 0;
    launch(grid, FLASH_THREADS, flash_smem<D>::bytes, [&] {
        flash_fwd_kernel<T, D>(q, k, v, out, ws, ws_ml, N, Nk, H, Hkv, causal, qscale, plan, keys);
    });
    if (plan.max > 1) {
        int64_t rows = (int64_t)B * N * H;
        launch(dim3((unsigned)((rows + FLASH_COMBINE_ROWS - 1) / FLASH_COMBINE_ROWS)), FLASH_COMBINE_THREADS, 0, [&] {
            flash_combine_kernel<T, D>(ws, ws_ml, out, B, N, Nk, H, causal, plan, keys);
        });
    }
    double num = 0, den = 0, maxerr = 0;
    int bad = 0;
    std::vector<double> p(Nk);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++) {
                int g = h / (H / Hkv);
                int kend = causal ? n + Nk - N + 1 : Nk;
                double mx = -1e300, sum = 0;
                /* the mask: causal, window and sinks, the tile mask */
                auto seen = [&](int j) {
                    return flash_visible(N, Nk, causal, window, sink, n, j) &&
                           (density < 0 || tm.on[(((size_t)b * H + h) * qtiles + n / FLASH_BR) * ktiles + j / FLASH_BC]);
                };
                for (int j = 0; j < kend; j++) {
                    double s = 0;
                    for (int d = 0; d < D; d++)
                        s += (double)hq[(((size_t)b * N + n) * H + h) * D + d] * hk[(((size_t)b * Nk + j) * Hkv + g) * D + d];
                    p[j] = s * scale;
                    mx = seen(j) && p[j] > mx ? p[j] : mx;
                }
                for (int j = 0; j < kend; j++) sum += p[j] = seen(j) ? exp(p[j] - mx) : 0.0;
                for (int d = 0; d < D; d++) {
                    double o = 0;
                    for (int j = 0; j < kend; j++) o += p[j] * hv[(((size_t)b * Nk + j) * Hkv + g) * D + d];
                    o = sum > 0 ? o / sum : 0.0;    /* a row that sees no key: 0 */
                    float got = (float)out[(((size_t)b * N + n) * H + h) * D + d];
                    if (!std::isfinite(got)) bad++;
                    num += (got - o) * (got - o), den += o * o;
                    maxerr = fabs(got - o) > maxerr ? fabs(got - o) : maxerr;
                }
            }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);    /* every row 0: absolute */
    double tol = sizeof(T) == 2 ? 1e-2 : 1e-5;
    int ok = bad == 0 && rel < tol;
    /* With a tile mask: every listed tile computed whole, nothing else
     * (flash_cuda_walk_macs, reference/flash.c, counts so). */
    if (density >= 0)
        ok &= g_macs.load() == (long long)tm.idx.size() * FLASH_BR * FLASH_BC * 2 * D;
    /* The executed multiply-adds close the line: cuda_on_cpu.sh compares
     * them with what bench stores as flash/cuda's flops_executed (a window
     * as " window=W sink=S" before them; a tile mask is not bench's). */
    char mask[64] = "";
    if (density >= 0)
        snprintf(mask, sizeof mask, " tiles=%d%%", density);
    else if (window > 0)
        snprintf(mask, sizeof mask, " window=%d sink=%d", window, sink);
    fprintf(ok ? stdout : stderr, "%s %s D=%d B=%d N=%d Nk=%d H=%d Hkv=%d causal=%d sms=%d plan(len=%lld,max=%lld): rel %.3g max %.3g nonfinite %d%s macs %lld\n",
           ok ? "ok  " : "FAIL cuda_on_cpu.sh:", sizeof(T) == 2 ? "bf16" : "fp32", D, B, N, Nk, H, Hkv, causal, sms,
           (long long)plan.len, (long long)plan.max, rel, maxerr, bad, mask, g_macs.load());
    free(q), free(k), free(v), free(out), free(ws);
    return ok;
}

/* softmax_rows_kernel over random fp32 scores (log2 units) [rows = B·H·N][Nk],
 * on `blocks` blocks (fewer than the rows: the grid-stride loop) of `threads`,
 * against the float64 masked softmax of the same scores. */
template <typename T>
static int run_softmax(int64_t BH, int64_t N, int64_t Nk, int causal, unsigned blocks, int threads)
{
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> U(-8, 8);
    const int64_t rows = BH * N;
    std::vector<float> S((size_t)(rows * Nk));
    for (auto &x : S) x = U(rng);
    float *dS = (float *)malloc(S.size() * sizeof(float));
    T *dP = (T *)malloc(S.size() * sizeof(T));
    memcpy(dS, S.data(), S.size() * sizeof(float));
    memset(dP, 0xFF, S.size() * sizeof(T));
    launch(dim3(blocks), threads, 0, [&] { softmax_rows_kernel<T>(dS, dP, rows, N, Nk, causal); });
    double num = 0, den = 0;
    int bad = 0;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t i = r % N, kend = causal ? i + Nk - N + 1 : Nk;
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < kend; j++) mx = S[r * Nk + j] > mx ? S[r * Nk + j] : mx;
        for (int64_t j = 0; j < kend; j++) sum += exp2((double)S[r * Nk + j] - mx);
        for (int64_t j = 0; j < Nk; j++) {
            const double want = j < kend ? exp2((double)S[r * Nk + j] - mx) / sum : 0.0;
            const float got = (float)dP[r * Nk + j];
            if (!std::isfinite(got) || (j >= kend && got != 0.0f)) bad++;
            num += (got - want) * (got - want), den += want * want;
        }
    }
    const double rel = sqrt(num / den), tol = sizeof(T) == 2 ? 1e-2 : 1e-5;
    const int ok = bad == 0 && rel < tol;
    fprintf(ok ? stdout : stderr, "%s softmax_rows_kernel %s BH=%lld N=%lld Nk=%lld causal=%d blocks=%u threads=%d: rel %.3g bad %d\n",
            ok ? "ok  " : "FAIL cuda_on_cpu.sh:", sizeof(T) == 2 ? "bf16" : "fp32", (long long)BH,
            (long long)N, (long long)Nk, causal, blocks, threads, rel, bad);
    free(dS), free(dP);
    return ok;
}

int main(int argc, char **argv)
{
    /* "quick": the few cases the ThreadSanitizer build runs (it is slow). */
    const bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    int pass = 0, fail = 0;
    auto tally = [&](int ok) { ok ? pass++ : fail++; };
    /* Split decode (bf16, GQA, Nk not a multiple of FLASH_BC); causal prefill
     * with a partial last tile and split tiles of 1, 2, 3 splits; unsplit. */
    tally(run_case<__nv_bfloat16, 128>(2, 1, 1100, 4, 2, 1, 132));
    tally(run_case<float, 64>(1, 129, 129, 2, 2, 1, 1000));
    tally(run_case<float, 128>(1, 200, 333, 2, 1, 1, 1));
    /* A window narrower than a tile (rows that see no key of a tile) with
     * sinks, split; a block-sparse decode over split tile lists with empty
     * splits and tiles; a block-sparse prefill with empty query tiles. */
    tally(run_case<float, 64>(1, 130, 200, 2, 1, 1, 1000, 16, 3));
    tally(run_case<__nv_bfloat16, 64>(1, 1, 3000, 2, 1, 1, 132, -1, 0, 20));
    tally(run_case<float, 64>(1, 200, 333, 2, 2, 1, 1, 0, 0, 25));
    /* Rows shorter than the block (idle threads and warps: the empty-sum
     * merge), causal with Nk > N, a row longer than the block. */
    tally(run_softmax<float>(2, 5, 100, 1, 3, SOFTMAX_THREADS));
    tally(run_softmax<__nv_bfloat16>(1, 3, 700, 1, 2, SOFTMAX_THREADS));
    if (!quick) {
        tally(run_softmax<float>(3, 4, 4, 0, 5, SOFTMAX_THREADS));
        tally(run_softmax<float>(1, 2, 3000, 1, 1, SOFTMAX_THREADS_LONG));
        tally(run_case<float, 64>(1, 77, 77, 2, 1, 1, 132));
        tally(run_case<float, 128>(1, 16, 700, 2, 1, 1, 132));
        tally(run_case<__nv_bfloat16, 64>(1, 130, 200, 3, 3, 0, 132));
        tally(run_case<float, 128>(1, 200, 333, 2, 1, 1, 132));
        tally(run_case<__nv_bfloat16, 64>(1, 1, 300, 2, 1, 1, 1));
        tally(run_case<__nv_bfloat16, 128>(2, 1, 4099, 4, 2, 1, 132, 1000, 4));
        tally(run_case<float, 128>(1, 200, 333, 4, 2, 1, 132, 70, 5));
        tally(run_case<float, 64>(1, 70, 90, 1, 1, 1, 132, 1, 66));
        tally(run_case<float, 128>(2, 130, 200, 2, 1, 0, 132, 0, 0, 0));
        tally(run_case<float, 64>(1, 300, 300, 3, 1, 1, 132, 0, 0, 100));
    }
    printf("%d passed, %d failed\n", pass, fail);
    return fail != 0;
}
