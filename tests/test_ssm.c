/*
 * test_ssm.c — the ssm family (reference/ssm*.c): each variant's cpu form
 * against its float64 reference over edge shapes through the harness
 * (poisoned outputs, the final state in full), chunk sizes that must not
 * change the answer, decays from none to total; the FLOP formulas against
 * the references' own counts and by hand; the shape rules (fields of
 * another variant, G not dividing, caps) and the input rules (A not
 * negative, a step that is not positive); the inputs' ranges; case strings
 * and the dumped layouts; the GPU implementations skipped without a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../reference/ssm.h"
#include "check.h"
#include "dump.h"
#include "gpu.h"
#include "npy.h"
#include "runcase.h"
#include "validate.h"

/* The dtypes the ssm implementations take. */
static const enum dtype ssm_dtypes[] = { DT_FP32, DT_BF16 };
#define N_DTYPES ((int)(sizeof ssm_dtypes / sizeof ssm_dtypes[0]))

static const struct family *ssm(void)
{
    return family_find("ssm");
}

static struct shape parse(const char *words, enum dtype dt)
{
    struct shape s;
    char err[200] = "";
    shape_unset(&s);
    s.dtype = dt;
    int rc = shape_parse_words(ssm(), words, &s, err, sizeof err);
    CHECK(rc == 0, "'%s': %s", words, err);
    return s;
}

static struct case_req req_for(const char *impl, struct shape s)
{
    struct case_req q = { .family = ssm(), .shape = s, .seed = 5, .device = "cpu",
                          .no_gpu_reason = "no CUDA device", .verify_only = 1 };
    q.impl = impl_find(q.family, impl);
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    return q;
}

/* The conv cpu form needs KISS FFT at run time; without it the result is
 * a skip naming the package, which is all that can be checked here. */
static int kissfft_skipped(const struct case_result *r)
{
    return strncmp(r->status, "skipped: KISS FFT", 17) == 0;
}

/* cpu against ref through the harness: every edge shape `bench verify`
 * runs, and more, in both dtypes, all rows checked. */
static void test_against_ref(void)
{
    static const char *const more[] = {
        "variant=s6 B=1 N=64 Dm=3 Ds=1 chunk=1 state",            /* one state, chunk of one */
        "variant=s6 B=3 N=33 Dm=8 Ds=16 G=8 chunk=64 z",           /* a group per channel; N < chunk */
        "variant=s6 B=1 N=1000 Dm=2 Ds=16 chunk=16 z state",
        "variant=ssd B=1 N=5 H=1 P=3 Ds=5 chunk=2 skip state",     /* odd dims: the kernels' tails */
        "variant=ssd B=1 N=257 H=2 P=64 Ds=128 G=2 chunk=256 state",
        "variant=ssd B=2 N=1 H=4 P=64 Ds=64 G=2 skip z state",     /* decode: one token from h0 */
        "variant=conv B=3 N=2 H=17",
        "variant=conv B=1 N=513 H=1",
    };
    const char *const *edge = ssm()->edge_shapes;
    int n_edge = 0;
    while (edge[n_edge])
        n_edge++;
    int skipped = 0;
    for (int i = 0; i < n_edge + (int)(sizeof more / sizeof more[0]); i++)
        for (int di = 0; di < N_DTYPES; di++) {
            const char *words = i < n_edge ? edge[i] : more[i - n_edge];
            struct shape s = parse(words, ssm_dtypes[di]);
            struct case_req q = req_for("cpu", s);
            struct case_result r;
            run_case(&q, &r);
            if (kissfft_skipped(&r)) {
                skipped++;
            } else {
                CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status,
                      r.error, r.rec.rel_err);
                CHECK(r.rec.rows_checked == r.rec.rows_total, "%s: all rows checked", r.case_str);
            }
            case_result_free(&r);
        }
    if (skipped)
        check_skip("KISS FFT not found: %d conv cases not run (apt-get install libkissfft-float131)",
                   skipped);
}

/* Inputs of a case, malloc'd. */
static void make_inputs(const struct shape *s, struct io_specs *io, float *in[])
{
    ssm()->io(s, io);
    for (int t = 0; t < io->n_in; t++)
        in[t] = malloc((size_t)tensor_numel(&io->in[t]) * sizeof(float));
    ssm()->inputs(s, 3, in);
}

static void free_inputs(const struct io_specs *io, float *in[])
{
    for (int t = 0; t < io->n_in; t++)
        free(in[t]);
}

static int input_index(const struct io_specs *io, const char *name)
{
    for (int t = 0; t < io->n_in; t++)
        if (strcmp(io->in[t].name, name) == 0)
            return t;
    return -1;
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

/* Runs the cpu form on a case whose A are all a_value (NaN: keep them) and
 * checks out and ht against the reference, every row. */
static void run_with_decay(const char *words, enum dtype dt, double a_value)
{
    struct shape s = parse(words, dt);
    struct io_specs io;
    float *in[SB_MAX_TENSORS];
    make_inputs(&s, &io, in);
    const int a = input_index(&io, "A");
    for (int64_t i = 0; a >= 0 && !isnan(a_value) && i < tensor_numel(&io.in[a]); i++)
        in[a][i] = dt == DT_BF16 ? bf16_round((float)a_value) : (float)a_value;
    const int64_t rows = family_out_rows(&io), on = tensor_numel(&io.out);
    const int64_t fn = io.final.ndim ? tensor_numel(&io.final) : 0;
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    double *ref = malloc((size_t)on * sizeof *ref), *rfin = fn ? malloc((size_t)fn * sizeof *rfin) : NULL;
    float *out = malloc((size_t)on * sizeof *out), *fin = fn ? malloc((size_t)fn * sizeof *fin) : NULL;
    for (int64_t r = 0; r < rows; r++)
        idx[r] = r;
    ssm()->reference(&s, 1.0, (const float *const *)in, idx, rows, ref, rfin);
    for (int64_t i = 0; i < on; i++)
        out[i] = NAN;
    for (int64_t i = 0; i < fn; i++)
        fin[i] = NAN;
    struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in, .out = out,
                          .final = fin, .scale = 1.0, .threads = 2 };
    const int rc = impl_find(ssm(), "cpu")->run(&ctx);
    CHECK(rc == SB_OK, "%s A=%g: cpu returned %d: %s", words, a_value, rc, ctx.err);
    const struct tolerance tol = ssm()->tolerance(&s);
    int finite;
    double e = rel_l2(out, ref, on, &finite);
    CHECK(finite && e < tol.rel_l2, "%s %s A=%g: out rel err %.3g (tolerance %.3g), finite %d",
          words, dtype_table[dt].name, a_value, e, tol.rel_l2, finite);
    if (fn) {
        e = rel_l2(fin, rfin, fn, &finite);
        CHECK(finite && e < tol.rel_l2, "%s %s A=%g: ht rel err %.3g, finite %d", words,
              dtype_table[dt].name, a_value, e, finite);
    }
    free_inputs(&io, in);
    free(idx), free(ref), free(rfin), free(out), free(fin);
}

/* Decays from almost none (A = −1e-4: the state keeps every token) to
 * total (A = −1e4: exp underflows to 0 within a token, and the chunk
 * products P to 0): no NaN, the recurrence's answer. */
static void test_extreme_decays(void)
{
    static const double avals[] = { -1e-4, -1, -1e4 };
    static const char *const shapes[] = {
        "variant=s6 B=1 N=300 Dm=4 Ds=16 chunk=16 z state",
        "variant=s6 B=2 N=100 Dm=4 Ds=64 G=2 chunk=64 state",
        "variant=ssd B=1 N=300 H=2 P=64 Ds=64 chunk=64 skip state",
        "variant=ssd B=1 N=130 H=4 P=32 Ds=16 G=2 chunk=256 z state",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t a = 0; a < sizeof avals / sizeof avals[0]; a++)
            for (int di = 0; di < N_DTYPES; di++)
                run_with_decay(shapes[i], ssm_dtypes[di], avals[a]);
}

/* The same case at every chunk size gives the same output (fp32). */
static void test_chunk_invariance(void)
{
    static const struct { const char *words; int chunks[5]; } cases[] = {
        { "variant=s6 B=2 N=257 Dm=8 Ds=16 G=2 z state", { 1, 4, 16, 64, 1024 } },
        { "variant=ssd B=1 N=257 H=2 P=32 Ds=64 skip z state", { 1, 16, 64, 256, 1024 } },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float *first = NULL;
        for (int c = 0; c < 5; c++) {
            char words[160];
            snprintf(words, sizeof words, "%s chunk=%d", cases[k].words, cases[k].chunks[c]);
            struct shape s = parse(words, DT_FP32);
            struct io_specs io;
            float *in[SB_MAX_TENSORS];
            make_inputs(&s, &io, in);
            const int64_t on = tensor_numel(&io.out), fn = tensor_numel(&io.final);
            float *out = malloc((size_t)(on + fn) * sizeof *out);
            struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in,
                                  .out = out, .final = out + on, .scale = 1, .threads = 2 };
            CHECK(impl_find(ssm(), "cpu")->run(&ctx) == SB_OK, "%s runs", words);
            if (!first) {
                first = out;
            } else {
                double num = 0, den = 0;
                for (int64_t i = 0; i < on + fn; i++)
                    num += (out[i] - first[i]) * (out[i] - first[i]), den += first[i] * first[i];
                CHECK(sqrt(num / den) < 2e-6, "%s vs chunk=%d: rel %.3g", words, cases[k].chunks[0],
                      sqrt(num / den));
                free(out);
            }
            free_inputs(&io, in);
        }
        free(first);
    }
}

/* The reference over every row; returns ssm_ref_macs after it. */
static int64_t ref_count(const struct shape *s)
{
    struct io_specs io;
    float *in[SB_MAX_TENSORS];
    make_inputs(s, &io, in);
    const int64_t rows = family_out_rows(&io);
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    double *out = malloc((size_t)tensor_numel(&io.out) * sizeof *out);
    double *fin = io.final.ndim ? malloc((size_t)tensor_numel(&io.final) * sizeof *fin) : NULL;
    for (int64_t i = 0; i < rows; i++)
        idx[i] = i;
    ssm_ref_macs = 0;
    ssm()->reference(s, 1.0, (const float *const *)in, idx, rows, out, fin);
    free_inputs(&io, in);
    free(idx), free(out), free(fin);
    return ssm_ref_macs;
}

/* s6: 9 FLOPs per state update the reference counts, plus one per output
 * for D·u and one for z. ssd: the recurrent count is twice the
 * reference's multiply-adds (update and readout), plus one per output for
 * D·x and one for z; the chunked count by hand. conv: the direct sum's
 * multiply-adds, and the FFT count by hand. */
static void test_flops(void)
{
    static const char *const s6[] = { "variant=s6 B=2 N=5 Dm=3 Ds=4", "variant=s6 B=1 N=7 Dm=4 Ds=2 G=2 z state" };
    for (size_t i = 0; i < 2; i++) {
        struct shape s = parse(s6[i], DT_FP32);
        const int64_t updates = ref_count(&s), outs = s.B * s.Dm * s.N;
        CHECK(updates == outs * s.Ds, "%s: %lld updates", s6[i], (long long)updates);
        CHECK(ssm()->flops(&s) == 9.0 * updates + (double)outs * (1 + s.z), "%s: %.0f", s6[i],
              ssm()->flops(&s));
    }
    static const char *const ssd[] = { "variant=ssd B=2 N=5 H=2 P=3 Ds=4 chunk=2",
                                       "variant=ssd B=1 N=7 H=4 P=2 Ds=3 G=2 chunk=4 skip z state" };
    for (size_t i = 0; i < 2; i++) {
        struct shape s = parse(ssd[i], DT_FP32);
        const int64_t macs = ref_count(&s), outs = s.B * s.N * s.H * s.P;
        CHECK(ssm()->flops_minimal(&s) == 2.0 * macs + (double)outs * (s.skip + s.z),
              "%s: recurrent %.0f vs 2 x %lld", ssd[i], ssm()->flops_minimal(&s), (long long)macs);
    }
    /* The ssd cpu form's products, counted as its micro-kernels run, are its
     * executed count; the references' are theirs. */
    static const char *const exe[] = { "variant=ssd B=2 N=77 H=2 P=16 Ds=8 chunk=16",
                                       "variant=ssd B=1 N=300 H=3 P=5 Ds=7 G=3 chunk=64 skip z state",
                                       "variant=ssd B=1 N=3 H=1 P=64 Ds=128 chunk=256" };
    for (size_t i = 0; i < 3; i++) {
        struct shape s = parse(exe[i], DT_FP32);
        struct io_specs io;
        float *in[SB_MAX_TENSORS];
        make_inputs(&s, &io, in);
        const int64_t on = tensor_numel(&io.out), fn = io.final.ndim ? tensor_numel(&io.final) : 0;
        float *out = malloc((size_t)(on + fn) * sizeof *out);
        struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in, .out = out,
                              .final = fn ? out + on : NULL, .scale = 1, .threads = 2 };
        ssm_cpu_macs = 0;
        CHECK(impl_find(ssm(), "cpu")->run(&ctx) == SB_OK, "%s runs", exe[i]);
        const double extras = (double)s.B * s.N * s.H * s.P * (s.skip + s.z);
        const double want = impl_find(ssm(), "cpu")->flops_executed(&s);
        CHECK(2.0 * ssm_cpu_macs + extras == want, "%s: cpu executed %.0f, counted 2 x %lld + %.0f",
              exe[i], want, (long long)ssm_cpu_macs, extras);
        CHECK(impl_find(ssm(), "ref")->flops_executed(&s) == ssm()->flops_minimal(&s),
              "%s: ref executes the recurrence", exe[i]);
        free_inputs(&io, in);
        free(out);
    }
    /* B=1 H=2 G=1 P=3 Ds=4 N=5 chunk=2: chunks of 2, 2, 1 tokens, each
     * G·2·pairs·Ds + H·(2·pairs·P + 4·c·P·Ds): c = 2 (3 pairs) 24 + 228,
     * c = 1 (1 pair) 8 + 108; 620 in all. */
    struct shape s = parse("variant=ssd B=1 N=5 H=2 P=3 Ds=4 chunk=2", DT_FP32);
    CHECK(ssm()->flops(&s) == 620, "ssd by hand: %.0f", ssm()->flops(&s));
    CHECK(ssm()->flops_minimal(&s) == 4.0 * 2 * 5 * 3 * 4, "ssd recurrent by hand");
    /* conv B=2 H=3 N=4: n = 8, H·(1 + 2B) = 15 real transforms of
     * 2.5·8·3 = 60, and 6·B·H·(n/2 + 1) = 180: 1080. */
    s = parse("variant=conv B=2 N=4 H=3", DT_FP32);
    CHECK(ssm()->flops(&s) == 1080 && ssm()->flops_minimal(&s) == 1080, "conv by hand: %.0f",
          ssm()->flops(&s));
    CHECK(ref_count(&s) == 2 * 3 * (4 * 5 / 2), "conv reference: B·H·L(L+1)/2 products");
    CHECK(impl_find(ssm(), "ref")->flops_executed(&s) == 2.0 * ref_count(&s), "conv ref executed");
    /* The GPU ssd kernels' tiles by hand, B=1 H=1 P=16 Ds=16 N=100 chunk=64:
     * chunks of 64 and 36 tokens; cuda's state stages of 32 cover 64 and 64
     * tokens, cuda-opt's of 64 the same; one query tile each: 64·16·16 +
     * 64·64·32 = 147456 per chunk; states 16·16·64 = 16384 per chunk; the
     * state passing 16·16 per chunk; the epilogue's FMA on 100·16 outputs. */
    s = parse("variant=ssd B=1 N=100 H=1 P=16 Ds=16 chunk=64", DT_FP32);
    CHECK(impl_find(ssm(), "cuda")->flops_executed(&s) == 2.0 * (2 * (147456 + 16384 + 256) + 1600),
          "ssd cuda executed by hand: %.0f", impl_find(ssm(), "cuda")->flops_executed(&s));
    CHECK(impl_find(ssm(), "cuda-opt")->flops_executed(&s) == 2.0 * (2 * (147456 + 16384 + 256) + 1600),
          "ssd cuda-opt executed by hand");
    s = parse("variant=ssd B=1 N=100 H=1 P=16 Ds=16 chunk=128", DT_FP32);
    /* one chunk of 100: stages 128 (cuda, 4 × 32) and 128 (cuda-opt, 2 × 64);
     * query tiles 0 and 1: 2·16384 + (1 + 2)·131072 = 425984 */
    CHECK(impl_find(ssm(), "cuda")->flops_executed(&s) == 2.0 * (425984 + 16 * 16 * 128 + 256 + 1600),
          "ssd cuda executed by hand, two query tiles: %.0f", impl_find(ssm(), "cuda")->flops_executed(&s));
    /* s6 cuda: 77 tokens run as one step of 128 threads × 8 = 1024, 9 FLOPs
     * an update of 4 states and the epilogue's 2 + 2 (z) per output, for
     * 2·3 channels. */
    s = parse("variant=s6 B=2 N=77 Dm=3 Ds=4 chunk=8 z", DT_FP32);
    CHECK(impl_find(ssm(), "cuda")->flops_executed(&s) == 6.0 * 1024 * (9 * 4 + 4),
          "s6 cuda executed by hand: %.0f", impl_find(ssm(), "cuda")->flops_executed(&s));
    /* decode: 6 FLOPs per state element and token, the epilogue's 2. */
    s = parse("variant=s6 B=2 N=3 Dm=3 Ds=4 state", DT_FP32);
    CHECK(impl_find(ssm(), "decode")->flops_executed(&s) == 2.0 * 3 * 3 * (6 * 4 + 2),
          "s6 decode executed by hand: %.0f", impl_find(ssm(), "decode")->flops_executed(&s));
    s = parse("variant=ssd B=1 N=2 H=2 P=3 Ds=4 z state", DT_FP32);
    CHECK(impl_find(ssm(), "decode")->flops_executed(&s) == 2.0 * 2 * 3 * (6 * 4 + 4),
          "ssd decode executed by hand: %.0f", impl_find(ssm(), "decode")->flops_executed(&s));
    s = parse("variant=conv B=1 N=300 H=1", DT_FP32);
    CHECK(impl_find(ssm(), "cuda")->flops_executed(&s) == ssm()->flops(&s), "conv cuda: the convention");
    CHECK(conv_fft_len(300) == 1024 && conv_fft_len(256) == 512 && conv_fft_len(2) == 4 && conv_fft_len(1) == 4,
          "FFT lengths");
}

/* Shapes the validator must refuse, naming the field. */
static void test_validate(void)
{
    static const struct { const char *words, *says; } bad[] = {
        { "variant=ssd B=1 N=8 H=6 G=4", "G=4: must divide H=6" },
        { "variant=s6 B=1 N=8 Dm=6 G=4", "G=4: must divide Dm=6" },
        { "variant=conv N=8 Ds=16", "Ds: variant conv does not use it" },
        { "variant=s6 N=8 P=64", "P: variant s6 does not use it" },
        { "variant=s6 N=8 skip", "skip: variant s6" },
        { "variant=conv N=8 state", "state: variant conv" },
        { "variant=conv N=8 H=4 z", "z: variant conv" },
        { "variant=s6 N=8 Ds=300", "Ds=300: at most 256" },
        { "variant=ssd N=8 P=512", "P=512: at most 256" },
        { "variant=ssd N=8 chunk=0", "chunk=0: must be at least 1" },
        { "variant=s6 N=0", "N=0: must be at least 1" },
        { "variant=conv N=8 H=0", "H=0" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct shape s = parse(bad[i].words, DT_FP32);
        char msg[200] = "";
        int rc = ssm()->validate(&s, msg, sizeof msg);
        CHECK(rc != 0 && strstr(msg, bad[i].says), "'%s' refused saying '%s': '%s'", bad[i].words,
              bad[i].says, msg);
    }
    struct shape s;
    char err[200] = "";
    shape_unset(&s);
    CHECK(shape_parse_words(ssm(), "variant=mamba3", &s, err, sizeof err) != 0 &&
              strstr(err, "variant"), "unknown variant refused: '%s'", err);
    shape_unset(&s);
    CHECK(shape_parse_words(ssm(), "D=64", &s, err, sizeof err) != 0, "ssm takes no D: '%s'", err);
}

/* Inputs outside the domain (as an edited dump may hold) are refused,
 * naming the tensor and the element; the generated ones pass. */
static void test_check_inputs(void)
{
    static const struct { const char *words, *tensor; float v; const char *says; } bad[] = {
        { "variant=s6 B=1 N=8 Dm=4 Ds=4", "A", 0.0f, "A.npy: element 5 is 0: must be negative" },
        { "variant=s6 B=1 N=8 Dm=4 Ds=4", "A", 0.5f, "must be negative" },
        { "variant=s6 B=1 N=8 Dm=4 Ds=4", "delta", 0.0f, "delta.npy: element 5 is 0: must be positive" },
        { "variant=ssd B=1 N=8 H=2 P=4 Ds=4", "dt", -0.1f, "dt.npy: element 5" },
        { "variant=ssd B=1 N=8 H=8 P=4 Ds=4", "A", 1.0f, "A.npy: element 5" },   /* A [H] */
        { "variant=ssd B=1 N=8 H=2 P=4 Ds=4", "x", NAN, "x.npy: element 5 is nan: not finite" },
        { "variant=conv B=1 N=8 H=2", "k", INFINITY, "k.npy: element 5 is inf" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct shape s = parse(bad[i].words, DT_FP32);
        struct io_specs io;
        float *in[SB_MAX_TENSORS];
        char msg[200] = "";
        make_inputs(&s, &io, in);
        CHECK(ssm()->check_inputs(&s, (const float *const *)in, msg, sizeof msg) == 0,
              "%s: generated inputs pass: %s", bad[i].words, msg);
        const int t = input_index(&io, bad[i].tensor);
        in[t][5] = bad[i].v;
        CHECK(ssm()->check_inputs(&s, (const float *const *)in, msg, sizeof msg) != 0 &&
                  strstr(msg, bad[i].says), "%s %s[5] = %g refused saying '%s': '%s'",
              bad[i].words, bad[i].tensor, (double)bad[i].v, bad[i].says, msg);
        free_inputs(&io, in);
    }
}

/* The generated inputs: in range, never zero, the same for the same seed
 * and different for another, a tensor the same whatever else the case has. */
static void test_inputs(void)
{
    static const struct { const char *name; double lo, hi; } ranges[] = {
        { "delta", 1e-3, 0.1 }, { "dt", 1e-3, 0.1 }, { "A", -16, -1 }, { "D", 0.5, 1.5 },
        { "h0", -0.5, 0.5 }, { "u", -1.7321, 1.7321 }, { "x", -1.7321, 1.7321 },
        { "B", -1.7321, 1.7321 }, { "C", -1.7321, 1.7321 }, { "z", -1.7321, 1.7321 },
        { "k", -1.7321, 1.7321 },
    };
    static const char *const shapes[] = { "variant=s6 B=2 N=50 Dm=8 Ds=16 G=2 z state",
                                          "variant=ssd B=2 N=50 H=4 P=8 Ds=16 G=2 skip z state",
                                          "variant=conv B=2 N=50 H=8" };
    for (size_t k = 0; k < 3; k++) {
        struct shape s = parse(shapes[k], DT_FP32);
        struct io_specs io;
        float *in[SB_MAX_TENSORS], *again[SB_MAX_TENSORS];
        make_inputs(&s, &io, in);
        make_inputs(&s, &io, again);
        for (int t = 0; t < io.n_in; t++) {
            size_t r = 0;
            while (r < sizeof ranges / sizeof ranges[0] && strcmp(ranges[r].name, io.in[t].name))
                r++;
            CHECK(r < sizeof ranges / sizeof ranges[0], "%s: a range for %s", shapes[k], io.in[t].name);
            if (r == sizeof ranges / sizeof ranges[0])
                continue;
            int64_t bad = 0;
            for (int64_t i = 0; i < tensor_numel(&io.in[t]); i++)
                bad += !(in[t][i] >= ranges[r].lo && in[t][i] <= ranges[r].hi && in[t][i] != 0);
            CHECK(bad == 0, "%s: %lld values of %s outside [%g, %g] or zero", shapes[k],
                  (long long)bad, io.in[t].name, ranges[r].lo, ranges[r].hi);
            CHECK(memcmp(in[t], again[t], (size_t)tensor_numel(&io.in[t]) * sizeof(float)) == 0,
                  "%s: %s is deterministic", shapes[k], io.in[t].name);
        }
        free_inputs(&io, in);
        free_inputs(&io, again);
    }
    /* u of s6 does not depend on z or state being there */
    struct shape a = parse("variant=s6 B=1 N=20 Dm=4 Ds=4", DT_FP32), b = parse("variant=s6 B=1 N=20 Dm=4 Ds=4 z state", DT_FP32);
    struct io_specs ia, ib;
    float *xa[SB_MAX_TENSORS], *xb[SB_MAX_TENSORS];
    make_inputs(&a, &ia, xa);
    make_inputs(&b, &ib, xb);
    CHECK(memcmp(xa[0], xb[0], 80 * sizeof(float)) == 0, "u is its own stream");
    free_inputs(&ia, xa);
    free_inputs(&ib, xb);
}

/* Case strings: each variant prints its own fields, readable. */
static void test_case_strings(void)
{
    static const struct { const char *words, *want, *json; } cases[] = {
        { "variant=s6 N=300 Dm=64", "ssm/cpu fp32 variant=s6 B=1 N=300 Dm=64 Ds=16 G=1 chunk=8",
          "{\"variant\":\"s6\",\"B\":1,\"N\":300,\"Dm\":64,\"Ds\":16,\"G\":1,\"chunk\":8,\"z\":0,\"state\":0}" },
        { "variant=ssd N=300 H=4 z skip state",
          "ssm/cpu fp32 variant=ssd B=1 N=300 H=4 P=64 Ds=128 G=1 chunk=256 z skip state", NULL },
        { "variant=conv B=2 N=300 H=16", "ssm/cpu fp32 variant=conv B=2 N=300 H=16",
          "{\"variant\":\"conv\",\"B\":2,\"N\":300,\"H\":16}" },
        { "N=300", "ssm/cpu fp32 variant=s6 B=1 N=300 Dm=1024 Ds=16 G=1 chunk=8", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct shape s = parse(cases[i].words, DT_FP32);
        char buf[300];
        case_string(ssm(), "cpu", &s, buf, sizeof buf);
        CHECK(strcmp(buf, cases[i].want) == 0, "case string '%s', want '%s'", buf, cases[i].want);
        if (cases[i].json) {
            shape_json(ssm(), &s, buf, sizeof buf);
            CHECK(strcmp(buf, cases[i].json) == 0, "shape_json '%s', want '%s'", buf, cases[i].json);
        }
    }
}

/* --dump writes the layouts of reference/ssm.h; --load reads the case back. */
static void test_dump_layouts(void)
{
    static const struct { const char *words, *tensor; int ndim; int64_t dims[4]; } cases[] = {
        { "variant=s6 B=2 N=7 Dm=6 Ds=4 z state", "u", 3, { 2, 6, 7 } },
        { "variant=s6 B=2 N=7 Dm=6 Ds=4 z state", "B", 3, { 2, 4, 7 } },
        { "variant=s6 B=2 N=7 Dm=6 Ds=4 G=3", "C", 4, { 2, 3, 4, 7 } },
        { "variant=s6 B=2 N=7 Dm=6 Ds=4 z state", "A", 2, { 6, 4 } },
        { "variant=s6 B=2 N=7 Dm=6 Ds=4 z state", "D", 1, { 6 } },
        { "variant=s6 B=2 N=7 Dm=6 Ds=4 z state", "h0", 3, { 2, 6, 4 } },
        { "variant=s6 B=2 N=7 Dm=6 Ds=4 z state", "ht", 3, { 2, 6, 4 } },
        { "variant=s6 B=2 N=7 Dm=6 Ds=4 z state", "out", 3, { 2, 6, 7 } },
        { "variant=ssd B=2 N=7 H=4 P=3 Ds=5 G=2 skip state", "x", 4, { 2, 7, 4, 3 } },
        { "variant=ssd B=2 N=7 H=4 P=3 Ds=5 G=2 skip state", "dt", 3, { 2, 7, 4 } },
        { "variant=ssd B=2 N=7 H=4 P=3 Ds=5 G=2 skip state", "B", 4, { 2, 7, 2, 5 } },
        { "variant=ssd B=2 N=7 H=4 P=3 Ds=5 G=2 skip state", "A", 1, { 4 } },
        { "variant=ssd B=2 N=7 H=4 P=3 Ds=5 G=2 skip state", "D", 1, { 4 } },
        { "variant=ssd B=2 N=7 H=4 P=3 Ds=5 G=2 skip state", "ht", 4, { 2, 4, 3, 5 } },
        { "variant=ssd B=2 N=7 H=4 P=3 Ds=5 G=2 skip state", "out", 4, { 2, 7, 4, 3 } },
        { "variant=conv B=2 N=7 H=3", "u", 3, { 2, 7, 3 } },
        { "variant=conv B=2 N=7 H=3", "k", 2, { 3, 7 } },
        { "variant=conv B=2 N=7 H=3", "out", 3, { 2, 7, 3 } },
    };
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/test_ssm.%d", (int)getpid());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct shape s = parse(cases[i].words, DT_FP32);
        struct case_req q = req_for("ref", s);
        q.dump_dir = dir;
        struct case_result r;
        run_case(&q, &r);
        CHECK(strcmp(r.status, "ok") == 0, "%s: %s", r.case_str, r.status);
        char path[128], err[300] = "";
        snprintf(path, sizeof path, "%s/%s.npy", dir, cases[i].tensor);
        float *data = NULL;
        int ndim = 0;
        int64_t dims[SB_MAX_DIMS] = { 0 };
        CHECK(npy_read_f32(path, &data, &ndim, dims, err, sizeof err) == 0 &&
                  ndim == cases[i].ndim &&
                  memcmp(dims, cases[i].dims, (size_t)ndim * sizeof *dims) == 0,
              "%s: %s.npy has %d dims (%lld, %lld, ...): %s", cases[i].words, cases[i].tensor,
              ndim, (long long)dims[0], (long long)dims[1], err);
        free(data);
        struct loaded_case lc;
        CHECK(dump_load(dir, &lc, err, sizeof err) == 0, "%s: load: %s", cases[i].words, err);
        char a[300], b[300];
        case_string(ssm(), NULL, &lc.shape, a, sizeof a);
        case_string(ssm(), NULL, &s, b, sizeof b);
        CHECK(strcmp(a, b) == 0 && lc.scale == 1.0, "loaded '%s' (scale %g), dumped '%s'", a,
              lc.scale, b);
        loaded_case_free(&lc);
        case_result_free(&r);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0, "%s", cmd);
    }
}

/* With a GPU: every GPU implementation against the reference, in every
 * dtype it takes, over the family's edge shapes and the anchors' widths at
 * small L. "skipped: ..." passes only where the implementation says the
 * shape or variant is not one it takes. */
static void test_gpu_impls(void)
{
    static const char *const more[] = {
        "variant=s6 B=2 N=3000 Dm=64 Ds=16 chunk=16 z state",
        "variant=s6 B=3 N=16 Dm=40 Ds=128 G=5 state",                   /* decode, Ds = 128 */
        "variant=ssd B=1 N=600 H=8 P=64 Ds=128 chunk=256 skip z state",
        "variant=ssd B=2 N=333 H=4 P=32 Ds=64 G=2 chunk=128 state",
        "variant=ssd B=4 N=1 H=8 P=64 Ds=128 state",                   /* decode */
        "variant=conv B=2 N=4097 H=40",
    };
    char err[200] = "";
    struct gpu_ctx *g = gpu_open(0, err, sizeof err);
    CHECK(g != NULL, "gpu_open: %s", err);
    if (!g)
        return;
    const char *const *edge = ssm()->edge_shapes;
    int n_edge = 0;
    while (edge[n_edge])
        n_edge++;
    for (int k = 0; k < n_edge + (int)(sizeof more / sizeof more[0]); k++)
        for (int m = 0; m < ssm()->n_impls; m++) {
            const struct impl *im = &ssm()->impls[m];
            for (int dt = 0; dt < DT_COUNT; dt++) {
                if (im->device != DEV_CUDA || !(im->dtypes & DT_BIT(dt)))
                    continue;
                struct case_req q = req_for(im->name, parse(k < n_edge ? edge[k] : more[k - n_edge],
                                                            (enum dtype)dt));
                q.device = "cuda:0", q.gpu = g;
                struct case_result r;
                run_case(&q, &r);
                const int ok = strcmp(r.status, "ok") == 0 ||
                               (strncmp(r.status, "skipped: ", 9) == 0 &&
                                (strstr(r.status, "not supported") || strstr(r.status, "not built") ||
                                 strstr(r.status, "at most") || strstr(r.status, "shared memory")));
                CHECK(ok, "%s: %s %s (err %.3g)", r.case_str, r.status, r.error, r.rec.rel_err);
                case_result_free(&r);
            }
        }
    gpu_close(g);
}

/* The checker catches one wrong element of an otherwise right output, in
 * every variant (a row's heads: s6 a channel's tokens, ssd a token's
 * heads, conv a token's channels), and one wrong final-state element. */
static void test_planted(void)
{
    static const char *const shapes[] = { "variant=s6 B=2 N=50 Dm=4 Ds=16 state",
                                          "variant=ssd B=1 N=50 H=4 P=16 Ds=16 chunk=64 state",
                                          "variant=conv B=2 N=50 H=8" };
    for (size_t k = 0; k < 3; k++) {
        struct shape s = parse(shapes[k], DT_FP32);
        struct io_specs io;
        float *in[SB_MAX_TENSORS];
        make_inputs(&s, &io, in);
        const int64_t rows = family_out_rows(&io), elems = family_row_elems(&io), on = rows * elems;
        const int64_t fn = io.final.ndim ? tensor_numel(&io.final) : 0;
        int64_t *idx = malloc((size_t)rows * sizeof *idx);
        double *ref = malloc((size_t)(on + fn) * sizeof *ref);
        float *out = malloc((size_t)(on + fn) * sizeof *out);
        for (int64_t r = 0; r < rows; r++)
            idx[r] = r;
        ssm()->reference(&s, 1.0, (const float *const *)in, idx, rows, ref, fn ? ref + on : NULL);
        for (int64_t i = 0; i < on + fn; i++)
            out[i] = (float)ref[i];
        const struct tolerance tol = ssm()->tolerance(&s);
        const int64_t heads = validate_out_heads(&io);
        struct check_result r;
        validate_compare(&tol, out, on, idx, rows, elems, heads, ref, &r);
        CHECK(r.ok, "%s: the reference itself passes: %s", shapes[k], r.why);
        const int64_t at = on / 2 + 3;
        double rms = 0;
        for (int64_t i = 0; i < on; i++)
            rms += ref[i] * ref[i];
        rms = sqrt(rms / (double)on);
        out[at] += (float)(0.05 * rms);         /* 5% of a typical element */
        validate_compare(&tol, out, on, idx, rows, elems, heads, ref, &r);
        CHECK(!r.ok, "%s: one element off by 5%% of the RMS is caught (%s)", shapes[k], r.why);
        out[at] = (float)ref[at];
        if (fn) {
            out[on + fn / 3] += 0.05f;
            validate_final(&tol, &io, out + on, ref + on, &r);
            CHECK(!r.ok && strstr(r.why, "ht"), "%s: a wrong final state is caught (%s)",
                  shapes[k], r.why);
        }
        free_inputs(&io, in);
        free(idx), free(ref), free(out);
    }
}

/* Without a GPU every GPU implementation is skipped with a reason. */
static void test_gpu_skip(void)
{
    struct gpu_info info;
    if (gpu_probe(0, &info) == 0) {
        test_gpu_impls();
        return;
    }
    check_skip_no_gpu("the GPU implementations are checked only for being skipped");
    static const char *const shapes[] = { "variant=s6 B=1 N=64 Dm=8 state",
                                          "variant=ssd B=1 N=64 H=2 P=64 Ds=64 state",
                                          "variant=conv B=1 N=64 H=8" };
    for (int i = 0; i < ssm()->n_impls; i++) {
        if (ssm()->impls[i].device != DEV_CUDA)
            continue;
        for (size_t k = 0; k < 3; k++) {
            struct case_req q = req_for(ssm()->impls[i].name, parse(shapes[k], DT_BF16));
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
    test_extreme_decays();
    test_chunk_invariance();
    test_flops();
    test_validate();
    test_check_inputs();
    test_inputs();
    test_case_strings();
    test_dump_layouts();
    test_planted();
    test_gpu_skip();
    return check_done();
}
