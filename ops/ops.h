/*
 * ops.h — entry points of the GPU implementations (ops/<family>/ *.cu and *.c), as
 * referenced from the families' implementation tables in reference/. Only
 * compiled in when nvcc was found (SB_HAVE_CUDA).
 */
#ifndef SEQBENCH_OPS_H
#define SEQBENCH_OPS_H

#include "../harness/seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_DECLARE_GPU_IMPL(p)                                                  \
    int p##_setup(struct op_ctx *ctx);                                          \
    int p##_run(struct op_ctx *ctx);                                            \
    int p##_fetch(struct op_ctx *ctx);                                          \
    void p##_teardown(struct op_ctx *ctx);                                      \
    int64_t p##_workspace_bytes(const struct shape *s);

SB_DECLARE_GPU_IMPL(softmax_cublas)   /* ops/softmax/softmax_cublas.cu */
SB_DECLARE_GPU_IMPL(flash_cuda)       /* ops/flash/flash_fwd.cu */
SB_DECLARE_GPU_IMPL(flash_cudnn)      /* ops/flash/flash_cudnn.c (C, cuDNN loaded at run time) */
SB_DECLARE_GPU_IMPL(sparse_cuda)      /* ops/sparse/sparse_fwd.cu (flash_fwd.cu's kernel) */
/* ops/delta/ */
SB_DECLARE_GPU_IMPL(delta_cuda)       /* ops/delta/delta_chunk.cu */
SB_DECLARE_GPU_IMPL(delta_cuda_opt)   /* ops/delta/delta_chunk_mma.cu */
SB_DECLARE_GPU_IMPL(delta_decode)     /* ops/delta/delta_decode.cu */
/* ops/gated/ (the linear family runs them with gate=none) */
SB_DECLARE_GPU_IMPL(gla_cuda)         /* ops/gated/gla_fwd.cu */
SB_DECLARE_GPU_IMPL(gla_cuda_opt)     /* ops/gated/gla_fwd_mma.cu */
SB_DECLARE_GPU_IMPL(gla_decode)       /* ops/gated/gla_decode.cu */
/* ops/ssm/: each variant's kernels (reference/ssm.c picks by the shape's variant) */
SB_DECLARE_GPU_IMPL(s6_cuda)          /* ops/ssm/s6_scan.cu */
SB_DECLARE_GPU_IMPL(s6_decode)        /* ops/ssm/s6_decode.cu */
SB_DECLARE_GPU_IMPL(conv_cuda)        /* ops/ssm/conv_fft.cu */
SB_DECLARE_GPU_IMPL(ssd_cuda)         /* ops/ssm/ssd_chunk.cu */
SB_DECLARE_GPU_IMPL(ssd_cuda_opt)     /* ops/ssm/ssd_chunk_mma.cu */
SB_DECLARE_GPU_IMPL(ssd_decode)       /* ops/ssm/ssd_decode.cu */

#ifdef __cplusplus
}
#endif

/* The status `bench list impls` shows for a GPU implementation that has run
 * only on the CPU runner (ops/sim/, tests/cuda_on_cpu.sh: its host code and
 * kernels from their source, under ASan/UBSan and TSan, against the
 * reference): say "verified" only once a GPU has run it. */
#define SB_GPU_STATUS_CPU_ONLY "unverified: never run on a GPU; run from source on the CPU runner"

/* In an implementation table: the GPU entry points when built, else NULL
 * (the harness then records "skipped: built without CUDA"). */
#ifdef SB_HAVE_CUDA
#define SB_GPU_FNS(p)                                                           \
    .setup = p##_setup, .run = p##_run, .fetch = p##_fetch,                     \
    .teardown = p##_teardown, .workspace_bytes = p##_workspace_bytes
#else
#define SB_GPU_FNS(p) .setup = NULL, .run = NULL
#endif

#endif
