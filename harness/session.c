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
#include "measure.h"
#include "session.h"
#include "version.h"

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
    if (db_path) {
        /* The run row records the CPU's roofs whatever the device (a CPU
         * implementation may run beside the GPU ones) and, on a GPU, a
         * measured copy bandwidth beside the datasheet's. */
        ceilings_load(&s->cpu, omp_get_max_threads());
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

struct roof session_roof(struct session *s, const struct impl *im, enum dtype dt)
{
    struct roof r = { 0 };
    if (im->device == DEV_CPU) {
        /* The CPU implementations compute in fp32 whatever the dtype: the
         * FMA loop is the compute roof of both. */
        if (!s->cpu.loaded)
            ceilings_load(&s->cpu, omp_get_max_threads());
        r.flops = s->cpu.flops;
        r.bytes_s = s->cpu.bytes_s;
        r.cpu = &s->cpu;
    } else {
        r.flops = gpu_peak_flops(&s->gpu, dt);
        r.bytes_s = gpu_peak_bandwidth(&s->gpu);
    }
    return r;
}

void env_collect(const struct session *s, const char *suite, struct run_record *r)
{
    static char host[256], cpu[256], cc[16], json[1024];
    struct utsname u;
    memset(r, 0, sizeof *r);
    gethostname(host, sizeof host - 1);
    host_cpu_model(cpu, sizeof cpu);
    uname(&u);
    snprintf(json, sizeof json,
             "{\"kernel\": \"%s %s\", \"compiler\": \"gcc %s\", \"sqlite\": \"%s\", "
             "\"omp_threads\": %d, \"cpu_peak_gflops\": %.1f, \"cpu_stream_gbps\": %.1f, "
             "\"gpu_copy_gbps\": %.1f}",
             u.sysname, u.release, __VERSION__, sqlite3_libversion(), omp_get_max_threads(),
             s->cpu.flops / 1e9, s->cpu.bytes_s / 1e9, s->gpu_copy_bw / 1e9);
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
        r->peak_tflops = gpu_peak_flops(&s->gpu, DT_BF16) / 1e12;     /* 0: unknown peak */
        r->peak_gbps = gpu_peak_bandwidth(&s->gpu) / 1e9;
    } else {
        r->peak_tflops = s->cpu.flops / 1e12;
        r->peak_gbps = s->cpu.bytes_s > 0 ? s->cpu.bytes_s / 1e9 : NAN;
    }
}

void env_print(struct session *s)
{
    struct run_record r;
    char peaks[400];
    if (!s->cpu.loaded)
        ceilings_load(&s->cpu, omp_get_max_threads());
    env_collect(s, NULL, &r);
    printf("| what | value |\n|---|---|\n");
    printf("| seqbench | %s (commit %s) |\n", r.seqbench_version, r.git_commit);
    printf("| build | %s |\n", r.build_flags);
    printf("| host | %s |\n", r.hostname);
    printf("| cpu | %s, %d OpenMP threads |\n", r.cpu_model, r.cpu_threads);
    printf("| cpu compute roof (fp32 FMA loop, best of trials, %s) | %.1f GFLOP/s |\n",
           s->cpu.origin, s->cpu.flops / 1e9);
    printf("| cpu bandwidth roof (STREAM triad, best of passes, %s) | %.1f GB/s |\n",
           s->cpu.origin, s->cpu.bytes_s / 1e9);
    printf("| cpu roofs cache | %s |\n", s->cpu.path[0] ? s->cpu.path : "none (no cache directory)");
    printf("| default device | %s |\n", s->device);
    if (s->gpu.present) {
        printf("| gpu | %s (%s) |\n", s->gpu.name, s->gpu.uuid);
        printf("| compute capability | %d.%d, %d SMs, max SM clock %.0f MHz |\n", s->gpu.cc_major,
               s->gpu.cc_minor, s->gpu.sms, s->gpu.clock_khz / 1e3);
        printf("| memory | %.1f GiB, L2 %.1f MiB |\n", s->gpu.mem_bytes / 0x1p30,
               s->gpu.l2_bytes / 0x1p20);
        gpu_peak_describe(&s->gpu, peaks, sizeof peaks);
        printf("| gpu roofs | %s |\n", peaks);
        printf("| driver / runtime | %d / %d |\n", s->gpu.driver_version, s->gpu.runtime_version);
    } else {
        printf("| gpu | none: %s |\n", s->gpu.why_absent);
    }
}
