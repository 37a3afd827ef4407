/*
 * shard.h — one suite spread over several CI jobs, GPUs or Slurm array
 * tasks: `bench suite NAME --shard I/N [--shard-class CLASS]` runs shard I.
 *
 * The shards are balanced by predicted cost, so they finish together: each
 * case's seconds are predicted from its FLOP and byte counts against the
 * roofs of a named device class (shard_case_cost), and the cases are dealt
 * greedily, the longest first, each to the shard with the least predicted
 * work so far (longest processing time first; ties by the case string).
 * Nothing is measured: the partition is a pure function of the cases (the
 * suite file after --device and --filter) and the class, so every shard,
 * on any machine, computes the same one — every case lands in exactly one
 * shard. The class is one name for the whole job (the default: cpu for
 * --device cpu, else h100), not the machine a shard happens to run on.
 * Unlike a hash of the case string, a case can change shard when cases are
 * added or removed.
 */
#ifndef SEQBENCH_SHARD_H
#define SEQBENCH_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "seqbench.h"

#define SHARD_MAX 4096          /* more shards than cases in any suite we have */

/* A device class: the roofs a partition predicts with. */
struct shard_class {
    const char *name;           /* "h100", "cpu", ... */
    const char *what;           /* where the roofs come from, for messages */
    double flops_fp32;          /* FLOP/s without tensor cores */
    double flops_tensor;        /* FLOP/s of bf16/fp16 (tensor cores on a GPU) */
    double bytes_s;             /* memory bandwidth */
};

/* FNV-1a, 64 bits (offset basis 14695981039346656037, prime 1099511628211). */
uint64_t fnv1a64(const char *s);
/* "I/N" with 1 <= I <= N <= SHARD_MAX, both plain decimal. Returns 0, or -1
 * with one line in err. */
int shard_parse(const char *s, int *i, int *n, char *err, size_t len);

/* The class called name: a GPU from harness/peaks.c's datasheet rows, or
 * the CPU's nominal roofs. Returns 0, or -1 with err listing the names. */
int shard_class_find(const char *name, struct shard_class *c, char *err, size_t n);
/* The default class of a device: "cpu" on the CPU, "h100" on a GPU. */
const char *shard_class_default(int on_cpu);

/* Predicted seconds of the case (f, im, s) on class c: a fixed cost per
 * case, the host's work on its inputs and its reference rows, and its
 * timed runs, each at the binding roof (max(flops / compute roof, bytes /
 * bandwidth)), capped where sampling stops. See shard.c for the constants. */
double shard_case_cost(const struct shard_class *c, const struct family *f,
                       const struct impl *im, const struct shape *s);

/* Deals cases 0..n-1 of cost[] (seconds) into n_shards shards, writing
 * shard_of[i] in 1..n_shards: longest processing time first, ties broken
 * by keys[i] (distinct case strings). Costs are compared in whole
 * microseconds, so two builds that round a cost's last bit differently
 * still agree. Fills load[0..n_shards) with each shard's predicted seconds
 * when load is not NULL. Returns 0, or -1 when out of memory. */
int shard_partition(const double *cost, const char *const *keys, int n, int n_shards,
                    int *shard_of, double *load);

#endif
