/*
 * conv_fft.cu — family "ssm", variant conv, implementation "cuda": the long
 * convolution by FFT, as reference/ssm_conv.c's cpu form, with cuFFT:
 *   kp = k zero-padded to n         conv_pad_k_kernel       [H][n] fp32
 *   K  = rfft(kp)                   cuFFT R2C, batch H      [H][n/2+1]
 *   up = u transposed, zero-padded  conv_transpose_kernel   [B·H][n] fp32
 *   U  = rfft(up)                   cuFFT R2C, batch B·H
 *   U  = U ⊙ K / n                  conv_mul_kernel
 *   up = irfft(U)                   cuFFT C2R, batch B·H
 *   y  = up transposed, first L     conv_transpose_kernel   [B,L,H] in the dtype
 * n = conv_fft_len(L) ≥ 2L. The filter's transform is part of every call,
 * as in Hyena's fftconv and FlashFFTConv's forward (the FLOP count says so).
 * Transforms in fp32 for both dtypes; bf16 is converted on the way in and
 * rounded on the way out. The transposes go through 32 × 33 shared tiles,
 * so token-major u and y are read and written along H.
 *
 * cuFFT is linked dynamically (libcufft, beside cuBLAS); its work area comes
 * from the harness's allocator (cufftSetAutoAllocation(0)), so the footprint
 * counts it. Plans are made in setup (not timed).
 *
 * Status: compiled for sm_80/89/90a (build/ops/ssm/conv_fft.ptxas); the
 * three kernels, their plans and the host code run on the CPU from this
 * source under ASan/UBSan and TSan against the float64 reference
 * (tests/cuda_on_cpu.sh), the cuFFT calls through the runner's model of
 * them (ops/sim/cufft.cpp: its semantics and checks, not cuFFT's kernels);
 * never on a GPU.
 */
#include <cufft.h>
#include <stdint.h>

#include "../launch.cuh"
#include "ssm_dev.cuh"

#define CONV_TILE 32
#define CONV_THREADS 256

/* SB_CUFFT_CHECK(ctx, call): on failure, the call, cuFFT's status and
 * file:line into ctx->err; return SB_ERROR (SB_OOM for an allocation). */
#define SB_CUFFT_CHECK(ctx, call)                                                           \
    do {                                                                                    \
        cufftResult r_ = (call);                                                            \
        if (r_ != CUFFT_SUCCESS) {                                                          \
            snprintf((ctx)->err, sizeof (ctx)->err, "%s: cuFFT status %d at %s:%d", #call,   \
                     (int)r_, __FILE__, __LINE__);                                          \
            return r_ == CUFFT_ALLOC_FAILED ? SB_OOM : SB_ERROR;                            \
        }                                                                                   \
    } while (0)

/* kp[h][t] = k[h][t] for t < L, 0 up to n. */
template <typename T>
__global__ void __launch_bounds__(CONV_THREADS)
conv_pad_k_kernel(const T *__restrict__ k, float *__restrict__ kp, int64_t L, int64_t n, int64_t H)
{
    for (int64_t i = (int64_t)blockIdx.x * CONV_THREADS + threadIdx.x; i < H * n;
         i += (int64_t)gridDim.x * CONV_THREADS) {
        const int64_t h = i / n, t = i % n;
        kp[i] = t < L ? sb_elem<T>::to_float(k[h * L + t]) : 0.0f;
    }
}

/* dst[b][c][r] = src[b][r][c] for r < rows, 0 for rows ≤ r < rows_out, in
 * 32 × 32 tiles (r0, c0) read along c and written along r; src rows are
 * src_ld apart, dst rows rows_out. The padding transpose of u [B][L][H] to
 * [B·H][n] (r = t, c = h) and its inverse from [B·H][n] to y [B][L][H]
 * (r = h, c = t). */
template <typename S, typename D>
__global__ void __launch_bounds__(CONV_TILE * 8)
conv_transpose_kernel(const S *__restrict__ src, D *__restrict__ dst, int64_t rows, int64_t cols,
                      int64_t src_ld, int64_t rows_out, int64_t src_batch, int64_t dst_batch)
{
    __shared__ float tile[CONV_TILE][CONV_TILE + 1];
    const int64_t r0 = (int64_t)blockIdx.x * CONV_TILE, c0 = (int64_t)blockIdx.y * CONV_TILE;
    const int x = threadIdx.x % CONV_TILE, y0 = threadIdx.x / CONV_TILE;
    src += blockIdx.z * src_batch, dst += blockIdx.z * dst_batch;
    for (int y = y0; y < CONV_TILE; y += 8) {       /* tile[r][c] */
        const int64_t r = r0 + y, c = c0 + x;
        tile[y][x] = r < rows && c < cols ? sb_elem<S>::to_float(src[r * src_ld + c]) : 0.0f;
    }
    __syncthreads();
    for (int y = y0; y < CONV_TILE; y += 8) {
        const int64_t c = c0 + y, r = r0 + x;
        if (c < cols && r < rows_out)
            dst[c * rows_out + r] = sb_elem<D>::from_float(tile[x][y]);
    }
}

/* U[b·H + h][f] *= K[h][f] / n. */
__global__ void __launch_bounds__(CONV_THREADS)
conv_mul_kernel(cufftComplex *__restrict__ U, const cufftComplex *__restrict__ K, int64_t nf,
                int64_t H, int64_t BH, float inv_n)
{
    for (int64_t i = (int64_t)blockIdx.x * CONV_THREADS + threadIdx.x; i < BH * nf;
         i += (int64_t)gridDim.x * CONV_THREADS) {
        const cufftComplex a = U[i], k = K[(i / nf) % H * nf + i % nf];
        SB_COUNT_MACS(3);       /* the convention's 6 FLOPs a complex product */
        U[i] = make_cuComplex((a.x * k.x - a.y * k.y) * inv_n, (a.x * k.y + a.y * k.x) * inv_n);
    }
}

/* ---- host ------------------------------------------------------------------------ */

enum { CONV_PLAN_K, CONV_PLAN_U, CONV_PLAN_Y, CONV_PLANS };

struct conv_state {
    struct ssm_dev dev;         /* first: ssm_dev_open allocates the whole struct */
    cufftHandle plan[CONV_PLANS];
    int made[CONV_PLANS];
    float *kp, *up;             /* d_ [H][n], [B·H][n] */
    cufftComplex *Kf, *Uf;      /* d_ [H][n/2+1], [B·H][n/2+1] */
};

/* The tensors beyond the case's own: time and frequency buffers. */
static int64_t conv_buffer_bytes(const struct shape *s)
{
    const int64_t n = conv_fft_len(s->N), nf = n / 2 + 1, rows = s->H * (1 + s->B);
    return rows * n * (int64_t)sizeof(float) + rows * nf * (int64_t)sizeof(cufftComplex);
}

/* What cuFFT says its plans' work areas take (the larger, as they share one). */
static int64_t conv_cufft_bytes(const struct shape *s)
{
    int n[1] = { (int)conv_fft_len(s->N) };
    size_t a = 0, b = 0, c = 0;
    if (cufftEstimateMany(1, n, NULL, 1, 0, NULL, 1, 0, CUFFT_R2C, (int)s->H, &a) != CUFFT_SUCCESS ||
        cufftEstimateMany(1, n, NULL, 1, 0, NULL, 1, 0, CUFFT_R2C, (int)(s->B * s->H), &b) != CUFFT_SUCCESS ||
        cufftEstimateMany(1, n, NULL, 1, 0, NULL, 1, 0, CUFFT_C2R, (int)(s->B * s->H), &c) != CUFFT_SUCCESS)
        return 0;
    size_t m = a > b ? a : b;
    return (int64_t)(m > c ? m : c);
}

extern "C" int64_t conv_cuda_workspace_bytes(const struct shape *s)
{
    return conv_buffer_bytes(s) + conv_cufft_bytes(s);
}

static int conv_cufft_plans(struct op_ctx *ctx, struct conv_state *st)
{
    const struct shape *s = ctx->shape;
    long long n[1] = { conv_fft_len(s->N) };
    const long long batch[CONV_PLANS] = { s->H, s->B * s->H, s->B * s->H };
    const cufftType type[CONV_PLANS] = { CUFFT_R2C, CUFFT_R2C, CUFFT_C2R };
    size_t work[CONV_PLANS], most = 0;
    for (int p = 0; p < CONV_PLANS; p++) {
        SB_CUFFT_CHECK(ctx, cufftCreate(&st->plan[p]));
        st->made[p] = 1;
        SB_CUFFT_CHECK(ctx, cufftSetAutoAllocation(st->plan[p], 0));
        SB_CUFFT_CHECK(ctx, cufftMakePlanMany64(st->plan[p], 1, n, NULL, 1, 0, NULL, 1, 0, type[p],
                                                batch[p], &work[p]));
        SB_CUFFT_CHECK(ctx, cufftSetStream(st->plan[p], (cudaStream_t)sb_gpu_stream(ctx)));
        if (work[p] > most)
            most = work[p];
    }
    void *area = NULL;
    int rc;
    if (most && (rc = sb_alloc(ctx, &area, most)) != SB_OK)
        return rc;
    for (int p = 0; p < CONV_PLANS; p++)    /* the plans run one after another: one area */
        SB_CUFFT_CHECK(ctx, cufftSetWorkArea(st->plan[p], area));
    return SB_OK;
}

/* Blocks of a grid-stride loop over `count` elements: enough to fill any GPU. */
static int64_t conv_blocks(int64_t count)
{
    const int64_t b = (count + CONV_THREADS - 1) / CONV_THREADS;
    return b < 65536 ? b : 65536;
}

/* The launches: the filter's padding and the products as grid-stride
 * loops; the transposes in 32 × 32 tiles, (tokens, channels) into the FFT
 * rows and (channels, tokens) back, a z-layer per batch. */
struct conv_launches {
    struct sb_plan pad_k, pad_u, mul, unpad;
};
static struct conv_launches conv_launches_of(const struct shape *s)
{
    const int64_t n = conv_fft_len(s->N), nf = n / 2 + 1, H = s->H;
    const auto tiles = [](int64_t x) { return (x + CONV_TILE - 1) / CONV_TILE; };
    return { { "conv_pad_k_kernel", { conv_blocks(H * n), 1, 1 }, CONV_THREADS, 0 },
             { "conv_transpose_kernel", { tiles(n), tiles(H), s->B }, CONV_TILE * 8, 0 },
             { "conv_mul_kernel", { conv_blocks(s->B * H * nf), 1, 1 }, CONV_THREADS, 0 },
             { "conv_transpose_kernel", { tiles(H), tiles(s->N), s->B }, CONV_TILE * 8, 0 } };
}

template <typename T>
static int conv_prepare(struct op_ctx *ctx)
{
    const struct conv_launches p = conv_launches_of(ctx->shape);
    int rc;
    if ((rc = sb_plan_prepare(ctx, (const void *)conv_pad_k_kernel<T>, &p.pad_k, "cuda")) != SB_OK ||
        (rc = sb_plan_prepare(ctx, (const void *)conv_transpose_kernel<T, float>, &p.pad_u, "cuda")) != SB_OK ||
        (rc = sb_plan_prepare(ctx, (const void *)conv_mul_kernel, &p.mul, "cuda")) != SB_OK)
        return rc;
    return sb_plan_prepare(ctx, (const void *)conv_transpose_kernel<float, T>, &p.unpad, "cuda");
}

template <typename T>
static int conv_launch(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const struct conv_state *st = (const struct conv_state *)ctx->priv;
    const struct conv_launches p = conv_launches_of(s);
    const int64_t L = s->N, n = conv_fft_len(L), nf = n / 2 + 1, H = s->H, BH = s->B * H;
    int rc;
    if ((rc = sb_launch(ctx, conv_pad_k_kernel<T>, p.pad_k, (const T *)st->dev.in[l.k], st->kp, L, n, H)) != SB_OK)
        return rc;
    SB_CUFFT_CHECK(ctx, cufftExecR2C(st->plan[CONV_PLAN_K], st->kp, st->Kf));
    if ((rc = sb_launch(ctx, conv_transpose_kernel<T, float>, p.pad_u, (const T *)st->dev.in[l.x], st->up,
                        L, H, H, n, L * H, H * n)) != SB_OK)
        return rc;
    SB_CUFFT_CHECK(ctx, cufftExecR2C(st->plan[CONV_PLAN_U], st->up, st->Uf));
    if ((rc = sb_launch(ctx, conv_mul_kernel, p.mul, st->Uf, (const cufftComplex *)st->Kf, nf, H, BH,
                        1.0f / (float)n)) != SB_OK)
        return rc;
    SB_CUFFT_CHECK(ctx, cufftExecC2R(st->plan[CONV_PLAN_Y], st->Uf, st->up));
    return sb_launch(ctx, conv_transpose_kernel<float, T>, p.unpad, (const float *)st->up, (T *)st->dev.out,
                     H, L, n, H, H * n, L * H);
}

extern "C" void conv_cuda_teardown(struct op_ctx *ctx)
{
    struct conv_state *st = (struct conv_state *)ctx->priv;
    for (int p = 0; st && p < CONV_PLANS; p++)
        if (st->made[p])
            cufftDestroy(st->plan[p]);
    ssm_dev_close(ctx);
}

extern "C" int conv_cuda_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const int64_t n = conv_fft_len(s->N), nf = n / 2 + 1;
    int rc = s->dtype == DT_BF16 ? conv_prepare<__nv_bfloat16>(ctx) : conv_prepare<float>(ctx);
    if (rc == SB_OK)
        rc = ssm_dev_open(ctx, sizeof(struct conv_state), (size_t)conv_buffer_bytes(s), "cuda");
    if (rc != SB_OK)
        return rc;
    struct conv_state *st = (struct conv_state *)ctx->priv;
    st->kp = (float *)st->dev.work;
    st->up = st->kp + s->H * n;
    st->Kf = (cufftComplex *)(st->up + s->B * s->H * n);
    st->Uf = st->Kf + s->H * nf;
    if ((rc = conv_cufft_plans(ctx, st)) != SB_OK)
        conv_cuda_teardown(ctx);
    return rc;
}

extern "C" int conv_cuda_run(struct op_ctx *ctx)
{
    return ctx->shape->dtype == DT_BF16 ? conv_launch<__nv_bfloat16>(ctx) : conv_launch<float>(ctx);
}

extern "C" int conv_cuda_fetch(struct op_ctx *ctx)
{
    return ssm_dev_fetch(ctx);
}
