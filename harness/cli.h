/*
 * cli.h — options as a table, parsed in one place. Every command declares
 * its options as rows {name, type, destination, argument, help}; --help is
 * printed from the same rows, so it cannot drift from what is parsed.
 */
#ifndef SEQBENCH_CLI_H
#define SEQBENCH_CLI_H

#include <stdint.h>

enum opt_type { OPT_FLAG, OPT_INT, OPT_DOUBLE, OPT_STRING, OPT_LIST };

/* The values of a repeatable option (OPT_LIST), in command-line order. */
#define OPT_LIST_MAX 16
struct opt_list {
    const char *v[OPT_LIST_MAX];
    int n;
};

struct opt {
    const char *name;       /* without the leading "--"; a one-letter name is "-x" */
    enum opt_type type;
    void *dest;             /* int* for FLAG, int64_t* for INT, double*, const char**,
                               struct opt_list* for LIST (the one option that may repeat) */
    const char *arg;        /* metavariable in --help, e.g. "FILE" */
    const char *help;
    int seen;               /* set by cli_parse */
};

#define OPT(name, type, dest, arg, help) { name, type, dest, arg, help, 0 }

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;      /* after "bench NAME " */
    const char *summary;
};

/* Exit codes: 0 success, 1 the work found a failure (mismatch, error),
 * 2 usage or input error. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Parses argv[1..] (argv[0] is the command name). Positional arguments are
 * moved to pos[0..*n_pos). Returns 0, CLI_HELP when --help was given (help
 * already printed), or EXIT_USAGE after printing one line to stderr. */
#define CLI_HELP (-1)
int cli_parse(const struct command *cmd, int argc, char **argv, struct opt *opts, int n_opts,
              char **pos, int max_pos, int *n_pos);
void cli_help(const struct command *cmd, const struct opt *opts, int n_opts);

/* One line to stderr, prefixed "bench: ". */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict integer parse: the whole string, base 10. */
int cli_parse_int(const char *s, int64_t *v);

/* mkdir -p of the folder path lies in (path itself is not made). 0, or -1
 * with errno set. */
int make_parents(const char *path);

/* The commands (harness/cmd_*.c), in the table in main.c. */
int cmd_list(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_suite(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_env(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_report(int argc, char **argv);

extern const struct command commands[];
extern const int n_commands;
/* The row of commands[] whose function is fn (its usage and summary). */
const struct command *cli_command(int (*fn)(int, char **));
extern const char *sb_exe_dir;      /* directory of the running bench binary */
extern char sb_command_line[1024];  /* argv joined, stored with each run */

#endif
