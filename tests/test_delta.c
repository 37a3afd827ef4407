/*
 * test_delta.c — the delta family (DeltaNet, Gated DeltaNet) on the CPU: the
 * chunked `cpu` implementation against the float64 reference over chunk
 * sizes, partial chunks, N = 1, D ≠ Dv, Hv = 4·H, state in/out and both
 * dtypes (end to end through run_case, final state checked); extreme gates
 * and β through the family callbacks; the FLOP formulas on tiny shapes; bad
 * shapes refused naming the field; the GPU implementations skipped without
 * a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../reference/recurrent.h"
#include "check.h"
#include "runcase.h"
#include "validate.h"

static const struct family *delta(void)
{
    return family_find("delta");
}

static struct shape mk(const char *words)
{
    struct shape s;
    char err[200];
    shape_unset(&s);
    if (shape_parse_words(delta(), words, &s, err, sizeof err) != 0) {
        CHECK(0, "shape '%s': %s", words, err);
        s.dtype = DT_FP32;
    }
    return s;
}

static struct case_req req_for(const char *impl, struct shape s)
{
    struct case_req q = { .family = delta(), .shape = s, .seed = 11, .device = "cpu",
                          .no_gpu_reason = "no CUDA device", .verify_only = 1 };
    q.impl = impl_find(q.family, impl);
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    return q;
}

/* cpu against ref, end to end, over chunk sizes and edge shapes. */
static void test_chunked_cpu(void)
{
    static const char *const shapes[] = {
        "B=1 N=1 H=1 D=16 Dv=16",                            /* N = 1 */
        "B=2 N=10 H=2 D=32 Dv=48 chunk=64",                  /* N < C, D != Dv */
        "B=1 N=64 H=2 D=64 chunk=64 gate=head",              /* exactly one chunk */
        "B=2 N=77 H=2 D=64 Dv=32 chunk=16 gate=head",        /* N not a multiple of C */
        "B=1 N=100 H=1 Hv=4 D=64 Dv=64 chunk=32 gate=head",  /* Hv = 4H */
        "B=1 N=300 H=2 Hv=8 D=128 Dv=64 chunk=128 gate=head state", /* C = 128, state */
        "B=1 N=129 H=2 D=64 Dv=128 chunk=64 state",          /* one past a chunk, DeltaNet */
        "B=2 N=200 H=1 Hv=4 D=128 Dv=128 chunk=16 gate=head state",
        "B=1 N=33 H=1 D=7 Dv=5 chunk=32 gate=head",          /* odd dims: padding lanes */
        "B=1 N=9 H=1 D=16 Dv=16 chunk=1 gate=head state",    /* chunk of one token */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int dt = 0; dt < DT_COUNT; dt++) {
            if (!(impl_find(delta(), "cpu")->dtypes & DT_BIT(dt)))
                continue;                       /* fp16: not in the recurrent families */
            struct shape s = mk(shapes[i]);
            s.dtype = (enum dtype)dt;
            struct case_req q = req_for("cpu", s);
            struct case_result r;
            run_case(&q, &r);
            CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status,
                  r.error, r.rec.rel_err);
            CHECK(r.rec.rows_checked == s.B * s.N, "%s: all rows checked", r.case_str);
            case_result_free(&r);
        }
}

/* Inputs of the family with g and beta overridden, cpu vs the reference on
 * every row and the final state. g_kind: 0 keep, 1 constant g, 2 mixed
 * (a very negative gate every 7th token, −1e-3 elsewhere); beta < 0 keeps β. */
static void check_inputs(const char *words, enum dtype dt, int g_kind, float g, float beta)
{
    struct shape s = mk(words);
    s.dtype = dt;
    struct io_specs io;
    rec_io(REC_DELTA, &s, &io);
    const struct rec_layout l = rec_layout(REC_DELTA, &s);
    float *in[SB_MAX_TENSORS] = { 0 };
    for (int t = 0; t < io.n_in; t++)
        in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
    rec_inputs(REC_DELTA, &s, 5, in);
    const int64_t tok = s.B * s.N * s.Hv;
    for (int64_t i = 0; i < tok && l.g >= 0 && g_kind; i++)
        in[l.g][i] = g_kind == 1 ? g : (i / s.Hv) % 7 == 3 ? g : -1e-3f;
    for (int64_t i = 0; i < tok && beta >= 0; i++)
        in[l.beta][i] = dt == DT_BF16 ? bf16_round(beta) : beta;

    const int64_t rows = s.B * s.N, elems = s.Hv * s.Dv, fin = tensor_numel(&io.final);
    float *out = malloc((size_t)(rows * elems) * sizeof *out);
    float *final = malloc((size_t)fin * sizeof *final);
    double *ref = malloc((size_t)(rows * elems) * sizeof *ref);
    double *ref_final = malloc((size_t)fin * sizeof *ref_final);
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    for (int64_t i = 0; i < rows; i++)
        idx[i] = i;
    for (int64_t i = 0; i < rows * elems; i++)
        out[i] = NAN;
    for (int64_t i = 0; i < fin; i++)
        final[i] = NAN;
    struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in, .out = out,
                          .final = final, .scale = 1 / sqrt((double)s.D), .threads = 2 };
    const struct impl *cpu = impl_find(delta(), "cpu");
    int rc = cpu->run(&ctx);
    CHECK(rc == SB_OK, "%s: run: %s", words, ctx.err);
    rec_reference(REC_DELTA, &s, ctx.scale, ctx.in, idx, rows, ref, ref_final);
    struct check_result c;
    const struct tolerance tol = delta()->tolerance(&s);
    validate_compare(&tol, out, rows * elems, idx, rows, elems, s.Hv, ref, &c);
    if (c.ok)
        validate_final(&tol, &io, final, ref_final, &c);
    CHECK(c.ok, "%s %s g=%g (kind %d) beta=%g: %s (rel %.3g, worst row/head %.3g)", words,
          dtype_table[dt].name, g, g_kind, beta, c.why, c.rel_l2, c.worst_rel_l2);
    for (int t = 0; t < io.n_in; t++)
        free(in[t]);
    free(out), free(final), free(ref), free(ref_final), free(idx);
}

static void test_extreme_inputs(void)
{
    const char *gated = "B=1 N=150 H=1 Hv=2 D=64 Dv=32 chunk=32 gate=head state";
    const char *plain = "B=1 N=150 H=2 D=64 Dv=32 chunk=64 state";
    for (int dt = 0; dt < DT_COUNT; dt++) {
        if (!(impl_find(delta(), "cpu")->dtypes & DT_BIT(dt)))
            continue;
        check_inputs(gated, (enum dtype)dt, 1, -20.0f, -1);      /* state forgotten per token */
        check_inputs(gated, (enum dtype)dt, 1, -1e4f, -1);       /* e^g underflows to 0 */
        check_inputs(gated, (enum dtype)dt, 1, -1e-6f, -1);      /* gates near 0 */
        check_inputs(gated, (enum dtype)dt, 2, -1e4f, -1);       /* mixed: |G| large, steps small */
        check_inputs(gated, (enum dtype)dt, 2, -30.0f, 0.9999f);
        check_inputs(gated, (enum dtype)dt, 0, 0, 1e-4f);        /* β near 0 */
        check_inputs(gated, (enum dtype)dt, 0, 0, 0.9999f);      /* β near 1 */
        check_inputs(plain, (enum dtype)dt, 0, 0, 1e-4f);
        check_inputs(plain, (enum dtype)dt, 0, 0, 0.9999f);
    }
}

/* The WY/UT chunked algorithm (delta.c's header) over each chunk's causal
 * pairs only, in double, every multiply-add of its products through mac():
 * what it counts is the algorithmic count, its output the reference's. The
 * decays and β are elementwise factors, not counted (recurrent.c). */
static int64_t n_macs;

static double mac(double acc, double a, double b)
{
    n_macs++;
    return acc + a * b;
}

static void chunked_counted(const struct shape *s, double scale, float *const in[], double *out)
{
    const struct rec_layout l = rec_layout(REC_DELTA, s);
    const int64_t N = s->N, H = s->H, Hv = s->Hv, D = s->D, Dv = s->Dv, C = s->chunk;
    double *S = malloc((size_t)(D * Dv) * sizeof *S), *G = malloc((size_t)C * sizeof *G);
    double *A = malloc((size_t)(C * C) * sizeof *A), *T = malloc((size_t)(C * C) * sizeof *T);
    double *W = malloc((size_t)(C * D) * sizeof *W), *U = malloc((size_t)(C * Dv) * sizeof *U);
    for (int64_t b = 0; b < s->B; b++)
        for (int64_t j = 0; j < Hv; j++) {
            const int64_t hq = j / (Hv / H);
#define K_(m, d) in[l.k][((b * N + t0 + (m)) * H + hq) * D + (d)]
#define Q_(m, d) in[l.q][((b * N + t0 + (m)) * H + hq) * D + (d)]
#define V_(m, e) in[l.v][((b * N + t0 + (m)) * Hv + j) * Dv + (e)]
#define BETA(m) ((double)in[l.beta][(b * N + t0 + (m)) * Hv + j])
            for (int64_t x = 0; x < D * Dv; x++)
                S[x] = l.h0 >= 0 ? in[l.h0][(b * Hv + j) * D * Dv + x] : 0;
            for (int64_t t0 = 0; t0 < N; t0 += C) {
                const int64_t c = N - t0 < C ? N - t0 : C;
                for (int64_t i = 0; i < c; i++)
                    G[i] = (i ? G[i - 1] : 0) + (l.g >= 0 ? in[l.g][(b * N + t0 + i) * Hv + j] : 0);
                for (int64_t i = 0; i < c; i++)         /* A: the pairs m < i */
                    for (int64_t m = 0; m < i; m++) {
                        double x = 0;
                        for (int64_t d = 0; d < D; d++)
                            x = mac(x, K_(i, d), K_(m, d));
                        A[i * C + m] = BETA(i) * exp(G[i] - G[m]) * x;
                    }
                for (int64_t i = 0; i < c; i++) {       /* T = (I + A)⁻¹, row by row */
                    for (int64_t n = 0; n < c; n++)
                        T[i * C + n] = n == i;
                    for (int64_t m = 0; m < i; m++)
                        for (int64_t n = 0; n <= m; n++)
                            T[i * C + n] = mac(T[i * C + n], -A[i * C + m], T[m * C + n]);
                }
                for (int64_t i = 0; i < c; i++) {       /* W = T βe^G K, U = T βV: m <= i */
                    for (int64_t d = 0; d < D; d++) {
                        W[i * D + d] = 0;
                        for (int64_t m = 0; m <= i; m++)
                            W[i * D + d] = mac(W[i * D + d], T[i * C + m], BETA(m) * exp(G[m]) * K_(m, d));
                    }
                    for (int64_t e = 0; e < Dv; e++) {
                        U[i * Dv + e] = 0;
                        for (int64_t m = 0; m <= i; m++)
                            U[i * Dv + e] = mac(U[i * Dv + e], T[i * C + m], BETA(m) * V_(m, e));
                    }
                }
                for (int64_t i = 0; i < c; i++)         /* V' = U − W S, into U */
                    for (int64_t e = 0; e < Dv; e++)
                        for (int64_t d = 0; d < D; d++)
                            U[i * Dv + e] = mac(U[i * Dv + e], -W[i * D + d], S[d * Dv + e]);
                for (int64_t i = 0; i < c; i++) {       /* O = e^G Q S + (Q Kᵀ)_{m<=i} V' */
                    double *o = out + ((b * N + t0 + i) * Hv + j) * Dv;
                    for (int64_t e = 0; e < Dv; e++) {
                        o[e] = 0;
                        for (int64_t d = 0; d < D; d++)
                            o[e] = mac(o[e], scale * exp(G[i]) * Q_(i, d), S[d * Dv + e]);
                    }
                    for (int64_t m = 0; m <= i; m++) {
                        double p = 0;
                        for (int64_t d = 0; d < D; d++)
                            p = mac(p, Q_(i, d), K_(m, d));
                        for (int64_t e = 0; e < Dv; e++)
                            o[e] = mac(o[e], scale * exp(G[i] - G[m]) * p, U[m * Dv + e]);
                    }
                }
                for (int64_t d = 0; d < D; d++)         /* S = e^{G_last} S + Kdᵀ V' */
                    for (int64_t e = 0; e < Dv; e++) {
                        double x = exp(G[c - 1]) * S[d * Dv + e];
                        for (int64_t m = 0; m < c; m++)
                            x = mac(x, exp(G[c - 1] - G[m]) * K_(m, d), U[m * Dv + e]);
                        S[d * Dv + e] = x;
                    }
            }
#undef K_
#undef Q_
#undef V_
#undef BETA
        }
    free(S), free(G), free(A), free(T), free(W), free(U);
}

/* Counting, on tiny shapes, for every count the delta family stores: the
 * reference's multiply-adds are 3·D·Dv per token and value head (k S', the
 * update, the readout): ref's executed count, 1.5 × the recurrent count
 * 4·B·Hv·N·D·Dv (flops_minimal: the field's convention counts 4·D·Dv);
 * the algorithmic count (flops) is what the counted chunked algorithm
 * above does; cpu's executed count is what its products count as they run
 * (padded widths, row blocks past the diagonal, padded rows of T). */
static void test_flops(void)
{
    const char *shapes[] = { "B=2 N=5 H=1 Hv=3 D=4 Dv=3 chunk=2 gate=head",
                             "B=1 N=7 H=2 D=3 Dv=5 chunk=4 state",
                             "B=1 N=45 H=1 D=17 Dv=9 chunk=20 gate=head" };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct shape s = mk(shapes[i]);
        struct io_specs io;
        rec_io(REC_DELTA, &s, &io);
        float *in[SB_MAX_TENSORS] = { 0 };
        for (int t = 0; t < io.n_in; t++)
            in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
        rec_inputs(REC_DELTA, &s, 1, in);
        const int64_t rows = s.B * s.N, on = rows * s.Hv * s.Dv;
        int64_t *idx = malloc((size_t)rows * sizeof *idx);
        double *out = malloc((size_t)on * sizeof *out), *mine = malloc((size_t)on * sizeof *mine);
        double *fin = malloc((size_t)(s.B * s.Hv * s.D * s.Dv) * sizeof *fin);
        for (int64_t r = 0; r < rows; r++)
            idx[r] = r;
        rec_ref_macs = 0;
        rec_reference(REC_DELTA, &s, 0.5, (const float *const *)in, idx, rows, out,
                      s.state ? fin : NULL);
        CHECK(2.0 * rec_ref_macs == 1.5 * rec_flops_recurrent(&s),
              "%s: 2 x %lld reference MACs vs 1.5 x recurrent %.0f", shapes[i],
              (long long)rec_ref_macs, rec_flops_recurrent(&s));
        CHECK(2.0 * rec_ref_macs == impl_find(delta(), "ref")->flops_executed(&s),
              "%s: ref executes the recurrence", shapes[i]);
        double cost = 0;
        for (int64_t r = 0; r < rows; r++)
            cost += rec_row_cost(REC_DELTA, &s, r);
        CHECK(2.0 * cost == 1.5 * rec_flops_recurrent(&s), "%s: row costs sum to the count",
              shapes[i]);
        n_macs = 0;
        chunked_counted(&s, 0.5, in, mine);
        CHECK(2.0 * n_macs == delta()->flops(&s), "%s: algorithmic %.0f vs 2 x %lld counted",
              shapes[i], delta()->flops(&s), (long long)n_macs);
        double num = 0, den = 0;
        for (int64_t x = 0; x < on; x++)
            num += (mine[x] - out[x]) * (mine[x] - out[x]), den += out[x] * out[x];
        CHECK(sqrt(num / den) < 1e-10, "%s: the counted algorithm is the reference's (rel err %.2g)",
              shapes[i], sqrt(num / den));
        float *o32 = malloc((size_t)on * sizeof *o32), *f32 = malloc((size_t)(s.B * s.Hv * s.D * s.Dv) * sizeof *f32);
        struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in, .out = o32,
                              .final = s.state ? f32 : NULL, .scale = 0.5, .threads = 2 };
        delta_cpu_macs = 0;
        const struct impl *cpu = impl_find(delta(), "cpu");
        CHECK(cpu->run(&ctx) == SB_OK, "%s: cpu runs", shapes[i]);
        CHECK(2.0 * delta_cpu_macs == cpu->flops_executed(&s), "%s: cpu executed %.0f vs 2 x %lld",
              shapes[i], cpu->flops_executed(&s), (long long)delta_cpu_macs);
        CHECK(cpu->flops_executed(&s) >= delta()->flops(&s), "%s: executed >= algorithmic", shapes[i]);
        for (int t = 0; t < io.n_in; t++)
            free(in[t]);
        free(idx), free(out), free(mine), free(fin), free(o32), free(f32);
    }

    /* By hand, B=2 Hv=3 N=5 chunk=2 D=4 Dv=3: chunks of 2, 2, 1 tokens. Per
     * chunk of c, multiply-adds: A c(c−1)/2·D, T (c³ − c)/6, W and U
     * c(c+1)/2·(D + Dv), W S, Q S, Kᵀ V' 3cDDv, Q Kᵀ c(c+1)/2·D, P V'
     * c(c+1)/2·Dv: c = 2 gives 4 + 1 + 21 + 72 + 12 + 9 = 119, c = 1 gives
     * 0 + 0 + 7 + 36 + 4 + 3 = 50; 288 per head, times B·Hv·2. */
    struct shape s = mk("B=2 N=5 H=1 Hv=3 D=4 Dv=3 chunk=2 gate=head");
    CHECK(delta()->flops(&s) == 2 * 3 * 2 * 288.0, "chunked flops %.3f, by hand %.0f",
          delta()->flops(&s), 2 * 3 * 2 * 288.0);
    CHECK(delta()->flops_minimal(&s) == 4.0 * 2 * 3 * 5 * 4 * 3, "recurrent count");
    /* cuda, cuda-opt: chunks padded to 64, every product whole but T's
     * triangle (3·64²·D + 2·64²·Dv + (64³ − 64)/6 + 3·64·D·Dv each): N = 70
     * D = Dv = 64 is two such chunks per head. */
    s = mk("B=1 N=70 H=1 D=64 Dv=64 gate=head");
    s.dtype = DT_BF16;
    const double chunk = 3.0 * 4096 * 64 + 2.0 * 4096 * 64 + (262144.0 - 64) / 6 + 3.0 * 64 * 4096;
    for (const char *const *im = (const char *const[]){ "cuda", "cuda-opt", NULL }; *im; im++) {
        CHECK(impl_find(delta(), *im)->flops_executed(&s) == 2 * 2 * chunk, "%s: %.0f vs %.0f",
              *im, impl_find(delta(), *im)->flops_executed(&s), 4 * chunk);
        CHECK(impl_find(delta(), *im)->flops_executed(&s) >= delta()->flops(&s),
              "%s: executed >= algorithmic", *im);
    }
    CHECK(impl_find(delta(), "decode")->flops_executed(&s) == 1.5 * rec_flops_recurrent(&s),
          "decode executes the recurrence, k S' included");
}

/* Shapes the validator must refuse, each naming the field. */
static void test_validate(void)
{
    const struct { const char *words; const char *field; } bad[] = {
        { "B=1 N=8 H=1 D=16 gate=key", "gate" },
        { "B=1 N=8 H=3 Hv=4 D=16", "Hv=" },
        { "B=1 N=8 H=2 Hv=2 D=16 chunk=0", "chunk=" },
        { "B=1 N=0 H=2 D=16", "N=" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct shape s = mk(bad[i].words);
        char msg[200] = "";
        int rc = delta()->validate(&s, msg, sizeof msg);
        CHECK(rc != 0 && strstr(msg, bad[i].field), "%s refused naming %s: '%s'", bad[i].words,
              bad[i].field, msg);
    }
    struct shape ok = mk("B=1 N=8 H=2 Hv=8 D=16 gate=head state");
    char msg[200] = "";
    CHECK(delta()->validate(&ok, msg, sizeof msg) == 0, "Hv = 4H with gate=head: '%s'", msg);
}

/* Without a GPU the CUDA implementations are skipped, never passed. The
 * request holds no GPU whether or not the machine has one, so this runs
 * everywhere. */
static void test_gpu_skip(void)
{
    const struct family *f = delta();
    int n = 0;
    for (int i = 0; i < f->n_impls; i++) {
        if (f->impls[i].device != DEV_CUDA)
            continue;
        n++;
        struct shape s = mk("B=1 N=1 H=1 D=64 gate=head state");
        s.dtype = DT_BF16;
        struct case_req q = req_for(f->impls[i].name, s);
        struct case_result r;
        run_case(&q, &r);
        CHECK(strncmp(r.status, "skipped: ", 9) == 0, "%s without a GPU: %s", r.case_str,
              r.status);
        CHECK(strncmp(f->impls[i].status, "unverified: never run on a GPU", 30) == 0,
              "%s: status '%s'", f->impls[i].name, f->impls[i].status);
        case_result_free(&r);
    }
    CHECK(n > 0, "GPU implementations listed (%d)", n);
}

int main(void)
{
    test_chunked_cpu();
    test_extreme_inputs();
    test_flops();
    test_validate();
    test_gpu_skip();
    return check_done();
}
