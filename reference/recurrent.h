/*
 * recurrent.h — what the linear, gated and delta families share: one state
 * S (D × Dv per value head) carried along the sequence, read out by each
 * query. They are one recurrence with two switches (reference/recurrent.c):
 *
 *   S'  = diag(exp g_t) S_{t-1}          gate: none (g = 0), head (one g per
 *                                        head and token), key (one per key dim)
 *   S_t = S' + k_tᵀ v_t                  linear, gated
 *   S_t = S' + β_t k_tᵀ (v_t − k_t S')   delta (DeltaNet; gated: Gated DeltaNet)
 *   o_t = scale · q_t S_t                scale = 1/√D
 *
 * Tensors are token-major as in flash-linear-attention, fp32 on the host:
 *   q, k  [B, N, H, D]      query/key heads H
 *   v     [B, N, Hv, Dv]    value heads Hv, a multiple of H: value head j reads
 *                           query/key head j / (Hv/H) (Gated DeltaNet's GVA)
 *   g     [B, N, Hv]        gate=head, log-space, ≤ 0
 *         [B, N, Hv, D]     gate=key
 *   beta  [B, N, Hv]        delta only, in (0, 1)
 *   h0    [B, Hv, D, Dv]    state=1: the initial state (else S_0 = 0)
 *   o     [B, N, Hv, Dv]    the output
 *   ht    [B, Hv, D, Dv]    state=1: the final state S_N (io.final)
 * in[] holds them in that order, absent ones skipped: rec_layout() says where.
 */
#ifndef SEQBENCH_RECURRENT_H
#define SEQBENCH_RECURRENT_H

#include <stdint.h>

#include "../harness/seqbench.h"

enum rec_kind { REC_LINEAR, REC_GATED, REC_DELTA };

#define REC_FIELDS                                                                  \
    (SF_BIT(SF_B) | SF_BIT(SF_N) | SF_BIT(SF_H) | SF_BIT(SF_HV) | SF_BIT(SF_D) |    \
     SF_BIT(SF_DV) | SF_BIT(SF_CHUNK) | SF_BIT(SF_STATE))
#define REC_FIELDS_GATED (REC_FIELDS | SF_BIT(SF_GATE))

#define REC_DEFAULT_CHUNK 64

/* Index of each tensor in in[], -1 when the case has none. */
struct rec_layout {
    int q, k, v, g, beta, h0;
    int n_in;
};
struct rec_layout rec_layout(enum rec_kind kind, const struct shape *s);

/* The family's gate for this shape (linear: none). */
static inline enum gate_kind rec_gate(enum rec_kind kind, const struct shape *s)
{
    return kind == REC_LINEAR ? GATE_NONE : (enum gate_kind)s->gate;
}

void rec_defaults(enum rec_kind kind, struct shape *s);
int rec_validate(enum rec_kind kind, const struct shape *s, char *msg, size_t n);
/* FLOPs of the chunked algorithm over each chunk's causal pairs (the
 * algorithmic count flops stores; see recurrent.c) and of the recurrence,
 * 4·B·Hv·N·D·Dv (flops_minimal; what `ref` and the decode kernels execute
 * for linear and gated). */
double rec_flops_chunked(enum rec_kind kind, const struct shape *s);
double rec_flops_recurrent(const struct shape *s);
/* The delta rule's recurrence as executed (the reference, decode): k S',
 * the update and the readout, 6·B·Hv·N·D·Dv. */
double rec_flops_delta_recurrent(const struct shape *s);
/* Σ over the chunks of each (batch, value head) of per_chunk(s, c): chunks
 * of `chunk` tokens and a shorter last one; times B·Hv. The executed
 * counts of the chunked implementations sum their per-chunk work with it. */
double rec_sum_chunks(const struct shape *s, int64_t chunk,
                      double (*per_chunk)(const struct shape *, double));
double rec_min_bytes(enum rec_kind kind, const struct shape *s);
void rec_io(enum rec_kind kind, const struct shape *s, struct io_specs *io);
void rec_inputs(enum rec_kind kind, const struct shape *s, uint64_t seed, float *const in[]);
void rec_reference(enum rec_kind kind, const struct shape *s, double scale,
                   const float *const in[], const int64_t *rows, int64_t nrows, double *out,
                   double *final);
double rec_row_cost(enum rec_kind kind, const struct shape *s, int64_t row);
/* The chunks, and the sub-chunks of `sub` rows the kernels cut each chunk
 * into (0: none): what validation checks the edges of. */
int rec_row_tilings(const struct shape *s, int64_t sub, struct row_tiling *t);
int rec_gpu_ref(enum rec_kind kind, const struct shape *s, double scale, const float *const in[],
                struct gref_case *c);
struct tolerance rec_tolerance(const struct shape *s);

/* Runs the reference over every row into ctx->out (and ctx->final), rounded
 * to the dtype: the `ref` implementation of all three families. */
int rec_ref_run(enum rec_kind kind, struct op_ctx *ctx);

/* Multiply-adds the reference has executed since last cleared (tests). */
extern int64_t rec_ref_macs;
/* Multiply-adds delta/cpu's products executed, counted as they run (tests
 * compare them with its flops_executed). */
extern int64_t delta_cpu_macs;

/* One family's callbacks bound to its kind: REC_FAMILY_FNS(linear, REC_LINEAR)
 * defines linear_defaults, linear_validate, ... for its struct family. */
#define REC_FAMILY_FNS(p, kind)                                                            \
    static void p##_defaults(struct shape *s) { rec_defaults(kind, s); }                   \
    static int p##_validate(const struct shape *s, char *m, size_t n)                      \
    { return rec_validate(kind, s, m, n); }                                                \
    static double p##_flops(const struct shape *s) { return rec_flops_chunked(kind, s); }  \
    static double p##_min_bytes(const struct shape *s) { return rec_min_bytes(kind, s); }  \
    static void p##_io(const struct shape *s, struct io_specs *io) { rec_io(kind, s, io); } \
    static void p##_inputs(const struct shape *s, uint64_t seed, float *const in[])        \
    { rec_inputs(kind, s, seed, in); }                                                     \
    static void p##_reference(const struct shape *s, double scale, const float *const in[], \
                              const int64_t *rows, int64_t nrows, double *out, double *fin) \
    { rec_reference(kind, s, scale, in, rows, nrows, out, fin); }                          \
    static double p##_row_cost(const struct shape *s, int64_t row)                         \
    { return rec_row_cost(kind, s, row); }                                                 \
    static int p##_ref_run(struct op_ctx *ctx) { return rec_ref_run(kind, ctx); }         \
    static int p##_gpu_ref(const struct shape *s, double scale, const float *const in[],    \
                           struct gref_case *c)                                            \
    { return rec_gpu_ref(kind, s, scale, in, c); }

/* The struct family members REC_FAMILY_FNS defined. */
#define REC_FAMILY_MEMBERS(p)                                                              \
    .defaults = p##_defaults, .validate = p##_validate, .flops = p##_flops,                \
    .flops_minimal = rec_flops_recurrent, .min_bytes = p##_min_bytes, .io = p##_io,        \
    .inputs = p##_inputs, .reference = p##_reference, .row_cost = p##_row_cost,            \
    .tolerance = rec_tolerance, .gpu_ref = p##_gpu_ref

#endif
