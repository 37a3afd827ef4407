/*
 * gpu_ref.h — the device reference: plain fp32 kernels (harness/gpu_ref.cu)
 * that compute every output row of a case on the GPU, so that a GPU
 * implementation is checked on every (row, head), not only on the rows the
 * float64 CPU reference samples. Obviously correct rather than fast:
 *
 *   attention  one block per output (token, head): the scores q·k_j in
 *              fp32 with the bottom-right causal mask, a window and sinks
 *              (flash_visible, ops/flash/flash_tiles.h), a block mask
 *              (sparse) and GQA, their exact
 *              maximum (a first pass), then key tiles of GREF_THREADS:
 *              p_j = e^(s_j − max), o += Σ p_j v_j and l += Σ p_j per tile
 *              (a tile's sum first, then the running one: blocked summation,
 *              error ~ (Nk/GREF_THREADS + GREF_THREADS)·2^-24), o / l; 0 for
 *              a row that sees no key.
 *   recurrent  one block per (batch, value head, GREF_COLS state columns),
 *              a thread per column running the recurrence of
 *              reference/recurrent.h token by token over N with its column
 *              of S (D floats) in shared memory: every column follows its
 *              own recurrence, the delta rule's k·S' included.
 *   compare    per (row, head): Σ(o − x)², Σx², max |o − x|, which
 *              validate_sums() (harness/validate.c) judges as the CPU check.
 *
 * The per-block work is written here once, in the C both gcc and nvcc
 * compile: GREF_FOR(t, n) shares t = 0 .. n−1 among the block's threads (on
 * the CPU: a loop over all of them), GREF_SYNC() is the block barrier (on
 * the CPU: nothing, since each GREF_FOR runs to its end before the next
 * statement). No per-thread local lives across a GREF_SYNC (what a phase
 * leaves for the next goes through `sh`, the block's shared memory), so the
 * sequential CPU run computes exactly what the threads do, and
 * tests/test_gpu_ref.c checks these functions against the float64
 * reference. The kernels and their launch run on the CPU runner
 * (tests/cuda_on_cpu.sh: in run_case, for every GPU case it executes, every
 * row), threads and barriers as on a GPU; unverified on a GPU.
 */
#ifndef SEQBENCH_GPU_REF_H
#define SEQBENCH_GPU_REF_H

#include <math.h>
#include <stdint.h>

#include "seqbench.h"
#include "../ops/flash/flash_tiles.h"

#define GREF_THREADS 128    /* threads per attention block: keys per tile */
#define GREF_COLS 32        /* state columns per recurrent block, a thread each */

enum gref_kind { GREF_NONE, GREF_ATTENTION, GREF_RECURRENT };

/* A case as the device reference sees it: the shape and the input tensors,
 * laid out as the families lay them out (reference/attention.h,
 * reference/recurrent.h), fp32 and already rounded to the dtype. The
 * family fills it (family.gpu_ref) with host pointers; gpu_ref.cu swaps
 * in device copies. */
struct gref_case {
    int kind;                   /* enum gref_kind */
    int64_t B, N, Nk, H, Hkv;   /* attention: q [B,N,H,D], k [B,Nk,Hkv,D], v [B,Nk,Hkv,Dv] */
    int64_t Hv;                 /* recurrent: q, k [B,N,H,D], v [B,N,Hv,Dv] */
    int64_t D, Dv;
    int causal;                 /* attention: key j visible to query n iff j <= n + Nk − N */
    int64_t window, sink;       /* attention: flash_visible's W and S (0: none) */
    const float *mask;          /* attention, block-sparse: [mB, mH, ⌈N/bq⌉, ⌈Nk/bk⌉], nonzero
                                   = computed; NULL: none */
    int64_t mB, mH, bq, bk;
    int gate;                   /* recurrent: enum gate_kind; g [B,N,Hv] or [B,N,Hv,D] */
    int delta;                  /* recurrent: the delta rule, beta [B,N,Hv] */
    float scale;
    const float *q, *k, *v;
    const float *g, *beta, *h0; /* NULL when the case has none */
};

#ifdef __CUDACC__
#define GREF_HD static __host__ __device__ inline
#else
#define GREF_HD static inline
#endif

/* Output rows (tokens) and heads per row of the case: out [B, N, heads, Dv]. */
GREF_HD int64_t gref_rows(const struct gref_case *c) { return c->B * c->N; }
GREF_HD int64_t gref_heads(const struct gref_case *c)
{
    return c->kind == GREF_ATTENTION ? c->H : c->Hv;
}

/* Blocks of each kernel. */
GREF_HD int64_t gref_blocks(const struct gref_case *c)
{
    return c->kind == GREF_ATTENTION ? c->B * c->N * c->H
                                     : c->B * c->Hv * ((c->Dv + GREF_COLS - 1) / GREF_COLS);
}

/* Shared memory of one block, in floats. */
GREF_HD int64_t gref_shared_floats(const struct gref_case *c)
{
    return c->kind == GREF_ATTENTION ? 2 * GREF_THREADS + c->Dv + 2 : c->D * GREF_COLS;
}

/* The block's threads: on a GPU, or on the CPU runner (ops/sim/cuda_sim.h),
 * which runs gpu_ref.cu's kernels as CUDA threads too. */
#if defined(__CUDA_ARCH__) || defined(SB_CUDA_ON_CPU)
#define GREF_FOR(t, n) for (int64_t t = threadIdx.x; t < (int64_t)(n); t += blockDim.x)
#define GREF_SYNC() __syncthreads()
#else
#define GREF_FOR(t, n) for (int64_t t = 0; t < (int64_t)(n); t++)
#define GREF_SYNC() ((void)0)
#endif

/* scale · q·k in fp32. */
GREF_HD float gref_score(const float *q, const float *k, int64_t D, float scale)
{
    float s = 0.0f;
    for (int64_t d = 0; d < D; d++)
        s += q[d] * k[d];
    return scale * s;
}

/* The block mask's row for query n of batch b, head h; NULL without one. */
GREF_HD const float *gref_mask_row(const struct gref_case *c, int64_t b, int64_t h, int64_t n)
{
    if (!c->mask)
        return NULL;
    const int64_t qb = (c->N + c->bq - 1) / c->bq, kb = (c->Nk + c->bk - 1) / c->bk;
    const int64_t mb = c->mB == 1 ? 0 : b, mh = c->mH == 1 ? 0 : h;
    return c->mask + ((mb * c->mH + mh) * qb + n / c->bq) * kb;
}

/* Key j is visible to query n, whose mask row is mrow. (j / bk in 32 bits:
 * a 64-bit division per key is a call with a stack frame on the GPU; a
 * block-sparse case's keys are counted in int.) */
GREF_HD int gref_visible(const struct gref_case *c, const float *mrow, int64_t n, int64_t j)
{
    return flash_visible(c->N, c->Nk, c->causal, c->window, c->sink, n, j) &&
           (!mrow || mrow[(uint32_t)j / (uint32_t)c->bk] != 0.0f);
}

/* Attention, block `blk` = ((b·N + n)·H + h): ref[b, n, h, :] (ref laid out as
 * out). sh: gref_shared_floats() floats. */
GREF_HD void gref_attention_block(const struct gref_case *c, int64_t blk, float *ref, float *sh)
{
    const int64_t h = blk % c->H, row = blk / c->H, b = row / c->N, n = row % c->N;
    const int64_t D = c->D, Dv = c->Dv, g = h / (c->H / c->Hkv);
    const int64_t kv_end = c->causal ? n + c->Nk - c->N + 1 : c->Nk;
    const float *q = c->q + (row * c->H + h) * D;
    const float *k = c->k + (b * c->Nk * c->Hkv + g) * D;        /* key j at k + j·Hkv·D */
    const float *v = c->v + (b * c->Nk * c->Hkv + g) * Dv;
    float *part = sh, *p = sh + GREF_THREADS, *o = sh + 2 * GREF_THREADS;
    float *red = o + Dv;        /* [0] the max, [1] the running sum l */
    const float *mrow = gref_mask_row(c, b, h, n);

    GREF_FOR(t, GREF_THREADS) {     /* each thread's max over its keys */
        float m = -INFINITY;
        for (int64_t j = t; j < kv_end; j += GREF_THREADS)
            if (gref_visible(c, mrow, n, j))
                m = fmaxf(m, gref_score(q, k + j * c->Hkv * D, D, c->scale));
        part[t] = m;
    }
    GREF_SYNC();
    GREF_FOR(t, 1) {
        float m = part[0];
        for (int i = 1; i < GREF_THREADS; i++)
            m = fmaxf(m, part[i]);
        red[0] = m, red[1] = 0.0f;
    }
    GREF_FOR(e, Dv)
        o[e] = 0.0f;
    GREF_SYNC();
    for (int64_t j0 = 0; j0 < kv_end; j0 += GREF_THREADS) {
        const int64_t nj = kv_end - j0 < GREF_THREADS ? kv_end - j0 : GREF_THREADS;
        GREF_FOR(t, nj)     /* (no key seen: the max is -inf and every p is 0) */
            p[t] = gref_visible(c, mrow, n, j0 + t)
                       ? expf(gref_score(q, k + (j0 + t) * c->Hkv * D, D, c->scale) - red[0])
                       : 0.0f;
        GREF_SYNC();
        GREF_FOR(e, Dv) {
            float a = 0.0f;
            for (int64_t t = 0; t < nj; t++)
                a += p[t] * v[(j0 + t) * c->Hkv * Dv + e];
            o[e] += a;
        }
        GREF_FOR(t, 1) {
            float l = 0.0f;
            for (int64_t i = 0; i < nj; i++)
                l += p[i];
            red[1] += l;
        }
        GREF_SYNC();
    }
    GREF_FOR(e, Dv)
        ref[(row * c->H + h) * Dv + e] = red[1] > 0.0f ? o[e] / red[1] : 0.0f;
}

/* Recurrent, block `blk` = ((b·Hv + j)·slices + slice): columns
 * slice·GREF_COLS .. of ref[b, :, j, :]. sh: D × GREF_COLS floats, the
 * columns of S. */
GREF_HD void gref_recurrent_block(const struct gref_case *c, int64_t blk, float *ref, float *sh)
{
    const int64_t slices = (c->Dv + GREF_COLS - 1) / GREF_COLS;
    const int64_t e0 = blk % slices * GREF_COLS, bj = blk / slices, b = bj / c->Hv, j = bj % c->Hv;
    const int64_t D = c->D, Dv = c->Dv, Hv = c->Hv, hq = j / (Hv / c->H);
    const int64_t ncols = Dv - e0 < GREF_COLS ? Dv - e0 : GREF_COLS;
    GREF_FOR(e, ncols) {
        float *S = sh + e;      /* S[i] at S[i·GREF_COLS]: this thread's column e0 + e */
        for (int64_t i = 0; i < D; i++)
            S[i * GREF_COLS] = c->h0 ? c->h0[((b * Hv + j) * D + i) * Dv + e0 + e] : 0.0f;
        for (int64_t t = 0; t < c->N; t++) {
            const int64_t tok = b * c->N + t;
            const float *q = c->q + (tok * c->H + hq) * D, *k = c->k + (tok * c->H + hq) * D;
            const float head_a = c->gate == GATE_HEAD ? expf(c->g[tok * Hv + j]) : 1.0f;
            float u = c->v[(tok * Hv + j) * Dv + e0 + e];
            if (c->delta) {     /* u = β (v − k·S'), S' = diag(a) S */
                float ks = 0.0f;
                for (int64_t i = 0; i < D; i++) {
                    const float a = c->gate == GATE_KEY ? expf(c->g[(tok * Hv + j) * D + i]) : head_a;
                    ks += k[i] * (a * S[i * GREF_COLS]);
                }
                u = c->beta[tok * Hv + j] * (u - ks);
            }
            float o = 0.0f;
            for (int64_t i = 0; i < D; i++) {   /* S = diag(a) S + kᵀ u; o = scale · q S */
                const float a = c->gate == GATE_KEY ? expf(c->g[(tok * Hv + j) * D + i]) : head_a;
                const float si = a * S[i * GREF_COLS] + k[i] * u;
                S[i * GREF_COLS] = si;
                o += q[i] * si;
            }
            ref[(tok * Hv + j) * Dv + e0 + e] = c->scale * o;
        }
    }
}

/* (row, head) pair i of out against ref, Dv elements each: sums[3i ..]. */
GREF_HD void gref_compare(const float *out, const float *ref, int64_t i, int64_t Dv, float *sums)
{
    float se = 0.0f, sx = 0.0f, mx = 0.0f;
    for (int64_t e = 0; e < Dv; e++) {
        const float x = ref[i * Dv + e], d = out[i * Dv + e] - x;
        se += d * d, sx += x * x;
        mx = fabsf(d) > mx ? fabsf(d) : mx;
    }
    sums[3 * i] = se, sums[3 * i + 1] = sx, sums[3 * i + 2] = mx;
}

#ifdef __cplusplus
extern "C" {
#endif

/* Computes the case's every output row on the device in fp32 and compares
 * out (the implementation's output, host fp32, [rows, heads, Dv]) with it:
 * sums (host, gref_rows·gref_heads·3 floats) as gref_compare writes them.
 * Its buffers are its own (cudaMalloc, not the implementation's tracked
 * footprint), freed before it returns. SB_OK; SB_OOM when the device lacks
 * the memory (the check is then skipped); SB_ERROR with ctx->err. */
int gpu_ref_sums(struct op_ctx *ctx, const struct gref_case *c, const float *out, float *sums);

#ifdef __cplusplus
}
#endif

#endif
