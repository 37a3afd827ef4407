/*
 * nvml.h — the GPU's state through NVML, the driver's management library,
 * loaded at run time from libnvidia-ml.so.1 (it ships with the driver, not
 * the toolkit: there is no nvml.h to build against, so nvml.c declares the
 * few entry points it calls itself). Without it everything still runs; the
 * state is NULL with the reason stored.
 *
 * What it gives the harness:
 *   - the state stored with a run (driver, clocks and whether they are
 *     locked, power limit, temperature, ECC, MIG, persistence);
 *   - the SM clock and the clocks-event ("throttle") reasons around every
 *     GPU sample, read after the stop event is synchronised so the timed
 *     region never waits on NVML; a sample taken under a throttled clock
 *     is dropped (nvbench's rule, struct throttle below);
 *   - the total-energy counter, for energy per op (--energy).
 *
 * Where the library is looked for: $SEQBENCH_NVML (one file, nothing else
 * tried), then dlopen("libnvidia-ml.so.1") (the loader's path: the driver
 * installs it there).
 */
#ifndef SEQBENCH_NVML_H
#define SEQBENCH_NVML_H

#include <stddef.h>
#include <stdint.h>

/* Clocks-event reasons (NVML's nvmlClocksEventReason* bits). */
#define NVML_REASON_GPU_IDLE 0x1ull
#define NVML_REASON_APP_CLOCKS 0x2ull
#define NVML_REASON_SW_POWER_CAP 0x4ull
#define NVML_REASON_HW_SLOWDOWN 0x8ull
#define NVML_REASON_SYNC_BOOST 0x10ull
#define NVML_REASON_SW_THERMAL 0x20ull
#define NVML_REASON_HW_THERMAL 0x40ull
#define NVML_REASON_HW_POWER_BRAKE 0x80ull
#define NVML_REASON_DISPLAY_CLOCKS 0x100ull

/* A run's GPU state; -1 (or NAN, "") where NVML does not answer. */
struct nvml_state {
    char driver[32];            /* "580.65.06" */
    char name[96];
    char uuid[96];              /* "GPU-..." as the CUDA runtime spells it */
    int sm_mhz, mem_mhz;        /* now */
    int max_sm_mhz;             /* the most the SM clock may reach */
    int default_sm_mhz;         /* the default applications clock: the throttle rule's base */
    int app_sm_mhz;             /* the applications clock set now */
    int clocks_locked;          /* 1: applications clocks set away from the default */
    double power_limit_w;       /* enforced */
    double power_w;             /* drawn now */
    int temperature_c;
    int ecc, mig, persistence;  /* 1 on, 0 off */
    int64_t reasons;            /* clocks-event reasons now */
};

struct nvml_dev;

/* Loads NVML (once per process), initialises it and finds the device whose
 * UUID is uuid (when not empty; else the index-th). NULL with one line in
 * why: "NVML not found (...)", "NVML unusable (...)", "nvmlInit_v2: ...",
 * "no NVML device with UUID ...". */
struct nvml_dev *nvml_open(const char *uuid, int index, char *why, size_t n);
void nvml_close(struct nvml_dev *d);
/* The file loaded. */
const char *nvml_path(const struct nvml_dev *d);

/* Every field NVML answers. Returns 0. */
int nvml_read_state(struct nvml_dev *d, struct nvml_state *s);
/* The SM clock (MHz) and the clocks-event reasons now; 0, or -1 when NVML
 * does not answer (*mhz 0). Cheap enough for every sample. */
int nvml_sm_clock(struct nvml_dev *d, unsigned *mhz, uint64_t *reasons);
/* The total-energy counter in mJ (since the driver loaded); 0, or -1. */
int nvml_energy_mj(struct nvml_dev *d, uint64_t *mj);

/* "sw_power_cap hw_slowdown" for the set bits ("none" for 0). */
void nvml_reasons_text(uint64_t reasons, char *buf, size_t n);

/* nvbench's throttle rule: a sample during which the SM clock was under
 * THROTTLE_FRACTION of the default clock is dropped, and the next sample
 * waits recovery_s first (THROTTLE_RECOVERY_S, doubling while samples keep
 * being dropped, up to THROTTLE_RECOVERY_MAX_S). */
#define THROTTLE_FRACTION 0.75
#define THROTTLE_RECOVERY_S 0.05
#define THROTTLE_RECOVERY_MAX_S 1.0
struct throttle {
    double threshold_mhz;       /* THROTTLE_FRACTION x the default clock; 0: no rule */
    int dropped;                /* samples dropped */
    uint64_t reasons;           /* every reason seen around a sample (idle excepted) */
    double clock_sum;           /* over the kept samples, for the mean */
    int clock_n;
    double recovery_s;          /* the wait before the next sample; 0 none */
};
void throttle_init(struct throttle *t, unsigned default_mhz);
/* The clocks read before and after one sample (0: unknown): 1 keep it, 0
 * drop it (then sleep t->recovery_s before the next). */
int throttle_judge(struct throttle *t, unsigned before_mhz, unsigned after_mhz, uint64_t reasons);
/* The mean SM clock over the kept samples; NAN when none was read. */
double throttle_mean_mhz(const struct throttle *t);

/* Energy per op: runs run(arg) back to back (no flush, no blocking kernel:
 * a steady load) for at least min_seconds, sync(arg) waiting for the last,
 * with the total-energy counter read before and after. *j_per_op and
 * *watts (the mean power) on success; 0, or -1 with err. The counter
 * updates every few ms to 100 ms depending on the GPU; min_seconds >= 1
 * keeps that under a tenth of the total. */
#define ENERGY_MIN_SECONDS 1.0
int nvml_energy_per_op(struct nvml_dev *d, int (*run)(void *), int (*sync)(void *), void *arg,
                       double min_seconds, double *j_per_op, double *watts, char *err, size_t n);

#endif
