/*
 * selftest.c — a family that only tests see. With SEQBENCH_TEST_IMPLS=1 in
 * the environment, family_find("selftest") returns it; otherwise it does not
 * exist (not listed, not in any suite, unknown to `bench run`). Its
 * implementations misbehave on purpose, so that what `bench suite
 * --isolate` promises — a case that brings its process down is one
 * `error: …` row and the suite goes on — is tested on a machine without a
 * GPU, where no real kernel can fault.
 *
 * The math: out = 2·x, x [B,N,1,D] (one "head" of D elements per row); one
 * multiply per element; bytes: x read once, out written once, in the dtype.
 *
 *   cpu    the operation, correct: the control
 *   crash  raises SIGSEGV in run(), as a faulting kernel takes its process down
 *   exit   _exit(3) in run(): a process that dies without storing a result
 *   hang   sleeps forever in run(): a kernel that never returns (--case-timeout)
 *
 * They break the operator contract (never exit) on purpose; nothing outside
 * the tests can reach them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seqbench.h"

#define SELFTEST_FIELDS (SF_BIT(SF_B) | SF_BIT(SF_N) | SF_BIT(SF_D))

static void st_defaults(struct shape *s)
{
    if (s->B < 0)
        s->B = 1;
    if (s->N < 0)
        s->N = 64;
    if (s->D < 0)
        s->D = 16;
}

static int st_validate(const struct shape *s, char *msg, size_t n)
{
    if (s->B < 1 || s->N < 1 || s->D < 1) {
        snprintf(msg, n, "B, N and D must be >= 1");
        return -1;
    }
    return 0;
}

static double st_flops(const struct shape *s)
{
    return (double)(s->B * s->N * s->D);
}

static double st_min_bytes(const struct shape *s)
{
    return 2.0 * (double)(s->B * s->N * s->D) * dtype_table[s->dtype].bytes;
}

static void st_io(const struct shape *s, struct io_specs *io)
{
    memset(io, 0, sizeof *io);
    io->n_in = 1;
    io->in[0] = (struct tensor_spec){ "x", 4, { s->B, s->N, 1, s->D }, 0 };
    io->out = (struct tensor_spec){ "out", 4, { s->B, s->N, 1, s->D }, 0 };
}

static void st_inputs(const struct shape *s, uint64_t seed, float *const in[])
{
    uint64_t state = seed;
    for (int64_t i = 0; i < s->B * s->N * s->D; i++)
        in[0][i] = dtype_round(s->dtype, sb_rng_uniform(&state));
}

static void st_reference(const struct shape *s, double scale, const float *const in[],
                         const int64_t *rows, int64_t nrows, double *out, double *final)
{
    (void)scale, (void)final;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t d = 0; d < s->D; d++)
            out[r * s->D + d] = 2.0 * in[0][rows[r] * s->D + d];
}

static double st_row_cost(const struct shape *s, int64_t row)
{
    (void)row;
    return (double)s->D;
}

/* Doubling is exact in every dtype, so any difference is a bug. */
static struct tolerance st_tolerance(const struct shape *s)
{
    (void)s;
    return (struct tolerance){ 1e-12, 1e-12 };
}

static int st_cpu_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    for (int64_t i = 0; i < s->B * s->N * s->D; i++)
        ctx->out[i] = 2.0f * ctx->in[0][i];
    return SB_OK;
}

static int st_crash_run(struct op_ctx *ctx)
{
    (void)ctx;
    raise(SIGSEGV);
    return SB_ERROR;
}

static int st_exit_run(struct op_ctx *ctx)
{
    (void)ctx;
    _exit(3);
    return SB_ERROR;    /* not reached */
}

static int st_hang_run(struct op_ctx *ctx)
{
    (void)ctx;
    while (pause() != 0 || 1)    /* a signal handler returning does not end it */
        ;
    return SB_ERROR;
}

#define ST_DTYPES (DT_BIT(DT_FP32) | DT_BIT(DT_BF16))
static const struct impl selftest_impls[] = {
    { .name = "cpu", .device = DEV_CPU, .dtypes = ST_DTYPES, .status = "test only",
      .summary = "out = 2x, correct", .run = st_cpu_run },
    { .name = "crash", .device = DEV_CPU, .dtypes = ST_DTYPES, .status = "test only",
      .summary = "raises SIGSEGV in run()", .run = st_crash_run },
    { .name = "exit", .device = DEV_CPU, .dtypes = ST_DTYPES, .status = "test only",
      .summary = "_exit(3) in run()", .run = st_exit_run },
    { .name = "hang", .device = DEV_CPU, .dtypes = ST_DTYPES, .status = "test only",
      .summary = "never returns from run()", .run = st_hang_run },
};

static const char *const st_edge_shapes[] = { "B=1 N=8 D=4", NULL };

const struct family family_selftest = {
    .name = "selftest",
    .summary = "test only (SEQBENCH_TEST_IMPLS=1): implementations that crash, exit or hang",
    .fields = SELFTEST_FIELDS,
    .defaults = st_defaults,
    .validate = st_validate,
    .flops = st_flops,
    .min_bytes = st_min_bytes,
    .io = st_io,
    .inputs = st_inputs,
    .reference = st_reference,
    .row_cost = st_row_cost,
    .tolerance = st_tolerance,
    .impls = selftest_impls,
    .n_impls = (int)(sizeof selftest_impls / sizeof selftest_impls[0]),
    .edge_shapes = st_edge_shapes,
};
