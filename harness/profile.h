/*
 * profile.h — what a session measures beyond the timed samples, and the
 * passes apart from timing that measure it for each GPU case:
 *
 *   CUPTI Activity (cupti.h)  every case: the op's kernels (kernel_ms beside
 *                             the event time, the per-kernel breakdown);
 *   CUPTI counters (counters.h) with --metrics: one replay pass;
 *   NVML (nvml.h)             the GPU's state with the run, clocks around
 *                             every sample (throttled samples dropped), and
 *                             with --energy the energy per op;
 *   measured ceilings (calibrate.h) with every run, for % of the measured
 *                             roof beside % of the datasheet's.
 *
 * Degrade, never fail: whatever is missing (no CUPTI, counters refused by
 * the driver, no NVML) leaves its fields NULL with the reason stored
 * (counters_why, energy_why, runs.nvml_why) and, once per session, one line
 * on stderr naming the fix; timing goes on.
 */
#ifndef SEQBENCH_PROFILE_H
#define SEQBENCH_PROFILE_H

#include "calibrate.h"
#include "counters.h"
#include "measure.h"
#include "nvml.h"

struct case_result;
struct gpu_ctx;
struct gpu_info;

/* The options `bench run` and `bench suite` share. */
struct profile_opts {
    const char *metrics;        /* --metrics LIST: NULL none, "default", or names */
    int energy;                 /* --energy */
    int calibrate;              /* ceilings: 0 the cache only, 1 measure when not cached,
                                   2 measure afresh (bench env --calibrate) */
};
#define N_PROFILE_OPTS 2
#define PROFILE_OPTS(p)                                                                           \
    OPT("metrics", OPT_STRING, &(p).metrics, "LIST",                                              \
        "GPU hardware counters, in a CUPTI kernel-replay pass apart from timing: 'default' "      \
        "(DRAM bytes read and written, L2 bytes, tensor-pipe %, DRAM throughput %) or a comma "   \
        "list of CUPTI metric names; the names are checked and the passes printed first"),       \
    OPT("energy", OPT_FLAG, &(p).energy, NULL,                                                   \
        "GPU energy per op (J) from NVML's energy counter over a steady loop of at least 1 s")

struct profiler {
    struct cupti *cupti;        /* NULL: cupti_why */
    char cupti_why[300];
    int metrics;                /* --metrics given */
    int counters_on;            /* the counter pass runs */
    struct counter_set counters;
    char counters_why[400];     /* why not, when metrics && !counters_on */
    const char *counters_fix;   /* the line that tells what to change, or NULL */
    void *cuctx;                /* the CUcontext the Range Profiler needs */
    uint8_t *avail;             /* the device's counter-availability image, kept while the
                                   configuration built from it is in use */
    struct nvml_dev *nvml;      /* NULL: nvml_why */
    char nvml_why[300];
    struct nvml_state state;    /* when the session began (nvml != NULL) */
    int energy;                 /* --energy */
    struct gpu_ceilings ceil;   /* measured ceilings (ceil.loaded) */
};

/* Before the GPU context exists: CUPTI loaded for a GPU session (it must
 * see the context being made) or for --metrics, whose names are then checked
 * against the device's chip (from its compute capability; GH100 when there
 * is no GPU) and whose passes are printed. Returns EXIT_USAGE after one line
 * for an unknown metric or a malformed list; EXIT_OK otherwise, whatever is
 * missing. */
int profile_prepare(struct profiler *p, const struct profile_opts *o, const struct gpu_info *gpu,
                    int gpu_session);
/* Once the GPU context exists (g NULL: none): NVML by the GPU's UUID, the
 * counters' permission probe (one line naming the fix when refused), the
 * measured ceilings (o->calibrate). Never fails. */
void profile_attach(struct profiler *p, const struct profile_opts *o, struct gpu_ctx *g,
                    const struct gpu_info *gpu);
void profile_close(struct profiler *p);

/* The instruments measure_case uses (NVML clocks, CUPTI for --timing
 * kernel). p may be NULL. */
void profile_measure_opts(const struct profiler *p, struct measure_opts *o);

/* A timed GPU case's passes apart from timing, into res: the kernel pass,
 * the counter pass, the energy loop; each missing one's reason in
 * counters_why / energy_why. */
void profile_case(struct profiler *p, const struct impl *im, struct op_ctx *ctx,
                  const struct measure_opts *o, struct case_result *res);

/* The counters' columns and JSON from values[cs->n] (pure: tests use it). */
void profile_counters_store(const struct counter_set *cs, const double *values,
                            struct case_result *res);

/* bench env's rows: CUPTI, NVML and the GPU's state, the measured
 * ceilings; and bench env --calibrate's table of them. */
void profile_env_print(const struct profiler *p);
void profile_print_ceilings(const struct profiler *p);

/* runs.calibration_json: the GPU's measured ceilings and the CPU's. */
void profile_calibration_json(const struct profiler *p, double cpu_flops, double cpu_bytes_s,
                              char *buf, size_t n);

#endif
