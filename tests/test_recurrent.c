/*
 * test_recurrent.c — what the linear, gated and delta families share
 * (reference/recurrent.c): the FLOP formulas against the reference's own
 * multiply-adds and a hand count, the tensor layout, the shape rules, the
 * input ranges, named shape values, the final-state check (with planted
 * faults) and sampled validation at long N. Each family's chunked and GPU
 * implementations have their own tests.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../reference/recurrent.h"
#include "check.h"
#include "check_shape.h"
#include "dump.h"
#include "runcase.h"
#include "validate.h"

static struct case_req req_for(const char *fam, const struct impl *im, struct shape s)
{
    struct case_req q = { .family = family_find(fam), .impl = im, .shape = s, .seed = 5,
                          .device = "cpu", .no_gpu_reason = "no CUDA device", .verify_only = 1 };
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    return q;
}

/* Runs the family's reference over every row; returns its multiply-adds. */
static int64_t ref_macs(const char *fam, const struct shape *s)
{
    const struct family *f = family_find(fam);
    struct io_specs io;
    f->io(s, &io);
    float *in[SB_MAX_TENSORS] = { 0 };
    for (int i = 0; i < io.n_in; i++)
        in[i] = malloc((size_t)tensor_numel(&io.in[i]) * sizeof(float));
    f->inputs(s, 3, in);
    const int64_t rows = family_out_rows(&io);
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    double *out = malloc((size_t)(rows * family_row_elems(&io)) * sizeof *out);
    for (int64_t i = 0; i < rows; i++)
        idx[i] = i;
    rec_ref_macs = 0;
    f->reference(s, 0.5, (const float *const *)in, idx, rows, out, NULL);
    for (int i = 0; i < io.n_in; i++)
        free(in[i]);
    free(idx), free(out);
    return rec_ref_macs;
}

/* The recurrent count is twice the linear/gated reference's multiply-adds;
 * the delta reference does one more D·Dv product per token (k S'), which
 * the field's convention leaves out: 2·macs = 1.5 × the count. */
static void test_flops_recurrent(void)
{
    const char *words[] = { "B=2 N=5 H=1 D=3 Dv=4", "B=1 N=7 H=2 Hv=4 D=2 Dv=5 state",
                            "B=3 N=1 H=1 D=1 Dv=1" };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        struct shape s = mk("linear", words[i], DT_FP32);
        CHECK(2.0 * ref_macs("linear", &s) == rec_flops_recurrent(&s), "linear %s", words[i]);
        s.gate = GATE_KEY;
        CHECK(2.0 * ref_macs("gated", &s) == rec_flops_recurrent(&s), "gated %s", words[i]);
        s.gate = GATE_HEAD;
        CHECK(2.0 * ref_macs("delta", &s) == 1.5 * rec_flops_recurrent(&s), "delta %s", words[i]);
    }
}

/* The chunked (algorithmic) count by hand for B=1 Hv=1 N=5 chunk=2 D=3
 * Dv=4: chunks of 2, 2 and 1 tokens, in multiply-adds. linear/gated per
 * chunk c(c+1)/2·(D+Dv) + 2cDDv: c=2 gives 21 + 48 = 69, c=1 gives 7 + 24
 * = 31; 169, so 338 FLOPs. delta per chunk (c(c−1)/2 + c(c+1))·D +
 * c(c+1)·Dv + (c³−c)/6 + 3cDDv: c=2 gives 21 + 24 + 1 + 72 = 118, c=1
 * gives 6 + 8 + 0 + 36 = 50; 286, so 572 FLOPs. */
static void test_flops_chunked(void)
{
    struct shape s = mk("linear", "B=1 N=5 H=1 D=3 Dv=4 chunk=2", DT_FP32);
    CHECK(rec_flops_chunked(REC_LINEAR, &s) == 338, "linear chunked %g", rec_flops_chunked(REC_LINEAR, &s));
    CHECK(rec_flops_chunked(REC_GATED, &s) == 338, "gated chunked");
    CHECK(rec_flops_chunked(REC_DELTA, &s) == 572, "delta chunked %.12g",
          rec_flops_chunked(REC_DELTA, &s));
    s.B = 2, s.Hv = 3, s.H = 3;
    CHECK(rec_flops_chunked(REC_LINEAR, &s) == 6 * 338, "scales with B·Hv");
    const struct family *f = family_find("gated");
    CHECK(f->flops_minimal && f->flops_minimal(&s) == rec_flops_recurrent(&s),
          "gated stores the recurrent count as flops_minimal");
}

static int has_input(const struct io_specs *io, const char *name, int ndim, int64_t last)
{
    for (int i = 0; i < io->n_in; i++)
        if (strcmp(io->in[i].name, name) == 0)
            return io->in[i].ndim == ndim && io->in[i].dims[ndim - 1] == last;
    return 0;
}

static void test_layout(void)
{
    struct io_specs io;
    struct shape s = mk("gated", "B=2 N=9 H=2 Hv=4 D=8 Dv=6 gate=key state", DT_FP32);
    rec_io(REC_GATED, &s, &io);
    struct rec_layout l = rec_layout(REC_GATED, &s);
    CHECK(io.n_in == 5 && l.n_in == 5 && l.g == 3 && l.beta < 0 && l.h0 == 4, "gated key state: q k v g h0");
    CHECK(has_input(&io, "g", 4, 8) && io.in[3].dims[2] == 4, "per-key g is [B,N,Hv,D]");
    CHECK(has_input(&io, "v", 4, 6) && io.in[2].dims[2] == 4, "v is [B,N,Hv,Dv]");
    CHECK(has_input(&io, "q", 4, 8) && io.in[0].dims[2] == 2, "q is [B,N,H,D]");
    CHECK(io.final.ndim == 4 && io.final.dims[1] == 4 && io.final.dims[2] == 8 &&
          io.final.dims[3] == 6 && strcmp(io.final.name, "ht") == 0, "final state ht [B,Hv,D,Dv]");
    CHECK(io.out.dims[2] == 4 && io.out.dims[3] == 6, "out [B,N,Hv,Dv]");

    s = mk("delta", "B=1 N=3 H=1 D=4 gate=head", DT_FP32);
    rec_io(REC_DELTA, &s, &io);
    l = rec_layout(REC_DELTA, &s);
    CHECK(io.n_in == 5 && l.g == 3 && l.beta == 4 && l.h0 < 0 && io.final.ndim == 0,
          "gated delta: q k v g beta, no final state");
    CHECK(has_input(&io, "g", 3, 1) && has_input(&io, "beta", 3, 1), "per-head g and beta are [B,N,Hv]");

    s = mk("linear", "B=1 N=3 H=1 D=4", DT_FP32);
    rec_io(REC_LINEAR, &s, &io);
    CHECK(io.n_in == 3 && s.gate == GATE_NONE, "linear: q k v only");
}

static void test_validation(void)
{
    const struct { const char *fam, *words, *field; } bad[] = {
        { "gated", "gate=none", "gate" },
        { "delta", "gate=key", "gate" },
        { "linear", "H=2 Hv=3", "Hv" },
        { "delta", "chunk=0", "chunk" },
        { "gated", "chunk=4096", "chunk" },
        { "linear", "D=0", "D" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const struct family *f = family_find(bad[i].fam);
        struct shape s = mk(bad[i].fam, bad[i].words, DT_FP32);
        char msg[200] = "";
        CHECK(f->validate(&s, msg, sizeof msg) != 0 && strncmp(msg, bad[i].field, strlen(bad[i].field)) == 0,
              "%s %s rejected naming %s: '%s'", bad[i].fam, bad[i].words, bad[i].field, msg);
    }
    struct shape s;
    char err[200];
    shape_unset(&s);
    CHECK(shape_parse_words(family_find("linear"), "gate=key", &s, err, sizeof err) != 0 &&
              strstr(err, "gate"), "linear has no gate field: '%s'", err);
    shape_unset(&s);
    CHECK(shape_parse_words(family_find("gated"), "gate=diagonal", &s, err, sizeof err) != 0,
          "unknown gate value rejected");
    CHECK(shape_field_parse(SF_GATE, "key") == GATE_KEY && shape_field_parse(SF_GATE, "head") == GATE_HEAD &&
              shape_field_parse(SF_GATE, "2") == -1, "named values parse by name only");
    CHECK(shape_field_parse(SF_N, "128") == 128 && shape_field_parse(SF_N, "-1") == -1 &&
              shape_field_parse(SF_N, "12x") == -1, "numeric fields parse whole integers >= 0");
}

static void test_inputs(void)
{
    struct shape s = mk("delta", "B=2 N=50 H=2 Hv=4 D=32 Dv=16 gate=head state", DT_BF16);
    const struct family *f = family_find("delta");
    struct io_specs io;
    f->io(&s, &io);
    struct rec_layout l = rec_layout(REC_DELTA, &s);
    float *in[SB_MAX_TENSORS], *again[SB_MAX_TENSORS];
    for (int i = 0; i < io.n_in; i++) {
        in[i] = malloc((size_t)tensor_numel(&io.in[i]) * sizeof(float));
        again[i] = malloc((size_t)tensor_numel(&io.in[i]) * sizeof(float));
    }
    f->inputs(&s, 9, in);
    f->inputs(&s, 9, again);
    int same = 1, g_ok = 1, beta_ok = 1, bf16_ok = 1, norm_ok = 1;
    for (int i = 0; i < io.n_in; i++)
        for (int64_t e = 0; e < tensor_numel(&io.in[i]); e++) {
            same &= in[i][e] == again[i][e];
            bf16_ok &= in[i][e] == bf16_round(in[i][e]);
        }
    for (int64_t e = 0; e < tensor_numel(&io.in[l.g]); e++)
        g_ok &= in[l.g][e] <= 0 && in[l.g][e] > -1;
    for (int64_t e = 0; e < tensor_numel(&io.in[l.beta]); e++)
        beta_ok &= in[l.beta][e] > 0 && in[l.beta][e] < 1;
    for (int64_t r = 0; r < tensor_numel(&io.in[l.k]) / s.D; r++) {
        double ss = 0;
        for (int64_t d = 0; d < s.D; d++)
            ss += (double)in[l.k][r * s.D + d] * in[l.k][r * s.D + d];
        norm_ok &= fabs(sqrt(ss) - 1) < 1e-2;
    }
    CHECK(same, "inputs are a function of (shape, seed)");
    CHECK(bf16_ok, "every input is rounded to bf16");
    CHECK(g_ok, "gates in (-1, 0]");
    CHECK(beta_ok, "beta in (0, 1)");
    CHECK(norm_ok, "delta keys are L2-normalised (to bf16 precision)");
    for (int i = 0; i < io.n_in; i++)
        free(in[i]), free(again[i]);
}

/* A fake implementation: the reference's answer, then a planted fault. */
static int fault_kind;
static int faulty_run(struct op_ctx *ctx)
{
    int rc = rec_ref_run(REC_GATED, ctx);
    if (fault_kind == 1)
        ctx->final[7] += 1.0f;          /* a wrong final state */
    else if (fault_kind == 2)
        ctx->final[3] = NAN;            /* an unwritten element */
    else if (fault_kind == 3)
        ctx->out[0] += 10.0f;           /* a wrong output, state right */
    return rc;
}

static void test_final_state_check(void)
{
    static const struct impl faulty = { .name = "faulty", .device = DEV_CPU,
                                        .dtypes = DT_BIT(DT_FP32), .status = "test",
                                        .summary = "planted faults", .run = faulty_run };
    struct shape s = mk("gated", "B=1 N=40 H=2 D=16 Dv=8 gate=key state", DT_FP32);
    const char *want[] = { "ok", "mismatch", "mismatch", "mismatch" };
    const char *why[] = { NULL, "final state ht", "final state ht", "relative L2" };
    for (fault_kind = 0; fault_kind < 4; fault_kind++) {
        struct case_req q = req_for("gated", &faulty, s);
        struct case_result r;
        run_case(&q, &r);
        CHECK(strcmp(r.status, want[fault_kind]) == 0, "fault %d: %s (%s)", fault_kind, r.status,
              r.error);
        CHECK(!why[fault_kind] || strstr(r.error, why[fault_kind]), "fault %d says '%s': %s",
              fault_kind, why[fault_kind], r.error);
        case_result_free(&r);
    }
}

/* At long N the reference keeps a sample of rows but runs the recurrence
 * once; the ref implementation passes its own check, and a dumped case with
 * a named value and a state loads back to the same shape. */
static void test_sampled_and_dump(void)
{
    /* all rows would take more than VALIDATE_MAX_REF_BYTES of reference */
    struct shape s = mk("delta", "B=1 N=100000 H=1 Hv=2 D=64 Dv=256 gate=head", DT_FP32);
    struct case_req q = req_for("delta", impl_find(family_find("delta"), "ref"), s);
    struct case_result r;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s", r.case_str, r.status, r.error);
    CHECK(r.rec.rows_checked < r.rec.rows_total && r.rec.rows_checked >= VALIDATE_MIN_RANDOM,
          "sampled: %lld of %lld rows", (long long)r.rec.rows_checked, (long long)r.rec.rows_total);
    case_result_free(&r);

    char dir[] = "/tmp/sb_rec_XXXXXX", err[300];
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    s = mk("gated", "B=1 N=33 H=2 D=16 Dv=8 chunk=16 gate=head state", DT_BF16);
    q = req_for("gated", impl_find(family_find("gated"), "ref"), s);
    q.dump_dir = dir;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "ok") == 0, "dumped run: %s", r.status);
    case_result_free(&r);
    struct loaded_case lc;
    int rc = dump_load(dir, &lc, err, sizeof err);
    CHECK(rc == 0, "load: %s", err);
    if (rc == 0) {
        CHECK(lc.shape.gate == GATE_HEAD && lc.shape.state == 1 && lc.shape.chunk == 16 &&
                  lc.shape.dtype == DT_BF16 && lc.n_in == 5, "the shape comes back (gate=head, state, chunk)");
        loaded_case_free(&lc);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test -s %s/ht.npy && test -s %s/ref_ht.npy && test -s %s/h0.npy", dir, dir, dir);
    CHECK(system(cmd) == 0, "ht.npy, ref_ht.npy and h0.npy dumped");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "clean up");
}

int main(void)
{
    test_flops_recurrent();
    test_flops_chunked();
    test_layout();
    test_validation();
    test_inputs();
    test_final_state_check();
    test_sampled_and_dump();
    return check_done();
}
