/*
 * flash_fwd.h — flash/cuda's kernels (ops/flash/flash_fwd.cu) over the key
 * tiles a flash_keys gives each query tile, for the implementations built
 * on them: sparse/cuda (ops/sparse/sparse_fwd.cu) with its block index.
 * Their run, fetch and teardown are flash/cuda's.
 */
#ifndef SEQBENCH_FLASH_FWD_H
#define SEQBENCH_FLASH_FWD_H

#include "../../harness/seqbench.h"
#include "flash_tiles.h"

#ifdef __cplusplus
extern "C" {
#endif

/* flash_cuda_setup with keys (device pointers for a block index, which the
 * caller allocated with sb_alloc and uploaded) whose walks visit at most
 * max_tiles key tiles (the split plan's extent). */
int flash_cuda_setup_keys(struct op_ctx *ctx, const struct flash_keys *keys, int64_t max_tiles);
/* The split workspace such a setup allocates. */
int64_t flash_cuda_workspace_bytes_keys(const struct shape *s, int64_t max_tiles);

#ifdef __cplusplus
}
#endif

#endif
