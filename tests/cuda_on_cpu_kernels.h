/*
 * cuda_on_cpu_kernels.h — the wrapper tests and planted bugs of
 * tests/cuda_on_cpu_kernels.cu, as tables tests/cuda_on_cpu.cpp walks.
 */
#ifndef SEQBENCH_CUDA_ON_CPU_KERNELS_H
#define SEQBENCH_CUDA_ON_CPU_KERNELS_H

#include <stddef.h>

/* A kernel of ops/ptx.cuh's wrappers (or a builtin) run on the CPU against
 * what the PTX ISA says it computes; msg says what was checked, or what
 * differed. */
struct wrapper_test {
    const char *name;
    bool (*run)(char *msg, size_t n);
};
extern const wrapper_test wrapper_tests[];
extern const int n_wrapper_tests;

/* A bug planted in a small kernel, which the run must stop on: its
 * report on stderr holds the phrase of the build (AddressSanitizer + UBSan,
 * or ThreadSanitizer); NULL: that build cannot see it, the plant is left
 * out there. */
struct planted_bug {
    const char *name;       /* for `cuda_on_cpu plant NAME` */
    const char *what;
    const char *asan_phrase, *tsan_phrase;
};
extern const planted_bug planted_bugs[];
extern const int n_planted_bugs;

/* Runs plant NAME in this process: returns only when it was not caught
 * (0), or 3 when its result came out wrong (the bug's effect, reported on
 * stderr with "result mismatch"). */
int run_plant(const char *name);

#endif
