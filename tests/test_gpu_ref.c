/*
 * test_gpu_ref.c — the device reference's arithmetic (harness/gpu_ref.h) on
 * the CPU: its block functions, compiled here as C with each GREF_FOR a
 * loop, run for every block of small and long cases; every (row, head)
 * against the float64 reference within the family's fp32 tolerance (the
 * bound the device check's tolerance rests on); the compare sums judged by
 * validate_sums catch a wrong head and pass a right bf16 output. The launch
 * itself (harness/gpu_ref.cu) needs a GPU and is unverified here.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_shape.h"
#include "gpu_ref.h"
#include "validate.h"

/* What the kernels compute, block by block: the case's every output row. */
static void run_blocks(const struct gref_case *c, float *ref)
{
    float *sh = malloc((size_t)gref_shared_floats(c) * sizeof *sh);
    for (int64_t blk = 0; blk < gref_blocks(c); blk++) {
        for (int64_t i = 0; i < gref_shared_floats(c); i++)
            sh[i] = NAN;        /* as uninitialised shared memory: nothing may rely on it */
        if (c->kind == GREF_ATTENTION)
            gref_attention_block(c, blk, ref, sh);
        else
            gref_recurrent_block(c, blk, ref, sh);
    }
    free(sh);
}

struct fixture {
    const struct family *f;
    struct shape s;
    struct io_specs io;
    float *in[SB_MAX_TENSORS];
    double scale;
    int64_t rows, elems, heads, *idx;
    double *ref64;      /* the float64 reference, every row */
    float *ref32;       /* the device reference's rows, computed here */
};

static void fixture_init(struct fixture *x, const char *fam, const char *words, enum dtype dt)
{
    memset(x, 0, sizeof *x);
    x->f = family_find(fam);
    x->s = mk(fam, words, dt);
    x->f->io(&x->s, &x->io);
    for (int i = 0; i < x->io.n_in; i++)
        x->in[i] = malloc((size_t)tensor_numel(&x->io.in[i]) * sizeof(float));
    x->f->inputs(&x->s, 9, x->in);
    x->scale = 1 / sqrt((double)x->s.D);
    x->rows = family_out_rows(&x->io), x->elems = family_row_elems(&x->io);
    x->heads = validate_out_heads(&x->io);
    x->idx = malloc((size_t)x->rows * sizeof *x->idx);
    for (int64_t i = 0; i < x->rows; i++)
        x->idx[i] = i;
    x->ref64 = malloc((size_t)(x->rows * x->elems) * sizeof *x->ref64);
    x->ref32 = malloc((size_t)(x->rows * x->elems) * sizeof *x->ref32);
    double *fin = x->io.final.ndim ? malloc((size_t)tensor_numel(&x->io.final) * sizeof *fin) : NULL;
    x->f->reference(&x->s, x->scale, (const float *const *)x->in, x->idx, x->rows, x->ref64, fin);
    free(fin);
    struct gref_case c;
    CHECK(x->f->gpu_ref && x->f->gpu_ref(&x->s, x->scale, (const float *const *)x->in, &c),
          "%s: the family describes the case", fam);
    CHECK(gref_rows(&c) == x->rows && gref_heads(&c) == x->heads, "%s: rows and heads", fam);
    for (int64_t i = 0; i < x->rows * x->elems; i++)
        x->ref32[i] = NAN;
    run_blocks(&c, x->ref32);
}

static void fixture_free(struct fixture *x)
{
    for (int i = 0; i < x->io.n_in; i++)
        free(x->in[i]);
    free(x->idx), free(x->ref64), free(x->ref32);
}

/* Every (row, head) of the fp32 device reference within the family's fp32
 * tolerance of the float64 one (every element written: NaN fails). */
static void test_against_float64(void)
{
    const struct { const char *fam, *words; } cases[] = {
        { "flash", "B=2 N=77 Nk=77 H=4 Hkv=2 D=64 causal" },
        { "flash", "B=1 N=200 Nk=333 H=4 Hkv=1 D=40 Dv=72 causal" },  /* Nk > N, MQA, Dv != D */
        { "flash", "B=1 N=130 Nk=130 H=3 D=128" },                  /* non-causal, partial tile */
        { "softmax", "B=3 N=1 Nk=1000 H=2 D=64 causal" },           /* decode */
        { "flash", "B=1 N=1 Nk=100000 H=2 D=64 causal" },           /* long sums: blocked */
        { "linear", "B=2 N=77 H=2 D=32 Dv=40" },                    /* Dv: a partial slice */
        { "linear", "B=1 N=20000 H=1 Hv=2 D=64 Dv=64" },            /* long, no decay */
        { "gated", "B=1 N=100 H=2 Hv=4 D=32 Dv=64 gate=key state" },
        { "gated", "B=2 N=70 H=2 D=64 Dv=32 gate=head" },
        { "delta", "B=1 N=90 H=2 Hv=4 D=32 Dv=48 state" },
        { "delta", "B=2 N=65 H=1 D=64 Dv=64 gate=head state" },
        { "flash", "B=1 N=200 Nk=333 H=2 Hkv=1 D=64 causal window=70 sink=5" },
        { "flash", "B=1 N=130 Nk=130 H=2 D=32 causal window=16" },
        /* block masks: rows that see no key (0), [B, H, ...] and [1, H, ...] masks */
        { "sparse", "B=2 N=300 Nk=400 H=3 Hkv=1 D=64 causal density=20 bq=128 bk=64" },
        { "sparse", "B=1 N=257 H=4 D=32 causal pattern=mixed window=64 sink=4 density=50 bq=64 bk=64" },
        { "sparse", "B=1 N=1 Nk=5000 H=2 D=64 causal pattern=sink window=500 sink=4" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fixture x;
        fixture_init(&x, cases[i].fam, cases[i].words, DT_FP32);
        const struct tolerance tol = x.f->tolerance(&x.s);
        double *as64 = malloc((size_t)(x.rows * x.elems) * sizeof *as64);
        for (int64_t e = 0; e < x.rows * x.elems; e++)
            as64[e] = x.ref64[e];
        struct check_result r;
        validate_compare(&tol, x.ref32, x.rows * x.elems, x.idx, x.rows, x.elems, x.heads,
                         as64, &r);
        CHECK(r.ok, "%s %s: fp32 device reference vs float64: %s (rel %.3g, worst %.3g)",
              cases[i].fam, cases[i].words, r.why, r.rel_l2, r.worst_rel_l2);
        CHECK(r.rel_l2 < 1e-5, "%s %s: rel %.3g", cases[i].fam, cases[i].words, r.rel_l2);
        free(as64);
        fixture_free(&x);
    }
}

/* The compare kernel's sums, judged as validate_on_device does (tolerance
 * of the dtype plus fp32), on an implementation's bf16 output: right passes,
 * one wrong head of one row fails and is named. */
static void test_device_verdict(void)
{
    const char *cases[][2] = {
        { "flash", "B=2 N=150 Nk=150 H=8 Hkv=2 D=64 causal" },
        { "gated", "B=1 N=150 H=2 Hv=8 D=64 Dv=64 gate=key" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fixture x;
        fixture_init(&x, cases[i][0], cases[i][1], DT_BF16);
        const int64_t n = x.rows * x.elems, pairs = x.rows * x.heads, Dv = x.elems / x.heads;
        float *out = malloc((size_t)n * sizeof *out), *sums = malloc((size_t)pairs * 3 * sizeof *sums);
        for (int64_t e = 0; e < n; e++)     /* a right bf16 implementation */
            out[e] = bf16_round((float)x.ref64[e]);
        struct shape s32 = x.s;
        s32.dtype = DT_FP32;
        const struct tolerance a = x.f->tolerance(&x.s), b = x.f->tolerance(&s32);
        const struct tolerance tol = { a.rel_l2 + b.rel_l2, a.row_rel_l2 + b.row_rel_l2 };
        struct check_result r;
        for (int64_t p = 0; p < pairs; p++)
            gref_compare(out, x.ref32, p, Dv, sums);
        validate_sums(&tol, sums, NULL, x.rows, x.heads, &r);
        CHECK(r.ok && r.worst_rel_l2 < 1e-2, "%s: right bf16 output passes: %s (worst %.3g)",
              cases[i][0], r.why, r.worst_rel_l2);

        const int64_t row = x.rows / 2 + 3, head = x.heads - 2;
        float *o = out + (row * x.heads + head) * Dv;
        for (int64_t e = 0; e < Dv; e += 2)     /* a quarter of the head's elements swapped */
            if (e % 8 == 0) {
                const float t = o[e];
                o[e] = o[e + 1], o[e + 1] = t;
            }
        for (int64_t p = 0; p < pairs; p++)
            gref_compare(out, x.ref32, p, Dv, sums);
        validate_sums(&tol, sums, NULL, x.rows, x.heads, &r);
        CHECK(!r.ok && r.worst_row == row && r.worst_head == head,
              "%s: a wrong head is found: (%lld, %lld) %.3g, planted (%lld, %lld): %s",
              cases[i][0], (long long)r.worst_row, (long long)r.worst_head, r.worst_rel_l2,
              (long long)row, (long long)head, r.why);
        free(out), free(sums);
        fixture_free(&x);
    }
}

int main(void)
{
    test_against_float64();
    test_device_verdict();
    return check_done();
}
