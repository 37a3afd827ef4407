/*
 * softmax.c — the softmax family: attention with the N×Nk score matrix
 * materialised in device memory, the way an unfused framework runs it
 * (GEMM → masked softmax → GEMM). Same function, shapes, formulas and
 * reference as flash (reference/attention.c); what differs is the footprint:
 * the fp32 score buffer and the probability buffer grow as N·Nk, which the
 * harness counts and the long-context suite shows running out of memory.
 *
 * Implementations:
 *   ref          the definition in double precision, OpenMP over rows and heads
 *   cuda-cublas  cublasGemmBatchedEx for QKᵀ and PV, a masked-softmax kernel
 *                between them (ops/softmax/softmax_cublas.cu)
 */
#include "attention.h"
#include "../ops/ops.h"

/* cuda-cublas: both GEMMs whole, N × Nk per (batch, head), the causal
 * mask applied between them (ops/softmax/softmax_cublas.cu). */
static double softmax_gemm_flops(const struct shape *s)
{
    return 2.0 * s->B * s->H * (double)s->N * (double)s->Nk * (double)(s->D + s->Dv);
}

static const struct impl softmax_impls[] = {
    {
        .name = "ref", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16) | DT_BIT(DT_FP16),
        .status = "verified",
        .summary = "definition, float64 accumulation, OpenMP",
        .setup = NULL, .run = attn_ref_run,
    },
    {
        .name = "cuda-cublas", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = SB_GPU_STATUS_CPU_ONLY,
        .summary = "cuBLAS batched GEMMs + masked softmax kernel, scores in memory",
        .flops_executed = softmax_gemm_flops, SB_GPU_FNS(softmax_cublas),
    },
};

const struct family family_softmax = {
    .name = "softmax",
    .summary = "attention with the N x Nk scores materialised (GEMM, softmax, GEMM)",
    .fields = ATTN_FIELDS,
    .defaults = attn_defaults,
    .validate = attn_validate,
    .flops = attn_flops,
    .min_bytes = attn_min_bytes,
    .io = attn_io,
    .inputs = attn_inputs,
    .reference = attn_reference,
    .row_cost = attn_row_cost,
    .tolerance = attn_tolerance,
    .gpu_ref = attn_gpu_ref,
    /* No row tilings: the GEMMs' tiles are cuBLAS's choice, unknown here,
     * and the softmax kernel takes one row per block. The sampled check
     * takes every batch's edges and random rows; on a GPU the device
     * reference checks every row (harness/gpu_ref.cu). */
    .row_tilings = NULL,
    .impls = softmax_impls,
    .edge_shapes = attn_edge_shapes,
    .n_impls = (int)(sizeof softmax_impls / sizeof softmax_impls[0]),
};
