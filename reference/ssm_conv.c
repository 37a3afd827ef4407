/*
 * ssm_conv.c — the long convolution of H3, Hyena and FlashFFTConv
 * (reference/ssm.h has the math and the tensors): the direct float64 sum
 * for any tokens, and the `cpu` form by FFT, as the GPU form runs it with
 * cuFFT (ops/ssm/conv_fft.cu):
 *   K = rfft(k_h zero-padded to n), U = rfft(u_{b,h} zero-padded to n),
 *   y_{b,h} = irfft(U ⊙ K)[0 .. L) / n,   n = conv_fft_len(L) ≥ 2L,
 * so the circular convolution of length n holds the linear one.
 * The transforms are KISS FFT's, loaded at run time (kissfft_lib.h): where
 * it is absent the cpu form is skipped with the package to install.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kissfft_lib.h"
#include "ssm.h"
#include "cpu_kernel.h"

/* Channels handled together: one 64-byte line of a token's row of u or y,
 * so the strided gather and scatter of token-major channels read and
 * write whole lines. */
#define CONV_CH 16

/* ---- reference ------------------------------------------------------------------ */

/* Rows are tokens b·L + t, each H outputs: y[h] = Σ_{s ≤ t} k[h,s] u[b,t−s,h],
 * in float64, from a token-major copy of the filter. */
void conv_reference(const struct shape *s, const float *const in[], const int64_t *rows,
                    int64_t nrows, double *out)
{
    const struct ssm_layout l = ssm_layout(s);
    const int64_t L = s->N, H = s->H;
    float *kT = malloc((size_t)(L * H) * sizeof *kT);     /* [L][H] */
    if (!kT) {
        for (int64_t i = 0; i < nrows * H; i++)
            out[i] = NAN;       /* out of memory: fails the check */
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < L; t++)
        for (int64_t h = 0; h < H; h++)
            kT[t * H + h] = in[l.k][h * L + t];
    int64_t macs = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : macs)
    for (int64_t r = 0; r < nrows; r++) {
        const int64_t b = rows[r] / L, t = rows[r] % L;
        double *y = out + r * H;
        for (int64_t h = 0; h < H; h++)
            y[h] = 0;
        for (int64_t j = 0; j <= t; j++) {
            const float *u = in[l.x] + (b * L + t - j) * H, *k = kT + j * H;
            for (int64_t h = 0; h < H; h++)
                y[h] += (double)k[h] * u[h];
        }
        macs += (t + 1) * H;
    }
    free(kT);
    ssm_ref_macs += macs;
}

/* ---- cpu: by FFT ------------------------------------------------------------------ */

/* One block of up to CONV_CH channels h0 .. h0+nh-1, every batch. */
static void conv_block(struct op_ctx *ctx, const struct kissfft_lib *kf, kiss_fftr_cfg fwd,
                       kiss_fftr_cfg inv, int64_t h0, int64_t nh, float *time, kiss_fft_cpx *K,
                       kiss_fft_cpx *U)
{
    const struct shape *s = ctx->shape;
    const struct ssm_layout l = ssm_layout(s);
    const int64_t L = s->N, H = s->H, n = conv_fft_len(L), nf = n / 2 + 1;
    const float inv_n = 1.0f / (float)n;
    for (int64_t j = 0; j < nh; j++) {          /* the filters' spectra */
        float *x = time + j * n;
        memcpy(x, ctx->in[l.k] + (h0 + j) * L, (size_t)L * sizeof *x);
        memset(x + L, 0, (size_t)(n - L) * sizeof *x);
        kf->fftr(fwd, x, K + j * nf);
    }
    for (int64_t b = 0; b < s->B; b++) {
        const float *u = ctx->in[l.x] + b * L * H + h0;
        float *y = ctx->out + b * L * H + h0;
        for (int64_t j = 0; j < nh; j++)
            memset(time + j * n + L, 0, (size_t)(n - L) * sizeof *time);
        for (int64_t t = 0; t < L; t++)         /* gather: a token's channels are one line */
            for (int64_t j = 0; j < nh; j++)
                time[j * n + t] = u[t * H + j];
        for (int64_t j = 0; j < nh; j++) {
            float *x = time + j * n;
            const kiss_fft_cpx *Kj = K + j * nf;
            kf->fftr(fwd, x, U);
            for (int64_t f = 0; f < nf; f++) {
                const float re = U[f].r * Kj[f].r - U[f].i * Kj[f].i;
                const float im = U[f].r * Kj[f].i + U[f].i * Kj[f].r;
                U[f].r = re, U[f].i = im;
            }
            kf->fftri(inv, U, x);
        }
        for (int64_t t = 0; t < L; t++)         /* scatter, with the inverse's 1/n */
            for (int64_t j = 0; j < nh; j++) {
                const float v = time[j * n + t] * inv_n;
                y[t * H + j] = s->dtype == DT_BF16 ? cpu_bf16(v) : v;
            }
    }
}

int conv_cpu_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    char why[200];
    const struct kissfft_lib *kf = kissfft_lib(why, sizeof why);
    if (!kf) {
        snprintf(ctx->err, sizeof ctx->err, "%s", why);
        return SB_UNSUPPORTED;
    }
    const int64_t n = conv_fft_len(s->N), nf = n / 2 + 1, blocks = (s->H + CONV_CH - 1) / CONV_CH;
    int failed = 0;
#pragma omp parallel num_threads(ctx->threads) reduction(| : failed)
    {
        kiss_fftr_cfg fwd = kissfft_cfg(kf, (int)n, 0), inv = kissfft_cfg(kf, (int)n, 1);
        float *time = malloc((size_t)(CONV_CH * n) * sizeof *time);
        kiss_fft_cpx *K = malloc((size_t)(CONV_CH * nf) * sizeof *K);
        kiss_fft_cpx *U = malloc((size_t)nf * sizeof *U);
        failed = !fwd || !inv || !time || !K || !U;
#pragma omp for schedule(dynamic, 1)
        for (int64_t hb = 0; hb < blocks; hb++)
            if (!failed) {
                const int64_t h0 = hb * CONV_CH;
                conv_block(ctx, kf, fwd, inv, h0, s->H - h0 < CONV_CH ? s->H - h0 : CONV_CH,
                           time, K, U);
            }
        free(fwd), free(inv), free(time), free(K), free(U);
    }
    if (failed) {
        snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory for FFT buffers");
        return SB_OOM;
    }
    return SB_OK;
}

CPU_KERNEL_END
