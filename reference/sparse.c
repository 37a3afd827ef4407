/*
 * sparse.c — the sparse family: softmax attention over the (query, key)
 * pairs a block mask allows.
 *
 *   O[b,n,h,:] = Σ_j softmax_j(scale · q·k_j + mask) · v_j,   mask[n, j] = 0 iff
 *   block_mask[b|0, h|0, n / bq, j / bk] = 1 (and j <= n + Nk − N when causal),
 *   −∞ otherwise; a row that sees no key is 0, as in FlashAttention and
 *   FlexAttention (not NaN).
 *
 * Tensors: q, k, v and out as flash's (reference/attention.c), plus
 * block_mask [mB, mH, ⌈N/bq⌉, ⌈Nk/bk⌉] (1 = computed; uint8 in dumps), with
 * mB = B or 1 and mH = H or 1 as the pattern makes it (reference/sparse.h).
 * Block sizes bq, bk: 64 or 128 (FlexAttention's default is 128); a block
 * is whole FLASH_BR × FLASH_BC tiles, which the kernels skip or compute.
 *
 * The mask is an input tensor, but it is made from the case's shape fields
 * alone (pattern, density, window, sink, bq, bk; its random stream does not
 * take the run's seed): the case string then names exactly one mask, and
 * the FLOP counts, which see only the shape, are exact. A --load folder
 * must hold that mask (check_inputs refuses another).
 *
 * FLOPs (a multiply-add is 2): 2·(D + Dv) per allowed (query, key) pair,
 * i.e. per pair in a computed block that the causal mask and the end of the
 * keys leave (flops); each implementation's executed count is what its
 * tiles compute (flops_executed): ref the allowed pairs, cpu and cuda every
 * key tile of every computed block, as flash/cpu and flash/cuda count them
 * (reference/flash.c). Compulsory bytes: the query rows that see a key,
 * the keys some row sees (in k and v), the whole output, and the mask, one
 * byte a block.
 *
 * Implementations:
 *   ref   the definition in double precision: attention.c's reference over
 *         each row's allowed keys (sampled rows at long N)
 *   cpu   flash/cpu's tiled online softmax (reference/flash.c) visiting
 *         only each query tile's allowed key tiles, from the compressed
 *         index (ops/sparse/sparse_tiles.h) built at setup
 *   cuda  flash/cuda's kernel (ops/flash/flash_fwd.cu) walking the same
 *         index on the device (ops/sparse/sparse_fwd.cu), split-KV over the
 *         listed tiles for decode
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "flash.h"
#include "sparse.h"
#include "../harness/gpu_ref.h"
#include "../ops/ops.h"
#include "../ops/sparse/sparse_tiles.h"

#define SPARSE_MASK_INPUT 3     /* in[3]: block_mask, after q, k, v */
/* The random pattern's stream, one draw per block of the mask (not the
 * run's seed: see the header). */
#define SPARSE_MASK_SEED 0x5EB5A25E0B10C4D5ull

/* ---- shape -------------------------------------------------------------------- */

/* The fields each pattern reads besides the attention's and the blocks'. */
static const unsigned pattern_fields[SPARSE_PATTERN_COUNT] = {
    [SPARSE_RANDOM] = SF_BIT(SF_DENSITY),
    [SPARSE_WINDOW] = SF_BIT(SF_WINDOW),
    [SPARSE_SINK] = SF_BIT(SF_WINDOW) | SF_BIT(SF_SINK),
    [SPARSE_STRIDED] = SF_BIT(SF_WINDOW) | SF_BIT(SF_DENSITY),
    [SPARSE_MIXED] = SF_BIT(SF_WINDOW) | SF_BIT(SF_SINK) | SF_BIT(SF_DENSITY),
};
#define SPARSE_BASE_FIELDS (ATTN_FIELDS | SF_BIT(SF_PATTERN) | SF_BIT(SF_BQ) | SF_BIT(SF_BK))
#define SPARSE_FIELDS                                                                    \
    (SPARSE_BASE_FIELDS | SF_BIT(SF_DENSITY) | SF_BIT(SF_WINDOW) | SF_BIT(SF_SINK))

static unsigned sparse_fields_of(const struct shape *s)
{
    const int p = s->pattern >= 0 && s->pattern < SPARSE_PATTERN_COUNT ? (int)s->pattern : 0;
    return SPARSE_BASE_FIELDS | pattern_fields[p];
}

/* Defaults: FlexAttention's 128-blocks; 90 % sparsity for random, the
 * dense/streaming split of half the heads for mixed (DuoAttention, LServe);
 * StreamingLLM's 4 sinks and a 1024-key window. The fields a pattern does
 * not read are 0. The streaming patterns are causal. */
static void sparse_defaults(struct shape *s)
{
    if (s->pattern < 0) s->pattern = SPARSE_RANDOM;
    if (s->bq < 0) s->bq = 128;
    if (s->bk < 0) s->bk = 128;
    const unsigned f = s->pattern < SPARSE_PATTERN_COUNT ? pattern_fields[s->pattern] : 0;
    if (s->density < 0) s->density = !(f & SF_BIT(SF_DENSITY)) ? 0 : s->pattern == SPARSE_MIXED ? 50 : 10;
    if (s->window < 0) s->window = f & SF_BIT(SF_WINDOW) ? 1024 : 0;
    if (s->sink < 0) s->sink = f & SF_BIT(SF_SINK) ? 4 : 0;
    if (s->causal < 0) s->causal = s->pattern != SPARSE_RANDOM;
    attn_defaults(s);
}

static int sparse_validate(const struct shape *s, char *msg, size_t n)
{
    if (s->pattern < 0 || s->pattern >= SPARSE_PATTERN_COUNT) {
        snprintf(msg, n, "pattern=%lld: not a pattern", (long long)s->pattern);
        return -1;
    }
    const int64_t blocks[2] = { s->bq, s->bk };
    for (int i = 0; i < 2; i++)
        if (blocks[i] != 64 && blocks[i] != 128) {
            snprintf(msg, n, "%s=%lld: the block size must be 64 or 128", i ? "bk" : "bq",
                     (long long)blocks[i]);
            return -1;
        }
    if (s->density < 0 || s->density > 100) {
        snprintf(msg, n, "density=%lld: a percentage, 0 to 100", (long long)s->density);
        return -1;
    }
    char pat[16];
    shape_field_format(SF_PATTERN, s->pattern, pat, sizeof pat);
    const unsigned reads = pattern_fields[s->pattern];
    const int opt[] = { SF_DENSITY, SF_WINDOW, SF_SINK };
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
        if (!(reads & SF_BIT(opt[i])) && shape_field_get(s, opt[i]) != 0) {
            snprintf(msg, n, "%s=%lld: pattern=%s reads no %s", shape_fields[opt[i]].name,
                     (long long)shape_field_get(s, opt[i]), pat, shape_fields[opt[i]].name);
            return -1;
        }
    if (s->pattern != SPARSE_RANDOM && !s->causal) {
        snprintf(msg, n, "pattern=%s: a streaming pattern needs causal", pat);
        return -1;
    }
    if ((reads & SF_BIT(SF_WINDOW)) && s->window <= 0) {
        snprintf(msg, n, "window=%lld: pattern=%s needs a window of at least one key",
                 (long long)s->window, pat);
        return -1;
    }
    return attn_validate(s, msg, n);
}

struct sparse_dims sparse_dims_of(const struct shape *s)
{
    const struct sparse_dims d = {
        s->pattern == SPARSE_RANDOM ? s->B : 1,
        s->pattern == SPARSE_RANDOM || s->pattern == SPARSE_MIXED ? s->H : 1,
        (s->N + s->bq - 1) / s->bq, (s->Nk + s->bk - 1) / s->bk,
    };
    return d;
}

/* ---- the mask ------------------------------------------------------------------ */

/* Head mh of a mixed mask is dense: density % of the heads, spread evenly
 * (the heads where floor(h·density/100) steps up). */
static int sparse_dense_head(const struct shape *s, int64_t mh)
{
    return (mh + 1) * s->density / 100 > mh * s->density / 100;
}

void sparse_mask_row(const struct shape *s, int64_t mb, int64_t mh, int64_t qb, float *row)
{
    const struct sparse_dims d = sparse_dims_of(s);
    const int64_t shift = s->Nk - s->N, r0 = qb * s->bq;
    const int64_t r1 = (qb + 1) * s->bq < s->N ? (qb + 1) * s->bq - 1 : s->N - 1;
    /* the key blocks holding a key some row sees: up to the last row's
     * diagonal (causal) */
    const int64_t hi = s->causal ? r1 + shift : s->Nk - 1, ncand = hi / s->bk + 1;
    int64_t p = s->pattern;
    if (p == SPARSE_MIXED)
        p = sparse_dense_head(s, mh) ? -1 : SPARSE_SINK;
    for (int64_t kb = 0; kb < d.kblocks; kb++) {
        const int64_t k0 = kb * s->bk, k1 = k0 + s->bk - 1;
        const int64_t lo = r0 + shift - s->window + 1;  /* the first row's first window key */
        const int in_window = k1 >= lo && kb < ncand;
        row[kb] = kb >= ncand ? 0.0f
                : p == -1 ? 1.0f                                        /* a dense head */
                : p == SPARSE_WINDOW ? (float)in_window
                : p == SPARSE_SINK ? (float)(in_window || k0 < s->sink)
                : p == SPARSE_STRIDED
                    ? (float)(in_window ||
                              (s->density > 0 &&
                               (hi / s->bk - kb) % ((100 + s->density / 2) / s->density) == 0))
                : 0.0f;
    }
    if (p != SPARSE_RANDOM)
        return;
    /* random: each candidate independently with probability density/100,
     * from its own draw of one stream (its index in the mask), so any row
     * is made alone and the same everywhere */
    const int64_t cell0 = ((mb * d.mH + mh) * d.qblocks + qb) * d.kblocks;
    for (int64_t kb = 0; kb < ncand; kb++) {
        uint64_t state = SPARSE_MASK_SEED + (uint64_t)(cell0 + kb) * 0x9E3779B97F4A7C15ull;
        /* u·100 < density with u = x/2^53 uniform in [0, 1): exact in integers */
        row[kb] = (float)((sb_rng_next(&state) >> 11) * 100 < (uint64_t)s->density << 53);
    }
}

/* ---- formulas ------------------------------------------------------------------ */

/* (query, key) pairs of rows [r0, r1] and keys [k0, k1] the causal mask
 * leaves: row i sees keys up to i + shift. */
static double sparse_block_pairs(const struct shape *s, int64_t r0, int64_t r1, int64_t k0,
                                 int64_t k1)
{
    const int64_t nk = k1 - k0 + 1, shift = s->Nk - s->N;
    if (!s->causal || k1 <= r0 + shift)         /* every row sees every key */
        return (double)(r1 - r0 + 1) * (double)nk;
    double pairs = 0;
    for (int64_t i = r0; i <= r1; i++) {
        const int64_t seen = i + shift - k0 + 1;
        pairs += (double)(seen < 0 ? 0 : seen > nk ? nk : seen);
    }
    return pairs;
}

/* Calls fn(ctx, mb, mh, qb, row) for every row of the shape's mask, row
 * the mask's bits; 0, or -1 when out of memory. */
static int sparse_rows(const struct shape *s,
                       void (*fn)(void *, int64_t, int64_t, int64_t, const float *), void *ctx)
{
    const struct sparse_dims d = sparse_dims_of(s);
    float *row = malloc((size_t)d.kblocks * sizeof *row);
    if (!row)
        return -1;
    for (int64_t mb = 0; mb < d.mB; mb++)
        for (int64_t mh = 0; mh < d.mH; mh++)
            for (int64_t qb = 0; qb < d.qblocks; qb++) {
                sparse_mask_row(s, mb, mh, qb, row);
                fn(ctx, mb, mh, qb, row);
            }
    free(row);
    return 0;
}

struct sparse_count {
    const struct shape *s;
    double sum;
    double (*walk_macs)(const struct shape *, int64_t, const struct flash_walk *);
    int32_t *list;          /* a query tile's key tiles */
    int64_t tiles, most;    /* the key tiles listed, the longest list */
};

static void count_pairs(void *p, int64_t mb, int64_t mh, int64_t qb, const float *row)
{
    struct sparse_count *c = p;
    const struct shape *s = c->s;
    const int64_t r0 = qb * s->bq, r1 = (r0 + s->bq < s->N ? r0 + s->bq : s->N) - 1;
    (void)mb, (void)mh;
    for (int64_t kb = 0; kb < (s->Nk + s->bk - 1) / s->bk; kb++)
        if (row[kb] != 0.0f)
            c->sum += sparse_block_pairs(s, r0, r1, kb * s->bk,
                                         (kb + 1) * s->bk < s->Nk ? (kb + 1) * s->bk - 1 : s->Nk - 1);
}

/* The mask's broadcast: every mask row stands for (B/mB)·(H/mH) rows. */
static double sparse_repeat(const struct shape *s)
{
    const struct sparse_dims d = sparse_dims_of(s);
    return (double)(s->B / d.mB) * (double)(s->H / d.mH);
}

/* 2·(D + Dv) per allowed pair (NaN when out of memory). */
static double sparse_flops(const struct shape *s)
{
    struct sparse_count c = { .s = s };
    if (sparse_rows(s, count_pairs, &c) != 0)
        return NAN;
    return 2.0 * (double)(s->D + s->Dv) * sparse_repeat(s) * c.sum;
}

/* The key tiles of the row's query tiles: how many, the longest list and,
 * with walk_macs, what flash's tiles execute over them. */
static void count_walks(void *p, int64_t mb, int64_t mh, int64_t qb, const float *row)
{
    struct sparse_count *c = p;
    const struct shape *s = c->s;
    (void)mb, (void)mh;
    for (int64_t i0 = qb * s->bq; i0 < (qb + 1) * s->bq && i0 < s->N; i0 += FLASH_BR) {
        const int64_t n = sparse_tile_list(s, row, i0, c->list);
        const struct flash_walk wk = { n, 0, 0, n, c->list };
        c->tiles += n;
        c->most = n > c->most ? n : c->most;
        if (c->walk_macs)
            c->sum += c->walk_macs(s, i0, &wk);
    }
}

/* count_walks over the whole mask into c (c->s, c->walk_macs set); 0 or -1. */
static int sparse_walks(struct sparse_count *c)
{
    c->list = malloc((size_t)((c->s->Nk + FLASH_BC - 1) / FLASH_BC) * sizeof *c->list);
    const int rc = c->list ? sparse_rows(c->s, count_walks, c) : -1;
    free(c->list);
    return rc;
}

/* What flash's tiles execute over the mask's key tiles (cpu, cuda). */
static double sparse_walks_flops(const struct shape *s,
                                 double (*walk_macs)(const struct shape *, int64_t,
                                                     const struct flash_walk *))
{
    struct sparse_count c = { .s = s, .walk_macs = walk_macs };
    return sparse_walks(&c) ? NAN : 2.0 * sparse_repeat(s) * c.sum;
}

int sparse_index_size(const struct shape *s, int64_t *rows, int64_t *nnz, int64_t *max_tiles)
{
    const struct sparse_dims d = sparse_dims_of(s);
    struct sparse_count c = { .s = s };
    const int rc = sparse_walks(&c);
    *rows = d.mB * d.mH * ((s->N + FLASH_BR - 1) / FLASH_BR);
    *nnz = c.tiles, *max_tiles = c.most;
    return rc;
}

static double sparse_cpu_flops_executed(const struct shape *s)
{
    return sparse_walks_flops(s, flash_cpu_walk_macs);
}

static double sparse_cuda_flops_executed(const struct shape *s)
{
    return sparse_walks_flops(s, flash_cuda_walk_macs);
}

/* What a result depends on, over the mask's rows (mask row order: mb,
 * mh, qb): the query rows that see some key, and per (mask batch, key
 * head) the keys some row of its heads sees, key block kb's keys up to
 * top[kb] (-1: none). */
struct sparse_seen {
    const struct shape *s;
    int64_t *top;
    double q_rows, keys;
};

static void count_seen(void *p, int64_t mb, int64_t mh, int64_t qb, const float *row)
{
    struct sparse_seen *c = p;
    const struct shape *s = c->s;
    const struct sparse_dims d = sparse_dims_of(s);
    const int64_t shift = s->Nk - s->N, r0 = qb * s->bq;
    const int64_t r1 = (r0 + s->bq < s->N ? r0 + s->bq : s->N) - 1;
    int64_t first = s->Nk;      /* the first key a kept block shows some row */
    (void)mb;
    for (int64_t kb = 0; kb < d.kblocks; kb++) {
        const int64_t k0 = kb * s->bk, k1 = k0 + s->bk < s->Nk ? k0 + s->bk - 1 : s->Nk - 1;
        const int64_t top = s->causal && r1 + shift < k1 ? r1 + shift : k1;
        if (row[kb] == 0.0f || top < k0)
            continue;
        c->top[kb] = top > c->top[kb] ? top : c->top[kb];
        first = k0 < first ? k0 : first;
    }
    /* rows from the first that reaches that key (causal: i + shift >= first) */
    const int64_t from = !s->causal || first - shift < r0 ? r0 : first - shift;
    c->q_rows += first < s->Nk && from <= r1 ? (double)(r1 - from + 1) : 0;
    /* the last row of the last head of a key head's group (or of the only
     * mask head): its keys are counted */
    const int64_t group = s->H / s->Hkv;
    if (qb == d.qblocks - 1 && (d.mH == 1 || mh % group == group - 1))
        for (int64_t kb = 0; kb < d.kblocks; kb++) {
            c->keys += c->top[kb] >= 0 ? (double)(c->top[kb] - kb * s->bk + 1) : 0;
            c->top[kb] = -1;
        }
}

/* Compulsory bytes: the query rows that see some key and the keys some
 * row sees read once (a block the mask leaves out is not charged: a
 * sparse decode reads only its kept blocks), every output row written
 * once (a row that sees no key writes its zeros), and the mask, one byte
 * a block. NaN when out of memory. */
static double sparse_min_bytes(const struct shape *s)
{
    const struct sparse_dims d = sparse_dims_of(s);
    struct sparse_seen c = { .s = s, .top = malloc((size_t)d.kblocks * sizeof *c.top) };
    if (!c.top)
        return NAN;
    for (int64_t kb = 0; kb < d.kblocks; kb++)
        c.top[kb] = -1;
    const int rc = sparse_rows(s, count_seen, &c);
    free(c.top);
    if (rc != 0)
        return NAN;
    /* a mask row stands for (B/mB)·(H/mH) rows; a key count for B/mB
     * batches and, with one mask head, every key head */
    const double q = c.q_rows * sparse_repeat(s) * (double)s->D;
    const double kv = c.keys * (double)(s->B / d.mB) * (double)(d.mH == 1 ? s->Hkv : 1) *
                      (double)(s->D + s->Dv);
    const double o = (double)s->B * s->N * s->H * s->Dv;
    return (q + kv + o) * dtype_table[s->dtype].bytes +
           (double)(d.mB * d.mH * d.qblocks * d.kblocks);
}

/* ---- tensors ------------------------------------------------------------------- */

static void sparse_io(const struct shape *s, struct io_specs *io)
{
    const struct sparse_dims d = sparse_dims_of(s);
    attn_io(s, io);
    io->n_in = 4;
    io->in[SPARSE_MASK_INPUT] = (struct tensor_spec){
        .name = "block_mask", .ndim = 4, .dims = { d.mB, d.mH, d.qblocks, d.kblocks }, .u8 = 1 };
}

/* q, k, v as flash's (the same streams: a sparse case's q, k, v equal the
 * dense case's of the same shape and seed), then the mask. */
static void sparse_inputs(const struct shape *s, uint64_t seed, float *const in[])
{
    const struct sparse_dims d = sparse_dims_of(s);
    attn_inputs(s, seed, in);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < d.mB * d.mH * d.qblocks; r++)
        sparse_mask_row(s, r / (d.mH * d.qblocks), r / d.qblocks % d.mH, r % d.qblocks,
                        in[SPARSE_MASK_INPUT] + r * d.kblocks);
}

/* A loaded mask must be the one the shape's fields make. */
static int sparse_check_inputs(const struct shape *s, const float *const in[], char *msg,
                               size_t n)
{
    const struct sparse_dims d = sparse_dims_of(s);
    float *row = malloc((size_t)d.kblocks * sizeof *row);
    int rc = 0;
    if (!row) {
        snprintf(msg, n, "block_mask: out of host memory to check it");
        return -1;
    }
    for (int64_t r = 0; r < d.mB * d.mH * d.qblocks && !rc; r++) {
        const float *got = in[SPARSE_MASK_INPUT] + r * d.kblocks;
        sparse_mask_row(s, r / (d.mH * d.qblocks), r / d.qblocks % d.mH, r % d.qblocks, row);
        for (int64_t kb = 0; kb < d.kblocks && !rc; kb++)
            if (got[kb] != row[kb]) {
                char pat[16];
                shape_field_format(SF_PATTERN, s->pattern, pat, sizeof pat);
                snprintf(msg, n, "block_mask[%lld,%lld,%lld,%lld] is %g where pattern=%s makes %g: "
                         "the mask follows from the shape fields (change those, not the mask)",
                         (long long)(r / (d.mH * d.qblocks)), (long long)(r / d.qblocks % d.mH),
                         (long long)(r % d.qblocks), (long long)kb, (double)got[kb], pat,
                         (double)row[kb]);
                rc = -1;
            }
    }
    free(row);
    return rc;
}

/* ---- reference ------------------------------------------------------------------- */

/* Row (b, n) of head h: the runs of computed key blocks of its mask row,
 * cut at its causal end. */
static int64_t sparse_spans(const struct shape *s, const float *const in[], int64_t b, int64_t h,
                            int64_t n, int64_t *iv)
{
    const struct sparse_dims d = sparse_dims_of(s);
    const float *row = in[SPARSE_MASK_INPUT] +
                       (((d.mB == 1 ? 0 : b) * d.mH + (d.mH == 1 ? 0 : h)) * d.qblocks +
                        n / s->bq) * d.kblocks;
    const int64_t end = s->causal ? n + s->Nk - s->N + 1 : s->Nk;
    int64_t k = 0;
    for (int64_t kb = 0; kb < d.kblocks && kb * s->bk < end; kb++) {
        if (row[kb] == 0.0f)
            continue;
        const int64_t j0 = kb * s->bk, j1 = j0 + s->bk < end ? j0 + s->bk : end;
        if (k && iv[2 * k - 1] == j0)
            iv[2 * k - 1] = j1;         /* extends the previous run */
        else
            iv[2 * k] = j0, iv[2 * k + 1] = j1, k++;
    }
    return k;
}

static void sparse_reference(const struct shape *s, double scale, const float *const in[],
                             const int64_t *rows, int64_t nrows, double *out, double *final)
{
    (void)final;
    const struct attn_spans sp = { sparse_spans, (sparse_dims_of(s).kblocks + 1) / 2 };
    attn_reference_spans(s, scale, in, &sp, rows, nrows, out);
}

/* The `ref` implementation: every row through sparse_reference. */
static int sparse_ref_run(struct op_ctx *ctx)
{
    return attn_ref_run_with(ctx, sparse_reference);
}

/* The mask bounds a row's cost by the dense one, which is what the row
 * sampler budgets (it needs a cost from the shape alone). */
static double sparse_row_cost(const struct shape *s, int64_t row)
{
    struct shape dense = *s;
    dense.window = dense.sink = 0;
    return attn_row_cost(&dense, row);
}

static int sparse_gpu_ref(const struct shape *s, double scale, const float *const in[],
                          struct gref_case *c)
{
    const struct sparse_dims d = sparse_dims_of(s);
    attn_gpu_ref(s, scale, in, c);
    c->window = c->sink = 0;        /* the block mask is the whole mask */
    c->mask = in[SPARSE_MASK_INPUT];
    c->mB = d.mB, c->mH = d.mH, c->bq = s->bq, c->bk = s->bk;
    return 1;
}

/* The query tiles of the kernels (flash_tiles.h), the query blocks of the
 * mask when larger, and causal, the diagonal: the rows whose last visible
 * key starts or ends a key tile. */
static int sparse_row_tilings(const struct shape *s, struct row_tiling *t)
{
    int k = 0;
    t[k++] = (struct row_tiling){ .what = "query tile", .len = FLASH_BR };
    if (s->bq != FLASH_BR)
        t[k++] = (struct row_tiling){ .what = "query block", .len = s->bq };
    if (s->causal)
        t[k++] = (struct row_tiling){ .what = "diagonal", .len = FLASH_BC,
                                      .offset = (s->Nk - s->N) % FLASH_BC };
    return k;
}

/* ---- cpu ------------------------------------------------------------------------ */

struct sparse_cpu {
    int32_t *ptr, *idx;     /* the block index (ops/sparse/sparse_tiles.h) */
    int64_t max_tiles;
};

static int sparse_cpu_setup(struct op_ctx *ctx)
{
    struct sparse_cpu *st = calloc(1, sizeof *st);
    if (!st || sparse_tile_index(ctx->shape, ctx->in[SPARSE_MASK_INPUT], &st->ptr, &st->idx,
                                 &st->max_tiles) != 0) {
        free(st);
        snprintf(ctx->err, sizeof ctx->err, "cpu: out of host memory for the block index");
        return SB_OOM;
    }
    ctx->priv = st;
    return SB_OK;
}

/* flash/cpu over the index, split as flash/cuda would split it on a GPU of
 * FLASH_NOMINAL_SMS SMs (decode takes the split path here too). */
static int sparse_cpu_run(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const struct sparse_cpu *st = ctx->priv;
    const struct sparse_dims d = sparse_dims_of(s);
    const struct flash_keys keys = { 0, 0, st->ptr, st->idx, d.mB, d.mH };
    const int64_t blocks = s->B * s->H * ((s->N + FLASH_BR - 1) / FLASH_BR);
    return flash_cpu_run_keys(ctx, &keys,
                              flash_splits_for(blocks, st->max_tiles, FLASH_NOMINAL_SMS));
}

static void sparse_cpu_teardown(struct op_ctx *ctx)
{
    struct sparse_cpu *st = ctx->priv;
    if (st)
        free(st->ptr), free(st->idx);
    free(st);
    ctx->priv = NULL;
}

static const struct impl sparse_impls[] = {
    {
        .name = "ref", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16) | DT_BIT(DT_FP16),
        .status = "verified",
        .summary = "definition: masked softmax over the allowed keys, float64, OpenMP",
        .run = sparse_ref_run,
    },
    {
        .name = "cpu", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16) | DT_BIT(DT_FP16),
        .status = "verified",
        .summary = "flash/cpu's tiled online softmax over the allowed key tiles (block index)",
        .setup = sparse_cpu_setup, .run = sparse_cpu_run, .teardown = sparse_cpu_teardown,
        .flops_executed = sparse_cpu_flops_executed,
    },
    {
        .name = "cuda", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
        .status = SB_GPU_STATUS_CPU_ONLY,
        .summary = "flash/cuda's kernel walking the block index, split-KV over its tiles",
        .flops_executed = sparse_cuda_flops_executed, SB_GPU_FNS(sparse_cuda),
    },
};

/* Every boundary of the mask and the tiles: density 0 (every row 0) and
 * 100 (dense), a causal random mask whose first query blocks keep no key
 * block (rows of zeros), bq != bk both ways, GQA and MQA, decode against a
 * streaming mask and a random one, every pattern, Nk > N, partial tiles. */
static const char *const sparse_edge_shapes[] = {
    "B=1 N=300 Nk=300 H=2 Hkv=1 D=64 pattern=random density=0",
    "B=1 N=200 Nk=333 H=2 Hkv=1 D=64 causal pattern=random density=100 bq=64 bk=128",
    "B=2 N=300 Nk=300 H=2 Hkv=2 D=64 causal pattern=random density=20 bq=128 bk=64",
    "B=2 N=130 Nk=200 H=3 Hkv=1 D=128 pattern=random density=50 bq=64 bk=64",
    "B=1 N=1 Nk=4099 H=4 Hkv=2 D=128 causal pattern=sink window=512 sink=4",
    "B=1 N=1 Nk=5000 H=2 Hkv=2 D=64 causal pattern=random density=10 bq=64 bk=64",
    "B=1 N=257 Nk=257 H=4 Hkv=2 D=64 causal pattern=mixed density=50 window=128 sink=4 bq=64 bk=64",
    "B=1 N=300 Nk=300 H=2 Hkv=2 D=64 causal pattern=strided density=25 window=64 bq=64 bk=64",
    "B=1 N=260 Nk=300 H=2 Hkv=2 D=128 causal pattern=window window=100",
    NULL,
};

const struct family family_sparse = {
    .name = "sparse",
    .summary = "block-sparse attention: flash's tiles over the (query, key) blocks a mask allows",
    .fields = SPARSE_FIELDS,
    .fields_of = sparse_fields_of,
    .defaults = sparse_defaults,
    .validate = sparse_validate,
    .flops = sparse_flops,
    .min_bytes = sparse_min_bytes,
    .io = sparse_io,
    .inputs = sparse_inputs,
    .reference = sparse_reference,
    .row_cost = sparse_row_cost,
    .tolerance = attn_tolerance,
    .check_inputs = sparse_check_inputs,
    .row_tilings = sparse_row_tilings,
    .gpu_ref = sparse_gpu_ref,
    .impls = sparse_impls,
    .n_impls = (int)(sizeof sparse_impls / sizeof sparse_impls[0]),
    .edge_shapes = sparse_edge_shapes,
};
