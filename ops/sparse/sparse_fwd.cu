/*
 * sparse_fwd.cu — family "sparse", implementation "cuda": flash/cuda's
 * kernel (ops/flash/flash_fwd.cu) walking a block index.
 *
 * q [B,N,H,D], k, v [B,Nk,Hkv,D], out [B,N,H,D] as flash's, fp32 or bf16,
 * D = Dv ∈ {64, 128}; block_mask [mB, mH, ⌈N/bq⌉, ⌈Nk/bk⌉] (reference/sparse.c).
 *
 * Setup (not timed, as FlexAttention's create_block_mask is not part of
 * its attention call): the mask becomes the compressed index of
 * ops/sparse/sparse_tiles.h on the host — for every query tile of 64 rows,
 * the key tiles of 64 keys it visits, in order, before its last row's
 * diagonal — uploaded as two int32 arrays (ptr: one per query-tile row plus
 * one; idx: the key tiles). The run is flash/cuda's: one block per (query
 * tile, key split, head, batch), each loading idx[ptr[r] + t] for its t-th
 * tile instead of t, so masked blocks cost nothing but their absence from
 * the list; split-KV cuts the listed tiles (decode against a long context
 * with few blocks: flash_tiles.h), and a query tile with no listed tile
 * writes zeros. The kernel's -inf guards make rows that see no key of a
 * tile, a split or the whole mask exact.
 *
 * Device memory beyond flash's: the mask itself, a byte a block, as the
 * input the operation is given (the harness counts every input on the
 * device; the kernel reads only what setup made of it), and the index,
 * 4·(rows + 1 + listed tiles) bytes (at N = Nk = 16K, H = 16, 10 %
 * density: ~0.2 MB), which workspace_bytes reports.
 *
 * Status: compiled for every target with the kernel it launches; the
 * index is built by the code sparse/cpu runs (tests/test_sparse.c); this
 * host code and flash's kernels walking the index run on the CPU runner
 * under ASan/UBSan and TSan against the float64 reference, every row
 * (tests/cuda_on_cpu.sh: curated masks and bench verify's edge shapes);
 * never run on a GPU.
 */
#include <stdlib.h>

#include "../common.cuh"
#include "../ops.h"
#include "../flash/flash_fwd.h"
#include "sparse_tiles.h"

#define SPARSE_MASK_INPUT 3     /* in[3]: block_mask (reference/sparse.c) */

extern "C" int64_t sparse_cuda_workspace_bytes(const struct shape *s)
{
    int64_t rows, nnz, max_tiles;
    if (sparse_index_size(s, &rows, &nnz, &max_tiles) != 0)
        return 0;
    return (rows + 1 + nnz) * (int64_t)sizeof(int32_t) +
           flash_cuda_workspace_bytes_keys(s, max_tiles);
}

extern "C" int sparse_cuda_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct sparse_dims d = sparse_dims_of(s);
    int32_t *ptr, *idx, *d_ptr, *d_idx;
    int64_t max_tiles;
    if (sparse_tile_index(s, ctx->in[SPARSE_MASK_INPUT], &ptr, &idx, &max_tiles) != 0) {
        snprintf(ctx->err, sizeof ctx->err, "cuda: out of host memory for the block index");
        return SB_OOM;
    }
    const int64_t rows = d.mB * d.mH * ((s->N + FLASH_BR - 1) / FLASH_BR), nnz = ptr[rows];
    const int64_t blocks = tensor_numel(&ctx->io->in[SPARSE_MASK_INPUT]);
    const size_t ptr_bytes = (size_t)(rows + 1) * sizeof *ptr, idx_bytes = (size_t)nnz * sizeof *idx;
    uint8_t *mask = (uint8_t *)malloc((size_t)blocks), *d_mask = NULL;
    int rc = mask ? sb_alloc(ctx, (void **)&d_ptr, ptr_bytes + idx_bytes) : SB_OOM;
    if (rc == SB_OK)
        rc = sb_alloc(ctx, (void **)&d_mask, (size_t)blocks);
    if (rc == SB_OK) {
        d_idx = d_ptr + rows + 1;
        for (int64_t i = 0; i < blocks; i++)
            mask[i] = ctx->in[SPARSE_MASK_INPUT][i] != 0.0f;
        cudaError_t e = cudaMemcpy(d_ptr, ptr, ptr_bytes, cudaMemcpyHostToDevice);
        if (e == cudaSuccess && nnz)
            e = cudaMemcpy(d_idx, idx, idx_bytes, cudaMemcpyHostToDevice);
        if (e == cudaSuccess)
            e = cudaMemcpy(d_mask, mask, (size_t)blocks, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) {
            snprintf(ctx->err, sizeof ctx->err, "cuda: uploading the block mask and index: %s (%s)",
                     cudaGetErrorString(e), cudaGetErrorName(e));
            rc = SB_ERROR;
        }
    }
    free(ptr), free(idx), free(mask);
    if (rc != SB_OK)
        return rc;
    const struct flash_keys keys = { 0, 0, d_ptr, d_idx, d.mB, d.mH };
    return flash_cuda_setup_keys(ctx, &keys, max_tiles);
}

extern "C" int sparse_cuda_run(struct op_ctx *ctx)
{
    return flash_cuda_run(ctx);
}

extern "C" int sparse_cuda_fetch(struct op_ctx *ctx)
{
    return flash_cuda_fetch(ctx);
}

extern "C" void sparse_cuda_teardown(struct op_ctx *ctx)
{
    flash_cuda_teardown(ctx);
}
