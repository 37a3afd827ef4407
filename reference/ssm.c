/*
 * ssm.c — the ssm family (reference/ssm.h has the math and the tensors of
 * its three variants): shape rules, FLOP and byte formulas, seeded inputs,
 * tolerances, the implementation table. Each variant's reference and cpu
 * form live in ssm_s6.c, ssm_ssd.c and ssm_conv.c.
 *
 * Implementations (every variant unless said):
 *   ref       the definition in float64: s6 and ssd their recurrence token
 *             by token, conv the direct sum; any subset of output rows
 *   cpu       the GPU kernels' decomposition in C, fp32, OpenMP: s6 a local
 *             scan per chunk then the carries between chunks; ssd Mamba-2's
 *             chunks (C Bᵀ masked by the decay, chunk states, state
 *             passing, output); conv by FFT (KISS FFT, loaded at run time)
 *
 * ---- counting -----------------------------------------------------------
 *
 * A multiply-add is 2 FLOPs.
 *   s6:   9·B·L·Dm·Ds, plus B·Dm·L for the D·u term and B·Dm·L more with z:
 *         the convention of Mamba's issue #110, which VMamba's and
 *         others' FLOP counters use (selective scan per (token, channel,
 *         state): Δ·A, its exp, Δ·B·u, the state's multiply-add and C·h).
 *         The scan is not bound by FLOPs but by memory or by the exps:
 *         B·L·Dm·Ds of them, one per state update, which a GPU report
 *         compares with the SFU rate (16 per SM per clock on sm_80–90).
 *   ssd:  the chunked algorithm over each chunk's causal pairs, per chunk
 *         of c tokens: C Bᵀ per group (2·c(c+1)/2·Ds), then per head the
 *         masked scores times x (2·c(c+1)/2·P), the chunk state
 *         (2·c·P·Ds) and the output C S (2·c·P·Ds) — ThunderKittens'
 *         Mamba-2 count with the causal half instead of whole c×c tiles;
 *         plus B·L·H·P each for D·x and z. flops_minimal: the recurrence,
 *         4·B·H·L·P·Ds (state update and readout), with the same extras.
 *   conv: the FFT algorithm, by FFTW's benchFFT convention: 5·n·log2 n per
 *         complex transform of n points, 2.5·n·log2 n per real one; per
 *         call H filter transforms, B·H input and B·H inverse transforms
 *         of n = conv_fft_len(L) points, and 6 FLOPs per complex product
 *         of the n/2 + 1 frequencies.
 * Compulsory bytes: every input read once, the output (and ht) written
 * once, in the case's dtype.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gla.h"
#include "ref_run.h"
#include "ssm.h"
#include "../ops/ops.h"

int64_t ssm_ref_macs, ssm_cpu_macs;

#define SSM_MAX_ELEMS 0x1p40    /* no tensor beyond 2^40 elements (int64 index math) */
#define SSM_MAX_DS 256          /* state per channel or head: the kernels' registers */
#define SSM_MAX_P 256
#define SSM_MAX_CHUNK 1024

static const unsigned ssm_variant_fields[SSM_VARIANT_COUNT] = {
    [SSM_S6] = SSM_FIELDS_S6, [SSM_SSD] = SSM_FIELDS_SSD, [SSM_CONV] = SSM_FIELDS_CONV,
};

static enum ssm_variant ssm_variant_of(const struct shape *s)
{
    return s->variant >= 0 && s->variant < SSM_VARIANT_COUNT ? (enum ssm_variant)s->variant : SSM_S6;
}

static unsigned ssm_fields_of(const struct shape *s)
{
    return ssm_variant_fields[ssm_variant_of(s)];
}

struct ssm_layout ssm_layout(const struct shape *s)
{
    struct ssm_layout l = { .x = 0, .dt = -1, .A = -1, .B = -1, .C = -1, .D = -1, .z = -1,
                            .h0 = -1, .k = -1 };
    int n = 1;
    if (s->variant == SSM_CONV) {
        l.k = n++;
    } else {
        l.dt = n++, l.A = n++, l.B = n++, l.C = n++;
        if (s->variant == SSM_S6 || s->skip == 1)
            l.D = n++;
        if (s->z == 1)
            l.z = n++;
        if (s->state == 1)
            l.h0 = n++;
    }
    l.n_in = n;
    return l;
}

/* ---- shapes ----------------------------------------------------------------- */

/* Only the variant's own fields are filled; the others keep what they hold
 * (unset, or a flag's 0), so that validate can name one set by mistake. */
static void ssm_defaults(struct shape *s)
{
    if (s->variant < 0) s->variant = SSM_S6;
    if (s->B < 0) s->B = 1;
    if (s->N < 0) s->N = 1024;
    switch (ssm_variant_of(s)) {
    case SSM_S6:
        if (s->Dm < 0) s->Dm = 1024;
        if (s->Ds < 0) s->Ds = 16;
        if (s->chunk < 0) s->chunk = 8;
        break;
    case SSM_SSD:
        if (s->H < 0) s->H = 8;
        if (s->P < 0) s->P = 64;
        if (s->Ds < 0) s->Ds = 128;
        if (s->chunk < 0) s->chunk = 256;
        if (s->skip < 0) s->skip = 0;
        break;
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
        if (s->H < 0) s->H = 64;
        return;
    }
    if (s->G < 0) s->G = 1;
    if (s->z < 0) s->z = 0;
    if (s->state < 0) s->state = 0;
}

static int ssm_validate(const struct shape *s, char *msg, size_t n)
{
    if (s->variant < 0 || s->variant >= SSM_VARIANT_COUNT) {
        snprintf(msg, n, "variant=%lld: must be s6, ssd or conv", (long long)s->variant);
        return -1;
    }
    const unsigned own = ssm_fields_of(s);
    char vname[16];
    shape_field_format(SF_VARIANT, s->variant, vname, sizeof vname);
    for (int f = 0; f < SF_COUNT; f++) {
        const int64_t v = shape_field_get(s, f);
        const int set = shape_fields[f].is_flag ? v > 0 : v >= 0;
        if ((SSM_FIELDS_S6 | SSM_FIELDS_SSD) & SF_BIT(f) && !(own & SF_BIT(f)) && set) {
            char uses[160] = "";
            for (int g = 0; g < SF_COUNT; g++)
                if (own & SF_BIT(g) && g != SF_VARIANT)
                    snprintf(uses + strlen(uses), sizeof uses - strlen(uses), "%s%s",
                             uses[0] ? ", " : "", shape_fields[g].name);
            snprintf(msg, n, "%s: variant %s does not use it (it reads %s)", shape_fields[f].name,
                     vname, uses);
            return -1;
        }
        if (!(own & SF_BIT(f)) || f == SF_VARIANT)
            continue;
        if (shape_fields[f].is_flag && v != 0 && v != 1) {
            snprintf(msg, n, "%s=%lld: must be 0 or 1", shape_fields[f].name, (long long)v);
            return -1;
        }
        if (!shape_fields[f].is_flag && v < 1) {
            snprintf(msg, n, "%s=%lld: must be at least 1", shape_fields[f].name, (long long)v);
            return -1;
        }
    }
    const struct { const char *name; int64_t v, max; } caps[] = {
        { "Ds", s->Ds, SSM_MAX_DS }, { "P", s->P, SSM_MAX_P }, { "chunk", s->chunk, SSM_MAX_CHUNK },
    };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if (caps[i].v > caps[i].max) {
            snprintf(msg, n, "%s=%lld: at most %lld", caps[i].name, (long long)caps[i].v,
                     (long long)caps[i].max);
            return -1;
        }
    const int64_t chans = s->variant == SSM_S6 ? s->Dm : s->H;
    if (s->variant != SSM_CONV && chans % s->G != 0) {
        snprintf(msg, n, "G=%lld: must divide %s=%lld", (long long)s->G,
                 s->variant == SSM_S6 ? "Dm" : "H", (long long)chans);
        return -1;
    }
    double big = (double)s->B * s->N * chans;
    if (s->variant == SSM_SSD)
        big *= (double)(s->P > s->Ds ? s->P : s->Ds);
    if (big > SSM_MAX_ELEMS || (s->variant == SSM_CONV && 2.0 * s->N > 0x1p31)) {
        snprintf(msg, n, "shape too large: a tensor would hold more than 2^40 elements");
        return -1;
    }
    return 0;
}

/* ---- counting (the formulas are in the header comment) ----------------------- */

static double ssd_chunk_flops(const struct shape *s, double c)
{
    const double pairs = c * (c + 1) / 2, P = (double)s->P, Ds = (double)s->Ds;
    return (double)s->G * 2 * pairs * Ds + (double)s->H * (2 * pairs * P + 4 * c * P * Ds);
}

/* The elementwise terms every form of s6 and ssd computes per output
 * element: D·x (s6 always, ssd with skip) and the z gate. */
static double ssm_extra_flops(const struct shape *s)
{
    const double elems = s->variant == SSM_S6 ? (double)s->B * s->Dm * s->N
                                              : (double)s->B * s->N * s->H * s->P;
    return elems * ((s->variant == SSM_S6 || s->skip == 1) + (s->z == 1));
}

static double conv_flops(const struct shape *s)
{
    const double n = (double)conv_fft_len(s->N), real_fft = 2.5 * n * log2(n);
    return (double)s->H * (1 + 2.0 * s->B) * real_fft + 6.0 * s->B * s->H * (n / 2 + 1);
}

static double ssm_flops(const struct shape *s)
{
    switch (ssm_variant_of(s)) {
    case SSM_S6:
        return 9.0 * s->B * s->N * s->Dm * s->Ds + ssm_extra_flops(s);
    case SSM_SSD: {
        const int64_t full = s->N / s->chunk, rest = s->N % s->chunk;
        double per_batch = (double)full * ssd_chunk_flops(s, (double)s->chunk);
        if (rest)
            per_batch += ssd_chunk_flops(s, (double)rest);
        return (double)s->B * per_batch + ssm_extra_flops(s);
    }
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
        break;
    }
    return conv_flops(s);
}

static double ssm_flops_minimal(const struct shape *s)
{
    if (s->variant == SSM_SSD)
        return 4.0 * s->B * s->H * s->N * (double)s->P * s->Ds + ssm_extra_flops(s);
    return ssm_flops(s);
}

/* ---- executed counts ----------------------------------------------------------------
 *
 * What each implementation's products compute (impl.flops_executed), where
 * it differs from the algorithmic count: the references run the
 * definition; the ssd forms whole score tiles, per head (C·Bᵀ is the same
 * for the heads of a group), padded tiles. The cpu forms of s6 and conv
 * count by the family's conventions. The GPU kernels count what their
 * statements execute (SB_COUNT_MACS beside them, which the CPU runner adds
 * up and checks against these formulas), padding included:
 *   epilogue   per output element D·x + y, one FMA (executed with D = 0 when
 *              an ssd case has no skip), and with z the gate y·silu(z), a
 *              multiply-add's worth (the multiply and silu's division by
 *              1 + e^{−z}): 2 FLOPs each, where the algorithmic count gives
 *              Mamba's 1;
 *   not counted  exps, the scans over chunk summaries and the warps' sums
 *              (a few operations per chunk or token, not per state element:
 *              flash's count leaves out its softmax likewise). */

/* The elementwise extras of the GPU epilogue (above) over L tokens. */
static double ssm_gpu_extra_flops(const struct shape *s, double L)
{
    const double rows = s->variant == SSM_S6 ? (double)s->B * s->Dm : (double)s->B * s->H * s->P;
    return 2 * rows * L * (1 + (s->z == 1));
}

/* The multiply-adds of a per-chunk count summed over a (batch, head)'s
 * chunks, times B·H, as FLOPs. */
static double ssd_sum_chunks(const struct shape *s, double (*chunk_macs)(const struct shape *, int64_t))
{
    double macs = 0;
    for (int64_t t0 = 0; t0 < s->N; t0 += s->chunk)
        macs += chunk_macs(s, s->N - t0 < s->chunk ? s->N - t0 : s->chunk);
    return 2 * macs * (double)s->B * s->H;
}

/* cpu (ssm_ssd.c): C·Bᵀ whole (c × c), e^Λ C S, the lower-triangular M x̃
 * by gla.c's row blocks, the state update; plus the algorithmic extras. */
static double ssd_cpu_chunk_macs(const struct shape *s, int64_t c)
{
    return (double)(gla_gemm_macs(c, c, s->Ds, 0) + gla_gemm_macs(c, s->P, s->Ds, 0) +
                    gla_gemm_macs(c, s->P, c, 1) + gla_gemm_macs(s->Ds, s->P, c, 0));
}

/* cuda, cuda-opt (ops/ssm/ssd_chunk*.cu): the chunk state over the chunk's
 * tokens in stages of `stage` (the last one padded); per query tile of
 * SSD_GPU_QT rows, e^Λ C h_in for all its rows and, for every key tile up
 * to its own, the whole QT × QT scores and their product with x̃; the state
 * passing's one FMA per state element and chunk (ssd_dev.cuh). */
static double ssd_gpu_chunk_macs(const struct shape *s, int64_t c, int64_t stage)
{
    const double P = (double)s->P, Ds = (double)s->Ds, qt = SSD_GPU_QT;
    const int64_t tiles = (c + SSD_GPU_QT - 1) / SSD_GPU_QT;
    double macs = P * Ds * (double)((c + stage - 1) / stage * stage) + P * Ds;
    for (int64_t q = 0; q < tiles; q++)
        macs += qt * Ds * P + (double)(q + 1) * qt * qt * (Ds + P);
    return macs;
}
static double ssd_cuda_chunk_macs(const struct shape *s, int64_t c)
{
    return ssd_gpu_chunk_macs(s, c, SSD_GPU_SUB);
}
static double ssd_mma_chunk_macs(const struct shape *s, int64_t c)
{
    return ssd_gpu_chunk_macs(s, c, SSD_GPU_MKT);
}

/* ref: s6 its convention, ssd the recurrence (flops_minimal), conv the
 * direct sum of B·H·L(L+1)/2 products. */
static double ssm_ref_flops_executed(const struct shape *s)
{
    if (s->variant == SSM_CONV)
        return (double)s->B * s->H * s->N * (double)(s->N + 1);
    return ssm_flops_minimal(s);
}
static double ssm_cpu_flops_executed(const struct shape *s)
{
    return s->variant == SSM_SSD ? ssd_sum_chunks(s, ssd_cpu_chunk_macs) + ssm_extra_flops(s)
                                 : ssm_flops(s);
}

/* cuda. s6 (s6_scan.cu): per state update Δ·A, b·Δu and the chunk map's
 * product (3 multiplies) and three FMAs (the chunk's h, the rescan's h and
 * y): 9 FLOPs, the convention's, over every token of the block's steps of
 * S6_GPU_THREADS · chunk (threads past L run their chunk with Δ = 0), and
 * the epilogue over the same tokens. conv (conv_fft.cu): cuFFT's
 * transforms and the products by the family's convention (the runner's
 * cuFFT counts 2.5·n·log2 n a real transform; conv_mul_kernel 6 FLOPs a
 * product, leaving out its scaling by 1/n). */
static double ssm_cuda_flops_executed(const struct shape *s)
{
    switch (ssm_variant_of(s)) {
    case SSM_S6: {
        const int64_t step = S6_GPU_THREADS * s->chunk;
        const double Lp = (double)((s->N + step - 1) / step * step);
        return 9.0 * s->B * s->Dm * Lp * s->Ds + ssm_gpu_extra_flops(s, Lp);
    }
    case SSM_SSD:
        return ssd_sum_chunks(s, ssd_cuda_chunk_macs) + ssm_gpu_extra_flops(s, (double)s->N);
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
        break;
    }
    return conv_flops(s);
}
static double ssm_cuda_opt_flops_executed(const struct shape *s)
{
    return s->variant == SSM_SSD ? ssd_sum_chunks(s, ssd_mma_chunk_macs) + ssm_gpu_extra_flops(s, (double)s->N)
                                 : ssm_flops(s);
}

/* decode, per new token and state element: s6 (s6_decode.cu) Δ·A and
 * Δu·B (a multiply-add's worth), the state's FMA and C·h's FMA; ssd
 * (ssd_decode.cu) dt·x·B (two multiplies), the state's FMA, and the
 * readout C·S (a multiply, summed across the lanes); 6 FLOPs each, and the
 * epilogue. */
static double ssm_decode_flops_executed(const struct shape *s)
{
    const double states = s->variant == SSM_S6 ? (double)s->Dm * s->Ds : (double)s->H * s->P * s->Ds;
    return 6.0 * s->B * s->N * states + ssm_gpu_extra_flops(s, (double)s->N);
}

static double ssm_min_bytes(const struct shape *s)
{
    const double B = (double)s->B, L = (double)s->N;
    double elems;
    switch (ssm_variant_of(s)) {
    case SSM_S6:
        elems = B * s->Dm * L * (3 + (s->z == 1))           /* u, delta, (z), y */
              + 2 * B * s->G * s->Ds * L                    /* B, C */
              + (double)s->Dm * s->Ds + (double)s->Dm       /* A, D */
              + (s->state == 1) * 2 * B * s->Dm * s->Ds;    /* h0, ht */
        break;
    case SSM_SSD:
        elems = B * L * s->H * s->P * (2 + (s->z == 1))     /* x, (z), y */
              + B * L * s->H                                /* dt */
              + 2 * B * L * s->G * s->Ds                    /* B, C */
              + (double)s->H * (1 + (s->skip == 1))         /* A, (D) */
              + (s->state == 1) * 2 * B * s->H * s->P * s->Ds;
        break;
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
    default:
        elems = 2 * B * L * s->H + (double)s->H * L;        /* u, y, k */
        break;
    }
    return elems * dtype_table[s->dtype].bytes;
}

/* ---- tensors ------------------------------------------------------------------ */

static void ssm_io(const struct shape *s, struct io_specs *io)
{
    const struct ssm_layout l = ssm_layout(s);
    const int64_t B = s->B, L = s->N;
    memset(io, 0, sizeof *io);
    io->n_in = l.n_in;
    switch (ssm_variant_of(s)) {
    case SSM_S6:
        tensor_spec_set(&io->in[l.x], "u", 3, B, s->Dm, L, 0);
        tensor_spec_set(&io->in[l.dt], "delta", 3, B, s->Dm, L, 0);
        tensor_spec_set(&io->in[l.A], "A", 2, s->Dm, s->Ds, 0, 0);
        if (s->G == 1) {    /* Mamba's [B,Ds,L]; the same memory as [B,1,Ds,L] */
            tensor_spec_set(&io->in[l.B], "B", 3, B, s->Ds, L, 0);
            tensor_spec_set(&io->in[l.C], "C", 3, B, s->Ds, L, 0);
        } else {
            tensor_spec_set(&io->in[l.B], "B", 4, B, s->G, s->Ds, L);
            tensor_spec_set(&io->in[l.C], "C", 4, B, s->G, s->Ds, L);
        }
        tensor_spec_set(&io->in[l.D], "D", 1, s->Dm, 0, 0, 0);
        if (l.z >= 0)
            tensor_spec_set(&io->in[l.z], "z", 3, B, s->Dm, L, 0);
        if (l.h0 >= 0)
            tensor_spec_set(&io->in[l.h0], "h0", 3, B, s->Dm, s->Ds, 0);
        tensor_spec_set(&io->out, "out", 3, B, s->Dm, L, 0);
        if (s->state == 1)
            tensor_spec_set(&io->final, "ht", 3, B, s->Dm, s->Ds, 0);
        return;
    case SSM_SSD:
        tensor_spec_set(&io->in[l.x], "x", 4, B, L, s->H, s->P);
        tensor_spec_set(&io->in[l.dt], "dt", 3, B, L, s->H, 0);
        tensor_spec_set(&io->in[l.A], "A", 1, s->H, 0, 0, 0);
        tensor_spec_set(&io->in[l.B], "B", 4, B, L, s->G, s->Ds);
        tensor_spec_set(&io->in[l.C], "C", 4, B, L, s->G, s->Ds);
        if (l.D >= 0)
            tensor_spec_set(&io->in[l.D], "D", 1, s->H, 0, 0, 0);
        if (l.z >= 0)
            tensor_spec_set(&io->in[l.z], "z", 4, B, L, s->H, s->P);
        if (l.h0 >= 0)
            tensor_spec_set(&io->in[l.h0], "h0", 4, B, s->H, s->P, s->Ds);
        tensor_spec_set(&io->out, "out", 4, B, L, s->H, s->P);
        if (s->state == 1)
            tensor_spec_set(&io->final, "ht", 4, B, s->H, s->P, s->Ds);
        return;
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
        break;
    }
    tensor_spec_set(&io->in[l.x], "u", 3, B, L, s->H, 0);
    tensor_spec_set(&io->in[l.k], "k", 2, s->H, L, 0, 0);
    tensor_spec_set(&io->out, "out", 3, B, L, s->H, 0);
}

/* Ranges, per tensor from its own stream (seed, tensor name), u uniform in
 * [-1, 1):
 *   u, x, B, C, z   unit variance (uniform ±√3)
 *   delta, dt       after softplus: log-uniform in [1e-3, 1e-1], Mamba's
 *                   and Mamba-2's dt_min / dt_max, so exp(Δ·A) runs from
 *                   0.2 (forgets within a few tokens) to 0.999 (remembers
 *                   about a thousand)
 *   A               −exp(uniform [0, ln 16]) ∈ [−16, −1]: Mamba's S4D-real
 *                   initialisation −(1 .. 16), Mamba-2's A_init_range
 *   D               1 + u/2 (Mamba initialises D to 1)
 *   h0              uniform ±0.5
 *   k (conv)        unit variance times exp(−λ_h·s/L), λ_h from 3 to 15
 *                   over the channels: Hyena's exponentially modulated
 *                   filters, decaying to e^-3 .. e^-15 at the far end
 * Everything is then rounded to the dtype, so the reference sees what the
 * device sees. */
static void ssm_inputs(const struct shape *s, uint64_t seed, float *const in[])
{
    struct io_specs io;
    ssm_io(s, &io);
    const struct ssm_layout l = ssm_layout(s);
    for (int t = 0; t < io.n_in; t++) {
        const int64_t n = tensor_numel(&io.in[t]);
        const uint64_t state = sb_rng_stream(seed, io.in[t].name);
        float *x = in[t];
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            const double u = sb_rng_uniform_at(state, i), u01 = (u + 1) / 2;
            double v;
            if (t == l.dt)
                v = exp(log(1e-3) + u01 * log(100.0));
            else if (t == l.A)
                v = -exp(u01 * log(16.0));
            else if (t == l.D)
                v = 1 + u / 2;
            else if (t == l.h0)
                v = 0.5 * u;
            else if (t == l.k) {
                const int64_t h = i / s->N, pos = i % s->N;
                const double lambda = 3 * pow(5.0, s->H > 1 ? (double)h / (double)(s->H - 1) : 0);
                v = 1.7320508075688772 * u * exp(-lambda * (double)pos / (double)s->N);
            } else
                v = 1.7320508075688772 * u;
            x[i] = s->dtype == DT_BF16 ? bf16_round((float)v) : (float)v;
        }
    }
}

/* A must be negative (a decay), delta and dt positive (after softplus),
 * everything finite. */
static int ssm_check_inputs(const struct shape *s, const float *const in[], char *msg, size_t n)
{
    struct io_specs io;
    ssm_io(s, &io);
    const struct ssm_layout l = ssm_layout(s);
    for (int t = 0; t < io.n_in; t++) {
        const int64_t numel = tensor_numel(&io.in[t]);
        for (int64_t i = 0; i < numel; i++) {
            const float v = in[t][i];
            const char *why = !isfinite(v) ? "not finite"
                            : t == l.A && !(v < 0) ? "must be negative (a decay: A = -exp(A_log))"
                            : t == l.dt && !(v > 0) ? "must be positive (a step size after softplus)"
                                                    : NULL;
            if (why) {
                snprintf(msg, n, "%s.npy: element %lld is %g: %s", io.in[t].name, (long long)i,
                         (double)v, why);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- reference --------------------------------------------------------------- */

static void ssm_reference(const struct shape *s, double scale, const float *const in[],
                          const int64_t *rows, int64_t nrows, double *out, double *final)
{
    (void)scale;
    switch (ssm_variant_of(s)) {
    case SSM_S6:
        s6_reference(s, in, rows, nrows, out, final);
        return;
    case SSM_SSD:
        ssd_reference(s, in, rows, nrows, out, final);
        return;
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
        break;
    }
    conv_reference(s, in, rows, nrows, out);
}

/* What one s6 state update (libm's exp, then two multiply-adds) costs the
 * float64 reference in the validator's unit, the recurrent references'
 * multiply-adds: measured 12 ns an update against 0.54 ns a multiply-add
 * of the gated reference on the same core. */
#define SSM_REF_UPDATE_MACS 24

/* The reference's work for one output row: s6 a channel's whole scan (rows
 * are channels); ssd the recurrence of every head, amortised over the rows
 * (they come from one pass); conv the sum of a token's t + 1 products in
 * every channel. */
static double ssm_row_cost(const struct shape *s, int64_t row)
{
    switch (ssm_variant_of(s)) {
    case SSM_S6:
        return (double)s->N * s->Ds * SSM_REF_UPDATE_MACS;
    case SSM_SSD:
        return 2.0 * s->H * s->P * s->Ds;
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
        break;
    }
    return (double)(row % s->N + 1) * s->H;
}

/* fp32:
 *   s6   the chunked form sums the same terms in another order (the local
 *        scan plus the decayed carry); the state is a contraction, so
 *        errors stay near 1e-6 whatever L: 1e-4, 1e-3 for one channel.
 *   ssd  as the recurrent families (recurrence depth: the chunk states
 *        carry sums of up to L terms): 1e-4, 1e-3 for one row.
 *   conv an FFT's rounding error is relative to the whole signal's norm,
 *        ≈ eps·log2 n·‖y‖·√(L)/√(n): small on average (1e-4 overall) but
 *        large against the first rows, whose few terms make small values:
 *        a row tolerance that grows with √L (measured: row error 2e-6 at
 *        L = 1K, 3e-5 at L = 64K).
 * bf16: inputs are exact; the cpu forms and the FMA kernels compute in fp32
 * and round the output to bf16 (≈1.1e-3 relative L2); the tensor-core ssd
 * kernel rounds C, the decayed B, x·dt, the scores and the state to bf16
 * before its products, several in series: 2e-2, 6e-2 for a row, as the
 * recurrent families. */
static struct tolerance ssm_tolerance(const struct shape *s)
{
    if (s->dtype == DT_BF16)
        return (struct tolerance){ .rel_l2 = 2e-2, .row_rel_l2 = 6e-2 };
    if (s->variant == SSM_CONV)
        return (struct tolerance){ .rel_l2 = 1e-4,
                                   .row_rel_l2 = fmax(1e-3, 1e-5 * sqrt((double)s->N)) };
    return (struct tolerance){ .rel_l2 = 1e-4, .row_rel_l2 = 1e-3 };
}

/* Where the kernels cut a batch's rows (validation checks the edges of
 * each): s6's rows are channels, S6_GPU_ROWS to a block (each channel's
 * chunks are inside its row, all checked with it); ssd's are tokens, in
 * chunks and the GPU's query tiles of SSD_GPU_QT inside them; conv's FFT
 * has none. */
static int ssm_row_tilings(const struct shape *s, struct row_tiling *t)
{
    switch (ssm_variant_of(s)) {
    case SSM_S6:
        t[0] = (struct row_tiling){ .what = "channel block", .len = S6_GPU_ROWS };
        return 1;
    case SSM_SSD:
        t[0] = (struct row_tiling){ .what = "chunk", .len = s->chunk };
        if (s->chunk <= SSD_GPU_QT)
            return 1;
        t[1] = (struct row_tiling){ .what = "query tile", .len = SSD_GPU_QT, .within = s->chunk };
        return 2;
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
        break;
    }
    return 0;
}

static int ssm_ref_run(struct op_ctx *ctx)
{
    return ref_run_all(ssm_reference, ctx);
}

static int ssm_cpu_run(struct op_ctx *ctx)
{
    switch (ssm_variant_of(ctx->shape)) {
    case SSM_S6:
        return s6_cpu_run(ctx);
    case SSM_SSD:
        return ssd_cpu_run(ctx);
    case SSM_CONV:
    case SSM_VARIANT_COUNT:
        break;
    }
    return conv_cpu_run(ctx);
}

#define SSM_DTYPES (DT_BIT(DT_FP32) | DT_BIT(DT_BF16))

/* ---- GPU implementations ----------------------------------------------------------
 *
 * Each row of the table is one name for every variant: its entry points
 * pick the variant's kernels (ops/ssm/) by the shape, and a variant that
 * has none for the name is skipped, saying so. */
#ifdef SB_HAVE_CUDA
struct ssm_gpu {
    int (*setup)(struct op_ctx *);
    int (*run)(struct op_ctx *);
    int (*fetch)(struct op_ctx *);
    void (*teardown)(struct op_ctx *);
    int64_t (*workspace_bytes)(const struct shape *);
};
#define SSM_GPU(p) { p##_setup, p##_run, p##_fetch, p##_teardown, p##_workspace_bytes }
enum ssm_gpu_impl { SG_CUDA, SG_CUDA_OPT, SG_DECODE, SG_GPU_COUNT };
static const struct ssm_gpu ssm_gpu[SG_GPU_COUNT][SSM_VARIANT_COUNT] = {
    [SG_CUDA] = { [SSM_S6] = SSM_GPU(s6_cuda), [SSM_SSD] = SSM_GPU(ssd_cuda),
                  [SSM_CONV] = SSM_GPU(conv_cuda) },
    [SG_CUDA_OPT] = { [SSM_SSD] = SSM_GPU(ssd_cuda_opt) },
    [SG_DECODE] = { [SSM_S6] = SSM_GPU(s6_decode), [SSM_SSD] = SSM_GPU(ssd_decode) },
};
static const char *const ssm_gpu_name[SG_GPU_COUNT] = {
    [SG_CUDA] = "cuda", [SG_CUDA_OPT] = "cuda-opt", [SG_DECODE] = "decode",
};

static const struct ssm_gpu *ssm_gpu_of(enum ssm_gpu_impl which, const struct shape *s)
{
    return &ssm_gpu[which][ssm_variant_of(s)];
}

static int ssm_gpu_setup(enum ssm_gpu_impl which, struct op_ctx *ctx)
{
    const struct ssm_gpu *g = ssm_gpu_of(which, ctx->shape);
    if (!g->setup) {
        char v[16];
        shape_field_format(SF_VARIANT, ctx->shape->variant, v, sizeof v);
        snprintf(ctx->err, sizeof ctx->err, "%s: not built for variant %s", ssm_gpu_name[which], v);
        return SB_UNSUPPORTED;
    }
    return g->setup(ctx);
}

/* The entry points of table row `which`. */
#define SSM_GPU_FNS(p, which)                                                                \
    static int p##_setup(struct op_ctx *c) { return ssm_gpu_setup(which, c); }             \
    static int p##_run(struct op_ctx *c) { return ssm_gpu_of(which, c->shape)->run(c); }   \
    static int p##_fetch(struct op_ctx *c) { return ssm_gpu_of(which, c->shape)->fetch(c); } \
    static void p##_teardown(struct op_ctx *c) { ssm_gpu_of(which, c->shape)->teardown(c); } \
    static int64_t p##_workspace_bytes(const struct shape *s)                               \
    {                                                                                         \
        const struct ssm_gpu *g = ssm_gpu_of(which, s);                                       \
        return g->workspace_bytes ? g->workspace_bytes(s) : 0;                                \
    }
SSM_GPU_FNS(ssm_cuda, SG_CUDA)
SSM_GPU_FNS(ssm_cuda_opt, SG_CUDA_OPT)
SSM_GPU_FNS(ssm_decode, SG_DECODE)
#endif

static const struct impl ssm_impls[] = {
    { .name = "ref", .device = DEV_CPU, .dtypes = SSM_DTYPES, .status = "verified",
      .summary = "the definition in float64: s6/ssd's recurrence token by token, conv's direct sum",
      .run = ssm_ref_run, .flops_executed = ssm_ref_flops_executed },
    { .name = "cpu", .device = DEV_CPU, .dtypes = SSM_DTYPES, .status = "verified",
      .summary = "the GPU decomposition in C, fp32, OpenMP: s6 chunk scans + carries, ssd chunks, "
                 "conv by FFT (KISS FFT)",
      .run = ssm_cpu_run, .flops_executed = ssm_cpu_flops_executed },
    { .name = "cuda", .device = DEV_CUDA, .dtypes = SSM_DTYPES,
      .status = SB_GPU_STATUS_CPU_ONLY,
      .summary = "fp32 FMA; s6: a thread per chunk of 8/16 tokens, warp and block scans of the "
                 "chunk maps; ssd: chunk states, state passing, chunk outputs; conv: cuFFT (a model of its "
                 "R2C/C2R on the CPU runner)",
      .flops_executed = ssm_cuda_flops_executed, SB_GPU_FNS(ssm_cuda) },
    { .name = "cuda-opt", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),
      .status = SB_GPU_STATUS_CPU_ONLY,
      .summary = "ssd on tensor cores (mma.sync m16n8k16 bf16, fp32 chunk states)",
      .flops_executed = ssm_cuda_opt_flops_executed, SB_GPU_FNS(ssm_cuda_opt) },
    { .name = "decode", .device = DEV_CUDA, .dtypes = SSM_DTYPES,
      .status = SB_GPU_STATUS_CPU_ONLY,
      .summary = "s6, ssd: N <= 16 new tokens on the state h0 (a warp per s6 channel, a block "
                 "per ssd head); the state read and written once",
      .flops_executed = ssm_decode_flops_executed, SB_GPU_FNS(ssm_decode) },
};

/* Small shapes where bugs live: one token, L not a multiple of the chunk
 * (and shorter than one), Ds 16/64/128, groups (G dividing Dm or H), z,
 * skip, h0/ht, both FFT sizes around a power of two; chunks the GPU
 * kernels take (s6 8/16, ssd multiples of 64), so verify runs them too. */
static const char *const ssm_edge_shapes[] = {
    "variant=s6 B=1 N=1 Dm=4 Ds=16",
    "variant=s6 B=2 N=77 Dm=8 Ds=16 chunk=16 z",
    "variant=s6 B=1 N=300 Dm=6 Ds=64 G=2 chunk=16 state",
    "variant=s6 B=2 N=130 Dm=4 Ds=128 G=4 chunk=8 z state",
    "variant=s6 B=1 N=5 Dm=16 Ds=16 chunk=16 state",
    "variant=ssd B=1 N=1 H=2 P=64 Ds=16 chunk=64",
    "variant=ssd B=2 N=77 H=2 P=64 Ds=64 chunk=64 skip z",
    "variant=ssd B=1 N=300 H=4 P=64 Ds=128 G=2 chunk=64 state",
    "variant=ssd B=1 N=130 H=6 P=32 Ds=16 G=3 chunk=256 skip z state",
    "variant=ssd B=2 N=200 H=4 P=64 Ds=128 G=1 chunk=64 z state",
    "variant=conv B=1 N=1 H=4",
    "variant=conv B=2 N=77 H=8",
    "variant=conv B=1 N=256 H=3",
    "variant=conv B=1 N=1000 H=16",
    NULL,
};

const struct family family_ssm = {
    .name = "ssm",
    .summary = "state-space models: Mamba's selective scan (s6), Mamba-2 SSD (ssd), long convolution (conv)",
    .fields = SSM_FIELDS_S6 | SSM_FIELDS_SSD | SSM_FIELDS_CONV,
    .fields_of = ssm_fields_of,
    .defaults = ssm_defaults,
    .validate = ssm_validate,
    .flops = ssm_flops,
    .flops_minimal = ssm_flops_minimal,
    .min_bytes = ssm_min_bytes,
    .io = ssm_io,
    .inputs = ssm_inputs,
    .reference = ssm_reference,
    .row_cost = ssm_row_cost,
    .tolerance = ssm_tolerance,
    .check_inputs = ssm_check_inputs,
    .row_tilings = ssm_row_tilings,
    .impls = ssm_impls,
    .n_impls = (int)(sizeof ssm_impls / sizeof ssm_impls[0]),
    .edge_shapes = ssm_edge_shapes,
};
