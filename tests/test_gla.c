/*
 * test_gla.c — the linear and gated families' chunked algorithm
 * (reference/gla.c, the `cpu` implementation the GPU kernels mirror)
 * against the float64 recurrence: chunk sizes, partial and lone chunks,
 * D ≠ Dv, shared query/key heads, h0 in and ht out, gates from near 0 to
 * −1e4 per token, both gate kinds, fp32 and bf16; the FLOP formulas against
 * counted multiply-adds; bad shapes refused naming the field; the GPU
 * implementations skipped (never passed) without a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../reference/gla.h"
#include "check.h"
#include "gpu.h"
#include "runcase.h"

static struct shape parse(const struct family *f, const char *words, enum dtype dt)
{
    struct shape s;
    char err[200] = "";
    shape_unset(&s);
    s.dtype = dt;
    int rc = shape_parse_words(f, words, &s, err, sizeof err);
    CHECK(rc == 0, "%s: '%s': %s", f->name, words, err);
    return s;
}

static struct case_req req_for(const char *fam, const char *impl, struct shape s)
{
    struct case_req q = { .family = family_find(fam), .shape = s, .seed = 5, .device = "cpu",
                          .no_gpu_reason = "no CUDA device", .verify_only = 1 };
    q.impl = impl_find(q.family, impl);
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    return q;
}

/* cpu against ref through the harness (poisoned output, final state
 * checked in full, the family's tolerance), every row checked. */
static void test_against_ref(void)
{
    static const char *const shapes[] = {
        "B=1 N=1 H=1 D=16 Dv=16",                       /* one token */
        "B=2 N=77 H=2 D=64 Dv=32 chunk=16",             /* N not a multiple of C */
        "B=1 N=100 H=2 D=32 Dv=64 chunk=32",
        "B=1 N=130 H=1 D=64 Dv=64 chunk=64 state",      /* two chunks and 2 tokens */
        "B=1 N=300 H=2 D=128 Dv=64 chunk=128",
        "B=1 N=40 H=2 D=64 Dv=128 chunk=64",            /* N < C */
        "B=1 N=20 H=1 D=16 Dv=16 chunk=128 state",      /* N < C, state */
        "B=1 N=96 H=2 Hv=4 D=64 Dv=128 chunk=32 state", /* Hv = 2H */
        "B=2 N=1 H=2 Hv=4 D=64 Dv=64 state",            /* decode: one token from h0 */
        "B=1 N=33 H=1 D=7 Dv=5 chunk=16",               /* odd dims: the tails of the kernel */
        "B=1 N=70 H=1 D=256 Dv=256 chunk=32 state",
    };
    static const char *const gates[] = { "linear", "gate=head", "gate=key" };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t g = 0; g < 3; g++)
            for (int dt = 0; dt < DT_COUNT; dt++) {
                const char *fam = g == 0 ? "linear" : "gated";
                if (!(impl_find(family_find(fam), "cpu")->dtypes & DT_BIT(dt)))
                    continue;                   /* fp16: not in the recurrent families */
                char words[200];
                snprintf(words, sizeof words, "%s%s%s", shapes[i], g ? " " : "", g ? gates[g] : "");
                struct shape s = parse(family_find(fam), words, (enum dtype)dt);
                struct case_req q = req_for(fam, "cpu", s);
                struct case_result r;
                run_case(&q, &r);
                CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status,
                      r.error, r.rec.rel_err);
                CHECK(r.rec.rows_checked == s.B * s.N, "%s: all rows checked", r.case_str);
                case_result_free(&r);
            }
}

/* The inputs of a case with every gate value replaced by g_value (NaN:
 * leave them), in malloc'd buffers. */
static void make_inputs(const struct family *f, const struct shape *s, double g_value,
                        struct io_specs *io, float *in[])
{
    f->io(s, io);
    for (int t = 0; t < io->n_in; t++)
        in[t] = malloc((size_t)tensor_numel(&io->in[t]) * sizeof(float));
    f->inputs(s, 3, in);
    for (int t = 0; t < io->n_in; t++)
        if (strcmp(io->in[t].name, "g") == 0 && !isnan(g_value))
            for (int64_t i = 0; i < tensor_numel(&io->in[t]); i++)
                in[t][i] = s->dtype == DT_BF16 ? bf16_round((float)g_value) : (float)g_value;
}

/* ‖x − y‖ / ‖y‖, and whether every x is finite. */
static double rel_l2(const float *x, const double *y, int64_t n, int *finite)
{
    double num = 0, den = 0;
    *finite = 1;
    for (int64_t i = 0; i < n; i++) {
        *finite &= isfinite(x[i]) != 0;
        num += (x[i] - y[i]) * (x[i] - y[i]);
        den += y[i] * y[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Runs impl on a case whose gates are all g_value; returns the relative
 * errors of out and (state) ht against the reference. */
static void run_with_gate(const char *fam, const char *words, enum dtype dt, double g_value)
{
    const struct family *f = family_find(fam);
    struct shape s = parse(f, words, dt);
    struct io_specs io;
    float *in[SB_MAX_TENSORS];
    make_inputs(f, &s, g_value, &io, in);
    const int64_t rows = s.B * s.N, on = tensor_numel(&io.out);
    const int64_t fn = io.final.ndim ? tensor_numel(&io.final) : 0;
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    double *ref = malloc((size_t)on * sizeof *ref), *ref_fin = fn ? malloc((size_t)fn * sizeof *ref_fin) : NULL;
    float *out = malloc((size_t)on * sizeof *out), *fin = fn ? malloc((size_t)fn * sizeof *fin) : NULL;
    for (int64_t r = 0; r < rows; r++)
        idx[r] = r;
    const double scale = 1 / sqrt((double)s.D);
    f->reference(&s, scale, (const float *const *)in, idx, rows, ref, ref_fin);
    for (int64_t i = 0; i < on; i++)
        out[i] = NAN;
    for (int64_t i = 0; i < fn; i++)
        fin[i] = NAN;
    struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in, .out = out,
                          .final = fin, .scale = scale, .threads = 2 };
    int rc = impl_find(f, "cpu")->run(&ctx);
    CHECK(rc == SB_OK, "%s g=%g: cpu returned %d: %s", words, g_value, rc, ctx.err);
    const struct tolerance tol = f->tolerance(&s);
    int finite;
    double e = rel_l2(out, ref, on, &finite);
    CHECK(finite && e < tol.rel_l2, "%s %s g=%g: out rel err %.3g (tolerance %.3g), finite %d",
          words, dtype_table[dt].name, g_value, e, tol.rel_l2, finite);
    if (fn) {
        e = rel_l2(fin, ref_fin, fn, &finite);
        CHECK(finite && e < tol.rel_l2, "%s %s g=%g: ht rel err %.3g, finite %d", words,
              dtype_table[dt].name, g_value, e, finite);
    }
    for (int t = 0; t < io.n_in; t++)
        free(in[t]);
    free(idx), free(ref), free(ref_fin), free(out), free(fin);
}

/* Gates near 0 (almost linear attention, the longest memory) and very
 * negative (the state forgets within a token): exponents of differences
 * only, so no overflow, no NaN, and the same answer as the recurrence. */
static void test_extreme_gates(void)
{
    static const double gvals[] = { -1e-6, -0.5, -20, -1e4 };
    static const char *const shapes[] = {
        "B=1 N=150 H=2 D=64 Dv=32 chunk=64 state",
        "B=1 N=90 H=1 Hv=2 D=32 Dv=64 chunk=16 state",
        "B=1 N=50 H=1 D=128 Dv=128 chunk=128",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t g = 0; g < sizeof gvals / sizeof gvals[0]; g++)
            for (int gk = 0; gk < 2; gk++)
                for (int dt = 0; dt < DT_COUNT; dt++) {
                    if (!(impl_find(family_find("gated"), "cpu")->dtypes & DT_BIT(dt)))
                        continue;
                    char words[200];
                    snprintf(words, sizeof words, "%s gate=%s", shapes[i], gk ? "key" : "head");
                    run_with_gate("gated", words, (enum dtype)dt, gvals[g]);
                }
    /* The seeded gates as well, through the same path (NaN: keep them). */
    run_with_gate("gated", "B=2 N=200 H=2 D=64 Dv=64 chunk=32 gate=key state", DT_FP32, NAN);
    run_with_gate("linear", "B=2 N=200 H=2 D=64 Dv=64 chunk=32 state", DT_FP32, NAN);
}

/* The same case at every chunk size gives the same output (fp32). */
static void test_chunk_invariance(void)
{
    const struct family *f = family_find("gated");
    static const int chunks[] = { 16, 32, 64, 128 };
    float *first = NULL;
    int64_t on = 0;
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        char words[120];
        snprintf(words, sizeof words, "B=1 N=257 H=2 D=64 Dv=64 gate=key chunk=%d", chunks[c]);
        struct shape s = parse(f, words, DT_FP32);
        struct io_specs io;
        float *in[SB_MAX_TENSORS];
        make_inputs(f, &s, NAN, &io, in);
        on = tensor_numel(&io.out);
        float *out = malloc((size_t)on * sizeof *out);
        struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in,
                              .out = out, .scale = 0.125, .threads = 2 };
        CHECK(impl_find(f, "cpu")->run(&ctx) == SB_OK, "chunk=%d runs", chunks[c]);
        if (!first) {
            first = out;
        } else {
            double num = 0, den = 0;
            for (int64_t i = 0; i < on; i++)
                num += (out[i] - first[i]) * (out[i] - first[i]), den += first[i] * first[i];
            CHECK(sqrt(num / den) < 1e-5, "chunk=%d vs chunk=16: rel %.3g", chunks[c],
                  sqrt(num / den));
            free(out);
        }
        for (int t = 0; t < io.n_in; t++)
            free(in[t]);
    }
    free(first);
}

/* The chunked algorithm of gla.h over each chunk's causal pairs only, in
 * double, every multiply-add of its products through mac(): what it counts
 * is the algorithmic count, and its output is the reference's. The gates'
 * factors are elementwise multiplies, not counted (recurrent.c). */
static int64_t n_macs;

static double mac(double acc, double a, double b)
{
    n_macs++;
    return acc + a * b;
}

static void chunked_counted(enum rec_kind kind, const struct shape *s, double scale,
                            float *const in[], double *out)
{
    const struct rec_layout l = rec_layout(kind, s);
    const enum gate_kind gk = rec_gate(kind, s);
    const int64_t N = s->N, H = s->H, Hv = s->Hv, D = s->D, Dv = s->Dv, C = s->chunk;
    double *S = malloc((size_t)(D * Dv) * sizeof *S), *G = malloc((size_t)(C * D) * sizeof *G);
    for (int64_t b = 0; b < s->B; b++)
        for (int64_t j = 0; j < Hv; j++) {
            const int64_t hq = j / (Hv / H);
            for (int64_t x = 0; x < D * Dv; x++)
                S[x] = l.h0 >= 0 ? in[l.h0][(b * Hv + j) * D * Dv + x] : 0;
            for (int64_t t0 = 0; t0 < N; t0 += C) {
                const int64_t c = N - t0 < C ? N - t0 : C;
                for (int64_t i = 0; i < c; i++)
                    for (int64_t d = 0; d < D; d++) {
                        const int64_t tok = b * N + t0 + i;
                        const double g = gk == GATE_KEY ? in[l.g][(tok * Hv + j) * D + d]
                                       : gk == GATE_HEAD ? in[l.g][tok * Hv + j] : 0;
                        G[i * D + d] = (i ? G[(i - 1) * D + d] : 0) + g;
                    }
                for (int64_t i = 0; i < c; i++) {
                    const float *q = in[l.q] + ((b * N + t0 + i) * H + hq) * D;
                    double *o = out + ((b * N + t0 + i) * Hv + j) * Dv;
                    for (int64_t e = 0; e < Dv; e++) {          /* inter: q S */
                        o[e] = 0;
                        for (int64_t d = 0; d < D; d++)
                            o[e] = mac(o[e], scale * q[d] * exp(G[i * D + d]), S[d * Dv + e]);
                    }
                    for (int64_t m = 0; m <= i; m++) {          /* intra: the pairs m <= i */
                        const float *k = in[l.k] + ((b * N + t0 + m) * H + hq) * D;
                        const float *v = in[l.v] + ((b * N + t0 + m) * Hv + j) * Dv;
                        double a = 0;
                        for (int64_t d = 0; d < D; d++)
                            a = mac(a, q[d] * exp(G[i * D + d] - G[m * D + d]), k[d]);
                        for (int64_t e = 0; e < Dv; e++)
                            o[e] = mac(o[e], scale * a, v[e]);
                    }
                }
                const double *Gl = G + (c - 1) * D;
                for (int64_t d = 0; d < D; d++)                 /* state: decay, Kᵀ V */
                    for (int64_t e = 0; e < Dv; e++) {
                        double x = exp(Gl[d]) * S[d * Dv + e];
                        for (int64_t m = 0; m < c; m++) {
                            const int64_t tok = b * N + t0 + m;
                            x = mac(x, in[l.k][(tok * H + hq) * D + d] * exp(Gl[d] - G[m * D + d]),
                                    in[l.v][(tok * Hv + j) * Dv + e]);
                        }
                        S[d * Dv + e] = x;
                    }
            }
        }
    free(S), free(G);
}

/* Counting, on tiny shapes, for every count the linear and gated families
 * store: the algorithmic count (flops) is what the counted chunked
 * algorithm above does; the reference's multiply-adds are the recurrent
 * count (flops_minimal, and ref's executed count); cpu's executed count is
 * what its micro-kernels count as they run (whole score tiles or sub-blocks,
 * row blocks past the diagonal); the formula by hand. */
static void test_flops(void)
{
    static const char *const shapes[] = {
        "B=2 N=5 H=1 Hv=2 D=3 Dv=4 chunk=2", "B=1 N=9 H=2 D=5 Dv=2 chunk=4 state",
        "B=1 N=3 H=1 D=2 Dv=3 chunk=8", "B=3 N=16 H=1 D=4 Dv=4 chunk=16",
        "B=1 N=70 H=1 D=5 Dv=3 chunk=48",           /* key: 3 sub-chunks, a partial one */
    };
    static const char *const gates[] = { "", " gate=head", " gate=key" };
    for (int g = 0; g < 3; g++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const struct family *f = family_find(g ? "gated" : "linear");
            const enum rec_kind kind = g ? REC_GATED : REC_LINEAR;
            char words[120];
            snprintf(words, sizeof words, "%s%s", shapes[i], gates[g]);
            struct shape s = parse(f, words, DT_FP32);
            struct io_specs io;
            float *in[SB_MAX_TENSORS];
            make_inputs(f, &s, NAN, &io, in);
            const int64_t rows = s.B * s.N, on = tensor_numel(&io.out);
            const int64_t fn = io.final.ndim ? tensor_numel(&io.final) : 0;
            int64_t *idx = malloc((size_t)rows * sizeof *idx);
            double *ref = malloc((size_t)on * sizeof *ref), *mine = malloc((size_t)on * sizeof *mine);
            double *rfin = fn ? malloc((size_t)fn * sizeof *rfin) : NULL;
            float *out = malloc((size_t)on * sizeof *out), *fin = fn ? malloc((size_t)fn * sizeof *fin) : NULL;
            for (int64_t r = 0; r < rows; r++)
                idx[r] = r;
            rec_ref_macs = 0;
            f->reference(&s, 0.5, (const float *const *)in, idx, rows, ref, rfin);
            CHECK(2.0 * rec_ref_macs == f->flops_minimal(&s), "%s: recurrent %.0f vs 2 x %lld",
                  words, f->flops_minimal(&s), (long long)rec_ref_macs);
            CHECK(2.0 * rec_ref_macs == impl_find(f, "ref")->flops_executed(&s),
                  "%s: ref executes the recurrence", words);
            n_macs = 0;
            chunked_counted(kind, &s, 0.5, in, mine);
            CHECK(2.0 * n_macs == f->flops(&s), "%s: algorithmic %.0f vs 2 x %lld counted", words,
                  f->flops(&s), (long long)n_macs);
            double num = 0, den = 0;
            for (int64_t x = 0; x < on; x++)
                num += (mine[x] - ref[x]) * (mine[x] - ref[x]), den += ref[x] * ref[x];
            CHECK(sqrt(num / den) < 1e-12, "%s: the counted algorithm is the reference's "
                  "(rel err %.2g)", words, sqrt(num / den));
            gla_cpu_macs = 0;
            struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in,
                                  .out = out, .final = fin, .scale = 0.5, .threads = 2 };
            CHECK(impl_find(f, "cpu")->run(&ctx) == SB_OK, "%s runs", words);
            const double exec = impl_find(f, "cpu")->flops_executed(&s);
            CHECK(2.0 * gla_cpu_macs == exec, "%s: cpu executed %.0f vs 2 x %lld counted", words,
                  exec, (long long)gla_cpu_macs);
            CHECK(exec >= f->flops(&s), "%s: executed >= algorithmic", words);
            for (int t = 0; t < io.n_in; t++)
                free(in[t]);
            free(idx), free(ref), free(mine), free(rfin), free(out), free(fin);
        }
    /* By hand, B=1 Hv=2 N=5 chunk=2 D=3 Dv=4: chunks of 2, 2, 1 tokens, each
     * c(c+1)/2·(D + Dv) + 2cDDv multiply-adds: 21 + 48, 21 + 48, 7 + 24 ->
     * 169 per head, 2 x 2 x 169 = 676 FLOPs. */
    struct shape s = parse(family_find("linear"), "B=1 N=5 H=1 Hv=2 D=3 Dv=4 chunk=2", DT_FP32);
    CHECK(family_find("linear")->flops(&s) == 676, "by hand: %.0f", family_find("linear")->flops(&s));
    CHECK(family_find("linear")->flops_minimal(&s) == 4.0 * 2 * 5 * 3 * 4, "recurrent by hand");
}

/* The GPU implementations' executed counts (never run here: checked by
 * hand against what their kernels do, ops/gated/ header comments). B=1
 * Hv=1 N=70 chunk=64 D=Dv=64: chunks of 64 and 6 tokens.
 *   cuda: pairs c(c+1)/2·D, 64 rows of Q S and of A V (GLA_GPU_CMAX), Kᵀ V
 *         over c: 2080·64 + 64·4096 + 64·4096 + 64·64·64 for c = 64;
 *         21·64 + 64·4096 + 6·4096 + 64·6·64 for c = 6.
 *   cuda-opt: both chunks as 64 tokens, 4 sub-chunks: scores 256·10·64
 *         (none/head) or 256·6·64 + 4·136·64 (key); 2·64·4096; A V 256·10·64. */
static void test_flops_gpu(void)
{
    const struct family *f = family_find("gated");
    struct shape s = parse(f, "B=1 N=70 H=1 D=64 Dv=64 chunk=64 gate=head", DT_BF16);
    const double c64 = 2080.0 * 64 + 64 * 4096 + 64 * 4096 + 64 * 64 * 64;
    const double c6 = 21.0 * 64 + 64 * 4096 + 6 * 4096 + 64 * 6 * 64;
    CHECK(impl_find(f, "cuda")->flops_executed(&s) == 2 * (c64 + c6), "cuda: %.0f vs %.0f",
          impl_find(f, "cuda")->flops_executed(&s), 2 * (c64 + c6));
    const double opt = 256.0 * 10 * 64 + 2 * 64 * 4096 + 256.0 * 10 * 64;
    CHECK(impl_find(f, "cuda-opt")->flops_executed(&s) == 2 * 2 * opt, "cuda-opt head: %.0f",
          impl_find(f, "cuda-opt")->flops_executed(&s));
    s.gate = GATE_KEY;
    const double opt_key = 256.0 * 6 * 64 + 4 * 136 * 64 + 2 * 64 * 4096 + 256.0 * 10 * 64;
    CHECK(impl_find(f, "cuda-opt")->flops_executed(&s) == 2 * 2 * opt_key, "cuda-opt key: %.0f",
          impl_find(f, "cuda-opt")->flops_executed(&s));
    CHECK(impl_find(f, "decode")->flops_executed(&s) == f->flops_minimal(&s),
          "decode executes the recurrence");
    for (const char *const *im = (const char *const[]){ "cuda", "cuda-opt", NULL }; *im; im++)
        CHECK(impl_find(f, *im)->flops_executed(&s) >= f->flops(&s), "%s: executed >= algorithmic",
              *im);
}

/* Shapes the validator must refuse, naming the field. */
static void test_validate(void)
{
    static const struct { const char *fam, *words, *field; } bad[] = {
        { "gated", "B=1 N=8 H=2 D=16 gate=none", "gate" },
        { "gated", "B=1 N=8 H=2 Hv=3 D=16 gate=key", "Hv=" },
        { "linear", "B=1 N=8 H=4 Hv=6 D=16", "Hv=" },
        { "linear", "B=1 N=8 H=2 D=16 chunk=0", "chunk=" },
        { "linear", "B=1 N=0 H=2 D=16", "N=" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const struct family *f = family_find(bad[i].fam);
        struct shape s = parse(f, bad[i].words, DT_FP32);
        char msg[200] = "";
        int rc = f->validate(&s, msg, sizeof msg);
        CHECK(rc != 0 && strstr(msg, bad[i].field), "%s '%s' refused naming %s: '%s'",
              bad[i].fam, bad[i].words, bad[i].field, msg);
    }
    /* linear has no gate field at all */
    struct shape s;
    char err[200] = "";
    shape_unset(&s);
    CHECK(shape_parse_words(family_find("linear"), "N=8 gate=key", &s, err, sizeof err) != 0 &&
              strstr(err, "gate"), "linear takes no gate: '%s'", err);
}

/* With a GPU: every GPU implementation against the reference, in every
 * dtype it takes, over shapes that reach each kernel path (gates, state,
 * chunk sizes, partial chunks, D and Dv from 64 to 256, Hv = 2H, decode).
 * "skipped: ..." passes only where the implementation says a shape is not
 * supported (e.g. cuda-opt's D = 256 on a GPU with 99 KiB of shared memory). */
static void test_gpu_impls(void)
{
    static const char *const shapes[] = {
        "B=2 N=200 H=2 Hv=4 D=64 Dv=64 chunk=64 state",
        "B=1 N=1000 H=2 D=128 Dv=256 chunk=64",
        "B=1 N=333 H=1 D=128 Dv=128 chunk=32 state",
        "B=2 N=77 H=2 D=256 Dv=64 chunk=16 state",
        "B=4 N=1 H=2 Hv=4 D=128 Dv=128 state",          /* decode */
        "B=2 N=16 H=2 D=64 Dv=256 state",               /* decode, longest */
    };
    static const char *const gates[] = { "", " gate=head", " gate=key" };
    char err[200] = "";
    struct gpu_ctx *g = gpu_open(0, err, sizeof err);
    CHECK(g != NULL, "gpu_open: %s", err);
    if (!g)
        return;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int gk = 0; gk < 3; gk++) {
            const struct family *f = family_find(gk ? "gated" : "linear");
            for (int m = 0; m < f->n_impls; m++) {
                const struct impl *im = &f->impls[m];
                if (im->device != DEV_CUDA)
                    continue;
                for (int dt = 0; dt < DT_COUNT; dt++) {
                    if (!(im->dtypes & DT_BIT(dt)))
                        continue;
                    char words[200];
                    snprintf(words, sizeof words, "%s%s", shapes[i], gates[gk]);
                    struct case_req q = req_for(f->name, im->name, parse(f, words, (enum dtype)dt));
                    q.device = "cuda:0", q.gpu = g;
                    struct case_result r;
                    run_case(&q, &r);
                    const int ok = strcmp(r.status, "ok") == 0 ||
                                   (strncmp(r.status, "skipped: ", 9) == 0 &&
                                    (strstr(r.status, "not supported") || strstr(r.status, "at most") ||
                                     strstr(r.status, "shared memory")));
                    CHECK(ok, "%s: %s %s (err %.3g)", r.case_str, r.status, r.error, r.rec.rel_err);
                    case_result_free(&r);
                }
            }
        }
    gpu_close(g);
}

/* Without a GPU every GPU implementation is skipped with a reason. */
static void test_gpu_skip(void)
{
    struct gpu_info info;
    if (gpu_probe(0, &info) == 0) {
        test_gpu_impls();
        return;
    }
    check_skip_no_gpu("linear/gated GPU implementations not run, only checked to be stored as skipped");
    for (int fam = 0; fam < 2; fam++) {
        const struct family *f = family_find(fam ? "gated" : "linear");
        for (int i = 0; i < f->n_impls; i++) {
            if (f->impls[i].device != DEV_CUDA)
                continue;
            struct shape s = parse(f, fam ? "B=1 N=64 H=1 D=64 gate=head state" : "B=1 N=64 H=1 D=64 state",
                                   DT_BF16);
            struct case_req q = req_for(f->name, f->impls[i].name, s);
            struct case_result r;
            run_case(&q, &r);
            CHECK(strncmp(r.status, "skipped: ", 9) == 0, "%s without a GPU: %s", r.case_str,
                  r.status);
            case_result_free(&r);
        }
    }
}

int main(void)
{
    test_against_ref();
    test_extreme_gates();
    test_chunk_invariance();
    test_flops();
    test_flops_gpu();
    test_validate();
    test_gpu_skip();
    return check_done();
}
