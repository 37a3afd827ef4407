/*
 * fake_nvml.c — a stand-in libnvidia-ml.so.1 for tests/test_nvml.c: the
 * entry points harness/nvml.c calls, with canned answers, so the loader,
 * the parsing, the throttle rule and the energy arithmetic run for real on
 * a machine without a GPU. Built by the Makefile into bin/tests/fake/.
 *
 *   FAKE_NVML_SM_CLOCKS  "1980,900,1980": the SM clock each successive
 *                        nvmlDeviceGetClockInfo(SM) answers (the last one
 *                        repeats); default 1980. A clock under 1500 comes
 *                        with the sw_power_cap reason (0x4), else gpu_idle.
 *   FAKE_NVML_FAIL_INIT  set: nvmlInit_v2 fails (NVML_ERROR_DRIVER_NOT_LOADED).
 * The energy counter starts at 10^6 mJ and grows 5000 mJ per read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake_device *nvmlDevice_t;
static struct fake_device { int index; } dev0;
static unsigned long long energy_mj = 1000000;
static int clock_call;
static unsigned current_clock = 1980;

int nvmlInit_v2(void) { return getenv("FAKE_NVML_FAIL_INIT") ? 9 : 0; }
int nvmlShutdown(void) { return 0; }
const char *nvmlErrorString(int r) { return r == 9 ? "Driver Not Loaded" : r ? "Unknown Error" : "Success"; }
int nvmlSystemGetDriverVersion(char *v, unsigned n) { snprintf(v, n, "580.65.06"); return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d)
{
    if (i != 0)
        return 2;                               /* NVML_ERROR_INVALID_ARGUMENT */
    *d = &dev0;
    return 0;
}
int nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *d)
{
    if (strcmp(uuid, "GPU-fake-0000") != 0)
        return 6;                               /* NVML_ERROR_NOT_FOUND */
    *d = &dev0;
    return 0;
}
int nvmlDeviceGetName(nvmlDevice_t d, char *s, unsigned n) { (void)d; snprintf(s, n, "NVIDIA H100 80GB HBM3"); return 0; }
int nvmlDeviceGetUUID(nvmlDevice_t d, char *s, unsigned n) { (void)d; snprintf(s, n, "GPU-fake-0000"); return 0; }

/* The next scripted SM clock. */
static unsigned next_clock(void)
{
    const char *list = getenv("FAKE_NVML_SM_CLOCKS");
    if (!list || !*list)
        return current_clock;
    const char *p = list;
    for (int i = 0; i < clock_call && strchr(p, ','); i++)
        p = strchr(p, ',') + 1;
    clock_call++;
    return current_clock = (unsigned)strtoul(p, NULL, 10);
}

int nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned *mhz)
{
    (void)d;
    *mhz = type == 1 ? next_clock() : type == 2 ? 2619 : 1980;     /* SM, memory, graphics */
    return 0;
}
int nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, int type, unsigned *mhz) { (void)d; *mhz = type == 2 ? 2619 : 1980; return 0; }
int nvmlDeviceGetClock(nvmlDevice_t d, int type, int id, unsigned *mhz)
{
    (void)d;
    if (type != 1)
        return 3;                               /* NVML_ERROR_NOT_SUPPORTED */
    *mhz = id == 1 ? 1755 : 1980;               /* applications clocks set: target 1755, default 1980 */
    return 0;
}
int nvmlDeviceGetDefaultApplicationsClock(nvmlDevice_t d, int type, unsigned *mhz) { (void)d, (void)type; *mhz = 1980; return 0; }
int nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned *mw) { (void)d; *mw = 700000; return 0; }
int nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned *mw) { (void)d; *mw = 81500; return 0; }
int nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj)
{
    (void)d;
    *mj = energy_mj;
    energy_mj += 5000;
    return 0;
}
int nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned *c) { (void)d, (void)sensor; *c = 37; return 0; }
int nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long *r)
{
    (void)d;
    *r = current_clock < 1500 ? 0x4 : 0x1;
    return 0;
}
int nvmlDeviceGetEccMode(nvmlDevice_t d, int *cur, int *pend) { (void)d; *cur = *pend = 1; return 0; }
int nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned *cur, unsigned *pend) { (void)d; *cur = *pend = 0; return 0; }
int nvmlDeviceGetPersistenceMode(nvmlDevice_t d, int *mode) { (void)d; *mode = 0; return 0; }
