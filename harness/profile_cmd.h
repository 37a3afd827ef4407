/*
 * profile_cmd.h — the hand-off to the profilers people use: `bench run ...
 * --profile ncu|nsys` prints (and with --exec runs) the command that
 * profiles exactly one implementation's timed launches of the case:
 *
 *   ncu  --nvtx --nvtx-include seqbench@timed/ -o REPORT -f BENCH run ...
 *   nsys profile --trace=cuda,nvtx --capture-range=nvtx
 *        --nvtx-capture=timed@seqbench --capture-range-end=stop -o REPORT
 *        --force-overwrite=true BENCH run ...
 *
 * BENCH run ... is the user's own run command for that implementation
 * (--impl NAME), with one timed sample (--min-samples 1 --max-time 0.001)
 * and --no-db: a number taken under a profiler is not a measurement. Each
 * timed run() is inside NVTX's "timed" range (nvtx.h) and nothing else is,
 * so the filter selects the op's own kernels: not validation, warm-up, the
 * L2 flush or the harness's blocking kernel (which bench leaves out when a
 * profiler is attached, gpu.c). REPORT is the case string made into a file
 * name (ncu adds .ncu-rep, nsys .nsys-rep).
 */
#ifndef SEQBENCH_PROFILE_CMD_H
#define SEQBENCH_PROFILE_CMD_H

#include <stddef.h>
#include <stdio.h>

enum profile_tool { PROFILE_NCU, PROFILE_NSYS, PROFILE_TOOL_COUNT };
extern const char *const profile_tool_names[PROFILE_TOOL_COUNT];
/* The tool named s; -1 if none. */
int profile_tool_parse(const char *s);

#define PROFILE_CMD_MAX_ARGS 160

struct profile_cmd {
    char *argv[PROFILE_CMD_MAX_ARGS + 1];   /* NULL-terminated */
    int argc;
    char report[256];                       /* the report's file name, without the tool's suffix */
    char store[8192];                       /* the strings argv points into */
};

/* The command for implementation impl of the case case_str: bench is the
 * binary to run, run_argv[0..run_argc) the user's `run` arguments after
 * the word "run" (--profile, --exec, --impl, --db, --no-db, --max-time,
 * --min-samples and --target are replaced). Returns 0, or -1 when it does
 * not fit. */
int profile_command(struct profile_cmd *c, enum profile_tool t, const char *bench, int run_argc,
                    char **run_argv, const char *impl, const char *case_str);

/* The case string as a file name: every character other than letters,
 * digits, '.', '-' and '=' becomes '_' ("flash/cuda bf16 B=1" ->
 * "flash_cuda_bf16_B=1"). */
void profile_report_name(const char *case_str, char *buf, size_t n);

/* The command as one line a POSIX shell reads back (arguments quoted where
 * needed). */
void profile_command_print(FILE *f, const struct profile_cmd *c);

#endif
