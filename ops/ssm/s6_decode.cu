/*
 * s6_decode.cu — family "ssm", variant s6, implementation "decode": a few
 * new tokens (N ≤ S6_DEC_MAX_N) on the carried state h0, Mamba's step
 * (selective_state_update). The state, Dm × Ds per batch, is read once and
 * written once whatever the context before it: memory-bound. fp32 or bf16
 * in memory, fp32 in registers.
 *
 *   per token t, in order:  h = e^{Δ_t A} ⊙ h + Δ_t u_t B_t,  y_t = C_t·h + D u_t (· silu(z_t))
 *
 * Mapping: a warp per (batch, channel), S6_DEC_WARPS of them per block;
 * lane l keeps the states n = l + 32k (k < NS, NS = ⌈Ds/32⌉) in registers,
 * so a warp reads and writes the channel's Ds consecutive states at once.
 * C·h is summed over the warp by shuffles.
 *
 * Status: compiled for sm_80/89/90a (build/ops/ssm/s6_decode.ptxas); the
 * kernel and its plan run on the CPU from this source, host code included,
 * under ASan/UBSan and TSan against the float64 reference
 * (tests/cuda_on_cpu.sh); never on a GPU.
 */
#include <stdint.h>

#include "../launch.cuh"
#include "ssm_dev.cuh"

#define S6_DEC_MAX_N 16         /* more tokens: the chunked cuda's case */
#define S6_DEC_WARPS 8
#define S6_DEC_FULL 0xffffffffu

template <typename T>
struct s6_dec_args {
    const T *u, *delta, *A, *B, *C, *D, *z, *h0;
    T *out, *ht;
    int N, Dm, Ds, G;
    int64_t channels;           /* B·Dm */
};

template <typename T, int NS>
__global__ void __launch_bounds__(S6_DEC_WARPS * 32)
s6_decode_kernel(const s6_dec_args<T> p)
{
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * S6_DEC_WARPS + (threadIdx.x >> 5);  /* b·Dm + d */
    if (row >= p.channels)
        return;                 /* a whole warp: no shuffle is left waiting */
    const int d = (int)(row % p.Dm), b = (int)(row / p.Dm), g = d / (p.Dm / p.G), N = p.N;
    const int64_t bc = ((int64_t)b * p.G + g) * p.Ds * N;
    float h[NS], A2[NS];
#pragma unroll
    for (int k = 0; k < NS; k++) {
        const int n = lane + 32 * k;
        const bool on = n < p.Ds;
        A2[k] = on ? sb_elem<T>::to_float(p.A[(int64_t)d * p.Ds + n]) * (float)SB_LOG2E : 0.0f;
        h[k] = on && p.h0 ? sb_elem<T>::to_float(p.h0[row * p.Ds + n]) : 0.0f;
    }
    const float Dd = sb_elem<T>::to_float(p.D[d]);
    for (int t = 0; t < N; t++) {
        const float dl = sb_elem<T>::to_float(p.delta[row * N + t]);
        const float uu = sb_elem<T>::to_float(p.u[row * N + t]), du = dl * uu;
        float acc = 0.0f;
#pragma unroll
        for (int k = 0; k < NS; k++) {
            const int n = lane + 32 * k;
            if (n < p.Ds) {
                SB_COUNT_MACS(3);               /* Δ·A and Δu·B, the state's FMA, C·h's FMA */
                const float a = exp2f(dl * A2[k]);
                h[k] = fmaf(a, h[k], du * sb_elem<T>::to_float(p.B[bc + (int64_t)n * N + t]));
                acc = fmaf(sb_elem<T>::to_float(p.C[bc + (int64_t)n * N + t]), h[k], acc);
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off /= 2)
            acc += __shfl_xor_sync(S6_DEC_FULL, acc, off);
        if (lane == 0) {
            SB_COUNT_MACS(1 + (p.z != nullptr));
            float y = fmaf(Dd, uu, acc);
            if (p.z)
                y *= ssm_dev_silu(sb_elem<T>::to_float(p.z[row * N + t]));
            p.out[row * N + t] = sb_elem<T>::from_float(y);
        }
    }
    if (p.ht) {
#pragma unroll
        for (int k = 0; k < NS; k++)
            if (lane + 32 * k < p.Ds)
                p.ht[row * p.Ds + lane + 32 * k] = sb_elem<T>::from_float(h[k]);
    }
}

/* ---- host ------------------------------------------------------------------------ */

/* The launch: a warp per (batch, channel), S6_DEC_WARPS to a block. */
static struct sb_plan s6_decode_plan(const struct shape *s)
{
    return { "s6_decode_kernel", { (s->B * s->Dm + S6_DEC_WARPS - 1) / S6_DEC_WARPS, 1, 1 },
             S6_DEC_WARPS * 32, 0 };
}

template <typename T, int NS>
static int s6_decode_launch(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const struct ssm_dev *d = (const struct ssm_dev *)ctx->priv;
    s6_dec_args<T> a = { (const T *)d->in[l.x], (const T *)d->in[l.dt], (const T *)d->in[l.A],
                         (const T *)d->in[l.B], (const T *)d->in[l.C], (const T *)d->in[l.D],
                         (const T *)ssm_dev_in(d, l.z), (const T *)ssm_dev_in(d, l.h0),
                         (T *)d->out, (T *)d->ht, (int)s->N, (int)s->Dm, (int)s->Ds, (int)s->G,
                         s->B * s->Dm };
    return sb_launch(ctx, s6_decode_kernel<T, NS>, s6_decode_plan(s), a);
}

/* By dtype and states per lane NS (1, 2, 4, 8: Ds up to 32, 64, 128, 256). */
#define S6_DEC_VARIANT(T, dt, ns) { dt, ns, (const void *)s6_decode_kernel<T, ns>, s6_decode_launch<T, ns> }
static const struct {
    enum dtype dt;
    int ns;
    const void *kernel;
    int (*launch)(struct op_ctx *);
} s6_decode_variants[] = {
    S6_DEC_VARIANT(float, DT_FP32, 1), S6_DEC_VARIANT(float, DT_FP32, 2),
    S6_DEC_VARIANT(float, DT_FP32, 4), S6_DEC_VARIANT(float, DT_FP32, 8),
    S6_DEC_VARIANT(__nv_bfloat16, DT_BF16, 1), S6_DEC_VARIANT(__nv_bfloat16, DT_BF16, 2),
    S6_DEC_VARIANT(__nv_bfloat16, DT_BF16, 4), S6_DEC_VARIANT(__nv_bfloat16, DT_BF16, 8),
};

static int s6_decode_variant(const struct shape *s)
{
    const int ns = (int)((s->Ds + 31) / 32);
    for (int i = 0; i < (int)(sizeof s6_decode_variants / sizeof s6_decode_variants[0]); i++)
        if (s6_decode_variants[i].dt == s->dtype && s6_decode_variants[i].ns >= ns &&
            s6_decode_variants[i].ns < 2 * ns)
            return i;
    return -1;
}

extern "C" int64_t s6_decode_workspace_bytes(const struct shape *s)
{
    (void)s;
    return 0;
}

extern "C" int s6_decode_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    if (s->N > S6_DEC_MAX_N) {
        snprintf(ctx->err, sizeof ctx->err,
                 "decode: N=%lld: at most %d new tokens (longer inputs: the chunked cuda)",
                 (long long)s->N, S6_DEC_MAX_N);
        return SB_UNSUPPORTED;
    }
    const int v = s6_decode_variant(s);
    if (v < 0) {
        snprintf(ctx->err, sizeof ctx->err, "decode: dtype %s, Ds=%lld not built",
                 dtype_table[s->dtype].name, (long long)s->Ds);
        return SB_UNSUPPORTED;
    }
    const struct sb_plan plan = s6_decode_plan(s);
    const int rc = sb_plan_prepare(ctx, s6_decode_variants[v].kernel, &plan, "decode");
    return rc != SB_OK ? rc : ssm_dev_open(ctx, sizeof(struct ssm_dev), 0, "decode");
}

extern "C" int s6_decode_run(struct op_ctx *ctx)
{
    return s6_decode_variants[s6_decode_variant(ctx->shape)].launch(ctx);
}

extern "C" int s6_decode_fetch(struct op_ctx *ctx)
{
    return ssm_dev_fetch(ctx);
}

extern "C" void s6_decode_teardown(struct op_ctx *ctx)
{
    ssm_dev_close(ctx);
}
