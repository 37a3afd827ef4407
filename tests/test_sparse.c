/*
 * test_sparse.c — the sparse family on the CPU: every CPU implementation
 * against the reference over the edge shapes and every dtype; the block
 * masks each pattern makes, counted against their definitions; the
 * algorithmic FLOPs against a brute-force count of allowed pairs and the
 * reference's own multiply-adds; sparse/cpu's executed count against its
 * micro-kernels'; the block index against the mask; rows that see no key
 * are 0; density 100 is dense attention; planted faults (the mask
 * ignored, a no-key row not 0) are mismatches; a loaded mask that is not the
 * pattern's is refused; bad shapes name their field; sparse/cuda stored as
 * skipped without a GPU (run over the edge shapes with one).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/sparse/sparse_tiles.h"
#include "../reference/attention.h"
#include "../reference/sparse.h"
#include "check.h"
#include "check_shape.h"
#include "gpu.h"
#include "runcase.h"
#include "validate.h"

static struct case_req req_for(const char *impl, struct shape s)
{
    struct case_req q = { .family = family_find("sparse"), .shape = s, .seed = 7,
                          .device = "cpu", .no_gpu_reason = "no CUDA device", .verify_only = 1 };
    q.impl = impl_find(q.family, impl);
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    return q;
}

/* The case's inputs, made as run_case makes them. */
struct inputs {
    struct io_specs io;
    float *in[SB_MAX_TENSORS];
};

static void inputs_make(const struct shape *s, uint64_t seed, struct inputs *x)
{
    const struct family *f = family_find("sparse");
    f->io(s, &x->io);
    for (int t = 0; t < x->io.n_in; t++)
        x->in[t] = malloc((size_t)tensor_numel(&x->io.in[t]) * sizeof(float));
    f->inputs(s, seed, x->in);
}

static void inputs_free(struct inputs *x)
{
    for (int t = 0; t < x->io.n_in; t++)
        free(x->in[t]);
}

/* mask[b|0, h|0, n / bq, j / bk] and the causal mask, straight from the
 * definition. */
static int allowed(const struct shape *s, const float *mask, int64_t b, int64_t h, int64_t n,
                   int64_t j)
{
    const struct sparse_dims d = sparse_dims_of(s);
    const int64_t mb = d.mB == 1 ? 0 : b, mh = d.mH == 1 ? 0 : h;
    return (!s->causal || j <= n + s->Nk - s->N) &&
           mask[((mb * d.mH + mh) * d.qblocks + n / s->bq) * d.kblocks + j / s->bk] != 0.0f;
}

/* What a mask holds: empty query-block rows (keeping no block), kept rows
 * (keeping one or more), blocks kept. */
struct mask_count {
    int64_t empty, kept, blocks;
};

static struct mask_count mask_count(const struct shape *s)
{
    const struct sparse_dims d = sparse_dims_of(s);
    struct mask_count c = { 0 };
    float *row = malloc((size_t)d.kblocks * sizeof *row);
    for (int64_t mb = 0; mb < d.mB; mb++)
        for (int64_t mh = 0; mh < d.mH; mh++)
            for (int64_t qb = 0; qb < d.qblocks; qb++) {
                sparse_mask_row(s, mb, mh, qb, row);
                int64_t n = 0;
                for (int64_t kb = 0; kb < d.kblocks; kb++)
                    n += row[kb] != 0.0f;
                c.empty += n == 0, c.kept += n > 0, c.blocks += n;
            }
    free(row);
    return c;
}

/* Every CPU implementation matches the reference on every edge shape, in
 * every dtype it takes, on every row; the edge shapes hold the masks issue
 * 18 names: density 0 (no block), density 100 (every causal block) and a
 * mask with an empty query-block row beside kept ones. */
static void test_edge_shapes(void)
{
    const struct family *f = family_find("sparse");
    int none = 0, all = 0, some_empty = 0;
    for (int k = 0; f->edge_shapes[k]; k++) {
        const struct shape s = mk("sparse", f->edge_shapes[k], DT_FP32);
        const struct mask_count c = mask_count(&s);
        none |= s.density == 0 && s.pattern == SPARSE_RANDOM && c.blocks == 0;
        all |= s.density == 100 && c.empty == 0;
        some_empty |= c.empty > 0 && c.kept > 0;
    }
    CHECK(none && all && some_empty,
          "edge shapes: density 0 (%d), density 100 (%d), an empty query-block row (%d)", none,
          all, some_empty);
    const char *impls[] = { "ref", "cpu" };
    for (int k = 0; f->edge_shapes[k]; k++)
        for (int t = 0; t < DT_COUNT; t++)
            for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++) {
                struct shape s = mk("sparse", f->edge_shapes[k], (enum dtype)t);
                struct case_req q = req_for(impls[i], s);
                struct case_result r;
                run_case(&q, &r);
                CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status,
                      r.error ? r.error : "", r.rec.rel_err);
                CHECK(r.rec.rows_checked == s.B * s.N, "%s: every row checked", r.case_str);
                case_result_free(&r);
            }
}

/* The masks: dimensions per pattern; random keeps about density % of the
 * causal blocks (0 % none, 100 % all), the same bits for any run seed;
 * window, sink, strided and mixed keep exactly what their definitions
 * say (reference/sparse.h), counted here block by block. */
static void test_masks(void)
{
    const struct { const char *words; int64_t mB, mH; } dims[] = {
        { "B=2 N=300 H=3 pattern=random", 2, 3 },
        { "B=2 N=300 H=3 causal pattern=window", 1, 1 },
        { "B=2 N=300 H=3 causal pattern=sink", 1, 1 },
        { "B=2 N=300 H=3 causal pattern=strided", 1, 1 },
        { "B=2 N=300 H=3 causal pattern=mixed", 1, 3 },
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        const struct shape s = mk("sparse", dims[i].words, DT_FP32);
        const struct sparse_dims d = sparse_dims_of(&s);
        CHECK(d.mB == dims[i].mB && d.mH == dims[i].mH && d.qblocks == 3 && d.kblocks == 3,
              "%s: mask [%lld,%lld,%lld,%lld]", dims[i].words, (long long)d.mB,
              (long long)d.mH, (long long)d.qblocks, (long long)d.kblocks);
    }

    /* random: realised density over 2^20 causal candidates of a 2048 x
     * 2048-block head (binomial: 5 sigma is 0.15 %), 0 and 100 exact. */
    const int64_t densities[] = { 0, 7, 50, 100 };
    for (size_t i = 0; i < sizeof densities / sizeof densities[0]; i++) {
        char words[128];
        snprintf(words, sizeof words, "B=1 N=131072 H=1 D=64 causal bq=64 bk=64 density=%lld",
                 (long long)densities[i]);
        const struct shape s = mk("sparse", words, DT_FP32);
        const struct sparse_dims d = sparse_dims_of(&s);
        float *row = malloc((size_t)d.kblocks * sizeof *row);
        double kept = 0, cand = 0;
        int above = 0;
        for (int64_t qb = 0; qb < d.qblocks; qb++) {
            sparse_mask_row(&s, 0, 0, qb, row);
            for (int64_t kb = 0; kb < d.kblocks; kb++) {
                kept += row[kb];
                cand += kb <= qb;
                above |= kb > qb && row[kb] != 0.0f;
            }
        }
        const double got = 100.0 * kept / cand;
        CHECK(!above && fabs(got - (double)densities[i]) < 0.15 &&
                  (densities[i] % 100 != 0 || got == (double)densities[i]),
              "random density=%lld keeps %.3f %% of the causal blocks, none above", 
              (long long)densities[i], got);
        free(row);
    }

    /* The mask does not take the run's seed; q does. */
    const struct shape r = mk("sparse", "B=2 N=700 H=2 D=64 density=30 bq=64 bk=64", DT_FP32);
    struct inputs a, b;
    inputs_make(&r, 1, &a);
    inputs_make(&r, 2, &b);
    CHECK(memcmp(a.in[3], b.in[3], (size_t)tensor_numel(&a.io.in[3]) * sizeof(float)) == 0 &&
              memcmp(a.in[0], b.in[0], (size_t)tensor_numel(&a.io.in[0]) * sizeof(float)) != 0,
          "the mask is the same for seeds 1 and 2, q is not");
    inputs_free(&a), inputs_free(&b);

    /* The streaming patterns against their definitions, block by block:
     * Nk > N (a shifted diagonal), blocks 64 x 128. */
    const char *streaming[] = {
        "B=1 N=1000 Nk=1300 H=8 D=64 causal pattern=window window=300 bq=64 bk=128",
        /* the window's first key the last key of a block (rows 256.., W = 130), a
         * sink bound on a block's first key */
        "B=1 N=1000 Nk=1000 H=8 D=64 causal pattern=sink window=130 sink=128 bq=64 bk=128",
        "B=1 N=1000 Nk=1300 H=8 D=64 causal pattern=sink window=200 sink=130 bq=64 bk=128",
        "B=1 N=1000 Nk=1300 H=8 D=64 causal pattern=strided window=64 density=25 bq=128 bk=64",
        "B=1 N=1000 Nk=1300 H=8 D=64 causal pattern=mixed window=100 sink=4 density=25 bq=64 bk=64",
    };
    for (size_t i = 0; i < sizeof streaming / sizeof streaming[0]; i++) {
        const struct shape s = mk("sparse", streaming[i], DT_FP32);
        const struct sparse_dims d = sparse_dims_of(&s);
        const int64_t shift = s.Nk - s.N;
        float *row = malloc((size_t)d.kblocks * sizeof *row);
        int ok = 1, dense_heads = 0;
        for (int64_t mh = 0; mh < d.mH; mh++) {
            int dense = 1;
            for (int64_t qb = 0; qb < d.qblocks; qb++) {
                sparse_mask_row(&s, 0, mh, qb, row);
                const int64_t r0 = qb * s.bq, r1 = (r0 + s.bq < s.N ? r0 + s.bq : s.N) - 1;
                for (int64_t kb = 0; kb < d.kblocks; kb++) {
                    const int64_t k0 = kb * s.bk, k1 = k0 + s.bk - 1;
                    const int causal = k0 <= r1 + shift;
                    /* some row's window [i + shift - W + 1, i + shift] meets the block */
                    const int win = causal && k1 >= r0 + shift - s.window + 1;
                    const int diag = (r1 + shift) / s.bk;
                    int want = win;
                    if (s.pattern == SPARSE_SINK)
                        want = causal && (win || k0 < s.sink);
                    if (s.pattern == SPARSE_STRIDED)
                        want = causal && (win || (diag - kb) % 4 == 0);
                    if (s.pattern == SPARSE_MIXED) {
                        dense &= row[kb] == (float)causal;
                        continue;
                    }
                    ok &= row[kb] == (float)want;
                }
            }
            dense_heads += dense;
        }
        if (s.pattern == SPARSE_MIXED)
            CHECK(dense_heads == 2, "%s: %d of 8 heads dense, want 25 %%", streaming[i],
                  dense_heads);
        else
            CHECK(ok, "%s: every block as the pattern defines it", streaming[i]);
        free(row);
    }
}

/* The algorithmic count is 2·(D + Dv) per allowed (query, key) pair, as
 * counted here from the mask tensor, and twice the reference's
 * multiply-adds; the reference's executed count is the same. */
static void test_flops(void)
{
    const char *shapes[] = {
        "B=2 N=130 Nk=200 H=3 Hkv=1 D=8 Dv=16 pattern=random density=40 bq=64 bk=64",
        "B=1 N=300 Nk=333 H=2 D=8 causal pattern=random density=60 bq=128 bk=64",
        "B=1 N=200 Nk=260 H=4 D=4 causal pattern=sink window=70 sink=5 bq=64 bk=128",
        "B=1 N=1 Nk=3000 H=2 D=4 causal pattern=strided window=64 density=20 bq=64 bk=64",
        "B=2 N=257 H=4 Hkv=2 D=4 causal pattern=mixed window=64 sink=1 density=50 bq=64 bk=64",
        "B=2 N=300 Nk=300 H=4 Hkv=2 D=4 causal pattern=random density=20 bq=128 bk=64",
        "B=1 N=1 Nk=5000 H=2 Hkv=1 D=4 causal pattern=sink window=512 sink=4 bq=64 bk=128",
    };
    const struct family *f = family_find("sparse");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const struct shape s = mk("sparse", shapes[i], DT_FP32);
        struct inputs x;
        inputs_make(&s, 3, &x);
        double pairs = 0;
        for (int64_t b = 0; b < s.B; b++)
            for (int64_t h = 0; h < s.H; h++)
                for (int64_t n = 0; n < s.N; n++)
                    for (int64_t j = 0; j < s.Nk; j++)
                        pairs += allowed(&s, x.in[3], b, h, n, j);
        const double want = 2.0 * (double)(s.D + s.Dv) * pairs;
        CHECK(f->flops(&s) == want && pairs > 0, "%s: flops %.0f, counted %.0f", shapes[i],
              f->flops(&s), want);
        /* compulsory bytes: the query rows that see a key, the (batch, key
         * head, key) some row of the group sees, the output, the mask */
        double q_rows = 0, keys = 0;
        const int64_t group = s.H / s.Hkv;
        for (int64_t b = 0; b < s.B; b++)
            for (int64_t h = 0; h < s.H; h++)
                for (int64_t n = 0; n < s.N; n++) {
                    int any = 0;
                    for (int64_t j = 0; j < s.Nk && !any; j++)
                        any = allowed(&s, x.in[3], b, h, n, j);
                    q_rows += any;
                }
        for (int64_t b = 0; b < s.B; b++)
            for (int64_t g = 0; g < s.Hkv; g++)
                for (int64_t j = 0; j < s.Nk; j++) {
                    int any = 0;
                    for (int64_t h = g * group; h < (g + 1) * group && !any; h++)
                        for (int64_t n = 0; n < s.N && !any; n++)
                            any = allowed(&s, x.in[3], b, h, n, j);
                    keys += any;
                }
        const double bytes = (q_rows * s.D + keys * (s.D + s.Dv) + (double)(s.B * s.N * s.H * s.Dv)) * 4 +
                             (double)tensor_numel(&x.io.in[3]);
        CHECK(f->min_bytes(&s) == bytes, "%s: min_bytes %.0f, counted %.0f (%.0f query rows, %.0f keys)",
              shapes[i], f->min_bytes(&s), bytes, q_rows, keys);
        const int64_t rows = s.B * s.N;
        int64_t *idx = malloc((size_t)rows * sizeof *idx);
        double *out = malloc((size_t)(rows * s.H * s.Dv) * sizeof *out);
        for (int64_t r = 0; r < rows; r++)
            idx[r] = r;
        attn_ref_macs = 0;
        f->reference(&s, 0.5, (const float *const *)x.in, idx, rows, out, NULL);
        CHECK(2.0 * (double)attn_ref_macs * 1 == want, "%s: the reference's %lld MACs",
              shapes[i], (long long)attn_ref_macs);
        free(idx), free(out);
        inputs_free(&x);
    }
}

/* sparse/cpu's executed count is what its micro-kernels count as they run
 * (split decode included); at least the algorithmic count; stored so. */
static void test_flops_executed(void)
{
    const char *shapes[] = {
        "B=2 N=130 Nk=200 H=3 Hkv=1 D=8 Dv=16 pattern=random density=40 bq=64 bk=64",
        "B=1 N=300 Nk=333 H=2 D=8 causal pattern=random density=60 bq=128 bk=64",
        "B=1 N=1 Nk=30000 H=2 D=8 causal pattern=sink window=3000 sink=5",
        "B=1 N=1 Nk=9000 H=2 D=8 causal pattern=random density=30 bq=64 bk=64",
        "B=2 N=257 H=4 Hkv=2 D=8 causal pattern=mixed window=64 sink=1 density=50 bq=64 bk=64",
    };
    const struct family *f = family_find("sparse");
    const struct impl *cpu = impl_find(f, "cpu");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const struct shape s = mk("sparse", shapes[i], DT_FP32);
        struct inputs x;
        inputs_make(&s, 3, &x);
        float *out = malloc((size_t)tensor_numel(&x.io.out) * sizeof *out);
        struct op_ctx ctx = { .shape = &s, .io = &x.io, .in = (const float *const *)x.in,
                              .out = out, .scale = 0.25, .threads = 2 };
        flash_cpu_macs = 0;
        CHECK(cpu->setup(&ctx) == SB_OK && cpu->run(&ctx) == SB_OK, "%s: sparse/cpu runs",
              shapes[i]);
        cpu->teardown(&ctx);
        const double exec = cpu->flops_executed(&s);
        CHECK(2.0 * (double)flash_cpu_macs == exec, "%s: executed %.0f vs 2 x %lld counted",
              shapes[i], exec, (long long)flash_cpu_macs);
        CHECK(exec >= f->flops(&s), "%s: executed %.0f >= algorithmic %.0f", shapes[i], exec,
              f->flops(&s));
        free(out);
        inputs_free(&x);
        struct case_req q = req_for("cpu", s);
        struct case_result r;
        run_case(&q, &r);
        CHECK(r.rec.flops == f->flops(&s) && r.rec.flops_executed == exec,
              "%s stores flops %.0f, executed %.0f", r.case_str, r.rec.flops,
              r.rec.flops_executed);
        case_result_free(&r);
    }
    /* Nothing in the mask, nothing executed. */
    const struct shape z = mk("sparse", "B=1 N=300 H=2 D=64 density=0", DT_FP32);
    CHECK(f->flops(&z) == 0 && cpu->flops_executed(&z) == 0, "density 0 executes nothing");
}

/* The index lists, for every query tile, exactly the key tiles that hold
 * an allowed pair of some row of the tile or, causal, lie before its last
 * row's diagonal in an allowed block; in order. */
static void test_index(void)
{
    const char *shapes[] = {
        "B=2 N=300 Nk=400 H=3 D=64 causal pattern=random density=30 bq=128 bk=64",
        "B=1 N=200 Nk=333 H=2 D=64 pattern=random density=50 bq=64 bk=128",
        "B=1 N=1 Nk=5000 H=4 D=64 causal pattern=mixed window=300 sink=4 density=50",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const struct shape s = mk("sparse", shapes[i], DT_FP32);
        const struct sparse_dims d = sparse_dims_of(&s);
        struct inputs x;
        inputs_make(&s, 3, &x);
        int32_t *ptr, *idx;
        int64_t most;
        CHECK(sparse_tile_index(&s, x.in[3], &ptr, &idx, &most) == 0, "index built");
        const int64_t tiles = (s.N + FLASH_BR - 1) / FLASH_BR, kt = (s.Nk + FLASH_BC - 1) / FLASH_BC;
        int ok = 1;
        int64_t longest = 0;
        for (int64_t r = 0; r < d.mB * d.mH * tiles; r++) {
            const int64_t mb = r / (d.mH * tiles), mh = r / tiles % d.mH, i0 = r % tiles * FLASH_BR;
            const int64_t last = (i0 + FLASH_BR < s.N ? i0 + FLASH_BR : s.N) - 1;
            int64_t at = ptr[r];
            for (int64_t t = 0; t < kt; t++) {
                /* an allowed block holds a key of tile t before the last row's
                 * diagonal (causal) */
                int want = 0;
                for (int64_t n = i0; n <= last && !want; n++)
                    for (int64_t j = t * FLASH_BC; j < (t + 1) * FLASH_BC && j < s.Nk && !want; j++)
                        want = x.in[3][((mb * d.mH + mh) * d.qblocks + n / s.bq) * d.kblocks + j / s.bk] != 0 &&
                               (!s.causal || j <= last + s.Nk - s.N);
                if (want)
                    ok &= at < ptr[r + 1] && idx[at++] == t;
            }
            ok &= at == ptr[r + 1];
            longest = ptr[r + 1] - ptr[r] > longest ? ptr[r + 1] - ptr[r] : longest;
        }
        CHECK(ok && longest == most, "%s: the index lists exactly the allowed tiles", shapes[i]);
        free(ptr), free(idx);
        inputs_free(&x);
    }
}

/* A row that sees no key is exactly 0 in every implementation, the other
 * rows are not; and density 100 is dense attention: the same output as
 * flash/cpu's, bit for bit, where neither splits. */
static void test_empty_and_dense(void)
{
    /* causal, density 20, bq 128 over bk 64: some query blocks keep none
     * of their blocks */
    const struct shape s = mk("sparse", "B=2 N=600 H=2 D=64 causal density=20 bq=128 bk=64",
                              DT_FP32);
    struct inputs x;
    inputs_make(&s, 5, &x);
    const struct mask_count c = mask_count(&s);
    CHECK(c.empty > 0 && c.kept > 0, "the mask has empty (%lld) and kept (%lld) block rows",
          (long long)c.empty, (long long)c.kept);
    const struct family *f = family_find("sparse");
    const char *impls[] = { "ref", "cpu" };
    for (int k = 0; k < 2; k++) {
        const struct impl *im = impl_find(f, impls[k]);
        float *out = malloc((size_t)tensor_numel(&x.io.out) * sizeof *out);
        struct op_ctx ctx = { .shape = &s, .io = &x.io, .in = (const float *const *)x.in,
                              .out = out, .scale = 0.125, .threads = 2 };
        CHECK((!im->setup || im->setup(&ctx) == SB_OK) && im->run(&ctx) == SB_OK, "%s runs",
              impls[k]);
        if (im->teardown)
            im->teardown(&ctx);
        int zeros_ok = 1, others_ok = 1;
        for (int64_t b = 0; b < s.B; b++)
            for (int64_t n = 0; n < s.N; n++)
                for (int64_t h = 0; h < s.H; h++) {
                    int sees = 0;
                    for (int64_t j = 0; j < s.Nk && !sees; j++)
                        sees = allowed(&s, x.in[3], b, h, n, j);
                    double norm = 0;
                    for (int64_t e = 0; e < s.Dv; e++)
                        norm += fabs(out[((b * s.N + n) * s.H + h) * s.Dv + e]);
                    if (sees)
                        others_ok &= norm > 0;
                    else
                        zeros_ok &= norm == 0;
                }
        CHECK(zeros_ok && others_ok, "%s: rows that see no key are 0, the others not", impls[k]);
        free(out);
    }
    inputs_free(&x);

    /* density 100 non-causal (both split alike) and causal with Nk > N (528
     * blocks: neither splits): flash/cpu's output */
    const char *dense[] = { "B=1 N=300 Nk=400 H=2 Hkv=1 D=64 density=100 bq=64 bk=64",
                            "B=4 N=200 Nk=333 H=33 Hkv=3 D=64 causal density=100" };
    for (int k = 0; k < 2; k++) {
        const struct shape sp = mk("sparse", dense[k], DT_BF16);
        struct shape fl = sp;
        fl.pattern = fl.density = fl.bq = fl.bk = -1;
        struct inputs y;
        inputs_make(&sp, 9, &y);
        float *o1 = malloc((size_t)tensor_numel(&y.io.out) * sizeof *o1);
        float *o2 = malloc((size_t)tensor_numel(&y.io.out) * sizeof *o2);
        struct op_ctx c1 = { .shape = &sp, .io = &y.io, .in = (const float *const *)y.in,
                             .out = o1, .scale = 0.125, .threads = 2 };
        struct op_ctx c2 = c1;
        c2.shape = &fl, c2.out = o2;
        const struct impl *scpu = impl_find(f, "cpu");
        const struct impl *fcpu = impl_find(family_find("flash"), "cpu");
        CHECK(scpu->setup(&c1) == SB_OK && scpu->run(&c1) == SB_OK && fcpu->run(&c2) == SB_OK,
              "both run");
        scpu->teardown(&c1);
        CHECK(memcmp(o1, o2, (size_t)tensor_numel(&y.io.out) * sizeof *o1) == 0,
              "%s: sparse/cpu at density 100 is flash/cpu bit for bit", dense[k]);
        CHECK(f->flops(&sp) == family_find("flash")->flops(&fl), "%s: and counts its FLOPs",
              dense[k]);
        free(o1), free(o2);
        inputs_free(&y);
    }
}

/* Planted faults: an implementation that ignores the mask (dense
 * attention), and one that leaves the rows that see no key at the dense
 * value instead of 0, are both mismatches. */
static int dense_run(struct op_ctx *ctx)
{
    return attn_ref_run(ctx);
}

static int nonzero_empty_run(struct op_ctx *ctx)
{
    const struct impl *ref = impl_find(family_find("sparse"), "ref");
    const struct shape *s = ctx->shape;
    float *dense = malloc((size_t)tensor_numel(&ctx->io->out) * sizeof *dense);
    float *keep = ctx->out;
    ctx->out = dense;
    attn_ref_run(ctx);
    ctx->out = keep;
    const int rc = ref->run(ctx);
    for (int64_t r = 0; r < s->B * s->N * s->H; r++) {
        double norm = 0;
        for (int64_t e = 0; e < s->Dv; e++)
            norm += fabs(ctx->out[r * s->Dv + e]);
        for (int64_t e = 0; norm == 0 && e < s->Dv; e++)
            ctx->out[r * s->Dv + e] = dense[r * s->Dv + e];
    }
    free(dense);
    return rc;
}

static void test_planted(void)
{
    struct impl bad = { .name = "planted", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32),
                        .run = dense_run };
    const struct shape s = mk("sparse", "B=2 N=600 H=2 D=64 causal density=20 bq=128 bk=64",
                              DT_FP32);
    struct case_req q = req_for("cpu", s);
    q.impl = &bad;
    struct case_result r;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "mismatch") == 0, "ignoring the mask is a mismatch: %s", r.status);
    case_result_free(&r);
    bad.run = nonzero_empty_run;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "mismatch") == 0, "a no-key row not 0 is a mismatch: %s (%s)",
          r.status, r.error ? r.error : "");
    case_result_free(&r);
}

/* A loaded mask must be the pattern's: another, or one with values other
 * than 0 and 1, is refused naming the element. */
static void test_check_inputs(void)
{
    const struct family *f = family_find("sparse");
    const struct shape s = mk("sparse", "B=1 N=300 H=2 D=64 density=50 bq=64 bk=64", DT_BF16);
    struct inputs x;
    inputs_make(&s, 1, &x);
    char msg[200] = "";
    CHECK(f->check_inputs(&s, (const float *const *)x.in, msg, sizeof msg) == 0,
          "the pattern's own mask passes: %s", msg);
    x.in[3][7] = 1 - x.in[3][7];
    CHECK(f->check_inputs(&s, (const float *const *)x.in, msg, sizeof msg) != 0 &&
              strstr(msg, "block_mask[0,0,1,2]"),
          "a flipped block is refused, named: %s", msg);
    x.in[3][7] = 0.5f;
    CHECK(f->check_inputs(&s, (const float *const *)x.in, msg, sizeof msg) != 0 &&
              strstr(msg, "is 0.5"),
          "a value that is not 0 or 1 is refused: %s", msg);
    inputs_free(&x);
}

/* Shapes the validator refuses, naming the field. */
static void test_validate(void)
{
    const struct family *f = family_find("sparse");
    const struct { const char *words; const char *field; } bad[] = {
        { "N=100 bq=32", "bq=32" },
        { "N=100 bk=96", "bk=96" },
        { "N=100 density=101", "density=101" },
        { "N=100 pattern=random window=16", "window=16: pattern=random reads no window" },
        { "N=100 pattern=window sink=3", "sink=3: pattern=window reads no sink" },
        { "N=100 pattern=window window=0", "window=0" },
        { "N=64 Nk=32 causal density=50", "Nk=32" },
        { "N=100 H=6 Hkv=4", "Hkv=4" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const struct shape s = mk("sparse", bad[i].words, DT_FP32);
        char msg[200] = "";
        CHECK(f->validate(&s, msg, sizeof msg) != 0 && strstr(msg, bad[i].field),
              "'%s' refused naming %s: '%s'", bad[i].words, bad[i].field, msg);
    }
    /* A streaming pattern given causal=0 explicitly */
    struct shape s = mk("sparse", "N=100 pattern=sink", DT_FP32);
    s.causal = 0;
    char msg[200] = "";
    CHECK(f->validate(&s, msg, sizeof msg) != 0 && strstr(msg, "needs causal"),
          "a streaming pattern without causal: '%s'", msg);
}

/* Case strings carry the pattern's own fields only; the row tilings have
 * the query blocks when they are not the tiles. */
static void test_case_strings(void)
{
    const struct family *f = family_find("sparse");
    const struct { const char *words, *want; } cases[] = {
        { "B=1 N=300 H=2 D=64", "sparse/cpu fp32 B=1 N=300 Nk=300 H=2 Hkv=2 D=64 Dv=64 pattern=random density=10 bq=128 bk=128" },
        { "B=1 N=300 H=2 D=64 pattern=sink", "sparse/cpu fp32 B=1 N=300 Nk=300 H=2 Hkv=2 D=64 Dv=64 causal pattern=sink window=1024 sink=4 bq=128 bk=128" },
        { "B=1 N=300 H=2 D=64 pattern=mixed bq=64", "sparse/cpu fp32 B=1 N=300 Nk=300 H=2 Hkv=2 D=64 Dv=64 causal pattern=mixed density=50 window=1024 sink=4 bq=64 bk=128" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct shape s = mk("sparse", cases[i].words, DT_FP32);
        char buf[256];
        case_string(f, "cpu", &s, buf, sizeof buf);
        CHECK(strcmp(buf, cases[i].want) == 0, "case string '%s'", buf);
    }
    struct row_tiling t[SB_MAX_TILINGS];
    const struct shape s = mk("sparse", "N=300 causal bq=128", DT_FP32);
    const int n = f->row_tilings(&s, t);
    CHECK(n == 3 && t[1].len == 128 && strcmp(t[2].what, "diagonal") == 0,
          "tilings: query tile, query block, diagonal (%d)", n);
}

/* Without a GPU, sparse/cuda is stored as skipped; with one, it matches the
 * reference on every edge shape it takes, every row. */
static void test_gpu(void)
{
    struct gpu_info info;
    const struct family *f = family_find("sparse");
    if (gpu_probe(0, &info) != 0) {
        check_skip_no_gpu("sparse/cuda not run, only checked to be stored as skipped");
        struct case_req q = req_for("cuda", mk("sparse", "N=300 H=2 D=64", DT_BF16));
        struct case_result r;
        run_case(&q, &r);
        CHECK(strncmp(r.status, "skipped: ", 9) == 0, "cuda without a GPU: %s", r.status);
        case_result_free(&r);
        return;
    }
    char err[256];
    struct gpu_ctx *g = gpu_open(0, err, sizeof err);
    CHECK(g != NULL, "gpu_open: %s", err);
    if (!g)
        return;
    for (int k = 0; f->edge_shapes[k]; k++) {
        struct case_req q = req_for("cuda", mk("sparse", f->edge_shapes[k], DT_BF16));
        q.device = "cuda:0", q.gpu = g;
        struct case_result r;
        run_case(&q, &r);
        CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status,
              r.error ? r.error : "", r.rec.rel_err);
        CHECK(r.rec.footprint_bytes == (int64_t)case_device_bytes(&q) ||
                  strcmp(r.status, "ok") != 0,
              "%s: footprint %lld, predicted %.0f", r.case_str, (long long)r.rec.footprint_bytes,
              case_device_bytes(&q));
        case_result_free(&r);
    }
    gpu_close(g);
}

int main(void)
{
    test_edge_shapes();
    test_masks();
    test_flops();
    test_flops_executed();
    test_index();
    test_empty_and_dense();
    test_planted();
    test_check_inputs();
    test_validate();
    test_case_strings();
    test_gpu();
    return check_done();
}
