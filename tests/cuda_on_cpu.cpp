/*
 * cuda_on_cpu.cpp — every GPU implementation of ops/, host code and kernels
 * as they are, run on the CPU runner (ops/sim/) against its family's
 * reference, on shapes that reach the kernels' edges; built twice by the
 * Makefile (AddressSanitizer + UBSan, ThreadSanitizer) and run by
 * tests/cuda_on_cpu.sh.
 *
 * Per case: the harness's own path (run_case: inputs, poisoned output,
 * setup, run, fetch, the sampled rows against the float64 reference, then
 * every row against the device reference, harness/gpu_ref.cu's kernels) on
 * an H100 (the runtime's model of one), its executed multiply-adds against
 * the implementation's flops_executed; then the host code alone — setup
 * and launches, each launch checked but not run — on every other GPU the
 * runtime models (A100, L40S, A2, RTX5090: their SM counts, opt-in limits
 * and the build each loads), where a plan may be unsupported (the reason
 * is printed) but never an error. Then the device reference given a wrong
 * row, `bench verify`'s sweep (every GPU implementation of ours on every
 * edge shape of its family, the same checks), run_case's timing in each
 * GPU mode (gpu.c's blocking kernel, events, graphs), the wrappers of
 * ops/ptx.cuh and the harness's blocking kernel, the planted bugs
 * (tests/cuda_on_cpu_kernels.cu), and last one line per kernel that ran,
 * "kernel=<name> ...", which cuda_on_cpu.sh compares with the kernels in
 * bin/bench's sm_90a SASS.
 *
 * usage: cuda_on_cpu [cases]      cases: without the edge-shape sweep (the
 *                                 ThreadSanitizer build's set: the sweep
 *                                 takes it 6 CPU minutes)
 *        cuda_on_cpu plant NAME   one planted bug, in this process (the
 *                                 parent runs each in a child and expects
 *                                 it to be caught)
 * Prints "N passed, M failed[, K skipped]" last; a skip (an implementation
 * whose kernels are not ours, table not_ours) says why on stderr.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "ops/sim/sim.h"

extern "C" {
#include "harness/gpu.h"
#include "harness/runcase.h"
#include "harness/seqbench.h"
#include "harness/validate.h"
}

#include <cmath>
#include <utility>

#include "cuda_on_cpu_kernels.h"
#include "harness/calibrate_kernels.h"

static int n_pass, n_fail, n_skip;

static void tally(bool ok)
{
    ok ? n_pass++ : n_fail++;
}

/* Implementations whose kernels are not this project's: the runner runs
 * only the __global__ functions of bin/bench's own .cu files. */
static const struct {
    const char *family, *impl, *why;
} not_ours[] = {
    { "flash", "cudnn", "flash/cudnn runs cuDNN's own kernels (libcudnn, loaded at run time), which "
      "only a GPU with its driver executes; its graphs finalize against the real library in test_cudnn" },
};

static const char *not_ours_why(const struct family *f, const struct impl *im)
{
    for (const auto &x : not_ours)
        if (strcmp(x.family, f->name) == 0 && strcmp(x.impl, im->name) == 0)
            return x.why;
    return nullptr;
}

static void count_launches(const sb_sim_kernel_stats *k, void *arg)
{
    auto *a = static_cast<std::pair<const char *, long> *>(arg);
    if (strcmp(k->name, a->first) == 0)
        a->second = k->launches;
}

/* Launches of kernel `name` executed so far. */
static long launches_of(const char *name)
{
    std::pair<const char *, long> a(name, 0);
    sb_sim_each_kernel(count_launches, &a);
    return a.second;
}

/* What every case the runner executes must also show, beyond its status:
 *   the executed FLOPs   the multiply-adds its kernels' SB_COUNT_MACS
 *                        statements (and the runner's cuBLAS) counted, 2
 *                        FLOPs each, equal im->flops_executed, the count
 *                        bench stores, for every implementation that has one;
 *   every row checked    the device reference (harness/gpu_ref.cu) ran in
 *                        the case and judged every (row, head) of a family
 *                        that has one.
 * macs and cmp_before: sb_sim_take_macs() after the case, and
 * gref_compare_kernel's launches before it. false with why on a failure. */
static bool case_counts(const struct family *f, const struct impl *im, const struct shape *s,
                        const struct case_result &r, long long macs, long cmp_before, char *why, size_t n)
{
    if (im->flops_executed && 2.0 * (double)macs != im->flops_executed(s)) {
        snprintf(why, n, "executed FLOPs: the kernels counted %lld multiply-adds (%.0f FLOPs), "
                 "flops_executed says %.0f", macs, 2.0 * (double)macs, im->flops_executed(s));
        return false;
    }
    if (f->gpu_ref && (launches_of("gref_compare_kernel") <= cmp_before ||
                       r.rec.rows_checked != r.rec.rows_total)) {
        snprintf(why, n, "the device reference did not check every row (%lld of %lld; compare launches %ld -> %ld)",
                 (long long)r.rec.rows_checked, (long long)r.rec.rows_total, cmp_before,
                 launches_of("gref_compare_kernel"));
        return false;
    }
    return true;
}

/* CPU seconds of this process, for the time each line took. */
static double cpu_s(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

/* ---- the implementations ---------------------------------------------------------------- */

struct op_case {
    const char *family, *impl, *dtype, *shape;
    const char *why;        /* the edge it reaches */
};

/* Shapes small enough to run in seconds under the sanitizers (a block's
 * threads are fibers; every block runs), each chosen for an edge. */
static const op_case op_cases[] = {
    /* flash/cuda: flash_fwd_kernel, flash_combine_kernel */
    { "flash", "cuda", "bf16", "B=2 N=1 Nk=1100 H=4 Hkv=2 D=128 causal",
      "decode, GQA, split-KV with a ragged last key tile, combine" },
    { "flash", "cuda", "fp32", "B=1 N=129 Nk=129 H=2 Hkv=2 D=64 causal",
      "causal prefill, ragged last query tile, splits of 1-3 key tiles" },
    { "flash", "cuda", "fp32", "B=1 N=200 Nk=333 H=2 Hkv=1 D=128 causal",
      "Nk > N causal (bottom-right), MQA" },
    { "flash", "cuda", "bf16", "B=1 N=64 Nk=80 H=264 Hkv=66 D=64",
      "unsplit (264 blocks: 2 per SM of an H100), GQA 4:1, a ragged key tile unmasked" },
    { "flash", "cuda", "fp32", "B=1 N=1 Nk=300 H=2 Hkv=1 D=64",
      "decode, MQA, not causal" },
    /* flash/cuda with --window/--sink: the same kernels walking the window */
    { "flash", "cuda", "fp32", "B=1 N=130 Nk=200 H=2 Hkv=1 D=64 causal window=16 sink=3",
      "a window narrower than a tile (rows that see no key of a tile) with sinks, split" },
    { "flash", "cuda", "bf16", "B=2 N=1 Nk=4099 H=4 Hkv=2 D=128 causal window=1000 sink=4",
      "windowed decode: the sink tile, then the window's, split over the walk" },
    { "flash", "cuda", "fp32", "B=1 N=70 Nk=90 H=1 Hkv=1 D=64 causal window=1 sink=66",
      "a window of one key (the diagonal) beside sinks past the first tile" },
    { "flash", "cuda", "bf16", "B=1 N=200 Nk=333 H=4 Hkv=2 D=128 causal window=70",
      "a window without sinks, Nk > N, GQA" },
    /* sparse/cuda: flash's kernels walking the block index */
    { "sparse", "cuda", "fp32", "B=2 N=300 Nk=300 H=2 Hkv=2 D=64 causal pattern=random density=20 bq=128 bk=64",
      "random blocks: query blocks with no kept block (rows of 0) beside kept ones" },
    { "sparse", "cuda", "fp32", "B=1 N=200 Nk=200 H=2 Hkv=1 D=64 pattern=random density=0 bq=64 bk=64",
      "density 0: every query tile's list empty, every row 0" },
    { "sparse", "cuda", "bf16", "B=1 N=1 Nk=3000 H=2 Hkv=1 D=64 causal pattern=random density=20 bq=64 bk=64",
      "block-sparse decode: split lists with empty splits" },
    { "sparse", "cuda", "bf16", "B=1 N=1 Nk=4099 H=4 Hkv=2 D=128 causal pattern=sink window=512 sink=4",
      "streaming-head decode: the sink block and the window's blocks" },
    { "sparse", "cuda", "bf16", "B=1 N=257 Nk=257 H=4 Hkv=2 D=64 causal pattern=mixed density=50 window=128 sink=4 bq=64 bk=64",
      "mixed heads: dense and streaming heads in one mask [1, H, ...]" },
    { "sparse", "cuda", "fp32", "B=1 N=130 Nk=200 H=3 Hkv=1 D=128 pattern=random density=100 bq=128 bk=128",
      "density 100, not causal: every tile listed, a ragged last key tile" },
    /* softmax/cuda-cublas: softmax_rows_kernel between the two batched GEMMs */
    { "softmax", "cuda-cublas", "fp32", "B=2 N=5 Nk=100 H=4 Hkv=2 D=64 causal",
      "causal with Nk > N, GQA, rows shorter than the block" },
    { "softmax", "cuda-cublas", "bf16", "B=1 N=3 Nk=700 H=2 Hkv=1 D=64 Dv=128",
      "MQA, Dv != D, rows longer than the block" },
    { "softmax", "cuda-cublas", "fp32", "B=1 N=1 Nk=16500 H=2 Hkv=1 D=64 causal",
      "decode against 16K keys: the 1024-thread block" },
    /* gated and linear/cuda: gla_scores_kernel, gla_chunk_kernel */
    { "gated", "cuda", "fp32", "B=1 N=77 H=2 Hv=4 D=64 Dv=64 chunk=32 gate=key state",
      "key gate, ragged last chunk, Hv = 2H, state in and out" },
    { "gated", "cuda", "bf16", "B=2 N=40 H=1 Hv=1 D=128 Dv=64 chunk=16 gate=head",
      "head gate, chunk 16, a ragged third chunk" },
    { "gated", "cuda", "fp32", "B=1 N=70 H=1 Hv=1 D=256 Dv=64 chunk=64 gate=key state",
      "D = 256 (8 d-tiles), a full chunk and 6 tokens" },
    { "linear", "cuda", "fp32", "B=1 N=50 H=1 Hv=2 D=64 Dv=128 chunk=48 state",
      "no gate, chunk 48 (a thread's 4th score row idle)" },
    /* gated and linear/cuda-opt: gla_mma_scores_kernel, gla_mma_chunk_kernel */
    { "gated", "cuda-opt", "bf16", "B=1 N=77 H=2 Hv=4 D=64 Dv=64 chunk=64 gate=key state",
      "key gate's sub-chunk split on 4 warps, ragged last chunk, state" },
    { "gated", "cuda-opt", "bf16", "B=1 N=40 H=1 Hv=2 D=128 Dv=64 chunk=32 gate=head",
      "head gate, chunk 32: warps 2 and 3 without output rows" },
    { "gated", "cuda-opt", "bf16", "B=1 N=100 H=1 Hv=1 D=256 Dv=64 chunk=48 gate=key state",
      "D = 256 (100 KiB: past the 99 KiB GPUs), chunk 48" },
    { "linear", "cuda-opt", "bf16", "B=2 N=20 H=1 Hv=1 D=64 Dv=64 chunk=16",
      "no gate, chunk 16, ragged second chunk" },
    /* gated and linear/decode: gla_decode_kernel */
    { "gated", "decode", "fp32", "B=2 N=3 H=1 Hv=2 D=64 Dv=64 gate=key state",
      "key gate, 3 tokens on a state, Hv = 2H" },
    { "gated", "decode", "bf16", "B=1 N=16 H=2 Hv=2 D=256 Dv=128 gate=head state",
      "the most tokens (16), D = 256, two Dv slices" },
    { "linear", "decode", "fp32", "B=1 N=1 H=1 D=128 Dv=64",
      "one token, no state given (h0 = 0)" },
    /* delta/cuda: delta_k1, delta_k2 */
    { "delta", "cuda", "fp32", "B=1 N=70 H=1 Hv=2 D=64 Dv=128 gate=head state",
      "ragged last chunk, Hv = 2H, D != Dv, gate, state" },
    { "delta", "cuda", "bf16", "B=2 N=64 H=1 Hv=1 D=128 Dv=64",
      "one exact chunk, no gate, no state" },
    { "delta", "cuda", "fp32", "B=1 N=20 H=1 Hv=1 D=256 Dv=64 gate=head state",
      "D = 256, a chunk of 20 tokens" },
    /* delta/cuda-opt: delta_k1_mma, delta_k2_mma */
    { "delta", "cuda-opt", "bf16", "B=1 N=70 H=1 Hv=2 D=64 Dv=64 gate=head state",
      "ragged last chunk, Hv = 2H, gate, state" },
    { "delta", "cuda-opt", "bf16", "B=1 N=64 H=1 Hv=1 D=128 Dv=128",
      "one exact chunk, D = Dv = 128" },
    { "delta", "cuda-opt", "bf16", "B=1 N=30 H=1 Hv=1 D=256 Dv=64 gate=head state",
      "D = 256" },
    /* delta/decode: delta_decode_kernel */
    { "delta", "decode", "fp32", "B=2 N=3 H=1 Hv=4 D=64 Dv=64 gate=head state",
      "3 tokens, Hv = 4H, gate, state" },
    { "delta", "decode", "bf16", "B=1 N=16 H=2 Hv=2 D=256 Dv=64 state",
      "the most tokens (16), D = 256, no gate" },
    /* ssm s6/cuda: s6_scan_kernel */
    { "ssm", "cuda", "fp32", "variant=s6 B=1 N=1100 Dm=5 Ds=16 chunk=8 z state",
      "two steps of 1024 tokens (the carry between them), a ragged second, a block of 1 channel, z, h0/ht" },
    { "ssm", "cuda", "bf16", "variant=s6 B=2 N=77 Dm=8 Ds=32 G=2 chunk=16",
      "chunk 16, groups, most threads past L" },
    /* ssm s6/decode: s6_decode_kernel */
    { "ssm", "decode", "fp32", "variant=s6 B=2 N=3 Dm=9 Ds=16 G=3 z state",
      "3 tokens on a state, a block with 2 of its 8 warps, groups, z" },
    { "ssm", "decode", "bf16", "variant=s6 B=1 N=16 Dm=4 Ds=128 state",
      "the most tokens (16), 4 states a lane" },
    /* ssm ssd/cuda: ssd_chunk_state_kernel, ssd_state_pass_kernel, ssd_chunk_out_kernel */
    { "ssm", "cuda", "fp32", "variant=ssd B=1 N=130 H=4 P=32 Ds=16 G=2 chunk=64 skip z state",
      "3 chunks (the last 2 tokens), groups, D, z, h0/ht" },
    { "ssm", "cuda", "bf16", "variant=ssd B=2 N=100 H=2 P=64 Ds=64 chunk=128",
      "two query tiles in a chunk, the second ragged, no D (its FMA on 0)" },
    { "ssm", "cuda", "fp32", "variant=ssd B=1 N=64 H=1 P=128 Ds=64 chunk=64 state",
      "P·Ds = 8192 (the largest), one exact chunk" },
    /* ssm ssd/cuda-opt: ssd_mma_state_kernel, ssd_mma_out_kernel (and the state pass) */
    { "ssm", "cuda-opt", "bf16", "variant=ssd B=1 N=200 H=2 P=64 Ds=128 chunk=128 z state",
      "Mamba-2's P and Ds, two query tiles, a ragged second chunk" },
    { "ssm", "cuda-opt", "bf16", "variant=ssd B=1 N=70 H=4 P=32 Ds=16 G=2 chunk=64 skip",
      "4 state tiles for 8 warps (idle warps), groups, D" },
    { "ssm", "cuda-opt", "bf16", "variant=ssd B=2 N=64 H=1 P=128 Ds=64 chunk=64 state",
      "P = 128: 8 column tiles a warp" },
    /* ssm ssd/decode: ssd_decode_kernel */
    { "ssm", "decode", "fp32", "variant=ssd B=2 N=3 H=2 P=16 Ds=16 z state",
      "Ds = 16: two outputs a warp by shuffles, K = 1, z" },
    { "ssm", "decode", "bf16", "variant=ssd B=1 N=16 H=2 P=64 Ds=128 G=2 skip state",
      "Ds = 128: 4 warps an output through shared memory, K = 32, the most tokens" },
    /* ssm conv/cuda: conv_pad_k_kernel, conv_transpose_kernel, conv_mul_kernel, cuFFT (modelled) */
    { "ssm", "cuda", "fp32", "variant=conv B=2 N=77 H=40",
      "ragged 32 x 32 tiles in tokens and channels, n = 256" },
    { "ssm", "cuda", "bf16", "variant=conv B=1 N=1 H=4", "one token, the smallest FFT (n = 4)" },
};

/* The host code alone on the current device: setup and every launch
 * checked, nothing run. SB_OK or SB_UNSUPPORTED (reason in why); SB_ERROR
 * is a bug in the plan. */
static int plan_only(const struct family *f, const struct impl *im, const struct shape *s,
                     struct gpu_ctx *g, char *why, size_t n)
{
    struct io_specs io;
    f->io(s, &io);
    float *in[SB_MAX_TENSORS] = {};
    for (int i = 0; i < io.n_in; i++)
        in[i] = (float *)calloc((size_t)tensor_numel(&io.in[i]), sizeof(float));
    float *out = (float *)calloc((size_t)tensor_numel(&io.out), sizeof(float));
    float *fin = io.final.ndim ? (float *)calloc((size_t)tensor_numel(&io.final), sizeof(float)) : nullptr;
    struct op_ctx ctx = {};
    ctx.shape = s, ctx.io = &io, ctx.in = in, ctx.out = out, ctx.final = fin;
    ctx.scale = 1 / sqrt((double)s->D), ctx.threads = 1, ctx.gpu = g;
    sb_sim_set_execute(0);
    int rc = im->setup ? im->setup(&ctx) : SB_OK;
    if (rc == SB_OK) {
        rc = im->run(&ctx);
        if (im->teardown)
            im->teardown(&ctx);
    }
    sb_sim_set_execute(1);
    gpu_free_case(g);
    snprintf(why, n, "%s", ctx.err);
    for (int i = 0; i < io.n_in; i++)
        free(in[i]);
    free(out), free(fin);
    return rc;
}

/* The family, implementation and shape row c names; NULL (a failure
 * counted, said on stderr) when it names none. */
static const struct impl *case_lookup(const op_case &c, const struct family **f, struct shape *s)
{
    *f = family_find(c.family);
    const struct impl *im = *f ? impl_find(*f, c.impl) : nullptr;
    char err[300];
    shape_unset(s);
    s->dtype = (enum dtype)dtype_parse(c.dtype);
    if (!im || shape_parse_words(*f, c.shape, s, err, sizeof err) != 0) {
        fprintf(stderr, "FAIL cuda_on_cpu: %s/%s %s: %s\n", c.family, c.impl, c.shape, im ? err : "no such implementation");
        tally(false);
        return nullptr;
    }
    return im;
}

static void run_op_case(const op_case &c, struct gpu_ctx *g)
{
    const struct family *f;
    struct shape s;
    const struct impl *im = case_lookup(c, &f, &s);
    if (!im)
        return;
    const char *home = "H100";
    const double t0 = cpu_s();
    sb_sim_set_device(home);
    struct case_req q = {};
    q.family = f, q.impl = im, q.shape = s, q.seed = 7, q.device = "cuda:0", q.gpu = g;
    q.verify_only = 1;
    struct case_result r;
    (void)sb_sim_take_macs();
    const long cmp_before = launches_of("gref_compare_kernel");
    run_case(&q, &r);
    const long long macs = sb_sim_take_macs();
    bool ok = strcmp(r.status, "ok") == 0;
    char why[300] = "";
    if (ok && !case_counts(f, im, &s, r, macs, cmp_before, why, sizeof why))
        ok = false;
    char line[1600];
    int k = snprintf(line, sizeof line, "%s on %s: %s rel %.2g", r.case_str, home, r.status, r.rec.rel_err);
    if (ok)
        k += snprintf(line + k, sizeof line - (size_t)k, ", %lld of %lld rows%s, macs %lld%s", (long long)r.rec.rows_checked,
                      (long long)r.rec.rows_total, f->gpu_ref ? " (device reference)" : "", macs,
                      im->flops_executed ? " = flops_executed/2" : "");
    if (!ok && r.rec.error)
        k += snprintf(line + k, sizeof line - (size_t)k, " (%s)", r.rec.error);
    if (why[0])
        k += snprintf(line + k, sizeof line - (size_t)k, " (%s)", why);
    case_result_free(&r);
    /* The same host code on every other modelled GPU, plans only. */
    for (int i = 0; sb_sim_device_name(i); i++) {
        const char *d = sb_sim_device_name(i);
        if (strcmp(d, home) == 0 || k > (int)sizeof line - 200)
            continue;
        sb_sim_set_device(d);
        if (!sb_sim_device_runs()) {
            k += snprintf(line + k, sizeof line - (size_t)k, " | %s: no build", d);
            continue;
        }
        char why[300];
        const int rc = plan_only(f, im, &s, g, why, sizeof why);
        if (rc == SB_OK)
            k += snprintf(line + k, sizeof line - (size_t)k, " | %s: plan ok", d);
        else if (rc == SB_UNSUPPORTED)
            k += snprintf(line + k, sizeof line - (size_t)k, " | %s: unsupported (%s)", d, why);
        else {
            k += snprintf(line + k, sizeof line - (size_t)k, " | %s: ERROR %s", d, why);
            ok = false;
        }
    }
    sb_sim_set_device(nullptr);
    if (ok)
        printf("ok   %s   [%s] (%.1f s)\n", line, c.why, cpu_s() - t0);
    else
        fprintf(stderr, "FAIL cuda_on_cpu: %s   [%s]\n", line, c.why);
    fflush(stdout);
    tally(ok);
}

/* `bench verify --device cuda:0`, on the runner: every GPU implementation,
 * in each dtype it takes, on every edge shape of its family (H100). One
 * line per implementation and dtype; a case must be ok or skipped (a shape
 * the kernels do not take, with the reason), never a mismatch or error. */
static void verify_family(const struct family *f, struct gpu_ctx *g)
{
    for (int i = 0; i < f->n_impls; i++) {
        const struct impl *im = &f->impls[i];
        if (im->device != DEV_CUDA)
            continue;
        if (const char *why = not_ours_why(f, im)) {
            fprintf(stderr, "SKIP cuda_on_cpu: no GPU: verify %s/%s: %s\n", f->name, im->name, why);
            n_skip++;
            continue;
        }
        for (int t = 0; t < DT_COUNT; t++) {
            if (!(im->dtypes & DT_BIT(t)))
                continue;
            int ok = 0, skipped = 0, bad = 0;
            const double t0 = cpu_s();
            for (int k = 0; f->edge_shapes[k]; k++) {
                struct shape s;
                char err[300];
                shape_unset(&s);
                s.dtype = (enum dtype)t;
                if (shape_parse_words(f, f->edge_shapes[k], &s, err, sizeof err) != 0)
                    continue;
                struct case_req q = {};
                q.family = f, q.impl = im, q.shape = s, q.seed = 11 + (uint64_t)k, q.device = "cuda:0";
                q.gpu = g, q.verify_only = 1;
                struct case_result r;
                const double t1 = cpu_s();
                (void)sb_sim_take_macs();
                const long cmp_before = launches_of("gref_compare_kernel");
                run_case(&q, &r);
                const long long macs = sb_sim_take_macs();
                if (getenv("CUDA_ON_CPU_VERBOSE"))
                    printf("     %s: %s (%.1f s)\n", r.case_str, r.status, cpu_s() - t1);
                char why[300];
                if (strcmp(r.status, "ok") == 0 && case_counts(f, im, &s, r, macs, cmp_before, why, sizeof why)) {
                    ok++;
                } else if (strcmp(r.status, "ok") == 0) {
                    bad++;
                    fprintf(stderr, "FAIL cuda_on_cpu: verify %s: %s\n", r.case_str, why);
                } else if (strncmp(r.status, "skipped:", 8) == 0) {
                    skipped++;
                } else {
                    bad++;
                    fprintf(stderr, "FAIL cuda_on_cpu: verify %s: %s%s%s\n", r.case_str, r.status,
                            r.rec.error ? ": " : "", r.rec.error ? r.rec.error : "");
                }
                case_result_free(&r);
            }
            printf("%s  verify %s/%s %s on H100: %d edge shapes ok (every row, executed FLOPs), %d skipped "
                   "(shapes it does not take) (%.1f s)\n", bad ? "FAIL" : "ok ", f->name, im->name, dtype_table[t].name, ok, skipped,
                   cpu_s() - t0);
            fflush(stdout);
            tally(bad == 0 && ok > 0);
        }
    }
}

/* ---- timing ---------------------------------------------------------------------------- */

/* run_case's measurement on the runner (harness/measure.c, gpu.c): one
 * small shape per implementation in each GPU timing mode — cold (the L2
 * flush, the blocking kernel, the events), warm, graph (stream capture,
 * instantiation, replays) — each sample then the recheck of the last run.
 * Three samples: the status is "ok: few samples", and the times are the
 * CPU's, which say nothing about a GPU. */
static const op_case timed_cases[] = {
    { "flash", "cuda", "bf16", "B=1 N=40 Nk=70 H=2 Hkv=1 D=64 causal", "split-KV and combine" },
    { "sparse", "cuda", "fp32", "B=1 N=40 Nk=300 H=2 Hkv=1 D=64 causal pattern=random density=50 bq=64 bk=64",
      "the block index uploaded once, walked every run" },
    { "softmax", "cuda-cublas", "fp32", "B=1 N=5 Nk=40 H=2 Hkv=1 D=64", "cuBLAS calls in a graph" },
    { "gated", "cuda", "fp32", "B=1 N=20 H=1 Hv=1 D=64 Dv=64 chunk=16 gate=head state", "two chunks" },
    { "gated", "cuda-opt", "bf16", "B=1 N=20 H=1 Hv=1 D=64 Dv=64 chunk=16 gate=key state", "two chunks" },
    { "gated", "decode", "fp32", "B=1 N=2 H=1 Hv=1 D=64 Dv=64 gate=key state", "two tokens" },
    { "delta", "cuda", "fp32", "B=1 N=20 H=1 Hv=1 D=64 Dv=64 gate=head state", "one chunk" },
    { "delta", "cuda-opt", "bf16", "B=1 N=20 H=1 Hv=1 D=64 Dv=64", "one chunk" },
    { "delta", "decode", "fp32", "B=1 N=2 H=1 Hv=1 D=64 Dv=64 state", "two tokens" },
    { "ssm", "cuda", "fp32", "variant=s6 B=1 N=20 Dm=4 Ds=16 chunk=8 state", "one step" },
    { "ssm", "decode", "fp32", "variant=s6 B=1 N=2 Dm=8 Ds=16 state", "two tokens" },
    { "ssm", "cuda", "fp32", "variant=ssd B=1 N=70 H=1 P=32 Ds=16 chunk=64 state", "two chunks" },
    { "ssm", "cuda-opt", "bf16", "variant=ssd B=1 N=70 H=1 P=32 Ds=16 chunk=64", "two chunks" },
    { "ssm", "decode", "fp32", "variant=ssd B=1 N=2 H=1 P=16 Ds=16 state", "two tokens" },
    { "ssm", "cuda", "fp32", "variant=conv B=1 N=40 H=4", "cuFFT calls in a graph" },
};

static void run_timed(struct gpu_ctx *g)
{
    const enum timing modes[] = { TIMING_COLD, TIMING_WARM, TIMING_GRAPH };
    for (const auto &c : timed_cases) {
        const struct family *f;
        struct shape s;
        const struct impl *im = case_lookup(c, &f, &s);
        if (!im)
            continue;
        for (const enum timing mode : modes) {
            struct case_req q = {};
            q.family = f, q.impl = im, q.shape = s, q.seed = 5, q.device = "cuda:0", q.gpu = g;
            q.mopts = MEASURE_DEFAULTS;
            q.mopts.max_samples = 3, q.mopts.warmup_seconds = 0, q.mopts.timing = mode;
            const long blocks_before = launches_of("sb_block_stream_kernel");
            const double t0 = cpu_s();
            struct case_result r;
            run_case(&q, &r);
            const long blocked = launches_of("sb_block_stream_kernel") - blocks_before;
            /* Every sample behind the blocking kernel: the timed ones and
             * at least one warm-up (and the graph's untimed first replay). */
            const long want = r.rec.n_samples + 1 + (mode == TIMING_GRAPH);
            const bool ok = strncmp(r.status, "ok", 2) == 0 && r.rec.n_samples > 0 &&
                            r.rec.median_ms > 0 && r.rec.timing && strcmp(r.rec.timing, timing_names[mode]) == 0 &&
                            std::isfinite(r.rec.recheck_rel_err) && blocked >= want;
            if (ok)
                printf("ok   timed %s: %s, %d samples, median %.3g ms on the CPU, %ld behind the blocking "
                       "kernel, recheck rel %.2g (%.1f s)\n", r.case_str, r.status, r.rec.n_samples,
                       r.rec.median_ms, blocked, r.rec.recheck_rel_err, cpu_s() - t0);
            else
                fprintf(stderr, "FAIL cuda_on_cpu: timed %s: %s%s%s; %d samples, median %g ms, timing %s, "
                        "%ld blocking-kernel launches (want >= %ld)\n", r.case_str, r.status,
                        r.rec.error ? ": " : "", r.rec.error ? r.rec.error : "", r.rec.n_samples,
                        r.rec.median_ms, r.rec.timing ? r.rec.timing : "-", blocked, want);
            fflush(stdout);
            tally(ok);
            case_result_free(&r);
        }
    }
}

/* ---- the device reference against a wrong row ------------------------------------------ */

/* harness/gpu_ref.cu on the runner, given an output it must judge: the
 * float64 reference's own rows pass; the same with one (row, head) moved
 * fails, and the failure names that row and head. For each of its kernels
 * (attention, recurrent). */
static void check_device_reference(struct gpu_ctx *g)
{
    static const struct {
        const char *family, *shape;
        int64_t row, head;
    } cases[] = {
        { "flash", "B=2 N=33 Nk=50 H=4 Hkv=2 D=64 causal", 40, 3 },
        { "delta", "B=1 N=37 H=2 Hv=2 D=64 Dv=64 gate=head", 21, 1 },
    };
    for (const auto &c : cases) {
        const struct family *f = family_find(c.family);
        struct shape s;
        char err[300];
        shape_unset(&s);
        s.dtype = DT_FP32;
        if (!f || shape_parse_words(f, c.shape, &s, err, sizeof err) != 0) {
            fprintf(stderr, "FAIL cuda_on_cpu: device reference %s %s: %s\n", c.family, c.shape, err);
            tally(false);
            continue;
        }
        struct io_specs io;
        f->io(&s, &io);
        float *in[SB_MAX_TENSORS] = {};
        for (int i = 0; i < io.n_in; i++)
            in[i] = (float *)malloc((size_t)tensor_numel(&io.in[i]) * sizeof(float));
        f->inputs(&s, 3, in);
        const int64_t rows = family_out_rows(&io), elems = family_row_elems(&io), heads = validate_out_heads(&io);
        int64_t *idx = (int64_t *)malloc((size_t)rows * sizeof *idx);
        double *ref = (double *)malloc((size_t)(rows * elems) * sizeof *ref);
        double *ref_final = io.final.ndim ? (double *)malloc((size_t)tensor_numel(&io.final) * sizeof(double)) : nullptr;
        float *out = (float *)malloc((size_t)(rows * elems) * sizeof *out);
        for (int64_t i = 0; i < rows; i++)
            idx[i] = i;
        struct op_ctx ctx = {};
        ctx.shape = &s, ctx.io = &io, ctx.in = in, ctx.out = out, ctx.scale = 1 / sqrt((double)s.D), ctx.gpu = g;
        f->reference(&s, ctx.scale, ctx.in, idx, rows, ref, ref_final);
        for (int64_t i = 0; i < rows * elems; i++)
            out[i] = (float)ref[i];
        struct check_result good, bad;
        int ran_good = 0, ran_bad = 0;
        const int rc_good = validate_on_device(f, &ctx, &good, &ran_good);
        const int64_t dv = elems / heads;
        for (int64_t e = 0; e < dv; e++)        /* the head's vector moved by a tenth of its size */
            out[(c.row * heads + c.head) * dv + e] *= 1.1f;
        const int rc_bad = validate_on_device(f, &ctx, &bad, &ran_bad);
        const bool ok = rc_good == SB_OK && ran_good && good.ok && rc_bad == SB_OK && ran_bad && !bad.ok &&
                        bad.worst_row == c.row && bad.worst_head == c.head;
        if (ok)
            printf("ok   device reference on %s %s: the float64 rows pass (worst rel %.2g); row %lld, "
                   "head %lld scaled by 1.1 fails there (%s)\n", c.family, c.shape,
                   good.worst_rel_l2, (long long)c.row, (long long)c.head, bad.why);
        else
            fprintf(stderr, "FAIL cuda_on_cpu: device reference on %s %s: good rc %d ran %d ok %d (%s); "
                    "wrong row rc %d ran %d ok %d, worst (%lld, %lld), want (%lld, %lld): %s\n", c.family, c.shape,
                    rc_good, ran_good, good.ok, good.why, rc_bad, ran_bad, bad.ok, (long long)bad.worst_row,
                    (long long)bad.worst_head, (long long)c.row, (long long)c.head, ctx.err);
        tally(ok);
        gpu_free_case(g);
        for (int i = 0; i < io.n_in; i++)
            free(in[i]);
        free(idx), free(ref), free(ref_final), free(out);
    }
}

/* harness/calibrate_kernels.cu on the runner, each kernel against what it
 * promises (calibrate_kernels.cu's header) rather than its own arithmetic:
 * the fill writes every word of a buffer the grid does not divide (a
 * grid-stride loop), within the mask, as varied words, and with the fp32
 * mask finite values under 2; the FMA chains equal the closed form of
 * x -> a·x + b; the ex2 chains reach the fixed point of x -> 2^-x. */
static void check_calibrate_kernels(void)
{
    const uint64_t n = 3 * CALIB_BLOCK + 77;        /* words: not a multiple of the block */
    const int blocks = 3, iters = 200, threads = blocks * CALIB_BLOCK;
    const uint32_t keep = ~0x40000000u;             /* fp32's mask in harness/calibrate.c */
    uint32_t *dw = nullptr;
    float *dout = nullptr;
    cudaStream_t st = nullptr;
    uint32_t *w = (uint32_t *)malloc(n * sizeof *w);
    float *out = (float *)malloc((size_t)threads * sizeof *out);
    char why[200] = "";
    bool ok = cudaStreamCreate(&st) == cudaSuccess && cudaMalloc((void **)&dw, n * 4) == cudaSuccess &&
              cudaMalloc((void **)&dout, (size_t)threads * 4) == cudaSuccess &&
              cudaMemset(dw, 0xff, n * 4) == cudaSuccess;   /* a word left unwritten breaks the mask */
    if (!ok)
        snprintf(why, sizeof why, "allocation on the runner failed");
    if (ok && (sb_calib_fill(st, dw, n, 5, keep) != 0 || cudaStreamSynchronize(st) != cudaSuccess ||
               cudaMemcpy(w, dw, n * 4, cudaMemcpyDeviceToHost) != cudaSuccess))
        ok = false, snprintf(why, sizeof why, "sb_calib_fill did not run");
    uint64_t distinct = 0;
    for (uint64_t i = 0; ok && i < n; i++) {
        float v;
        memcpy(&v, &w[i], 4);
        if ((w[i] & ~keep) != 0 || !std::isfinite(v) || fabsf(v) >= 2)
            ok = false, snprintf(why, sizeof why, "fill: word %llu = 0x%08x (%g) breaks mask 0x%08x",
                                 (unsigned long long)i, w[i], v, keep);
        distinct += i == 0 || w[i] != w[i - 1];
    }
    if (ok && distinct < n - 2)
        ok = false, snprintf(why, sizeof why, "fill: only %llu of %llu words differ from their neighbour",
                             (unsigned long long)distinct, (unsigned long long)n);
    if (ok && (sb_calib_fma(st, blocks, dout, iters) != 0 || cudaStreamSynchronize(st) != cudaSuccess ||
               cudaMemcpy(out, dout, (size_t)threads * 4, cudaMemcpyDeviceToHost) != cudaSuccess))
        ok = false, snprintf(why, sizeof why, "sb_calib_fma did not run");
    const double a = 0.999999f, b = 1e-7f, an = pow(a, iters);
    for (int t = 0; ok && t < threads; t++) {
        double want = 0;
        for (int c = 0; c < CALIB_CHAINS; c++) {
            const double x0 = (double)(float)((float)(t % CALIB_BLOCK + c) * 1e-3f);
            want += an * x0 + b * (1 - an) / (1 - a);
        }
        if (fabs(out[t] - want) > 1e-4 * fabs(want) + 1e-5)
            ok = false, snprintf(why, sizeof why, "fma: thread %d sums %.9g, the closed form %.9g", t, out[t], want);
    }
    if (ok && (sb_calib_ex2(st, blocks, dout, iters) != 0 || cudaStreamSynchronize(st) != cudaSuccess ||
               cudaMemcpy(out, dout, (size_t)threads * 4, cudaMemcpyDeviceToHost) != cudaSuccess))
        ok = false, snprintf(why, sizeof why, "sb_calib_ex2 did not run");
    const double fixed = 0.6411857445049859;      /* x = 2^-x */
    for (int t = 0; ok && t < threads; t++)
        if (fabs(out[t] - CALIB_CHAINS * fixed) > 1e-4)
            ok = false, snprintf(why, sizeof why, "ex2: thread %d sums %.9g, %d chains at 2^-x's fixed point %.9g",
                                 t, out[t], CALIB_CHAINS, CALIB_CHAINS * fixed);
    if (ok)
        printf("ok   calibrate kernels: fill (%llu words, mask 0x%08x), %d FMA and %d ex2 chains of %d steps\n",
               (unsigned long long)n, keep, threads * CALIB_CHAINS, threads * CALIB_CHAINS, iters);
    else
        fprintf(stderr, "FAIL cuda_on_cpu: calibrate kernels: %s\n", why);
    tally(ok);
    cudaFree(dw), cudaFree(dout);
    if (st)
        cudaStreamDestroy(st);
    free(w), free(out);
}

/* The runner's stream-ordered pool against the driver's accounting that
 * harness/gpu.c reads for a case's footprint: used and reserved bytes and
 * their high-water marks, a free that lands only in stream order, freed
 * bytes kept below the release threshold (not free to the device) until
 * cudaMemPoolTrimTo, and a high mark reset to the current use. */
static void check_memory_pool(void)
{
    struct cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = 0;
    cudaMemPool_t pool = nullptr;
    cudaStream_t st = nullptr;
    void *a = nullptr, *b = nullptr;
    uint64_t keep = UINT64_MAX, used = 0, used_high = 0, reserved = 0, zero = 0;
    size_t free0 = 0, free1 = 0, free2 = 0, total = 0;
    char why[300] = "";
    auto get = [&](enum cudaMemPoolAttr at, uint64_t *v) { return cudaMemPoolGetAttribute(pool, at, v) == cudaSuccess; };
    bool ok = cudaStreamCreate(&st) == cudaSuccess && cudaMemPoolCreate(&pool, &props) == cudaSuccess &&
              cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) == cudaSuccess &&
              cudaMemGetInfo(&free0, &total) == cudaSuccess &&
              cudaMallocFromPoolAsync(&a, 1000, pool, st) == cudaSuccess &&
              cudaMallocFromPoolAsync(&b, 3000, pool, st) == cudaSuccess;
    if (!ok)
        snprintf(why, sizeof why, "pool set-up or allocation failed");
    if (ok && cudaFreeAsync(b, st) == cudaSuccess && get(cudaMemPoolAttrUsedMemCurrent, &used) && used != 4000)
        ok = false, snprintf(why, sizeof why, "a queued free counted before its turn: %llu bytes in use, want 4000",
                             (unsigned long long)used);
    if (ok && (cudaStreamSynchronize(st) != cudaSuccess || !get(cudaMemPoolAttrUsedMemCurrent, &used) ||
               !get(cudaMemPoolAttrUsedMemHigh, &used_high) || !get(cudaMemPoolAttrReservedMemCurrent, &reserved) ||
               cudaMemGetInfo(&free1, &total) != cudaSuccess || used != 1000 || used_high != 4000 ||
               reserved != 4000 || free0 - free1 != 4000))
        ok = false, snprintf(why, sizeof why, "after the free: used %llu (want 1000), high %llu (4000), reserved %llu "
                             "(4000), device bytes taken %zu (4000)", (unsigned long long)used,
                             (unsigned long long)used_high, (unsigned long long)reserved, free0 - free1);
    if (ok && (cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero) != cudaSuccess ||
               !get(cudaMemPoolAttrUsedMemHigh, &used_high) || used_high != 1000))
        ok = false, snprintf(why, sizeof why, "the high mark reset to %llu, want the current 1000",
                             (unsigned long long)used_high);
    if (ok && (cudaMemPoolTrimTo(pool, 0) != cudaSuccess || !get(cudaMemPoolAttrReservedMemCurrent, &reserved) ||
               cudaMemGetInfo(&free2, &total) != cudaSuccess || reserved != 1000 || free0 - free2 != 1000))
        ok = false, snprintf(why, sizeof why, "after the trim: reserved %llu (want 1000), device bytes taken %zu (1000)",
                             (unsigned long long)reserved, free0 - free2);
    if (ok)
        printf("ok   memory pool: used, reserved and their high marks as the driver keeps them; a free in stream "
               "order; freed bytes held until the trim\n");
    else
        fprintf(stderr, "FAIL cuda_on_cpu: memory pool: %s\n", why);
    tally(ok);
    if (a)
        cudaFreeAsync(a, st);
    if (st)
        cudaStreamSynchronize(st), cudaStreamDestroy(st);
    if (pool)
        cudaMemPoolDestroy(pool);
    cudaGetLastError();
}

/* ---- planted bugs ---------------------------------------------------------------------- */

/* Runs plant `p` in a child; it must stop abnormally (the runner's own
 * report, a sanitizer's) with its expected phrase on stderr. */
static void run_planted(const planted_bug &p, const char *self, bool tsan)
{
    const char *phrase = tsan ? p.tsan_phrase : p.asan_phrase;
    if (!phrase)
        return;     /* this build cannot see it */
    int fd[2];
    if (pipe(fd) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout), fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]), close(fd[1]);
        execl(self, self, "plant", p.name, (char *)nullptr);
        _exit(127);
    }
    close(fd[1]);
    char buf[16384];
    size_t len = 0;
    for (ssize_t r; (r = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0;)
        len += (size_t)r;
    buf[len] = 0;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const bool stopped = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    const char *hit = strstr(buf, phrase);
    const bool ok = stopped && hit;
    char first[300] = "";
    const char *nl = hit ? strchr(hit, '\n') : nullptr;
    if (hit)
        snprintf(first, sizeof first, "%.*s", (int)(nl ? nl - hit : (ptrdiff_t)strlen(hit)), hit);
    if (ok)
        printf("planted: caught %s (%s)\n", p.what, first);
    else
        fprintf(stderr, "FAIL cuda_on_cpu: planted %s (%s) was not caught (exit status %d, expected \"%s\"):\n%.2000s\n",
                p.name, p.what, status, phrase, buf);
    tally(ok);
}

/* ---- kernels ------------------------------------------------------------------------- */

static void print_kernel(const sb_sim_kernel_stats *k, void *arg)
{
    (void)arg;
    printf("kernel=%s ran %ld launches, %ld blocks, %ld threads; devices %s; variants %s; "
           "launches checked only %ld\n", k->name, k->launches, k->blocks, k->threads, k->devices,
           k->variants[0] ? k->variants : "-", k->checked);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "plant") == 0)
        return run_plant(argv[2]);
    const bool no_verify = argc > 1 && strcmp(argv[1], "cases") == 0;
#if defined(__SANITIZE_THREAD__)
    const bool tsan = true, sanitized = true;
#elif defined(__SANITIZE_ADDRESS__)
    const bool tsan = false, sanitized = true;
#else
    const bool tsan = false, sanitized = false;     /* make bin/tests/cuda_on_cpu-plain: timing only */
#endif
    sb_sim_set_device(nullptr);
    char err[300];
    struct gpu_ctx *g = gpu_open(0, err, sizeof err);
    if (!g) {
        fprintf(stderr, "FAIL cuda_on_cpu: gpu_open on the CPU runner: %s\n", err);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    for (const op_case &c : op_cases)
        run_op_case(c, g);
    check_device_reference(g);
    check_calibrate_kernels();
    check_memory_pool();
    if (!no_verify)
        for (int i = 0; i < n_families; i++)
            verify_family(families[i], g);
    /* Last: the cold samples' flushes touch the 256 MiB flush buffer, which
     * every later launch would then unmap and map again (device memory is
     * closed to the host between kernels). */
    run_timed(g);
    gpu_close(g);

    for (int i = 0; i < n_wrapper_tests; i++) {
        const wrapper_test &w = wrapper_tests[i];
        char msg[400];
        const bool ok = w.run(msg, sizeof msg);
        if (ok)
            printf("ok   %s: %s\n", w.name, msg);
        else
            fprintf(stderr, "FAIL cuda_on_cpu: %s: %s\n", w.name, msg);
        tally(ok);
    }
    for (int i = 0; sanitized && i < n_planted_bugs; i++)
        run_planted(planted_bugs[i], argv[0], tsan);

    sb_sim_each_kernel(print_kernel, nullptr);
    if (n_skip)
        printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    else
        printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
