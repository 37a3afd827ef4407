/*
 * counters.h — hardware counters through CUPTI's Range Profiler
 * (harness/cupti_counters.c), in a pass apart from timing: the op runs once
 * with CUPTI replaying each kernel as many passes as the metrics need
 * (kernel replay, saving and restoring memory), each kernel its own range
 * (auto range). Never a latency: a replayed kernel is timed alone, with its
 * caches as the replay leaves them.
 *
 * The host half (names, the configuration image, the pass count) needs no
 * GPU, only libcupti and its libnvperf_host: names are checked against a
 * chip before anything runs, and a test checks the default set per chip.
 */
#ifndef SEQBENCH_COUNTERS_H
#define SEQBENCH_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "cupti.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COUNTERS_MAX 32             /* metrics in one set */
#define COUNTERS_MAX_RANGES 256     /* kernels of one run() under auto range */
/* Always measured: it weights the per-kernel averages (a % of peak over
 * several kernels is their duration-weighted mean). */
#define COUNTERS_DURATION "gpu__time_duration.sum"

/* The default set, with the result column each fills: single-pass on GH100,
 * GA100 and AD102 (tests/test_cupti.c checks). */
struct counter_metric {
    const char *metric;         /* CUPTI's name */
    const char *column;         /* results column; NULL: counters_json only */
    const char *unit;
    const char *description;
};
extern const struct counter_metric counter_defaults[];
extern const int n_counter_defaults;

/* How a metric's per-kernel values become the op's: summed (counts, bytes,
 * durations), a duration-weighted mean (rates, ratios, % of peak), the
 * largest or the smallest. From the rollup in the name (".sum", ".avg",
 * ".pct_of_...", ".per_second", ".max", ".min"). */
enum counter_combine { COMBINE_SUM, COMBINE_MEAN, COMBINE_MAX, COMBINE_MIN };
enum counter_combine counter_combine_of(const char *metric);

/* values[m] from per_range[r * n + m] over ranges r (duration[r] each, the
 * weights of a mean); NAN when no range has it. */
void counters_combine(const char *const *names, int n, const double *per_range, int ranges,
                      const double *duration, double *values);

struct counter_set {
    char *names[COUNTERS_MAX];  /* malloc'd */
    int n;
    char chip[32];              /* what it was prepared for: "GH100" */
    size_t passes;              /* per kernel, under kernel replay */
    uint8_t *config;            /* the configuration image */
    size_t config_size;
    void *host;                 /* CUpti_Profiler_Host_Object* that evaluates the data */
};

/* Reads "default" (or NULL) as the default set, else a comma list of
 * metric names; COUNTERS_DURATION is appended when missing. 0, or -1 with
 * one line in err (an empty name, too many). */
int counter_set_parse(struct counter_set *cs, const char *list, char *err, size_t n);
void counter_set_free(struct counter_set *cs);

/* The host half, no GPU needed: every name checked on chip (an unknown one
 * is named in err), the configuration image built and its passes counted.
 * avail: the device's counter-availability image (counters_probe), or NULL.
 * 0, or -1 with err. */
int counter_set_prepare(struct cupti *c, struct counter_set *cs, const char *chip,
                        const uint8_t *avail, char *err, size_t n);

/* The chips the host API knows ("GV100" ... "GB20B"): *chips points into
 * CUPTI. Returns how many, or -1 with err. */
int counters_supported_chips(struct cupti *c, const char *const **chips, char *err, size_t n);

/* The CUPTI chip name of a compute capability (9.0 -> "GH100"): the chip a
 * metric list is checked against before the device answers. NULL unknown. */
const char *counters_chip_of_cc(int major, int minor);

/* The GPU half. counters_probe: the device's chip name and whether it lets
 * this process read counters (profiler initialise, device supported,
 * counter availability). Returns 0 with *avail (malloc'd; free it), or the
 * CUPTI result that refused (35: not permitted, ...) with one line in why
 * (cupti_reason's text) and *fix the line that tells what to change (or
 * NULL). cuctx: the CUcontext (gpu_cu_context). */
int counters_probe(struct cupti *c, void *cuctx, int device, char *chip, size_t cn,
                   uint8_t **avail, char *why, size_t n, const char **fix);

/* Runs launch(arg) (which queues the op and waits for it) under the Range
 * Profiler and fills values[0..cs->n) with the op's totals (counters_combine);
 * *ranges: the kernels seen. 0, or -1 with err. Unverified: never run on a
 * GPU. */
int counters_measure(struct cupti *c, const struct counter_set *cs, void *cuctx,
                     int (*launch)(void *), void *arg, double *values, int *ranges, char *err,
                     size_t n);

#ifdef __cplusplus
}
#endif

#endif
