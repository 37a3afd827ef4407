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
#include "gpu.h"
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
    validate_compare(delta(), &s, out, rows * elems, idx, rows, elems, ref, &c);
    if (c.ok)
        validate_final(delta(), &s, &io, final, ref_final, &c);
    CHECK(c.ok, "%s %s g=%g (kind %d) beta=%g: %s (rel %.3g, row %.3g)", words,
          dtype_table[dt].name, g, g_kind, beta, c.why, c.rel_l2, c.worst_row_rel_l2);
    for (int t = 0; t < io.n_in; t++)
        free(in[t]);
    free(out), free(final), free(ref), free(ref_final), free(idx);
}

static void test_extreme_inputs(void)
{
    const char *gated = "B=1 N=150 H=1 Hv=2 D=64 Dv=32 chunk=32 gate=head state";
    const char *plain = "B=1 N=150 H=2 D=64 Dv=32 chunk=64 state";
    for (int dt = 0; dt < DT_COUNT; dt++) {
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

/* Counting: the reference's multiply-adds with all rows computed are
 * 3·D·Dv per token and value head (k S', the update, the readout), so
 * 2·macs = 1.5 × the recurrent count 4·B·Hv·N·D·Dv; and the chunked
 * count, term by term for a tiny shape (recurrent.c's list). */
static void test_flops(void)
{
    const char *shapes[] = { "B=2 N=5 H=1 Hv=3 D=4 Dv=3 chunk=2 gate=head",
                             "B=1 N=7 H=2 D=3 Dv=5 chunk=4 state" };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct shape s = mk(shapes[i]);
        struct io_specs io;
        rec_io(REC_DELTA, &s, &io);
        float *in[SB_MAX_TENSORS] = { 0 };
        for (int t = 0; t < io.n_in; t++)
            in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
        rec_inputs(REC_DELTA, &s, 1, in);
        const int64_t rows = s.B * s.N;
        int64_t *idx = malloc((size_t)rows * sizeof *idx);
        double *out = malloc((size_t)(rows * s.Hv * s.Dv) * sizeof *out);
        double *fin = malloc((size_t)(s.B * s.Hv * s.D * s.Dv) * sizeof *fin);
        for (int64_t r = 0; r < rows; r++)
            idx[r] = r;
        rec_ref_macs = 0;
        rec_reference(REC_DELTA, &s, 0.5, (const float *const *)in, idx, rows, out,
                      s.state ? fin : NULL);
        CHECK(2.0 * rec_ref_macs == 1.5 * rec_flops_recurrent(&s),
              "%s: 2 x %lld reference MACs vs 1.5 x recurrent %.0f", shapes[i],
              (long long)rec_ref_macs, rec_flops_recurrent(&s));
        double cost = 0;
        for (int64_t r = 0; r < rows; r++)
            cost += rec_row_cost(REC_DELTA, &s, r);
        CHECK(2.0 * cost == 1.5 * rec_flops_recurrent(&s), "%s: row costs sum to the count",
              shapes[i]);
        for (int t = 0; t < io.n_in; t++)
            free(in[t]);
        free(idx), free(out), free(fin);
    }

    /* B=2 Hv=3 N=5 chunk=2 D=4 Dv=3: chunks of 2, 2, 1 tokens. Per chunk of
     * c: K Kᵀ c²D, T c³/6 (a unit lower-triangular inverse), T·βK c²D, T·βV c²Dv, W·S cDDv, Q·S cDDv,
     * Q Kᵀ c²D, P·V' c²Dv, Kᵀ·V' cDDv multiply-adds, times 2. */
    struct shape s = mk("B=2 N=5 H=1 Hv=3 D=4 Dv=3 chunk=2 gate=head");
    double macs = 0;
    const double cs[] = { 2, 2, 1 }, D = 4, Dv = 3;
    for (int i = 0; i < 3; i++) {
        const double c = cs[i];
        macs += c * c * D + c * c * c / 6 + c * c * D + c * c * Dv + c * D * Dv + c * D * Dv +
                c * c * D + c * c * Dv + c * D * Dv;
    }
    const double want = 2 * 3 * 2 * macs;     /* B · Hv · 2 FLOP per MAC */
    CHECK(fabs(delta()->flops(&s) - want) < 1e-9 * want, "chunked flops %.3f, by hand %.3f",
          delta()->flops(&s), want);
    CHECK(delta()->flops_minimal(&s) == 4.0 * 2 * 3 * 5 * 4 * 3, "recurrent count");
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

/* Without a GPU the CUDA implementations are skipped, never passed. */
static void test_gpu_skip(void)
{
    struct gpu_info info;
    if (gpu_probe(0, &info) == 0) {
        check_skip("a GPU is present; the no-GPU path is not exercised");
        return;
    }
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
    CHECK(n >= 0, "GPU implementations listed");
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
