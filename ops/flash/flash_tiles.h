/*
 * flash_tiles.h — the tile sizes and the split-KV plan of the flash forward
 * kernel, shared by the CUDA kernel (ops/flash/flash_fwd.cu) and its CPU
 * form (reference/flash.c), so the CPU test exercises the same tiling: the
 * same partial tiles at the end of N and Nk, the same causal tile skipping,
 * the same online-softmax rescaling steps, the same key splits.
 *
 * FLASH_BR: query rows per block (one tile of Q stays in registers/smem).
 * FLASH_BC: keys per K/V tile streamed through shared memory. 64 x 128 bf16
 * K and V tiles take 32 KiB, leaving room for double buffering on sm_80+.
 *
 * Split-KV (Flash-Decoding): decode (N = 1..16) against a long context has
 * one query tile per (batch, head), B·H blocks — 64 at B = 4, H = 16 — for
 * a GPU of 132 SMs, each block walking the whole context. When the query
 * tiles give fewer than FLASH_SPLIT_BELOW blocks per SM, the keys of every
 * tile are cut into splits of `len` keys (a multiple of FLASH_BC); one block
 * per (tile, split) leaves its unnormalised output and its running max m and
 * sum l, and a second pass combines a row's splits:
 *   m* = max_s m_s,  l* = Σ_s l_s·2^(m_s - m*),  O = Σ_s O_s·2^(m_s - m*) / l*.
 *
 * The splits of a query tile (first row i0) cut the keys every one of its
 * rows sees, [0, kv_first) — with the causal mask aligned bottom-right row
 * i0 sees keys j <= i0 + Nk - N — and the last split also takes the keys
 * past kv_first that only later rows see, up to kv_end (its diagonal). So
 * every split starts at a key all rows of the tile see: no split is empty
 * and no row meets a split with every key masked (its running max is finite
 * from the split's first key tile on, as it is from key 0 without splits).
 * All splits but the last hold exactly `len` keys.
 *
 * Everything here is plain integer arithmetic compiled by both gcc (C11) and
 * nvcc (host and device).
 */
#ifndef SEQBENCH_FLASH_TILES_H
#define SEQBENCH_FLASH_TILES_H

#include <stdint.h>

#define FLASH_BR 64
#define FLASH_BC 64

/* Split when the query tiles give fewer blocks than FLASH_SPLIT_BELOW per
 * SM: the kernel keeps 2 blocks per SM resident at D = 128 (3 at D = 64) on
 * sm_90, so fewer than 2 per SM leaves SMs idle. Then aim at
 * FLASH_SPLIT_WAVES blocks per SM (2 rounds of 2 resident blocks: the
 * partial last round costs at most a quarter), with at most
 * FLASH_MAX_SPLITS splits per tile (the combine reads them all per row). */
#define FLASH_SPLIT_BELOW 2
#define FLASH_SPLIT_WAVES 4
#define FLASH_MAX_SPLITS 128
/* The SM count the `cpu` form plans with (an H100 SXM's), so that it runs
 * the split path for the same shapes the kernel splits on such a GPU. */
#define FLASH_NOMINAL_SMS 132

#ifdef __CUDACC__
#define FLASH_HD static __host__ __device__ __forceinline__
#else
#define FLASH_HD static inline
#endif

/* The split-KV plan of a shape. */
struct flash_split {
    int64_t len;    /* keys per split, a multiple of FLASH_BC (the last split may hold more) */
    int64_t max;    /* splits of the tile with the most: the grid's split extent; 1 = no split */
};

/* Keys every row of the query tile from row i0 sees: [0, kv_first). */
FLASH_HD int64_t flash_kv_first(int64_t N, int64_t Nk, int64_t causal, int64_t i0)
{
    return causal ? i0 + 1 + (Nk - N) : Nk;
}

/* Keys some row of that tile sees: [0, kv_end). */
FLASH_HD int64_t flash_kv_end(int64_t N, int64_t Nk, int64_t causal, int64_t i0)
{
    const int64_t nr = N - i0 < FLASH_BR ? N - i0 : FLASH_BR;
    return causal ? i0 + nr + (Nk - N) : Nk;
}

/* The plan for a shape on a GPU of `sms` SMs (see the header comment). */
FLASH_HD struct flash_split flash_splits(int64_t B, int64_t H, int64_t N, int64_t Nk,
                                         int64_t causal, int64_t sms)
{
    const int64_t tiles = (N + FLASH_BR - 1) / FLASH_BR, blocks = B * H * tiles;
    /* The last tile's rows see the most keys. */
    const int64_t kv = flash_kv_first(N, Nk, causal, (tiles - 1) * FLASH_BR);
    const int64_t ktiles = (kv + FLASH_BC - 1) / FLASH_BC;
    struct flash_split p = { ktiles * FLASH_BC, 1 };
    if (sms <= 0 || blocks >= FLASH_SPLIT_BELOW * sms)
        return p;
    int64_t want = (FLASH_SPLIT_WAVES * sms + blocks - 1) / blocks;
    want = want < FLASH_MAX_SPLITS ? want : FLASH_MAX_SPLITS;
    want = want < ktiles ? want : ktiles;
    p.len = (ktiles + want - 1) / want * FLASH_BC;
    p.max = (kv + p.len - 1) / p.len;
    return p;
}

/* Splits of the query tile from row i0: 1 <= count <= p.max. */
FLASH_HD int64_t flash_tile_splits(struct flash_split p, int64_t N, int64_t Nk, int64_t causal,
                                   int64_t i0)
{
    return (flash_kv_first(N, Nk, causal, i0) + p.len - 1) / p.len;
}

/* The keys [*jb, *je) of split sp < count of the query tile from row i0. */
FLASH_HD void flash_split_keys(struct flash_split p, int64_t N, int64_t Nk, int64_t causal,
                               int64_t i0, int64_t sp, int64_t *jb, int64_t *je)
{
    *jb = sp * p.len;
    *je = sp == flash_tile_splits(p, N, Nk, causal, i0) - 1 ? flash_kv_end(N, Nk, causal, i0)
                                                             : (sp + 1) * p.len;
}

#undef FLASH_HD

#endif
