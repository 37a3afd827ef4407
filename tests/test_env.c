/*
 * test_env.c — what a run records about its machine, and how the device is
 * picked (harness/gpu.c, harness/session.c), without a GPU:
 *   1. the driver release read from files in /proc/driver/nvidia/version's
 *      format (proprietary and open kernel modules, x86_64 and aarch64),
 *      and refused from files that hold none;
 *   2. the fault hook (SEQBENCH_GPU_FAULT): the probe fails as on a GPU host
 *      whose GPU cannot be set up, the default device stays cuda:0 with the
 *      reason, --device cpu still runs on the CPU;
 *   3. which implementations a device runs, and the device --impl implies;
 *   4. env_collect fills the versions a reproduction needs.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "gpu.h"
#include "session.h"
#include "version.h"

static char dir[] = "/tmp/test_env_XXXXXX";

/* Writes text to dir/name and returns the path (a static buffer). */
static const char *sample(const char *name, const char *text)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static void test_driver_release(void)
{
    static const struct { const char *name, *text, *want; } cases[] = {
        { "proprietary", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 "
          "07:09:13 UTC 2025\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n", "580.65.06" },
        { "open", "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.57.08  Release "
          "Build  (dvs-builder@U16-I3-B03-4-3)  Sat May 24 07:21:10 UTC 2025\n"
          "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n", "575.57.08" },
        { "aarch64", "NVRM version: NVIDIA UNIX aarch64 Kernel Module  535.104.05  Sat Aug 19 "
          "01:13:30 UTC 2023\n", "535.104.05" },
        { "second_line", "something else first\nNVRM version: NVIDIA UNIX x86_64 Kernel Module  "
          "470.82.01  Wed Oct 27 04:53:24 UTC 2021\n", "470.82.01" },
    };
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = gpu_driver_release(sample(cases[i].name, cases[i].text), buf, sizeof buf);
        CHECK(rc == 0 && strcmp(buf, cases[i].want) == 0, "%s: got rc %d '%s', want '%s'",
              cases[i].name, rc, buf, cases[i].want);
    }
    CHECK(gpu_driver_release(sample("no_nvrm", "GCC version: gcc 12.2.0\n"), buf, sizeof buf) == -1 &&
              buf[0] == 0, "no NVRM line: -1, empty ('%s')", buf);
    CHECK(gpu_driver_release(sample("no_release", "NVRM version: NVIDIA UNIX x86_64 Kernel Module\n"),
                             buf, sizeof buf) == -1, "an NVRM line without a release: -1");
    CHECK(gpu_driver_release(sample("empty", ""), buf, sizeof buf) == -1, "an empty file: -1");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nonexistent", dir);
    CHECK(gpu_driver_release(missing, buf, sizeof buf) == -1 && buf[0] == 0, "no file: -1");
    char tiny[4];
    CHECK(gpu_driver_release(sample("long", cases[0].text), tiny, sizeof tiny) == -1,
          "a release longer than the buffer is not cut");
}

static void test_fault_hook(void)
{
    struct gpu_info info;
    struct session s;
    setenv(GPU_FAULT_ENV, "planted driver fault", 1);
    CHECK(gpu_probe(0, &info) == -1 && !info.present && info.host_has_gpu,
          "the hook: the probe fails, a GPU is on the host (present %d, host %d)", info.present,
          info.host_has_gpu);
    CHECK(strstr(info.why_absent, "planted driver fault") && strstr(info.why_absent, GPU_FAULT_ENV),
          "why names the fault and the variable: %s", info.why_absent);
    CHECK(session_device(&s, NULL) == EXIT_OK && !s.on_cpu && strcmp(s.device, "cuda:0") == 0,
          "default device on a broken GPU host: cuda:0 (%s)", s.device);
    CHECK(strstr(s.no_gpu_reason, "planted driver fault"), "with the reason: %s", s.no_gpu_reason);
    CHECK(session_device(&s, "cuda:1") == EXIT_OK && strcmp(s.device, "cuda:1") == 0,
          "an explicit cuda:1 is kept too (%s)", s.device);
    CHECK(session_device(&s, "cpu") == EXIT_OK && s.on_cpu && strcmp(s.device, "cpu") == 0,
          "--device cpu runs on the CPU whatever the GPU");
    CHECK(session_gpu_ran(&s, "test", 5, 0) == EXIT_OK, "a cpu session never fails for the GPU");
    unsetenv(GPU_FAULT_ENV);

    if (gpu_probe(0, &info) == 0 || info.host_has_gpu) {
        check_skip("this host has a GPU: the no-GPU device rules are not checked");
        return;
    }
    CHECK(session_device(&s, NULL) == EXIT_OK && s.on_cpu, "no GPU at all: the default is cpu");
    CHECK(session_device(&s, "cuda:0") == EXIT_USAGE, "no GPU at all: --device cuda:0 is exit 2");
    CHECK(session_device(&s, "tpu") == EXIT_USAGE, "an unknown device is exit 2");
}

static void test_impls_of_device(void)
{
    const struct family *f = family_find("flash");
    const struct impl *ref = impl_find(f, "ref"), *cpu = impl_find(f, "cpu"),
                      *cuda = impl_find(f, "cuda");
    struct session s = { .device = "cuda:0", .on_cpu = 1, .no_gpu_reason = "(a test of the rule)" };
    CHECK(session_runs_impl(&s, ref) && session_runs_impl(&s, cpu) && !session_runs_impl(&s, cuda),
          "cpu: the CPU implementations only");
    s.on_cpu = 0;
    CHECK(!session_runs_impl(&s, ref) && !session_runs_impl(&s, cpu) && session_runs_impl(&s, cuda),
          "cuda:N: the GPU implementations only");
    CHECK(session_gpu_ran(&s, "test", 3, 1) == EXIT_OK, "one GPU case ran: ok");
    CHECK(session_gpu_ran(&s, "test", 0, 0) == EXIT_OK, "no GPU case asked for: ok");
    CHECK(session_gpu_ran(&s, "test", 3, 0) == EXIT_FAIL, "GPU cases asked for, none ran: exit 1");
    const struct impl *cpus[] = { cpu, ref }, *mixed[] = { cpu, cuda }, *gpus[] = { cuda };
    const char *d = session_implied_device(cpus, 2);
    CHECK(d && strcmp(d, "cpu") == 0, "--impl cpu,ref implies cpu");
    CHECK(!session_implied_device(mixed, 2), "--impl cpu,cuda implies nothing");
    CHECK(!session_implied_device(gpus, 1), "--impl cuda implies the default");
    CHECK(!session_implied_device(NULL, 0), "no --impl implies nothing");
}

static void test_env_collect(void)
{
    struct session s;
    struct run_record r;
    CHECK(session_device(&s, "cpu") == EXIT_OK, "session on the CPU");
    env_collect(&s, "smoke", &r);
    CHECK(r.input_version == SB_INPUT_VERSION && r.input_version > 0, "input version %d",
          r.input_version);
    CHECK(strcmp(r.build_flags, SB_BUILD_FLAGS) == 0, "build flags");
    CHECK(r.hostname && r.hostname[0] && r.cpu_model && r.cpu_model[0], "host and CPU");
#ifdef SB_HAVE_CUDA
    CHECK(r.nvcc_version && strchr(r.nvcc_version, '.'), "nvcc version '%s'", r.nvcc_version);
    CHECK(strstr(r.build_flags, "; nvcc ") && strstr(r.build_flags, "-gencode"),
          "nvcc's flags in build_flags: %s", r.build_flags);
    /* cuBLAS answers without a device: this is checked on a GPU-less host. */
    CHECK(r.cublas_version && r.cublas_version[0] >= '1' && strchr(r.cublas_version, '.'),
          "cuBLAS version '%s'", r.cublas_version ? r.cublas_version : "(null)");
    CHECK(r.runtime_version >= 12000, "runtime API version %d", r.runtime_version);
#else
    CHECK(!r.nvcc_version && !r.cublas_version, "a CPU-only build has no nvcc or cuBLAS version");
#endif
    char buf[32];
    if (gpu_driver_release(NVIDIA_VERSION_FILE, buf, sizeof buf) == 0)
        CHECK(r.driver_release && strcmp(r.driver_release, buf) == 0, "driver release %s",
              r.driver_release ? r.driver_release : "(null)");
    else
        CHECK(!r.driver_release, "no NVIDIA driver: no release stored");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_driver_release();
    test_fault_hook();
    test_impls_of_device();
    test_env_collect();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
