/*
 * scan.h — a cursor over text, shared by the two small parsers of the dump
 * format: the .npy header's Python dict literal (npy.c) and case.json
 * (dump.c); and the one-line error setter both use.
 */
#ifndef SEQBENCH_SCAN_H
#define SEQBENCH_SCAN_H

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* A cursor over text: the .npy header's Python dict and case.json. */
struct scan {
    const char *text, *p, *end;
    const char *why;            /* the syntax error, at p */
};

static inline int scan_error(struct scan *s, const char *why)
{
    s->why = why;
    return -1;
}

static inline void scan_ws(struct scan *s)
{
    while (s->p < s->end && isspace((unsigned char)*s->p))
        s->p++;
}

/* Skips whitespace, then c if it is next. */
static inline int scan_eat(struct scan *s, char c)
{
    scan_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* Writes one line into err (when there is room) and returns -1. */
static inline int scan_fail(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int scan_fail(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#endif
