/*
 * session.h — what every measuring command sets up: the device, the GPU
 * context, the store and the run row with its environment.
 */
#ifndef SEQBENCH_SESSION_H
#define SEQBENCH_SESSION_H

#include "ceilings.h"
#include "devlock.h"
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
    /* Set between session_device and session_start by the command. */
    double lock_wait_s;         /* seconds to wait for the device lock; < 0 (the default): as
                                   long as it takes */
    int no_lock;                /* take no device lock: a command that times nothing, or an
                                   isolated case's child (its parent holds the lock) */
    int unfinished;             /* session_close leaves the run unfinished (finished_at NULL):
                                   a suite that stopped before its last case */
    const char *config;         /* the run's configuration (runs.config); NULL: none */
    int resume;                 /* continue the latest unfinished run of config if there is one */
    /* Set by session_start when config is set. */
    int resumed;                /* run_id is that earlier run, continued */
    char open_uid[40];          /* the unfinished run's run_uid (resumed, or only found); "" none */
    /* Set by session_device / session_device_isolated. */
    int isolated;               /* GPU work runs in children (isolate.h): no CUDA in this process */
    int probe_usable;           /* isolated: the probe child could set the GPU up */
    int gpu_usable;             /* set by session_start: the device's GPU implementations can
                                   run (a context here, or the probe's word when isolated) */
    struct devlock lock;        /* the device's, held from session_start to session_close */
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
/* The same for a process whose cases run in children (isolate.h): the GPU
 * is probed in a child, so this process never initialises CUDA, and
 * session_start sets up no context (gctx stays NULL; gpu_usable says
 * whether the children can). */
int session_device_isolated(struct session *s, const char *device_opt);
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
/* Marks the run finished (unless s->unfinished), lets the device lock go
 * and closes everything. session_start takes the device lock (devlock.h)
 * first, before it measures anything, unless s->no_lock; a lock it could
 * not get is one line and EXIT_USAGE. session_open sets no_lock: its
 * commands time nothing. */
void session_close(struct session *s);

/* The roofs a result of implementation im in dtype dt is measured against:
 * the CPU's measured ceilings (loaded on first use) for a CPU
 * implementation, the GPU's datasheet peaks (0: unknown) for a GPU one,
 * with the GPU's measured ceilings (calibrate.h) beside them. */
struct roof session_roof(struct session *s, const struct impl *im, enum dtype dt);

/* A run's configuration (runs.config), which `bench suite --resume`
 * matches: what (the command's part: suite, shard, timing, seed, ...)
 * followed by the device, the GPU's UUID, the host, the commit and the
 * input version. */
void session_config(const struct session *s, const char *what, char *buf, size_t n);

/* Fills r from this host, the GPU and the build; strings live in statics. */
void env_collect(const struct session *s, const char *suite, struct run_record *r);
/* Prints the environment (bench env), the roofs included. */
void env_print(struct session *s);
/* Prints the measured ceilings (bench env --calibrate). */
void env_print_ceilings(struct session *s);

#endif
