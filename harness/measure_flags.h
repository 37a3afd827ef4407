/*
 * measure_flags.h — the measurement options `bench run` and `bench suite`
 * share (--timing, --warm, --max-time, --min-samples, --target): one set of
 * rows for both commands' option tables, one check, one struct
 * measure_opts out.
 */
#ifndef SEQBENCH_MEASURE_FLAGS_H
#define SEQBENCH_MEASURE_FLAGS_H

#include "cli.h"
#include "measure.h"

struct measure_flags {
    const char *timing;         /* --timing MODE, or NULL */
    int warm;                   /* --warm: --timing warm */
    double max_time;            /* --max-time S */
    int64_t min_samples;        /* --min-samples N */
    double target;              /* --target R */
};

/* The defaults of MEASURE_DEFAULTS. */
void measure_flags_init(struct measure_flags *m);

/* The option rows, for a command's opts[] (N_MEASURE_OPTS of them). */
#define N_MEASURE_OPTS 5
#define MEASURE_OPTS(m)                                                                           \
    OPT("timing", OPT_STRING, &(m).timing, "MODE",                                                \
        "GPU timing: cold (default: L2 flushed, the launches queued behind a blocking kernel so "  \
        "events time the kernels, not the host), warm (no flush), graph (a CUDA graph of n runs "  \
        "replayed, time / n; for ops under ~100 us), kernel (cold, the sample the op's kernel "     \
        "durations summed from CUPTI's records: no launch gaps)"),                                             \
    OPT("warm", OPT_FLAG, &(m).warm, NULL, "same as --timing warm"),                              \
    OPT("max-time", OPT_DOUBLE, &(m).max_time, "S",                                                \
        "seconds of samples per case at most (default 2); fewer than --min-samples in that "      \
        "time is stored as 'ok: few samples (n of 10)'"),                                          \
    OPT("min-samples", OPT_INT, &(m).min_samples, "N",                                             \
        "samples a plain 'ok' needs (default 10)"),                                                \
    OPT("target", OPT_DOUBLE, &(m).target, "R",                                                   \
        "noise target: half-width of the median's 95% confidence interval over the median "       \
        "(default 0.01); a case that stops above it is 'ok: noisy (...)'")

/* Checks m (cmd names the command in errors) and sets the measurement
 * fields of *o. Returns 0, or EXIT_USAGE after one line on stderr. */
int measure_flags_apply(const char *cmd, const struct measure_flags *m, struct measure_opts *o);

#endif
