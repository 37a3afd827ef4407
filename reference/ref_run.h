/*
 * ref_run.h — the `ref` implementation of a family whose reference computes
 * any rows (recurrent.c, ssm.c): every row, rounded to the case's dtype.
 */
#ifndef SEQBENCH_REF_RUN_H
#define SEQBENCH_REF_RUN_H

#include "../harness/seqbench.h"

typedef void ref_fn(const struct shape *, double scale, const float *const in[],
                    const int64_t *rows, int64_t nrows, double *out, double *final);

/* reference over every row of ctx->io->out (and all of ctx->io->final when
 * the case has one) into ctx->out (ctx->final), rounded to the dtype. */
int ref_run_all(ref_fn *reference, struct op_ctx *ctx);

#endif
