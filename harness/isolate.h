/*
 * isolate.h — cases in child processes (`bench suite --isolate`, the
 * default on a GPU).
 *
 * A kernel that faults (an illegal address, a trap) leaves a sticky error in
 * its CUDA context: every later call of that process fails, so in one
 * process one bad case fails every case after it, and a crash ends the
 * suite. An isolated suite runs each case in a child process instead: a
 * fork immediately followed by an exec of this same bench binary as
 * `bench _case` (CUDA does not survive a fork that keeps running, so nothing
 * runs between the two). The parent never initialises CUDA at all: it
 * learns what it needs of the GPU from a child too (`bench _probe`).
 *
 * The child runs the case exactly as a suite does in-process and stores its
 * own result into the parent's run (the store serialises the writers), so
 * every field of a result reaches the database the same way, whatever is
 * added to it. The parent reads the row back for its table, its counts and
 * its budget. A child that dies without storing becomes one `error: …` row
 * written by the parent — "child killed by SIGSEGV", "child exited 3
 * without a result", "child killed after 1800 s (--case-timeout)" — and the
 * suite goes on.
 *
 * A peer's case (ext:<peer>) runs in a child too: its bench side needs the
 * child's GPU context, so each such case starts its own worker (the
 * library's import and JIT caches are paid per case; --no-isolate keeps one
 * worker per peer for the suite, the worker process isolating the library
 * already). The parent passes its --plugin and --peer-timeout on, and its
 * --metrics and --energy: the profiling passes run in the child, which has
 * the context CUPTI and the counters need.
 *
 * Signals: the child ignores SIGINT and SIGTERM (a terminal's Ctrl-C reaches
 * the whole process group): the parent decides, and lets the case in
 * flight finish and store. The child dies with its parent
 * (PR_SET_PDEATHSIG), so a parent killed outright leaves no case running.
 */
#ifndef SEQBENCH_ISOLATE_H
#define SEQBENCH_ISOLATE_H

#include <stdint.h>

#include "calibrate.h"
#include "gpu.h"
#include "measure.h"
#include "peer.h"
#include "profile.h"
#include "runcase.h"
#include "store.h"

/* What a child found of a GPU: gpu_probe's answer, whether a context could
 * be set up on it (gpu_open) and why not; measured, its copy bandwidth and
 * its ceilings (calibrate.h). */
struct isolate_probe {
    struct gpu_info gpu;
    int usable;                 /* gpu_open succeeded */
    char why[200];              /* why not (gpu_open's error), "" when usable */
    double copy_bw;             /* bytes/s, 0 unmeasured (not asked, or unusable) */
    struct gpu_ceilings ceil;   /* from the cache, else measured and cached; loaded 0: none */
};

/* Probes device `index` in a child (`bench _probe`); with measure, also
 * measures the copy bandwidth and loads the ceilings (measuring and caching
 * them when not cached): a timing, so the caller holds the device lock.
 * Always fills p: a child that could not be started, or died, leaves a
 * device that is absent, with why_absent saying so. */
void isolate_probe(int index, int measure, struct isolate_probe *p);

/* Where and how a child runs its case. */
struct isolate_case {
    const char *db;             /* the run's database (the parent's store) */
    int64_t run_id;
    int64_t replace_id;         /* the error result this case replaces (--retry-failed), else 0 */
    double timeout_s;           /* kill the child after this long; 0: never */
    const struct peer_flags *peers; /* --plugin and --peer-timeout, passed on; NULL: none */
    const struct profile_opts *profile; /* --metrics and --energy, passed on; NULL: none */
};

/* Runs case q in a child storing into ic's run; res then holds the stored
 * result as read back (or the error row the parent stored for a child that
 * died). Returns 0, or -1 with err when no result could be stored at all
 * (the database failed). */
int isolate_run_case(struct store *st, const struct isolate_case *ic, const struct case_req *q,
                     struct case_result *res, char *err, size_t n);

/* The internal commands the children run (in the command table, hidden). */
int cmd_case(int argc, char **argv);
int cmd_probe(int argc, char **argv);

#endif
