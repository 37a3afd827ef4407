/*
 * strbuf.h — a growable, always NUL-terminated string for building HTML,
 * gnuplot scripts and data files in memory. Out of memory aborts: the report
 * is a short-lived tool and a half-built page has no use.
 */
#ifndef SEQBENCH_STRBUF_H
#define SEQBENCH_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *s;                    /* "" until the first append; owned */
    size_t len, cap;
};

void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_puts(struct strbuf *b, const char *s);
void sb_putn(struct strbuf *b, const char *s, size_t n);
/* s with & < > " ' written as entities (NULL writes nothing). */
void sb_html(struct strbuf *b, const char *s);
/* The buffer's string ("" when empty); stays owned by b. */
const char *sb_str(const struct strbuf *b);
/* Hands the string to the caller (malloc'd) and empties b. */
char *sb_take(struct strbuf *b);
void sb_free(struct strbuf *b);

/* Writes the buffer to path. Returns 0, or -1 with err set. */
int sb_write_file(const struct strbuf *b, const char *path, char *err, size_t n);

#endif
