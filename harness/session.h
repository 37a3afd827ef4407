/*
 * session.h — what every measuring command sets up: the device, the GPU
 * context, the store and the run row with its environment.
 */
#ifndef SEQBENCH_SESSION_H
#define SEQBENCH_SESSION_H

#include "ceilings.h"
#include "gpu.h"
#include "peaks.h"
#include "profile.h"
#include "runcase.h"
#include "seqbench.h"
#include "store.h"

#define DEFAULT_DB "results/bench.db"

struct session {
    char device[32];            /* "cpu" or "cuda:N" */
    int on_cpu;                 /* the device is cpu: only CPU implementations run */
    struct gpu_info gpu;        /* of cuda:N, or of cuda:0 when on the CPU */
    struct gpu_ctx *gctx;       /* NULL when no usable GPU */
    char no_gpu_reason[200];    /* why gctx is NULL */
    struct cpu_ceilings cpu;    /* the CPU's measured roofs; loaded on first use */
    double gpu_copy_bw;         /* measured device-to-device copy bytes/s; 0 unmeasured */
    struct store *store;        /* NULL with --no-db */
    int64_t run_id;
    struct profile_opts popts;  /* set between session_device and session_start */
    struct profiler prof;       /* CUPTI, NVML, the measured ceilings (profile.h) */
};

/* The device decides which implementations run: on cpu the CPU ones, on
 * cuda:N the GPU ones (each validated against the CPU reference); a run's
 * rows are all of its device.
 *
 * session_device picks it, before anything is stored. device_opt: NULL
 * (cuda:0 when this host has a GPU, gpu.host_has_gpu, else cpu), "cpu",
 * "cuda", "cuda:N". A cuda device on a host with no GPU at all is an error
 * (exit 2); on a host whose GPU cannot be used (a driver fault, a CPU-only
 * build, the fault hook in gpu.h) the device is still cuda:N, with no
 * context and the reason in no_gpu_reason, so its implementations are
 * recorded as skipped and the command exits 1 (session_gpu_ran).
 * session_start then loads the profiling instruments (s->popts: CUPTI
 * before the GPU context, so it sees the context made; --metrics checked,
 * EXIT_USAGE for an unknown metric before anything is stored), sets up the
 * GPU context, NVML and the measured ceilings, measures the host, opens the
 * store (db_path NULL: none) and begins the run. session_open does both.
 * Each prints one line and returns EXIT_USAGE/EXIT_FAIL on failure. */
int session_device(struct session *s, const char *device_opt);
int session_start(struct session *s, const char *db_path, const char *suite);
int session_open(struct session *s, const char *device_opt, const char *db_path,
                 const char *suite);

/* 1 when implementation im runs on the session's device. */
int session_runs_impl(const struct session *s, const struct impl *im);
/* The device that naming implementations with --impl implies when --device
 * is not given: "cpu" when every one of impls[0..n) is a CPU implementation,
 * else NULL (the default device). */
const char *session_implied_device(const struct impl *const *impls, int n);
/* The end of a command on a GPU device: when n_cases of its cases were GPU
 * cases and none ran (every one skipped), one line naming why and
 * EXIT_FAIL; else EXIT_OK. A cpu session is always EXIT_OK. */
int session_gpu_ran(const struct session *s, const char *cmd, int n_cases, int n_ran);
/* Marks the run finished and closes everything. */
void session_close(struct session *s);

/* The roofs a result of implementation im in dtype dt is measured against:
 * the CPU's measured ceilings (loaded on first use) for a CPU
 * implementation, the GPU's datasheet peaks (0: unknown) for a GPU one,
 * with the GPU's measured ceilings (calibrate.h) beside them. */
struct roof session_roof(struct session *s, const struct impl *im, enum dtype dt);

/* Fills r from this host, the GPU and the build; strings live in statics. */
void env_collect(const struct session *s, const char *suite, struct run_record *r);
/* Prints the environment (bench env), the roofs included. */
void env_print(struct session *s);
/* Prints the measured ceilings (bench env --calibrate). */
void env_print_ceilings(struct session *s);

#endif
