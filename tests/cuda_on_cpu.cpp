/*
 * cuda_on_cpu.cpp — every GPU implementation of ops/, host code and kernels
 * as they are, run on the CPU runner (ops/sim/) against its family's
 * reference, on shapes that reach the kernels' edges; built twice by the
 * Makefile (AddressSanitizer + UBSan, ThreadSanitizer) and run by
 * tests/cuda_on_cpu.sh.
 *
 * Per case: the harness's own path (run_case: inputs, poisoned output,
 * setup, run, fetch, every row against the float64 reference) on the GPU
 * the case names (H100 unless it says otherwise), then the host code alone
 * — setup and launches, each launch checked but not run — on every other
 * GPU the runtime models (A100, L40S, A2, RTX5090: their SM counts, opt-in
 * limits and the build each loads), where a plan may be unsupported (the
 * reason is printed) but never an error. Then the wrappers of ops/ptx.cuh
 * and the planted bugs (tests/cuda_on_cpu_kernels.cu), and last one line per
 * kernel that ran, "kernel=<name> ...", which cuda_on_cpu.sh compares with
 * the kernels in bin/bench's sm_90a SASS.
 *
 * usage: cuda_on_cpu [quick]      quick: the reduced set the ThreadSanitizer
 *                                 build runs (marked Q in the table)
 *        cuda_on_cpu plant NAME   one planted bug, in this process (the
 *                                 parent runs each in a child and expects
 *                                 it to be caught)
 * Prints "N passed, M failed" last.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "ops/sim/sim.h"

extern "C" {
#include "harness/gpu.h"
#include "harness/runcase.h"
#include "harness/seqbench.h"
}

#include "cuda_on_cpu_kernels.h"

static int n_pass, n_fail;

static void tally(bool ok)
{
    ok ? n_pass++ : n_fail++;
}

/* ---- the implementations ---------------------------------------------------------------- */

struct op_case {
    const char *family, *impl, *dtype, *shape;
    bool quick;             /* in the ThreadSanitizer set */
    const char *why;        /* the edge it reaches */
};

/* Shapes small enough to run in seconds under the sanitizers (a block's
 * threads are fibers; every block runs), each chosen for an edge. */
static const op_case op_cases[] = {
    /* flash/cuda: flash_fwd_kernel, flash_combine_kernel */
    { "flash", "cuda", "bf16", "B=2 N=1 Nk=1100 H=4 Hkv=2 D=128 causal", true,
      "decode, GQA, split-KV with a ragged last key tile, combine" },
    { "flash", "cuda", "fp32", "B=1 N=129 Nk=129 H=2 Hkv=2 D=64 causal", false,
      "causal prefill, ragged last query tile, splits of 1-3 key tiles" },
    { "flash", "cuda", "fp32", "B=1 N=200 Nk=333 H=2 Hkv=1 D=128 causal", false,
      "Nk > N causal (bottom-right), MQA" },
    { "flash", "cuda", "bf16", "B=1 N=64 Nk=80 H=264 Hkv=66 D=64", true,
      "unsplit (264 blocks: 2 per SM of an H100), GQA 4:1, a ragged key tile unmasked" },
    { "flash", "cuda", "fp32", "B=1 N=1 Nk=300 H=2 Hkv=1 D=64", false,
      "decode, MQA, not causal" },
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

static void run_op_case(const op_case &c, struct gpu_ctx *g)
{
    const struct family *f = family_find(c.family);
    const struct impl *im = f ? impl_find(f, c.impl) : nullptr;
    struct shape s;
    char err[300];
    shape_unset(&s);
    s.dtype = (enum dtype)dtype_parse(c.dtype);
    if (!im || shape_parse_words(f, c.shape, &s, err, sizeof err) != 0) {
        fprintf(stderr, "FAIL cuda_on_cpu: %s/%s %s: %s\n", c.family, c.impl, c.shape, im ? err : "no such implementation");
        tally(false);
        return;
    }
    const char *home = "H100";
    sb_sim_set_device(home);
    struct case_req q = {};
    q.family = f, q.impl = im, q.shape = s, q.seed = 7, q.device = "cuda:0", q.gpu = g;
    q.verify_only = 1;
    struct case_result r;
    run_case(&q, &r);
    bool ok = strcmp(r.status, "ok") == 0;
    char line[1600];
    int k = snprintf(line, sizeof line, "%s on %s: %s rel %.2g", r.case_str, home, r.status, r.rec.rel_err);
    if (!ok && r.rec.error)
        k += snprintf(line + k, sizeof line - (size_t)k, " (%s)", r.rec.error);
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
        printf("ok   %s   [%s]\n", line, c.why);
    else
        fprintf(stderr, "FAIL cuda_on_cpu: %s   [%s]\n", line, c.why);
    fflush(stdout);
    tally(ok);
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
    const bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
#if defined(__SANITIZE_THREAD__)
    const bool tsan = true;
#else
    const bool tsan = false;
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
        if (!quick || c.quick)
            run_op_case(c, g);
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
    for (int i = 0; i < n_planted_bugs; i++)
        run_planted(planted_bugs[i], argv[0], tsan);

    sb_sim_each_kernel(print_kernel, nullptr);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
