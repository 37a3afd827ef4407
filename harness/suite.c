/*
 * suite.c — suite files; the format is in suite.h. Parsing keeps every
 * section's keys and words as written (with their lines, for messages) and
 * checks each word against the registry, so a bad file is refused before
 * anything runs, whichever device it is meant for. Expansion picks the keys
 * that apply on one device and sweeps their cartesian product.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shard.h"
#include "suite.h"

#define SUITE_MAX_TEXT (1 << 20)    /* a suite file is a page of text, not a data set */
/* A sweep this large is a typo (one list too many), not a plan: even at 10 ms
 * a case it is over a quarter of an hour of setup alone. */
#define SUITE_MAX_CASES 100000
#define CPU_PREFIX "cpu."           /* a key with it replaces its plain key on the CPU device */
#define CPU_PREFIX_LEN 4

/* ---- keys ----------------------------------------------------------------- */

/* Section keys: these three, then every shape field by its name. */
enum section_key { KEY_IMPLS, KEY_DTYPE, KEY_TOKENS, KEY_FIELD0, KEY_COUNT = KEY_FIELD0 + SF_COUNT };
static const char *const special_keys[KEY_FIELD0] = { "impls", "dtype", "tokens" };

/* Each key at most twice (plain and cpu.), so this bounds a section's keys. */
#define SECTION_MAX_KEYS (2 * KEY_COUNT)

/* Suite-level keys: where each lands in struct suite and how it is read. */
enum suite_value { SV_WORD, SV_TEXT, SV_NUMBER };
#define SUITE_KEY(nm, kind, member) \
    { nm, kind, offsetof(struct suite, member), sizeof(((struct suite *)0)->member) }
static const struct suite_key {
    const char *name;
    enum suite_value kind;  /* one word; the rest of the line; a number >= 0 */
    size_t offset, size;    /* of the member it sets */
} suite_keys[] = {
    SUITE_KEY("name", SV_WORD, name),
    SUITE_KEY("description", SV_TEXT, description),
    SUITE_KEY("budget", SV_NUMBER, budget_s),
    SUITE_KEY("cpu.budget", SV_NUMBER, cpu_budget_s),
    SUITE_KEY("cpu.max_gflop", SV_NUMBER, cpu_max_gflop),
};
#undef SUITE_KEY
#define N_SUITE_KEYS ((int)(sizeof suite_keys / sizeof suite_keys[0]))
_Static_assert(sizeof suite_keys / sizeof suite_keys[0] <= 8 * sizeof(unsigned),
               "suite keys seen are tracked in an unsigned mask");

static const char *plain_key(const char *key)
{
    return strncmp(key, CPU_PREFIX, CPU_PREFIX_LEN) == 0 ? key + CPU_PREFIX_LEN : key;
}

/* The section key a (plain) name denotes, or -1. */
static int section_key_id(const char *key)
{
    for (int k = 0; k < KEY_FIELD0; k++)
        if (strcmp(key, special_keys[k]) == 0)
            return k;
    for (int f = 0; f < SF_COUNT; f++)
        if (strcmp(key, shape_fields[f].name) == 0)
            return KEY_FIELD0 + f;
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = 0;
    return s;
}

/* ---- checking words against the registry ---------------------------------- */

static void known_families(char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; i < n_families; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? ", " : "", families[i]->name);
}

static int check_impl(const char *file, int line, const struct family *f, const char *w,
                      int n_values, char *err, size_t n)
{
    if (strcmp(w, "*") == 0) {
        if (n_values == 1)
            return 0;
        snprintf(err, n, "%s:%d: impls: '*' (every implementation) must stand alone", file, line);
        return -1;
    }
    if (impl_find(f, w))
        return 0;
    char known[512] = "";
    for (int i = 0; i < family_n_impls(f); i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 family_impl(f, i)->name);
    snprintf(err, n, "%s:%d: %s has no implementation '%s' (known: %s)", file, line, f->name, w,
             known);
    return -1;
}

static int check_dtype(const char *file, int line, const char *w, char *err, size_t n)
{
    if (dtype_parse(w) >= 0)
        return 0;
    char known[128] = "";
    for (int t = 0; t < DT_COUNT; t++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", t ? ", " : "",
                 dtype_table[t].name);
    snprintf(err, n, "%s:%d: unknown dtype '%s' (known: %s)", file, line, w, known);
    return -1;
}

/* Reads a whole word as an integer >= 0. */
static int parse_count(const char *file, int line, const char *key, const char *w, int64_t *out,
                       char *err, size_t n)
{
    char *end;
    errno = 0;
    long long x = strtoll(w, &end, 10);
    if (errno || end == w || *end) {
        snprintf(err, n, "%s:%d: %s: '%s' is not an integer", file, line, key, w);
        return -1;
    }
    if (x < 0) {
        snprintf(err, n, "%s:%d: %s: %lld is negative", file, line, key, x);
        return -1;
    }
    *out = x;
    return 0;
}

/* A word of a field with named values ("gate = key"). */
static int check_named(const char *file, int line, int field, const char *w, char *err, size_t n)
{
    if (shape_field_parse(field, w) >= 0)
        return 0;
    snprintf(err, n, "%s:%d: %s: unknown value '%s' (%s)", file, line, shape_fields[field].name,
             w, shape_fields[field].help);
    return -1;
}

/* Every word of one section key, checked once, at parse time. */
static int check_values(const char *file, const struct family *f, const struct suite_kv *kv,
                        char *err, size_t n)
{
    const char *key = plain_key(kv->key);
    int id = section_key_id(key);
    for (int v = 0; v < kv->n_values; v++) {
        const char *w = kv->values[v];
        int64_t x;
        int rc = id == KEY_IMPLS   ? check_impl(file, kv->line, f, w, kv->n_values, err, n)
                 : id == KEY_DTYPE ? check_dtype(file, kv->line, w, err, n)
                 : id >= KEY_FIELD0 && shape_fields[id - KEY_FIELD0].values
                                   ? check_named(file, kv->line, id - KEY_FIELD0, w, err, n)
                                   : parse_count(file, kv->line, kv->key, w, &x, err, n);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- parsing -------------------------------------------------------------- */

static int suite_level_key(struct suite *s, unsigned *seen, int *seen_line, const char *file,
                           int line, const char *key, const char *val, char *err, size_t n)
{
    int k = 0;
    while (k < N_SUITE_KEYS && strcmp(key, suite_keys[k].name) != 0)
        k++;
    if (k == N_SUITE_KEYS) {
        snprintf(err, n, "%s:%d: unknown suite key '%s' before the first [family] section "
                 "(name, description, budget, cpu.budget, cpu.max_gflop)", file, line, key);
        return -1;
    }
    if (*seen & (1u << k)) {
        snprintf(err, n, "%s:%d: duplicate key '%s' (first at line %d)", file, line, key,
                 seen_line[k]);
        return -1;
    }
    *seen |= 1u << k;
    seen_line[k] = line;
    const struct suite_key *sk = &suite_keys[k];
    void *dst = (char *)s + sk->offset;
    if (sk->kind == SV_NUMBER) {
        char *end;
        errno = 0;
        double x = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(x) || x < 0) {
            snprintf(err, n, "%s:%d: %s: '%s' is not a number >= 0", file, line, key, val);
            return -1;
        }
        *(double *)dst = x;
        return 0;
    }
    if (sk->kind == SV_WORD && strpbrk(val, " \t")) {
        snprintf(err, n, "%s:%d: %s: '%s' is more than one word", file, line, key, val);
        return -1;
    }
    if (strlen(val) >= sk->size) {
        snprintf(err, n, "%s:%d: %s is longer than %zu characters", file, line, key, sk->size - 1);
        return -1;
    }
    memcpy(dst, val, strlen(val) + 1);
    return 0;
}

/* l: the line without its comment, trimmed, starting with '['. */
static int section_header(struct suite *s, const char *file, int line, char *l, char *err, size_t n)
{
    char *close = strchr(l, ']');
    if (!close) {
        snprintf(err, n, "%s:%d: unterminated section header '%s' (no ']')", file, line, l);
        return -1;
    }
    if (*trim(close + 1)) {
        snprintf(err, n, "%s:%d: unexpected '%s' after ']'", file, line, trim(close + 1));
        return -1;
    }
    *close = 0;
    char *fam = trim(l + 1), *label = fam + strcspn(fam, " \t");
    if (*label)
        *label++ = 0;
    label = trim(label);
    if (!family_find(fam)) {
        char known[256];
        known_families(known, sizeof known);
        snprintf(err, n, "%s:%d: unknown family '%s' (known: %s)", file, line, fam, known);
        return -1;
    }
    struct suite_section sec = { .line = line };
    if (strlen(fam) >= sizeof sec.family || strlen(label) >= sizeof sec.label) {
        snprintf(err, n, "%s:%d: section label longer than %zu characters", file, line,
                 sizeof sec.label - 1);
        return -1;
    }
    strcpy(sec.family, fam);
    strcpy(sec.label, label);
    struct suite_section *grown = realloc(s->sections, (size_t)(s->n_sections + 1) * sizeof *grown);
    if (!grown) {
        snprintf(err, n, "%s:%d: out of memory", file, line);
        return -1;
    }
    s->sections = grown;
    s->sections[s->n_sections++] = sec;
    return 0;
}

static int section_kv(struct suite_section *sec, const char *file, int line, const char *key,
                      char *val, char *err, size_t n)
{
    if (section_key_id(plain_key(key)) < 0) {
        snprintf(err, n, "%s:%d: unknown key '%s' in [%s] (impls, dtype, tokens, a shape field, "
                 "each also as cpu.KEY)", file, line, key, sec->family);
        return -1;
    }
    for (int i = 0; i < sec->n_kv; i++)
        if (strcmp(sec->kv[i].key, key) == 0) {
            snprintf(err, n, "%s:%d: duplicate key '%s' (first at line %d)", file, line, key,
                     sec->kv[i].line);
            return -1;
        }
    struct suite_kv *grown = realloc(sec->kv, (size_t)(sec->n_kv + 1) * sizeof *grown);
    if (!grown)
        goto oom;
    sec->kv = grown;
    struct suite_kv *kv = &sec->kv[sec->n_kv++];
    memset(kv, 0, sizeof *kv);
    snprintf(kv->key, sizeof kv->key, "%s", key);   /* known keys are short: fits */
    kv->line = line;
    for (char *save, *w = strtok_r(val, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        char **vs = realloc(kv->values, (size_t)(kv->n_values + 1) * sizeof *vs);
        if (!vs)
            goto oom;
        kv->values = vs;
        if (!(kv->values[kv->n_values] = strdup(w)))
            goto oom;
        kv->n_values++;
    }
    return check_values(file, family_find(sec->family), kv, err, n);
oom:
    snprintf(err, n, "%s:%d: out of memory", file, line);
    return -1;
}

/* One line, comment already cut. */
static int parse_line(struct suite *s, unsigned *seen, int *seen_line, const char *file, int line,
                      char *l, char *err, size_t n)
{
    l = trim(l);
    if (!*l)
        return 0;
    if (*l == '[')
        return section_header(s, file, line, l, err, n);
    char *eq = strchr(l, '=');
    if (!eq || eq == l) {
        snprintf(err, n, "%s:%d: expected 'key = values' or '[family]'", file, line);
        return -1;
    }
    *eq = 0;
    char *key = trim(l), *val = trim(eq + 1);
    if (!*val) {
        snprintf(err, n, "%s:%d: '%s' has no values", file, line, key);
        return -1;
    }
    if (s->n_sections == 0)
        return suite_level_key(s, seen, seen_line, file, line, key, val, err, n);
    return section_kv(&s->sections[s->n_sections - 1], file, line, key, val, err, n);
}

int suite_parse(const char *text, const char *file, struct suite *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", file);
    char *copy = strdup(text);
    if (!copy) {
        snprintf(err, n, "%s: out of memory", file);
        return -1;
    }
    unsigned seen = 0;                  /* suite-level keys given so far */
    int seen_line[N_SUITE_KEYS] = { 0 };
    int rc = 0, line = 1;
    for (char *p = copy; p && rc == 0; line++) {
        char *l = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = 0;
        l[strcspn(l, "#")] = 0;
        rc = parse_line(s, &seen, seen_line, file, line, l, err, n);
    }
    free(copy);
    if (rc) {
        suite_free(s);
        return rc;
    }
    if (!s->name[0]) {      /* unnamed: the file's name */
        const char *base = strrchr(file, '/');
        snprintf(s->name, sizeof s->name, "%s", base ? base + 1 : file);
    }
    return 0;
}

void suite_free(struct suite *s)
{
    for (int i = 0; i < s->n_sections; i++) {
        for (int k = 0; k < s->sections[i].n_kv; k++) {
            for (int v = 0; v < s->sections[i].kv[k].n_values; v++)
                free(s->sections[i].kv[k].values[v]);
            free(s->sections[i].kv[k].values);
        }
        free(s->sections[i].kv);
    }
    free(s->sections);
    s->sections = NULL;
    s->n_sections = 0;
}

/* ---- loading -------------------------------------------------------------- */

static int read_text(const char *path, char **text, char *err, size_t n)
{
    *text = NULL;
    FILE *f = fopen(path, "r");
    struct stat sb;
    int e = !f ? errno : fstat(fileno(f), &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? EISDIR : 0;
    if (e) {
        snprintf(err, n, "cannot read suite '%s': %s", path, strerror(e));
        if (f)
            fclose(f);
        return -1;
    }
    char *buf = malloc(SUITE_MAX_TEXT + 1);
    size_t got = buf ? fread(buf, 1, SUITE_MAX_TEXT + 1, f) : 0;
    e = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf || e) {
        snprintf(err, n, "cannot read suite '%s': %s", path, strerror(buf ? e : ENOMEM));
        free(buf);
        return -1;
    }
    if (got > SUITE_MAX_TEXT) {
        snprintf(err, n, "%s: larger than %d bytes; not a suite file", path, SUITE_MAX_TEXT);
        free(buf);
        return -1;
    }
    buf[got] = 0;
    *text = buf;
    return 0;
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

int suite_load(const char *name_or_path, const char *exe_dir, struct suite *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    const char *name = name_or_path;
    char path[PATH_MAX + 64], alt[PATH_MAX + 64] = "";
    if (strchr(name, '/') || is_file(name)) {
        snprintf(path, sizeof path, "%s", name);
    } else {
        snprintf(path, sizeof path, "suites/%s", name);
        if (!is_file(path) && exe_dir) {
            /* EXE_DIR/../suites, spelled without the ".." when it resolves. */
            char real[PATH_MAX];
            if (realpath(exe_dir, real)) {
                char *slash = strrchr(real, '/');
                if (slash)
                    *slash = 0;
                snprintf(alt, sizeof alt, "%s/suites/%s", real, name);
            } else {
                snprintf(alt, sizeof alt, "%s/../suites/%s", exe_dir, name);
            }
            if (is_file(alt))
                snprintf(path, sizeof path, "%s", alt);
        }
        struct stat sb;
        if (stat(path, &sb) != 0) {
            snprintf(err, n, "suite '%s' not found (looked in suites/%s%s%s)", name, name,
                     alt[0] ? " and " : "", alt);
            return -1;
        }
    }
    char *text;
    if (read_text(path, &text, err, n) != 0)
        return -1;
    int rc = suite_parse(text, path, s, err, n);
    s->text_hash = fnv1a64(text);
    free(text);
    return rc;
}

/* ---- expansion ------------------------------------------------------------ */

static const struct suite_kv *find_kv(const struct suite_section *sec, const char *key)
{
    for (int i = 0; i < sec->n_kv; i++)
        if (strcmp(sec->kv[i].key, key) == 0)
            return &sec->kv[i];
    return NULL;
}

/* The key that applies on this device in the place of sec->kv[i], or NULL:
 * on the CPU a cpu.X supplies X's values in X's place; elsewhere cpu.X is
 * ignored. A cpu.X without an X sweeps in its own place. */
static const struct suite_kv *effective_kv(const struct suite_section *sec, int i, int on_cpu)
{
    const struct suite_kv *kv = &sec->kv[i];
    const char *plain = plain_key(kv->key);
    if (plain == kv->key) {
        char cpu_key[sizeof kv->key + CPU_PREFIX_LEN];
        snprintf(cpu_key, sizeof cpu_key, CPU_PREFIX "%s", kv->key);
        const struct suite_kv *over = on_cpu ? find_kv(sec, cpu_key) : NULL;
        return over ? over : kv;
    }
    return on_cpu && !find_kv(sec, plain) ? kv : NULL;
}

/* Sets one swept word into the case being built (words were checked at parse). */
static void apply_word(const struct suite_kv *kv, const char *w, struct shape *shape,
                       int64_t *tokens)
{
    int id = section_key_id(plain_key(kv->key));
    if (id == KEY_DTYPE)
        shape->dtype = (enum dtype)dtype_parse(w);
    else if (id == KEY_TOKENS)
        *tokens = strtoll(w, NULL, 10);
    else if (id >= KEY_FIELD0)
        *shape_field_ptr(shape, id - KEY_FIELD0) = shape_field_parse(id - KEY_FIELD0, w);
}

static int tokens_to_batch(const char *file, const struct suite_kv *kv, int64_t tokens,
                           struct shape *shape, char *err, size_t n)
{
    if (shape->N < 0) {
        snprintf(err, n, "%s:%d: tokens needs N (B = tokens / N)", file, kv->line);
        return -1;
    }
    if (shape->N == 0 || tokens % shape->N != 0) {
        snprintf(err, n, "%s:%d: tokens=%lld is not a multiple of N=%lld", file, kv->line,
                 (long long)tokens, (long long)shape->N);
        return -1;
    }
    shape->B = tokens / shape->N;
    return 0;
}

struct case_list {
    struct suite_case *v;
    int n, cap;
};

/* Room for count more cases, within SUITE_MAX_CASES in all. */
static int reserve(struct case_list *out, int64_t count, const char *file, int line, char *err,
                   size_t n)
{
    if (out->n + count > SUITE_MAX_CASES) {
        snprintf(err, n, "%s:%d: the suite sweeps more than %d cases", file, line, SUITE_MAX_CASES);
        return -1;
    }
    if (out->n + count <= out->cap)
        return 0;
    struct suite_case *grown = realloc(out->v, (size_t)(out->n + count) * sizeof *grown);
    if (!grown) {
        snprintf(err, n, "%s:%d: out of memory expanding cases", file, line);
        return -1;
    }
    out->v = grown;
    out->cap = out->n + (int)count;
    return 0;
}

static int expand_section(const char *file, const struct suite_section *sec, int on_cpu,
                          struct case_list *out, char *err, size_t n)
{
    const struct family *f = family_find(sec->family);
    if (!f) {   /* parse checked; a hand-built suite may not have been */
        snprintf(err, n, "%s:%d: unknown family '%s'", file, sec->line, sec->family);
        return -1;
    }
    if (sec->n_kv > SECTION_MAX_KEYS) {     /* parse refuses duplicates, so never from a file */
        snprintf(err, n, "%s:%d: more than %d keys", file, sec->line, SECTION_MAX_KEYS);
        return -1;
    }
    const struct suite_kv *axes[SECTION_MAX_KEYS], *impls = NULL, *tokens = NULL, *batch = NULL;
    int n_axes = 0;
    for (int i = 0; i < sec->n_kv; i++) {
        const struct suite_kv *kv = effective_kv(sec, i, on_cpu);
        if (!kv)
            continue;
        if (check_values(file, f, kv, err, n) != 0)
            return -1;
        int id = section_key_id(plain_key(kv->key));
        if (id == KEY_IMPLS) {
            impls = kv;     /* swept innermost, whatever its place */
            continue;
        }
        if (id == KEY_TOKENS)
            tokens = kv;
        if (id == KEY_FIELD0 + SF_B)
            batch = kv;
        axes[n_axes++] = kv;
    }
    if (tokens && batch) {
        snprintf(err, n, "%s:%d: give tokens or B, not both", file,
                 tokens->line > batch->line ? tokens->line : batch->line);
        return -1;
    }
    int all_impls = !impls || strcmp(impls->values[0], "*") == 0;
    int n_impl = all_impls ? family_n_impls(f) : impls->n_values;
    int64_t count = n_impl;
    for (int a = 0; a < n_axes && count <= SUITE_MAX_CASES; a++)
        count *= axes[a]->n_values;
    if (reserve(out, count, file, sec->line, err, n) != 0)
        return -1;
    if (count == 0)         /* a family without implementations */
        return 0;
    int idx[SECTION_MAX_KEYS] = { 0 };  /* the current word of each axis */
    for (;;) {
        struct shape shape;
        int64_t n_tokens = -1;
        shape_unset(&shape);
        for (int a = 0; a < n_axes; a++)
            apply_word(axes[a], axes[a]->values[idx[a]], &shape, &n_tokens);
        if (tokens && tokens_to_batch(file, tokens, n_tokens, &shape, err, n) != 0)
            return -1;
        f->defaults(&shape);
        for (int m = 0; m < n_impl; m++) {
            const struct impl *im = all_impls ? family_impl(f, m) : impl_find(f, impls->values[m]);
            /* "*" means every implementation that takes the dtype; one named
             * explicitly is kept, and its result says it does not. */
            if (all_impls && !(im->dtypes & DT_BIT(shape.dtype)))
                continue;
            out->v[out->n++] = (struct suite_case){
                .family = f, .impl = im, .shape = shape, .line = sec->line,
            };
        }
        /* Odometer: the last key turns fastest, so the first key is outermost. */
        int a = n_axes - 1;
        while (a >= 0 && ++idx[a] == axes[a]->n_values)
            idx[a--] = 0;
        if (a < 0)
            return 0;
    }
}

int suite_expand(const struct suite *s, int on_cpu, struct suite_case **cases, int *n_cases,
                 char *err, size_t n)
{
    struct case_list out = { 0 };
    for (int i = 0; i < s->n_sections; i++)
        if (expand_section(s->path, &s->sections[i], on_cpu, &out, err, n) != 0) {
            free(out.v);
            *cases = NULL;
            *n_cases = 0;
            return -1;
        }
    *cases = out.v;
    *n_cases = out.n;
    return 0;
}
