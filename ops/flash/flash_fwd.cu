/*
 * flash_fwd.cu — flash/cuda: a first fused attention forward kernel.
 *
 * O = softmax(scale·QKᵀ + causal mask)·V without the N×Nk scores in memory.
 * q [B,N,H,D], k [B,Nk,Hkv,D], v [B,Nk,Hkv,D], out [B,N,H,D] (token-major),
 * fp32 or bf16, accumulation in fp32, D = Dv ∈ {64, 128}, GQA (head h reads
 * kv head h / (H/Hkv)), causal aligned bottom-right (key j visible to query
 * i iff j <= i + Nk - N), decode (N = 1) included.
 *
 * Mapping: one block per (query tile of FLASH_BR rows, head, batch); 4
 * threads per query row (256 threads), thread part p owning the dims
 * d = p + 4·i of q and of the accumulator, interleaved so the 4 threads of a
 * row read consecutive shared-memory words (no bank conflicts). K and V
 * tiles of FLASH_BC keys are staged in shared memory as fp32. Per tile each
 * thread computes its row's FLASH_BC partial dot products, the 4 parts are
 * summed with two xor-shuffles, then the online softmax in base 2 (scale ·
 * log2 e folded into q) rescales the accumulator. Tiles past the last row's
 * diagonal are never loaded; the mask is applied per key. The same algorithm
 * in C is flash/cpu (reference/flash.c), tested on every build.
 *
 * Status: compiled for sm_80/89/90a with no spills (build/ops/flash/
 * flash_fwd.ptxas), never run on a GPU yet. No tensor cores (cuda-opt will).
 */
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>

#include "../../harness/gpu.h"
#include "../ops.h"
#include "flash_tiles.h"

#define FLASH_PARTS 4                           /* threads per query row */
#define FLASH_THREADS (FLASH_BR * FLASH_PARTS)

template <typename T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

template <typename T, int D>
__global__ void __launch_bounds__(FLASH_THREADS)
flash_fwd_kernel(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                 T *__restrict__ out, int N, int Nk, int H, int Hkv, float qscale, int causal)
{
    constexpr int PER = D / FLASH_PARTS;        /* dims per thread */
    extern __shared__ float smem[];
    float *ks = smem;                           /* [FLASH_BC][D] */
    float *vs = smem + FLASH_BC * D;            /* [FLASH_BC][D] */

    const int b = blockIdx.z, h = blockIdx.y, i0 = blockIdx.x * FLASH_BR;
    const int g = h / (H / Hkv), shift = Nk - N;
    const int r = threadIdx.x / FLASH_PARTS, p = threadIdx.x % FLASH_PARTS;
    const int row = i0 + r;
    const bool live = row < N;

    float qr[PER], acc[PER];
    const T *qp = q + ((size_t)(b * (size_t)N + (live ? row : N - 1)) * H + h) * D;
#pragma unroll
    for (int i = 0; i < PER; i++) {
        qr[i] = to_f(qp[p + FLASH_PARTS * i]) * qscale;
        acc[i] = 0.f;
    }
    float m = -INFINITY, l = 0.f;

    const int last_row = min(i0 + FLASH_BR, N) - 1;
    const int kv_end = causal ? min(Nk, last_row + shift + 1) : Nk;
    const int row_end = causal ? (live ? row : last_row) + shift + 1 : Nk;   /* keys this row sees */
    const size_t kv_stride = (size_t)Hkv * D;
    const T *kb = k + ((size_t)b * Nk * Hkv + g) * D;
    const T *vb = v + ((size_t)b * Nk * Hkv + g) * D;

    for (int j0 = 0; j0 < kv_end; j0 += FLASH_BC) {
        __syncthreads();                        /* the previous tile is consumed */
        for (int x = threadIdx.x; x < FLASH_BC * D; x += FLASH_THREADS) {
            int j = x / D, d = x % D;
            bool in = j0 + j < kv_end;
            ks[x] = in ? to_f(kb[(size_t)(j0 + j) * kv_stride + d]) : 0.f;
            vs[x] = in ? to_f(vb[(size_t)(j0 + j) * kv_stride + d]) : 0.f;
        }
        __syncthreads();

        float s[FLASH_BC];
        float mx = m;
#pragma unroll
        for (int j = 0; j < FLASH_BC; j++) {
            float dot = 0.f;
#pragma unroll
            for (int i = 0; i < PER; i++)
                dot = fmaf(qr[i], ks[j * D + p + FLASH_PARTS * i], dot);
            dot += __shfl_xor_sync(0xffffffffu, dot, 1);
            dot += __shfl_xor_sync(0xffffffffu, dot, 2);
            s[j] = j0 + j < row_end ? dot : -INFINITY;
            mx = fmaxf(mx, s[j]);
        }
        /* Every row sees key 0 in the first tile, so mx is finite. */
        float alpha = exp2f(m - mx), sum = 0.f;
#pragma unroll
        for (int i = 0; i < PER; i++)
            acc[i] *= alpha;
#pragma unroll
        for (int j = 0; j < FLASH_BC; j++) {
            float pj = exp2f(s[j] - mx);
            sum += pj;
#pragma unroll
            for (int i = 0; i < PER; i++)
                acc[i] = fmaf(pj, vs[j * D + p + FLASH_PARTS * i], acc[i]);
        }
        l = l * alpha + sum;
        m = mx;
    }

    if (live) {
        T *op = out + ((size_t)(b * (size_t)N + row) * H + h) * D;
        float inv = 1.f / l;
#pragma unroll
        for (int i = 0; i < PER; i++)
            op[p + FLASH_PARTS * i] = from_f<T>(acc[i] * inv);
    }
}

struct flash_state {
    void *q, *k, *v, *out;
};

static size_t elem_bytes(const struct shape *s)
{
    return s->dtype == DT_BF16 ? 2 : 4;
}

extern "C" int64_t flash_cuda_workspace_bytes(const struct shape *s)
{
    (void)s;
    return 0;
}

extern "C" int flash_cuda_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    if ((s->D != 64 && s->D != 128) || s->Dv != s->D) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: D=%lld Dv=%lld not supported (D = Dv = 64 or 128)",
                 (long long)s->D, (long long)s->Dv);
        return SB_UNSUPPORTED;
    }
    if (s->N > INT32_MAX || s->Nk > INT32_MAX) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: N and Nk must fit in 32 bits");
        return SB_UNSUPPORTED;
    }
    static struct flash_state st;
    const size_t es = elem_bytes(s);
    const int64_t nq = s->B * s->N * s->H * s->D, nk = s->B * s->Nk * s->Hkv * s->D;
    st.q = sb_gpu_alloc(ctx, (size_t)nq * es);
    st.k = st.q ? sb_gpu_alloc(ctx, (size_t)nk * es) : NULL;
    st.v = st.k ? sb_gpu_alloc(ctx, (size_t)nk * es) : NULL;
    st.out = st.v ? sb_gpu_alloc(ctx, (size_t)nq * es) : NULL;
    if (!st.out)
        return SB_OOM;
    int rc;
    if ((rc = sb_gpu_upload(ctx, st.q, ctx->in[0], nq, s->dtype)) != SB_OK ||
        (rc = sb_gpu_upload(ctx, st.k, ctx->in[1], nk, s->dtype)) != SB_OK ||
        (rc = sb_gpu_upload(ctx, st.v, ctx->in[2], nk, s->dtype)) != SB_OK ||
        (rc = sb_gpu_poison(ctx, st.out, (size_t)nq * es)) != SB_OK)
        return rc;
    ctx->priv = &st;
    return SB_OK;
}

template <typename T, int D>
static int launch(struct op_ctx *ctx, const struct flash_state *st)
{
    const struct shape *s = ctx->shape;
    const size_t smem = 2 * FLASH_BC * D * sizeof(float);
    cudaError_t e = cudaFuncSetAttribute(flash_fwd_kernel<T, D>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) {
        snprintf(ctx->err, sizeof ctx->err, "cudaFuncSetAttribute: %s", cudaGetErrorString(e));
        return SB_ERROR;
    }
    dim3 grid((unsigned)((s->N + FLASH_BR - 1) / FLASH_BR), (unsigned)s->H, (unsigned)s->B);
    const float qscale = (float)(ctx->scale * 1.4426950408889634);   /* log2(e) */
    flash_fwd_kernel<T, D><<<grid, FLASH_THREADS, smem, (cudaStream_t)sb_gpu_stream(ctx)>>>(
        (const T *)st->q, (const T *)st->k, (const T *)st->v, (T *)st->out, (int)s->N, (int)s->Nk,
        (int)s->H, (int)s->Hkv, qscale, (int)s->causal);
    return sb_gpu_check_launch(ctx, "flash_fwd_kernel");
}

extern "C" int flash_cuda_run(struct op_ctx *ctx)
{
    const struct flash_state *st = (const struct flash_state *)ctx->priv;
    const struct shape *s = ctx->shape;
    if (s->dtype == DT_BF16)
        return s->D == 64 ? launch<__nv_bfloat16, 64>(ctx, st) : launch<__nv_bfloat16, 128>(ctx, st);
    return s->D == 64 ? launch<float, 64>(ctx, st) : launch<float, 128>(ctx, st);
}

extern "C" int flash_cuda_fetch(struct op_ctx *ctx)
{
    const struct flash_state *st = (const struct flash_state *)ctx->priv;
    const struct shape *s = ctx->shape;
    return sb_gpu_download(ctx, ctx->out, st->out, s->B * s->N * s->H * s->D, s->dtype);
}

extern "C" void flash_cuda_teardown(struct op_ctx *ctx)
{
    ctx->priv = NULL;       /* buffers belong to the harness, which frees them */
}
