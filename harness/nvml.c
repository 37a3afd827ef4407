/*
 * nvml.c — see nvml.h. The declarations below are ours, written from
 * NVML's documented API (NVML_API_VERSION 13): the entry points, their
 * argument types (enums passed as int, which is how the C ABI passes them)
 * and the few constants used. tests/test_nvml.c runs all of this against a
 * fake libnvidia-ml.so.1 with canned answers; against a real driver it is
 * unverified.
 */
#include <dlfcn.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libload.h"
#include "measure.h"
#include "nvml.h"

typedef int nvmlReturn_t;                       /* NVML_SUCCESS = 0 */
typedef struct nvmlDevice_st *nvmlDevice_t;
enum { NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2 };                 /* nvmlClockType_t */
enum { NVML_CLOCK_ID_APP_CLOCK_TARGET = 1, NVML_CLOCK_ID_APP_CLOCK_DEFAULT = 2 }; /* nvmlClockId_t */
enum { NVML_TEMPERATURE_GPU = 0 };                             /* nvmlTemperatureSensors_t */
enum { NVML_FEATURE_ENABLED = 1 };                             /* nvmlEnableState_t */
#define NVML_NAME_LEN 96                                       /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */

struct nvml_lib {
    void *dl;
    char path[LIB_PATH_MAX];
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*driver_version)(char *, unsigned);
    nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *);
    nvmlReturn_t (*by_uuid)(const char *, nvmlDevice_t *);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned);
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned);
    nvmlReturn_t (*clock_info)(nvmlDevice_t, int, unsigned *);
    nvmlReturn_t (*max_clock)(nvmlDevice_t, int, unsigned *);
    nvmlReturn_t (*clock)(nvmlDevice_t, int, int, unsigned *);
    nvmlReturn_t (*default_app_clock)(nvmlDevice_t, int, unsigned *);
    nvmlReturn_t (*power_limit)(nvmlDevice_t, unsigned *);
    nvmlReturn_t (*power_usage)(nvmlDevice_t, unsigned *);
    nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long *);
    nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned *);
    nvmlReturn_t (*reasons)(nvmlDevice_t, unsigned long long *);
    nvmlReturn_t (*ecc)(nvmlDevice_t, int *, int *);
    nvmlReturn_t (*mig)(nvmlDevice_t, unsigned *, unsigned *);
    nvmlReturn_t (*persistence)(nvmlDevice_t, int *);
};

/* Entry points, in the order of struct nvml_lib; a required one missing
 * makes the library unusable, an optional one leaves its fields unknown.
 * Where NVML renamed a call, the old name is tried second. */
static const struct {
    const char *sym, *old_sym;
    size_t offset;
    int required;
} nvml_syms[] = {
#define SYM(field, sym, old, req) { sym, old, offsetof(struct nvml_lib, field), req }
    SYM(init, "nvmlInit_v2", NULL, 1),
    SYM(shutdown, "nvmlShutdown", NULL, 1),
    SYM(error_string, "nvmlErrorString", NULL, 1),
    SYM(driver_version, "nvmlSystemGetDriverVersion", NULL, 0),
    SYM(by_index, "nvmlDeviceGetHandleByIndex_v2", NULL, 1),
    SYM(by_uuid, "nvmlDeviceGetHandleByUUID", NULL, 0),
    SYM(name, "nvmlDeviceGetName", NULL, 0),
    SYM(uuid, "nvmlDeviceGetUUID", NULL, 0),
    SYM(clock_info, "nvmlDeviceGetClockInfo", NULL, 1),
    SYM(max_clock, "nvmlDeviceGetMaxClockInfo", NULL, 0),
    SYM(clock, "nvmlDeviceGetClock", NULL, 0),
    SYM(default_app_clock, "nvmlDeviceGetDefaultApplicationsClock", NULL, 0),
    SYM(power_limit, "nvmlDeviceGetEnforcedPowerLimit", NULL, 0),
    SYM(power_usage, "nvmlDeviceGetPowerUsage", NULL, 0),
    SYM(energy, "nvmlDeviceGetTotalEnergyConsumption", NULL, 0),
    SYM(temperature, "nvmlDeviceGetTemperature", NULL, 0),
    SYM(reasons, "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons", 0),
    SYM(ecc, "nvmlDeviceGetEccMode", NULL, 0),
    SYM(mig, "nvmlDeviceGetMigMode", NULL, 0),
    SYM(persistence, "nvmlDeviceGetPersistenceMode", NULL, 0),
#undef SYM
};

struct nvml_dev {
    struct nvml_lib *lib;
    nvmlDevice_t dev;
};

#define NVML_SONAME "libnvidia-ml.so.1"
static const struct lib_search nvml_search = {
    .what = "NVML", .soname = NVML_SONAME, .env_only = "SEQBENCH_NVML",
};

/* The process's NVML, loaded and initialised once (a failure is not
 * remembered). */
static struct nvml_lib *nvml_lib_get(char *why, size_t n)
{
    static struct nvml_lib lib;
    if (lib.dl)
        return &lib;
    struct nvml_lib tmp = { 0 };
    const char *only = lib_env_only(&nvml_search);
    char inner[600];
    void *dl = lib_dlopen("NVML", only ? only : NVML_SONAME, tmp.path, sizeof tmp.path,
                          only ? inner : why, only ? sizeof inner : n);
    if (!dl) {
        if (only)
            lib_env_why(nvml_search.env_only, inner, why, n);
        return NULL;
    }
    for (size_t i = 0; i < sizeof nvml_syms / sizeof nvml_syms[0]; i++) {
        void *f = dlsym(dl, nvml_syms[i].sym);
        if (!f && nvml_syms[i].old_sym)
            f = dlsym(dl, nvml_syms[i].old_sym);
        if (!f && nvml_syms[i].required) {
            snprintf(why, n, "NVML unusable (%s lacks %s)", tmp.path, nvml_syms[i].sym);
            dlclose(dl);
            return NULL;
        }
        memcpy((char *)&tmp + nvml_syms[i].offset, &f, sizeof f);
    }
    nvmlReturn_t r = tmp.init();
    if (r != 0) {
        snprintf(why, n, "nvmlInit_v2: %s (NVML error %d, %s)", tmp.error_string(r), r, tmp.path);
        dlclose(dl);
        return NULL;
    }
    tmp.dl = dl;
    lib = tmp;
    return &lib;
}

struct nvml_dev *nvml_open(const char *uuid, int index, char *why, size_t n)
{
    struct nvml_lib *lib = nvml_lib_get(why, n);
    if (!lib)
        return NULL;
    nvmlDevice_t dev = NULL;
    nvmlReturn_t r = uuid && *uuid && lib->by_uuid ? lib->by_uuid(uuid, &dev)
                                                   : lib->by_index((unsigned)index, &dev);
    if (r != 0) {
        if (uuid && *uuid && lib->by_uuid)
            snprintf(why, n, "no NVML device with UUID %s (%s)", uuid, lib->error_string(r));
        else
            snprintf(why, n, "no NVML device %d (%s)", index, lib->error_string(r));
        return NULL;
    }
    struct nvml_dev *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    d->lib = lib;
    d->dev = dev;
    return d;
}

void nvml_close(struct nvml_dev *d)
{
    free(d);        /* the library stays initialised for the process */
}

const char *nvml_path(const struct nvml_dev *d)
{
    return d->lib->path;
}

/* An unsigned answer as an int, or -1 when the call is missing or fails.
 * (A macro: the call must run before its out-parameter is read, which a
 * function's arguments would not guarantee.) */
#define ANSWER(fn, ...) (l->fn && l->fn(__VA_ARGS__, &v) == 0 ? (int)v : -1)

int nvml_read_state(struct nvml_dev *d, struct nvml_state *s)
{
    const struct nvml_lib *l = d->lib;
    unsigned v = 0, w = 0;
    unsigned long long reasons = 0;
    memset(s, 0, sizeof *s);
    if (!l->driver_version || l->driver_version(s->driver, sizeof s->driver) != 0)
        s->driver[0] = 0;
    if (!l->name || l->name(d->dev, s->name, sizeof s->name) != 0)
        s->name[0] = 0;
    if (!l->uuid || l->uuid(d->dev, s->uuid, sizeof s->uuid) != 0)
        s->uuid[0] = 0;
    s->sm_mhz = ANSWER(clock_info, d->dev, NVML_CLOCK_SM);
    s->mem_mhz = ANSWER(clock_info, d->dev, NVML_CLOCK_MEM);
    s->max_sm_mhz = ANSWER(max_clock, d->dev, NVML_CLOCK_SM);
    s->default_sm_mhz = ANSWER(clock, d->dev, NVML_CLOCK_SM, NVML_CLOCK_ID_APP_CLOCK_DEFAULT);
    if (s->default_sm_mhz < 0)
        s->default_sm_mhz = ANSWER(default_app_clock, d->dev, NVML_CLOCK_SM);
    s->app_sm_mhz = ANSWER(clock, d->dev, NVML_CLOCK_SM, NVML_CLOCK_ID_APP_CLOCK_TARGET);
    /* Locked: the applications clocks were set away from their default
     * (nvidia-smi -ac). NVML has no getter for nvidia-smi -lgc's lock. */
    s->clocks_locked = s->app_sm_mhz > 0 && s->default_sm_mhz > 0 ? s->app_sm_mhz != s->default_sm_mhz : -1;
    const int limit_mw = ANSWER(power_limit, d->dev), usage_mw = ANSWER(power_usage, d->dev);
    s->power_limit_w = limit_mw >= 0 ? limit_mw / 1e3 : NAN;
    s->power_w = usage_mw >= 0 ? usage_mw / 1e3 : NAN;
    s->temperature_c = ANSWER(temperature, d->dev, NVML_TEMPERATURE_GPU);
    int cur = 0, pend = 0;
    s->ecc = l->ecc && l->ecc(d->dev, &cur, &pend) == 0 ? cur == NVML_FEATURE_ENABLED : -1;
    s->mig = l->mig && l->mig(d->dev, &v, &w) == 0 ? v == 1 : -1;
    s->persistence = l->persistence && l->persistence(d->dev, &cur) == 0 ? cur == NVML_FEATURE_ENABLED : -1;
    s->reasons = l->reasons && l->reasons(d->dev, &reasons) == 0 ? (int64_t)reasons : -1;
    return 0;
}
#undef ANSWER

int nvml_sm_clock(struct nvml_dev *d, unsigned *mhz, uint64_t *reasons)
{
    unsigned long long r = 0;
    *mhz = 0;
    *reasons = 0;
    if (d->lib->clock_info(d->dev, NVML_CLOCK_SM, mhz) != 0) {
        *mhz = 0;
        return -1;
    }
    if (d->lib->reasons && d->lib->reasons(d->dev, &r) == 0)
        *reasons = r;
    return 0;
}

int nvml_energy_mj(struct nvml_dev *d, uint64_t *mj)
{
    unsigned long long v = 0;
    if (!d->lib->energy || d->lib->energy(d->dev, &v) != 0)
        return -1;
    *mj = v;
    return 0;
}

void nvml_reasons_text(uint64_t reasons, char *buf, size_t n)
{
    static const struct { uint64_t bit; const char *name; } names[] = {
        { NVML_REASON_GPU_IDLE, "gpu_idle" }, { NVML_REASON_APP_CLOCKS, "applications_clocks" },
        { NVML_REASON_SW_POWER_CAP, "sw_power_cap" }, { NVML_REASON_HW_SLOWDOWN, "hw_slowdown" },
        { NVML_REASON_SYNC_BOOST, "sync_boost" }, { NVML_REASON_SW_THERMAL, "sw_thermal" },
        { NVML_REASON_HW_THERMAL, "hw_thermal" }, { NVML_REASON_HW_POWER_BRAKE, "hw_power_brake" },
        { NVML_REASON_DISPLAY_CLOCKS, "display_clocks" },
    };
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((reasons & names[i].bit) && k < n)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? " " : "", names[i].name);
    uint64_t known = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        known |= names[i].bit;
    if ((reasons & ~known) && k < n)
        k += (size_t)snprintf(buf + k, n - k, "%s0x%llx", k ? " " : "",
                              (unsigned long long)(reasons & ~known));
    if (!k)
        snprintf(buf, n, "none");
}

/* ---- the throttle rule ------------------------------------------------------ */

void throttle_init(struct throttle *t, unsigned default_mhz)
{
    memset(t, 0, sizeof *t);
    t->threshold_mhz = THROTTLE_FRACTION * default_mhz;
}

int throttle_judge(struct throttle *t, unsigned before_mhz, unsigned after_mhz, uint64_t reasons)
{
    t->reasons |= reasons & ~NVML_REASON_GPU_IDLE;  /* idle before a sample is no slowdown */
    const unsigned low = before_mhz && after_mhz ? (before_mhz < after_mhz ? before_mhz : after_mhz)
                                                 : before_mhz ? before_mhz : after_mhz;
    if (low && t->threshold_mhz > 0 && low < t->threshold_mhz) {
        t->dropped++;
        t->recovery_s = t->recovery_s > 0 ? fmin(2 * t->recovery_s, THROTTLE_RECOVERY_MAX_S)
                                          : THROTTLE_RECOVERY_S;
        return 0;
    }
    t->recovery_s = 0;
    if (before_mhz && after_mhz) {
        t->clock_sum += 0.5 * ((double)before_mhz + after_mhz);
        t->clock_n++;
    } else if (low) {
        t->clock_sum += low;
        t->clock_n++;
    }
    return 1;
}

double throttle_mean_mhz(const struct throttle *t)
{
    return t->clock_n ? t->clock_sum / t->clock_n : NAN;
}

/* ---- energy --------------------------------------------------------------------- */

int nvml_energy_per_op(struct nvml_dev *d, int (*run)(void *), int (*sync)(void *), void *arg,
                       double min_seconds, double *j_per_op, double *watts, char *err, size_t n)
{
    uint64_t e0 = 0, e1 = 0;
    long runs = 0;
    *j_per_op = *watts = NAN;
    if (sync(arg) != 0) {
        snprintf(err, n, "energy: the op failed before the loop");
        return -1;
    }
    if (nvml_energy_mj(d, &e0) != 0) {
        snprintf(err, n, "energy: this GPU has no total-energy counter "
                 "(nvmlDeviceGetTotalEnergyConsumption: Volta or newer)");
        return -1;
    }
    const double t0 = now_seconds();
    double t;
    /* Launches are queued in batches and waited for, so the host never
     * runs far ahead of the GPU and the loop's time is the GPU's. */
    do {
        for (int i = 0; i < 16; i++, runs++)
            if (run(arg) != 0) {
                snprintf(err, n, "energy: run %ld of the loop failed", runs + 1);
                return -1;
            }
        if (sync(arg) != 0) {
            snprintf(err, n, "energy: the loop failed");
            return -1;
        }
        t = now_seconds() - t0;
    } while (t < min_seconds);
    if (nvml_energy_mj(d, &e1) != 0 || e1 < e0) {
        snprintf(err, n, "energy: the counter could not be read after the loop");
        return -1;
    }
    *j_per_op = (double)(e1 - e0) * 1e-3 / (double)runs;
    *watts = (double)(e1 - e0) * 1e-3 / t;
    return 0;
}
