/*
 * sparse_tiles.h — the block mask as the flash tiles see it: for every
 * query tile of FLASH_BR rows, the key tiles of FLASH_BC keys it visits
 * (those inside an allowed block and before its last row's diagonal), as a
 * compressed index (CSR: ptr, idx) that struct flash_keys carries into
 * flash/cpu's tile loop (reference/flash.c) and flash/cuda's kernel
 * (ops/flash/flash_fwd.cu). Block sizes are multiples of the tile sizes
 * (bq, bk of 64 or 128; FLASH_BR = FLASH_BC = 64), so a key tile is in or
 * out of the mask as a whole and within a visited tile only the causal
 * mask and the end of the keys apply.
 *
 * Row r = (mb·mH + mh)·tiles + t of the index is query tile t (rows
 * t·FLASH_BR ..) of mask batch mb, head mh; its key tiles are
 * idx[ptr[r] .. ptr[r + 1]), increasing. Built on the host, once per case
 * (setup: not timed, as FlexAttention's create_block_mask is not).
 *
 * Plain C for gcc and nvcc's host side.
 */
#ifndef SEQBENCH_SPARSE_TILES_H
#define SEQBENCH_SPARSE_TILES_H

#include <stdint.h>
#include <stdlib.h>

#include "../../harness/seqbench.h"
#include "../../reference/sparse.h"
#include "../flash/flash_tiles.h"

#ifdef __cplusplus
static_assert(FLASH_BR == 64 && FLASH_BC == 64, "block sizes 64 and 128 are whole tiles");
#else
_Static_assert(FLASH_BR == 64 && FLASH_BC == 64, "block sizes 64 and 128 are whole tiles");
#endif

/* The key tiles query tile from row i0 visits given its block row mrow
 * (kblocks values, nonzero = computed), into idx; returns how many. */
static inline int64_t sparse_tile_list(const struct shape *s, const float *mrow, int64_t i0,
                                       int32_t *idx)
{
    const int64_t kv_end = flash_kv_end(s->N, s->Nk, s->causal, i0);
    int64_t n = 0;
    for (int64_t kt = 0; kt * FLASH_BC < kv_end; kt++)
        if (mrow[kt * FLASH_BC / s->bk] != 0.0f)
            idx[n++] = (int32_t)kt;
    return n;
}

/* The index of mask [mB, mH, qblocks, kblocks] (sparse_dims_of), malloc'd
 * into *ptr and *idx; *max_tiles: the longest row. 0, or -1 when out of
 * memory or the index would not fit int32. Free both with free(). */
static inline int sparse_tile_index(const struct shape *s, const float *mask, int32_t **ptr,
                                    int32_t **idx, int64_t *max_tiles)
{
    const struct sparse_dims d = sparse_dims_of(s);
    const int64_t tiles = (s->N + FLASH_BR - 1) / FLASH_BR, rows = d.mB * d.mH * tiles;
    const int64_t ktiles = (s->Nk + FLASH_BC - 1) / FLASH_BC;
    int32_t *list = (int32_t *)malloc((size_t)ktiles * sizeof *list);
    *ptr = (int32_t *)malloc((size_t)(rows + 1) * sizeof **ptr);
    *idx = NULL;
    *max_tiles = 0;
    if (!list || !*ptr)
        goto fail;
    (*ptr)[0] = 0;
    for (int pass = 0; pass < 2; pass++) {      /* count, then fill */
        int64_t nnz = 0;
        for (int64_t r = 0; r < rows; r++) {
            const int64_t t = r % tiles, mrow = r / tiles * d.qblocks + t * FLASH_BR / s->bq;
            const int64_t n = sparse_tile_list(s, mask + mrow * d.kblocks, t * FLASH_BR,
                                               pass ? *idx + nnz : list);
            nnz += n;
            if (nnz > INT32_MAX)
                goto fail;
            (*ptr)[r + 1] = (int32_t)nnz;
            *max_tiles = n > *max_tiles ? n : *max_tiles;
        }
        if (!pass && !(*idx = (int32_t *)malloc((size_t)(nnz ? nnz : 1) * sizeof **idx)))
            goto fail;
    }
    free(list);
    return 0;
fail:
    free(list), free(*ptr), free(*idx);
    *ptr = *idx = NULL;
    return -1;
}

#endif
