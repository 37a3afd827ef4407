/*
 * flash_plugin.c — a seqbench plugin: one CPU implementation of the flash
 * family, "flash/plugin-rows", loaded at run time with --plugin
 * (docs/plugins.md walks through it; tests/plugin.sh builds and runs it).
 *
 *   gcc -O2 -shared -fPIC -fopenmp -I harness docs/examples/flash_plugin.c -o flash_plugin.so
 *   bin/bench run flash --plugin ./flash_plugin.so --impl plugin-rows --N 1000 --causal --device cpu
 *
 * The algorithm: one query row at a time, one pass over its visible keys
 * with the online softmax (a running maximum m and sum l, the output
 * rescaled by exp(m_old - m_new) when the maximum grows), fp32 throughout.
 * The contract it follows is seqbench.h's: inputs are fp32 host arrays
 * whose values are already rounded to the case's dtype, the output is
 * written to ctx->out (which the harness poisons with NaN before the
 * checked run), nothing is timed, printed or exited here.
 */
#include <math.h>

#include "seqbench_plugin.h"

/* q [B,N,H,D], k [B,Nk,Hkv,D], v [B,Nk,Hkv,Dv] -> out [B,N,H,Dv]; causal is
 * aligned bottom-right: key j is visible to query i iff j <= i + Nk - N,
 * and with a window W (flash --window, causal only) iff also
 * j > i + Nk - N - W or j < S, the sink tokens (--sink). Every row then
 * sees at least its diagonal key. */
static int rows_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const float *q = ctx->in[0], *k = ctx->in[1], *v = ctx->in[2];
    const int64_t B = s->B, N = s->N, Nk = s->Nk, H = s->H, Hkv = s->Hkv, D = s->D, Dv = s->Dv;
    const int64_t group = H / Hkv;
    const float scale = (float)ctx->scale;
#pragma omp parallel for collapse(3) num_threads(ctx->threads)
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < N; i++)
            for (int64_t h = 0; h < H; h++) {
                const float *qi = q + ((b * N + i) * H + h) * D;
                float *o = ctx->out + ((b * N + i) * H + h) * Dv;
                const int64_t kv_h = h / group, last = s->causal ? i + Nk - N : Nk - 1;
                float m = -INFINITY, l = 0;
                for (int64_t c = 0; c < Dv; c++)
                    o[c] = 0;
                for (int64_t j = 0; j <= last; j++) {
                    if (s->window > 0 && j >= s->sink && j <= last - s->window)
                        continue;   /* outside the window, not a sink */
                    const float *kj = k + ((b * Nk + j) * Hkv + kv_h) * D;
                    const float *vj = v + ((b * Nk + j) * Hkv + kv_h) * Dv;
                    float x = 0;
                    for (int64_t c = 0; c < D; c++)
                        x += qi[c] * kj[c];
                    x *= scale;
                    const float m_new = x > m ? x : m, r = expf(m - m_new), p = expf(x - m_new);
                    l = l * r + p;
                    for (int64_t c = 0; c < Dv; c++)
                        o[c] = o[c] * r + p * vj[c];
                    m = m_new;
                }
                for (int64_t c = 0; c < Dv; c++)
                    o[c] /= l;
            }
    return SB_OK;
}

static const struct sb_plugin_impl impls[] = {
    { .family = "flash",
      .impl = { .name = "plugin-rows", .device = DEV_CPU,
                .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
                .status = "an example plugin (docs/examples/flash_plugin.c)",
                .summary = "one query row at a time, online softmax, fp32, OpenMP",
                .run = rows_run } },
};

const struct sb_plugin seqbench_plugin = {
    SB_PLUGIN_HEADER,
    .name = "flash_plugin example",
    .n_impls = 1,
    .impls = impls,
};
