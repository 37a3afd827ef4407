/*
 * measure.h — timing. The only place in seqbench that reads a clock.
 *
 * Warm-up, then samples until the standard error of the median, relative to
 * the median, is under a target (1% by default) with at least min_samples,
 * or until a time cap or a sample cap: nvbench's stdrel criterion, applied
 * to the median. CPU samples use CLOCK_MONOTONIC; GPU samples use CUDA events
 * around one launch, with L2 flushed before each sample unless --warm.
 */
#ifndef SEQBENCH_MEASURE_H
#define SEQBENCH_MEASURE_H

#include "seqbench.h"

struct measure_opts {
    double target_rel;      /* stop when the median's relative standard error is below */
    int min_samples;
    int max_samples;
    double max_seconds;     /* wall-clock cap for the samples of one case */
    double warmup_seconds;  /* at least one warm-up run, then until this much time */
    int flush_l2;           /* GPU: cold L2 before each sample */
};
#define MEASURE_DEFAULTS { .target_rel = 0.01, .min_samples = 10, .max_samples = 1000, \
                           .max_seconds = 2.0, .warmup_seconds = 0.05, .flush_l2 = 1 }

struct stats {
    int n;
    double median, min, max, p10, p90, mean, stdev;
    double rel_se;          /* relative standard error of the median */
};

/* Statistics of n samples (order preserved in samples). */
void stats_compute(const double *samples, int n, struct stats *st);

struct gpu_ctx;
/* Runs impl->run repeatedly on ctx. samples must hold opts->max_samples.
 * Returns SB_OK, or the implementation's status (ctx->err set). */
int measure_case(const struct impl *im, struct op_ctx *ctx, const struct measure_opts *opts,
                 double *samples, int *n_samples);

/* Monotonic seconds. */
double now_seconds(void);

#endif
