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

#define KISSFFT_SONAME "libkissfft-float.so.131"
#define KISSFFT_PACKAGE "libkissfft-float131"

static struct kissfft_lib kissfft;
static int kissfft_state;       /* 0 not tried, 1 loaded, -1 failed */
static char kissfft_why[200];

/* bin/../lib/KISSFFT_SONAME beside the running executable, or "". */
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
    snprintf(buf, n, "%.*s/../lib/" KISSFFT_SONAME, (int)(n - 32), exe);
}

static int kissfft_load(void)
{
    char local[PATH_MAX + 32];
    beside_exe(local, sizeof local);
    const char *env = getenv("SEQBENCH_KISSFFT");
    const char *tries[] = { env && *env ? env : NULL, local[0] && access(local, F_OK) == 0 ? local : NULL,
                            KISSFFT_SONAME };
    void *dl = NULL;
    const char *tried = KISSFFT_SONAME, *err = NULL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0] && !dl; i++) {
        if (!tries[i])
            continue;
        dlerror();
        dl = dlopen(tries[i], RTLD_NOW | RTLD_LOCAL);
        tried = tries[i];
        err = dl ? NULL : dlerror();
        if (!dl && i == 0) {    /* a path the user gave must work */
            snprintf(kissfft_why, sizeof kissfft_why, "KISS FFT unusable ($SEQBENCH_KISSFFT=%.90s: %.60s)",
                     tries[i], err ? err : "dlopen failed");
            return -1;
        }
    }
    if (!dl) {
        snprintf(kissfft_why, sizeof kissfft_why,
                 "KISS FFT not found (apt-get install " KISSFFT_PACKAGE ", or SEQBENCH_KISSFFT=path)");
        return -1;
    }
    /* dlsym returns an object pointer; copied into the function pointers
     * (POSIX guarantees they have the same representation). */
    static const char *const names[] = { "kiss_fftr_alloc", "kiss_fftr", "kiss_fftri" };
    void *syms[3];
    for (int i = 0; i < 3; i++)
        if (!(syms[i] = dlsym(dl, names[i]))) {
            snprintf(kissfft_why, sizeof kissfft_why, "KISS FFT unusable (%.120s has no %s)", tried,
                     names[i]);
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
