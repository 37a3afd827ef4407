/*
 * flash_tiles.h — the tile sizes, the mask and the split-KV plan of the
 * flash forward kernel, shared by the CUDA kernel (ops/flash/flash_fwd.cu) and its CPU
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
 * With a sliding window, sink keys or a block mask (the mask below) a query
 * tile visits only some key tiles (struct flash_walk: the sink tiles, then
 * the window's; or the block mask's list), and the splits cut that list
 * of tiles instead; a split may then hold keys some row does not see at
 * all, which the kernels' -inf guards handle.
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

/* ---- the mask ---------------------------------------------------------------
 *
 * Key j (0 <= j < Nk) is visible to query row i (0 <= i < N) iff
 *   causal:      j <= i + Nk - N (aligned bottom-right),
 *   window W:    and j > i + Nk - N - W, unless j < S (a sink key),
 * i.e. FlashAttention's window_size = (W - 1, 0) plus S sink tokens that
 * every query sees, never past its diagonal (a window needs causal;
 * W = 0 is no window, and W >= Nk is plain causal attention). One
 * predicate for the reference (reference/attention.c), flash/cpu and the
 * kernel, so the three apply the same mask.
 *
 * A block-sparse case (the sparse family, ops/sparse/) adds a block mask,
 * which reaches the kernels as a compressed index of key tiles per query
 * tile (struct flash_keys.ptr/idx, built by sparse_tile_index in
 * ops/sparse/sparse_tiles.h): whole key tiles, so within a listed tile only
 * the causal mask and the end of the keys apply.
 */
struct flash_keys {
    int64_t window, sink;       /* W and S; 0: none */
    const int32_t *ptr, *idx;   /* block-sparse: the key tiles of row r = (mb·mH + mh)·tiles
                                 * + tile are idx[ptr[r] .. ptr[r + 1]) (key tile t: keys
                                 * t·FLASH_BC ..), in order; NULL: no block mask */
    int64_t mB, mH;             /* the block mask's batch and heads: B or 1, H or 1 */
};

/* The window hides key j from the row whose diagonal is diag = i + Nk - N:
 * a key that is no sink and older than the last W. A macro, so that the
 * kernel can apply it in 32-bit arithmetic on values it keeps per row (the
 * int64 form costs flash_fwd.cu's D = 64 kernels their spill-free budget). */
#define FLASH_WINDOW_HIDES(j, diag, window, sink) ((j) >= (sink) && (j) <= (diag) - (window))

FLASH_HD int flash_visible(int64_t N, int64_t Nk, int64_t causal, int64_t window, int64_t sink,
                           int64_t i, int64_t j)
{
    const int64_t diag = i + Nk - N;
    return (!causal || j <= diag) && !(window > 0 && FLASH_WINDOW_HIDES(j, diag, window, sink));
}

/* The tile of keys [j0, j0 + nc) of the query tile from row i0 holds a
 * (row, key) that the window hides and no sink shows: a key j >= S with
 * j <= i + Nk - N - W for some row i of the tile (the last row's bound is
 * the highest). The tile then needs flash_visible per element; every other
 * tile needs at most the causal mask. Uniform over the tile. */
FLASH_HD int flash_window_edge(int64_t N, int64_t Nk, const struct flash_keys *m, int64_t i0,
                               int64_t j0, int64_t nc)
{
    const int64_t last = (N - i0 < FLASH_BR ? N : i0 + FLASH_BR) - 1;
    const int64_t lo = j0 > m->sink ? j0 : m->sink;
    const int64_t hi = last + Nk - N - m->window < j0 + nc - 1 ? last + Nk - N - m->window
                                                               : j0 + nc - 1;
    return m->window > 0 && lo <= hi;
}

/* The key tiles a query tile visits, in order (what the kernels loop
 * over): tiles 0 .. sink_tiles-1, then t + skip for t >= sink_tiles; or,
 * block-sparse, idx[t]. Tiles past the last row's diagonal or wholly
 * outside every row's window and the sinks are never visited. */
struct flash_walk {
    int64_t count;          /* tiles visited */
    int64_t sink_tiles;     /* the tiles that hold sink keys, first */
    int64_t skip;           /* tiles between the sinks' and the window's */
    int64_t anchored;       /* the first tiles holding a key every row of the tile sees:
                             * key splits start only in them (see flash_walk_splits) */
    const int32_t *idx;     /* block-sparse: the visited tiles; NULL: the above */
};

/* The walk's t-th key tile (t < count); a macro for the kernel's 32-bit
 * copy of the walk, as FLASH_WINDOW_HIDES. */
#define FLASH_WALK_TILE(idx, sink_tiles, skip, t) \
    ((idx) ? (idx)[t] : (t) < (sink_tiles) ? (t) : (t) + (skip))

/* The first key of the walk's t-th tile (t < count). */
FLASH_HD int64_t flash_walk_key(const struct flash_walk *w, int64_t t)
{
    return (int64_t)FLASH_WALK_TILE(w->idx, w->sink_tiles, w->skip, t) * FLASH_BC;
}

/* The walk of the query tile from row i0 of batch b, head h. */
FLASH_HD struct flash_walk flash_walk_of(int64_t N, int64_t Nk, int64_t causal,
                                         const struct flash_keys *m, int64_t b, int64_t h,
                                         int64_t i0)
{
    const int64_t kv_end = flash_kv_end(N, Nk, causal, i0);
    const int64_t tiles = (kv_end + FLASH_BC - 1) / FLASH_BC;
    struct flash_walk w = { tiles, 0, 0, 0, NULL };
    if (m->ptr) {
        const int64_t r = ((m->mB == 1 ? 0 : b) * m->mH + (m->mH == 1 ? 0 : h)) *
                              ((N + FLASH_BR - 1) / FLASH_BR) + i0 / FLASH_BR;
        w.idx = m->idx + m->ptr[r];
        w.count = w.anchored = m->ptr[r + 1] - m->ptr[r];
        return w;
    }
    if (m->window <= 0) {       /* every key up to kv_end; every row sees [0, kv_first) */
        w.anchored = (flash_kv_first(N, Nk, causal, i0) + FLASH_BC - 1) / FLASH_BC;
        return w;
    }
    const int64_t sink_end = m->sink < kv_end ? m->sink : kv_end;
    const int64_t lo = i0 + Nk - N - m->window + 1;     /* the first row's first window key */
    int64_t wb = (lo > 0 ? lo : 0) / FLASH_BC;
    w.sink_tiles = (sink_end + FLASH_BC - 1) / FLASH_BC;
    wb = wb > w.sink_tiles ? wb : w.sink_tiles;
    w.skip = wb - w.sink_tiles;
    w.count = w.anchored = w.sink_tiles + tiles - wb;
    return w;
}

/* ---- split-KV --------------------------------------------------------------- */

/* The split-KV plan of a shape. */
struct flash_split {
    int64_t len;    /* keys per split, a multiple of FLASH_BC (the last split may hold more) */
    int64_t max;    /* splits of the tile with the most: the grid's split extent; 1 = no split */
};

/* The plan for `blocks` (query tile, head, batch) blocks whose walks
 * anchor at most max_tiles key tiles, on a GPU of `sms` SMs (see the
 * header comment). */
FLASH_HD struct flash_split flash_splits_for(int64_t blocks, int64_t max_tiles, int64_t sms)
{
    const int64_t ktiles = max_tiles > 1 ? max_tiles : 1;
    struct flash_split p = { ktiles * FLASH_BC, 1 };
    if (sms <= 0 || blocks >= FLASH_SPLIT_BELOW * sms)
        return p;
    int64_t want = (FLASH_SPLIT_WAVES * sms + blocks - 1) / blocks;
    want = want < FLASH_MAX_SPLITS ? want : FLASH_MAX_SPLITS;
    want = want < ktiles ? want : ktiles;
    p.len = (ktiles + want - 1) / want * FLASH_BC;
    p.max = (ktiles * FLASH_BC + p.len - 1) / p.len;
    return p;
}

/* The plan for a shape on a GPU of `sms` SMs, with a window or sinks (m;
 * a block-sparse case plans with flash_splits_for from its index). */
FLASH_HD struct flash_split flash_splits_keys(int64_t B, int64_t H, int64_t N, int64_t Nk,
                                              int64_t causal, const struct flash_keys *m,
                                              int64_t sms)
{
    const int64_t tiles = (N + FLASH_BR - 1) / FLASH_BR;
    int64_t most = 0;
    /* The last tile's rows see the most keys, unless a window bounds them. */
    for (int64_t t = m->window > 0 ? 0 : tiles - 1; t < tiles; t++) {
        const struct flash_walk w = flash_walk_of(N, Nk, causal, m, 0, 0, t * FLASH_BR);
        most = w.anchored > most ? w.anchored : most;
    }
    return flash_splits_for(B * H * tiles, most, sms);
}

/* The plan without a window. */
FLASH_HD struct flash_split flash_splits(int64_t B, int64_t H, int64_t N, int64_t Nk,
                                         int64_t causal, int64_t sms)
{
    const struct flash_keys none = { 0, 0, NULL, NULL, 1, 1 };
    return flash_splits_keys(B, H, N, Nk, causal, &none, sms);
}

/* Splits of a query tile whose walk is w: 1 <= count <= p.max. Splits
 * start every len keys' worth of tiles within the anchored tiles; the last
 * takes the rest of the walk. Without a window or a block mask every
 * split so starts at a key all the tile's rows see (the tiles up to
 * kv_first), and every row's running max is finite from a split's first
 * tile on; with them a row may see none of a split's keys (or none at
 * all): its max stays -inf, which the kernels guard (flash_fwd.cu). A
 * walk of no tiles (a query tile the block mask leaves empty) has one
 * split, which writes zeros. */
FLASH_HD int64_t flash_walk_splits(struct flash_split p, const struct flash_walk *w)
{
    const int64_t len_t = p.len / FLASH_BC;
    const int64_t count = (w->anchored + len_t - 1) / len_t;
    return count > 1 ? count : 1;
}

/* The visited tiles [*tb, *te) of split sp < count of walk w. */
FLASH_HD void flash_walk_split(struct flash_split p, const struct flash_walk *w, int64_t sp,
                               int64_t *tb, int64_t *te)
{
    const int64_t len_t = p.len / FLASH_BC;
    *tb = sp * len_t;
    *te = sp == flash_walk_splits(p, w) - 1 ? w->count : (sp + 1) * len_t;
}

/* Without a window: splits of the query tile from row i0, and the keys
 * [*jb, *je) of its split sp. */
FLASH_HD int64_t flash_tile_splits(struct flash_split p, int64_t N, int64_t Nk, int64_t causal,
                                   int64_t i0)
{
    const struct flash_keys none = { 0, 0, NULL, NULL, 1, 1 };
    const struct flash_walk w = flash_walk_of(N, Nk, causal, &none, 0, 0, i0);
    return flash_walk_splits(p, &w);
}

FLASH_HD void flash_split_keys(struct flash_split p, int64_t N, int64_t Nk, int64_t causal,
                               int64_t i0, int64_t sp, int64_t *jb, int64_t *je)
{
    const struct flash_keys none = { 0, 0, NULL, NULL, 1, 1 };
    const struct flash_walk w = flash_walk_of(N, Nk, causal, &none, 0, 0, i0);
    int64_t tb, te;
    flash_walk_split(p, &w, sp, &tb, &te);
    const int64_t kv_end = flash_kv_end(N, Nk, causal, i0);
    *jb = tb * FLASH_BC;
    *je = te * FLASH_BC < kv_end ? te * FLASH_BC : kv_end;
}

#undef FLASH_HD

#endif
