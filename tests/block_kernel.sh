#!/usr/bin/env bash
# block_kernel.sh — the blocking kernel of harness/gpu_kernels.cu, run on
# the CPU from its own source (the part between "---- device wrappers" and
# "---- host API", with __global__/__device__ defined away, so the wrappers
# take their CPU branch): a kernel thread spins while this host thread plays
# gpu_time_once's part. Checks the protocol, not the GPU: released by its
# generation, not by an earlier one, and after the timeout it lets itself go
# and says so with its generation. Needs g++ only.
set -u
source "$(dirname "$0")/lib.bash"
command -v g++ >/dev/null || { skip "no g++"; summary; exit; }
awk '/---- device wrappers/{on=1} /---- host API/{on=0} on' harness/gpu_kernels.cu >"$t/kernel.inc"
check "the kernel section was cut from gpu_kernels.cu" grep -q 'sb_block_stream_kernel' "$t/kernel.inc"
cat >"$t/main.cpp" <<'CPP'
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <time.h>
#define __global__
#define __device__
#define __forceinline__ inline
static void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }
#include "kernel.inc"

static volatile unsigned release_word, timed_out_word;

/* Runs one kernel of generation gen; the host stores `store` after delay_ms
 * (never when delay_ms < 0). Returns the seconds the kernel ran. */
static double one(unsigned gen, unsigned store, int delay_ms, double timeout_s)
{
    auto t0 = std::chrono::steady_clock::now();
    std::thread k(sb_block_stream_kernel, &release_word, gen, &timed_out_word,
                  (uint64_t)(timeout_s * 1e9));
    if (delay_ms >= 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        release_word = store;
    }
    k.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main()
{
    int pass = 0, fail = 0;
    auto check = [&](bool ok, const char *what, double s) {
        ok ? pass++ : fail++;
        if (!ok)
            fprintf(stderr, "FAIL block_kernel.sh: %s (%.3f s)\n", what, s);
    };
    double s = one(1, 1, 50, 5.0);
    check(s >= 0.05 && s < 1.0 && timed_out_word == 0, "held until released, then let go", s);
    s = one(2, 1, 50, 0.3);
    check(s >= 0.3 && timed_out_word == 2, "an earlier generation's store does not release it", s);
    s = one(3, 0, -1, 0.2);
    check(s >= 0.2 && s < 2.0 && timed_out_word == 3, "no release: the timeout lets it go, marked", s);
    s = one(4, 4, 20, 5.0);
    check(timed_out_word == 3 && s < 1.0, "a released kernel leaves the mark alone", s);
    printf("%d passed, %d failed\n", pass, fail);
    return fail != 0;
}
CPP
if g++ -std=c++17 -O1 -I"$t" "$t/main.cpp" -o "$t/run" -lpthread 2>"$t/cc"; then
    "$t/run" >"$t/out" 2>"$t/err"
    cat "$t/err" >&2
    read -r p _ f _ <"$t/out"
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1}))
else
    check "the kernel builds for the CPU: $(head -c 400 "$t/cc")" false
fi
summary
