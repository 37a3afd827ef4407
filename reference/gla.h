/*
 * gla.h — the chunkwise-parallel algorithm of the linear and gated families
 * (reference/gla.c), which their `cpu` implementations run and the GPU
 * kernels (ops/gated/) map onto threads. The math, per (batch, value head)
 * and chunk of c tokens t0 .. t0+c-1, with G_i = Σ_{t ≤ i} g_{t0+t} the gate
 * summed inside the chunk (a D-vector for gate=key, a scalar for gate=head,
 * 0 without a gate) and S the state before the chunk:
 *
 *   inter   O_i  = scale · (q_i ⊙ e^{G_i}) S
 *   intra   O_i += Σ_{j ≤ i} A_ij v_j,  A_ij = scale · Σ_d q_id k_jd e^{G_id − G_jd}
 *   state   S    = diag(e^{G_last}) S + Σ_j (k_j ⊙ e^{G_last − G_j})ᵀ v_j
 *
 * Only differences that are ≤ 0 are ever exponentiated (G falls along the
 * chunk), never e^{−G}, so gates of −20 or −1e4 per token underflow to 0
 * instead of overflowing. A_ij for gate=head is (q_i·k_j) e^{G_i − G_j}: one
 * matrix product and a scalar factor per score. For gate=key the factor
 * differs per d and cannot leave the sum; the chunk is cut into sub-chunks
 * of GLA_SUB tokens and for query sub-chunk I (first token r) and an earlier
 * key sub-chunk J
 *   A_IJ = (Q_I ⊙ e^{G_I − G_r}) (K_J ⊙ e^{G_r − G_J})ᵀ
 * (j < r ≤ i: both exponents ≤ 0), a product again; only the diagonal
 * sub-blocks I = J take the exp inside the sum. GLA_SUB = 16 is the tensor
 * cores' m16n8k16 tile, which the bf16 kernel computes these blocks with.
 */
#ifndef SEQBENCH_GLA_H
#define SEQBENCH_GLA_H

#include "recurrent.h"

#define GLA_SUB 16

/* The `cpu` implementation of the linear (REC_LINEAR) and gated families. */
int gla_cpu_run(enum rec_kind kind, struct op_ctx *ctx);

/* The implementation table the linear and gated families share (linear is
 * gated with gate=none): p##_ref_run and p##_cpu_run are the family's own
 * entry points; the GPU kernels are the same (ops/gated/). */
#define GLA_IMPLS(p)                                                                          \
    {                                                                                         \
        { .name = "ref", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),      \
          .status = "verified",                                                               \
          .summary = "the recurrence, float64 state, OpenMP over (batch, head)",              \
          .run = p##_ref_run, .flops_executed = rec_flops_recurrent },                        \
        { .name = "cpu", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),      \
          .status = "verified",                                                               \
          .summary = "the GPU kernels' chunked algorithm in C (reference/gla.c), fp32, OpenMP", \
          .run = p##_cpu_run, .flops_executed = gla_cpu_flops_executed },                     \
        { .name = "cuda", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),    \
          .status = SB_GPU_STATUS_CPU_ONLY,                                                   \
          .summary = "chunked, fp32 FMA: scores per chunk, then a state walk per Dv slice",   \
          .flops_executed = gla_cuda_flops_executed, SB_GPU_FNS(gla_cuda) },                  \
        { .name = "cuda-opt", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),                  \
          .status = SB_GPU_STATUS_CPU_ONLY,                                                   \
          .summary = "chunked on tensor cores (mma.sync m16n8k16 bf16, fp32 state in accumulators)", \
          .flops_executed = gla_cuda_opt_flops_executed, SB_GPU_FNS(gla_cuda_opt) },          \
        { .name = "decode", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),  \
          .status = SB_GPU_STATUS_CPU_ONLY,                                                   \
          .summary = "N <= 16 new tokens from the state h0: state read and written once",     \
          .flops_executed = rec_flops_recurrent, SB_GPU_FNS(gla_decode) },                    \
    }

/* Multiply-adds gla_cpu_run's products executed, counted by its
 * micro-kernels as they run (tests compare them with
 * gla_cpu_flops_executed). */
extern int64_t gla_cpu_macs;

/* FLOPs each implementation executes (impl.flops_executed; gla.c). */
double gla_cpu_flops_executed(const struct shape *s);
double gla_cuda_flops_executed(const struct shape *s);
double gla_cuda_opt_flops_executed(const struct shape *s);

#endif
