/*
 * test_profile.c — the profiling bookkeeping that needs no GPU:
 *
 *   1. kernel records (kernrec.c): the harness's blocking kernel ignored,
 *      a sample's kernels summed by time, the per-kernel breakdown grouped
 *      by name and launch, most time first, launches per run;
 *   2. the profiler hand-off (profile_cmd.c): ncu's and nsys's commands
 *      filter on NVTX's "timed" range, run one timed sample of one
 *      implementation without storing, and name the report after the case;
 *      the user's --profile/--exec/--impl/--db... are replaced;
 *   3. the process's peak resident growth (memuse.c) over a 64 MiB touch;
 *   4. the measured ceilings' cache file (the one the CPU's use) and JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "ceilings.h"
#include "check.h"
#include "kernrec.h"
#include "memuse.h"
#include "profile_cmd.h"

static struct kernel_rec rec(const char *name, int gx, uint64_t start, uint64_t dur)
{
    return (struct kernel_rec){ .name = name, .grid = { gx, 1, 1 }, .block = { 128, 1, 1 },
                                .registers = 64, .shared_bytes = 1024, .start = start,
                                .end = start + dur };
}

static void test_kernrec(void)
{
    struct kernel_log l = { 0 };
    char name[64];
    /* Two samples of 2 runs: [0, 1000] and [2000, 3000]. */
    snprintf(name, sizeof name, "_Z22" KERNREC_HARNESS_KERNEL "PVKjjPVjm");
    struct kernel_rec rs[] = {
        rec(name, 1, 10, 500),                                  /* the blocking kernel */
        rec("split", 64, 100, 200), rec("combine", 8, 310, 40), /* run 1 */
        rec("split", 64, 400, 210), rec("combine", 8, 620, 30), /* run 2 */
        rec(name, 1, 2010, 500),
        rec("split", 64, 2100, 190), rec("split", 32, 2300, 50), rec("combine", 8, 2400, 40),
    };
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        kernel_log_add(&l, &rs[i]);
    CHECK(l.n == 7 && l.n_names == 2, "the blocking kernel is not kept (%d records, %d names)", l.n,
          l.n_names);
    int count;
    double ms = kernel_log_sum_ms(&l, 0, 1000, &count);
    CHECK(count == 4 && fabs(ms - 480e-6) < 1e-12, "sample 1: 4 kernels, %g ms", ms);
    ms = kernel_log_sum_ms(&l, 2000, 3000, &count);
    CHECK(count == 3 && fabs(ms - 280e-6) < 1e-12, "sample 2: 3 kernels, %g ms", ms);
    CHECK(kernel_log_sum_ms(&l, 5000, 6000, &count) == 0 && count == 0, "nothing after");

    struct kernel_row *rows;
    int n = kernel_log_group(&l, 0, 3000, 3, &rows);
    CHECK(n == 3, "3 launches configurations (%d)", n);
    if (n == 3) {
        CHECK(!strcmp(rows[0].name, "split") && rows[0].grid[0] == 64 && rows[0].count == 1 &&
                  fabs(rows[0].duration_ns - 200) < 1e-9, "first: split x64, 1 per run, 200 ns mean");
        CHECK(!strcmp(rows[1].name, "combine") && fabs(rows[1].count - 1) < 1e-12 &&
                  fabs(rows[1].duration_ns - 110 / 3.0) < 1e-9, "then combine: %g per run, %g ns",
              rows[1].count, rows[1].duration_ns);
        CHECK(!strcmp(rows[2].name, "split") && rows[2].grid[0] == 32 && fabs(rows[2].count - 1 / 3.0) < 1e-12,
              "a launch seen in one run of three counts a third");
        CHECK(rows[0].registers == 64 && rows[0].shared_bytes == 1024 && rows[0].block[0] == 128,
              "launch configuration kept");
    }
    free(rows);
    const char *kept = l.names[0];
    kernel_log_clear(&l);
    CHECK(l.n == 0 && l.n_names == 2 && l.names[0] == kept, "clear keeps the interned names");
    kernel_log_free(&l);
}

static int has(const struct profile_cmd *c, const char *a)
{
    for (int i = 0; i < c->argc; i++)
        if (strcmp(c->argv[i], a) == 0)
            return i + 1;
    return 0;
}

static void test_profile_cmd(void)
{
    char *run[] = { "flash", "--N", "4096", "--impl", "cuda,cudnn", "--profile", "ncu", "--exec",
                    "--db=x.db", "--max-time", "3", "--dtype", "bf16", "--causal" };
    const int n = (int)(sizeof run / sizeof run[0]);
    static struct profile_cmd c;
    const char *cs = "flash/cuda bf16 B=1 N=4096 Nk=4096 H=8 Hkv=8 D=128 Dv=128 causal";
    CHECK(profile_command(&c, PROFILE_NCU, "/x/bin/bench", n, run, "cuda", cs) == 0, "ncu's command");
    CHECK(!strcmp(c.argv[0], "ncu") && has(&c, "--nvtx") && has(&c, "seqbench@timed/") &&
              has(&c, "--nvtx-include") == has(&c, "seqbench@timed/") - 1, "ncu filters on the timed range");
    CHECK(!strcmp(c.report, "flash_cuda_bf16_B=1_N=4096_Nk=4096_H=8_Hkv=8_D=128_Dv=128_causal") &&
              has(&c, c.report) == has(&c, "-o") + 1, "the report is named after the case: %s", c.report);
    int b = has(&c, "/x/bin/bench");
    CHECK(b && !strcmp(c.argv[b], "run") && !strcmp(c.argv[b + 1], "flash"), "then bench run FAMILY");
    CHECK(!has(&c, "--profile") && !has(&c, "--exec") && !has(&c, "--db=x.db") && !has(&c, "cuda,cudnn") &&
              !has(&c, "3") && has(&c, "--causal") && has(&c, "4096") && has(&c, "bf16"),
          "the user's shape kept, profile/exec/db/max-time/impl replaced");
    CHECK(has(&c, "--no-db") && has(&c, "--min-samples") && !strcmp(c.argv[has(&c, "--impl")], "cuda") &&
              !strcmp(c.argv[has(&c, "--max-time")], "0.001") && !c.argv[c.argc],
          "one timed sample of one implementation, nothing stored");
    CHECK(profile_command(&c, PROFILE_NSYS, "bench", n, run, "cudnn", "flash/cudnn x") == 0 &&
              !strcmp(c.argv[0], "nsys") && !strcmp(c.argv[1], "profile") &&
              has(&c, "--capture-range=nvtx") && has(&c, "--nvtx-capture=timed@seqbench") &&
              has(&c, "flash_cudnn_x"), "nsys captures the timed range");
    char name[64];
    profile_report_name("a/b c'd=1", name, sizeof name);
    CHECK(!strcmp(name, "a_b_c_d=1"), "file name: %s", name);
    CHECK(profile_tool_parse("ncu") == PROFILE_NCU && profile_tool_parse("nsys") == PROFILE_NSYS &&
              profile_tool_parse("nvprof") < 0, "tools by name");

    char *quoted[] = { "it's", "a b" };
    profile_command(&c, PROFILE_NCU, "bench", 2, quoted, "cuda", "x");
    char buf[2048];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    profile_command_print(f, &c);
    fclose(f);
    CHECK(strstr(buf, " 'it'\\''s' 'a b' ") && strstr(buf, "ncu --nvtx --nvtx-include seqbench@timed/"),
          "printed for a shell: %s", buf);
}

static void test_host_peak(void)
{
    struct host_peak h;
    host_peak_begin(&h);
    const size_t bytes = (size_t)64 << 20;
    char *p = malloc(bytes);
    for (size_t i = 0; p && i < bytes; i += 4096)
        p[i] = (char)i;
    __asm__ volatile("" : : "g"(p) : "memory");
    free(p);
    const int64_t grew = host_peak_end(&h);
    CHECK(proc_status_bytes("VmRSS:") > 0, "VmRSS readable");
    /* Where /proc/self/clear_refs cannot be written the fallback (the
     * process's ru_maxrss) still sees this first large touch. */
    if (!h.reset)
        fprintf(stderr, "note: VmHWM cannot be reset here; ru_maxrss measured instead\n");
    CHECK(grew >= (int64_t)bytes - (1 << 20) && grew < 4 * (int64_t)bytes, "64 MiB touched: the peak grew %lld bytes",
          (long long)grew);
    /* A second case that touches nothing grows (almost) nothing: with the
     * reset, the peak starts again from what is resident now. */
    host_peak_begin(&h);
    CHECK(host_peak_end(&h) < (int64_t)(8 << 20), "an empty case: %lld bytes", (long long)host_peak_end(&h));
}

static void test_ceilings_cache(void)
{
    char dir[] = "/tmp/test_profile_XXXXXX", path[512];
    CHECK(mkdtemp(dir) != NULL, "scratch directory");
    setenv("SEQBENCH_CACHE_DIR", dir, 1);
    ceilings_cache_path("gpu-ceilings", "GPU-1|580", path, sizeof path);
    CHECK(strncmp(path, dir, strlen(dir)) == 0 && strstr(path, "/gpu-ceilings-"), "cache path %s", path);
    const char *names[] = { "gemm_bf16", "gemm_fp8", "fma" };
    const double v[] = { 7.5e14, 0, 6.5e13 };
    double back[3] = { -1, -1, -1 };
    ceilings_cache_write(path, "GPU-1|580", "test", names, v, 3);
    CHECK(ceilings_cache_read(path, "GPU-1|580", names, back, 3) == 0 && back[0] == v[0] && back[1] == 0 &&
              back[2] == v[2], "round trip, an unsupported 0 included");
    CHECK(ceilings_cache_read(path, "GPU-2|580", names, back, 3) != 0, "another key is not this cache");
    const char *more[] = { "gemm_bf16", "gemm_fp8", "fma", "copy" };
    CHECK(ceilings_cache_read(path, "GPU-1|580", more, back, 4) != 0, "a value missing: no cache");
    FILE *f = fopen(path, "a");
    fputs("fma -3\n", f);
    fclose(f);
    CHECK(ceilings_cache_read(path, "GPU-1|580", names, back, 3) != 0, "a negative value: no cache");
    remove(path);
    remove(dir);

    struct gpu_ceilings c = { .loaded = 1 };
    c.value[CAL_GEMM_BF16] = 7.5e14, c.clock_mhz[CAL_GEMM_BF16] = 1980;
    c.value[CAL_COPY] = 3.1e12, c.clock_mhz[CAL_COPY] = 1755;
    char json[1024];
    gpu_ceilings_json(&c, json, sizeof json);
    CHECK(!strcmp(json, "{\"gemm_bf16_tflops\": 750, \"gemm_bf16_clock_mhz\": 1980, \"copy_gbps\": 3100, "
                        "\"copy_clock_mhz\": 1755}"), "JSON: %s", json);
    CHECK(gpu_ceiling_flops(&c, DT_BF16) == 7.5e14 && gpu_ceiling_flops(&c, DT_FP16) == 0 &&
              gpu_ceiling_bandwidth(&c) == 3.1e12, "the roofs a result uses");
}

int main(void)
{
    test_kernrec();
    test_profile_cmd();
    test_host_peak();
    test_ceilings_cache();
    return check_done();
}
