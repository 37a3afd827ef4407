/*
 * main.c — `bench`: dispatch over the command table (harness/commands.c).
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "peer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: bench COMMAND [options]   (bench COMMAND --help for each)\n\n"
               "seqbench: benchmarks for attention and sequence operators.\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++) {
        if (commands[i].name[0] == '_')     /* internal */
            continue;
        /* the summary's first sentence, its line breaks joined */
        char first[400];
        snprintf(first, sizeof first, "%s", commands[i].summary);
        for (char *p = first; *p; p++)
            if (*p == '\n')
                *p = ' ';
        char *stop = strstr(first, ". ");
        if (stop)
            stop[1] = 0;
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
    /* The peers are implementations like any other from here on
     * (ops/peers/peers.c; $SEQBENCH_PEER_ADAPTERS adds rows). */
    char err[400];
    if (peers_register(err, sizeof err) != 0) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }
    for (int i = 0; i < n_commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    cli_error("unknown command '%s' (bench --help lists them)", argv[1]);
    return EXIT_USAGE;
}
