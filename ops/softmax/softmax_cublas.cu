/*
 * softmax_cublas.cu — family "softmax", implementation "cuda-cublas":
 * attention the unfused way, with the N×Nk scores in device memory.
 *
 *   S = scale·log2(e) · Q·Kᵀ        fp32, [B·H, N, Nk]     cublasGemmBatchedEx
 *   P = softmax2(S + causal mask)    dtype, [B·H, N, Nk]    softmax_rows_kernel
 *   O = P·V                          dtype, [B, N, H, Dv]   cublasGemmBatchedEx
 *
 * softmax2 is the softmax in base 2 (2^(s - max) / Σ 2^(s - max)), equal to
 * the natural one because log2(e) is folded into the GEMM's alpha. Shapes,
 * mask and formulas: reference/attention.c. q [B,N,H,D], k [B,Nk,Hkv,D],
 * v [B,Nk,Hkv,Dv], out [B,N,H,Dv], token-major; head h reads kv head
 * h / (H/Hkv); causal bottom-right: row i sees key j iff j <= i + (Nk - N).
 *
 * cuBLAS is column-major; a row-major [rows][cols] matrix with row stride ld
 * is a column-major cols×rows matrix with leading dimension ld. Per (b, h):
 *   QKᵀ: C (Nk×N, ldc=Nk) = S_bh; A = K_bg stored D×Nk (lda=Hkv·D), op T;
 *        B = Q_bh stored D×N (ldb=H·D), op N; m=Nk, n=N, k=D.
 *   PV:  C (Dv×N, ldc=H·Dv) = O_bh; A = V_bg stored Dv×Nk (lda=Hkv·Dv), op N;
 *        B = P_bh stored Nk×N (ldb=Nk), op N; m=Dv, n=N, k=Nk.
 * The per-(b, h) base pointers (GQA makes the K/V ones repeat) sit in
 * device-side pointer arrays, one batched call per product.
 *
 * Device memory beyond q, k, v, out (softmax_cublas_workspace_bytes):
 * B·H·N·Nk·(4 + sizeof dtype) bytes of scores and probabilities, plus the
 * pointer arrays — the N² footprint the long-context suite runs into.
 * cuBLAS's own workspace (allocated by the library) is not tracked.
 *
 * Status: compiled for sm_80/89/90a with no spills (build/ops/softmax/
 * softmax_cublas.ptxas); the host code, both cuBLAS calls (their argument
 * lists executed with cuBLAS's column-major semantics and bounds, ops/sim/
 * cublas.cpp) and softmax_rows_kernel run on the CPU under ASan/UBSan and
 * TSan against the float64 reference (tests/cuda_on_cpu.sh); never on a
 * GPU: cuBLAS's own kernels and their numerics are unverified.
 */
#include <cublas_v2.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common.cuh"
#include "../ops.h"

/* CUBLAS_CHECK(ctx, call): the cuBLAS function's name, the status name and
 * text, file:line into ctx->err; return SB_ERROR. Only the name of the call
 * is printed: the argument lists would not fit in ctx->err. */
#define CUBLAS_CHECK(ctx, call)                                                          \
    do {                                                                                 \
        cublasStatus_t s_ = (call);                                                      \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                               \
            snprintf((ctx)->err, sizeof (ctx)->err, "%.*s: %s (%s) at %s:%d",            \
                     (int)strcspn(#call, "("), #call, cublasGetStatusName(s_),           \
                     cublasGetStatusString(s_), __FILE__, __LINE__);                     \
            return SB_ERROR;                                                             \
        }                                                                                \
    } while (0)

/* Threads per row of the softmax kernel: 256 reads a row of 4K keys in 16
 * coalesced sweeps; rows of 16K keys and more (long context, decode, where
 * there are few rows and each is long) get the largest block. */
#define SOFTMAX_THREADS 256
#define SOFTMAX_THREADS_LONG 1024
#define SOFTMAX_LONG_ROW 16384
/* Blocks launched at most; the kernel strides over the remaining rows. */
#define SOFTMAX_MAX_BLOCKS (1 << 30)

/* Pointer arrays, each B·H long, in this order in one device buffer. */
enum { PTR_QK_A, PTR_QK_B, PTR_QK_C, PTR_PV_A, PTR_PV_B, PTR_PV_C, PTR_COUNT };

/* One handle per process (creating one costs milliseconds and allocates its
 * workspace): made on the first setup, bound to the case's stream on every
 * setup, never destroyed. The harness drives one device per process. */
static cublasHandle_t softmax_handle;

struct softmax_state {
    struct attn_dev io;     /* q, k, v, out */
    float *s;               /* d_ [B·H, N, Nk] scores in log2 units */
    void *p;                /* d_ [B·H, N, Nk] probabilities, dtype */
    void **ptrs;            /* d_ [PTR_COUNT][B·H] GEMM operand pointers */
    struct sb_plan rows;    /* softmax_rows_kernel's launch */
};

/* ---- kernel ---------------------------------------------------------------- */

/* (m, l) <- the merge of two partial softmax sums: l·2^m + l2·2^m2 = L·2^M.
 * (-inf, 0) is the empty sum. */
static __device__ __forceinline__ void softmax_merge(float &m, float &l, float m2, float l2)
{
    const float M = fmaxf(m, m2);
    if (M == -INFINITY)
        return;                                 /* both empty: 2^(-inf - -inf) is NaN */
    l = l * exp2f(m - M) + l2 * exp2f(m2 - M);
    m = M;
}

/* Merges (max, sum) across the 32 lanes of a warp; every lane gets the result. */
static __device__ __forceinline__ void warp_merge(float &m, float &l)
{
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
        const float l2 = __shfl_xor_sync(0xffffffffu, l, off);
        softmax_merge(m, l, m2, l2);
    }
}

/* One block per row r = (b·H + h)·N + i of S, striding over rows:
 * P[r][j] = 2^(S[r][j] - M) / L for the visible keys j < kv_end(i), 0 after,
 * with M the row max and L = Σ 2^(S - M), both in fp32 (S is read twice:
 * once for M and L together, online, once to write P). */
template <typename T>
__global__ void __launch_bounds__(SOFTMAX_THREADS_LONG)
softmax_rows_kernel(const float *__restrict__ S, T *__restrict__ P, int64_t rows, int64_t N,
                    int64_t Nk, int causal)
{
    __shared__ float red_m[32], red_l[32];      /* one (m, l) per warp */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nwarps = (blockDim.x + 31) >> 5;
    const int64_t shift = Nk - N;               /* causal: key j visible iff j <= i + shift */

    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const int64_t i = r % N;
        const int64_t kv_end = causal ? (i + shift + 1 < Nk ? i + shift + 1 : Nk) : Nk;
        const float *s = S + r * Nk;
        T *p = P + r * Nk;

        float m = -INFINITY, l = 0.0f;
        for (int64_t j = threadIdx.x; j < kv_end; j += blockDim.x) {
            const float x = s[j];
            if (x > m) {
                l = l * exp2f(m - x) + 1.0f;
                m = x;
            } else {
                l += exp2f(x - m);
            }
        }
        warp_merge(m, l);
        if (lane == 0)
            red_m[warp] = m, red_l[warp] = l;
        __syncthreads();
        if (warp == 0) {
            m = lane < nwarps ? red_m[lane] : -INFINITY;
            l = lane < nwarps ? red_l[lane] : 0.0f;
            warp_merge(m, l);
            if (lane == 0)
                red_m[0] = m, red_l[0] = l;
        }
        __syncthreads();
        /* kv_end >= 1 (the validator guarantees Nk >= N when causal), so M
         * is finite and L >= 1. */
        const float M = red_m[0], inv = 1.0f / red_l[0];
        for (int64_t j = threadIdx.x; j < Nk; j += blockDim.x)
            p[j] = sb_elem<T>::from_float(j < kv_end ? exp2f(s[j] - M) * inv : 0.0f);
        __syncthreads();                        /* red_* are reused by the next row */
    }
}

/* ---- host ------------------------------------------------------------------ */

static cudaDataType cuda_type(enum dtype dt)
{
    return dt == DT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/* Bytes beyond q, k, v, out, as a double: B·H·N·Nk can pass 2^63. */
static double softmax_ws_bytes(const struct shape *s)
{
    const double bhnn = (double)s->B * s->H * s->N * s->Nk;
    return bhnn * (sizeof(float) + dtype_table[s->dtype].bytes) +
           (double)PTR_COUNT * s->B * s->H * sizeof(void *);
}

extern "C" int64_t softmax_cublas_workspace_bytes(const struct shape *s)
{
    const double w = softmax_ws_bytes(s);
    return w >= 0x1p63 ? INT64_MAX : (int64_t)w;
}

/* cuBLAS takes int dimensions, leading dimensions and batch counts. */
static int softmax_check_dims(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct { const char *name; double v; } dims[] = {
        { "N", (double)s->N }, { "Nk", (double)s->Nk }, { "B*H", (double)s->B * s->H },
        { "Hkv*D", (double)s->Hkv * s->D }, { "H*D", (double)s->H * s->D },
        { "Hkv*Dv", (double)s->Hkv * s->Dv }, { "H*Dv", (double)s->H * s->Dv },
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v > INT_MAX) {
            snprintf(ctx->err, sizeof ctx->err, "cuda-cublas: %s=%.0f exceeds cuBLAS's int dimensions",
                     dims[i].name, dims[i].v);
            return SB_UNSUPPORTED;
        }
    return SB_OK;
}

/* Fills the PTR_COUNT arrays on the host and copies them to st->ptrs. */
static int softmax_upload_ptrs(struct op_ctx *ctx, struct softmax_state *st)
{
    const struct shape *s = ctx->shape;
    const int64_t BH = s->B * s->H, N = s->N, Nk = s->Nk, H = s->H, Hkv = s->Hkv;
    const int64_t D = s->D, Dv = s->Dv, group = H / Hkv;
    const size_t es = (size_t)dtype_table[s->dtype].bytes;
    const size_t bytes = (size_t)(PTR_COUNT * BH) * sizeof(void *);
    char *q = (char *)st->io.q, *k = (char *)st->io.k, *v = (char *)st->io.v;
    char *o = (char *)st->io.out, *p = (char *)st->p;
    void **h_ptrs = (void **)malloc(bytes);
    if (!h_ptrs) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-cublas: out of host memory for pointer arrays");
        return SB_OOM;
    }
    for (int64_t b = 0; b < s->B; b++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t bh = b * H + h, g = h / group;
            /* Element offsets: q[b,0,h,0], k/v[b,0,g,0], out[b,0,h,0], S/P[bh,0,0]. */
            h_ptrs[PTR_QK_A * BH + bh] = k + (size_t)((b * Nk * Hkv + g) * D) * es;
            h_ptrs[PTR_QK_B * BH + bh] = q + (size_t)((b * N * H + h) * D) * es;
            h_ptrs[PTR_QK_C * BH + bh] = st->s + (size_t)(bh * N) * (size_t)Nk;
            h_ptrs[PTR_PV_A * BH + bh] = v + (size_t)((b * Nk * Hkv + g) * Dv) * es;
            h_ptrs[PTR_PV_B * BH + bh] = p + (size_t)(bh * N) * (size_t)Nk * es;
            h_ptrs[PTR_PV_C * BH + bh] = o + (size_t)((b * N * H + h) * Dv) * es;
        }
    cudaStream_t stream = (cudaStream_t)sb_gpu_stream(ctx);
    cudaError_t e = cudaMemcpyAsync(st->ptrs, h_ptrs, bytes, cudaMemcpyHostToDevice, stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(stream);      /* h_ptrs is freed next */
    free(h_ptrs);
    if (e != cudaSuccess) {
        snprintf(ctx->err, sizeof ctx->err, "cudaMemcpyAsync(pointer arrays, %zu bytes): %s (%s) at %s:%d",
                 bytes, cudaGetErrorString(e), cudaGetErrorName(e), __FILE__, __LINE__);
        return SB_ERROR;
    }
    return SB_OK;
}

static int softmax_setup_state(struct op_ctx *ctx, struct softmax_state *st)
{
    const struct shape *s = ctx->shape;
    const size_t bhnn = (size_t)(s->B * s->H) * (size_t)s->N * (size_t)s->Nk;
    int rc;
    if ((rc = attn_dev_setup(ctx, &st->io)) != SB_OK)
        return rc;
    void *d_s = NULL, *d_ptrs = NULL;
    if ((rc = sb_alloc(ctx, &d_s, bhnn * sizeof(float))) != SB_OK ||
        (rc = sb_alloc(ctx, &st->p, bhnn * (size_t)dtype_table[s->dtype].bytes)) != SB_OK ||
        (rc = sb_alloc(ctx, &d_ptrs, (size_t)(PTR_COUNT * s->B * s->H) * sizeof(void *))) != SB_OK)
        return rc;
    st->s = (float *)d_s;
    st->ptrs = (void **)d_ptrs;
    if ((rc = softmax_upload_ptrs(ctx, st)) != SB_OK)
        return rc;
    if (!softmax_handle)
        CUBLAS_CHECK(ctx, cublasCreate(&softmax_handle));
    CUBLAS_CHECK(ctx, cublasSetStream(softmax_handle, (cudaStream_t)sb_gpu_stream(ctx)));
    return SB_OK;
}

/* softmax_rows_kernel's launch: a block per row, striding when there are
 * more rows than SOFTMAX_MAX_BLOCKS; the largest block for long rows. */
static struct sb_plan softmax_rows_plan(const struct shape *s)
{
    const int64_t rows = s->B * s->H * s->N;
    return { "softmax_rows_kernel", { rows < SOFTMAX_MAX_BLOCKS ? rows : SOFTMAX_MAX_BLOCKS, 1, 1 },
             s->Nk >= SOFTMAX_LONG_ROW ? SOFTMAX_THREADS_LONG : SOFTMAX_THREADS, 0 };
}

extern "C" int softmax_cublas_setup(struct op_ctx *ctx)
{
    int rc = softmax_check_dims(ctx);
    if (rc != SB_OK)
        return rc;
    const double need = softmax_ws_bytes(ctx->shape);
    if (need > 0x1p62) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-cublas: scores need %.3g bytes", need);
        return SB_OOM;
    }
    struct softmax_state *st = (struct softmax_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "cuda-cublas: out of host memory");
        return SB_OOM;
    }
    st->rows = softmax_rows_plan(ctx->shape);
    const void *kernel = ctx->shape->dtype == DT_BF16 ? (const void *)softmax_rows_kernel<__nv_bfloat16>
                                                      : (const void *)softmax_rows_kernel<float>;
    if ((rc = sb_plan_prepare(ctx, kernel, &st->rows, "cuda-cublas")) != SB_OK ||
        (rc = softmax_setup_state(ctx, st)) != SB_OK) {
        free(st);               /* the harness frees the tracked device buffers */
        return rc;
    }
    ctx->priv = st;
    return SB_OK;
}

template <typename T>
static int softmax_launch(struct op_ctx *ctx, const struct softmax_state *st)
{
    const struct shape *s = ctx->shape;
    return sb_launch(ctx, softmax_rows_kernel<T>, st->rows, (const float *)st->s, (T *)st->p,
                     s->B * s->H * s->N, s->N, s->Nk, (int)s->causal);
}

extern "C" int softmax_cublas_run(struct op_ctx *ctx)
{
    const struct softmax_state *st = (const struct softmax_state *)ctx->priv;
    const struct shape *s = ctx->shape;
    const cudaDataType dt = cuda_type(s->dtype);
    const int BH = (int)(s->B * s->H), N = (int)s->N, Nk = (int)s->Nk;
    const int D = (int)s->D, Dv = (int)s->Dv, H = (int)s->H, Hkv = (int)s->Hkv;
    const float alpha_qk = (float)(ctx->scale * SB_LOG2E), one = 1.0f, zero = 0.0f;
    void *const *ptrs = st->ptrs;
    int rc;

    /* S_bh (Nk×N col-major) = alpha · K_bgᵀ · Q_bh */
    CUBLAS_CHECK(ctx, cublasGemmBatchedEx(
        softmax_handle, CUBLAS_OP_T, CUBLAS_OP_N, Nk, N, D, &alpha_qk,
        (const void *const *)(ptrs + PTR_QK_A * BH), dt, Hkv * D,
        (const void *const *)(ptrs + PTR_QK_B * BH), dt, H * D, &zero,
        ptrs + PTR_QK_C * BH, CUDA_R_32F, Nk, BH, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));

    rc = s->dtype == DT_BF16 ? softmax_launch<__nv_bfloat16>(ctx, st) : softmax_launch<float>(ctx, st);
    if (rc != SB_OK)
        return rc;

    /* O_bh (Dv×N col-major, ldc = H·Dv) = V_bg · P_bh */
    CUBLAS_CHECK(ctx, cublasGemmBatchedEx(
        softmax_handle, CUBLAS_OP_N, CUBLAS_OP_N, Dv, N, Nk, &one,
        (const void *const *)(ptrs + PTR_PV_A * BH), dt, Hkv * Dv,
        (const void *const *)(ptrs + PTR_PV_B * BH), dt, Nk, &zero,
        ptrs + PTR_PV_C * BH, dt, H * Dv, BH, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return SB_OK;
}

extern "C" int softmax_cublas_fetch(struct op_ctx *ctx)
{
    return attn_dev_fetch(ctx, &((const struct softmax_state *)ctx->priv)->io);
}

/* Device buffers are the harness's to free; the handle is kept for the next
 * case. Only the host-side state goes. */
extern "C" void softmax_cublas_teardown(struct op_ctx *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}
