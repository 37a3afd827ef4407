/*
 * ceilings.c — see ceilings.h.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ceilings.h"
#include "cli.h"
#include "measure.h"
#include "shard.h"
#include "version.h"

/* ---- the FMA loop ------------------------------------------------------------ */

/* 16 independent accumulators of 16 floats: enough FMAs in flight to cover
 * the FMA latency on any x86 core with AVX-512 or AVX2, so the loop runs at
 * the FMA ports' throughput. */
#define PEAK_CHAINS 16
#define PEAK_WIDTH 16
/* Trials of CEIL_TRIAL_SECONDS each, the best kept: one trial that a
 * neighbouring process shares the core with does not set the roof, and the
 * five together (0.2 s) still cost little next to one case. */
#define CEIL_TRIALS 5
#define CEIL_TRIAL_SECONDS 0.04

/* GCC prefers 256-bit vectors on AVX-512 parts; the peak loop must use the
 * widest FMAs the core has, as flash/cpu does, or % of peak exceeds 100;
 * -std=c11 turns FMA contraction off, so it is switched on here. */
#ifdef __AVX512F__
#define PEAK_TARGET __attribute__((target("prefer-vector-width=512"), optimize("fp-contract=fast"), noinline))
#else
#define PEAK_TARGET __attribute__((optimize("fp-contract=fast"), noinline))
#endif

/* One thread's FMA loop for `seconds`: returns FLOP/s. */
PEAK_TARGET static double peak_one_thread(double seconds)
{
    float acc[PEAK_CHAINS][PEAK_WIDTH];
    for (int i = 0; i < PEAK_CHAINS; i++)
        for (int j = 0; j < PEAK_WIDTH; j++)
            acc[i][j] = (float)(i + j) * 1e-3f;
    const float a = 0.999999f, b = 1e-7f;
    long iters = 0;
    double t0 = now_seconds(), t;
    do {
        for (int r = 0; r < 1000; r++)
            for (int i = 0; i < PEAK_CHAINS; i++)
                for (int j = 0; j < PEAK_WIDTH; j++)
                    acc[i][j] = acc[i][j] * a + b;
        iters += 1000;
        t = now_seconds() - t0;
    } while (t < seconds);
    float sink = 0;
    for (int i = 0; i < PEAK_CHAINS; i++)
        for (int j = 0; j < PEAK_WIDTH; j++)
            sink += acc[i][j];
    __asm__ volatile("" : : "g"(sink));     /* keep the loop alive */
    return 2.0 * PEAK_CHAINS * PEAK_WIDTH * (double)iters / t;
}

double cpu_fma_flops(void)
{
    double best = 0;
    for (int trial = 0; trial < CEIL_TRIALS; trial++) {
        double total = 0;
#pragma omp parallel reduction(+ : total)
        total = peak_one_thread(CEIL_TRIAL_SECONDS);
        best = total > best ? total : best;
    }
    return best;
}

/* ---- STREAM's triad ------------------------------------------------------------- */

/* a = b + s·c over three arrays far larger than any last-level cache,
 * OpenMP-parallel with the same static split for the first touch and the
 * timed passes (so pages sit on the threads' NUMA nodes): bytes read and
 * written (3 per element, STREAM's convention) over the best of the passes.
 * 0 when the arrays cannot be allocated. */
#define STREAM_ELEMS ((int64_t)48 << 20)   /* 192 MiB per array */
#define STREAM_PASSES 8

double cpu_stream_bandwidth(void)
{
    float *a = malloc(STREAM_ELEMS * sizeof *a), *b = malloc(STREAM_ELEMS * sizeof *b);
    float *c = malloc(STREAM_ELEMS * sizeof *c);
    double best = 0;
    if (a && b && c) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < STREAM_ELEMS; i++)
            a[i] = 0, b[i] = 1, c[i] = 2;
        for (int pass = 0; pass < STREAM_PASSES; pass++) {
            const float k = 0.5f + (float)pass;
            double t0 = now_seconds();
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < STREAM_ELEMS; i++)
                a[i] = b[i] + k * c[i];
            double t = now_seconds() - t0;
            __asm__ volatile("" : : "g"(a[pass]) : "memory");
            if (t > 0 && (best == 0 || t < best))
                best = t;
        }
    }
    free(a), free(b), free(c);
    return best > 0 ? 3.0 * sizeof(float) * (double)STREAM_ELEMS / best : 0;
}

/* ---- the cache ------------------------------------------------------------------ */

void host_cpu_model(char *buf, size_t n)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, n, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 2;
            colon[strcspn(colon, "\n")] = 0;
            snprintf(buf, n, "%s", colon);
            break;
        }
    }
    if (f)
        fclose(f);
}

/* What the ceilings depend on, as one line: another host, CPU, thread
 * count or build (compiler flags change the loop's code) is another key. */
static void cache_key(int threads, char *buf, size_t n)
{
    char host[256] = "", cpu[256];
    gethostname(host, sizeof host - 1);
    host_cpu_model(cpu, sizeof cpu);
    snprintf(buf, n, "%s|%s|%d threads|%s", host, cpu, threads, SB_BUILD_FLAGS);
}

void ceilings_cache_path(const char *prefix, const char *key, char *buf, size_t n)
{
    const char *env = getenv("SEQBENCH_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char dir[400];
    if (env && *env)
        snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/seqbench", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/seqbench", home);
    else
        dir[0] = 0;
    buf[0] = 0;
    if (dir[0])
        snprintf(buf, n, "%s/%s-%016llx", dir, prefix, (unsigned long long)fnv1a64(key));
    if (buf[0] && make_parents(buf) != 0)
        buf[0] = 0;
}

int ceilings_cache_read(const char *path, const char *key, const char *const *names,
                        double *values, int count)
{
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    char line[1024], want[1100];
    int have_key = 0, bad = 0, seen = 0;
    if (!f)
        return -1;
    snprintf(want, sizeof want, "key %s\n", key);
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        if (strcmp(line, want) == 0) {
            have_key = 1;
            continue;
        }
        int known = 0;
        for (int i = 0; i < count && !known; i++) {
            size_t len = strlen(names[i]);
            if (strncmp(line, names[i], len) == 0 && line[len] == ' ') {
                char *end;
                values[i] = strtod(line + len + 1, &end);
                known = 1;
                bad |= *end != '\n' || !isfinite(values[i]) || values[i] < 0;
                seen |= 1 << i;
            }
        }
        bad |= !known;          /* anything else: not a file this code wrote */
    }
    fclose(f);
    return have_key && !bad && seen == (1 << count) - 1 ? 0 : -1;
}

void ceilings_cache_write(const char *path, const char *key, const char *comment,
                          const char *const *names, const double *values, int count)
{
    char tmp[600];
    if (!path[0])
        return;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "# seqbench: %s; delete to re-measure\nkey %s\n", comment, key);
    for (int i = 0; i < count; i++)
        fprintf(f, "%s %.17g\n", names[i], values[i]);
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}

/* The CPU cache's two values. */
static const char *const cpu_names[] = { "fma_flops", "stream_bytes_s" };
#define CPU_CACHE "cpu-ceilings"

/* Reads the two values when the file holds exactly this key and both are
 * positive; -1 otherwise. */
static int cache_read(const char *path, const char *key, double *flops, double *bytes_s)
{
    double v[2];
    if (ceilings_cache_read(path, key, cpu_names, v, 2) != 0 || !(v[0] > 0) || !(v[1] > 0))
        return -1;
    *flops = v[0], *bytes_s = v[1];
    return 0;
}

/* Writes the file beside itself and renames it over the old one, so a
 * reader (another bench running at the same time) sees the old or the new
 * file whole. Failures leave no cache, which only costs a measurement. */
static void cache_write(const struct cpu_ceilings *c, const char *key)
{
    const double v[2] = { c->flops, c->bytes_s };
    if (c->flops > 0 && c->bytes_s > 0)
        ceilings_cache_write(c->path, key, "this host's measured CPU roofs (harness/ceilings.c)",
                             cpu_names, v, 2);
}

/* Both measurements with the threads the run uses. */
static void measure(int threads, double *flops, double *bytes_s)
{
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    *flops = cpu_fma_flops();
    *bytes_s = cpu_stream_bandwidth();
    omp_set_num_threads(before);
}

void ceilings_load(struct cpu_ceilings *c, int threads)
{
    char key[1024];
    memset(c, 0, sizeof *c);
    c->threads = threads;
    c->loaded = 1;
    cache_key(threads, key, sizeof key);
    ceilings_cache_path(CPU_CACHE, key, c->path, sizeof c->path);
    if (cache_read(c->path, key, &c->flops, &c->bytes_s) == 0) {
        snprintf(c->origin, sizeof c->origin, "cached");
        return;
    }
    measure(threads, &c->flops, &c->bytes_s);
    snprintf(c->origin, sizeof c->origin, "measured");
    cache_write(c, key);
}

int ceilings_remeasure(struct cpu_ceilings *c)
{
    if (c->remeasured)
        return 0;
    char key[1024];
    double flops, bytes_s, f0 = 0, b0 = 0;
    c->remeasured = 1;
    cache_key(c->threads, key, sizeof key);
    measure(c->threads, &flops, &bytes_s);
    /* Another process may have raised the cache meanwhile: the best of all. */
    if (cache_read(c->path, key, &f0, &b0) == 0)
        flops = fmax(flops, f0), bytes_s = fmax(bytes_s, b0);
    c->flops = fmax(c->flops, flops);
    c->bytes_s = fmax(c->bytes_s, bytes_s);
    snprintf(c->origin, sizeof c->origin, "re-measured");
    cache_write(c, key);
    return 1;
}
