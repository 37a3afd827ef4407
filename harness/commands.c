/*
 * commands.c — the command table: {name, function, usage, summary}. Each
 * command lives in its own harness/cmd_*.c; --help text comes from here.
 */
#include "cli.h"

const struct command commands[] = {
    { "list", cmd_list, "[families|impls|suites]",
      "List the operator families, their implementations (device, dtypes, verification status)\n"
      "or the suites." },
    { "run", cmd_run, "FAMILY [--impl A,B] [--dtype T] [--B --N --Nk --H --Hkv --D --Dv --causal] [options]",
      "Run one shape: validate every implementation against the reference (sampled rows at long N),\n"
      "time it, print a markdown table and store each result." },
    { "suite", cmd_suite, "NAME [--device DEV] [--db FILE] [--filter PATTERN] [options]",
      "Run every case of suites/NAME, storing each result as it finishes. Cases predicted not to fit\n"
      "the device memory or the suite's time budget are recorded as skipped. Ctrl-C stops after the\n"
      "case in flight; everything finished is already stored." },
    { "verify", cmd_verify, "[--family A,B] [--impl NAME] [--device DEV]",
      "Check every implementation against its reference over small edge-case shapes in every\n"
      "dtype it supports. Exit 1 on any mismatch or error. Nothing is stored." },
    { "report", cmd_report, "[--db FILE] [FILE...] [--run ID|latest|all] [--out DIR]",
      "Write an HTML report of one or more results databases (read-only): environment, per-family\n"
      "tables, PNG + SVG figures drawn by gnuplot (scripts and data kept beside them). Several\n"
      "databases (--db A.db B.db ...) or --run all add per-case latency ratios against the first run." },
    { "env", cmd_env, "[--device DEV]",
      "Print what a run records about this machine: CPU, measured CPU peak, GPU, driver, build." },
};
const int n_commands = (int)(sizeof commands / sizeof commands[0]);

const char *sb_exe_dir;
char sb_command_line[1024];

