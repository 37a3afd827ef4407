/*
 * flash.h — flash/cpu's tile machinery (reference/flash.c) for the families
 * that run the same tiles over another mask: the sparse family's `cpu`
 * runs it with its block index (ops/sparse/sparse_tiles.h), and counts what
 * it executes with the same functions.
 */
#ifndef SEQBENCH_FLASH_H
#define SEQBENCH_FLASH_H

#include "../harness/seqbench.h"
#include "../ops/flash/flash_tiles.h"

/* The shape's own window and sinks (flash_tiles.h), no block mask. */
static inline struct flash_keys flash_keys_of(const struct shape *s)
{
    const struct flash_keys m = { s->window > 0 ? s->window : 0, s->sink > 0 ? s->sink : 0,
                                  NULL, NULL, 1, 1 };
    return m;
}

/* flash/cpu over the key tiles m gives each query tile, split as plan
 * says (the split partials laid out as the kernel's workspace). Writes
 * every element of ctx->out; a row that sees no key is 0. */
int flash_cpu_run_keys(struct op_ctx *ctx, const struct flash_keys *m, struct flash_split plan);

/* What flash/cpu's micro-kernels and flash/cuda's blocks execute over
 * those key tiles (a multiply-add is 2); and the multiply-adds of one query
 * tile's walk (from row i0), which those sum for every tile, batch and head. */
double flash_cpu_executed_keys(const struct shape *s, const struct flash_keys *m);
double flash_cuda_executed_keys(const struct shape *s, const struct flash_keys *m);
double flash_cpu_walk_macs(const struct shape *s, int64_t i0, const struct flash_walk *wk);
double flash_cuda_walk_macs(const struct shape *s, int64_t i0, const struct flash_walk *wk);

#endif
