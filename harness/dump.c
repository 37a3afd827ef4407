/*
 * dump.c — see dump.h. Tensors go out as NumPy .npy files (npy.c), the case
 * as a flat JSON object, and `--load` reads both back.
 *
 * case.json is read by the small parser below: the loader needs a handful of
 * scalar keys, and a JSON library is not worth a dependency for that. It
 * accepts any JSON object; keys it does not know are skipped, whatever their
 * value.
 *
 * Numbers are printed and parsed with printf/strtod in the "C" locale, which
 * is the only one the bench runs in (it never calls setlocale).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dump.h"
#include "npy.h"
#include "scan.h"

#define DUMP_PATH_MAX 4096
#define DUMP_JSON_MAX (1 << 20)     /* case.json is a few hundred bytes */
#define fail scan_fail

/* DIR/NAME into buf; a path that does not fit is an error, never truncated. */
static int dump_path(char *buf, size_t size, const char *dir, const char *name, char *err,
                     size_t n)
{
    int len = snprintf(buf, size, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= size)
        return fail(err, n, "%.200s/%s: path too long", dir, name);
    return 0;
}

/* ---- dump_write ------------------------------------------------------------- */

/* mkdir -p: every missing component of dir, then dir must be a directory. */
static int mkdir_p(const char *dir, char *err, size_t n)
{
    char buf[DUMP_PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0)
        return fail(err, n, "dump: empty directory name");
    if (len >= sizeof buf)
        return fail(err, n, "%.200s...: path too long", dir);
    memcpy(buf, dir, len + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return fail(err, n, "%s: mkdir: %s", buf, strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return fail(err, n, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail(err, n, "%s: not a directory", dir);
    return 0;
}

/* A JSON string literal: quotes, backslashes and control characters escaped;
 * other bytes (UTF-8 included) as they are. */
static void json_put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f" : NULL;
        if (esc)
            fputs(esc, f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int write_case_json(const char *path, const struct dump_case *c, char *err, size_t n)
{
    const struct shape *s = c->shape;
    if (s->dtype < 0 || s->dtype >= DT_COUNT)
        return fail(err, n, "%s: dtype %d out of range", path, (int)s->dtype);
    if (!isfinite(c->scale))
        return fail(err, n, "%s: scale %g is not a finite number", path, c->scale);
    char label[512];
    case_string(c->family, c->impl, s, label, sizeof label);

    FILE *f = fopen(path, "w");
    if (!f)
        return fail(err, n, "%s: %s", path, strerror(errno));
    fputs("{\n  \"family\": ", f);
    json_put_string(f, c->family->name);
    fputs(",\n  \"impl\": ", f);
    if (c->impl)
        json_put_string(f, c->impl);
    else
        fputs("null", f);
    fputs(",\n  \"dtype\": ", f);
    json_put_string(f, dtype_table[s->dtype].name);
    fputs(",\n  \"stored_dtype\": \"float32\"", f);
    for (int i = 0; i < SF_COUNT; i++) {
        fputs(",\n  ", f);
        json_put_string(f, shape_fields[i].name);
        fputs(": ", f);
        int64_t v = shape_field_get(s, i);
        if (shape_fields[i].values && v >= 0) {
            char name[32];
            shape_field_format(i, v, name, sizeof name);
            json_put_string(f, name);
        } else {
            fprintf(f, "%lld", (long long)v);
        }
    }
    /* %.17g: every double prints so that strtod gives it back bit for bit */
    fprintf(f, ",\n  \"scale\": %.17g,\n  \"seed\": %" PRIu64 ",\n  \"case\": ", c->scale, c->seed);
    json_put_string(f, label);
    fputs(",\n  \"inputs\": [", f);
    for (int i = 0; i < c->io->n_in; i++) {
        fputs(i ? ", " : "", f);
        json_put_string(f, c->io->in[i].name);
    }
    fprintf(f, "],\n  \"sampled\": %s\n}\n", c->sampled ? "true" : "false");

    int bad = ferror(f), e = errno;
    if (fclose(f) != 0 && !bad)
        bad = 1, e = errno;
    if (bad) {
        remove(path);
        return fail(err, n, "%s: write: %s", path, strerror(e));
    }
    return 0;
}

/* DIR/NAME.npy into path (DUMP_PATH_MAX bytes). */
static int npy_path(char *path, const char *dir, const char *name, char *err, size_t n)
{
    char file[128];
    if ((size_t)snprintf(file, sizeof file, "%s.npy", name) >= sizeof file)
        return fail(err, n, "%s/%.100s...: tensor name too long", dir, name);
    return dump_path(path, DUMP_PATH_MAX, dir, file, err, n);
}

/* Writes DIR/NAME.npy, or, with no data, removes a stale one from an
 * earlier dump into the same folder so no file describes another run. */
static int dump_tensor(const char *dir, const char *name, const char *descr, size_t itemsize,
                       const void *data, int ndim, const int64_t *dims, char *err, size_t n)
{
    char path[DUMP_PATH_MAX];
    if (npy_path(path, dir, name, err, n) != 0)
        return -1;
    if (!data) {
        if (remove(path) != 0 && errno != ENOENT)
            return fail(err, n, "%s: remove: %s", path, strerror(errno));
        return 0;
    }
    return npy_write(path, descr, itemsize, data, ndim, dims, err, n);
}

int dump_write(const char *dir, const struct dump_case *c, char *err, size_t n)
{
    const struct io_specs *io = c->io;
    char path[DUMP_PATH_MAX];
    if (c->ref && c->sampled && !c->ref_rows)
        return fail(err, n, "%s: sampled reference rows but no ref_rows", dir);
    if (mkdir_p(dir, err, n) != 0 || dump_path(path, sizeof path, dir, "case.json", err, n) != 0 ||
        write_case_json(path, c, err, n) != 0)
        return -1;
    for (int i = 0; i < io->n_in; i++) {
        const struct tensor_spec *t = &io->in[i];
        if (t->u8 ? npy_path(path, dir, t->name, err, n) != 0 ||
                        npy_write_u8(path, c->in[i], t->ndim, t->dims, err, n) != 0
                  : dump_tensor(dir, t->name, "<f4", sizeof(float), c->in[i], t->ndim, t->dims,
                                err, n) != 0)
            return -1;
    }
    if (dump_tensor(dir, "out", "<f4", sizeof(float), c->out, io->out.ndim, io->out.dims, err,
                    n) != 0)
        return -1;
    if (io->final.ndim) {   /* the second output and its reference, in full */
        char ref_name[64];
        snprintf(ref_name, sizeof ref_name, "ref_%s", io->final.name);
        if (dump_tensor(dir, io->final.name, "<f4", sizeof(float), c->final, io->final.ndim,
                        io->final.dims, err, n) != 0 ||
            dump_tensor(dir, ref_name, "<f8", sizeof(double), c->ref_final, io->final.ndim,
                        io->final.dims, err, n) != 0)
            return -1;
    }

    /* ref: one row per computed token (b, n), the output's trailing dims each */
    int64_t ref_dims[SB_MAX_DIMS] = { c->n_ref_rows };
    int ref_ndim = 1;
    for (int d = 2; d < io->out.ndim; d++)
        ref_dims[ref_ndim++] = io->out.dims[d];
    if (dump_tensor(dir, "ref", "<f8", sizeof(double), c->ref, ref_ndim, ref_dims, err, n) != 0)
        return -1;
    return dump_tensor(dir, "ref_rows", "<i8", sizeof(int64_t),
                       c->ref && c->sampled ? c->ref_rows : NULL, 1, &c->n_ref_rows, err, n);
}

/* ---- case.json parsing ------------------------------------------------------ */

#define JSON_STR_MAX 256    /* longer strings only matter for keys we skip */
#define JSON_NUM_MAX 64     /* a double needs 24 characters; more is not a number we write */
#define JSON_MAX_DEPTH 16

enum jv_kind { JV_STRING, JV_NUMBER, JV_TRUE, JV_FALSE, JV_NULL, JV_ARRAY, JV_OBJECT };

struct jv {
    enum jv_kind kind;
    char str[JSON_STR_MAX];     /* JV_STRING, decoded */
    int str_long;               /* the string did not fit in str */
    char num[JSON_NUM_MAX];     /* JV_NUMBER, the token */
    int is_int;                 /* JV_NUMBER without fraction or exponent */
};

static int json_hex4(struct scan *j, uint32_t *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++, j->p++) {
        if (j->p >= j->end || !isxdigit((unsigned char)*j->p))
            return scan_error(j, "bad \\u escape");
        char c = (char)tolower((unsigned char)*j->p);
        *cp = *cp * 16 + (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return 0;
}

/* One code point of a \u escape (a surrogate pair counts as one) as UTF-8. */
static int json_unicode(struct scan *j, char *enc, int *k)
{
    uint32_t cp, lo;
    if (json_hex4(j, &cp) != 0)
        return -1;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return scan_error(j, "lone low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
            return scan_error(j, "lone high surrogate");
        j->p += 2;
        if (json_hex4(j, &lo) != 0)
            return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return scan_error(j, "bad surrogate pair");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return scan_error(j, "\\u0000 in a string");
    if (cp < 0x80) {
        enc[0] = (char)cp, *k = 1;
    } else if (cp < 0x800) {
        enc[0] = (char)(0xC0 | cp >> 6), enc[1] = (char)(0x80 | (cp & 0x3F)), *k = 2;
    } else if (cp < 0x10000) {
        enc[0] = (char)(0xE0 | cp >> 12), enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        enc[2] = (char)(0x80 | (cp & 0x3F)), *k = 3;
    } else {
        enc[0] = (char)(0xF0 | cp >> 18), enc[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        enc[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), enc[3] = (char)(0x80 | (cp & 0x3F)), *k = 4;
    }
    return 0;
}

/* A string literal, decoded into out (size bytes); *too_long when cut. */
static int json_string(struct scan *j, char *out, size_t size, int *too_long)
{
    size_t len = 0;
    *too_long = 0;
    if (!scan_eat(j, '"'))
        return scan_error(j, "expected a string");
    for (;;) {
        if (j->p >= j->end)
            return scan_error(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p;
        char enc[4] = { (char)c };
        int k = 1;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return scan_error(j, "control character in a string");
        j->p++;
        if (c == '\\') {
            char e = j->p < j->end ? *j->p++ : '\0';
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *at = e ? strchr(from, e) : NULL;
            if (at)
                enc[0] = to[at - from];
            else if (e != 'u')
                return scan_error(j, "bad escape");
            else if (json_unicode(j, enc, &k) != 0)
                return -1;
        }
        if (len + (size_t)k < size)
            memcpy(out + len, enc, (size_t)k), len += (size_t)k;
        else
            *too_long = 1;
    }
    out[len] = '\0';
    return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, copied into v->num. */
static int json_number(struct scan *j, struct jv *v)
{
    const char *p = j->p, *e = j->end;
#define DIGITS(what)                                         \
    do {                                                     \
        if (p >= e || !isdigit((unsigned char)*p))           \
            return j->p = p, scan_error(j, what);            \
        while (p < e && isdigit((unsigned char)*p))          \
            p++;                                             \
    } while (0)
    v->kind = JV_NUMBER, v->is_int = 1;
    if (p < e && *p == '-')
        p++;
    if (p < e && *p == '0')
        p++;
    else
        DIGITS("expected a value");
    if (p < e && *p == '.') {
        p++, v->is_int = 0;
        DIGITS("expected a digit after '.'");
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++, v->is_int = 0;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        DIGITS("expected an exponent");
    }
#undef DIGITS
    if ((size_t)(p - j->p) >= sizeof v->num)
        return scan_error(j, "number too long");
    memcpy(v->num, j->p, (size_t)(p - j->p));
    v->num[p - j->p] = '\0';
    j->p = p;
    return 0;
}

static int json_value(struct scan *j, struct jv *v, int depth);

/* An array or object: parsed for syntax, its contents dropped. */
static int json_container(struct scan *j, struct jv *v, int depth)
{
    char close = *j->p++ == '[' ? ']' : '}';
    v->kind = close == ']' ? JV_ARRAY : JV_OBJECT;
    if (depth >= JSON_MAX_DEPTH)
        return scan_error(j, "nested too deeply");
    if (scan_eat(j, close))
        return 0;
    for (;;) {
        struct jv item;
        if (close == '}') {
            if (json_string(j, item.str, sizeof item.str, &item.str_long) != 0)
                return -1;
            if (!scan_eat(j, ':'))
                return scan_error(j, "expected ':'");
        }
        if (json_value(j, &item, depth + 1) != 0)
            return -1;
        if (scan_eat(j, close))
            return 0;
        if (!scan_eat(j, ','))
            return scan_error(j, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
    }
}

static int json_value(struct scan *j, struct jv *v, int depth)
{
    static const struct { const char *word; enum jv_kind kind; } words[] = {
        { "true", JV_TRUE }, { "false", JV_FALSE }, { "null", JV_NULL },
    };
    scan_ws(j);
    if (j->p >= j->end)
        return scan_error(j, "expected a value");
    if (*j->p == '"') {
        v->kind = JV_STRING;
        return json_string(j, v->str, sizeof v->str, &v->str_long);
    }
    if (*j->p == '[' || *j->p == '{')
        return json_container(j, v, depth);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t len = strlen(words[i].word);
        if ((size_t)(j->end - j->p) >= len && memcmp(j->p, words[i].word, len) == 0) {
            j->p += len;
            v->kind = words[i].kind;
            return 0;
        }
    }
    return json_number(j, v);
}

/* The keys of case.json the loader reads, besides the shape fields. */
struct case_keys {
    char family[32];
    char impl[32];
    char dtype[16];
    double scale;
    uint64_t seed;
    int64_t field[SF_COUNT];
    unsigned seen;              /* SF_BIT(f): shape field f; CASE_KEY_BIT(k): case_key_table[k] */
};

enum case_key_id { KEY_FAMILY, KEY_IMPL, KEY_DTYPE, KEY_SCALE, KEY_SEED, KEY_COUNT };
enum case_key_kind { CK_STRING, CK_STRING_OR_NULL, CK_NUMBER, CK_UINT64 };

static const struct case_key {
    const char *name;
    enum case_key_kind kind;
    size_t offset, size;        /* the destination in struct case_keys */
    int required;
} case_key_table[KEY_COUNT] = {
#define CK(nm, kind, member, req) \
    { nm, kind, offsetof(struct case_keys, member), sizeof(((struct case_keys *)0)->member), req }
    [KEY_FAMILY] = CK("family", CK_STRING, family, 1),
    [KEY_IMPL]   = CK("impl", CK_STRING_OR_NULL, impl, 0),
    [KEY_DTYPE]  = CK("dtype", CK_STRING, dtype, 1),
    [KEY_SCALE]  = CK("scale", CK_NUMBER, scale, 0),   /* default shape_default_scale */
    [KEY_SEED]   = CK("seed", CK_UINT64, seed, 1),
#undef CK
};
#define CASE_KEY_BIT(k) (1u << (SF_COUNT + (k)))
_Static_assert(SF_COUNT + KEY_COUNT <= 32, "case_keys.seen has a bit per key");

/* An integer token as int64 (is_unsigned: as uint64, no sign); 0 on success. */
static int jv_integer(const struct jv *v, int is_unsigned, void *out)
{
    if (v->kind != JV_NUMBER || !v->is_int || (is_unsigned && v->num[0] == '-'))
        return -1;
    errno = 0;
    if (is_unsigned)
        *(uint64_t *)out = strtoull(v->num, NULL, 10);
    else
        *(int64_t *)out = strtoll(v->num, NULL, 10);
    return errno == ERANGE ? -1 : 0;
}

static int case_key_set(struct case_keys *ck, const struct case_key *key, const struct jv *v,
                        const char *path, char *err, size_t n)
{
    void *dst = (char *)ck + key->offset;
    switch (key->kind) {
    case CK_STRING_OR_NULL:
        if (v->kind == JV_NULL) {
            *(char *)dst = '\0';
            return 0;
        }
        /* fall through */
    case CK_STRING:
        if (v->kind != JV_STRING)
            return fail(err, n, "%s: \"%s\" must be a string", path, key->name);
        if (v->str_long || strlen(v->str) >= key->size)
            return fail(err, n, "%s: \"%s\" is too long (at most %zu bytes)", path, key->name,
                        key->size - 1);
        strcpy(dst, v->str);
        return 0;
    case CK_NUMBER:
        if (v->kind == JV_NUMBER)
            *(double *)dst = strtod(v->num, NULL);
        if (v->kind != JV_NUMBER || !isfinite(*(double *)dst))
            return fail(err, n, "%s: \"%s\" must be a finite number", path, key->name);
        return 0;
    case CK_UINT64:
        if (jv_integer(v, 1, dst) != 0)
            return fail(err, n, "%s: \"%s\" must be an integer in [0, 2^64)", path, key->name);
        return 0;
    }
    return 0;
}

/* Stores one member of the top-level object; unknown keys are skipped. */
static int case_member(struct case_keys *ck, const char *key, const struct jv *v, const char *path,
                       char *err, size_t n)
{
    for (int f = 0; f < SF_COUNT; f++) {
        if (strcmp(key, shape_fields[f].name) != 0)
            continue;
        ck->seen |= SF_BIT(f);
        if (shape_fields[f].is_flag && (v->kind == JV_TRUE || v->kind == JV_FALSE))
            ck->field[f] = v->kind == JV_TRUE;
        else if (shape_fields[f].values && v->kind == JV_STRING) {
            if ((ck->field[f] = shape_field_parse(f, v->str)) < 0)
                return fail(err, n, "%s: \"%s\": unknown value \"%s\"", path, key, v->str);
        } else if (jv_integer(v, 0, &ck->field[f]) != 0)
            return fail(err, n, "%s: \"%s\" must be an integer", path, key);
        return 0;
    }
    for (int k = 0; k < KEY_COUNT; k++)
        if (strcmp(key, case_key_table[k].name) == 0) {
            ck->seen |= CASE_KEY_BIT(k);
            return case_key_set(ck, &case_key_table[k], v, path, err, n);
        }
    return 0;
}

/* Parses the top-level object of text into ck. */
static int case_parse(const char *path, const char *text, size_t len, struct case_keys *ck,
                      char *err, size_t n)
{
    struct scan j = { text, text, text + len, NULL };
    memset(ck, 0, sizeof *ck);
    if (!scan_eat(&j, '{')) {
        scan_error(&j, "expected '{'");
        goto syntax;
    }
    if (!scan_eat(&j, '}')) {
        for (;;) {
            char key[64];
            int long_key;
            struct jv v;
            if (json_string(&j, key, sizeof key, &long_key) != 0)
                goto syntax;
            if (!scan_eat(&j, ':')) {
                scan_error(&j, "expected ':'");
                goto syntax;
            }
            if (json_value(&j, &v, 1) != 0)
                goto syntax;
            if (!long_key && case_member(ck, key, &v, path, err, n) != 0)
                return -1;
            if (scan_eat(&j, '}'))
                break;
            if (!scan_eat(&j, ',')) {
                scan_error(&j, "expected ',' or '}'");
                goto syntax;
            }
        }
    }
    scan_ws(&j);
    if (j.p != j.end) {
        scan_error(&j, "text after the object");
        goto syntax;
    }
    return 0;
syntax:;
    int line = 1, col = 1;
    for (const char *p = text; p < j.p; p++) {
        if (*p == '\n')
            line++, col = 1;
        else
            col++;
    }
    return fail(err, n, "%s:%d:%d: %s", path, line, col, j.why);
}

static int case_read(const char *path, struct case_keys *ck, char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, n, "%s: %s", path, strerror(errno));
    char *text = malloc(DUMP_JSON_MAX + 1);
    size_t len = text ? fread(text, 1, DUMP_JSON_MAX + 1, f) : 0;
    int e = ferror(f) ? errno : 0, rc;
    fclose(f);
    if (!text)
        rc = fail(err, n, "%s: out of memory", path);
    else if (e)
        rc = fail(err, n, "%s: read: %s", path, strerror(e));
    else if (len > DUMP_JSON_MAX)
        rc = fail(err, n, "%s: larger than %d bytes; not a case.json", path, DUMP_JSON_MAX);
    else
        rc = case_parse(path, text, len, ck, err, n);
    free(text);
    return rc;
}

/* The loaded case's family, shape, scale and seed from the parsed keys. */
static int case_resolve(const char *path, const struct case_keys *ck, struct loaded_case *lc,
                        const struct family **fam, char *err, size_t n)
{
    if (!(ck->seen & CASE_KEY_BIT(KEY_FAMILY)))
        return fail(err, n, "%s: missing \"family\"", path);
    const struct family *f = family_find(ck->family);
    if (!f)
        return fail(err, n, "%s: unknown family \"%s\"", path, ck->family);
    for (int k = 0; k < KEY_COUNT; k++)
        if (case_key_table[k].required && !(ck->seen & CASE_KEY_BIT(k)))
            return fail(err, n, "%s: missing \"%s\"", path, case_key_table[k].name);
    for (int i = 0; i < SF_COUNT; i++)
        if ((f->fields & SF_BIT(i)) && !(ck->seen & SF_BIT(i)))
            return fail(err, n, "%s: missing \"%s\"", path, shape_fields[i].name);
    int t = dtype_parse(ck->dtype);
    if (t < 0)
        return fail(err, n, "%s: unknown dtype \"%s\"", path, ck->dtype);

    shape_unset(&lc->shape);
    for (int i = 0; i < SF_COUNT; i++)
        if (ck->seen & SF_BIT(i))
            *shape_field_ptr(&lc->shape, i) = ck->field[i];
    lc->shape.dtype = (enum dtype)t;
    char msg[256];
    if (f->validate(&lc->shape, msg, sizeof msg) != 0)
        return fail(err, n, "%s: invalid %s shape: %s", path, f->name, msg);

    snprintf(lc->family, sizeof lc->family, "%s", ck->family);
    snprintf(lc->impl, sizeof lc->impl, "%s", ck->impl);
    lc->seed = ck->seed;
    lc->scale = ck->seen & CASE_KEY_BIT(KEY_SCALE) ? ck->scale : shape_default_scale(&lc->shape);
    *fam = f;
    return 0;
}

int dump_load(const char *dir, struct loaded_case *lc, char *err, size_t n)
{
    char path[DUMP_PATH_MAX];
    struct case_keys ck;
    const struct family *f = NULL;
    memset(lc, 0, sizeof *lc);
    if (dump_path(path, sizeof path, dir, "case.json", err, n) != 0 ||
        case_read(path, &ck, err, n) != 0 || case_resolve(path, &ck, lc, &f, err, n) != 0)
        return -1;

    struct io_specs io;
    f->io(&lc->shape, &io);
    for (int i = 0; i < io.n_in; i++) {
        struct npy_info info;
        if (npy_path(path, dir, io.in[i].name, err, n) != 0 ||
            npy_load(path, &io.in[i], &lc->in[i], &info, err, n) != 0) {
            loaded_case_free(lc);
            return -1;
        }
        /* The contract: host inputs hold values of the case's dtype. A dump
         * holds them already (upcasting is exact); an edited file gets the
         * rounding the device would apply on upload, so the reference sees
         * what the device sees. Integer tensors (a mask) are not values of
         * the dtype: check_inputs judges them. */
        if (lc->shape.dtype != DT_FP32 && !io.in[i].u8)
            for (int64_t e = 0; e < info.numel; e++)
                lc->in[i][e] = dtype_round(lc->shape.dtype, lc->in[i][e]);
    }
    lc->n_in = io.n_in;
    char msg[200];
    if (f->check_inputs && f->check_inputs(&lc->shape, (const float *const *)lc->in, msg, sizeof msg)) {
        loaded_case_free(lc);
        return fail(err, n, "%s: %s", dir, msg);
    }
    return 0;
}

void loaded_case_free(struct loaded_case *lc)
{
    for (int i = 0; i < SB_MAX_TENSORS; i++) {
        free(lc->in[i]);
        lc->in[i] = NULL;
    }
    lc->n_in = 0;
}
