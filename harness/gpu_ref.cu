/*
 * gpu_ref.cu — the device reference's kernels and their launch; the math,
 * the block structure and why it is written so are in gpu_ref.h.
 *
 * Buffers (cudaMalloc, the check's own, freed before returning): the
 * inputs in fp32, the reference output and the implementation's output in
 * fp32 (each out-sized), the sums. For a 128K-token attention case with 16
 * heads of 128 that is about 2 GB.
 *
 * Cost (an estimate: never run): the attention kernel reads a (row, head)'s
 * keys twice (the max, then the tiles) and its values once, from L2 with
 * no reuse between rows, about 2·10^14 bytes for causal attention at 128K
 * tokens and 16 heads of 128: tens of seconds on an H100; the recurrent
 * kernel is a sequential walk of N tokens per thread, seconds at 1M tokens.
 *
 * Status: compiled for every target; never run on a GPU (unverified). The
 * block functions are checked on the CPU against the float64 reference
 * (tests/test_gpu_ref.c), and these kernels and their launch run on the CPU
 * runner from this source in every GPU case it executes
 * (tests/cuda_on_cpu.sh).
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "../ops/launch.cuh"
#include "gpu.h"
#include "gpu_ref.h"

__global__ void __launch_bounds__(GREF_THREADS)
gref_attention_kernel(const struct gref_case c, float *__restrict__ ref)
{
    float *sh = static_cast<float *>(sb_dynamic_smem());
    for (int64_t blk = blockIdx.x; blk < gref_blocks(&c); blk += gridDim.x) {
        gref_attention_block(&c, blk, ref, sh);
        __syncthreads();        /* sh is reused by the next block */
    }
}

__global__ void __launch_bounds__(GREF_COLS)
gref_recurrent_kernel(const struct gref_case c, float *__restrict__ ref)
{
    float *sh = static_cast<float *>(sb_dynamic_smem());
    for (int64_t blk = blockIdx.x; blk < gref_blocks(&c); blk += gridDim.x)
        gref_recurrent_block(&c, blk, ref, sh);
}

__global__ void gref_compare_kernel(const float *__restrict__ out, const float *__restrict__ ref,
                                    int64_t pairs, int64_t Dv, float *__restrict__ sums)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < pairs;
         i += (int64_t)gridDim.x * blockDim.x)
        gref_compare(out, ref, i, Dv, sums);
}

/* Blocks launched at most: the kernels stride over the rest. */
#define GREF_MAX_GRID (1 << 30)
#define GREF_COMPARE_THREADS 256

static int64_t gref_grid(int64_t blocks)
{
    return blocks < GREF_MAX_GRID ? blocks : GREF_MAX_GRID;
}

/* The launches: the case's reference kernel, a block per gref_blocks()
 * (striding past GREF_MAX_GRID) with gref_shared_floats() of shared
 * memory; the compare, a thread per (row, head) pair. */
static struct sb_plan gref_ref_plan(const struct gref_case *c)
{
    const size_t smem = (size_t)gref_shared_floats(c) * sizeof(float);
    if (c->kind == GREF_ATTENTION)
        return { "gref_attention_kernel", { gref_grid(gref_blocks(c)), 1, 1 }, GREF_THREADS, smem };
    return { "gref_recurrent_kernel", { gref_grid(gref_blocks(c)), 1, 1 }, GREF_COLS, smem };
}

static struct sb_plan gref_compare_plan(int64_t pairs)
{
    const int64_t blocks = (pairs + GREF_COMPARE_THREADS - 1) / GREF_COMPARE_THREADS;
    return { "gref_compare_kernel", { gref_grid(blocks), 1, 1 }, GREF_COMPARE_THREADS, 0 };
}

#define GREF_CHECK(call)                                                                  \
    do {                                                                                  \
        cudaError_t e_ = (call);                                                          \
        if (e_ != cudaSuccess) {                                                          \
            rc = e_ == cudaErrorMemoryAllocation ? SB_OOM : SB_ERROR;                     \
            snprintf(ctx->err, sizeof ctx->err, "device reference: %s: %s (%s) at %s:%d", \
                     #call, cudaGetErrorString(e_), cudaGetErrorName(e_), __FILE__,       \
                     __LINE__);                                                           \
            if (rc == SB_OOM)                                                             \
                (void)cudaGetLastError();   /* not sticky: clear it */                    \
            goto out;                                                                     \
        }                                                                                 \
    } while (0)

#define GREF_INPUTS 7

/* Tensor elements of each input, in struct gref_case order (0: none). */
static void gref_sizes(const struct gref_case *c, int64_t n[GREF_INPUTS])
{
    const int64_t tok = c->B * c->N;
    n[6] = 0;
    if (c->kind == GREF_ATTENTION) {
        n[0] = tok * c->H * c->D;
        n[1] = c->B * c->Nk * c->Hkv * c->D;
        n[2] = c->B * c->Nk * c->Hkv * c->Dv;
        n[3] = n[4] = n[5] = 0;
        if (c->mask)
            n[6] = c->mB * c->mH * ((c->N + c->bq - 1) / c->bq) * ((c->Nk + c->bk - 1) / c->bk);
        return;
    }
    n[0] = n[1] = tok * c->H * c->D;
    n[2] = tok * c->Hv * c->Dv;
    n[3] = c->g ? tok * c->Hv * (c->gate == GATE_KEY ? c->D : 1) : 0;
    n[4] = c->beta ? tok * c->Hv : 0;
    n[5] = c->h0 ? c->B * c->Hv * c->D * c->Dv : 0;
}

extern "C" int gpu_ref_sums(struct op_ctx *ctx, const struct gref_case *hc, const float *out,
                            float *sums)
{
    const int64_t pairs = gref_rows(hc) * gref_heads(hc), out_n = pairs * hc->Dv;
    const float *const *host_in[GREF_INPUTS] = { &hc->q, &hc->k, &hc->v, &hc->g,
                                                 &hc->beta, &hc->h0, &hc->mask };
    float *d_in[GREF_INPUTS] = { 0 }, *d_ref = NULL, *d_out = NULL, *d_sums = NULL;
    struct gref_case c = *hc;
    const float **dev_in[GREF_INPUTS] = { &c.q, &c.k, &c.v, &c.g, &c.beta, &c.h0, &c.mask };
    int64_t n[GREF_INPUTS];
    int rc = SB_OK;
    gref_sizes(hc, n);

    for (int t = 0; t < GREF_INPUTS; t++) {
        if (!n[t])
            continue;
        GREF_CHECK(cudaMalloc((void **)&d_in[t], (size_t)n[t] * sizeof(float)));
        if ((rc = sb_gpu_upload(ctx, d_in[t], *host_in[t], n[t], DT_FP32)) != SB_OK)
            goto out;
        *dev_in[t] = d_in[t];
    }
    GREF_CHECK(cudaMalloc((void **)&d_ref, (size_t)out_n * sizeof(float)));
    GREF_CHECK(cudaMalloc((void **)&d_out, (size_t)out_n * sizeof(float)));
    GREF_CHECK(cudaMalloc((void **)&d_sums, (size_t)pairs * 3 * sizeof(float)));
    if ((rc = sb_gpu_upload(ctx, d_out, out, out_n, DT_FP32)) != SB_OK)
        goto out;
    {
        /* A plan the device cannot take is this check's error, as a failed
         * launch would be: the case has no device reference to fall back on. */
        const struct sb_plan ref_plan = gref_ref_plan(&c), cmp_plan = gref_compare_plan(pairs);
        const void *ref_fn = c.kind == GREF_ATTENTION ? (const void *)gref_attention_kernel
                                                      : (const void *)gref_recurrent_kernel;
        if ((rc = sb_plan_prepare(ctx, ref_fn, &ref_plan, "device reference")) != SB_OK ||
            (rc = sb_plan_prepare(ctx, (const void *)gref_compare_kernel, &cmp_plan,
                                  "device reference")) != SB_OK) {
            rc = rc == SB_UNSUPPORTED ? SB_ERROR : rc;
            goto out;
        }
        rc = c.kind == GREF_ATTENTION ? sb_launch(ctx, gref_attention_kernel, ref_plan, c, d_ref)
                                      : sb_launch(ctx, gref_recurrent_kernel, ref_plan, c, d_ref);
        if (rc != SB_OK ||
            (rc = sb_launch(ctx, gref_compare_kernel, cmp_plan, (const float *)d_out,
                            (const float *)d_ref, pairs, (int64_t)c.Dv, d_sums)) != SB_OK)
            goto out;
    }
    rc = sb_gpu_download(ctx, sums, d_sums, pairs * 3, DT_FP32);
out:
    for (int t = 0; t < GREF_INPUTS; t++)
        cudaFree(d_in[t]);
    cudaFree(d_ref), cudaFree(d_out), cudaFree(d_sums);
    return rc;
}
