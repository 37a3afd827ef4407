/*
 * shard.h — one suite spread over several CI jobs or GPUs: `bench suite
 * NAME --shard I/N` runs the cases whose shard is I. A case's shard is the
 * FNV-1a 64-bit hash of its canonical case string (with impl) mod N: every
 * case lands in exactly one shard, and, unlike splitting by position, a
 * case keeps its shard when cases are added to or removed from the suite,
 * so a shard's history stays comparable. Shards are not balanced by cost.
 */
#ifndef SEQBENCH_SHARD_H
#define SEQBENCH_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define SHARD_MAX 4096          /* more shards than cases in any suite we have */

/* FNV-1a, 64 bits (offset basis 14695981039346656037, prime 1099511628211). */
uint64_t fnv1a64(const char *s);
/* The shard of a case, 1..n. */
int shard_of(const char *case_str, int n);
/* "I/N" with 1 <= I <= N <= SHARD_MAX, both plain decimal. Returns 0, or -1
 * with one line in err. */
int shard_parse(const char *s, int *i, int *n, char *err, size_t len);

#endif
