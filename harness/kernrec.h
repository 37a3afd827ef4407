/*
 * kernrec.h — kernel executions as CUPTI Activity reports them, and what
 * the harness makes of them: each sample's summed kernel time (the sample
 * of --timing kernel, and kernel_ms beside the event time), and the
 * per-kernel breakdown a result stores (struct kernel_row, store.h).
 *
 * Pure bookkeeping, no CUPTI: harness/cupti.c feeds the log from its
 * buffer callback, and the tests feed it by hand. Records are attributed to
 * a sample by time: CUPTI stamps kernels on the same clock as
 * cuptiGetTimestamp, and every kernel of a sample starts after the host
 * began queueing it and ends before the host saw its stop event, so a
 * record belongs to the sample whose host interval holds its start.
 */
#ifndef SEQBENCH_KERNREC_H
#define SEQBENCH_KERNREC_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The harness's own blocking kernel (gpu_kernels.cu) runs inside each
 * sample's interval but is no part of the op: records whose name contains
 * this are never counted. */
#define KERNREC_HARNESS_KERNEL "sb_block_stream_kernel"

struct kernel_rec {
    const char *name;           /* interned in the log */
    int grid[3], block[3];
    int registers;
    int64_t shared_bytes;       /* static + dynamic */
    uint64_t start, end;        /* ns */
};

struct kernel_log {
    struct kernel_rec *r;
    int n, cap;
    char **names;               /* distinct names, owned */
    int n_names, cap_names;
    long dropped;               /* records not kept (out of memory) */
};

/* Appends a copy of *rec (its name interned; a NULL name is "?"). A record
 * of the harness's own kernel is ignored. 0, or -1 out of memory (counted
 * in dropped). */
int kernel_log_add(struct kernel_log *l, const struct kernel_rec *rec);
/* Forgets the records (names stay interned). */
void kernel_log_clear(struct kernel_log *l);
void kernel_log_free(struct kernel_log *l);

/* The summed duration, in ms, of the records that start in [t0, t1];
 * *count gets how many (may be NULL). */
double kernel_log_sum_ms(const struct kernel_log *l, uint64_t t0, uint64_t t1, int *count);

/* The records that start in [t0, t1], grouped by name and launch
 * configuration (grid, block, registers, shared memory), the group with the
 * most time first: duration_ns is a launch's mean, count the launches per
 * run over `runs` runs. *rows is malloc'd (free it; its names point into
 * the log). Returns the number of rows, or -1 out of memory. */
int kernel_log_group(const struct kernel_log *l, uint64_t t0, uint64_t t1, int runs,
                     struct kernel_row **rows);

#endif
