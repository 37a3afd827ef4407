/*
 * cupti.c — see cupti.h: loading CUPTI, what its errors mean, and the
 * Activity API's kernel records. Unverified on a GPU: the loader and the
 * error table are tested here (tests/test_cupti.c, with a fake libcupti);
 * the records have never been produced by a real GPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cupti.h"
#include "cupti_lib.h"

/* ---- what CUPTI's errors mean (no library needed) ------------------------- */

/* The results a profiling tool meets when the GPU or the system refuses
 * counters, with what to do about each. Numbers from cupti_result.h
 * (checked against the header below when it is there). */
static const struct {
    int code;
    const char *name, *why, *fix;
} cupti_reasons[] = {
    { 35, "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES",
      "counters not permitted: the NVIDIA driver lets only administrators read GPU performance "
      "counters (NVreg_RestrictProfilingToAdminUsers=1, the default)",
      "to allow every user: put 'options nvidia NVreg_RestrictProfilingToAdminUsers=0' in a file "
      "under /etc/modprobe.d/ and reload the nvidia module (or reboot); or run bench as root "
      "(https://developer.nvidia.com/CUPTI_ERROR_INSUFFICIENT_PRIVILEGES)" },
    { 40, "CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES",
      "counters not permitted on this virtual GPU",
      "the hypervisor's administrator must enable profiling for this vGPU" },
    { 33, "CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED",
      "counters are not supported on this virtual GPU", NULL },
    { 43, "CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED", "counters are not supported on a MIG instance",
      "run on a GPU with MIG mode off (nvidia-smi -i N -mig 0, as administrator)" },
    { 41, "CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED",
      "counters are not supported with confidential computing on", NULL },
    { 42, "CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED", "counters are not supported on a CMP device", NULL },
    { 45, "CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED", "counters are not supported under WSL", NULL },
    { 27, "CUPTI_ERROR_NOT_SUPPORTED", "not supported on this GPU or system", NULL },
    { 38, "CUPTI_ERROR_LEGACY_PROFILER_NOT_SUPPORTED", "not supported on this GPU (too old)", NULL },
    { 39, "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED",
      "another profiler holds CUPTI in this process", NULL },
    { 17, "CUPTI_ERROR_INVALID_METRIC_NAME", "unknown metric", NULL },
};

const char *cupti_reason(int result, const char **name, const char **fix)
{
    for (size_t i = 0; i < sizeof cupti_reasons / sizeof cupti_reasons[0]; i++)
        if (cupti_reasons[i].code == result) {
            if (name)
                *name = cupti_reasons[i].name;
            if (fix)
                *fix = cupti_reasons[i].fix;
            return cupti_reasons[i].why;
        }
    if (name)
        *name = NULL;
    if (fix)
        *fix = NULL;
    return NULL;
}

const char *cupti_injected_profiler(void)
{
    static const char *const vars[] = { "CUDA_INJECTION64_PATH", "NVTX_INJECTION64_PATH" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return vars[i];
    }
    return NULL;
}

#ifndef SB_HAVE_CUPTI

struct cupti *cupti_get(char *why, size_t n)
{
    snprintf(why, n, "built without CUPTI (%s)",
#ifdef SB_HAVE_CUDA
             "cupti.h not found at build time"
#else
             "nvcc not found at build time"
#endif
    );
    return NULL;
}
const char *cupti_path(const struct cupti *c) { (void)c; return ""; }
void cupti_version(const struct cupti *c, char *buf, size_t n) { (void)c; snprintf(buf, n, "none"); }
void cupti_error_text(const struct cupti *c, int result, const char *call, char *err, size_t n)
{
    (void)c;
    snprintf(err, n, "%s: CUPTI result %d", call, result);
}
int cupti_activity_start(struct cupti *c, struct kernel_log *log, char *err, size_t n)
{
    (void)c, (void)log;
    return cupti_get(err, n) ? 0 : -1;
}
/* The log is read on the caller's thread after a flush: every record of
 * the launches so far has then been delivered, and none can arrive before
 * the caller launches again, so the reads need no lock. */
int cupti_activity_flush(struct cupti *c, char *err, size_t n)
{
    (void)c;
    return cupti_get(err, n) ? 0 : -1;
}
int cupti_activity_stop(struct cupti *c, char *err, size_t n)
{
    (void)c;
    return cupti_get(err, n) ? 0 : -1;
}
uint64_t cupti_timestamp(const struct cupti *c) { (void)c; return 0; }
struct cupti *cupti_load(const char *path, char *why, size_t n)
{
    (void)path;
    return cupti_get(why, n);
}
void cupti_unload(struct cupti *c) { (void)c; }

#else /* SB_HAVE_CUPTI */

#include <dlfcn.h>

_Static_assert(CUPTI_ERROR_INSUFFICIENT_PRIVILEGES == 35 &&
               CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES == 40 &&
               CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED == 33 &&
               CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED == 43 &&
               CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED == 41 &&
               CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED == 42 && CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED == 45 &&
               CUPTI_ERROR_NOT_SUPPORTED == 27 && CUPTI_ERROR_LEGACY_PROFILER_NOT_SUPPORTED == 38 &&
               CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED == 39 &&
               CUPTI_ERROR_INVALID_METRIC_NAME == 17,
               "cupti_reasons[] follows cupti_result.h");

/* CUPTI's soname carries the CUDA major version its API version starts
 * with (130001: libcupti.so.13). */
#define CUPTI_SONAME "libcupti.so.13"
_Static_assert(CUPTI_API_VERSION / 10000 == 13, "CUPTI_SONAME follows the headers' CUDA major");
#ifndef SB_CUDA_LIB
#define SB_CUDA_LIB "/usr/local/cuda/lib64"
#endif

static const struct lib_dir cupti_dirs[] = {
    { "CUDA_HOME", "/extras/CUPTI/lib64" }, { "CUDA_HOME", "/lib64" }, { "CUDA_HOME", "/lib" },
    { NULL, SB_CUDA_LIB "/../extras/CUPTI/lib64" }, { NULL, SB_CUDA_LIB },
    { NULL, "/usr/local/cuda/extras/CUPTI/lib64" }, { NULL, "/usr/local/cuda/lib64" },
};
static const char *const cupti_wheels[] = { "nvidia/cuda_cupti/lib", "nvidia/cu13/lib" };
static const struct lib_search cupti_search = {
    .what = "CUPTI", .soname = CUPTI_SONAME, .env_only = "SEQBENCH_CUPTI",
    .dirs = cupti_dirs, .n_dirs = sizeof cupti_dirs / sizeof cupti_dirs[0],
    .wheels = cupti_wheels, .n_wheels = sizeof cupti_wheels / sizeof cupti_wheels[0],
};

static int cupti_open(struct cupti *c, const char *path, char *why, size_t n)
{
    memset(c, 0, sizeof *c);
    void *dl = lib_dlopen("CUPTI", path, c->path, sizeof c->path, why, n);
    if (!dl)
        return -1;
#define CUPTI_LIB_LOAD(f)                                                                  \
    if (!(c->f = (__typeof__(c->f))dlsym(dl, #f))) {                                       \
        snprintf(why, n, "CUPTI unusable (%s lacks %s)", c->path, #f);                     \
        dlclose(dl);                                                                       \
        memset(c, 0, sizeof *c);                                                           \
        return -1;                                                                         \
    }
    CUPTI_LIB_FNS(CUPTI_LIB_LOAD)
#undef CUPTI_LIB_LOAD
    c->cuptiGetVersion(&c->api_version);
    /* Activity records are read through this build's structs
     * (CUpti_ActivityKernel10): another CUDA major has other layouts. */
    if (c->api_version / 10000 != CUPTI_API_VERSION / 10000) {
        snprintf(why, n, "CUPTI unusable (%s has API version %u; bench was built for %u)", c->path,
                 c->api_version, (unsigned)CUPTI_API_VERSION);
        dlclose(dl);
        memset(c, 0, sizeof *c);
        return -1;
    }
    c->dl = dl;
    return 0;
}

struct cupti *cupti_get(char *why, size_t n)
{
    static struct cupti lib;
    if (lib.dl)
        return &lib;
    const char *injected = cupti_injected_profiler();
    if (injected) {
        snprintf(why, n, "a profiler is attached (%s is set) and owns CUPTI", injected);
        return NULL;
    }
    struct cupti tmp;
    const char *only = lib_env_only(&cupti_search);
    if (only) {
        char inner[600];
        if (cupti_open(&tmp, only, inner, sizeof inner) != 0) {
            lib_env_why(cupti_search.env_only, inner, why, n);
            return NULL;
        }
    } else {
        char path[LIB_PATH_MAX];
        if (cupti_open(&tmp, lib_find(&cupti_search, path, sizeof path), why, n) != 0)
            return NULL;
    }
    lib = tmp;
    return &lib;
}

struct cupti *cupti_load(const char *path, char *why, size_t n)
{
    struct cupti *c = malloc(sizeof *c);
    if (!c) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    if (cupti_open(c, path, why, n) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void cupti_unload(struct cupti *c)
{
    if (c && c->dl)
        dlclose(c->dl);
    free(c);
}

const char *cupti_path(const struct cupti *c)
{
    return c->path;
}

void cupti_version(const struct cupti *c, char *buf, size_t n)
{
    snprintf(buf, n, "API %u (%s)", c->api_version, c->path);
}

void cupti_error_text(const struct cupti *c, int result, const char *call, char *err, size_t n)
{
    const char *s = NULL, *name = NULL;
    if (c && c->cuptiGetResultString)
        c->cuptiGetResultString((CUptiResult)result, &s);
    const char *why = cupti_reason(result, &name, NULL);
    snprintf(err, n, "%.*s: %s%s%s%s", (int)strcspn(call, "("), call,
             s ? s : name ? name : "CUPTI error", why ? " (" : "", why ? why : "", why ? ")" : "");
}

/* ---- Activity ---------------------------------------------------------------- */

/* CUPTI asks for buffers and hands them back full (or flushed) on its own
 * thread, or on ours inside cuptiActivityFlushAll: the log is shared under
 * a mutex. One buffer holds thousands of kernel records. */
#define ACTIVITY_BUFFER_BYTES ((size_t)1 << 20)
#define ACTIVITY_ALIGN 8

static pthread_mutex_t activity_mu = PTHREAD_MUTEX_INITIALIZER;
static struct kernel_log *activity_log;         /* NULL: records are dropped */
static struct cupti *activity_lib;

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    *buffer = aligned_alloc(ACTIVITY_ALIGN, ACTIVITY_BUFFER_BYTES);
    *size = *buffer ? ACTIVITY_BUFFER_BYTES : 0;
    *max_records = 0;                           /* as many as fit */
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size,
                                      size_t valid)
{
    (void)ctx, (void)stream, (void)size;
    CUpti_Activity *rec = NULL;
    pthread_mutex_lock(&activity_mu);
    while (activity_lib &&
           activity_lib->cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
        if (rec->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || !activity_log)
            continue;
        const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)rec;
        if (k->end <= k->start)                 /* incomplete: no timestamps yet */
            continue;
        struct kernel_rec r = {
            .name = k->name, .grid = { k->gridX, k->gridY, k->gridZ },
            .block = { k->blockX, k->blockY, k->blockZ }, .registers = k->registersPerThread,
            .shared_bytes = (int64_t)k->staticSharedMemory + k->dynamicSharedMemory,
            .start = k->start, .end = k->end,
        };
        kernel_log_add(activity_log, &r);
    }
    pthread_mutex_unlock(&activity_mu);
    free(buffer);
}

int cupti_activity_start(struct cupti *c, struct kernel_log *log, char *err, size_t n)
{
    static int registered;
    int rc_ = 0;
    if (!registered) {
        CUPTI_CALL(c, c->cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed));
        registered = 1;
    }
    pthread_mutex_lock(&activity_mu);
    activity_lib = c;
    activity_log = log;
    pthread_mutex_unlock(&activity_mu);
    /* CONCURRENT_KERNEL, not KERNEL: the latter serialises every kernel. */
    CUPTI_CALL(c, c->cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL));
    return 0;
fail:
    (void)rc_;
    pthread_mutex_lock(&activity_mu);
    activity_log = NULL;
    pthread_mutex_unlock(&activity_mu);
    return -1;
}

/* The log is read on the caller's thread after a flush: every record of
 * the launches so far has then been delivered, and none can arrive before
 * the caller launches again, so the reads need no lock. */
int cupti_activity_flush(struct cupti *c, char *err, size_t n)
{
    int rc_ = 0;
    /* Blocking: the completion callback has run on every buffer when this
     * returns. Forced, so the buffer being filled comes back too. */
    CUPTI_CALL(c, c->cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED));
    return 0;
fail:
    (void)rc_;
    return -1;
}

int cupti_activity_stop(struct cupti *c, char *err, size_t n)
{
    int rc = cupti_activity_flush(c, err, n), rc_ = 0;
    CUPTI_CALL(c, c->cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL));
    pthread_mutex_lock(&activity_mu);
    activity_log = NULL;
    pthread_mutex_unlock(&activity_mu);
    return rc;
fail:
    (void)rc_;
    pthread_mutex_lock(&activity_mu);
    activity_log = NULL;
    pthread_mutex_unlock(&activity_mu);
    return -1;
}

uint64_t cupti_timestamp(const struct cupti *c)
{
    uint64_t t = 0;
    c->cuptiGetTimestamp(&t);
    return t;
}

#endif /* SB_HAVE_CUPTI */
