/*
 * measure.h — timing. The only place in seqbench that reads a clock.
 *
 * Warm-up, then samples under one stopping rule for every timing mode:
 *   target       at least min_samples, and the noise of the median is at or
 *                under target_rel;
 *   max_samples  the sample buffer is full;
 *   max_time     max_seconds of sampling have passed, whatever the count.
 * The noise is the relative half-width of the median's distribution-free
 * 95% confidence interval (the order statistics x_(j)..x_(n+1-j) that a
 * binomial count puts around the median): robust to skew and to outliers,
 * and shrinking as 1/sqrt(n), so "median +-1% at 95%" is what a plain "ok"
 * means. A result that stops short of min_samples or of the target is still
 * stored, but its status says so: "ok: few samples (3 of 10)" or
 * "ok: noisy (ci95 2.3% > 1%)".
 *
 * Timing modes (enum timing): a CPU implementation is timed with
 * CLOCK_MONOTONIC around run(). A GPU one with CUDA events on its stream,
 * the start event queued behind a blocking kernel that holds the stream
 * until the sample's launches are all queued, so the events time the op's
 * kernels back to back and no host launch gap (gpu_time_once in gpu.h):
 *   cold   L2 flushed before each sample (default);
 *   warm   no flush;
 *   graph  run() captured n times into a CUDA graph, replayed once per
 *          sample; a sample is the replay's time / n (for ops of a few to
 *          ~100 us, whose single launches the event resolution and the
 *          launch rate would dominate). n from a warm-up estimate.
 *   kernel cold, but the sample is the summed duration of the op's kernels
 *          as CUPTI Activity records them (no launch gaps, no event
 *          resolution), under the same stopping rule.
 *
 * Around every GPU sample, outside the timed region (before the sample is
 * queued, after its stop event is synchronised), NVML's SM clock and
 * throttle reasons are read when the session has NVML: a sample taken
 * under a throttled clock is dropped (nvml.h's rule) and counted.
 *
 * An implementation that times itself (impl.sample: a peer's worker
 * process) is asked for batches of runs in the same mode, and the same
 * warm-up and stopping rule decide how many: the rule stays here, only the
 * clock is elsewhere.
 */
#ifndef SEQBENCH_MEASURE_H
#define SEQBENCH_MEASURE_H

#include "seqbench.h"
#include "store.h"

struct cupti;
struct nvml_dev;

/* The stored names (results.timing) are timing_names[]; cold, warm, graph
 * and kernel can be asked for. */
enum timing { TIMING_COLD, TIMING_WARM, TIMING_GRAPH, TIMING_KERNEL, TIMING_CPU, TIMING_COUNT };
extern const char *const timing_names[TIMING_COUNT];
/* The mode named s among those a user can choose (GPU modes); -1 if none. */
int timing_parse(const char *s);

/* Why sampling stopped (results.stop_reason is stop_names[], NULL for none). */
enum stop_reason { STOP_NONE, STOP_TARGET, STOP_MAX_SAMPLES, STOP_MAX_TIME, STOP_COUNT };
extern const char *const stop_names[STOP_COUNT];

struct measure_opts {
    double target_rel;      /* noise target: relative half-width of the median's 95% CI */
    int min_samples;        /* a plain "ok" needs at least this many */
    int max_samples;        /* size of the sample buffer */
    double max_seconds;     /* wall-clock cap for the samples of one case */
    double warmup_seconds;  /* at least one warm-up run, then until this much time */
    enum timing timing;     /* for GPU implementations; a CPU one is always TIMING_CPU */
    /* The session's instruments (profile.h); NULL: none. */
    struct nvml_dev *nvml;  /* clocks read around each GPU sample */
    unsigned default_sm_mhz;/* the throttle rule's base; 0: no rule */
    struct cupti *cupti;    /* kernel records (TIMING_KERNEL, measure_kernels) */
    const char *cupti_why;  /* why cupti is NULL, for a TIMING_KERNEL case's skip */
};
#define MEASURE_DEFAULTS { .target_rel = 0.01, .min_samples = 10, .max_samples = 1000, \
                           .max_seconds = 2.0, .warmup_seconds = 0.05, .timing = TIMING_COLD }

/* Samples kept sorted as they arrive (binary search + memmove: O(n) per
 * sample instead of a full sort), with a running mean and sum of squared
 * deviations (Welford). Everything the stopping rule and the stored
 * statistics need is read from these in O(1), except the noise, whose
 * confidence-interval index costs O(n) arithmetic; at the default cap of
 * 1000 samples that is microseconds, well under one sample. */
struct sample_set {
    double *sorted;         /* ascending, n of cap */
    int n, cap;
    double mean, m2;        /* Welford: running mean, sum of squared deviations */
};
/* 0, or -1 when out of memory. */
int sample_set_init(struct sample_set *s, int cap);
void sample_set_free(struct sample_set *s);
/* Adds x (ignored when the set is full). */
void sample_set_add(struct sample_set *s, double x);
/* The median's distribution-free 95% confidence interval [*lo, *hi]: the
 * order statistics x_(j) and x_(n+1-j). Returns 0, or -1 (lo, hi untouched)
 * below CI_MIN_SAMPLES samples. */
int sample_set_ci(const struct sample_set *s, double *lo, double *hi);
/* Its half-width relative to the median; INFINITY without an interval or
 * with a median <= 0. */
double sample_set_noise(const struct sample_set *s);
/* The smallest n whose order statistics can hold the median at 95%: with
 * 5 samples, [min, max] covers it with probability 1 - 2/32 < 95%. */
#define CI_MIN_SAMPLES 6

struct stats {
    int n;
    double median, min, max, p10, p90, mean, stdev;
    double noise;           /* sample_set_noise */
};
void sample_set_stats(const struct sample_set *s, struct stats *st);
/* Statistics of n samples (order preserved in samples). */
void stats_compute(const double *samples, int n, struct stats *st);

/* The stopping rule above, after a sample, elapsed_s seconds into sampling. */
enum stop_reason measure_stop(const struct measure_opts *o, const struct sample_set *s,
                              double elapsed_s);

/* What measure_case did. */
struct measure_result {
    int n;                  /* samples taken */
    double noise;           /* final sample_set_noise */
    enum stop_reason stop;
    enum timing timing;     /* the mode used */
    int graph_launches;     /* launches per graph replay (TIMING_GRAPH), else 1 */
    int throttled;          /* samples dropped under a throttled clock; -1 not watched */
    int64_t reasons;        /* NVML clocks-event reasons seen around samples; -1 not watched */
    double sm_mhz;          /* mean SM clock over the kept samples; NAN unknown */
};

/* Runs impl->run repeatedly on ctx. samples must hold opts->max_samples; a
 * sample is milliseconds per run(). Returns SB_OK, or the implementation's
 * status, SB_ERROR for a failed or invalid GPU sample, SB_UNSUPPORTED when
 * run() cannot be captured into a graph (ctx->err set in each case); out is
 * filled either way. */
int measure_case(const struct impl *im, struct op_ctx *ctx, const struct measure_opts *opts,
                 double *samples, struct measure_result *out);

/* The kernel pass, apart from timing: KERNEL_PASS_RUNS samples (at most
 * KERNEL_PASS_SECONDS of them) flushed as opts->timing flushes, with CUPTI
 * Activity on. *kernel_ms is the median of the samples' summed kernel
 * durations (beside the event median it shows the launch overhead), *rows
 * the per-kernel breakdown (malloc'd; its names are the process's, never freed).
 * Returns SB_OK, or SB_ERROR with ctx->err. Unverified: never run on a GPU. */
#define KERNEL_PASS_RUNS 10
#define KERNEL_PASS_SECONDS 1.0
int measure_kernels(const struct impl *im, struct op_ctx *ctx, const struct measure_opts *opts,
                    double *kernel_ms, struct kernel_row **rows, int *n_rows);

/* The status of a timed result: "ok", "ok: few samples (n of MIN)" or
 * "ok: noisy (ci95 X% > T%)". */
void measure_status(const struct measure_opts *o, const struct measure_result *m, char *buf,
                    size_t n);

/* A noise as a percentage for people: "0.41%", "2.3%", "45%", "2600%". */
void noise_format(double noise, char *buf, size_t n);

/* Monotonic seconds. */
double now_seconds(void);

#endif
