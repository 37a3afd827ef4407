/*
 * peer.h — other projects' implementations ("peers") as seqbench
 * implementations named ext:<peer>, and the command-line flags that bring in
 * users' own (--plugin, harness/plugin.h).
 *
 * A peer is a row of the adapter table (ops/peers/peers.c): the family it
 * implements, its device and dtypes, the Python module in ops/peers/ that
 * calls the library, and the distributions that must be installed. Each row
 * becomes an implementation whose setup/run/fetch/sample/teardown talk to a
 * worker process (harness/peer_worker.h, ops/peers/worker.py): one per peer
 * per bench process, started at the peer's first case and kept until bench
 * exits, so the library's import and JIT caches are paid once. A worker
 * that dies, overruns its time limit or breaks the protocol makes its case
 * "error: ...", and the next case starts a new one.
 *
 * What stays the harness's: the inputs (written as the --dump .npy files
 * and read by the worker), the reference and the check of the output
 * (fetched back as .npy) before any timing and after it, the stopping rule
 * (the worker times batches of runs, measure.c decides how many), FLOPs,
 * bytes and the roofs. The worker times on its own side with the same rules
 * as the harness: on a GPU, CUDA events around launches queued behind a
 * spinning kernel, after the same L2 flush (gpu_flush_bytes); on the CPU, a
 * monotonic clock around the call.
 *
 * The Python that runs the workers: $SEQBENCH_PYTHON, else the venv that
 * scripts/peers.sh makes (.peers/venv next to bench's folder), else Debian's
 * /usr/bin/python3. Whether a peer is installed is asked of that Python once
 * per process (importlib.metadata, no import of the library).
 */
#ifndef SEQBENCH_PEER_H
#define SEQBENCH_PEER_H

#include "cli.h"
#include "seqbench.h"

struct peer_adapter {
    const char *family;
    const char *name;           /* the implementation is ext:<name> */
    enum device_kind device;
    unsigned dtypes;            /* DT_BIT() mask */
    const char *module;         /* Python module (ops/peers/<module>.py) */
    const char *variant;        /* what the module runs (a backend, a function); "" none */
    const char *dists;          /* distributions that must be installed, space-separated */
    const char *install;        /* how to install them */
    const char *status;         /* "unverified: never run on a GPU", ... */
    const char *summary;
    /* Device bytes beyond inputs and output the library needs for a case
     * (scores it materialises, a paged copy of the cache); NULL: none. The
     * worker's own fixed cost (CUDA context, flush buffer) is in its memory
     * before any case, so the free-memory check already sees it. */
    int64_t (*workspace_bytes)(const struct shape *);
    const char *dir;            /* folder of module; NULL: ops/peers next to bench */
};

/* The adapters (ops/peers/peers.c). */
extern const struct peer_adapter peer_adapters[];
extern const int n_peer_adapters;

/* Makes every adapter an implementation ext:<name> of its family, and the
 * rows of the file $SEQBENCH_PEER_ADAPTERS names when set (docs/peers.md:
 * "your own Python adapters"). Once per process; 0, or -1 with one line in
 * err (a malformed adapter file, an unknown family, a name taken). */
int peers_register(char *err, size_t n);

/* Whether the adapter's distributions are installed in the peers' Python:
 * 1 with what = "torch 2.5.1, numpy 2.1.0", or 0 with what = why not
 * ("not installed (pip install torch)", "no Python: ..."). */
int peer_installed(const struct peer_adapter *a, char *what, size_t n);

/* The adapter behind an implementation, or NULL when it is not a peer. */
const struct peer_adapter *peer_of(const struct impl *im);

/* Stops every worker (registered with atexit when the first one starts). */
void peers_shutdown(void);

/* ---- the flags of run, suite, verify (list takes --plugin alone) -------- */

/* How long a worker may take to start and prepare a case (imports,
 * compilation, autotuning), by default; a request for timed runs gets
 * PEER_SAMPLE_SLACK_S plus PEER_RUN_FACTOR times the case's checked run per
 * run (at least 1 s each), and never more than this. */
#define PEER_TIMEOUT_DEFAULT_S 600.0
#define PEER_SAMPLE_SLACK_S 5.0
#define PEER_RUN_FACTOR 20.0

struct peer_flags {
    struct opt_list plugins;    /* --plugin PATH.so, repeatable */
    double timeout_s;           /* --peer-timeout */
};
#define PEER_FLAGS_INIT { .plugins = { .n = 0 }, .timeout_s = PEER_TIMEOUT_DEFAULT_S }
#define PEER_PLUGIN_OPT(pf)                                                                 \
    OPT("plugin", OPT_LIST, &(pf).plugins, "PATH.so",                                       \
        "load implementations from a shared library (repeatable; docs/plugins.md)")
#define PEER_OPTS(pf)                                                                       \
    PEER_PLUGIN_OPT(pf),                                                                    \
    OPT("peer-timeout", OPT_DOUBLE, &(pf).timeout_s, "S",                                   \
        "seconds a peer's worker may take to start and prepare a case (default 600)")
#define N_PEER_OPTS 2

/* Loads the plugins and sets the workers' time limit. EXIT_OK, or
 * EXIT_USAGE after one line naming cmd and the problem. */
int peer_flags_apply(const char *cmd, const struct peer_flags *pf);

#endif
