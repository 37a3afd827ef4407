/*
 * main.c — `bench`: the command table and dispatch. Each command lives in
 * its own harness/cmd_*.c.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
    { "env", cmd_env, "[--device DEV]",
      "Print what a run records about this machine: CPU, measured CPU peak, GPU, driver, build." },
};
const int n_commands = (int)(sizeof commands / sizeof commands[0]);

const char *sb_exe_dir;
char sb_command_line[1024];

static void usage(FILE *f)
{
    fprintf(f, "usage: bench COMMAND [options]   (bench COMMAND --help for each)\n\n"
               "seqbench: benchmarks for attention and sequence operators.\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++) {
        char first[200];
        snprintf(first, sizeof first, "%s", commands[i].summary);
        first[strcspn(first, "\n")] = 0;
        fprintf(f, "  %-8s %s\n", commands[i].name, first);
    }
}

int main(int argc, char **argv)
{
    static char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        sb_exe_dir = dirname(exe);
    }
    size_t used = 0;
    for (int i = 0; i < argc && used < sizeof sb_command_line; i++)
        used += (size_t)snprintf(sb_command_line + used, sizeof sb_command_line - used, "%s%s",
                                 i ? " " : "", argv[i]);

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (int i = 0; i < n_commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    cli_error("unknown command '%s' (bench --help lists them)", argv[1]);
    return EXIT_USAGE;
}
