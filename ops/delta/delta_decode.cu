/*
 * delta_decode.cu — family "delta", implementation "decode": one to
 * DELTA_DECODE_MAX_N new tokens against a carried state, the recurrence
 * itself (reference/recurrent.h), token by token:
 *   S ← e^{g_t} S,  u = β_t (v_t − k_t S),  S ← S + k_tᵀ u,  o_t = scale · q_t S.
 * Memory-bound: the state (D × Dv per value head, h0 when state=1, else 0)
 * is read once and, with state=1, the final state written once; q, k, v, g,
 * β of the few tokens are noise next to it.
 *
 * Mapping: one block per (32-column slice of Dv, value head, batch), 256
 * threads as 8 warps; lane = state column e0 + lane (a warp reads 32
 * consecutive elements of a state row: coalesced), warp w owns rows
 * w·D/8 .. (w+1)·D/8 − 1 in registers (8, 16 or 32 floats at D = 64, 128,
 * 256). The two reductions over d (k·S and q·S) are a register sum per
 * thread and a sum over the 8 warps through shared memory.
 *
 * Shapes: N ≤ 16, D, Dv ∈ {64, 128, 256}, fp32 or bf16 in memory, fp32
 * inside. Status: compiled for sm_80/89/90a; the kernel and its plan
 * run on the CPU from this source, host code included, under ASan/UBSan
 * and TSan against the float64 reference (tests/cuda_on_cpu.sh); never on a
 * GPU.
 */
#include "delta_dev.cuh"
#include "../ops.h"

#define DEC_THREADS 256
#define DEC_WARPS (DEC_THREADS / 32)
#define DEC_E 32                    /* state columns per block: one per lane */

template <typename T, int D>
__global__ void __launch_bounds__(DEC_THREADS)
delta_decode_kernel(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                    const T *__restrict__ g, const T *__restrict__ beta,
                    const T *__restrict__ h0, T *__restrict__ out, T *__restrict__ ht, int N,
                    int H, int Hv, int Dv, float scale)
{
    constexpr int RPT = D / DEC_WARPS;          /* state rows per thread */
    static_assert(D <= DEC_THREADS && D % DEC_WARPS == 0, "a thread stages one element of k, q");
    __shared__ float sk[D], sq[D];              /* this token's key and query */
    __shared__ float red_k[DEC_WARPS][DEC_E];   /* partial k·S per warp */
    __shared__ float red_q[DEC_WARPS][DEC_E];   /* partial q·S per warp */

    const int lane = threadIdx.x % 32, w = threadIdx.x / 32, tid = threadIdx.x;
    const int e = blockIdx.x * DEC_E + lane, j = blockIdx.y, b = blockIdx.z;
    const int hq = j / (Hv / H);
    const int64_t sbase = ((int64_t)b * Hv + j) * D * Dv + e;  /* h0[b, j, 0, e] */

    float s[RPT];
#pragma unroll
    for (int i = 0; i < RPT; i++)
        s[i] = h0 ? delta_ld(h0 + sbase + (int64_t)(w * RPT + i) * Dv) : 0.0f;

    for (int t = 0; t < N; t++) {
        const int64_t tok = (int64_t)b * N + t;
        __syncthreads();                        /* the last token's sk, sq, red_q consumed */
        if (tid < D) {                          /* one element per thread: D <= DEC_THREADS */
            sk[tid] = delta_ld(k + (tok * H + hq) * D + tid);
            sq[tid] = delta_ld(q + (tok * H + hq) * D + tid);
        }
        const float decay = g ? expf(delta_ld(g + tok * Hv + j)) : 1.0f;   /* g ≤ 0 */
        const float bt = delta_ld(beta + tok * Hv + j);
        const float vt = delta_ld(v + (tok * Hv + j) * Dv + e);
        __syncthreads();

        float part = 0.0f;
#pragma unroll
        for (int i = 0; i < RPT; i++) {
            s[i] *= decay;
            part = fmaf(sk[w * RPT + i], s[i], part);
            SB_COUNT_MACS(1);
        }
        red_k[w][lane] = part;
        __syncthreads();
        float ks = 0.0f;
#pragma unroll
        for (int x = 0; x < DEC_WARPS; x++)
            ks += red_k[x][lane];
        const float u = bt * (vt - ks);
        float oq = 0.0f;
#pragma unroll
        for (int i = 0; i < RPT; i++) {
            s[i] = fmaf(sk[w * RPT + i], u, s[i]);
            oq = fmaf(sq[w * RPT + i], s[i], oq);
            SB_COUNT_MACS(2);
        }
        red_q[w][lane] = oq;
        __syncthreads();
        if (w == 0) {
            float o = 0.0f;
#pragma unroll
            for (int x = 0; x < DEC_WARPS; x++)
                o += red_q[x][lane];
            out[(tok * Hv + j) * Dv + e] = sb_elem<T>::from_float(scale * o);
        }
    }

    if (ht) {
#pragma unroll
        for (int i = 0; i < RPT; i++)
            ht[sbase + (int64_t)(w * RPT + i) * Dv] = sb_elem<T>::from_float(s[i]);
    }
}

/* ---- host ------------------------------------------------------------------ */

struct delta_decode_state {
    struct delta_dev io;
    struct sb_plan plan;
};

/* The launch: one block per (DEC_E columns of Dv, value head, batch). */
static struct sb_plan delta_decode_plan(const struct shape *s)
{
    return { "delta_decode_kernel", { s->Dv / DEC_E, s->Hv, s->B }, DEC_THREADS, 0 };
}

template <typename T, int D>
static int delta_decode_prepare(struct op_ctx *ctx, const struct delta_decode_state *st)
{
    return sb_plan_prepare(ctx, (const void *)delta_decode_kernel<T, D>, &st->plan, "decode");
}

template <typename T, int D>
static int delta_decode_launch(struct op_ctx *ctx, const struct delta_decode_state *st)
{
    const struct shape *s = ctx->shape;
    const struct delta_dev *d = &st->io;
    return sb_launch(ctx, delta_decode_kernel<T, D>, st->plan, (const T *)d->q, (const T *)d->k,
                     (const T *)d->v, (const T *)d->g, (const T *)d->beta, (const T *)d->h0,
                     (T *)d->out, (T *)d->ht, (int)s->N, (int)s->H, (int)s->Hv, (int)s->Dv,
                     (float)ctx->scale);
}

/* The instantiations: one row per (dtype, D). */
static const struct {
    enum dtype dt;
    int D;
    int (*prepare)(struct op_ctx *, const struct delta_decode_state *);
    int (*launch)(struct op_ctx *, const struct delta_decode_state *);
} delta_decode_variants[] = {
    { DT_FP32, 64, delta_decode_prepare<float, 64>, delta_decode_launch<float, 64> },
    { DT_FP32, 128, delta_decode_prepare<float, 128>, delta_decode_launch<float, 128> },
    { DT_FP32, 256, delta_decode_prepare<float, 256>, delta_decode_launch<float, 256> },
    { DT_BF16, 64, delta_decode_prepare<__nv_bfloat16, 64>, delta_decode_launch<__nv_bfloat16, 64> },
    { DT_BF16, 128, delta_decode_prepare<__nv_bfloat16, 128>, delta_decode_launch<__nv_bfloat16, 128> },
    { DT_BF16, 256, delta_decode_prepare<__nv_bfloat16, 256>, delta_decode_launch<__nv_bfloat16, 256> },
};

static int delta_decode_variant(const struct shape *s)
{
    for (int i = 0; i < (int)(sizeof delta_decode_variants / sizeof delta_decode_variants[0]); i++)
        if (delta_decode_variants[i].dt == s->dtype && delta_decode_variants[i].D == s->D)
            return i;
    return -1;
}

extern "C" int64_t delta_decode_workspace_bytes(const struct shape *s)
{
    (void)s;
    return 0;
}

extern "C" int delta_decode_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    int rc = delta_check_common(ctx, "decode");
    if (rc != SB_OK)
        return rc;
    if (s->N > DELTA_DECODE_MAX_N) {
        snprintf(ctx->err, sizeof ctx->err,
                 "decode: N=%lld: one step takes at most %d tokens (use cuda for prefill)",
                 (long long)s->N, DELTA_DECODE_MAX_N);
        return SB_UNSUPPORTED;
    }
    if (delta_decode_variant(s) < 0) {
        snprintf(ctx->err, sizeof ctx->err, "decode: dtype %s not built", dtype_table[s->dtype].name);
        return SB_UNSUPPORTED;
    }
    struct delta_decode_state *st = (struct delta_decode_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "decode: out of host memory");
        return SB_OOM;
    }
    st->plan = delta_decode_plan(s);
    if ((rc = delta_decode_variants[delta_decode_variant(s)].prepare(ctx, st)) != SB_OK ||
        (rc = delta_dev_setup(ctx, &st->io)) != SB_OK) {
        free(st);
        return rc;
    }
    ctx->priv = st;
    return SB_OK;
}

extern "C" int delta_decode_run(struct op_ctx *ctx)
{
    return delta_decode_variants[delta_decode_variant(ctx->shape)].launch(
        ctx, (const struct delta_decode_state *)ctx->priv);
}

extern "C" int delta_decode_fetch(struct op_ctx *ctx)
{
    return delta_dev_fetch(ctx, &((const struct delta_decode_state *)ctx->priv)->io);
}

extern "C" void delta_decode_teardown(struct op_ctx *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}
