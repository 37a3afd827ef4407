/*
 * check.h — the test framework: plain C, one executable per module.
 * CHECK(cond, fmt, ...) counts a pass or prints the failure with file:line;
 * check_done() prints "N passed, M failed" last and returns the exit code.
 * check_skip() records a test that could not run here (e.g. no GPU), which
 * is reported as skipped, never as passed.
 */
#ifndef SEQBENCH_CHECK_H
#define SEQBENCH_CHECK_H

#include <stdio.h>

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

#define check_skip(...)                                                         \
    do {                                                                        \
        check_skipped++;                                                        \
        fprintf(stderr, "SKIP %s:%d: ", __FILE__, __LINE__);                    \
        fprintf(stderr, __VA_ARGS__);                                           \
        fputc('\n', stderr);                                                    \
    } while (0)

static inline int check_done(void)
{
    if (check_skipped)
        printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed, check_skipped);
    else
        printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
