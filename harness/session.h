/*
 * session.h — what every measuring command sets up: the device, the GPU
 * context, the store and the run row with its environment.
 */
#ifndef SEQBENCH_SESSION_H
#define SEQBENCH_SESSION_H

#include "ceilings.h"
#include "gpu.h"
#include "peaks.h"
#include "runcase.h"
#include "seqbench.h"
#include "store.h"

#define DEFAULT_DB "results/bench.db"

struct session {
    char device[32];            /* "cpu" or "cuda:N" */
    int on_cpu;
    struct gpu_info gpu;        /* of cuda:N, or of cuda:0 when on the CPU */
    struct gpu_ctx *gctx;       /* NULL when no usable GPU */
    char no_gpu_reason[200];
    struct cpu_ceilings cpu;    /* the CPU's measured roofs; loaded on first use */
    double gpu_copy_bw;         /* measured device-to-device copy bytes/s; 0 unmeasured */
    struct store *store;        /* NULL with --no-db */
    int64_t run_id;
};

/* device_opt: NULL (cuda:0 when present, else cpu), "cpu", "cuda", "cuda:N".
 * An explicit cuda device that is absent is an error (exit 2). db_path NULL:
 * no store. Prints one line and returns EXIT_USAGE/EXIT_FAIL on failure. */
int session_open(struct session *s, const char *device_opt, const char *db_path,
                 const char *suite);
/* Marks the run finished and closes everything. */
void session_close(struct session *s);

/* The roofs a result of implementation im in dtype dt is measured against:
 * the CPU's measured ceilings (loaded on first use) for a CPU
 * implementation, the GPU's datasheet peaks (0: unknown) for a GPU one. */
struct roof session_roof(struct session *s, const struct impl *im, enum dtype dt);

/* Fills r from this host, the GPU and the build; strings live in statics. */
void env_collect(const struct session *s, const char *suite, struct run_record *r);
/* Prints the environment (bench env), the roofs included. */
void env_print(struct session *s);

#endif
