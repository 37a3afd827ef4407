/*
 * profile_cmd.c — see profile_cmd.h. The commands follow Nsight Compute's
 * and Nsight Systems' documented options; neither tool has run them here
 * (no GPU): unverified.
 */
#include <string.h>

#include "nvtx.h"
#include "profile_cmd.h"

const char *const profile_tool_names[PROFILE_TOOL_COUNT] = {
    [PROFILE_NCU] = "ncu", [PROFILE_NSYS] = "nsys",
};

int profile_tool_parse(const char *s)
{
    for (int t = 0; t < PROFILE_TOOL_COUNT; t++)
        if (strcmp(s, profile_tool_names[t]) == 0)
            return t;
    return -1;
}

/* The run options the command sets itself: dropped from the user's. */
static const struct { const char *name; int takes_value; } replaced[] = {
    { "profile", 1 }, { "exec", 0 }, { "impl", 1 }, { "db", 1 }, { "no-db", 0 },
    { "max-time", 1 }, { "min-samples", 1 }, { "target", 1 },
};

/* 1 when argument a is one of them, with *skip_next set when its value is
 * the next argument. */
static int is_replaced(const char *a, int *skip_next)
{
    *skip_next = 0;
    if (strncmp(a, "--", 2) != 0)
        return 0;
    a += 2;
    for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++) {
        size_t len = strlen(replaced[i].name);
        if (strncmp(a, replaced[i].name, len) != 0 || (a[len] && a[len] != '='))
            continue;
        *skip_next = replaced[i].takes_value && !a[len];
        return 1;
    }
    return 0;
}

void profile_report_name(const char *case_str, char *buf, size_t n)
{
    size_t k = 0;
    for (const char *p = case_str; *p && k + 1 < n; p++) {
        const char ch = *p;
        const int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '=';
        buf[k++] = keep ? ch : '_';
    }
    buf[k] = 0;
}

/* Appends s to the command; -1 when the store or argv is full. */
static int arg(struct profile_cmd *c, size_t *used, const char *s)
{
    size_t len = strlen(s) + 1;
    if (c->argc >= PROFILE_CMD_MAX_ARGS || *used + len > sizeof c->store)
        return -1;
    memcpy(c->store + *used, s, len);
    c->argv[c->argc++] = c->store + *used;
    c->argv[c->argc] = NULL;
    *used += len;
    return 0;
}

int profile_command(struct profile_cmd *c, enum profile_tool t, const char *bench, int run_argc,
                    char **run_argv, const char *impl, const char *case_str)
{
    static const char *const ncu[] = {
        "ncu", "--nvtx", "--nvtx-include", NVTX_DOMAIN "@" NVTX_TIMED "/", "--target-processes",
        "all", "-f", "-o",
    };
    static const char *const nsys[] = {
        "nsys", "profile", "--trace=cuda,nvtx", "--capture-range=nvtx",
        "--nvtx-capture=" NVTX_TIMED "@" NVTX_DOMAIN, "--capture-range-end=stop",
        "--force-overwrite=true", "-o",
    };
    static const char *const tail[] = {
        "--no-db", "--min-samples", "1", "--max-time", "0.001", "--impl",
    };
    const char *const *tool = t == PROFILE_NCU ? ncu : nsys;
    const size_t n_tool = t == PROFILE_NCU ? sizeof ncu / sizeof ncu[0] : sizeof nsys / sizeof nsys[0];
    size_t used = 0;
    int bad = 0;
    memset(c, 0, sizeof *c);
    profile_report_name(case_str, c->report, sizeof c->report);
    for (size_t i = 0; i < n_tool; i++)
        bad |= arg(c, &used, tool[i]);
    bad |= arg(c, &used, c->report);
    bad |= arg(c, &used, bench);
    bad |= arg(c, &used, "run");
    for (int i = 0; i < run_argc; i++) {
        int skip_next;
        if (is_replaced(run_argv[i], &skip_next)) {
            i += skip_next;
            continue;
        }
        bad |= arg(c, &used, run_argv[i]);
    }
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        bad |= arg(c, &used, tail[i]);
    bad |= arg(c, &used, impl);
    return bad ? -1 : 0;
}

void profile_command_print(FILE *f, const struct profile_cmd *c)
{
    for (int i = 0; i < c->argc; i++) {
        const char *a = c->argv[i];
        const int plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789@%+=:,./_-") == strlen(a);
        fputs(i ? " " : "", f);
        if (plain) {
            fputs(a, f);
            continue;
        }
        fputc('\'', f);
        for (; *a; a++)
            if (*a == '\'')
                fputs("'\\''", f);
            else
                fputc(*a, f);
        fputc('\'', f);
    }
    fputc('\n', f);
}
