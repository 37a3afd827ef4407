/*
 * check.h — the test framework: plain C, one executable per module.
 * CHECK(cond, fmt, ...) counts a pass or prints the failure with file:line;
 * check_done() prints "N passed, M failed" last and returns the exit code.
 * check_skip_no_gpu() records a check that needs a GPU and found none:
 * "SKIP <test>: no GPU: <what>" on stderr, reported as skipped, never as
 * passed. That is the only skip tests/run.sh accepts (CI=true fails on any
 * other); check_skip() is the general form it builds on.
 */
#ifndef SEQBENCH_CHECK_H
#define SEQBENCH_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed, check_skipped;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            check_passed++;                                                     \
        } else {                                                                \
            check_failed++;                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* The test's name as tests/run.sh lists it: tests/test_x.c -> test_x. */
static inline void check_print_name(const char *file)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    const char *dot = strrchr(base, '.');
    fprintf(stderr, "%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
}

#define check_skip(...)                                                         \
    do {                                                                        \
        check_skipped++;                                                        \
        fputs("SKIP ", stderr);                                                 \
        check_print_name(__FILE__);                                             \
        fputs(": ", stderr);                                                    \
        fprintf(stderr, __VA_ARGS__);                                           \
        fprintf(stderr, " (%s:%d)\n", __FILE__, __LINE__);                      \
    } while (0)

#define check_skip_no_gpu(...) check_skip("no GPU: " __VA_ARGS__)

/* The stand-in library `name` the Makefile builds beside the tests
 * (bin/tests/fake/name, tests/fake_*.c), found from this executable's own
 * path, into buf. */
#include <unistd.h>
static inline void check_fake_lib(const char *name, char *buf, size_t n)
{
    char exe[1024];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    snprintf(buf, n, "%.1000s/fake/%.200s", exe, name);
}

static inline int check_done(void)
{
    if (check_skipped)
        printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed, check_skipped);
    else
        printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
