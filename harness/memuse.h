/*
 * memuse.h — the process's peak resident memory during a case, measured
 * (the a-priori prediction that decides skip-before-OOM is runcase.c's).
 *
 * Linux keeps the resident high-water mark (VmHWM in /proc/self/status)
 * and resets it to the current resident size when "5" is written to
 * /proc/self/clear_refs, so a case's peak is VmHWM at its end minus VmRSS
 * at its start. Where that file cannot be written, getrusage's ru_maxrss
 * (the process's peak, never reset) grows only when the case exceeds every
 * earlier peak: the difference is then a lower bound, and says so.
 */
#ifndef SEQBENCH_MEMUSE_H
#define SEQBENCH_MEMUSE_H

#include <stdint.h>

struct host_peak {
    int64_t start;              /* VmRSS (reset) or ru_maxrss at the start, bytes */
    int reset;                  /* 1: VmHWM was reset (exact); 0: ru_maxrss (lower bound) */
};

void host_peak_begin(struct host_peak *h);
/* The peak's growth over the start in bytes (>= 0); -1 unknown. */
int64_t host_peak_end(const struct host_peak *h);

/* A field of /proc/self/status in bytes ("VmHWM:"); -1 when absent. */
int64_t proc_status_bytes(const char *field);

#endif
