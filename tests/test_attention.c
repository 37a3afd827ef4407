/*
 * test_attention.c — the softmax and flash families on the CPU: every CPU
 * implementation against the reference over edge shapes, the FLOP formula
 * against the reference's own multiply-adds, sampled validation, and the
 * validator catching planted wrong outputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/flash/flash_tiles.h"
#include "../reference/attention.h"
#include "check.h"
#include "gpu.h"
#include "runcase.h"
#include "validate.h"

static struct shape mk(int64_t B, int64_t N, int64_t Nk, int64_t H, int64_t Hkv, int64_t D,
                       int64_t causal, enum dtype dt)
{
    struct shape s;
    shape_unset(&s);
    s.B = B, s.N = N, s.Nk = Nk, s.H = H, s.Hkv = Hkv, s.D = D, s.Dv = D, s.causal = causal;
    s.dtype = dt;
    return s;
}

static struct case_req req_for(const char *fam, const char *impl, struct shape s)
{
    struct case_req q = { .family = family_find(fam), .shape = s, .seed = 7, .device = "cpu",
                          .no_gpu_reason = "no CUDA device", .verify_only = 1 };
    q.impl = impl_find(q.family, impl);
    q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    return q;
}

/* Every CPU implementation of both families matches the reference. */
static void test_edge_shapes(void)
{
    const struct shape shapes[] = {
        mk(1, 1, 1, 1, 1, 64, 0, DT_FP32),          /* N = 1 */
        mk(1, 1, 300, 2, 1, 64, 1, DT_FP32),        /* decode: N = 1, long Nk, causal, MQA */
        mk(2, 77, 77, 3, 3, 64, 1, DT_FP32),        /* N not a multiple of the tile */
        mk(1, 130, 200, 4, 2, 128, 1, DT_FP32),     /* Nk > N causal (bottom-right), GQA */
        mk(1, 65, 129, 4, 4, 128, 0, DT_FP32),      /* one past a tile, non-causal */
        mk(2, 64, 64, 2, 1, 64, 1, DT_BF16),        /* exact tile, bf16 */
        mk(1, 100, 250, 8, 2, 128, 1, DT_BF16),     /* bf16 GQA causal cross */
        mk(1, 3, 5, 1, 1, 7, 0, DT_FP32),           /* odd D: the CPU path handles any D */
        mk(2, 77, 77, 3, 3, 64, 1, DT_FP16),        /* fp16, N not a multiple of the tile */
        mk(1, 100, 250, 8, 2, 128, 1, DT_FP16),     /* fp16 GQA causal cross */
        mk(1, 1, 300, 4, 1, 64, 1, DT_FP16),        /* fp16 decode, MQA */
    };
    const char *impls[][2] = { { "softmax", "ref" }, { "flash", "ref" }, { "flash", "cpu" } };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t j = 0; j < sizeof impls / sizeof impls[0]; j++) {
            struct case_req q = req_for(impls[j][0], impls[j][1], shapes[i]);
            struct case_result r;
            run_case(&q, &r);
            CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status,
                  r.error, r.rec.rel_err);
            CHECK(r.rec.rows_checked == shapes[i].B * shapes[i].N, "%s: all rows checked",
                  r.case_str);
            case_result_free(&r);
        }
}

/* The split-KV plan (ops/flash/flash_tiles.h): for every query tile, its
 * splits cover the keys the tile sees, [0, kv_end), each key exactly once,
 * in order; no split is empty; every split starts at a key all the tile's
 * rows see (< kv_first); all but the last hold exactly len keys, a multiple
 * of FLASH_BC; 1 <= count <= max <= FLASH_MAX_SPLITS; no split when the
 * tiles fill FLASH_SPLIT_BELOW blocks per SM. */
static void test_split_rule(void)
{
    const struct { int64_t B, H, N, Nk, causal, sms; } cases[] = {
        { 4, 16, 1, 131072, 1, 132 },   /* the decode case: 64 blocks on 132 SMs */
        { 4, 16, 16, 131072, 1, 132 },
        { 1, 1, 1, 1, 0, 132 },         /* one key */
        { 1, 1, 16, 16, 1, 132 },       /* one key seen by the first row */
        { 1, 1, 16, 80, 1, 132 },       /* row 0 sees one key of the last split */
        { 2, 8, 1, 4099, 1, 132 },      /* Nk one key into a tile */
        { 1, 2, 130, 700, 1, 132 },     /* three tiles with different counts */
        { 1, 2, 130, 700, 0, 132 },
        { 1, 8, 1, 65536, 1, 132 },
        { 1, 1, 1, 1 << 20, 0, 132 },   /* capped at FLASH_MAX_SPLITS */
        { 3, 5, 7, 12345, 1, 78 },
        { 1, 8, 4096, 4096, 1, 132 },   /* prefill: 512 blocks, no split */
        { 4, 66, 1, 300, 0, 132 },      /* exactly 2 blocks per SM: no split */
        { 1, 1, 1, 5000, 1, 0 },        /* unknown SM count: no split */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t N = cases[c].N, Nk = cases[c].Nk, causal = cases[c].causal;
        const int64_t tiles = (N + FLASH_BR - 1) / FLASH_BR;
        const int64_t blocks = cases[c].B * cases[c].H * tiles;
        const struct flash_split p =
            flash_splits(cases[c].B, cases[c].H, N, Nk, causal, cases[c].sms);
        CHECK(p.max >= 1 && p.max <= FLASH_MAX_SPLITS && p.len > 0 && p.len % FLASH_BC == 0,
              "case %zu: max %lld len %lld", c, (long long)p.max, (long long)p.len);
        if (blocks >= FLASH_SPLIT_BELOW * cases[c].sms || cases[c].sms <= 0)
            CHECK(p.max == 1, "case %zu: %lld blocks, no split (max %lld)", c,
                  (long long)blocks, (long long)p.max);
        int64_t max_count = 0;
        int ok = 1;
        for (int64_t t = 0; t < tiles; t++) {
            const int64_t i0 = t * FLASH_BR, count = flash_tile_splits(p, N, Nk, causal, i0);
            const int64_t first = flash_kv_first(N, Nk, causal, i0);
            max_count = count > max_count ? count : max_count;
            ok &= count >= 1 && count <= p.max;
            int64_t next = 0;   /* the first key no split has covered yet */
            for (int64_t sp = 0; sp < count; sp++) {
                int64_t jb, je;
                flash_split_keys(p, N, Nk, causal, i0, sp, &jb, &je);
                ok &= jb == next && je > jb && jb < first;
                if (sp < count - 1)
                    ok &= je - jb == p.len;
                next = je;
            }
            ok &= next == flash_kv_end(N, Nk, causal, i0);
        }
        CHECK(ok, "case %zu: every key in exactly one split, none empty, len-sized but the last",
              c);
        CHECK(max_count == p.max, "case %zu: the last tile has max splits", c);
    }
    /* The decode case fills the GPU: 2 to 4 blocks per SM plus rounding. */
    const struct flash_split d = flash_splits(4, 16, 1, 131072, 1, 132);
    CHECK(64 * d.max >= 2 * 132 && 64 * d.max <= 4 * 132 + 64, "decode: %lld splits",
          (long long)d.max);
    CHECK(flash_splits(1, 1, 1, 1 << 20, 0, 132).max == FLASH_MAX_SPLITS, "capped");
}

/* Decode shapes through the split path of flash/cpu (FLASH_NOMINAL_SMS),
 * every row against the reference; and shapes that fill the nominal GPU
 * without splitting, so both paths stay covered. */
static void test_split_decode(void)
{
    const struct { struct shape s; int split; } cases[] = {
        { mk(2, 1, 4099, 8, 2, 128, 1, DT_FP32), 1 },   /* N = 1, GQA, Nk off the tile */
        { mk(1, 16, 3000, 4, 1, 64, 1, DT_BF16), 1 },   /* N = 16: the last split's diagonal */
        { mk(1, 16, 80, 1, 1, 64, 1, DT_FP32), 1 },     /* row 0 sees 1 key of the last split */
        { mk(2, 16, 2077, 8, 2, 128, 1, DT_BF16), 1 },  /* N = 16, GQA, D = 128 */
        { mk(1, 5, 1000, 4, 2, 64, 0, DT_FP32), 1 },    /* non-causal */
        { mk(1, 130, 700, 2, 1, 64, 1, DT_FP32), 1 },   /* 3 tiles: 9, 10 and 11 splits */
        { mk(1, 1, 200000, 1, 1, 64, 1, DT_FP32), 1 },  /* 128 splits */
        { mk(4, 1, 300, 66, 66, 64, 1, DT_FP32), 0 },   /* 264 blocks: no split */
        { mk(2, 130, 200, 66, 33, 64, 1, DT_FP32), 0 }, /* prefill, GQA: no split */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct shape *s = &cases[i].s;
        const struct flash_split p = flash_splits(s->B, s->H, s->N, s->Nk, s->causal,
                                                  FLASH_NOMINAL_SMS);
        CHECK((p.max > 1) == cases[i].split, "case %zu: split %d, max %lld", i, cases[i].split,
              (long long)p.max);
        struct case_req q = req_for("flash", "cpu", *s);
        struct case_result r;
        run_case(&q, &r);
        CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status,
              r.error, r.rec.rel_err);
        CHECK(r.rec.rows_checked == s->B * s->N, "%s: all rows checked", r.case_str);
        case_result_free(&r);
    }
}

/* Dv != D works in the CPU implementations. */
static void test_dv_differs(void)
{
    struct shape s = mk(1, 70, 90, 2, 1, 64, 1, DT_FP32);
    s.Dv = 128;
    struct case_req q = req_for("flash", "cpu", s);
    struct case_result r;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s", r.case_str, r.status, r.error);
    case_result_free(&r);
}

/* The FLOP formula is twice the multiply-adds the reference executes. */
static void test_flops(void)
{
    const struct shape shapes[] = {
        mk(2, 5, 5, 3, 1, 4, 0, DT_FP32), mk(1, 5, 9, 2, 2, 3, 1, DT_FP32),
        mk(1, 7, 7, 1, 1, 2, 1, DT_FP32), mk(3, 1, 11, 2, 1, 5, 1, DT_FP32),
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct shape s = shapes[i];
        s.Dv = s.D + 1;
        struct io_specs io;
        attn_io(&s, &io);
        float *in[3];
        for (int t = 0; t < 3; t++)
            in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
        attn_inputs(&s, 1, in);
        int64_t rows = s.B * s.N, *idx = malloc((size_t)rows * sizeof *idx);
        double *out = malloc((size_t)(rows * s.H * s.Dv) * sizeof *out);
        for (int64_t r = 0; r < rows; r++)
            idx[r] = r;
        attn_ref_macs = 0;
        attn_reference(&s, 0.5, (const float *const *)in, idx, rows, out, NULL);
        CHECK(2.0 * attn_ref_macs == attn_flops(&s), "flops %.0f vs 2 x %lld counted MACs",
              attn_flops(&s), (long long)attn_ref_macs);
        double cost = 0;
        for (int64_t r = 0; r < rows; r++)
            cost += attn_row_cost(&s, r);
        CHECK(2.0 * cost == attn_flops(&s), "row costs sum to the formula");
        for (int t = 0; t < 3; t++)
            free(in[t]);
        free(idx), free(out);
    }
    /* Known values: 4·B·H·N·Nk·D non-causal with D = Dv. */
    struct shape s = mk(2, 16, 16, 4, 4, 8, 0, DT_FP32);
    CHECK(attn_flops(&s) == 4.0 * 2 * 4 * 16 * 16 * 8, "non-causal closed form");
    CHECK(attn_min_bytes(&s) == 4.0 * 4 * (2 * 16 * 4 * 8), "min bytes: 4 tensors of fp32");
}

/* flash/cpu's executed count is the multiply-adds its micro-kernels count
 * as they run: every key range of every query tile, 16 or 64 lanes, split
 * decode included; at least the algorithmic count, and what run_case
 * stores beside it (the reference, which computes exactly the visible
 * pairs, stores the algorithmic count for both). */
static void test_flops_executed(void)
{
    const struct family *f = family_find("flash");
    const struct impl *cpu = impl_find(f, "cpu");
    const struct shape shapes[] = {
        mk(2, 1, 4099, 8, 2, 16, 1, DT_FP32),      /* decode: split keys, 16 lanes */
        mk(2, 77, 77, 2, 2, 16, 1, DT_FP32),       /* causal, a partial tile of 13 rows */
        mk(1, 200, 333, 4, 2, 16, 1, DT_FP32),     /* Nk > N causal, GQA */
        mk(1, 130, 130, 3, 3, 8, 0, DT_FP32),      /* two tiles and 2 rows (16 lanes) */
        mk(1, 16, 40, 2, 1, 8, 0, DT_FP32),        /* one narrow tile */
        mk(1, 200, 333, 4, 2, 16, 1, DT_FP32),     /* window and sinks (below) */
        mk(2, 1, 4099, 8, 2, 16, 1, DT_FP32),      /* decode with a window: split walk */
    };
    const int64_t window[][2] = { { 0, 0 }, { 0, 0 }, { 0, 0 }, { 0, 0 }, { 0, 0 },
                                  { 70, 5 }, { 1000, 4 } };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct shape s = shapes[i];
        s.Dv = s.D + 8, s.window = window[i][0], s.sink = window[i][1];
        struct io_specs io;
        attn_io(&s, &io);
        float *in[3], *out = malloc((size_t)tensor_numel(&io.out) * sizeof *out);
        for (int t = 0; t < 3; t++)
            in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
        attn_inputs(&s, 1, in);
        struct op_ctx ctx = { .shape = &s, .io = &io, .in = (const float *const *)in, .out = out,
                              .scale = 0.25, .threads = 2 };
        flash_cpu_macs = 0;
        CHECK(cpu->run(&ctx) == SB_OK, "flash/cpu runs");
        const double exec = cpu->flops_executed(&s);
        CHECK(2.0 * flash_cpu_macs == exec, "shape %zu: executed %.0f vs 2 x %lld counted", i,
              exec, (long long)flash_cpu_macs);
        CHECK(exec >= f->flops(&s), "shape %zu: executed %.0f >= algorithmic %.0f", i, exec,
              f->flops(&s));
        for (int t = 0; t < 3; t++)
            free(in[t]);
        free(out);
        const char *impls[] = { "ref", "cpu" };
        for (int k = 0; k < 2; k++) {
            struct case_req q = req_for("flash", impls[k], s);
            struct case_result r;
            run_case(&q, &r);
            const double want = k ? exec : f->flops(&s);
            CHECK(r.rec.flops == f->flops(&s) && r.rec.flops_executed == want,
                  "%s stores flops %.0f, executed %.0f (want %.0f)", r.case_str, r.rec.flops,
                  r.rec.flops_executed, want);
            case_result_free(&r);
        }
    }
}

/* A long case is checked on sampled rows, with the first and last rows in. */
static void test_sampling(void)
{
    struct shape s = mk(1, 16384, 16384, 16, 16, 128, 1, DT_BF16);
    int64_t *rows;
    int sampled;
    int64_t n = validate_pick_rows(family_find("flash"), &s, 3, &rows, &sampled);
    CHECK(sampled == 1, "16K x 16 heads is sampled");
    CHECK(n >= 2 * s.N / FLASH_BR && n < s.N, "sample size %lld: every tile's edges, not all rows",
          (long long)n);
    CHECK(rows[0] == 0 && rows[n - 1] == s.N - 1, "first and last rows checked");
    int sorted = 1;
    for (int64_t i = 1; i < n; i++)
        sorted &= rows[i] > rows[i - 1];
    CHECK(sorted, "rows sorted and distinct");
    free(rows);

    /* End to end at long N: flash cpu, decode against a 64K context. */
    struct shape d = mk(1, 1, 65536, 8, 2, 128, 1, DT_BF16);
    struct case_req q = req_for("flash", "cpu", d);
    struct case_result r;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s", r.case_str, r.status, r.error);
    case_result_free(&r);
}

/* Planted faults: the validator must fail them. */
static int wrong_run(struct op_ctx *ctx)
{
    int rc = attn_ref_run(ctx);
    const struct shape *s = ctx->shape;
    int64_t last = (s->B * s->N - 1) * s->H * s->Dv;
    ctx->out[last + 3] += 0.5f;             /* one element of the last row */
    return rc;
}

static int unwritten_run(struct op_ctx *ctx)
{
    int rc = attn_ref_run(ctx);
    ctx->out[0] = NAN;                      /* as if never written: poison remains */
    return rc;
}

static void test_planted(void)
{
    struct impl bad = { .name = "planted", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32),
                        .run = wrong_run };
    struct shape s = mk(1, 33, 33, 2, 2, 64, 1, DT_FP32);
    struct case_req q = req_for("flash", "cpu", s);
    q.impl = &bad;
    struct case_result r;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "mismatch") == 0, "a wrong element is a mismatch: %s", r.status);
    case_result_free(&r);

    bad.run = unwritten_run;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "mismatch") == 0 && r.error && strstr(r.error, "NaN"),
          "an unwritten element is a mismatch: %s %s", r.status, r.error);
    case_result_free(&r);

    /* Directly: a small uniform relative error passes, a large one fails. */
    float out[4] = { 1, 2, 3, 4 };
    double ref[4] = { 1, 2, 3, 4 };
    int64_t rows[1] = { 0 };
    struct check_result c;
    const struct tolerance tol = family_find("flash")->tolerance(&s);
    validate_compare(&tol, out, 4, rows, 1, 4, 1, ref, &c);
    CHECK(c.ok && c.rel_l2 == 0, "exact output passes");
    out[2] = 3.01f;
    validate_compare(&tol, out, 4, rows, 1, 4, 1, ref, &c);
    CHECK(!c.ok, "1e-3 error fails the fp32 tolerance (rel %.3g)", c.rel_l2);
    out[2] = INFINITY;
    validate_compare(&tol, out, 4, rows, 1, 4, 1, ref, &c);
    CHECK(!c.ok && c.nonfinite == 1, "Inf fails before any arithmetic");
}

/* Shapes the validator must refuse, each naming the field. */
/* ref's output, then rounded to bf16: what a kernel that keeps bf16 where
 * fp16 was asked for would produce. */
static int bf16_rounded_run(struct op_ctx *ctx)
{
    int rc = attn_ref_run(ctx);
    for (int64_t i = 0; i < tensor_numel(&ctx->io->out); i++)
        ctx->out[i] = bf16_round(ctx->out[i]);
    return rc;
}

/* fp16 inputs are fp16 values; fp16's tolerance passes the definition
 * rounded to fp16 and fails it rounded to bf16. */
static void test_fp16(void)
{
    struct shape s = mk(1, 64, 256, 4, 2, 64, 0, DT_FP16);
    struct io_specs io;
    attn_io(&s, &io);
    float *in[3];
    int all_fp16 = 1, some_not_bf16 = 0;
    for (int t = 0; t < 3; t++)
        in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
    attn_inputs(&s, 3, in);
    for (int t = 0; t < 3; t++) {
        for (int64_t i = 0; i < tensor_numel(&io.in[t]); i++) {
            all_fp16 &= in[t][i] == fp16_round(in[t][i]);
            some_not_bf16 |= in[t][i] != bf16_round(in[t][i]);
        }
        free(in[t]);
    }
    CHECK(all_fp16 && some_not_bf16, "fp16 inputs hold fp16 values, finer than bf16's");

    struct case_req q = req_for("flash", "ref", s);
    struct case_result r;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "ok") == 0 && r.rec.rel_err < 1e-3, "ref in fp16: %s (err %.3g)", r.status,
          r.rec.rel_err);
    case_result_free(&r);
    struct impl bad = { .name = "bf16-out", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP16),
                        .run = bf16_rounded_run };
    q.impl = &bad;
    run_case(&q, &r);
    CHECK(strcmp(r.status, "mismatch") == 0, "bf16 rounding where fp16 was asked: %s (err %.3g)", r.status,
          r.rec.rel_err);
    case_result_free(&r);
}

static void test_validate(void)
{
    struct { struct shape s; const char *field; } bad[] = {
        { mk(1, 0, 0, 1, 1, 64, 0, DT_FP32), "N=" },
        { mk(1, 8, 8, 6, 4, 64, 0, DT_FP32), "Hkv=" },
        { mk(1, 8, 4, 1, 1, 64, 1, DT_FP32), "Nk=" },
        { mk(-3, 8, 8, 1, 1, 64, 0, DT_FP32), "B=" },
        { mk(1, 8, 8, 1, 1, 64, 2, DT_FP32), "causal=" },
        { mk(1, 8, 8, 1, 1, 64, 0, DT_FP32), "window=4: a sliding window needs causal" },
        { mk(1, 8, 8, 1, 1, 64, 1, DT_FP32), "sink=2: sink tokens need a window" },
    };
    bad[5].s.window = 4;
    bad[6].s.sink = 2;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[200] = "";
        int rc = attn_validate(&bad[i].s, msg, sizeof msg);
        CHECK(rc != 0 && strstr(msg, bad[i].field), "refused naming %s: '%s'", bad[i].field, msg);
    }
}

/* With a GPU: flash/cuda on decode shapes (at most 16 blocks unsplit: split
 * on any GPU of more than 8 SMs) and on a prefill shape (320 blocks: not
 * split up to 160 SMs), every row against the
 * reference, and its tracked device footprint equal to the prediction
 * (inputs, output and workspace_bytes). */
static void test_gpu_flash(void)
{
    const struct shape shapes[] = {
        mk(2, 1, 4099, 8, 2, 128, 1, DT_BF16), mk(1, 16, 3000, 4, 1, 64, 1, DT_BF16),
        mk(1, 16, 80, 1, 1, 64, 1, DT_FP32),   mk(2, 16, 2077, 8, 2, 128, 1, DT_FP32),
        mk(1, 5, 1000, 4, 2, 64, 0, DT_FP32),  mk(1, 130, 700, 2, 1, 128, 1, DT_BF16),
        mk(1, 1, 200000, 1, 1, 64, 1, DT_BF16), mk(2, 300, 333, 32, 8, 128, 1, DT_BF16),
    };
    char err[256];
    struct gpu_ctx *g = gpu_open(0, err, sizeof err);
    CHECK(g != NULL, "gpu_open: %s", err);
    if (!g)
        return;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct case_req q = req_for("flash", "cuda", shapes[i]);
        q.device = "cuda:0", q.gpu = g;
        struct case_result r;
        run_case(&q, &r);
        CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status,
              r.error, r.rec.rel_err);
        CHECK(r.rec.rows_checked == shapes[i].B * shapes[i].N, "%s: all rows checked",
              r.case_str);
        CHECK(r.rec.footprint_bytes == (int64_t)case_device_bytes(&q),
              "%s: footprint %lld bytes, predicted %.0f", r.case_str,
              (long long)r.rec.footprint_bytes, case_device_bytes(&q));
        case_result_free(&r);
    }
    gpu_close(g);
}

/* Without a GPU the CUDA implementations are skipped, never passed. */
static void test_gpu_skip(void)
{
    struct gpu_info info;
    if (gpu_probe(0, &info) == 0) {
        test_gpu_flash();
        return;
    }
    check_skip_no_gpu("flash/cuda not run, only checked to be stored as skipped");
    struct case_req q = req_for("flash", "cuda", mk(1, 64, 64, 1, 1, 64, 0, DT_FP32));
    struct case_result r;
    run_case(&q, &r);
    CHECK(strncmp(r.status, "skipped: ", 9) == 0, "cuda without a GPU: %s", r.status);
    case_result_free(&r);
}

/* A window and sinks (flash_tiles.h): attn_mask_spans lists exactly the
 * keys flash_visible shows; the pair count behind the FLOPs is theirs and
 * twice the reference's multiply-adds; the walk visits exactly the key
 * tiles holding a key some row of the query tile sees, and
 * flash_window_edge marks every tile where the window hides a pair the
 * causal mask would show. */
static void test_window_mask(void)
{
    const struct { int64_t N, Nk, W, S; } cases[] = {
        { 130, 130, 16, 0 },  { 200, 333, 70, 5 },   { 100, 100, 100, 3 }, { 70, 90, 1, 66 },
        { 1, 4099, 1000, 4 }, { 300, 300, 64, 64 },  { 129, 200, 65, 200 }, { 5, 5, 2, 1 },
        { 16, 1000, 5000, 0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct shape s = mk(1, cases[c].N, cases[c].Nk, 2, 1, 8, 1, DT_FP32);
        s.Dv = 4, s.window = cases[c].W, s.sink = cases[c].S;
        const struct flash_keys m = { s.window, s.sink, NULL, NULL, 1, 1 };
        int spans_ok = 1, walk_ok = 1, edge_ok = 1;
        double pairs = 0, keys = 0;
        for (int64_t i = 0; i < s.N; i++) {
            int64_t iv[4];
            const int64_t k = attn_mask_spans(&s, NULL, 0, 0, i, iv);
            for (int64_t j = 0; j < s.Nk; j++) {
                int in = 0;
                for (int64_t u = 0; u < k; u++)
                    in |= j >= iv[2 * u] && j < iv[2 * u + 1];
                spans_ok &= in == flash_visible(s.N, s.Nk, 1, s.window, s.sink, i, j);
                pairs += in;
            }
        }
        for (int64_t j = 0; j < s.Nk; j++) {
            int seen = 0;
            for (int64_t i = 0; i < s.N && !seen; i++)
                seen = flash_visible(s.N, s.Nk, 1, s.window, s.sink, i, j);
            keys += seen;
        }
        /* compulsory bytes: q and O whole, k and v at the keys some row sees */
        const double bytes = 4.0 * (double)s.B * (s.N * s.H * (s.D + s.Dv) + keys * s.Hkv * (s.D + s.Dv));
        CHECK(attn_min_bytes(&s) == bytes, "case %zu: min_bytes %.0f, counted %.0f (%.0f keys seen)",
              c, attn_min_bytes(&s), bytes, keys);
        for (int64_t i0 = 0; i0 < s.N; i0 += FLASH_BR) {
            const int64_t last = (i0 + FLASH_BR < s.N ? i0 + FLASH_BR : s.N) - 1;
            const struct flash_walk w = flash_walk_of(s.N, s.Nk, 1, &m, 0, 0, i0);
            int64_t t = 0;
            for (int64_t j0 = 0; j0 < s.Nk; j0 += FLASH_BC) {
                int seen = 0, hidden = 0;
                for (int64_t i = i0; i <= last; i++)
                    for (int64_t j = j0; j < j0 + FLASH_BC && j < s.Nk; j++) {
                        seen |= flash_visible(s.N, s.Nk, 1, s.window, s.sink, i, j);
                        hidden |= j <= i + s.Nk - s.N &&
                                  !flash_visible(s.N, s.Nk, 1, s.window, s.sink, i, j);
                    }
                if (!seen)
                    continue;
                walk_ok &= t < w.count && flash_walk_key(&w, t) == j0;
                t++;
                const int64_t kv_end = flash_kv_end(s.N, s.Nk, 1, i0);
                const int64_t nc = kv_end - j0 < FLASH_BC ? kv_end - j0 : FLASH_BC;
                edge_ok &= !hidden || flash_window_edge(s.N, s.Nk, &m, i0, j0, nc);
            }
            walk_ok &= t == w.count;
        }
        CHECK(spans_ok, "case %zu: spans are flash_visible's keys", c);
        CHECK(walk_ok, "case %zu: the walk visits exactly the tiles with a visible key", c);
        CHECK(edge_ok, "case %zu: every tile the window cuts is masked", c);
        CHECK(attn_flops(&s) == 2.0 * (double)(s.D + s.Dv) * s.B * s.H * pairs,
              "case %zu: flops %.0f from %.0f visible pairs", c, attn_flops(&s), pairs);
        struct io_specs io;
        attn_io(&s, &io);
        float *in[3];
        for (int t = 0; t < 3; t++)
            in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
        attn_inputs(&s, 1, in);
        int64_t *idx = malloc((size_t)s.N * sizeof *idx);
        double *out = malloc((size_t)(s.N * s.H * s.Dv) * sizeof *out), cost = 0;
        for (int64_t r = 0; r < s.N; r++)
            idx[r] = r, cost += attn_row_cost(&s, r);
        attn_ref_macs = 0;
        attn_reference(&s, 0.5, (const float *const *)in, idx, s.N, out, NULL);
        CHECK(2.0 * (double)attn_ref_macs == attn_flops(&s) && 2.0 * cost == attn_flops(&s),
              "case %zu: the reference's MACs and row costs", c);
        for (int t = 0; t < 3; t++)
            free(in[t]);
        free(idx), free(out);
    }

    /* W >= Nk is plain causal attention: the same output from flash/cpu,
     * the same count. */
    struct shape a = mk(1, 200, 333, 4, 2, 64, 1, DT_BF16), b = a;
    b.window = 333, b.sink = 7;
    struct io_specs io;
    attn_io(&a, &io);
    float *in[3], *oa = malloc((size_t)tensor_numel(&io.out) * sizeof *oa);
    float *ob = malloc((size_t)tensor_numel(&io.out) * sizeof *ob);
    for (int t = 0; t < 3; t++)
        in[t] = malloc((size_t)tensor_numel(&io.in[t]) * sizeof(float));
    attn_inputs(&a, 2, in);
    const struct impl *cpu = impl_find(family_find("flash"), "cpu");
    struct op_ctx ca = { .shape = &a, .io = &io, .in = (const float *const *)in, .out = oa,
                         .scale = 0.125, .threads = 2 };
    struct op_ctx cb = ca;
    cb.shape = &b, cb.out = ob;
    CHECK(cpu->run(&ca) == SB_OK && cpu->run(&cb) == SB_OK &&
              memcmp(oa, ob, (size_t)tensor_numel(&io.out) * sizeof *oa) == 0,
          "window=Nk: flash/cpu's output is causal attention's, bit for bit");
    CHECK(attn_flops(&a) == attn_flops(&b) && cpu->flops_executed(&a) == cpu->flops_executed(&b),
          "window=Nk: the same FLOPs");
    for (int t = 0; t < 3; t++)
        free(in[t]);
    free(oa), free(ob);

    /* Case strings name a window and sinks only when set. */
    char buf[256];
    case_string(family_find("flash"), "cpu", &a, buf, sizeof buf);
    CHECK(strstr(buf, "window") == NULL, "no window in '%s'", buf);
    case_string(family_find("flash"), "cpu", &b, buf, sizeof buf);
    CHECK(strstr(buf, " causal window=333 sink=7"), "'%s'", buf);
}

int main(void)
{
    test_window_mask();
    test_edge_shapes();
    test_split_rule();
    test_split_decode();
    test_dv_differs();
    test_flops();
    test_flops_executed();
    test_sampling();
    test_planted();
    test_fp16();
    test_validate();
    test_gpu_skip();
    return check_done();
}
