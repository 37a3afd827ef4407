/*
 * store.h — the SQLite result store (results/bench.db by default).
 *
 * WAL mode, a busy timeout, bound parameters only, one transaction per
 * result (an interrupted run loses nothing already measured), and numbered
 * forward migrations tracked in PRAGMA user_version. A database from a newer
 * seqbench, a corrupt file (one that fails PRAGMA quick_check) or an
 * unwritable path is refused with one line in err, and the file is left
 * exactly as it was.
 *
 * Several processes may write one database (two benches, or an isolated
 * suite and its case children): every write is a BEGIN IMMEDIATE that, when
 * another connection holds the write lock past the busy timeout, says so on
 * stderr and keeps waiting. A finished result is never dropped because the
 * database was busy.
 */
#ifndef SEQBENCH_STORE_H
#define SEQBENCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 7   /* the user_version this build writes */

struct store;

/* Everything a run records about where and how it ran. NULL strings are
 * stored as NULL. run_uid is generated (32 hex chars) when NULL. */
struct run_record {
    const char *run_uid;
    const char *started_at;     /* ISO 8601 UTC; now when NULL */
    const char *suite;          /* NULL for `bench run` */
    const char *command;        /* the whole command line */
    const char *seqbench_version;
    const char *git_commit;
    const char *build_flags;
    const char *hostname;
    const char *cpu_model;
    int cpu_threads;
    const char *device;         /* "cpu" or "cuda:0" */
    const char *gpu_name;
    const char *gpu_uuid;
    int gpu_sms;                /* 0 when no GPU */
    const char *gpu_cc;         /* "9.0" */
    int64_t gpu_mem_bytes;
    int64_t gpu_l2_bytes;
    int gpu_clock_khz;
    int driver_version;         /* CUDA driver API version (cudaDriverGetVersion, 13000); 0 none */
    int runtime_version;        /* CUDA runtime API version (cudaRuntimeGetVersion) */
    const char *driver_release; /* the kernel driver's release, "580.65.06"; NULL unknown */
    const char *cublas_version; /* "13.0.0" of the cuBLAS loaded; NULL none */
    const char *nvcc_version;   /* "13.0.48" of the nvcc that built bench; NULL CPU-only build */
    int input_version;          /* SB_INPUT_VERSION: bumped whenever any family's inputs() changes */
    double peak_tflops;         /* of the run's device and main dtype; 0 unknown */
    double peak_gbps;
    const char *env_json;       /* anything else, as a JSON object */
    /* Schema 6: the GPU's state from NVML when the run began (-1 / NAN /
     * NULL unknown: no NVML, a CPU run, a query the GPU does not answer),
     * and the measured ceilings. */
    int gpu_sm_clock_mhz;       /* current SM clock */
    int gpu_mem_clock_mhz;      /* current memory clock */
    int gpu_max_sm_clock_mhz;   /* the highest SM clock the GPU may run at */
    int gpu_default_sm_clock_mhz; /* default applications clock: the 75 % throttle rule's base */
    int clocks_locked;          /* 1 applications clocks set away from the default, 0 not */
    double power_limit_w;       /* enforced power limit */
    int temperature_c;
    int ecc_enabled, mig_enabled, persistence_enabled;   /* 1 on, 0 off */
    int64_t throttle_reasons;   /* NVML clocks-event reasons when the run began (bit mask) */
    const char *nvml_why;       /* why the NVML fields are NULL; NULL when they are not */
    const char *calibration_json; /* the measured ceilings (bench env --calibrate), JSON */
    /* Schema 7. */
    const char *config;         /* what `bench suite --resume` matches: the suite file's hash,
                                   device, shard, timing, seed, commit, ...; NULL for bench run */
};

/* One kernel of a case's per-kernel breakdown (CUPTI Activity): the op's
 * launches grouped by name and launch configuration. */
struct kernel_row {
    const char *name;           /* as CUPTI names it (mangled for C++ kernels) */
    int grid[3], block[3];
    int registers;              /* per thread */
    int64_t shared_bytes;       /* static + dynamic per block */
    double duration_ns;         /* mean of one launch */
    double count;               /* launches per run() (the mean over the profiled runs) */
};

/* One measured (or skipped) case. Doubles that do not apply are NAN and are
 * stored as NULL. */
struct result_record {
    const char *case_str;       /* canonical, with impl: "flash/cpu fp32 B=1 ..." */
    const char *case_key;       /* canonical, shape only: "flash fp32 B=1 ..." */
    const char *family;
    const char *impl;
    const char *device;         /* "cpu", "cuda:0" */
    const char *dtype;
    int64_t B, N, Nk, H, Hkv, D, Dv, causal;
    const char *status;         /* "ok", "ok: few samples (n of 10)", "ok: noisy (...)",
                                   "mismatch", "skipped: ...", "oom", "error: ..." */
    const char *error;          /* detail for mismatch/error, else NULL */
    double rel_err;             /* relative L2 error over checked rows */
    double max_abs_err;
    int64_t rows_checked, rows_total;
    double flops;               /* family formula */
    double min_bytes;           /* compulsory traffic */
    int64_t footprint_bytes;    /* peak tracked device (or host) bytes; -1 unknown */
    double median_ms, min_ms, p10_ms, p90_ms, mean_ms, stdev_ms;
    int n_samples;
    double tflops, gbps, pct_peak;
    int l2_flush;               /* 1 cold, 0 warm, -1 not applicable (CPU) */
    double kernel_ms;           /* CUPTI kernel time; NAN until profiling */
    const char *shape_json;     /* every shape field the family reads, {"B":1,...,"gate":"key"} */
    double flops_minimal;       /* the definition's count where flops counts more work (the
                                   recurrent families' recurrent count); else = flops */
    uint64_t seed;
    /* Schema 4: the stopping rule, the roofline bound, the executed work,
     * the per-head error. NAN / NULL / -1 where they do not apply. */
    double noise;               /* final robust relative noise of the median */
    const char *stop_reason;    /* why sampling stopped: "target", "max_time", "max_samples" */
    const char *timing;         /* "cold", "warm", "graph" (GPU), "cpu" */
    double pct_bound;           /* headline: time needed at the binding roof / measured time, % */
    double pct_compute;         /* algorithmic FLOP/s / compute roof, % */
    double pct_bandwidth;       /* compulsory bytes/s / bandwidth roof, % */
    const char *bound;          /* "compute" or "bandwidth": the roof that binds */
    double roof_flops;          /* the compute roof used, FLOP/s */
    double roof_bytes_s;        /* the bandwidth roof used, bytes/s */
    double flops_executed;      /* what the implementation's tiles compute (>= flops) */
    double worst_rel_err;       /* relative L2 error of the worst (row, head) */
    int64_t worst_row;          /* that row; -1 unknown */
    int64_t worst_head;         /* that head; -1 unknown */
    double validate_s;          /* seconds the reference check took */
    double recheck_rel_err;     /* the sampled rows re-checked after timing */
    /* Schema 5. */
    const char *impl_info;      /* what the implementation chose at setup, JSON (flash/cudnn:
                                   {"graph":"composite","cudnn":"9.19.0",...}); NULL none */
    /* Schema 6: profiling (harness/profile.h). NAN / NULL / -1 where they
     * do not apply or were not measured; the *_why fields say why. */
    double dram_read_bytes;     /* CUPTI counters, summed over the op's kernels */
    double dram_write_bytes;
    double l2_bytes;
    double tensor_util_pct;     /* tensor pipe active, % of peak, duration-weighted */
    double dram_pct;            /* DRAM throughput, % of peak, duration-weighted */
    const char *counters_json;  /* every metric measured, {"name": value, ...} */
    const char *counters_why;   /* why kernel_ms or the counters are NULL (CUPTI absent, ...) */
    double energy_j_per_op;     /* NVML total energy over a steady loop / runs */
    double power_w;             /* the loop's mean power */
    const char *energy_why;     /* why energy is NULL when --energy asked for it */
    int throttled_samples;      /* samples dropped as taken under a throttled clock; -1 unknown */
    int64_t throttle_reasons;   /* NVML clocks-event reasons seen while sampling; -1 unknown */
    double sm_clock_mhz;        /* mean SM clock over the kept samples */
    int64_t footprint_predicted; /* bytes predicted before the case ran (skip-before-OOM) */
    int64_t pool_peak_bytes;    /* GPU: the harness pool's used high-water mark */
    int64_t meminfo_bytes;      /* GPU: device memory the case took (cudaMemGetInfo), libraries too */
    int64_t host_peak_bytes;    /* peak resident growth of the process during the case */
    double pct_bound_measured;  /* % of bound against the measured ceilings */
    double roof_flops_measured; /* those ceilings, FLOP/s and bytes/s */
    double roof_bytes_s_measured;
    const struct kernel_row *kernels;   /* the per-kernel breakdown, n_kernels rows */
    int n_kernels;
    /* Schema 7. */
    int64_t started_at_ms;      /* when the case began and its result was complete, in ms */
    int64_t finished_at_ms;     /* since the Unix epoch (CLOCK_REALTIME); 0: NULL */
};

/* "ok" or "ok: <why the number is less reliable>": the case matched and was
 * timed (or verified). Only plain "ok" is reliable enough to compare. */
int status_is_ok(const char *status);
int status_is_reliable(const char *status);

/* Opens (creating if needed), checks (PRAGMA quick_check) and migrates to
 * STORE_SCHEMA_VERSION. NULL on failure with err set, e.g. "x.db: not a
 * SQLite database", "x.db: corrupt: ...". */
struct store *store_open(const char *path, char *err, size_t n);
/* The same without the quick_check, whose cost grows with the file: for a
 * process its parent started right after it checked the same file (an
 * isolated suite's case children). */
struct store *store_open_checked_by_parent(const char *path, char *err, size_t n);
void store_close(struct store *st);
int store_user_version(struct store *st);

/* Returns 0 and *run_id on success, -1 with err otherwise. */
int store_begin_run(struct store *st, const struct run_record *r, int64_t *run_id,
                    char *err, size_t n);
/* Sets finished_at = now: the run did all it was asked. A run whose
 * finished_at stays NULL did not finish (killed, interrupted); compare,
 * report and export leave it out unless asked. */
int store_finish_run(struct store *st, int64_t run_id, char *err, size_t n);
/* The latest run (by id) with this config whose finished_at is NULL: 1 with
 * its id and run_uid (33 bytes), 0 when there is none, -1 with err. */
int store_find_unfinished(struct store *st, const char *config, int64_t *run_id, char *uid,
                          size_t uid_n, char *err, size_t n);
/* The result of case_str in run run_id: 1 with its id (and its status into
 * status[0..sn) when status is not NULL), 0 when the run has none, -1 with
 * err. */
int store_find_result(struct store *st, int64_t run_id, const char *case_str, int64_t *result_id,
                      char *status, size_t sn, char *err, size_t n);
/* The result, all its samples and its kernels in one transaction. */
int store_insert_result(struct store *st, int64_t run_id, const struct result_record *r,
                        const double *samples_ms, int n_samples, char *err, size_t n);
/* The same, deleting result replace_id (of run run_id, with its samples)
 * in the same transaction: `bench suite --retry-failed`'s new result for
 * a case stored as an error. replace_id 0 replaces nothing. */
int store_replace_result(struct store *st, int64_t run_id, int64_t replace_id,
                         const struct result_record *r, const double *samples_ms, int n_samples,
                         char *err, size_t n);
/* Reads result id back into r: every field the table and its profiling
 * line show (the case, status, error, times, throughput, % of bound, noise,
 * samples count, counters, energy, memory, the start and finish; the
 * kernels counted into n_kernels, not read). Its strings are copied into
 * text[0..text_n) and r points into it (one that does not fit is NULL);
 * fields not read are NAN / NULL / -1. 0, or -1 with err. */
int store_load_result(struct store *st, int64_t result_id, struct result_record *r, char *text,
                      size_t text_n, char *err, size_t n);

/* Now, in ms since the Unix epoch (CLOCK_REALTIME): results' started_at and
 * finished_at, comparable across processes and hosts. */
int64_t store_now_ms(void);

/* For tests and tools: the underlying sqlite3 handle. */
struct sqlite3 *store_db(struct store *st);

/* Migration steps, exposed so tests can build an old database:
 * store_migration_sql[i] takes user_version i to i+1. */
extern const char *const store_migration_sql[STORE_SCHEMA_VERSION];

#endif
