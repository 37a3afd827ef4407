/*
 * sparse.h — the sparse family's block mask (reference/sparse.c): which
 * (query block, key block) pairs a case computes, made from its pattern
 * fields, and what the implementations share about it.
 */
#ifndef SEQBENCH_SPARSE_H
#define SEQBENCH_SPARSE_H

#include <stdint.h>

#include "../harness/seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The patterns, in the order of the names in harness/registry.c
 * (pattern_names). What each keeps, per query block, of the key blocks
 * that hold a key some row of it sees (the causal ones: all of them
 * without causal):
 *   random   each of them with probability density %, independently per
 *            query block, batch and head (so rows may keep none): the mask
 *            is [B, H, …];
 *   window   those that meet some row's window of the last W keys;
 *   sink     those and the ones holding the first S keys (StreamingLLM's
 *            attention sinks plus a local window; LServe's streaming heads);
 *   strided  the window's and every stride-th key block back from the
 *            diagonal one, stride = round(100 / density) (Sparse
 *            Transformer's strided pattern, in blocks);
 *   mixed    per head: density % of the heads (spread over them) dense,
 *            the others streaming (sink + window), as DuoAttention and
 *            LServe mix retrieval and streaming heads: the mask is [1, H, …].
 * window, sink and strided masks are [1, 1, …]: the same for every batch
 * and head. */
enum sparse_pattern { SPARSE_RANDOM, SPARSE_WINDOW, SPARSE_SINK, SPARSE_STRIDED, SPARSE_MIXED,
                      SPARSE_PATTERN_COUNT };

/* The block mask's dimensions: [mB, mH, qblocks, kblocks]. */
struct sparse_dims {
    int64_t mB, mH, qblocks, kblocks;
};
struct sparse_dims sparse_dims_of(const struct shape *s);

/* Row (mb, mh, qb) of the mask, kblocks values 0 or 1: the same bits on
 * every machine, from the shape's fields alone (not the run's seed: a case
 * string names exactly one mask). */
void sparse_mask_row(const struct shape *s, int64_t mb, int64_t mh, int64_t qb, float *row);

/* The size of the shape's block index (ops/sparse/sparse_tiles.h), without
 * building it: *rows query-tile rows, *nnz key tiles, *max_tiles in the
 * longest row. 0, or -1 when out of memory. */
int sparse_index_size(const struct shape *s, int64_t *rows, int64_t *nnz, int64_t *max_tiles);

#ifdef __cplusplus
}
#endif

#endif
