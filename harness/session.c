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
#include "isolate.h"
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

/* session_device and session_device_isolated: the same but for where the
 * GPU is probed. */
static int pick_device(struct session *s, const char *device_opt, int isolated)
{
    memset(s, 0, sizeof *s);
    s->lock.fd = -1;
    s->lock_wait_s = -1;
    s->isolated = isolated;
    int index = 0, want = device_opt ? parse_device(device_opt, &index) : -2;
    if (want == -1) {
        cli_error("--device '%s': expected cpu, cuda or cuda:N", device_opt);
        return EXIT_USAGE;
    }
    int present;
    if (isolated) {
        struct isolate_probe p;
        isolate_probe(index, 0, &p);
        s->gpu = p.gpu;
        s->gpu_copy_bw = p.copy_bw;
        s->probe_usable = p.usable;
        if (p.gpu.present && !p.usable)
            snprintf(s->no_gpu_reason, sizeof s->no_gpu_reason, "GPU setup failed: %.160s", p.why);
        present = p.gpu.present;
    } else {
        present = gpu_probe(index, &s->gpu) == 0;
    }
    /* No GPU at all, or an index past the GPUs the runtime found: bad input.
     * A GPU host whose GPU fails is not: its device stays (see session.h). */
    int no_such = s->gpu.n_devices > 0 && index >= s->gpu.n_devices;
    if (want == 1 && (!s->gpu.host_has_gpu || no_such)) {
        cli_error("--device %s: %s", device_opt, s->gpu.why_absent);
        return EXIT_USAGE;
    }
    s->on_cpu = want == 0 || (want == -2 && !s->gpu.host_has_gpu);
    if (s->on_cpu)
        snprintf(s->device, sizeof s->device, "cpu");
    else
        snprintf(s->device, sizeof s->device, "cuda:%d", index);
    if (!present || s->on_cpu)
        snprintf(s->no_gpu_reason, sizeof s->no_gpu_reason, "%s",
                 present ? "device is cpu (--device cpu)" : s->gpu.why_absent);
    return EXIT_OK;
}

int session_device(struct session *s, const char *device_opt)
{
    return pick_device(s, device_opt, 0);
}

int session_device_isolated(struct session *s, const char *device_opt)
{
    return pick_device(s, device_opt, 1);
}

/* What an isolated session's run row records of its GPU, with no CUDA
 * context in this process: the copy bandwidth and the measured ceilings
 * from a child (`bench _probe --measure`, under this session's device lock;
 * it caches the ceilings, which the case children then read), the GPU's
 * state from NVML (a driver library, not CUDA). */
static void isolated_gpu_env(struct session *s)
{
    struct isolate_probe p;
    isolate_probe(s->gpu.index, 1, &p);
    s->gpu_copy_bw = p.copy_bw;
    if (p.ceil.loaded)
        s->prof.ceil = p.ceil;
    if ((s->prof.nvml = nvml_open(s->gpu.uuid, s->gpu.index, s->prof.nvml_why,
                                  sizeof s->prof.nvml_why)))
        nvml_read_state(s->prof.nvml, &s->prof.state);
}

int session_start(struct session *s, const char *db_path, const char *suite)
{
    if (!s->no_lock) {
        char key[96], err[1400];
        devlock_key(s->device, s->on_cpu ? NULL : s->gpu.uuid, key, sizeof key);
        if (devlock_acquire(&s->lock, s->device, key, s->lock_wait_s, err, sizeof err) != 0) {
            cli_error("%s", err);
            return EXIT_USAGE;
        }
    }
    /* An isolated session makes no GPU context (its case children do, and
     * CUPTI with it); a GPU session here loads CUPTI before it makes one. */
    const int gpu_here = !s->on_cpu && s->gpu.present && !s->isolated;
    int rc = profile_prepare(&s->prof, &s->popts, &s->gpu, gpu_here);
    if (rc != EXIT_OK) {
        devlock_release(&s->lock);
        return rc;
    }
    if (!s->on_cpu && s->gpu.present && s->isolated) {
        s->gpu_usable = s->probe_usable;
    } else if (gpu_here) {
        char err[160];
        if (!(s->gctx = gpu_open(s->gpu.index, err, sizeof err)))
            snprintf(s->no_gpu_reason, sizeof s->no_gpu_reason, "GPU setup failed: %s", err);
        s->gpu_usable = s->gctx != NULL;
    }
    if (!s->on_cpu && !s->gpu_usable)
        fprintf(stderr, "bench: %s cannot be used (%s); its implementations are skipped\n",
                s->device, s->no_gpu_reason);
    /* The GPU's measured ceilings are stored with every run that measures
     * (measured now when not cached, like the CPU's) or asked for. */
    if (!s->popts.calibrate && db_path)
        s->popts.calibrate = 1;
    profile_attach(&s->prof, &s->popts, s->gctx, &s->gpu);
    if (s->isolated && s->gpu_usable && db_path)
        isolated_gpu_env(s);

    if (db_path) {
        /* The run row records the CPU's roofs whatever the device (a CPU
         * implementation may run beside the GPU ones) and, on a GPU, a
         * measured copy bandwidth beside the datasheet's. */
        ceilings_load(&s->cpu, omp_get_max_threads());
        if (s->gctx)        /* an isolated session has it from its probe */
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
        r.config = s->config;
        /* The latest unfinished run of this configuration: the one --resume
         * continues, or, without it, one to mention. */
        int64_t open_run = 0;
        int found = s->config ? store_find_unfinished(s->store, s->config, &open_run, s->open_uid,
                                                      sizeof s->open_uid, err, sizeof err) : 0;
        if (found < 0) {
            cli_error("%s", err);
            session_close(s);
            return EXIT_FAIL;
        }
        if (found && s->resume)
            s->run_id = open_run, s->resumed = 1;
        else if (store_begin_run(s->store, &r, &s->run_id, err, sizeof err) != 0) {
            cli_error("%s", err);
            session_close(s);
            return EXIT_FAIL;
        }
    }
    return EXIT_OK;
}

int session_open(struct session *s, const char *device_opt, const char *db_path, const char *suite)
{
    int rc = session_device(s, device_opt);
    s->no_lock = 1;
    return rc != EXIT_OK ? rc : session_start(s, db_path, suite);
}

int session_runs_impl(const struct session *s, const struct impl *im)
{
    return (im->device == DEV_CPU) == (s->on_cpu != 0);
}

const char *session_implied_device(const struct impl *const *impls, int n)
{
    for (int i = 0; i < n; i++)
        if (impls[i]->device != DEV_CPU)
            return NULL;
    return n > 0 ? "cpu" : NULL;
}

int session_gpu_ran(const struct session *s, const char *cmd, int n_cases, int n_ran)
{
    if (s->on_cpu || n_cases == 0 || n_ran > 0)
        return EXIT_OK;
    cli_error("%s: no GPU implementation ran on %s: %s", cmd, s->device,
              s->gpu_usable ? "every case was skipped (the reasons are in the table)"
                            : s->no_gpu_reason);
    return EXIT_FAIL;
}

void session_close(struct session *s)
{
    if (s->store) {
        char err[300];
        if (s->run_id && !s->unfinished &&
            store_finish_run(s->store, s->run_id, err, sizeof err) != 0)
            cli_error("%s", err);
        store_close(s->store);
        s->store = NULL;
    }
    profile_close(&s->prof);
    if (s->gctx)
        gpu_close(s->gctx);
    s->gctx = NULL;
    devlock_release(&s->lock);
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
        r.flops_measured = gpu_ceiling_flops(&s->prof.ceil, dt);
        r.bytes_s_measured = gpu_ceiling_bandwidth(&s->prof.ceil);
    }
    return r;
}

void session_config(const struct session *s, const char *what, char *buf, size_t n)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    /* The host and the GPU itself (cuda:0 is another GPU under another
     * CUDA_VISIBLE_DEVICES): a run is resumed only where it ran, so its
     * runs row describes every result in it. */
    snprintf(buf, n, "%s device=%s gpu=%s host=%s commit=%s input=%d", what, s->device,
             s->on_cpu || !s->gpu.uuid[0] ? "-" : s->gpu.uuid, host, SB_GIT_COMMIT, SB_INPUT_VERSION);
}

/* cuDNN as found at run time (harness/cudnn_lib.h), as a JSON string. */
static void cudnn_json(char *buf, size_t n)
{
    char what[400];
    cudnn_lib_describe(what, sizeof what);
    emit_json_string_buf(buf, n, what);
}

/* The run's GPU state from NVML (-1 / NAN / NULL where unknown) and the
 * measured ceilings. */
static void env_nvml(const struct session *s, struct run_record *r)
{
    static char calibration[2048];
    const struct nvml_state *st = &s->prof.state;
    const int have = s->prof.nvml != NULL;
    r->gpu_sm_clock_mhz = have ? st->sm_mhz : -1;
    r->gpu_mem_clock_mhz = have ? st->mem_mhz : -1;
    r->gpu_max_sm_clock_mhz = have ? st->max_sm_mhz : -1;
    r->gpu_default_sm_clock_mhz = have ? st->default_sm_mhz : -1;
    r->clocks_locked = have ? st->clocks_locked : -1;
    r->power_limit_w = have ? st->power_limit_w : NAN;
    r->temperature_c = have ? st->temperature_c : -1;
    r->ecc_enabled = have ? st->ecc : -1;
    r->mig_enabled = have ? st->mig : -1;
    r->persistence_enabled = have ? st->persistence : -1;
    r->throttle_reasons = have ? st->reasons : -1;
    r->nvml_why = have ? NULL : s->prof.nvml_why;
    if (have && !r->driver_release && st->driver[0])
        r->driver_release = st->driver;
    profile_calibration_json(&s->prof, s->cpu.flops, s->cpu.bytes_s, calibration, sizeof calibration);
    r->calibration_json = calibration;
}

void env_collect(const struct session *s, const char *suite, struct run_record *r)
{
    static char host[256], cpu[256], cc[16], json[2048];
    char cudnn[1024];
    struct utsname u;
    memset(r, 0, sizeof *r);
    gethostname(host, sizeof host - 1);
    host_cpu_model(cpu, sizeof cpu);
    uname(&u);
    cudnn_json(cudnn, sizeof cudnn);
    snprintf(json, sizeof json,
             "{\"kernel\": \"%s %s\", \"compiler\": \"gcc %s\", \"sqlite\": \"%s\", "
             "\"omp_threads\": %d, \"cpu_peak_gflops\": %.1f, \"cpu_stream_gbps\": %.1f, "
             "\"gpu_copy_gbps\": %.1f, \"cudnn\": %s}",
             u.sysname, u.release, __VERSION__, sqlite3_libversion(), omp_get_max_threads(),
             s->cpu.flops / 1e9, s->cpu.bytes_s / 1e9, s->gpu_copy_bw / 1e9, cudnn);
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
    r->driver_release = s->gpu.driver_release[0] ? s->gpu.driver_release : NULL;
    r->cublas_version = s->gpu.cublas_version[0] ? s->gpu.cublas_version : NULL;
    r->nvcc_version = SB_NVCC_VERSION[0] ? SB_NVCC_VERSION : NULL;
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
        /* An unknown GPU has no peak: NULL, never 0. */
        const double pf = gpu_peak_flops(&s->gpu, DT_BF16), pb = gpu_peak_bandwidth(&s->gpu);
        r->peak_tflops = pf > 0 ? pf / 1e12 : NAN;
        r->peak_gbps = pb > 0 ? pb / 1e9 : NAN;
    } else {
        r->peak_tflops = s->cpu.flops / 1e12;
        r->peak_gbps = s->cpu.bytes_s > 0 ? s->cpu.bytes_s / 1e9 : NAN;
    }
    env_nvml(s, r);
}

/* A CUDA API version as "13.0 (13000)"; "none" for 0. */
static const char *cuda_version_text(int v, char *buf, size_t n)
{
    if (v <= 0)
        snprintf(buf, n, "none");
    else
        snprintf(buf, n, "%d.%d (%d)", v / 1000, v % 1000 / 10, v);
    return buf;
}

static const char *or_none(const char *s, const char *none)
{
    return s && s[0] ? s : none;
}

void env_print(struct session *s)
{
    struct run_record r;
    char drv[32], rt[32], peaks[400];
    if (!s->cpu.loaded)
        ceilings_load(&s->cpu, omp_get_max_threads());
    env_collect(s, NULL, &r);
    printf("| what | value |\n|---|---|\n");
    printf("| seqbench | %s (commit %s) |\n", r.seqbench_version, r.git_commit);
    printf("| build | %s |\n", r.build_flags);
    printf("| nvcc | %s |\n", or_none(r.nvcc_version, "none (CPU-only build)"));
    printf("| input version | %d (SB_INPUT_VERSION: the inputs() generators) |\n", r.input_version);
    printf("| host | %s |\n", r.hostname);
    printf("| cpu | %s, %d OpenMP threads |\n", r.cpu_model, r.cpu_threads);
    printf("| cpu compute roof (fp32 FMA loop, best of trials, %s) | %.1f GFLOP/s |\n",
           s->cpu.origin, s->cpu.flops / 1e9);
    printf("| cpu bandwidth roof (STREAM triad, best of passes, %s) | %.1f GB/s |\n",
           s->cpu.origin, s->cpu.bytes_s / 1e9);
    printf("| cpu roofs cache | %s |\n", s->cpu.path[0] ? s->cpu.path : "none (no cache directory)");
    printf("| default device | %s |\n", s->device);
    printf("| NVIDIA driver release | %s |\n",
           or_none(r.driver_release, "unknown (no " NVIDIA_VERSION_FILE ")"));
    printf("| CUDA driver API / runtime API | %s / %s |\n",
           cuda_version_text(r.driver_version, drv, sizeof drv),
           cuda_version_text(r.runtime_version, rt, sizeof rt));
    printf("| cuBLAS | %s |\n", or_none(r.cublas_version, "none (CPU-only build)"));
    if (s->gpu.present) {
        printf("| gpu | %s (%s) |\n", s->gpu.name, s->gpu.uuid);
        printf("| compute capability | %d.%d, %d SMs, max SM clock %.0f MHz |\n", s->gpu.cc_major,
               s->gpu.cc_minor, s->gpu.sms, s->gpu.clock_khz / 1e3);
        printf("| memory | %.1f GiB, L2 %.1f MiB |\n", s->gpu.mem_bytes / 0x1p30,
               s->gpu.l2_bytes / 0x1p20);
        gpu_peak_describe(&s->gpu, peaks, sizeof peaks);
        printf("| gpu roofs | %s |\n", peaks);
    } else {
        printf("| gpu | %s: %s |\n", s->gpu.host_has_gpu ? "unusable" : "none", s->gpu.why_absent);
    }
    char cudnn[400];
    cudnn_lib_describe(cudnn, sizeof cudnn);
    printf("| cudnn (loaded at run time) | %s |\n", cudnn);
    profile_env_print(&s->prof);
}

void env_print_ceilings(struct session *s)
{
    if (!s->cpu.loaded)
        ceilings_load(&s->cpu, omp_get_max_threads());
    printf("| what | value |\n|---|---|\n");
    printf("| cpu compute roof (fp32 FMA loop, %d threads, %s) | %.1f GFLOP/s |\n", s->cpu.threads,
           s->cpu.origin, s->cpu.flops / 1e9);
    printf("| cpu bandwidth roof (STREAM triad, %s) | %.1f GB/s |\n", s->cpu.origin,
           s->cpu.bytes_s / 1e9);
    printf("| cpu roofs cache | %s |\n", s->cpu.path[0] ? s->cpu.path : "none (no cache directory)");
    if (s->prof.ceil.loaded) {
        printf("| gpu | %s (%s) |\n| gpu ceilings cache | %s |\n\n", s->gpu.name, s->gpu.uuid,
               s->prof.ceil.path[0] ? s->prof.ceil.path : "none (no cache directory)");
        profile_print_ceilings(&s->prof);
    } else {
        printf("| gpu | none measured: %s |\n", s->gctx ? "calibration failed" : s->no_gpu_reason);
    }
}
