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
#include <errno.h>
#include <glob.h>
#include <link.h>
#include <stdlib.h>
#include <unistd.h>

/* The soname of the cuDNN the headers describe (9 here): a cuDNN of
 * another major version has another ABI and is refused. */
#define CUDNN_STR_(x) #x
#define CUDNN_STR(x) CUDNN_STR_(x)
#define CUDNN_SONAME "libcudnn.so." CUDNN_STR(CUDNN_MAJOR)

#ifndef SB_CUDA_LIB
#define SB_CUDA_LIB "/usr/local/cuda/lib64"
#endif

/* Candidate files of search steps 2-4 (cudnn_lib.h), at most this many. */
#define SEARCH_MAX 48
#define SEARCH_PATH 512

/* Python installs whose site-packages may hold the cuDNN wheel, as
 * environment variables naming a prefix ("HOME" with /.local appended). */
static const struct { const char *env, *suffix; } py_prefixes[] = {
    { "VIRTUAL_ENV", "" }, { "CONDA_PREFIX", "" }, { "HOME", "/.local" },
    { NULL, "/usr/local" }, { NULL, "/usr" },
};
/* Where, under a prefix, the wheels put libcudnn.so.9: the cuDNN wheel's own
 * directory, and the one CUDA 13 wheels share. */
static const char *const py_wheel_dirs[] = {
    "lib/python3*/*-packages/nvidia/cudnn/lib",
    "lib/python3*/*-packages/nvidia/cu13/lib",
};

/* Appends the file CUDNN_SONAME in directory a + b to paths (when there is
 * room and a is not empty). */
static void add_dir(char paths[][SEARCH_PATH], int *nd, const char *a, const char *b)
{
    if (*nd < SEARCH_MAX && a && *a)
        snprintf(paths[(*nd)++], SEARCH_PATH, "%s%s/" CUDNN_SONAME, a, b);
}

/* The candidate files of steps 2-4, in search order. */
static int search_paths(char dirs[][SEARCH_PATH])
{
    int nd = 0;
    const char *cudnn_home = getenv("CUDNN_HOME"), *cuda_home = getenv("CUDA_HOME");
    add_dir(dirs, &nd, cudnn_home, "/lib");
    add_dir(dirs, &nd, cudnn_home, "/lib64");
    add_dir(dirs, &nd, cuda_home, "/lib64");
    add_dir(dirs, &nd, cuda_home, "/lib");
    add_dir(dirs, &nd, SB_CUDA_LIB, "");
    add_dir(dirs, &nd, "/usr/local/cuda/lib64", "");
    for (size_t p = 0; p < sizeof py_prefixes / sizeof py_prefixes[0]; p++) {
        const char *root = py_prefixes[p].env ? getenv(py_prefixes[p].env) : "";
        if (!root || (py_prefixes[p].env && !*root))
            continue;
        for (size_t w = 0; w < sizeof py_wheel_dirs / sizeof py_wheel_dirs[0]; w++) {
            char pattern[SEARCH_PATH];
            snprintf(pattern, sizeof pattern, "%s%s/%s", root, py_prefixes[p].suffix, py_wheel_dirs[w]);
            glob_t g;
            if (glob(pattern, GLOB_ONLYDIR, NULL, &g) == 0)
                for (size_t i = 0; i < g.gl_pathc; i++)
                    add_dir(dirs, &nd, g.gl_pathv[i], "");
            globfree(&g);
        }
    }
    return nd;
}

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
    if (strchr(path, '/') && access(path, F_OK) != 0) {
        snprintf(why, n, "cuDNN not found (%s: %s)", path, strerror(errno));
        return -1;
    }
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        /* A bare name dlopen cannot find is "not found"; a file that exists
         * but fails to load (a missing libz, a wrong ELF class) is not. */
        int absent = !strchr(path, '/') && e && strncmp(e, path, strlen(path)) == 0;
        snprintf(why, n, "cuDNN %s (%s)", absent ? "not found" : "unusable", e ? e : path);
        return -1;
    }
    struct link_map *lm = NULL;
    const char *real = dlinfo(dl, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name[0] ? lm->l_name : path;
    snprintf(lib->path, sizeof lib->path, "%s", real);
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
    const char *only = getenv("SEQBENCH_CUDNN");
    if (only && *only) {
        char inner[600];
        if (cudnn_lib_open(lib, only, inner, sizeof inner) == 0)
            return 0;
        /* "cuDNN not found (PATH: ...)" names the variable that chose PATH:
         * "cuDNN not found (SEQBENCH_CUDNN=PATH: ...)". */
        const size_t k = strcspn(inner, "(");
        snprintf(why, n, "%.*s(SEQBENCH_CUDNN=%s", (int)k, inner, inner[k] ? inner + k + 1 : "");
        return -1;
    }
    static char paths[SEARCH_MAX][SEARCH_PATH];
    const int np = search_paths(paths);
    for (int i = 0; i < np; i++)
        if (access(paths[i], F_OK) == 0)
            return cudnn_lib_open(lib, paths[i], why, n);
    return cudnn_lib_open(lib, CUDNN_SONAME, why, n);
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
