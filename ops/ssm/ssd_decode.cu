/*
 * ssd_decode.cu — family "ssm", variant ssd, implementation "decode": a few
 * new tokens (N ≤ SSD_DEC_MAX_N) on the carried state h0, Mamba-2's step.
 * The state, H × P × Ds per batch, is read once and written once whatever
 * the context before it: memory-bound. fp32 or bf16 in memory, fp32 in
 * registers.
 *
 *   per token t, in order:  S = e^{dt_t A} S + dt_t x_tᵀ B_t,  y_t = S C_t + D x_t (· silu(z_t))
 *
 * Mapping: a block of SSD_DEC_THREADS threads per (head, batch); thread i
 * keeps the state elements e = i + 256k (k < K = P·Ds/256), element e being
 * (p = e / Ds, n = e % Ds), so the block reads and writes the head's state
 * in consecutive words. Per token, x, B, C go through shared memory; y_p,
 * a sum over n, is reduced over the lanes sharing p by shuffles (Ds ≤ 32)
 * and over the warps sharing it through shared memory (Ds > 32).
 *
 * Shapes: Ds a power of two from 16 to 256, P·Ds a multiple of 256 up to
 * 16384 (K ≤ 64 registers of state per thread).
 *
 * Status: compiled for sm_80/89/90a (build/ops/ssm/ssd_decode.ptxas); the
 * kernel and its plan run on the CPU from this source, host code included,
 * under ASan/UBSan and TSan against the float64 reference
 * (tests/cuda_on_cpu.sh); never on a GPU.
 */
#include <stdint.h>

#include "../launch.cuh"
#include "ssm_dev.cuh"

#define SSD_DEC_MAX_N 16
#define SSD_DEC_THREADS 256
#define SSD_DEC_WARPS (SSD_DEC_THREADS / 32)
#define SSD_DEC_PMAX 256
#define SSD_DEC_FULL 0xffffffffu

template <typename T>
struct ssd_dec_args {
    const T *x, *dt, *A, *B, *C, *D, *z, *h0;
    T *out, *ht;
    int N, H, P, Ds, G;
};

template <typename T, int K>
__global__ void __launch_bounds__(SSD_DEC_THREADS)
ssd_decode_kernel(const ssd_dec_args<T> p)
{
    __shared__ float sx[SSD_DEC_PMAX], sB[SSD_DEC_PMAX], sC[SSD_DEC_PMAX];
    __shared__ float sred[SSD_DEC_WARPS][K];     /* a warp's sum for each of its k */
    const int h = blockIdx.x, b = blockIdx.y, g = h / (p.H / p.G), tid = threadIdx.x;
    const int lane = tid & 31, warp = tid >> 5, Ds = p.Ds, P = p.P;
    const int64_t bh = (int64_t)b * p.H + h, PD = (int64_t)P * Ds;
    const int seg = Ds < 32 ? Ds : 32;          /* lanes summed by shuffles */
    const int wper = Ds / seg;                  /* warps sharing one p (1 when Ds ≤ 32) */
    const float A = sb_elem<T>::to_float(p.A[h]);
    const float Dh = p.D ? sb_elem<T>::to_float(p.D[h]) : 0.0f;
    float S[K];
#pragma unroll
    for (int k = 0; k < K; k++)
        S[k] = p.h0 ? sb_elem<T>::to_float(p.h0[bh * PD + tid + SSD_DEC_THREADS * k]) : 0.0f;

    for (int t = 0; t < p.N; t++) {
        const int64_t tok = (int64_t)b * p.N + t;
        const float dt = sb_elem<T>::to_float(p.dt[tok * p.H + h]);
        __syncthreads();                        /* the last token's shared data is used */
        for (int i = tid; i < P; i += SSD_DEC_THREADS)
            sx[i] = sb_elem<T>::to_float(p.x[(tok * p.H + h) * P + i]);
        for (int i = tid; i < Ds; i += SSD_DEC_THREADS) {
            sB[i] = sb_elem<T>::to_float(p.B[(tok * p.G + g) * Ds + i]);
            sC[i] = sb_elem<T>::to_float(p.C[(tok * p.G + g) * Ds + i]);
        }
        __syncthreads();
        const float a = ssm_dev_exp(dt * A);
#pragma unroll
        for (int k = 0; k < K; k++) {
            const int e = tid + SSD_DEC_THREADS * k, q = e / Ds, n = e % Ds;
            SB_COUNT_MACS(3);                   /* dt·x·B, the state's FMA, the readout C·S */
            S[k] = fmaf(a, S[k], dt * sx[q] * sB[n]);
            float part = sC[n] * S[k];
            for (int off = seg / 2; off > 0; off /= 2)
                part += __shfl_xor_sync(SSD_DEC_FULL, part, off);
            if (wper == 1) {
                if (lane % seg == 0) {          /* lane 0 (and 16 when Ds = 16) holds y_q */
                    SB_COUNT_MACS(1 + (p.z != nullptr));
                    float y = fmaf(Dh, sx[q], part);
                    if (p.z)
                        y *= ssm_dev_silu(sb_elem<T>::to_float(p.z[(tok * p.H + h) * P + q]));
                    p.out[(tok * p.H + h) * P + q] = sb_elem<T>::from_float(y);
                }
            } else if (lane == 0) {
                sred[warp][k] = part;
            }
        }
        if (wper > 1) {
            __syncthreads();
            /* warps w·wper .. w·wper + wper − 1 hold the pieces of one q per k */
            for (int i = tid; i < SSD_DEC_WARPS / wper * K; i += SSD_DEC_THREADS) {
                const int k = i % K, w0 = i / K * wper;
                const int q = (w0 * 32 + SSD_DEC_THREADS * k) / Ds;
                SB_COUNT_MACS(1 + (p.z != nullptr));
                float y = fmaf(Dh, sx[q], 0.0f);
                for (int w = w0; w < w0 + wper; w++)
                    y += sred[w][k];
                if (p.z)
                    y *= ssm_dev_silu(sb_elem<T>::to_float(p.z[(tok * p.H + h) * P + q]));
                p.out[(tok * p.H + h) * P + q] = sb_elem<T>::from_float(y);
            }
        }
    }
    if (p.ht) {
#pragma unroll
        for (int k = 0; k < K; k++)
            p.ht[bh * PD + tid + SSD_DEC_THREADS * k] = sb_elem<T>::from_float(S[k]);
    }
}

/* ---- host ------------------------------------------------------------------------ */

/* The launch: a block per (head, batch). */
static struct sb_plan ssd_decode_plan(const struct shape *s)
{
    return { "ssd_decode_kernel", { s->H, s->B, 1 }, SSD_DEC_THREADS, 0 };
}

template <typename T, int K>
static int ssd_decode_launch(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const struct ssm_dev *d = (const struct ssm_dev *)ctx->priv;
    ssd_dec_args<T> a = { (const T *)d->in[l.x], (const T *)d->in[l.dt], (const T *)d->in[l.A],
                          (const T *)d->in[l.B], (const T *)d->in[l.C], (const T *)ssm_dev_in(d, l.D),
                          (const T *)ssm_dev_in(d, l.z), (const T *)ssm_dev_in(d, l.h0),
                          (T *)d->out, (T *)d->ht, (int)s->N, (int)s->H, (int)s->P, (int)s->Ds,
                          (int)s->G };
    return sb_launch(ctx, ssd_decode_kernel<T, K>, ssd_decode_plan(s), a);
}

/* By dtype and K = P·Ds / 256 state elements per thread. */
#define SSD_DEC_VARIANT(T, dt, K) { dt, K, (const void *)ssd_decode_kernel<T, K>, ssd_decode_launch<T, K> }
#define SSD_DEC_VARIANTS_OF(T, dt)                                                             \
    SSD_DEC_VARIANT(T, dt, 1), SSD_DEC_VARIANT(T, dt, 2), SSD_DEC_VARIANT(T, dt, 4),           \
    SSD_DEC_VARIANT(T, dt, 8), SSD_DEC_VARIANT(T, dt, 16), SSD_DEC_VARIANT(T, dt, 32),         \
    SSD_DEC_VARIANT(T, dt, 64)
static const struct {
    enum dtype dt;
    int K;
    const void *kernel;
    int (*launch)(struct op_ctx *);
} ssd_decode_variants[] = {
    SSD_DEC_VARIANTS_OF(float, DT_FP32),
    SSD_DEC_VARIANTS_OF(__nv_bfloat16, DT_BF16),
};

static int ssd_decode_variant(const struct shape *s)
{
    const int64_t PD = s->P * s->Ds;
    const int pow2 = s->Ds >= 16 && s->Ds <= 256 && (s->Ds & (s->Ds - 1)) == 0;
    if (!pow2 || PD % SSD_DEC_THREADS != 0 || s->P > SSD_DEC_PMAX)
        return -1;
    for (int i = 0; i < (int)(sizeof ssd_decode_variants / sizeof ssd_decode_variants[0]); i++)
        if (ssd_decode_variants[i].dt == s->dtype && ssd_decode_variants[i].K == PD / SSD_DEC_THREADS)
            return i;
    return -1;
}

extern "C" int64_t ssd_decode_workspace_bytes(const struct shape *s)
{
    (void)s;
    return 0;
}

extern "C" int ssd_decode_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    if (s->N > SSD_DEC_MAX_N) {
        snprintf(ctx->err, sizeof ctx->err,
                 "decode: N=%lld: at most %d new tokens (longer inputs: the chunked cuda)",
                 (long long)s->N, SSD_DEC_MAX_N);
        return SB_UNSUPPORTED;
    }
    const int v = ssd_decode_variant(s);
    if (v < 0) {
        snprintf(ctx->err, sizeof ctx->err,
                 "decode: P=%lld Ds=%lld not supported (Ds a power of two 16..256, P·Ds a "
                 "multiple of 256 up to 16384)", (long long)s->P, (long long)s->Ds);
        return SB_UNSUPPORTED;
    }
    const struct sb_plan plan = ssd_decode_plan(s);
    const int rc = sb_plan_prepare(ctx, ssd_decode_variants[v].kernel, &plan, "decode");
    return rc != SB_OK ? rc : ssm_dev_open(ctx, sizeof(struct ssm_dev), 0, "decode");
}

extern "C" int ssd_decode_run(struct op_ctx *ctx)
{
    return ssd_decode_variants[ssd_decode_variant(ctx->shape)].launch(ctx);
}

extern "C" int ssd_decode_fetch(struct op_ctx *ctx)
{
    return ssm_dev_fetch(ctx);
}

extern "C" void ssd_decode_teardown(struct op_ctx *ctx)
{
    ssm_dev_close(ctx);
}
