/*
 * ssd_dev.cuh — what the two chunked GPU implementations of the ssm
 * family's ssd variant share (ops/ssm/ssd_chunk.cu, fp32 FMA, and
 * ssd_chunk_mma.cu, tensor cores): the kernels' arguments and workspace,
 * the decay scan of a chunk, and the state-passing kernel between the
 * chunk-state and the chunk-output kernels each implements.
 */
#ifndef SEQBENCH_SSD_DEV_CUH
#define SEQBENCH_SSD_DEV_CUH

#include <stdint.h>

#include "../launch.cuh"
#include "ssm_dev.cuh"

#define SSD_THREADS 256
#define SSD_CMAX 256            /* chunk: the state kernel's block scans one token a thread */
#define SSD_FULL 0xffffffffu

template <typename T>
struct ssd_args {
    const T *x, *dt, *A, *B, *C, *D, *z, *h0;
    T *out, *ht;
    float *lam;                 /* [B,H,L] Λ inside each chunk */
    float *states;              /* [B,H,chunks,P,Ds] */
    int L, H, P, Ds, G, chunk, nch;
};

/* Inclusive sum over the block's threads (SSD_THREADS); warp_sums holds
 * SSD_THREADS/32 floats. Every thread must call it. */
static __device__ __forceinline__ float ssd_block_scan(float v, float *warp_sums)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int off = 1; off < 32; off *= 2) {
        const float o = __shfl_up_sync(SSD_FULL, v, off);
        if (lane >= off)
            v += o;
    }
    if (lane == 31)
        warp_sums[warp] = v;
    __syncthreads();
    for (int w = 0; w < warp; w++)
        v += warp_sums[w];
    return v;
}

/* Λ of the chunk into lam and s_lam; s_w[j] = e^{Λ_last − Λ_j} dt_j. */
template <typename T>
static __device__ void ssd_chunk_decay(const ssd_args<T> &p, int64_t bh, int64_t c0, int c,
                                       float *s_lam, float *s_w, float *warp_sums)
{
    const int tid = threadIdx.x, h = (int)(bh % p.H);
    const float A = sb_elem<T>::to_float(p.A[h]);
    const int64_t tok = bh / p.H * p.L + c0 + tid;
    const float dt = tid < c ? sb_elem<T>::to_float(p.dt[tok * p.H + h]) : 0.0f;
    const float lam = ssd_block_scan(dt * A, warp_sums);
    if (tid < c) {
        s_lam[tid] = lam;
        p.lam[bh * p.L + c0 + tid] = lam;
    }
    __syncthreads();
    if (tid < c)
        s_w[tid] = ssm_dev_exp(s_lam[c - 1] - lam) * dt;
    __syncthreads();
}

/* states[c] <- the state entering chunk c; ht <- the state after the last. */
template <typename T>
__global__ void __launch_bounds__(SSD_THREADS)
ssd_state_pass_kernel(const ssd_args<T> p)
{
    const int h = blockIdx.y, b = blockIdx.z;
    const int64_t e = (int64_t)blockIdx.x * SSD_THREADS + threadIdx.x, PD = (int64_t)p.P * p.Ds;
    if (e >= PD)
        return;
    const int64_t bh = (int64_t)b * p.H + h;
    float state = p.h0 ? sb_elem<T>::to_float(p.h0[bh * PD + e]) : 0.0f;
    for (int ci = 0; ci < p.nch; ci++) {
        const int64_t last = (int64_t)ci * p.chunk + p.chunk < p.L ? (int64_t)ci * p.chunk + p.chunk - 1
                                                                   : p.L - 1;
        float *S = p.states + (bh * p.nch + ci) * PD + e;
        const float local = *S;
        *S = state;
        SB_COUNT_MACS(1);
        state = fmaf(ssm_dev_exp(p.lam[bh * p.L + last]), state, local);
    }
    if (p.ht)
        p.ht[bh * PD + e] = sb_elem<T>::from_float(state);
}

static int64_t ssd_chunks(const struct shape *s)
{
    return (s->N + s->chunk - 1) / s->chunk;
}

/* lam [B,H,L] and states [B,H,chunks,P,Ds], fp32: the workspace of both
 * implementations. */
static int64_t ssd_workspace_bytes(const struct shape *s)
{
    return (s->B * s->H * s->N + s->B * s->H * ssd_chunks(s) * s->P * s->Ds) * (int64_t)sizeof(float);
}

template <typename T>
static ssd_args<T> ssd_args_of(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const struct ssm_dev *d = (const struct ssm_dev *)ctx->priv;
    float *lam = (float *)d->work;
    ssd_args<T> a = { (const T *)d->in[l.x], (const T *)d->in[l.dt], (const T *)d->in[l.A],
                      (const T *)d->in[l.B], (const T *)d->in[l.C], (const T *)ssm_dev_in(d, l.D),
                      (const T *)ssm_dev_in(d, l.z), (const T *)ssm_dev_in(d, l.h0),
                      (T *)d->out, (T *)d->ht, lam, lam + s->B * s->H * s->N,
                      (int)s->N, (int)s->H, (int)s->P, (int)s->Ds, (int)s->G, (int)s->chunk,
                      (int)ssd_chunks(s) };
    return a;
}

/* The chunk limits both implementations share (the output kernel's query
 * tiles of SSD_GPU_QT rows): SB_OK, or SB_UNSUPPORTED naming why. The grid's
 * limits are the plans' (ssd_prepare). */
static inline int ssd_check_chunk(struct op_ctx *ctx, const char *who)
{
    const struct shape *s = ctx->shape;
    if (s->chunk % SSD_GPU_QT != 0 || s->chunk > SSD_CMAX) {
        snprintf(ctx->err, sizeof ctx->err, "%s: chunk=%lld not supported (a multiple of %d up to %d)",
                 who, (long long)s->chunk, SSD_GPU_QT, SSD_CMAX);
        return SB_UNSUPPORTED;
    }
    if (s->N > INT32_MAX) {
        snprintf(ctx->err, sizeof ctx->err, "%s: N=%lld over the kernels' int indices", who, (long long)s->N);
        return SB_UNSUPPORTED;
    }
    return SB_OK;
}

/* The three launches of a chunked implementation: its chunk-state kernel,
 * a block per (chunk, head, batch); the state passing, a thread per state
 * element of (head, batch); its output kernel, a block per (query tile,
 * head, batch) with out_smem bytes of dynamic shared memory. */
struct ssd_plans {
    struct sb_plan state, pass, out;
};
static inline struct ssd_plans ssd_plans_of(const struct shape *s, const char *state_kernel,
                                            const char *out_kernel, size_t out_smem)
{
    const int64_t nch = ssd_chunks(s);
    return { { state_kernel, { nch, s->H, s->B }, SSD_THREADS, 0 },
             { "ssd_state_pass_kernel", { (s->P * s->Ds + SSD_THREADS - 1) / SSD_THREADS, s->H, s->B },
               SSD_THREADS, 0 },
             { out_kernel, { nch * (s->chunk / SSD_GPU_QT), s->H, s->B }, SSD_THREADS, out_smem } };
}

/* sb_plan_prepare of the three, for kernels state_fn, pass_fn, out_fn. */
static inline int ssd_prepare(struct op_ctx *ctx, const struct ssd_plans &p, const void *state_fn,
                              const void *pass_fn, const void *out_fn, const char *who)
{
    int rc = sb_plan_prepare(ctx, state_fn, &p.state, who);
    if (rc == SB_OK)
        rc = sb_plan_prepare(ctx, pass_fn, &p.pass, who);
    return rc != SB_OK ? rc : sb_plan_prepare(ctx, out_fn, &p.out, who);
}

/* The output element (token t of the batch, head h, column q) from its
 * chunk sum v: y = v + D_h x (skip), times silu(z) (z), in T. */
template <typename T>
static __device__ __forceinline__ void ssd_store_out(const ssd_args<T> &p, int64_t t, int h, int q,
                                                     float v, float Dh)
{
    const int64_t o = (t * p.H + h) * p.P + q;
    SB_COUNT_MACS(1 + (p.z != nullptr));
    float y = fmaf(Dh, sb_elem<T>::to_float(p.x[o]), v);
    if (p.z)
        y *= ssm_dev_silu(sb_elem<T>::to_float(p.z[o]));
    p.out[o] = sb_elem<T>::from_float(y);
}

#endif /* SEQBENCH_SSD_DEV_CUH */
