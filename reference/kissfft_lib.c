/*
 * kissfft_lib.c — see kissfft_lib.h.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kissfft_lib.h"
#include "libload.h"

#define KISSFFT_SONAME "libkissfft-float.so.131"
#define KISSFFT_PACKAGE "libkissfft-float131"

static struct kissfft_lib kissfft;
static int kissfft_state;       /* 0 not tried, 1 loaded, -1 failed */
static char kissfft_why[LIB_PATH_MAX + 200];

/* bin/../lib beside the running executable, or "" (search step 2). */
static void beside_exe(char *buf, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    buf[0] = 0;
    if (len <= 0)
        return;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = 0;
    snprintf(buf, n, "%.*s/../lib", (int)(n - 8), exe);
}

/* Opens path (libload's messages), or says why not in kissfft_why; a bare
 * soname the loader cannot find names the package to install. */
static void *kissfft_open(const char *path)
{
    char real[LIB_PATH_MAX];
    void *dl = lib_dlopen("KISS FFT", path, real, sizeof real, kissfft_why, sizeof kissfft_why);
    if (!dl && !strchr(path, '/') && strncmp(kissfft_why, "KISS FFT not found", 18) == 0)
        snprintf(kissfft_why, sizeof kissfft_why,
                 "KISS FFT not found (apt-get install " KISSFFT_PACKAGE ", or SEQBENCH_KISSFFT=PATH)");
    return dl;
}

static int kissfft_load(void)
{
    char local[PATH_MAX];
    beside_exe(local, sizeof local);
    const struct lib_dir dirs[] = { { NULL, local } };
    const struct lib_search search = {
        .what = "KISS FFT", .soname = KISSFFT_SONAME, .env_only = "SEQBENCH_KISSFFT",
        .dirs = dirs, .n_dirs = local[0] ? 1 : 0,
    };
    const char *only = lib_env_only(&search);
    char path[LIB_PATH_MAX];
    void *dl = kissfft_open(only ? only : lib_find(&search, path, sizeof path));
    if (!dl) {
        if (only) {     /* a path the user gave must work: say which variable chose it */
            char inner[sizeof kissfft_why];
            snprintf(inner, sizeof inner, "%s", kissfft_why);
            lib_env_why(search.env_only, inner, kissfft_why, sizeof kissfft_why);
        }
        return -1;
    }
    /* dlsym returns an object pointer; copied into the function pointers
     * (POSIX guarantees they have the same representation). */
    static const char *const names[] = { "kiss_fftr_alloc", "kiss_fftr", "kiss_fftri" };
    void *syms[3];
    for (int i = 0; i < 3; i++)
        if (!(syms[i] = dlsym(dl, names[i]))) {
            snprintf(kissfft_why, sizeof kissfft_why, "KISS FFT unusable (%.300s has no %s)",
                     only ? only : path, names[i]);
            dlclose(dl);
            return -1;
        }
    memcpy(&kissfft.fftr_alloc, &syms[0], sizeof syms[0]);
    memcpy(&kissfft.fftr, &syms[1], sizeof syms[1]);
    memcpy(&kissfft.fftri, &syms[2], sizeof syms[2]);
    return 0;   /* the handle stays open for the process's life */
}

const struct kissfft_lib *kissfft_lib(char *why, size_t n)
{
    if (kissfft_state == 0)
        kissfft_state = kissfft_load() == 0 ? 1 : -1;
    if (kissfft_state < 0) {
        snprintf(why, n, "%s", kissfft_why);
        return NULL;
    }
    return &kissfft;
}

kiss_fftr_cfg kissfft_cfg(const struct kissfft_lib *k, int nfft, int inverse)
{
    size_t len = 0;
    k->fftr_alloc(nfft, inverse, NULL, &len);
    void *mem = len ? malloc(len) : NULL;
    if (!mem)
        return NULL;
    kiss_fftr_cfg cfg = k->fftr_alloc(nfft, inverse, mem, &len);
    if (cfg != (kiss_fftr_cfg)mem) {    /* it builds in mem, so free(cfg) frees mem */
        free(mem);
        return NULL;
    }
    return cfg;
}
