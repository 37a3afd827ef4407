/*
 * s6_scan.cu — family "ssm", variant s6, implementation "cuda": Mamba's
 * selective scan (reference/ssm.h), the chunked decomposition of
 * reference/ssm_s6.c on threads. fp32 or bf16 in memory, fp32 in registers;
 * the final state returned with state=1.
 *
 * Mapping: one block of S6_THREADS threads per (S6_ROWS channels, batch),
 * walking the sequence in steps of S6_THREADS · chunk tokens. In a step,
 * thread i owns the chunk of `chunk` consecutive tokens t0 = step + i·chunk
 * (the shape's chunk: 8 or 16), and for each channel of the block and
 * each state n:
 *   1. its chunk's maps a_t = e^{Δ_t A_n}, b_t = Δ_t u_t B_t[n] in
 *      registers, and their composition (P, h) = (Π a, the scan from 0);
 *   2. the carries: an inclusive warp scan of the (P, h) pairs by
 *      shuffles, the warps' totals through shared memory, and the state
 *      entering the step (the last thread's end state of the step before,
 *      or h0), give each thread the state entering its chunk;
 *   3. its chunk scanned again from that state with the kept maps: h_t for
 *      each token, y_t += C_t[n] h_t.
 * Then y = (y + D u) · silu(z) is stored. One exp per (token, channel,
 * state): the B·L·Dm·Ds of the family's count, which a GPU report compares
 * with the SFU rate. The S6_ROWS channels of a block share their group's B
 * and C, so the second and later channels of a step find them in L1
 * (Mamba's kernel reads them once per channel, from L2).
 *
 * Composition: (P1, h1) then (P2, h2) is (P1·P2, P2·h1 + h2), associative;
 * padding tokens past L are Δ = 0, the identity (1, 0).
 *
 * Shared memory per block: A·log2(e) and two carry buffers per channel and
 * state (3·S6_ROWS·Ds floats, dynamic: 12 KiB at Ds = 256), and the warps'
 * totals twice (each barrier's totals go to the other buffer than the last
 * one's, so one barrier per state suffices; the carries alternate per
 * step).
 *
 * The bound at the perf target (H100 SXM, bf16, Dm = 4096, Ds = 16,
 * B·L = 64K, with z): 4.3e9 exps / (132 SMs · 16 per clock · 1.98 GHz) =
 * 1.03 ms against 2.15 GB of u, Δ, z, y / ~3 TB/s = 0.72 ms: the SFU binds,
 * and 70% of it is 1.47 ms. Per exp the kernel issues ~6 fp32 operations
 * (Δ·A, P, h, the rescan's h and y) against the FMA pipe's 8 per MUFU
 * slot, and 12/chunk shuffles against the shuffle unit's 2 per MUFU slot:
 * chunk = 16 leaves the SFU the busiest pipe, chunk = 8 (default; 94
 * registers, 5 blocks an SM against 3 at chunk 16) trades some shuffle
 * pressure for occupancy. Which is faster is for a GPU to say.
 *
 * Status: compiled for sm_80/89/90a with no spills (build/ops/ssm/
 * s6_scan.ptxas: 94 registers at chunk 8, 162 at 16; MUFU.EX2 in the
 * SASS); the kernel and its plan run on the CPU from this source, host
 * code included, under ASan/UBSan and TSan against the float64 reference
 * (tests/cuda_on_cpu.sh); never on a GPU.
 */
#include <stdint.h>

#include "../launch.cuh"
#include "ssm_dev.cuh"

#define S6_THREADS S6_GPU_THREADS
#define S6_WARPS (S6_THREADS / 32)
#define S6_ROWS S6_GPU_ROWS     /* channels per block, sharing B and C in L1 */
#define S6_FULL 0xffffffffu

/* The channel's tensors, as the kernel reads them. */
template <typename T>
struct s6_args {
    const T *u, *delta, *A, *B, *C, *D, *z, *h0;
    T *out, *ht;
    int L, Dm, Ds, G;
};

template <typename T, int NI>
__global__ void __launch_bounds__(S6_THREADS)
s6_scan_kernel(const s6_args<T> p)
{
    float *s6_smem = static_cast<float *>(sb_dynamic_smem());
    __shared__ float sP[2][S6_WARPS], sH[2][S6_WARPS];     /* the warps' totals, by barrier parity */
    const int Ds = p.Ds, L = p.L, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int d0 = blockIdx.x * S6_ROWS, b = blockIdx.y;
    const int rows = p.Dm - d0 < S6_ROWS ? p.Dm - d0 : S6_ROWS;
    float *sA2 = s6_smem;                       /* [S6_ROWS][Ds] A·log2(e) */
    float *carry = s6_smem + S6_ROWS * Ds;      /* [2][S6_ROWS][Ds] the state entering a step */

    for (int i = tid; i < rows * Ds; i += S6_THREADS) {
        const int r = i / Ds, n = i % Ds;
        const int64_t row = (int64_t)b * p.Dm + d0 + r;
        sA2[i] = sb_elem<T>::to_float(p.A[(int64_t)(d0 + r) * Ds + n]) * (float)SB_LOG2E;
        carry[i] = p.h0 ? sb_elem<T>::to_float(p.h0[row * Ds + n]) : 0.0f;
    }
    __syncthreads();

    int par = 0;                                /* the carry buffer this step reads */
    int k = 0;                                  /* barriers so far: the totals' buffer */
    for (int64_t s0 = 0; s0 < L; s0 += (int64_t)S6_THREADS * NI) {
        const int64_t t0 = s0 + (int64_t)tid * NI;
        for (int r = 0; r < rows; r++) {
            const int d = d0 + r, g = d / (p.Dm / p.G);
            const int64_t row = (int64_t)b * p.Dm + d, bc = ((int64_t)b * p.G + g) * Ds * L;
            float dl[NI], du[NI], y[NI];
            ssm_load_run<T, NI>(p.delta + row * L, t0, L, dl, 0.0f);    /* Δ = 0: identity */
            ssm_load_run<T, NI>(p.u + row * L, t0, L, du, 0.0f);
#pragma unroll
            for (int i = 0; i < NI; i++)
                du[i] *= dl[i], y[i] = 0.0f;

            for (int n = 0; n < Ds; n++) {
                const int q = k++ & 1;
                const float A2 = sA2[r * Ds + n];
                float a[NI], bb[NI], P = 1.0f, h = 0.0f;
                SB_COUNT_MACS(9 * NI / 2);              /* steps 1 and 3: 3 multiplies, 3 FMAs a token */
                ssm_load_run<T, NI>(p.B + bc + (int64_t)n * L, t0, L, bb, 0.0f);
#pragma unroll
                for (int i = 0; i < NI; i++) {          /* 1. the chunk's maps */
                    a[i] = exp2f(dl[i] * A2);
                    bb[i] *= du[i];
                    P *= a[i];
                    h = fmaf(a[i], h, bb[i]);
                }
#pragma unroll
                for (int off = 1; off < 32; off *= 2) { /* 2. inclusive warp scan */
                    const float Po = __shfl_up_sync(S6_FULL, P, off);
                    const float ho = __shfl_up_sync(S6_FULL, h, off);
                    if (lane >= off)
                        h = fmaf(P, ho, h), P *= Po;
                }
                if (lane == 31)
                    sP[q][warp] = P, sH[q][warp] = h;
                float Pe = __shfl_up_sync(S6_FULL, P, 1), he = __shfl_up_sync(S6_FULL, h, 1);
                if (lane == 0)
                    Pe = 1.0f, he = 0.0f;
                __syncthreads();
                float c = carry[(par * S6_ROWS + r) * Ds + n];
                for (int w = 0; w < warp; w++)
                    c = fmaf(sP[q][w], c, sH[q][w]);
                c = fmaf(Pe, c, he);                    /* the state entering the chunk */
                float cv[NI];
                ssm_load_run<T, NI>(p.C + bc + (int64_t)n * L, t0, L, cv, 0.0f);
#pragma unroll
                for (int i = 0; i < NI; i++) {          /* 3. the outputs */
                    c = fmaf(a[i], c, bb[i]);
                    y[i] = fmaf(cv[i], c, y[i]);
                }
                if (tid == S6_THREADS - 1)              /* the state leaving the step */
                    carry[((par ^ 1) * S6_ROWS + r) * Ds + n] = c;
            }

            const float Dd = sb_elem<T>::to_float(p.D[d]);
            float uu[NI], zz[NI];
            ssm_load_run<T, NI>(p.u + row * L, t0, L, uu, 0.0f);
            if (p.z)
                ssm_load_run<T, NI>(p.z + row * L, t0, L, zz, 0.0f);
            SB_COUNT_MACS(NI * (1 + (p.z != nullptr)));
#pragma unroll
            for (int i = 0; i < NI; i++) {
                const float v = fmaf(Dd, uu[i], y[i]);
                y[i] = p.z ? v * ssm_dev_silu(zz[i]) : v;
            }
            ssm_store_run<T, NI>(p.out + row * L, t0, L, y);
        }
        par ^= 1;
        __syncthreads();        /* this step's carries are written before the next reads them */
    }
    if (p.ht)
        for (int i = tid; i < rows * Ds; i += S6_THREADS)
            p.ht[((int64_t)b * p.Dm + d0) * Ds + i] =
                sb_elem<T>::from_float(carry[par * S6_ROWS * Ds + i]);
}

/* ---- host ------------------------------------------------------------------------ */

/* The launch: a block per (S6_ROWS channels, batch); A·log2(e) and the
 * two carry buffers in dynamic shared memory. */
static struct sb_plan s6_scan_plan(const struct shape *s)
{
    return { "s6_scan_kernel", { (s->Dm + S6_ROWS - 1) / S6_ROWS, s->B, 1 }, S6_THREADS,
             (size_t)(3 * S6_ROWS * s->Ds) * sizeof(float) };
}

template <typename T, int NI>
static int s6_launch(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const struct ssm_dev *d = (const struct ssm_dev *)ctx->priv;
    s6_args<T> a = { (const T *)d->in[l.x], (const T *)d->in[l.dt], (const T *)d->in[l.A],
                     (const T *)d->in[l.B], (const T *)d->in[l.C], (const T *)d->in[l.D],
                     (const T *)ssm_dev_in(d, l.z), (const T *)ssm_dev_in(d, l.h0),
                     (T *)d->out, (T *)d->ht, (int)s->N, (int)s->Dm, (int)s->Ds, (int)s->G };
    return sb_launch(ctx, s6_scan_kernel<T, NI>, s6_scan_plan(s), a);
}

static const struct {
    enum dtype dt;
    int chunk;
    const void *kernel;
    int (*launch)(struct op_ctx *);
} s6_variants[] = {
    { DT_FP32, 8, (const void *)s6_scan_kernel<float, 8>, s6_launch<float, 8> },
    { DT_FP32, 16, (const void *)s6_scan_kernel<float, 16>, s6_launch<float, 16> },
    { DT_BF16, 8, (const void *)s6_scan_kernel<__nv_bfloat16, 8>, s6_launch<__nv_bfloat16, 8> },
    { DT_BF16, 16, (const void *)s6_scan_kernel<__nv_bfloat16, 16>, s6_launch<__nv_bfloat16, 16> },
};

static int s6_variant(const struct shape *s)
{
    for (int i = 0; i < (int)(sizeof s6_variants / sizeof s6_variants[0]); i++)
        if (s6_variants[i].dt == s->dtype && s6_variants[i].chunk == s->chunk)
            return i;
    return -1;
}

extern "C" int64_t s6_cuda_workspace_bytes(const struct shape *s)
{
    (void)s;
    return 0;
}

extern "C" int s6_cuda_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const int v = s6_variant(s);
    if (v < 0) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: chunk=%lld not supported (8 or 16 tokens per thread)",
                 (long long)s->chunk);
        return SB_UNSUPPORTED;
    }
    if (s->N > INT32_MAX || s->Dm * s->Ds > INT32_MAX) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: N=%lld or Dm·Ds=%lld over the kernel's int indices",
                 (long long)s->N, (long long)(s->Dm * s->Ds));
        return SB_UNSUPPORTED;
    }
    const struct sb_plan plan = s6_scan_plan(s);
    const int rc = sb_plan_prepare(ctx, s6_variants[v].kernel, &plan, "cuda");
    return rc != SB_OK ? rc : ssm_dev_open(ctx, sizeof(struct ssm_dev), 0, "cuda");
}

extern "C" int s6_cuda_run(struct op_ctx *ctx)
{
    return s6_variants[s6_variant(ctx->shape)].launch(ctx);
}

extern "C" int s6_cuda_fetch(struct op_ctx *ctx)
{
    return ssm_dev_fetch(ctx);
}

extern "C" void s6_cuda_teardown(struct op_ctx *ctx)
{
    ssm_dev_close(ctx);
}
