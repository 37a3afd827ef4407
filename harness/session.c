/*
 * session.c — see session.h. Environment collection lives here too: it is
 * stored with every run so a number can always be traced to its machine,
 * build and command.
 */
#include <math.h>
#include <omp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"
#include "cudnn_lib.h"
#include "emit.h"
#include "measure.h"
#include "session.h"
#include "version.h"

/* 16 independent accumulators of 16 floats: enough FMAs in flight to cover
 * the FMA latency on any x86 core with AVX-512 or AVX2, so the loop runs at
 * the FMA ports' throughput. */
#define PEAK_CHAINS 16
#define PEAK_WIDTH 16
#define PEAK_SECONDS 0.1

/* GCC prefers 256-bit vectors on AVX-512 parts; the peak loop must use the
 * widest FMAs the core has, as flash/cpu does, or % of peak exceeds 100;
 * -std=c11 turns FMA contraction off, so it is switched on here. */
#ifdef __AVX512F__
#define PEAK_TARGET __attribute__((target("prefer-vector-width=512"), optimize("fp-contract=fast"), noinline))
#else
#define PEAK_TARGET __attribute__((optimize("fp-contract=fast"), noinline))
#endif

/* One thread's FMA loop: returns FLOP/s. */
PEAK_TARGET static double peak_one_thread(void)
{
    float acc[PEAK_CHAINS][PEAK_WIDTH];
    for (int i = 0; i < PEAK_CHAINS; i++)
        for (int j = 0; j < PEAK_WIDTH; j++)
            acc[i][j] = (float)(i + j) * 1e-3f;
    const float a = 0.999999f, b = 1e-7f;
    long iters = 0;
    double t0 = now_seconds(), t;
    do {
        for (int r = 0; r < 1000; r++)
            for (int i = 0; i < PEAK_CHAINS; i++)
                for (int j = 0; j < PEAK_WIDTH; j++)
                    acc[i][j] = acc[i][j] * a + b;
        iters += 1000;
        t = now_seconds() - t0;
    } while (t < PEAK_SECONDS);
    float sink = 0;
    for (int i = 0; i < PEAK_CHAINS; i++)
        for (int j = 0; j < PEAK_WIDTH; j++)
            sink += acc[i][j];
    __asm__ volatile("" : : "g"(sink));     /* keep the loop alive */
    return 2.0 * PEAK_CHAINS * PEAK_WIDTH * (double)iters / t;
}

double cpu_peak_flops(void)
{
    double total = 0;
#pragma omp parallel reduction(+ : total)
    total = peak_one_thread();
    return total;
}

/* STREAM's triad a = b + s·c over three arrays far larger than any last-level
 * cache, OpenMP-parallel with the same static split for the first touch and
 * the timed passes (so pages sit on the threads' NUMA nodes): bytes read and
 * written (3 per element, STREAM's convention) over the best of five passes.
 * The bandwidth roof of a CPU run. 0 when the arrays cannot be allocated. */
#define STREAM_ELEMS ((int64_t)48 << 20)   /* 192 MiB per array */
double cpu_stream_bandwidth(void)
{
    float *a = malloc(STREAM_ELEMS * sizeof *a), *b = malloc(STREAM_ELEMS * sizeof *b);
    float *c = malloc(STREAM_ELEMS * sizeof *c);
    double best = 0;
    if (a && b && c) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < STREAM_ELEMS; i++)
            a[i] = 0, b[i] = 1, c[i] = 2;
        for (int pass = 0; pass < 5; pass++) {
            const float k = 0.5f + (float)pass;
            double t0 = now_seconds();
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < STREAM_ELEMS; i++)
                a[i] = b[i] + k * c[i];
            double t = now_seconds() - t0;
            __asm__ volatile("" : : "g"(a[pass]) : "memory");
            if (t > 0 && (best == 0 || t < best))
                best = t;
        }
    }
    free(a), free(b), free(c);
    return best > 0 ? 3.0 * sizeof(float) * (double)STREAM_ELEMS / best : 0;
}

static int parse_device(const char *opt, int *index)
{
    int64_t v;
    if (strcmp(opt, "cpu") == 0)
        return 0;
    if (strcmp(opt, "cuda") == 0) {
        *index = 0;
        return 1;
    }
    if (strncmp(opt, "cuda:", 5) == 0 && cli_parse_int(opt + 5, &v) == 0 && v >= 0 && v < 64) {
        *index = (int)v;
        return 1;
    }
    return -1;
}

int session_open(struct session *s, const char *device_opt, const char *db_path, const char *suite)
{
    memset(s, 0, sizeof *s);
    int index = 0, want = device_opt ? parse_device(device_opt, &index) : -2;
    if (want == -1) {
        cli_error("--device '%s': expected cpu, cuda or cuda:N", device_opt);
        return EXIT_USAGE;
    }
    int present = gpu_probe(index, &s->gpu) == 0;
    if (want == 1 && !present) {
        cli_error("--device %s: %s", device_opt, s->gpu.why_absent);
        return EXIT_USAGE;
    }
    s->on_cpu = want == 0 || (want == -2 && !present);
    if (s->on_cpu)
        snprintf(s->device, sizeof s->device, "cpu");
    else
        snprintf(s->device, sizeof s->device, "cuda:%d", index);

    if (present && !s->on_cpu) {
        char err[200];
        s->gctx = gpu_open(index, err, sizeof err);
        if (!s->gctx) {
            cli_error("%s: %s", s->device, err);
            return EXIT_FAIL;
        }
    } else {
        snprintf(s->no_gpu_reason, sizeof s->no_gpu_reason, "%s",
                 present ? "device is cpu (--device cpu)" : s->gpu.why_absent);
    }
    s->cpu_peak_flops = cpu_peak_flops();

    if (db_path) {
        /* The measured ceilings a report's roofline draws: of the CPU always
         * (its only bandwidth roof), of the GPU beside its datasheet peak. */
        s->cpu_stream_bw = cpu_stream_bandwidth();
        if (s->gctx)
            s->gpu_copy_bw = gpu_measure_bandwidth(s->gctx);
        char err[300];
        s->store = store_open(db_path, err, sizeof err);
        if (!s->store) {
            cli_error("%s", err);
            session_close(s);
            return EXIT_USAGE;
        }
        struct run_record r;
        env_collect(s, suite, &r);
        if (store_begin_run(s->store, &r, &s->run_id, err, sizeof err) != 0) {
            cli_error("%s", err);
            session_close(s);
            return EXIT_FAIL;
        }
    }
    return EXIT_OK;
}

void session_close(struct session *s)
{
    if (s->store) {
        char err[300];
        if (s->run_id && store_finish_run(s->store, s->run_id, err, sizeof err) != 0)
            cli_error("%s", err);
        store_close(s->store);
        s->store = NULL;
    }
    if (s->gctx)
        gpu_close(s->gctx);
    s->gctx = NULL;
}

double session_peak(const struct session *s, const struct impl *im, enum dtype dt)
{
    if (im->device == DEV_CPU)
        return s->cpu_peak_flops;
    /* bf16 implementations are compared with the tensor-core peak they could
     * reach; fp32 ones with the FMA peak. */
    return gpu_peak_flops(&s->gpu, dt, dt != DT_FP32);
}

static void cpu_model(char *buf, size_t n)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, n, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 2;
            colon[strcspn(colon, "\n")] = 0;
            snprintf(buf, n, "%s", colon);
            break;
        }
    }
    if (f)
        fclose(f);
}

/* cuDNN as found at run time (harness/cudnn_lib.h), as a JSON string. */
static void cudnn_json(char *buf, size_t n)
{
    char what[400];
    cudnn_lib_describe(what, sizeof what);
    emit_json_string_buf(buf, n, what);
}

void env_collect(const struct session *s, const char *suite, struct run_record *r)
{
    static char host[256], cpu[256], cc[16], json[2048];
    char cudnn[1024];
    struct utsname u;
    memset(r, 0, sizeof *r);
    gethostname(host, sizeof host - 1);
    cpu_model(cpu, sizeof cpu);
    uname(&u);
    cudnn_json(cudnn, sizeof cudnn);
    snprintf(json, sizeof json,
             "{\"kernel\": \"%s %s\", \"compiler\": \"gcc %s\", \"sqlite\": \"%s\", "
             "\"omp_threads\": %d, \"cpu_peak_gflops\": %.1f, \"cpu_stream_gbps\": %.1f, "
             "\"gpu_copy_gbps\": %.1f, \"cudnn\": %s}",
             u.sysname, u.release, __VERSION__, sqlite3_libversion(), omp_get_max_threads(),
             s->cpu_peak_flops / 1e9, s->cpu_stream_bw / 1e9, s->gpu_copy_bw / 1e9, cudnn);
    r->suite = suite;
    r->command = sb_command_line;
    r->seqbench_version = SB_VERSION;
    r->git_commit = SB_GIT_COMMIT;
    r->build_flags = SB_BUILD_FLAGS;
    r->hostname = host;
    r->cpu_model = cpu;
    r->cpu_threads = omp_get_max_threads();
    r->device = s->device;
    r->env_json = json;
    r->driver_version = s->gpu.driver_version;
    r->runtime_version = s->gpu.runtime_version;
    r->input_version = SB_INPUT_VERSION;
    if (!s->on_cpu) {
        snprintf(cc, sizeof cc, "%d.%d", s->gpu.cc_major, s->gpu.cc_minor);
        r->gpu_name = s->gpu.name;
        r->gpu_uuid = s->gpu.uuid;
        r->gpu_sms = s->gpu.sms;
        r->gpu_cc = cc;
        r->gpu_mem_bytes = s->gpu.mem_bytes;
        r->gpu_l2_bytes = s->gpu.l2_bytes;
        r->gpu_clock_khz = s->gpu.clock_khz;
        r->peak_tflops = gpu_peak_flops(&s->gpu, DT_BF16, 1) / 1e12;
        r->peak_gbps = gpu_peak_bandwidth(&s->gpu) / 1e9;
    } else {
        r->peak_tflops = s->cpu_peak_flops / 1e12;
        r->peak_gbps = s->cpu_stream_bw > 0 ? s->cpu_stream_bw / 1e9 : NAN;
    }
}

void env_print(const struct session *s)
{
    struct run_record r;
    env_collect(s, NULL, &r);
    printf("| what | value |\n|---|---|\n");
    printf("| seqbench | %s (commit %s) |\n", r.seqbench_version, r.git_commit);
    printf("| build | %s |\n", r.build_flags);
    printf("| host | %s |\n", r.hostname);
    printf("| cpu | %s, %d OpenMP threads |\n", r.cpu_model, r.cpu_threads);
    printf("| cpu fp32 peak (measured FMA loop) | %.1f GFLOP/s |\n", s->cpu_peak_flops / 1e9);
    printf("| cpu memory bandwidth (measured STREAM triad) | %.1f GB/s |\n",
           (s->cpu_stream_bw > 0 ? s->cpu_stream_bw : cpu_stream_bandwidth()) / 1e9);
    printf("| default device | %s |\n", s->device);
    if (s->gpu.present) {
        printf("| gpu | %s (%s) |\n", s->gpu.name, s->gpu.uuid);
        printf("| compute capability | %d.%d, %d SMs, max SM clock %.0f MHz |\n", s->gpu.cc_major,
               s->gpu.cc_minor, s->gpu.sms, s->gpu.clock_khz / 1e3);
        printf("| memory | %.1f GiB, L2 %.1f MiB, peak %.0f GB/s |\n", s->gpu.mem_bytes / 0x1p30,
               s->gpu.l2_bytes / 0x1p20, gpu_peak_bandwidth(&s->gpu) / 1e9);
        printf("| peak bf16 tensor / fp32 FMA | %.0f / %.1f TFLOP/s (datasheet rate x max clock) |\n",
               gpu_peak_flops(&s->gpu, DT_BF16, 1) / 1e12, gpu_peak_flops(&s->gpu, DT_FP32, 0) / 1e12);
        printf("| driver / runtime | %d / %d |\n", s->gpu.driver_version, s->gpu.runtime_version);
    } else {
        printf("| gpu | none: %s |\n", s->gpu.why_absent);
    }
    char cudnn[400];
    cudnn_lib_describe(cudnn, sizeof cudnn);
    printf("| cudnn (loaded at run time) | %s |\n", cudnn);
}
