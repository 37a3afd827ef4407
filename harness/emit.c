/*
 * emit.c — see emit.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 when the
 * bytes there are not one (stray continuation, overlong, surrogate, > U+10FFFF,
 * truncated). */
static int utf8_len(const unsigned char *s)
{
    int len;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const unsigned min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void emit_json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int len = utf8_len(p);
        if (len == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (*p == '"' || *p == '\\') {
            fputc('\\', f);
            fputc(*p++, f);
        } else if (*p == '\n') {
            fputs("\\n", f), p++;
        } else if (*p == '\t') {
            fputs("\\t", f), p++;
        } else if (*p == '\r') {
            fputs("\\r", f), p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\u%04x", *p++);
        } else {
            fwrite(p, 1, (size_t)len, f);
            p += len;
        }
    }
    fputc('"', f);
}

int emit_json_string_buf(char *buf, size_t n, const char *s)
{
    FILE *m = n > 1 ? fmemopen(buf, n, "w") : NULL;
    if (m) {
        emit_json_string(m, s);
        long len = ftell(m);
        fclose(m);                  /* writes the NUL when there is room */
        if (len >= 0 && (size_t)len < n)
            return 0;
    }
    snprintf(buf, n, "null");
    return -1;
}

void emit_double(char *buf, size_t n, double x)
{
    /* 15 significant digits always read back for "nice" values; 17 always do. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (!isfinite(x) || strtod(buf, NULL) == x)
            return;
    }
}

void emit_json_number(FILE *f, double x)
{
    char buf[40];
    if (!isfinite(x)) {
        fputs("null", f);
        return;
    }
    emit_double(buf, sizeof buf, x);
    fputs(buf, f);
}

void emit_csv_field(FILE *f, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
