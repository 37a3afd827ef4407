/*
 * softmax_cublas.cu — softmax/cuda-cublas: attention the unfused way.
 *
 *   S = scale·Q·Kᵀ   cublasGemmBatchedEx, fp32 out   S [B·H, N, Nk] fp32
 *   P = softmax(S + causal mask) per row               P [B·H, N, Nk] dtype
 *   O = P·V          cublasGemmBatchedEx, dtype out  out [B, N, H, Dv]
 *
 * q [B,N,H,D], k [B,Nk,Hkv,D], v [B,Nk,Hkv,Dv] token-major; GQA by pointer
 * arrays (head h uses kv head h / (H/Hkv)); causal aligned bottom-right.
 * Row-major products as column-major cuBLAS calls: S (row-major N×Nk) is
 * the column-major Nk×N matrix Kᵀ-op(K) · Q with lda = Hkv·D, ldb = H·D; O
 * (row-major N×Dv inside the token-major output, ld H·Dv) is V · P with
 * lda = Hkv·Dv, ldb = Nk. The S and P buffers are the point of this family:
 * they count in the footprint and grow as N·Nk.
 *
 * Status: compiled for sm_80/89/90a, never run on a GPU yet.
 */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "../../harness/gpu.h"
#include "../ops.h"

#define SOFTMAX_THREADS 256

/* CUBLAS_CHECK: the call, its status and file:line into ctx->err. */
#define CUBLAS_CHECK(call)                                                               \
    do {                                                                                 \
        cublasStatus_t s_ = (call);                                                      \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                               \
            snprintf(ctx->err, sizeof ctx->err, "%.60s: %s (%s:%d)", #call,               \
                     cublasGetStatusString(s_), __FILE__, __LINE__);                     \
            return SB_ERROR;                                                             \
        }                                                                                \
    } while (0)

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

__device__ __forceinline__ float block_reduce(float x, bool is_max, float *red)
{
    for (int o = 16; o > 0; o >>= 1) {
        float y = __shfl_xor_sync(0xffffffffu, x, o);
        x = is_max ? fmaxf(x, y) : x + y;
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();                            /* red is free again */
    if (lane == 0)
        red[warp] = x;
    __syncthreads();
    x = red[0];
    for (int w = 1; w < SOFTMAX_THREADS / 32; w++)
        x = is_max ? fmaxf(x, red[w]) : x + red[w];
    return x;
}

/* One block per score row (b·H + h, i): masked entries become exactly 0. */
template <typename T>
__global__ void __launch_bounds__(SOFTMAX_THREADS)
masked_softmax_kernel(const float *__restrict__ S, T *__restrict__ P, int N, int Nk, int causal)
{
    __shared__ float red[SOFTMAX_THREADS / 32];
    const size_t row = blockIdx.x;
    const int i = (int)(row % (size_t)N);
    const int end = causal ? i + (Nk - N) + 1 : Nk;
    const float *s = S + row * (size_t)Nk;
    T *p = P + row * (size_t)Nk;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < end; j += SOFTMAX_THREADS)
        mx = fmaxf(mx, s[j]);
    mx = block_reduce(mx, true, red);
    float sum = 0.f;
    for (int j = threadIdx.x; j < end; j += SOFTMAX_THREADS)
        sum += __expf(s[j] - mx);
    sum = block_reduce(sum, false, red);
    const float inv = 1.f / sum;
    for (int j = threadIdx.x; j < Nk; j += SOFTMAX_THREADS)
        p[j] = from_f<T>(j < end ? __expf(s[j] - mx) * inv : 0.f);
}

struct softmax_state {
    void *q, *k, *v, *out, *P;
    float *S;
    const void **ptrs;      /* device: 6 arrays of B·H pointers (A, B, C of both GEMMs) */
};

static cublasHandle_t handle;   /* one per process: creating one costs ~100 ms */

static size_t elem_bytes(const struct shape *s)
{
    return s->dtype == DT_BF16 ? 2 : 4;
}

extern "C" int64_t softmax_cublas_workspace_bytes(const struct shape *s)
{
    const int64_t scores = s->B * s->H * s->N * s->Nk;
    return scores * 4 + scores * (int64_t)elem_bytes(s) + 6 * s->B * s->H * (int64_t)sizeof(void *);
}

extern "C" int softmax_cublas_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    if (s->N > INT_MAX || s->Nk > INT_MAX) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-cublas: N=%lld x Nk=%lld exceeds cuBLAS int dims",
                 (long long)s->N, (long long)s->Nk);
        return SB_UNSUPPORTED;
    }
    static struct softmax_state st;
    const size_t es = elem_bytes(s);
    const int64_t BH = s->B * s->H, nq = s->B * s->N * s->H * s->D;
    const int64_t nk = s->B * s->Nk * s->Hkv * s->D, nv = s->B * s->Nk * s->Hkv * s->Dv;
    const int64_t no = s->B * s->N * s->H * s->Dv, scores = BH * s->N * s->Nk;
    if (!(st.q = sb_gpu_alloc(ctx, (size_t)nq * es)) || !(st.k = sb_gpu_alloc(ctx, (size_t)nk * es)) ||
        !(st.v = sb_gpu_alloc(ctx, (size_t)nv * es)) || !(st.out = sb_gpu_alloc(ctx, (size_t)no * es)) ||
        !(st.S = (float *)sb_gpu_alloc(ctx, (size_t)scores * 4)) ||
        !(st.P = sb_gpu_alloc(ctx, (size_t)scores * es)) ||
        !(st.ptrs = (const void **)sb_gpu_alloc(ctx, (size_t)(6 * BH) * sizeof(void *))))
        return SB_OOM;
    int rc;
    if ((rc = sb_gpu_upload(ctx, st.q, ctx->in[0], nq, s->dtype)) != SB_OK ||
        (rc = sb_gpu_upload(ctx, st.k, ctx->in[1], nk, s->dtype)) != SB_OK ||
        (rc = sb_gpu_upload(ctx, st.v, ctx->in[2], nv, s->dtype)) != SB_OK ||
        (rc = sb_gpu_poison(ctx, st.out, (size_t)no * es)) != SB_OK)
        return rc;

    /* Per (b, h): Q, K, S for the first GEMM; V, P, O for the second. */
    const void **h = (const void **)malloc((size_t)(6 * BH) * sizeof(void *));
    if (!h) {
        snprintf(ctx->err, sizeof ctx->err, "out of host memory");
        return SB_OOM;
    }
    for (int64_t b = 0; b < s->B; b++)
        for (int64_t hh = 0; hh < s->H; hh++) {
            const int64_t i = b * s->H + hh, g = hh / (s->H / s->Hkv);
            h[0 * BH + i] = (const char *)st.k + ((b * s->Nk * s->Hkv + g) * s->D) * es;
            h[1 * BH + i] = (const char *)st.q + ((b * s->N * s->H + hh) * s->D) * es;
            h[2 * BH + i] = st.S + i * s->N * s->Nk;
            h[3 * BH + i] = (const char *)st.v + ((b * s->Nk * s->Hkv + g) * s->Dv) * es;
            h[4 * BH + i] = (const char *)st.P + i * s->N * s->Nk * (int64_t)es;
            h[5 * BH + i] = (const char *)st.out + ((b * s->N * s->H + hh) * s->Dv) * es;
        }
    cudaError_t e = cudaMemcpy(st.ptrs, h, (size_t)(6 * BH) * sizeof(void *), cudaMemcpyHostToDevice);
    free(h);
    if (e != cudaSuccess) {
        snprintf(ctx->err, sizeof ctx->err, "cudaMemcpy(pointer arrays): %s", cudaGetErrorString(e));
        return SB_ERROR;
    }
    if (!handle)
        CUBLAS_CHECK(cublasCreate(&handle));
    CUBLAS_CHECK(cublasSetStream(handle, (cudaStream_t)sb_gpu_stream(ctx)));
    ctx->priv = &st;
    return SB_OK;
}

extern "C" int softmax_cublas_run(struct op_ctx *ctx)
{
    const struct softmax_state *st = (const struct softmax_state *)ctx->priv;
    const struct shape *s = ctx->shape;
    const int BH = (int)(s->B * s->H), N = (int)s->N, Nk = (int)s->Nk;
    const int D = (int)s->D, Dv = (int)s->Dv;
    const cudaDataType_t t = s->dtype == DT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const float scale = (float)ctx->scale, one = 1.f, zero = 0.f;
    const void *const *p = st->ptrs;

    CUBLAS_CHECK(cublasGemmBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, Nk, N, D, &scale,
                                     p + 0 * BH, t, (int)(s->Hkv * D), p + 1 * BH, t,
                                     (int)(s->H * D), &zero, (void *const *)(p + 2 * BH),
                                     CUDA_R_32F, Nk, BH, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    cudaStream_t stream = (cudaStream_t)sb_gpu_stream(ctx);
    const unsigned rows = (unsigned)((int64_t)BH * N);
    if (s->dtype == DT_BF16)
        masked_softmax_kernel<__nv_bfloat16><<<rows, SOFTMAX_THREADS, 0, stream>>>(
            st->S, (__nv_bfloat16 *)st->P, N, Nk, (int)s->causal);
    else
        masked_softmax_kernel<float><<<rows, SOFTMAX_THREADS, 0, stream>>>(
            st->S, (float *)st->P, N, Nk, (int)s->causal);
    int rc = sb_gpu_check_launch(ctx, "masked_softmax_kernel");
    if (rc != SB_OK)
        return rc;
    CUBLAS_CHECK(cublasGemmBatchedEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, Dv, N, Nk, &one,
                                     p + 3 * BH, t, (int)(s->Hkv * Dv), p + 4 * BH, t, Nk, &zero,
                                     (void *const *)(p + 5 * BH), t, (int)(s->H * Dv), BH,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return SB_OK;
}

extern "C" int softmax_cublas_fetch(struct op_ctx *ctx)
{
    const struct softmax_state *st = (const struct softmax_state *)ctx->priv;
    const struct shape *s = ctx->shape;
    return sb_gpu_download(ctx, ctx->out, st->out, s->B * s->N * s->H * s->Dv, s->dtype);
}

extern "C" void softmax_cublas_teardown(struct op_ctx *ctx)
{
    ctx->priv = NULL;       /* buffers belong to the harness; the handle is kept */
}
