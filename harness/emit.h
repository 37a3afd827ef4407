/*
 * emit.h — values written for other programs to read: JSON strings and
 * numbers, RFC 4180 CSV fields, and doubles printed so they read back
 * exactly. compare and export share them.
 */
#ifndef SEQBENCH_EMIT_H
#define SEQBENCH_EMIT_H

#include <stddef.h>
#include <stdio.h>

/* A JSON string literal: quotes, backslashes and control characters escaped,
 * valid UTF-8 passed through, each invalid byte written as U+FFFD. NULL is
 * written as null. */
void emit_json_string(FILE *f, const char *s);
/* The same into buf (size n). Returns 0, or -1 when it did not fit (buf is
 * then "null"). */
int emit_json_string_buf(char *buf, size_t n, const char *s);
/* A JSON number in its shortest exact form; NaN and infinities (which JSON
 * lacks) are written as null. */
void emit_json_number(FILE *f, double x);
/* One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a
 * comma, a quote, CR or LF; NULL is an empty field. */
void emit_csv_field(FILE *f, const char *s);
/* The shortest %g form that reads back as exactly x ("0.1", not
 * "0.10000000000000001"); "nan"/"inf" as printf writes them. */
void emit_double(char *buf, size_t n, double x);

#endif
