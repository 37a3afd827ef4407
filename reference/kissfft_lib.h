/*
 * kissfft_lib.h — KISS FFT (BSD-3-Clause, Mark Borgerding), loaded at run
 * time for the ssm family's conv variant, so bench starts and runs every
 * other case where the library is absent.
 *
 * Debian ships it as libkissfft-float131 (a shared library only, float
 * scalars, soname libkissfft-float.so.131). Found by harness/libload.c's
 * search, as the vendor libraries are:
 *   1. $SEQBENCH_KISSFFT, a path to the library (nothing else is tried);
 *   2. lib/ beside bin/ (bin/../lib/libkissfft-float.so.131), for a bench
 *      shipped with its own copy;
 *   3. the dynamic loader's path (Debian's package).
 * FFTW would be faster, but is GPL: seqbench links nothing GPL.
 *
 * The real-input API (kiss_fftr.h): a configuration per size and
 * direction, not safe to share between threads (it holds a scratch
 * buffer); forward: n reals to n/2 + 1 complex values; inverse: back,
 * unnormalised (n times the input).
 */
#ifndef SEQBENCH_KISSFFT_LIB_H
#define SEQBENCH_KISSFFT_LIB_H

#include <stddef.h>

typedef struct {
    float r, i;
} kiss_fft_cpx;                 /* kiss_fft.h's, with kiss_fft_scalar = float */
typedef struct kiss_fftr_state *kiss_fftr_cfg;

struct kissfft_lib {
    /* kiss_fftr_alloc(nfft, inverse, mem, &lenmem): with mem NULL and lenmem
     * not NULL, says the bytes a configuration needs; with mem, builds it
     * there (the caller frees mem). nfft must be even. */
    kiss_fftr_cfg (*fftr_alloc)(int nfft, int inverse, void *mem, size_t *lenmem);
    void (*fftr)(kiss_fftr_cfg cfg, const float *timedata, kiss_fft_cpx *freqdata);
    void (*fftri)(kiss_fftr_cfg cfg, const kiss_fft_cpx *freqdata, float *timedata);
};

/* The library, loaded on the first call (not thread-safe: call it before
 * going parallel); NULL when it cannot be found or lacks a symbol, with
 * one line in why naming the package to install. */
const struct kissfft_lib *kissfft_lib(char *why, size_t n);

/* A configuration for nfft points in malloc'd memory (free() it), or NULL. */
kiss_fftr_cfg kissfft_cfg(const struct kissfft_lib *k, int nfft, int inverse);

#endif
