/*
 * cudnn_lib.c — see cudnn_lib.h: finding, loading and describing cuDNN at
 * run time.
 */
#include <stdio.h>
#include <string.h>

#include "cudnn_lib.h"

#ifndef SB_HAVE_CUDNN

int cudnn_lib_describe(char *buf, size_t n)
{
#ifdef SB_HAVE_CUDA
    snprintf(buf, n, "built without cuDNN (cudnn_graph.h not found at build time)");
#else
    snprintf(buf, n, "built without CUDA (nvcc not found at build time)");
#endif
    return 0;
}

#else /* SB_HAVE_CUDNN */

#include <dlfcn.h>
#include <stdlib.h>

#include "libload.h"

/* The soname of the cuDNN the headers describe (9 here): a cuDNN of
 * another major version has another ABI and is refused. */
#define CUDNN_STR_(x) #x
#define CUDNN_STR(x) CUDNN_STR_(x)
#define CUDNN_SONAME "libcudnn.so." CUDNN_STR(CUDNN_MAJOR)

#ifndef SB_CUDA_LIB
#define SB_CUDA_LIB "/usr/local/cuda/lib64"
#endif

/* Search steps 2-4 (cudnn_lib.h): $CUDNN_HOME, the CUDA toolkit, then the
 * wheels' directories: the cuDNN wheel's own and the one CUDA 13 wheels
 * share. */
static const struct lib_dir cudnn_dirs[] = {
    { "CUDNN_HOME", "/lib" }, { "CUDNN_HOME", "/lib64" }, { "CUDA_HOME", "/lib64" },
    { "CUDA_HOME", "/lib" }, { NULL, SB_CUDA_LIB }, { NULL, "/usr/local/cuda/lib64" },
};
static const char *const cudnn_wheels[] = { "nvidia/cudnn/lib", "nvidia/cu13/lib" };
static const struct lib_search cudnn_search = {
    .what = "cuDNN", .soname = CUDNN_SONAME, .env_only = "SEQBENCH_CUDNN",
    .dirs = cudnn_dirs, .n_dirs = sizeof cudnn_dirs / sizeof cudnn_dirs[0],
    .wheels = cudnn_wheels, .n_wheels = sizeof cudnn_wheels / sizeof cudnn_wheels[0],
};

void cudnn_version_string(size_t v, char *buf, size_t n)
{
    if (v >= 90000)
        snprintf(buf, n, "%zu.%zu.%zu", v / 10000, v / 100 % 100, v % 100);
    else
        snprintf(buf, n, "%zu.%zu.%zu", v / 1000, v / 100 % 10, v % 100);
}

int cudnn_lib_open(struct cudnn_lib *lib, const char *path, char *why, size_t n)
{
    memset(lib, 0, sizeof *lib);
    void *dl = lib_dlopen("cuDNN", path, lib->path, sizeof lib->path, why, n);
    if (!dl)
        return -1;
#define CUDNN_LIB_LOAD(f)                                                                  \
    if (!(lib->f = (__typeof__(lib->f))dlsym(dl, #f))) {                                   \
        snprintf(why, n, "cuDNN unusable (%s lacks %s)", lib->path, #f);                   \
        goto fail;                                                                         \
    }
    CUDNN_LIB_FNS(CUDNN_LIB_LOAD)
#undef CUDNN_LIB_LOAD
    lib->version = lib->cudnnGetVersion();
    if (lib->version / 10000 != CUDNN_MAJOR) {
        char v[32];
        cudnn_version_string(lib->version, v, sizeof v);
        snprintf(why, n, "cuDNN unusable (%s is cuDNN %s; bench was built for cuDNN %d)", lib->path, v,
                 CUDNN_MAJOR);
        goto fail;
    }
    lib->dl = dl;
    return 0;
fail:
    dlclose(dl);
    memset(lib, 0, sizeof *lib);
    return -1;
}

int cudnn_lib_load(struct cudnn_lib *lib, char *why, size_t n)
{
    const char *only = lib_env_only(&cudnn_search);
    if (only) {
        char inner[600];
        if (cudnn_lib_open(lib, only, inner, sizeof inner) == 0)
            return 0;
        lib_env_why(cudnn_search.env_only, inner, why, n);
        return -1;
    }
    char path[LIB_PATH_MAX];
    return cudnn_lib_open(lib, lib_find(&cudnn_search, path, sizeof path), why, n);
}

const struct cudnn_lib *cudnn_lib_get(char *why, size_t n)
{
    static struct cudnn_lib lib;
    if (lib.dl)
        return &lib;
    struct cudnn_lib tmp;
    if (cudnn_lib_load(&tmp, why, n) != 0)
        return NULL;
    lib = tmp;
    return &lib;
}

cudnnStatus_t cudnn_lib_handle(const struct cudnn_lib *lib, cudnnHandle_t *handle, char *err,
                               size_t n)
{
    static cudnnHandle_t h;
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    if (!h && (st = lib->cudnnCreate(&h)) != CUDNN_STATUS_SUCCESS) {
        cudnn_error_text(lib, st, "cudnnCreate", __FILE__, __LINE__, err, n);
        h = NULL;
    }
    *handle = h;
    return st;
}

void cudnn_error_text(const struct cudnn_lib *lib, cudnnStatus_t st, const char *call,
                      const char *file, int line, char *err, size_t n)
{
    const char *name = strstr(call, "cudnn");
    if (!name)
        name = call;
    char last[256] = "";
    lib->cudnnGetLastErrorString(last, sizeof last);
    last[strcspn(last, "\n")] = '\0';
    /* The location before the library's message, which may be long. */
    snprintf(err, n, "%.*s: %s at %s:%d%s%s", (int)strcspn(name, "("), name,
             lib->cudnnGetErrorString(st), file, line, last[0] ? ": " : "", last);
}

int cudnn_lib_describe(char *buf, size_t n)
{
    char why[400];
    const struct cudnn_lib *lib = cudnn_lib_get(why, sizeof why);
    if (!lib) {
        snprintf(buf, n, "%s", why);
        return 0;
    }
    char v[32], h[32];
    cudnn_version_string(lib->version, v, sizeof v);
    cudnn_version_string(CUDNN_VERSION, h, sizeof h);
    snprintf(buf, n, "%s (%s; headers %s)", v, lib->path, h);
    return 1;
}

#endif /* SB_HAVE_CUDNN */
