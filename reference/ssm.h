/*
 * ssm.h — the ssm family: state-space sequence mixers, three variants of one
 * family (`--variant`), each in its own file with its reference and its
 * chunked CPU form (reference/ssm.c holds what they share: shape rules,
 * tensors, inputs, the implementation table).
 *
 * s6 (Mamba's selective scan, reference/ssm_s6.c), per batch b and channel
 * d, a state h of Ds values, token by token, channel-major as Mamba:
 *   h_t = exp(Δ_t A_d) ⊙ h_{t-1} + Δ_t u_t B_t      (B_t, C_t of d's group)
 *   y_t = C_t · h_t + D_d u_t,   then y_t · silu(z_t) with z
 *     u, delta, z, y [B,Dm,L]   A [Dm,Ds] (< 0)   D [Dm]
 *     B, C [B,G,Ds,L] ([B,Ds,L] when G = 1)   h0, ht [B,Dm,Ds]
 *
 * ssd (Mamba-2's state-space duality, reference/ssm_ssd.c), per batch b and
 * head h (group g = h / (H/G)), a state S of P × Ds, token-major:
 *   S_t = exp(dt_t A_h) S_{t-1} + dt_t x_tᵀ B_t      (x_t: P, B_t: Ds)
 *   y_t = S_t C_t + D_h x_t,   then y_t · silu(z_t) with z
 *     x, z, y [B,L,H,P]   dt [B,L,H]   A [H] (< 0)   D [H]
 *     B, C [B,L,G,Ds]   h0, ht [B,H,P,Ds]
 *
 * conv (the long convolution of H3, Hyena and FlashFFTConv,
 * reference/ssm_conv.c): a causal convolution of each channel with a
 * filter as long as the sequence,
 *   y[b,t,h] = Σ_{s ≤ t} k[h,s] u[b,t−s,h]
 *     u, y [B,L,H] (token-major: the reference computes sampled tokens)
 *     k [H,L]
 *
 * The sequence length L is the shape's N, as in every family. in[] holds
 * the tensors in the order above, absent ones skipped: ssm_layout() says
 * where.
 */
#ifndef SEQBENCH_SSM_H
#define SEQBENCH_SSM_H

#include <math.h>
#include <stdint.h>

#include "../harness/seqbench.h"

enum ssm_variant { SSM_S6, SSM_SSD, SSM_CONV, SSM_VARIANT_COUNT };

#define SSM_FIELDS_S6                                                                   \
    (SF_BIT(SF_VARIANT) | SF_BIT(SF_B) | SF_BIT(SF_N) | SF_BIT(SF_DM) | SF_BIT(SF_DS) |   \
     SF_BIT(SF_G) | SF_BIT(SF_CHUNK) | SF_BIT(SF_Z) | SF_BIT(SF_STATE))
#define SSM_FIELDS_SSD                                                                  \
    (SF_BIT(SF_VARIANT) | SF_BIT(SF_B) | SF_BIT(SF_N) | SF_BIT(SF_H) | SF_BIT(SF_P) |     \
     SF_BIT(SF_DS) | SF_BIT(SF_G) | SF_BIT(SF_CHUNK) | SF_BIT(SF_Z) | SF_BIT(SF_SKIP) |   \
     SF_BIT(SF_STATE))
#define SSM_FIELDS_CONV (SF_BIT(SF_VARIANT) | SF_BIT(SF_B) | SF_BIT(SF_N) | SF_BIT(SF_H))

/* Index of each tensor in in[], -1 when the case has none. */
struct ssm_layout {
    int x;          /* s6, conv: u; ssd: x */
    int dt;         /* s6: delta; ssd: dt */
    int A, B, C, D, z, h0;
    int k;          /* conv: the filter */
    int n_in;
};
struct ssm_layout ssm_layout(const struct shape *s);

/* Multiply-adds (for s6, state updates) the references have executed, and
 * the products' multiply-adds of the ssd cpu form, since last cleared
 * (tests). */
extern int64_t ssm_ref_macs, ssm_cpu_macs;

/* The ssd GPU kernels' tiles (ops/ssm/ssd_chunk*.cu), which their executed
 * FLOP counts follow: query rows of an output block and key rows of its
 * tiles; tokens per shared-memory stage of the chunk-state kernel of cuda
 * (FMA) and of cuda-opt (tensor cores). */
#define SSD_GPU_QT 64
#define SSD_GPU_SUB 32
#define SSD_GPU_MKT 64
/* The s6 scan kernel's blocks (ops/ssm/s6_scan.cu): channels per block, and
 * threads, each on a chunk of the shape's chunk tokens, so a block walks
 * the sequence in steps of S6_GPU_THREADS · chunk tokens (the last one
 * padded). */
#define S6_GPU_ROWS 4
#define S6_GPU_THREADS 128

/* The variants' references (family.reference) and cpu forms. */
void s6_reference(const struct shape *s, const float *const in[], const int64_t *rows,
                  int64_t nrows, double *out, double *final);
void ssd_reference(const struct shape *s, const float *const in[], const int64_t *rows,
                   int64_t nrows, double *out, double *final);
void conv_reference(const struct shape *s, const float *const in[], const int64_t *rows,
                    int64_t nrows, double *out);
int s6_cpu_run(struct op_ctx *ctx);
int ssd_cpu_run(struct op_ctx *ctx);
int conv_cpu_run(struct op_ctx *ctx);

/* silu(z) = z · sigmoid(z), the output gate of s6 and ssd. */
static inline double ssm_silu(double z)
{
    return z / (1.0 + exp(-z));
}

/* The FFT length of the conv variant: the smallest power of two >= 2L, so
 * the circular convolution of the zero-padded signals is the linear one
 * (the cpu and cuda forms and the FLOP count all use it); at least 4, so a
 * real transform's 2.5·n·log2 n FLOPs are a whole number of multiply-adds
 * (the count the CPU runner's cuFFT makes, ops/sim/cufft.cpp). */
static inline int64_t conv_fft_len(int64_t L)
{
    int64_t n = 4;
    while (n < 2 * L)
        n *= 2;
    return n;
}

#endif
