/*
 * ceilings.h — the CPU's roofs, measured: an fp32 FMA loop (the compute
 * roof of every CPU result, whatever its dtype: the CPU implementations
 * compute in fp32) and STREAM's triad (the bandwidth roof), both with the
 * run's thread count, each the best of several trials.
 *
 * A ceiling measured on a busy machine is too low, and a result that ran in
 * a quieter moment beats it. So the ceilings are cached per host (hostname,
 * CPU model, threads, build flags) in a small file, raised to the best ever
 * measured, and re-measured (at most once per run) when a result beats
 * them. The cache lives in $SEQBENCH_CACHE_DIR, else $XDG_CACHE_HOME/seqbench,
 * else ~/.cache/seqbench; it is written atomically (a temporary file renamed
 * over it) and a file that does not parse, or holds another key, is ignored.
 * Delete it to measure afresh.
 */
#ifndef SEQBENCH_CEILINGS_H
#define SEQBENCH_CEILINGS_H

#include <stddef.h>

struct cpu_ceilings {
    double flops;               /* fp32 FMA FLOP/s of all threads; 0 unknown */
    double bytes_s;             /* STREAM triad bytes/s (read + written); 0 unknown */
    int threads;                /* the OpenMP threads they were measured with */
    int loaded;                 /* 1 once ceilings_load ran */
    int remeasured;             /* 1 once this run re-measured them */
    char origin[32];            /* "cached", "measured", "re-measured" */
    char path[512];             /* the cache file; "" when there is no cache directory */
};

/* This host's ceilings for `threads` OpenMP threads: from the cache when it
 * holds them, else measured now (about a second) and cached. */
void ceilings_load(struct cpu_ceilings *c, int threads);

/* Measures both again, keeps the higher of the old and the new value of
 * each, rewrites the cache. Once per run: returns 1 when it measured now, 0
 * when this run already had its re-measure. */
int ceilings_remeasure(struct cpu_ceilings *c);

/* The measurements themselves (for bench env and tests). */
double cpu_fma_flops(void);             /* best of CEIL_TRIALS FMA trials, FLOP/s */
double cpu_stream_bandwidth(void);      /* best of the triad passes, bytes/s; 0 no memory */

/* The cache files, shared with the GPU's measured ceilings (calibrate.h):
 * "<dir>/<prefix>-<FNV-1a of key, hex>" in the directory above ("" when
 * there is none), holding "key KEY" and one "name value" line per value.
 * read: 0 when the file holds exactly this key and every name with a
 * finite value >= 0, else -1. write: atomically (a temporary renamed over
 * the file); a failure leaves no cache. */
void ceilings_cache_path(const char *prefix, const char *key, char *buf, size_t n);
int ceilings_cache_read(const char *path, const char *key, const char *const *names,
                        double *values, int count);
void ceilings_cache_write(const char *path, const char *key, const char *comment,
                          const char *const *names, const double *values, int count);

/* The host's CPU model from /proc/cpuinfo ("unknown" when absent). */
void host_cpu_model(char *buf, size_t n);

#endif
