/*
 * cupti.h — NVIDIA's CUDA Profiling Tools Interface, loaded at run time
 * (dlopen, harness/libload.h), never linked: bench runs without it, `ldd
 * bin/bench` names no CUPTI, and what needs it degrades with a reason.
 *
 * Two uses, each in a pass apart from the timed samples:
 *   Activity (this file, cupti.c): every kernel the op launches, with its
 *     name, launch configuration and GPU start/end, into a kernel_log
 *     (kernrec.h): kernel_ms, the per-kernel breakdown, --timing kernel;
 *   Range Profiler (cupti_counters.c): hardware counters per kernel under
 *     kernel replay (--metrics), with the host-side metric API that needs no
 *     GPU to check names and count passes.
 *
 * Where libcupti.so.13 is looked for (libload.h's order):
 *   1. $SEQBENCH_CUPTI: one file, nothing else tried
 *   2. $CUDA_HOME/extras/CUPTI/lib64, $CUDA_HOME/lib64, $CUDA_HOME/lib, the
 *      build's toolkit (its extras/CUPTI/lib64 and lib), /usr/local/cuda's
 *   3. the Python wheels: nvidia/cuda_cupti/lib, nvidia/cu13/lib
 *   4. dlopen("libcupti.so.13")
 * CUPTI loads libnvperf_host.so / libnvperf_target.so from its own folder.
 *
 * A profiler that injects itself (ncu, nsys: $CUDA_INJECTION64_PATH or
 * $NVTX_INJECTION64_PATH set) owns CUPTI: bench then leaves it alone and
 * says so as the reason.
 */
#ifndef SEQBENCH_CUPTI_H
#define SEQBENCH_CUPTI_H

#include <stddef.h>
#include <stdint.h>

#include "kernrec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One CUPTI result as people read it: *name the enum's name,
 * "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES"; the returned text says what it
 * means for seqbench ("counters not permitted: ..."), and *fix, when not
 * NULL, is the one line that tells an administrator what to change. Pure:
 * needs no library (the table is ours). */
const char *cupti_reason(int result, const char **name, const char **fix);

/* The environment variables through which a profiler injects itself; the
 * first one set, or NULL. */
const char *cupti_injected_profiler(void);

struct cupti;

/* The process's CUPTI, loaded on the first successful call (a failure is
 * not remembered). NULL with one line in why: "CUPTI not found (...)",
 * "CUPTI unusable (...)", "a profiler is attached (...)", "built without
 * CUPTI (...)". */
struct cupti *cupti_get(char *why, size_t n);
/* Loads exactly path (a file, or a bare name for dlopen's own search),
 * outside the process's cache: for tests that load a stand-in. NULL with
 * why as cupti_get. cupti_unload closes it. */
struct cupti *cupti_load(const char *path, char *why, size_t n);
void cupti_unload(struct cupti *c);

/* The file loaded, and its version ("API 130001 (PATH)"). */
const char *cupti_path(const struct cupti *c);
void cupti_version(const struct cupti *c, char *buf, size_t n);

/* A failed call's one line: "cuptiActivityEnable: CUPTI_ERROR_... (why)". */
void cupti_error_text(const struct cupti *c, int result, const char *call, char *err, size_t n);

/* Activity: start sends every kernel record that completes into log (the
 * harness's own blocking kernel excepted) until stop; flush delivers what
 * has completed so far (call it after synchronising with the GPU). Each
 * returns 0, or -1 with err set. The log is the caller's. */
int cupti_activity_start(struct cupti *c, struct kernel_log *log, char *err, size_t n);
int cupti_activity_flush(struct cupti *c, char *err, size_t n);
int cupti_activity_stop(struct cupti *c, char *err, size_t n);
/* CUPTI's clock (ns), the one kernel records are stamped on. */
uint64_t cupti_timestamp(const struct cupti *c);

#ifdef __cplusplus
}
#endif

#endif
