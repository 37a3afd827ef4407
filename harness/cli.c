/*
 * cli.c — see cli.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "cli.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_int(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *v = x;
    return 0;
}

/* "-" before a one-letter option name (-o), "--" before the others. */
static const char *dashes(const char *name)
{
    return name[0] && !name[1] ? "-" : "--";
}

void cli_help(const struct command *cmd, const struct opt *opts, int n_opts)
{
    printf("usage: bench %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (n_opts)
        printf("\noptions:\n");
    for (int i = 0; i < n_opts; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s", dashes(opts[i].name), opts[i].name, opts[i].arg ? " " : "",
                 opts[i].arg ? opts[i].arg : "");
        printf("  %-22s %s\n", left, opts[i].help);
    }
    printf("  %-22s %s\n", "--help", "show this help");
}

static int set_value(const struct command *cmd, struct opt *o, const char *val)
{
    switch (o->type) {
    case OPT_INT:
        if (cli_parse_int(val, (int64_t *)o->dest) != 0) {
            cli_error("%s: %s%s: '%s' is not an integer", cmd->name, dashes(o->name), o->name, val);
            return EXIT_USAGE;
        }
        break;
    case OPT_DOUBLE: {
        char *end;
        errno = 0;
        double x = strtod(val, &end);
        if (errno || end == val || *end) {
            cli_error("%s: %s%s: '%s' is not a number", cmd->name, dashes(o->name), o->name, val);
            return EXIT_USAGE;
        }
        *(double *)o->dest = x;
        break;
    }
    case OPT_STRING:
        *(const char **)o->dest = val;
        break;
    case OPT_LIST: {
        struct opt_list *l = o->dest;
        if (l->n == OPT_LIST_MAX) {
            cli_error("%s: %s%s given more than %d times", cmd->name, dashes(o->name), o->name,
                      OPT_LIST_MAX);
            return EXIT_USAGE;
        }
        l->v[l->n++] = val;
        break;
    }
    case OPT_FLAG:
        break;
    }
    return 0;
}

int cli_parse(const struct command *cmd, int argc, char **argv, struct opt *opts, int n_opts,
              char **pos, int max_pos, int *n_pos)
{
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_help(cmd, opts, n_opts);
            return CLI_HELP;
        }
        int short_opt = a[0] == '-' && a[1] && a[1] != '-' && !a[2];     /* -o */
        if (!short_opt && (strncmp(a, "--", 2) != 0 || a[2] == 0)) {
            if (*n_pos >= max_pos) {
                cli_error("%s: unexpected argument '%s' (see bench %s --help)", cmd->name, a,
                          cmd->name);
                return EXIT_USAGE;
            }
            pos[(*n_pos)++] = argv[i];
            continue;
        }
        const char *name = a + (short_opt ? 1 : 2), *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        struct opt *o = NULL;
        for (int j = 0; j < n_opts; j++)
            if (strlen(opts[j].name) == len && strncmp(opts[j].name, name, len) == 0)
                o = &opts[j];
        if (!o) {
            cli_error("%s: unknown option '%s%.*s' (see bench %s --help)", cmd->name,
                      short_opt ? "-" : "--", (int)len, name, cmd->name);
            return EXIT_USAGE;
        }
        if (o->seen && o->type != OPT_LIST) {
            cli_error("%s: %s%s given twice", cmd->name, dashes(o->name), o->name);
            return EXIT_USAGE;
        }
        o->seen = 1;
        if (o->type == OPT_FLAG) {
            if (eq) {
                cli_error("%s: %s%s takes no value", cmd->name, dashes(o->name), o->name);
                return EXIT_USAGE;
            }
            *(int *)o->dest = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            cli_error("%s: %s%s needs a value (%s)", cmd->name, dashes(o->name), o->name,
                      o->arg ? o->arg : "VALUE");
            return EXIT_USAGE;
        }
        /* "--metrics --N 1024": the next word is an option, not this one's
         * value (a value that starts with "--" is written --opt=VALUE). */
        if (!eq && strncmp(val, "--", 2) == 0 && val[2]) {
            cli_error("%s: %s%s needs a value (%s), got the option '%s' (write %s%s=VALUE for a value "
                      "that starts with --)", cmd->name, dashes(o->name), o->name, o->arg ? o->arg : "VALUE",
                      val, dashes(o->name), o->name);
            return EXIT_USAGE;
        }
        int rc = set_value(cmd, o, val);
        if (rc)
            return rc;
    }
    return 0;
}

int make_parents(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(dir, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return 0;
}

const struct command *cli_command(int (*fn)(int, char **))
{
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == fn)
            return &commands[i];
    return NULL;
}
