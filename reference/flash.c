/*
 * flash.c — the flash family: the same attention function as softmax
 * (reference/attention.c for the math, shapes and formulas), fused so the
 * N×Nk scores never leave the chip: a query tile of FLASH_BR rows meets the
 * keys FLASH_BC at a time, with the online softmax (running max m, running
 * sum l, the accumulator rescaled by 2^(m_old - m_new) when the max grows).
 *
 * Implementations:
 *   ref   the definition in double precision (shared with softmax)
 *   cpu   the GPU kernel's algorithm in plain C: the same tiles
 *         (ops/flash/flash_tiles.h), the same causal tile skipping, scale·log2(e)
 *         folded into Q and exp2 — so the tiling is proven on every machine and
 *         only the thread mapping is left to the GPU check. fp32 arithmetic;
 *         bf16 and fp16 inputs are exact in fp32 and the output is rounded
 *         to the dtype.
 *         OpenMP over (batch, head, query tile, key split). Split-KV as the
 *         kernel does it (ops/flash/flash_tiles.h: the plan for a GPU of
 *         FLASH_NOMINAL_SMS SMs, so decode shapes take the split path here
 *         too), then the per-row combine of the splits. The tile's rows sit in the
 *         vector lanes and both products run in register-blocked
 *         micro-kernels ("Layout" below): B=1 H=8 N=4096 D=128 fp32 takes
 *         ~290 ms on 2 AVX-512 cores (~235 GFLOP/s; unfused NumPy/OpenBLAS
 *         ~710 ms; the first plain-loop version ~1500 ms).
 *   cuda  a first fused kernel, one query tile per block (ops/flash/flash_fwd.cu)
 *   cudnn cuDNN's fused attention, the vendor baseline (ops/flash/flash_cudnn.c)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "flash.h"
#include "../ops/ops.h"
#include "cpu_kernel.h"

/*
 * Layout: the rows of a query tile sit in the vector lanes. Every per-tile
 * array is [something][FLASH_BR] (Q and the accumulator transposed, the
 * scores transposed to [key][row]), so
 *   - both products are "broadcast one scalar, multiply a row of lanes": K is
 *     read in place, V after a plain copy (flash_v_stride), and only Q (once
 *     per query tile, reused by every key tile) and the output (once) are
 *     transposed;
 *   - the online softmax is lane-wise: the running max, sum and rescale of
 *     each query row are vertical operations, no horizontal reductions.
 * With FLASH_BR = 64 fp32 rows a row of such an array is four 512-bit
 * registers. A tile whose rows fit in one register (FLASH_VL, decode's
 * N = 1) computes only those lanes: the full width would do up to 64 times
 * its work.
 *
 * Register blocking: the micro-kernel keeps FLASH_KB × FLASH_BR sums in
 * registers for its whole reduction loop, 6 × 64 fp32 = 24 of the 32 zmm
 * registers, leaving 4 for the loaded row and the rest for broadcasts. Each
 * row loaded feeds FLASH_KB FMAs; per step that is 4 row loads and 6
 * broadcasts for 24 FMAs, which keeps the two FMA ports busy (measured on a
 * 2-core Xeon with AVX-512, data in L1: 4 columns ran at 80% of the FMA
 * peak, 6 at 87%; 7 would need more than 32 registers).
 */
#define FLASH_KB 6
#define FLASH_VL 16     /* fp32 lanes in a 512-bit register */

struct flash_scratch {
    float *qt;      /* [D][FLASH_BR], Q tile transposed, pre-scaled by scale·log2(e);
                     * lanes past the tile's last row are 0 */
    float *st;      /* [FLASH_BC][FLASH_BR], scores then probabilities, by key */
    float *acc;     /* [Dv][FLASH_BR], the output accumulator transposed */
    float *v;       /* [FLASH_BC][v_stride], the V tile, packed */
    int64_t v_stride;   /* flash_v_stride(Dv) */
    int lanes;      /* lanes computed for this tile: FLASH_VL or FLASH_BR */
    float m[FLASH_BR], l[FLASH_BR];     /* running max (log2 units) and sum */
    float alpha[FLASH_BR];              /* 2^(m_old - m_new) of this key tile */
};

/* The micro-kernel both products share, for nk <= FLASH_KB columns u and
 * the first `lanes` lanes:
 *   out[u][:] = init[u][:] + Σ_{t<n} x[u·xu + t·xt] · rows[t][:]
 * where init is 0 (scale == NULL) or out[u][:] · scale[:]. Always inlined
 * into the fixed versions below, so that nk and lanes are constants, the
 * loops over them unroll and the sums live in registers. */
static inline __attribute__((always_inline)) void
flash_kernel(int nk, int lanes, int64_t n, const float *x, int64_t xu, int64_t xt,
             const float *restrict rows, const float *restrict scale, float *restrict out)
{
    float a[FLASH_KB][FLASH_BR];
    for (int u = 0; u < nk; u++)
        for (int r = 0; r < lanes; r++)
            a[u][r] = scale ? out[u * FLASH_BR + r] * scale[r] : 0.0f;
    for (int64_t t = 0; t < n; t++) {
        const float *restrict row = rows + t * FLASH_BR;
#pragma GCC unroll 6  /* FLASH_KB: pragmas take no macros */
        for (int u = 0; u < nk; u++) {
            const float xv = x[u * xu + t * xt];
            for (int r = 0; r < lanes; r++)
                a[u][r] = cpu_fma(xv, row[r], a[u][r]);
        }
    }
    for (int u = 0; u < nk; u++)
        memcpy(out + u * FLASH_BR, a[u], (size_t)lanes * sizeof a[u][0]);
}

typedef void flash_kernel_fn(int64_t n, const float *x, int64_t xu, int64_t xt,
                             const float *restrict rows, const float *restrict scale,
                             float *restrict out);

/* flash_kernel with nk and lanes fixed. Not inlined nor cloned (noclone is
 * GCC's): compiled once for runtime strides, so its code does not depend on
 * what the callers pass. */
#if defined(__GNUC__) && !defined(__clang__)
#define FLASH_KERNEL_ATTR __attribute__((noinline, noclone))
#else
#define FLASH_KERNEL_ATTR __attribute__((noinline))
#endif
#define FLASH_KERNEL(nk, lanes)                                                              \
    FLASH_KERNEL_ATTR static void flash_kernel_##nk##_##lanes(                               \
        int64_t n, const float *x, int64_t xu, int64_t xt, const float *restrict rows,       \
        const float *restrict scale, float *restrict out)                                    \
    {                                                                                         \
        flash_kernel(nk, lanes, n, x, xu, xt, rows, scale, out);                              \
    }
FLASH_KERNEL(6, 64) FLASH_KERNEL(4, 64) FLASH_KERNEL(2, 64) FLASH_KERNEL(1, 64)
FLASH_KERNEL(6, 16) FLASH_KERNEL(4, 16) FLASH_KERNEL(2, 16) FLASH_KERNEL(1, 16)
_Static_assert(FLASH_KB == 6 && FLASH_BR == 64 && FLASH_VL == 16,
               "the kernel table below is written for these sizes");

/* The kernels by width, widest first: FLASH_KB columns for the bulk, then
 * 4, 2 and 1 for what is left (64 keys = 10·6 + 4, 128 values = 21·6 + 2). */
static const struct {
    int cols;
    flash_kernel_fn *fn[2];     /* [0]: FLASH_BR lanes, [1]: FLASH_VL lanes */
} flash_kernels[] = {
    { 6, { flash_kernel_6_64, flash_kernel_6_16 } },
    { 4, { flash_kernel_4_64, flash_kernel_4_16 } },
    { 2, { flash_kernel_2_64, flash_kernel_2_16 } },
    { 1, { flash_kernel_1_64, flash_kernel_1_16 } },
};

/* Multiply-adds counted as the micro-kernels run (tests), per thread. */
static _Thread_local int64_t flash_tl_macs;
int64_t flash_cpu_macs;

/* flash_kernel over m columns (column u at x + u·xu, out + u·FLASH_BR). */
static void flash_panel(int lanes, int64_t m, int64_t n, const float *x, int64_t xu,
                        int64_t xt, const float *restrict rows, const float *restrict scale,
                        float *restrict out)
{
    const int narrow = lanes == FLASH_VL;
    flash_tl_macs += lanes * m * n;
    for (int64_t u = 0; u < m;) {
        size_t i = 0;
        while (flash_kernels[i].cols > m - u)
            i++;
        flash_kernels[i].fn[narrow](n, x + u * xu, xu, xt, rows, scale, out + u * FLASH_BR);
        u += flash_kernels[i].cols;
    }
}

/* st[j][:] = Σ_d k_j[d] · qt[d][:] for the nc keys of a tile (k_j = k + j·k_stride). */
static void flash_scores(int lanes, int64_t D, int nc, const float *k, int64_t k_stride,
                         const float *restrict qt, float *restrict st)
{
    flash_panel(lanes, nc, D, k, k_stride, 1, qt, NULL, st);
}

/* acc[e][:] = acc[e][:] · alpha[:] + Σ_j v_j[e] · p[j][:] over the nc keys of
 * a tile (v_j = v + j·v_stride): the online softmax's rescale folded into the
 * load of the accumulator. */
static void flash_pv(int lanes, int64_t Dv, int nc, const float *restrict p, const float *v,
                     int64_t v_stride, const float *restrict alpha, float *restrict acc)
{
    flash_panel(lanes, Dv, nc, v, 1, v_stride, p, alpha, acc);
}

/* The online softmax step for one key tile of nc keys, lane-wise over the
 * rows: s (scores, [key][row]) becomes p = 2^(s - m_new), m and l move on,
 * alpha = 2^(m_old - m_new) is left for flash_pv. hide_below: key j is
 * masked for rows r < hide_below + j (causal diagonal tiles; pass a value
 * <= -FLASH_BC otherwise). */
static void flash_softmax(int nc, int64_t hide_below, float *restrict s, struct flash_scratch *w)
{
    const int lanes = w->lanes;
    for (int j = hide_below > 0 ? 0 : (int)-hide_below; j < nc; j++) {
        const int64_t hidden = hide_below + j < lanes ? hide_below + j : lanes;
        for (int r = 0; r < hidden; r++)
            s[j * FLASH_BR + r] = -INFINITY;
    }
    /* Without a window or a block mask every row sees the first key of its
     * split (flash_tiles.h), in the first tile, so the new max is finite;
     * with them a row may have seen no key yet: its max is -inf, and 0
     * stands in for it (every p and alpha is then 0, not NaN). */
    float mx[FLASH_BR], mref[FLASH_BR], sum[FLASH_BR];
    memcpy(mx, w->m, sizeof mx);
    for (int j = 0; j < nc; j++)
        for (int r = 0; r < lanes; r++)
            mx[r] = s[j * FLASH_BR + r] > mx[r] ? s[j * FLASH_BR + r] : mx[r];
    for (int r = 0; r < lanes; r++)
        mref[r] = mx[r] == -INFINITY ? 0.0f : mx[r];
    memset(sum, 0, sizeof sum);
    for (int j = 0; j < nc; j++)
        for (int r = 0; r < lanes; r++) {
            const float x = cpu_exp2(s[j * FLASH_BR + r] - mref[r]);
            s[j * FLASH_BR + r] = x;
            sum[r] += x;
        }
    for (int r = 0; r < lanes; r++) {
        w->alpha[r] = cpu_exp2(w->m[r] - mref[r]);
        w->l[r] = cpu_fma(w->l[r], w->alpha[r], sum[r]);
        w->m[r] = mx[r];
    }
}

/* The window's and the sinks' mask on a tile of nc keys from j0 that
 * flash_window_edge says needs it: every (row, key) by flash_visible. */
static void flash_window_mask(const struct shape *s, const struct flash_keys *m, int64_t i0,
                              int64_t j0, int nc, float *restrict st, int lanes)
{
    for (int j = 0; j < nc; j++)
        for (int r = 0; r < lanes; r++)
            if (!flash_visible(s->N, s->Nk, s->causal, m->window, m->sink, i0 + r, j0 + j))
                st[j * FLASH_BR + r] = -INFINITY;
}

/* The lanes a query tile of nr rows computes. */
static int flash_lanes(int64_t nr)
{
    return nr <= FLASH_VL ? FLASH_VL : FLASH_BR;
}

/* Where a split's partial results go: for output row (b, n, h) — index
 * row = (b·N + n)·H + h — and split sp < max, the unnormalised output
 * o[(row·max + sp)·Dv + e] and ml[(row·max + sp)·2 + {0: m, 1: l}]
 * (m in log2 units). The CUDA kernel's workspace has the same layout. */
struct flash_partials {
    float *o;       /* [B·N·H][max][Dv] */
    float *ml;      /* [B·N·H][max][2] */
    int64_t max;    /* struct flash_split.max */
};

/* One (batch b, head h, query tile starting at row i0, the tiles [tb, te)
 * of its walk wk): what one GPU block does. With split (part != NULL) the
 * tile's rows leave their unnormalised output, max and sum as split sp;
 * else the output (0 for a row that saw no key). */
static void flash_tile(const struct shape *s, const struct flash_keys *m, float qscale,
                       const float *const in[], float *out, int64_t b, int64_t h, int64_t i0,
                       const struct flash_walk *wk, int64_t tb, int64_t te,
                       const struct flash_partials *part, int64_t sp, struct flash_scratch *w)
{
    const int64_t N = s->N, Nk = s->Nk, H = s->H, Hkv = s->Hkv, D = s->D, Dv = s->Dv;
    const int64_t g = h / (H / Hkv), shift = Nk - N;   /* causal: key j visible iff j <= i + shift */
    const int nr = (int)(N - i0 < FLASH_BR ? N - i0 : FLASH_BR);
    w->lanes = flash_lanes(nr);
    const float *k = in[1] + (b * Nk * Hkv + g) * D;
    const float *v = in[2] + (b * Nk * Hkv + g) * Dv;

    /* Lanes past nr stay zero: finite scores, never written out. */
    memset(w->qt, 0, (size_t)(D * FLASH_BR) * sizeof *w->qt);
    for (int r = 0; r < nr; r++) {
        const float *qr = in[0] + ((b * N + i0 + r) * H + h) * D;
        for (int64_t d = 0; d < D; d++)
            w->qt[d * FLASH_BR + r] = qr[d] * qscale;
    }
    for (int r = 0; r < FLASH_BR; r++)
        w->m[r] = -INFINITY, w->l[r] = 0;
    memset(w->acc, 0, (size_t)(Dv * FLASH_BR) * sizeof *w->acc);

    /* Key tiles past the last row's diagonal, or outside every row's window
     * and the sinks, are never loaded (the walk, flash_tiles.h). */
    const int64_t kv_end = flash_kv_end(N, Nk, s->causal, i0);
    for (int64_t t = tb; t < te; t++) {
        const int64_t j0 = flash_walk_key(wk, t);
        const int nc = (int)(kv_end - j0 < FLASH_BC ? kv_end - j0 : FLASH_BC);
        flash_scores(w->lanes, D, nc, k + j0 * Hkv * D, Hkv * D, w->qt, w->st);
        if (flash_window_edge(N, Nk, m, i0, j0, nc))
            flash_window_mask(s, m, i0, j0, nc, w->st, w->lanes);
        /* A tile needs the mask when it crosses the first row's diagonal:
         * key j0 + j is hidden from row i0 + r when r < j0 + j - i0 - shift. */
        const int diagonal = s->causal && j0 + FLASH_BC - 1 > i0 + shift;
        flash_softmax(nc, diagonal ? j0 - i0 - shift : -FLASH_BC, w->st, w);
        /* The V tile is packed (flash_v_stride) when the products amortise
         * the copy; a tile of FLASH_VL lanes does a quarter of the work per
         * element and is faster reading V in place (decode: ~10%). */
        const float *vt = v + j0 * Hkv * Dv;
        int64_t vt_stride = Hkv * Dv;
        if (w->lanes == FLASH_BR) {
            for (int j = 0; j < nc; j++)
                memcpy(w->v + j * w->v_stride, vt + j * vt_stride, (size_t)Dv * sizeof *v);
            vt = w->v, vt_stride = w->v_stride;
        }
        flash_pv(w->lanes, Dv, nc, w->st, vt, vt_stride, w->alpha, w->acc);
    }

    if (part) {
        for (int r = 0; r < nr; r++) {
            const int64_t slot = ((b * N + i0 + r) * H + h) * part->max + sp;
            for (int64_t e = 0; e < Dv; e++)
                part->o[slot * Dv + e] = w->acc[e * FLASH_BR + r];
            part->ml[slot * 2] = w->m[r], part->ml[slot * 2 + 1] = w->l[r];
        }
        return;
    }
    for (int r = 0; r < nr; r++) {
        float *o = out + ((b * N + i0 + r) * H + h) * Dv, inv = w->l[r] > 0 ? 1.0f / w->l[r] : 0;
        for (int64_t e = 0; e < Dv; e++) {
            float x = w->acc[e * FLASH_BR + r] * inv;
            o[e] = dtype_round(s->dtype, x);
        }
    }
}

/* Per-thread scratch, cache-line aligned so every row of FLASH_BR lanes (and
 * of the packed V tile) starts on a line. */
#define FLASH_ALIGN 64

static float *flash_alloc(int64_t rows, int64_t cols)
{
    size_t bytes = (size_t)(rows * cols) * sizeof(float);
    /* aligned_alloc wants a multiple of the alignment. */
    return aligned_alloc(FLASH_ALIGN, (bytes + FLASH_ALIGN - 1) / FLASH_ALIGN * FLASH_ALIGN);
}

/* flash_pv walks down FLASH_KB columns of the V tile. In place, V's rows are
 * Hkv·Dv floats apart, 4 KiB at Hkv = 8, Dv = 128: every row of a tile lands
 * in the same L1 set and they evict each other (the whole run took 1.7x as
 * long). The tile is copied into rows an odd number of cache lines (16
 * floats) long, which spreads any 64 consecutive rows over 64 sets. */
static int64_t flash_v_stride(int64_t Dv)
{
    return ((Dv + 15) & ~(int64_t)15) | 16;
}

/* Output row (b, n, h) from its `count` splits (struct flash_partials):
 * m* = max m_s, l* = Σ l_s·2^(m_s - m*), O = Σ O_s·2^(m_s - m*) / l*.
 * Without a window or a block mask every m_s is finite (every split has a
 * key each row sees); with them a split the row saw nothing of has m_s =
 * -inf and weight 0, and a row that saw no key at all is 0. */
static void flash_combine_row(const struct shape *s, const struct flash_partials *part,
                              int64_t count, int64_t b, int64_t n, int64_t h, float *out)
{
    const int64_t Dv = s->Dv, slot0 = ((b * s->N + n) * s->H + h) * part->max;
    const float *ml = part->ml + slot0 * 2, *po = part->o + slot0 * Dv;
    float mx = -INFINITY, l = 0.0f;
    for (int64_t sp = 0; sp < count; sp++)
        mx = ml[sp * 2] > mx ? ml[sp * 2] : mx;
    mx = mx == -INFINITY ? 0.0f : mx;
    float *o = out + ((b * s->N + n) * s->H + h) * Dv;
    for (int64_t e = 0; e < Dv; e++)
        o[e] = 0.0f;
    for (int64_t sp = 0; sp < count; sp++) {
        const float wgt = cpu_exp2(ml[sp * 2] - mx);
        l = cpu_fma(ml[sp * 2 + 1], wgt, l);
        for (int64_t e = 0; e < Dv; e++)
            o[e] = cpu_fma(po[sp * Dv + e], wgt, o[e]);
    }
    const float inv = l > 0 ? 1.0f / l : 0.0f;
    for (int64_t e = 0; e < Dv; e++)
        o[e] = dtype_round(s->dtype, o[e] * inv);
}

int flash_cpu_run_keys(struct op_ctx *ctx, const struct flash_keys *m, struct flash_split plan)
{
    const struct shape *s = ctx->shape;
    const int64_t N = s->N, Nk = s->Nk, causal = s->causal;
    const int64_t tiles = (N + FLASH_BR - 1) / FLASH_BR;
    const float qscale = (float)(ctx->scale * 1.4426950408889634);  /* log2(e) */
    /* Split partials in host memory laid out as the kernel's workspace. */
    struct flash_partials part = { NULL, NULL, plan.max };
    if (plan.max > 1) {
        const int64_t slots = s->B * N * s->H * plan.max;
        part.o = malloc((size_t)(slots * s->Dv) * sizeof *part.o);
        part.ml = malloc((size_t)(slots * 2) * sizeof *part.ml);
        if (!part.o || !part.ml) {
            free(part.o), free(part.ml);
            snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory for split partials");
            return SB_OOM;
        }
    }
    int failed = 0;
    int64_t macs = 0;
#pragma omp parallel num_threads(ctx->threads) reduction(| : failed) reduction(+ : macs)
    {
        struct flash_scratch w;
        flash_tl_macs = 0;
        w.qt = flash_alloc(s->D, FLASH_BR);
        w.st = flash_alloc(FLASH_BC, FLASH_BR);
        w.acc = flash_alloc(s->Dv, FLASH_BR);
        w.v_stride = flash_v_stride(s->Dv);
        w.v = flash_alloc(FLASH_BC, w.v_stride);
        failed = !w.qt || !w.st || !w.acc || !w.v;
        /* Longest tiles first: with causal masks the last query tiles see
         * the most keys, so hand them out first. A GPU block per (tile,
         * split); splits past a tile's count have no keys and no block's
         * work (the kernel's such blocks return at once). */
#pragma omp for collapse(3) schedule(dynamic, 1)
        for (int64_t ts = tiles * plan.max - 1; ts >= 0; ts--)
            for (int64_t b = 0; b < s->B; b++)
                for (int64_t h = 0; h < s->H; h++) {
                    const int64_t i0 = ts / plan.max * FLASH_BR, sp = ts % plan.max;
                    const struct flash_walk wk = flash_walk_of(N, Nk, causal, m, b, h, i0);
                    const int64_t count = flash_walk_splits(plan, &wk);
                    int64_t tb, te;
                    if (failed || sp >= count)
                        continue;
                    flash_walk_split(plan, &wk, sp, &tb, &te);
                    flash_tile(s, m, qscale, ctx->in, ctx->out, b, h, i0, &wk, tb, te,
                               count > 1 ? &part : NULL, sp, &w);
                }
        free(w.qt), free(w.st), free(w.acc), free(w.v);
        macs = flash_tl_macs;
        /* The second pass (after the loop's barrier): rows of split tiles,
         * the kernel's combine. */
        if (plan.max > 1) {
#pragma omp for collapse(3) schedule(static)
            for (int64_t b = 0; b < s->B; b++)
                for (int64_t n = 0; n < N; n++)
                    for (int64_t h = 0; h < s->H; h++) {
                        const struct flash_walk wk =
                            flash_walk_of(N, Nk, causal, m, b, h, n / FLASH_BR * FLASH_BR);
                        const int64_t count = flash_walk_splits(plan, &wk);
                        if (!failed && count > 1)
                            flash_combine_row(s, &part, count, b, n, h, ctx->out);
                    }
        }
    }
    free(part.o), free(part.ml);
    flash_cpu_macs += macs;
    if (failed) {
        snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory for tile scratch");
        return SB_OOM;
    }
    return SB_OK;
}

/* flash/cpu: the shape's own mask, the plan the kernel would make on a GPU
 * of FLASH_NOMINAL_SMS SMs (so decode shapes take the split path here too). */
static int flash_cpu_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct flash_keys m = flash_keys_of(s);
    return flash_cpu_run_keys(ctx, &m, flash_splits_keys(s->B, s->H, s->N, s->Nk, s->causal, &m,
                                                         FLASH_NOMINAL_SMS));
}

/* ---- executed counts ----------------------------------------------------------
 *
 * Both products, Q Kᵀ and P V, per query tile (rows i0 .. i0+nr-1 of each
 * batch and head) over the key tiles of its walk, which its splits cover
 * together (flash_tiles.h). The combine of the splits and the softmax are
 * not counted, as in the algorithmic count. */

/* cpu: every key of the walk's tiles up to kv_end, flash_lanes(nr) lanes
 * (the whole tile, or one vector's worth for a decode tile); the diagonal
 * and window-edge tiles whole. */
double flash_cpu_walk_macs(const struct shape *s, int64_t i0, const struct flash_walk *wk)
{
    const int64_t nr = s->N - i0 < FLASH_BR ? s->N - i0 : FLASH_BR;
    const int64_t kv_end = flash_kv_end(s->N, s->Nk, s->causal, i0);
    double keys = 0;
    for (int64_t t = 0; t < wk->count; t++) {
        const int64_t j0 = flash_walk_key(wk, t);
        keys += (double)(kv_end - j0 < FLASH_BC ? kv_end - j0 : FLASH_BC);
    }
    return (double)flash_lanes(nr) * keys * (double)(s->D + s->Dv);
}

/* cuda (ops/flash/flash_fwd.cu): each block computes all FLASH_BR rows
 * (rows past N padded) against whole key tiles of FLASH_BC (keys past the
 * range loaded as zeros). */
double flash_cuda_walk_macs(const struct shape *s, int64_t i0, const struct flash_walk *wk)
{
    (void)i0;
    return (double)FLASH_BR * FLASH_BC * (double)wk->count * (double)(s->D + s->Dv);
}

/* Twice the multiply-adds of every query tile's walk, every batch and head
 * (a walk depends on them only through a block mask's). */
static double flash_walks_sum(const struct shape *s, const struct flash_keys *m,
                              double (*macs)(const struct shape *, int64_t,
                                             const struct flash_walk *))
{
    double sum = 0;
    for (int64_t b = 0; b < m->mB; b++)
        for (int64_t h = 0; h < m->mH; h++)
            for (int64_t i0 = 0; i0 < s->N; i0 += FLASH_BR) {
                const struct flash_walk wk = flash_walk_of(s->N, s->Nk, s->causal, m, b, h, i0);
                sum += macs(s, i0, &wk);
            }
    return 2.0 * (double)(s->B / m->mB) * (double)(s->H / m->mH) * sum;
}

double flash_cpu_executed_keys(const struct shape *s, const struct flash_keys *m)
{
    return flash_walks_sum(s, m, flash_cpu_walk_macs);
}

double flash_cuda_executed_keys(const struct shape *s, const struct flash_keys *m)
{
    return flash_walks_sum(s, m, flash_cuda_walk_macs);
}

static double flash_cpu_flops_executed(const struct shape *s)
{
    const struct flash_keys m = flash_keys_of(s);
    return flash_cpu_executed_keys(s, &m);
}

static double flash_cuda_flops_executed(const struct shape *s)
{
    const struct flash_keys m = flash_keys_of(s);
    return flash_cuda_executed_keys(s, &m);
}

CPU_KERNEL_END

static const struct impl flash_impls[] = {
    {
        .name = "ref", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16) | DT_BIT(DT_FP16),
        .status = "verified",
        .summary = "definition, float64 accumulation, OpenMP",
        .run = attn_ref_run,
    },
    {
        .name = "cpu", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16) | DT_BIT(DT_FP16),
        .status = "verified",
        .summary = "the CUDA kernel's tiled online-softmax algorithm in C, OpenMP",
        .run = flash_cpu_run, .flops_executed = flash_cpu_flops_executed,
    },
    {
        .name = "cuda", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = SB_GPU_STATUS_CPU_ONLY,
        .summary = "first fused kernel: a query tile per block, online softmax, FMA",
        .flops_executed = flash_cuda_flops_executed, SB_GPU_FNS(flash_cuda),
    },
    {
        .name = "cudnn", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16) | DT_BIT(DT_FP16),
        .status = "unverified: never run on a GPU",
        .summary = "cuDNN's fused SDPA (backend graph API; libcudnn.so.9 loaded at run time)",
        SB_GPU_FNS(flash_cudnn),
    },
};

/* The tilings validation checks the edges of (harness/validate.c): the
 * query tiles and, causal, the diagonal, rows whose last visible key
 * n + Nk − N is the first or the last key of a key tile (one key of the
 * diagonal tile seen, or all of it). Every row of a split tile combines
 * every split of its tile (each split starts at a key all the tile's rows
 * see: flash_tiles.h), so checking a tile's rows checks its splits. */
static int flash_row_tilings(const struct shape *s, struct row_tiling *t)
{
    t[0] = (struct row_tiling){ .what = "query tile", .len = FLASH_BR };
    if (!s->causal)
        return 1;
    t[1] = (struct row_tiling){ .what = "diagonal", .len = FLASH_BC,
                                .offset = (s->Nk - s->N) % FLASH_BC };
    if (s->window <= 0)
        return 2;
    /* rows whose first window key n + Nk − N − W + 1 starts a key tile */
    t[2] = (struct row_tiling){ .what = "window edge", .len = FLASH_BC,
                                .offset = ((s->Nk - s->N - s->window + 1) % FLASH_BC + FLASH_BC) %
                                          FLASH_BC };
    return 3;
}

/* The attention edge shapes, then the window's: one wider than a tile with
 * sinks inside it, a split decode (the splits cut the walk's tiles), a
 * window narrower than a tile (rows that see no key of a tile: the -inf
 * guards), one as long as the keys (plain causal attention), one key. */
static const char *const flash_edge_shapes[] = {
    ATTN_EDGE_SHAPES,
    "B=1 N=200 Nk=333 H=4 Hkv=2 D=64 causal window=70 sink=5",
    "B=2 N=1 Nk=4099 H=4 Hkv=2 D=128 causal window=1000 sink=4",
    "B=1 N=130 Nk=130 H=2 Hkv=1 D=64 causal window=16",
    "B=1 N=100 Nk=100 H=2 Hkv=2 D=128 causal window=100 sink=3",
    "B=1 N=70 Nk=90 H=1 Hkv=1 D=64 causal window=1 sink=66",
    NULL,
};

/* A window and sinks appear in the case string only when set, so every
 * flash case from before them keeps its string. */
static unsigned flash_fields_of(const struct shape *s)
{
    return ATTN_FIELDS | (s->window > 0 ? SF_BIT(SF_WINDOW) : 0) |
           (s->sink > 0 ? SF_BIT(SF_SINK) : 0);
}

const struct family family_flash = {
    .name = "flash",
    .summary = "attention fused with the online softmax; no N x Nk buffer",
    .fields = ATTN_FIELDS | ATTN_MASK_FIELDS,
    .fields_of = flash_fields_of,
    .defaults = attn_defaults,
    .validate = attn_validate,
    .flops = attn_flops,
    .min_bytes = attn_min_bytes,
    .io = attn_io,
    .inputs = attn_inputs,
    .reference = attn_reference,
    .row_cost = attn_row_cost,
    .tolerance = attn_tolerance,
    .gpu_ref = attn_gpu_ref,
    .row_tilings = flash_row_tilings,
    .impls = flash_impls,
    .edge_shapes = flash_edge_shapes,
    .n_impls = (int)(sizeof flash_impls / sizeof flash_impls[0]),
};
