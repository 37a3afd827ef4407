/*
 * ssd_chunk.cu — family "ssm", variant ssd, implementation "cuda": Mamba-2's
 * chunked algorithm (reference/ssm_ssd.c) in three kernels, fp32 FMA, fp32
 * or bf16 in memory. With x̃_j = dt_j x_j, Λ the decay dt·A summed inside a
 * chunk:
 *   ssd_chunk_state_kernel  a block per (chunk, head, batch): Λ by a block
 *       scan (workspace lam), and the chunk's state from zero,
 *       S_c = Σ_j (e^{Λ_last − Λ_j} x̃_j)ᵀ B_j   (P × Ds, workspace states)
 *   ssd_state_pass_kernel   a thread per state element of (head, batch),
 *       walking the chunks: states[c] becomes the state entering chunk c,
 *       h ← e^{Λ_last(c)} h + S_c; the last h is ht
 *   ssd_chunk_out_kernel    a block per (SSD_QT query rows, head, batch):
 *       Y_i = e^{Λ_i} C_i h_in + Σ_{j ≤ i in the chunk} (C_i·B_j) e^{Λ_i − Λ_j} x̃_j,
 *       key tiles of SSD_QT tokens through shared memory, then D·x and z.
 * Only chunks are sequential (the state walk, P·Ds elements in parallel).
 * Every exponent is ≤ 0.
 *
 * Threads: 256 as a 16 × 16 grid; a thread owns rows ty + 16a and columns
 * tx + 16k of each output tile, so shared-memory rows read across tx are
 * consecutive words (B tiles padded by one word per row).
 *
 * Shapes: P ∈ {32, 64, 128}, Ds ∈ {16, 32, 64, 128}, P·Ds ≤ 8192; chunk a
 * multiple of 64 up to 256. Shared memory of the output kernel
 * 4·(64·Ds + max(64·(Ds+1), Ds·P) + 64·65 + 64·P + 128) bytes: 97 KiB at
 * P = 64, Ds = 128 (within sm_86/89's 99 KiB).
 * Workspace: lam [B,H,L] and states [B,H,chunks,P,Ds], fp32.
 *
 * Status: compiled for sm_80/89/90a (build/ops/ssm/ssd_chunk.ptxas); the
 * three kernels and their plans run on the CPU from this source, host code
 * included, under ASan/UBSan and TSan against the float64 reference
 * (tests/cuda_on_cpu.sh); never on a GPU.
 */
#include <stdint.h>

#include "ssd_dev.cuh"

#define SSD_QT SSD_GPU_QT       /* query rows of an output block; key rows of its tiles */
#define SSD_SUB SSD_GPU_SUB     /* tokens per shared-memory tile of the state kernel */

template <typename T, int TP, int TN>
__global__ void __launch_bounds__(SSD_THREADS)
ssd_chunk_state_kernel(const ssd_args<T> p)
{
    constexpr int P = 16 * TP, Ds = 16 * TN;
    __shared__ float s_lam[SSD_CMAX], s_w[SSD_CMAX], warp_sums[SSD_THREADS / 32];
    __shared__ float sx[SSD_SUB][P], sb[SSD_SUB][Ds];
    const int ci = blockIdx.x, h = blockIdx.y, b = blockIdx.z, g = h / (p.H / p.G);
    const int64_t c0 = (int64_t)ci * p.chunk, bh = (int64_t)b * p.H + h;
    const int c = (int)(p.L - c0 < p.chunk ? p.L - c0 : p.chunk);
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    ssd_chunk_decay(p, bh, c0, c, s_lam, s_w, warp_sums);

    float acc[TP][TN] = {};
    for (int j0 = 0; j0 < c; j0 += SSD_SUB) {
        for (int e = tid; e < SSD_SUB * P; e += SSD_THREADS) {
            const int j = e / P, q = e % P;
            const int64_t tok = (int64_t)b * p.L + c0 + j0 + j;
            sx[j][q] = j0 + j < c ? sb_elem<T>::to_float(p.x[(tok * p.H + h) * P + q]) * s_w[j0 + j] : 0.0f;
        }
        for (int e = tid; e < SSD_SUB * Ds; e += SSD_THREADS) {
            const int j = e / Ds, n = e % Ds;
            const int64_t tok = (int64_t)b * p.L + c0 + j0 + j;
            sb[j][n] = j0 + j < c ? sb_elem<T>::to_float(p.B[(tok * p.G + g) * Ds + n]) : 0.0f;
        }
        __syncthreads();
        for (int j = 0; j < SSD_SUB; j++) {
            SB_COUNT_MACS(TP * TN);
#pragma unroll
            for (int a = 0; a < TP; a++) {
                const float xv = sx[j][ty + 16 * a];
#pragma unroll
                for (int k = 0; k < TN; k++)
                    acc[a][k] = fmaf(xv, sb[j][tx + 16 * k], acc[a][k]);
            }
        }
        __syncthreads();
    }
    float *S = p.states + (bh * p.nch + ci) * P * Ds;
#pragma unroll
    for (int a = 0; a < TP; a++)
#pragma unroll
        for (int k = 0; k < TN; k++)
            S[(ty + 16 * a) * Ds + tx + 16 * k] = acc[a][k];
}

/* Dynamic shared memory of ssd_chunk_out_kernel, in floats. */
static __host__ __device__ int ssd_out_smem_floats(int P, int Ds)
{
    const int bh = SSD_QT * (Ds + 1) > Ds * P ? SSD_QT * (Ds + 1) : Ds * P;
    return SSD_QT * Ds + bh + SSD_QT * (SSD_QT + 1) + SSD_QT * P + 2 * SSD_QT;
}

/* Two blocks an SM (at most 128 registers): what ptxas chose unasked until
 * the kernel's shared memory came through sb_dynamic_smem(), after which
 * it took 80 registers and spilled at P = 32. */
template <typename T, int TP>
__global__ void __launch_bounds__(SSD_THREADS, 2)
ssd_chunk_out_kernel(const ssd_args<T> p)
{
    constexpr int P = 16 * TP, QA = SSD_QT / 16;   /* a thread's output rows */
    float *ssd_smem = static_cast<float *>(sb_dynamic_smem());
    const int Ds = p.Ds, tiles = p.chunk / SSD_QT;
    const int ci = blockIdx.x / tiles, h = blockIdx.y, b = blockIdx.z, g = h / (p.H / p.G);
    const int64_t c0 = (int64_t)ci * p.chunk, i0 = c0 + (int64_t)(blockIdx.x % tiles) * SSD_QT;
    if (i0 >= p.L)
        return;                                     /* the whole block: no barrier waits */
    const int64_t bh = (int64_t)b * p.H + h, tok0 = (int64_t)b * p.L;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    float *sC = ssd_smem;                           /* [QT][Ds] */
    float *sBH = sC + SSD_QT * Ds;                  /* h_in [Ds][P], then B tiles [QT][Ds+1] */
    float *sM = sBH + (SSD_QT * (Ds + 1) > Ds * P ? SSD_QT * (Ds + 1) : Ds * P);  /* [QT][QT+1] */
    float *sX = sM + SSD_QT * (SSD_QT + 1);         /* [QT][P] x̃ of a key tile */
    float *s_lq = sX + SSD_QT * P, *s_lk = s_lq + SSD_QT;

    /* The query rows' C and Λ, and the state entering the chunk. */
    for (int e = tid; e < SSD_QT * Ds; e += SSD_THREADS) {
        const int i = e / Ds, n = e % Ds;
        sC[e] = i0 + i < p.L ? sb_elem<T>::to_float(p.C[((tok0 + i0 + i) * p.G + g) * Ds + n]) : 0.0f;
    }
    for (int i = tid; i < SSD_QT; i += SSD_THREADS)
        s_lq[i] = i0 + i < p.L ? p.lam[bh * p.L + i0 + i] : 0.0f;
    const float *hin = p.states + (bh * p.nch + ci) * P * Ds;
    for (int e = tid; e < Ds * P; e += SSD_THREADS) {
        const int q = e / Ds, n = e % Ds;           /* read along n, stored [n][q] */
        sBH[n * P + q] = hin[e];
    }
    __syncthreads();

    float acc[QA][TP];                              /* Y[ty + 16a][tx + 16k] */
#pragma unroll
    for (int a = 0; a < QA; a++) {
        const int i = ty + 16 * a;
        float part[TP] = {};
        for (int n = 0; n < Ds; n++) {
            const float cv = sC[i * Ds + n];
            SB_COUNT_MACS(TP);
#pragma unroll
            for (int k = 0; k < TP; k++)
                part[k] = fmaf(cv, sBH[n * P + tx + 16 * k], part[k]);
        }
        const float e = ssm_dev_exp(s_lq[i]);       /* inter: e^{Λ_i} C_i h_in */
#pragma unroll
        for (int k = 0; k < TP; k++)
            acc[a][k] = part[k] * e;
    }
    __syncthreads();                                /* sBH is the B tiles' from here */

    for (int64_t j0 = c0; j0 <= i0; j0 += SSD_QT) {
        for (int e = tid; e < SSD_QT * Ds; e += SSD_THREADS) {
            const int j = e / Ds, n = e % Ds;
            sBH[j * (Ds + 1) + n] = j0 + j < p.L ? sb_elem<T>::to_float(p.B[((tok0 + j0 + j) * p.G + g) * Ds + n]) : 0.0f;
        }
        for (int e = tid; e < SSD_QT * P; e += SSD_THREADS) {
            const int j = e / P, q = e % P;
            const int64_t tok = tok0 + j0 + j;
            sX[e] = j0 + j < p.L ? sb_elem<T>::to_float(p.x[(tok * p.H + h) * P + q]) *
                                       sb_elem<T>::to_float(p.dt[tok * p.H + h])
                                 : 0.0f;
        }
        for (int j = tid; j < SSD_QT; j += SSD_THREADS)
            s_lk[j] = j0 + j < p.L ? p.lam[bh * p.L + j0 + j] : 0.0f;
        __syncthreads();
        /* scores M[i][j] = (C_i·B_j) e^{Λ_i − Λ_j}, j ≤ i (the mask's zeros included) */
#pragma unroll
        for (int a = 0; a < QA; a++) {
            const int i = ty + 16 * a;
            float dot[QA] = {};
            for (int n = 0; n < Ds; n++) {
                const float cv = sC[i * Ds + n];
                SB_COUNT_MACS(QA);
#pragma unroll
                for (int k = 0; k < QA; k++)
                    dot[k] = fmaf(cv, sBH[(tx + 16 * k) * (Ds + 1) + n], dot[k]);
            }
#pragma unroll
            for (int k = 0; k < QA; k++) {
                const int j = tx + 16 * k;
                sM[i * (SSD_QT + 1) + j] =
                    j0 + j <= i0 + i ? dot[k] * ssm_dev_exp(s_lq[i] - s_lk[j]) : 0.0f;
            }
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < QA; a++) {              /* intra: Y += M x̃ */
            const int i = ty + 16 * a;
            for (int j = 0; j < SSD_QT; j++) {
                const float m = sM[i * (SSD_QT + 1) + j];
                SB_COUNT_MACS(TP);
#pragma unroll
                for (int k = 0; k < TP; k++)
                    acc[a][k] = fmaf(m, sX[j * P + tx + 16 * k], acc[a][k]);
            }
        }
        __syncthreads();                            /* the tiles are reloaded */
    }

    const float Dh = p.D ? sb_elem<T>::to_float(p.D[h]) : 0.0f;
#pragma unroll
    for (int a = 0; a < QA; a++) {
        const int64_t t = i0 + ty + 16 * a;
        if (t >= p.L)
            continue;
#pragma unroll
        for (int k = 0; k < TP; k++)
            ssd_store_out(p, tok0 + t, h, tx + 16 * k, acc[a][k], Dh);
    }
}

/* ---- host ------------------------------------------------------------------------ */

static struct ssd_plans ssd_cuda_plans(const struct shape *s)
{
    return ssd_plans_of(s, "ssd_chunk_state_kernel", "ssd_chunk_out_kernel",
                        (size_t)ssd_out_smem_floats((int)s->P, (int)s->Ds) * sizeof(float));
}

template <typename T, int TP, int TN>
static int ssd_cuda_launch(struct op_ctx *ctx)
{
    const ssd_args<T> a = ssd_args_of<T>(ctx);
    const struct ssd_plans pl = ssd_cuda_plans(ctx->shape);
    int rc;
    if ((rc = sb_launch(ctx, ssd_chunk_state_kernel<T, TP, TN>, pl.state, a)) != SB_OK ||
        (rc = sb_launch(ctx, ssd_state_pass_kernel<T>, pl.pass, a)) != SB_OK)
        return rc;
    return sb_launch(ctx, ssd_chunk_out_kernel<T, TP>, pl.out, a);
}

/* The plans against the device (the output kernel's shared memory opted in). */
template <typename T, int TP, int TN>
static int ssd_cuda_prepare(struct op_ctx *ctx)
{
    return ssd_prepare(ctx, ssd_cuda_plans(ctx->shape), (const void *)ssd_chunk_state_kernel<T, TP, TN>,
                       (const void *)ssd_state_pass_kernel<T>, (const void *)ssd_chunk_out_kernel<T, TP>,
                       "cuda");
}

#define SSD_VARIANT(T, dt, P, Ds) \
    { dt, P, Ds, ssd_cuda_prepare<T, P / 16, Ds / 16>, ssd_cuda_launch<T, P / 16, Ds / 16> }
#define SSD_VARIANTS_OF(T, dt)                                                                 \
    SSD_VARIANT(T, dt, 32, 16), SSD_VARIANT(T, dt, 32, 32), SSD_VARIANT(T, dt, 32, 64),        \
    SSD_VARIANT(T, dt, 32, 128), SSD_VARIANT(T, dt, 64, 16), SSD_VARIANT(T, dt, 64, 32),       \
    SSD_VARIANT(T, dt, 64, 64), SSD_VARIANT(T, dt, 64, 128), SSD_VARIANT(T, dt, 128, 16),      \
    SSD_VARIANT(T, dt, 128, 32), SSD_VARIANT(T, dt, 128, 64)

static const struct {
    enum dtype dt;
    int P, Ds;
    int (*prepare)(struct op_ctx *);
    int (*launch)(struct op_ctx *);
} ssd_cuda_variants[] = {
    SSD_VARIANTS_OF(float, DT_FP32),
    SSD_VARIANTS_OF(__nv_bfloat16, DT_BF16),
};

static int ssd_cuda_variant(const struct shape *s)
{
    for (int i = 0; i < (int)(sizeof ssd_cuda_variants / sizeof ssd_cuda_variants[0]); i++)
        if (ssd_cuda_variants[i].dt == s->dtype && ssd_cuda_variants[i].P == s->P &&
            ssd_cuda_variants[i].Ds == s->Ds)
            return i;
    return -1;
}

extern "C" int64_t ssd_cuda_workspace_bytes(const struct shape *s)
{
    return ssd_workspace_bytes(s);
}

extern "C" int ssd_cuda_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const int v = ssd_cuda_variant(s);
    if (v < 0) {
        snprintf(ctx->err, sizeof ctx->err,
                 "cuda: P=%lld Ds=%lld not supported (P 32/64/128, Ds 16/32/64/128, P·Ds <= 8192)",
                 (long long)s->P, (long long)s->Ds);
        return SB_UNSUPPORTED;
    }
    int rc = ssd_check_chunk(ctx, "cuda");
    if (rc == SB_OK)
        rc = ssd_cuda_variants[v].prepare(ctx);
    return rc != SB_OK ? rc : ssm_dev_open(ctx, sizeof(struct ssm_dev), (size_t)ssd_workspace_bytes(s), "cuda");
}

extern "C" int ssd_cuda_run(struct op_ctx *ctx)
{
    return ssd_cuda_variants[ssd_cuda_variant(ctx->shape)].launch(ctx);
}

extern "C" int ssd_cuda_fetch(struct op_ctx *ctx)
{
    return ssm_dev_fetch(ctx);
}

extern "C" void ssd_cuda_teardown(struct op_ctx *ctx)
{
    ssm_dev_close(ctx);
}
