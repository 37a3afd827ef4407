/*
 * suite.c — suite files; the format is in suite.h. Parsing keeps every
 * section's keys and words as written (with their lines, for messages);
 * expansion resolves them against the registry for one device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "suite.h"

#define SUITE_MAX_TEXT (1 << 20)    /* a suite file is a page of text, not a data set */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = 0;
    return s;
}

static void known_families(char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; i < n_families; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? ", " : "", families[i]->name);
}

/* Is key (without any "cpu." prefix) a section key? */
static int section_key_known(const char *key)
{
    if (!strcmp(key, "impls") || !strcmp(key, "dtype") || !strcmp(key, "tokens"))
        return 1;
    for (int f = 0; f < SF_COUNT; f++)
        if (!strcmp(key, shape_fields[f].name))
            return 1;
    return 0;
}

static int parse_number(const char *file, int line, const char *key, const char *v, double *out,
                        char *err, size_t n)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x < 0) {
        snprintf(err, n, "%s:%d: %s: '%s' is not a number >= 0", file, line, key, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int suite_key(struct suite *s, const char *file, int line, const char *key, char *val,
                     char *err, size_t n)
{
    if (!strcmp(key, "name"))
        snprintf(s->name, sizeof s->name, "%s", val);
    else if (!strcmp(key, "description"))
        snprintf(s->description, sizeof s->description, "%s", val);
    else if (!strcmp(key, "budget"))
        return parse_number(file, line, key, val, &s->budget_s, err, n);
    else if (!strcmp(key, "cpu.budget"))
        return parse_number(file, line, key, val, &s->cpu_budget_s, err, n);
    else if (!strcmp(key, "cpu.max_gflop"))
        return parse_number(file, line, key, val, &s->cpu_max_gflop, err, n);
    else {
        snprintf(err, n, "%s:%d: unknown suite key '%s' before the first [family] section "
                 "(name, description, budget, cpu.budget, cpu.max_gflop)", file, line, key);
        return -1;
    }
    return 0;
}

static int section_kv(struct suite_section *sec, const char *file, int line, const char *key,
                      char *val, char *err, size_t n)
{
    const char *plain = strncmp(key, "cpu.", 4) == 0 ? key + 4 : key;
    if (!section_key_known(plain)) {
        snprintf(err, n, "%s:%d: unknown key '%s' in [%s] (impls, dtype, tokens, or a shape field)",
                 file, line, key, sec->family);
        return -1;
    }
    for (int i = 0; i < sec->n_kv; i++)
        if (!strcmp(sec->kv[i].key, key)) {
            snprintf(err, n, "%s:%d: duplicate key '%s' (first at line %d)", file, line, key,
                     sec->kv[i].line);
            return -1;
        }
    struct suite_kv *kv = realloc(sec->kv, (size_t)(sec->n_kv + 1) * sizeof *kv);
    if (!kv)
        goto oom;
    sec->kv = kv;
    kv = &sec->kv[sec->n_kv++];
    memset(kv, 0, sizeof *kv);
    snprintf(kv->key, sizeof kv->key, "%s", key);
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
    if (kv->n_values == 0) {
        snprintf(err, n, "%s:%d: '%s' has no values", file, line, key);
        return -1;
    }
    return 0;
oom:
    snprintf(err, n, "%s:%d: out of memory", file, line);
    return -1;
}

int suite_parse(const char *text, const char *file, struct suite *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", file);
    char *copy = strdup(text), *save_line = NULL;
    if (!copy) {
        snprintf(err, n, "%s: out of memory", file);
        return -1;
    }
    int line = 0, rc = 0;
    for (char *p = copy; p && !rc; line++) {
        char *raw = p, *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        p = nl ? nl + 1 : NULL;
        char *hash = strchr(raw, '#');
        if (hash)
            *hash = 0;
        char *l = trim(raw);
        if (!*l)
            continue;
        if (*l == '[') {
            char *close = strchr(l, ']');
            if (!close || *trim(close + 1)) {
                snprintf(err, n, "%s:%d: unterminated section header '%s'", file, line + 1, l);
                rc = -1;
                break;
            }
            *close = 0;
            char fam[64] = "", label[64] = "";
            sscanf(l + 1, "%63s %63[^\n]", fam, label);
            if (!family_find(fam)) {
                char known[256];
                known_families(known, sizeof known);
                snprintf(err, n, "%s:%d: unknown family '%s' (known: %s)", file, line + 1, fam, known);
                rc = -1;
                break;
            }
            struct suite_section *secs = realloc(s->sections, (size_t)(s->n_sections + 1) * sizeof *secs);
            if (!secs) {
                snprintf(err, n, "%s:%d: out of memory", file, line + 1);
                rc = -1;
                break;
            }
            s->sections = secs;
            struct suite_section *sec = &s->sections[s->n_sections++];
            memset(sec, 0, sizeof *sec);
            snprintf(sec->family, sizeof sec->family, "%s", fam);
            snprintf(sec->label, sizeof sec->label, "%s", trim(label));
            sec->line = line + 1;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!eq) {
            snprintf(err, n, "%s:%d: expected 'key = values' or '[family]'", file, line + 1);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = trim(l), *val = trim(eq + 1);
        if (!*key) {
            snprintf(err, n, "%s:%d: expected 'key = values' or '[family]'", file, line + 1);
            rc = -1;
        } else if (!*val) {
            snprintf(err, n, "%s:%d: '%s' has no values", file, line + 1, key);
            rc = -1;
        } else if (s->n_sections == 0) {
            rc = suite_key(s, file, line + 1, key, val, err, n);
        } else {
            rc = section_kv(&s->sections[s->n_sections - 1], file, line + 1, key, val, err, n);
        }
    }
    (void)save_line;
    free(copy);
    if (!rc && !s->name[0]) {
        const char *base = strrchr(file, '/');
        snprintf(s->name, sizeof s->name, "%s", base ? base + 1 : file);
    }
    if (rc)
        suite_free(s);
    return rc;
}

static int read_file(const char *path, char **text, char *err, size_t n)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(err, n, "%s: is a directory, not a suite file", path);
        return -1;
    }
    if (sb.st_size > SUITE_MAX_TEXT) {
        snprintf(err, n, "%s: %lld bytes is too large for a suite file", path, (long long)sb.st_size);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    *text = malloc((size_t)sb.st_size + 1);
    size_t got = *text ? fread(*text, 1, (size_t)sb.st_size, f) : 0;
    int bad = ferror(f) || !*text;
    fclose(f);
    if (bad) {
        snprintf(err, n, "%s: cannot read", path);
        free(*text);
        return -1;
    }
    (*text)[got] = 0;
    return 0;
}

int suite_load(const char *name, const char *exe_dir, struct suite *s, char *err, size_t n)
{
    char path[1024], alt[1024] = "";
    struct stat sb;
    if (strchr(name, '/') || stat(name, &sb) == 0) {
        snprintf(path, sizeof path, "%s", name);
    } else {
        snprintf(path, sizeof path, "suites/%s", name);
        if (stat(path, &sb) != 0 && exe_dir) {
            snprintf(alt, sizeof alt, "%s/../suites/%s", exe_dir, name);
            if (stat(alt, &sb) == 0)
                snprintf(path, sizeof path, "%s", alt);
        }
        if (stat(path, &sb) != 0) {
            snprintf(err, n, "suite '%s' not found (looked in suites/%s%s%s)", name, name,
                     alt[0] ? " and " : "", alt);
            return -1;
        }
    }
    char *text;
    if (read_file(path, &text, err, n) != 0)
        return -1;
    int rc = suite_parse(text, path, s, err, n);
    free(text);
    return rc;
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

/* The keys that apply on this device: a cpu.X replaces X when on_cpu, and is
 * dropped otherwise. */
static int effective_keys(const struct suite_section *sec, int on_cpu, const struct suite_kv **out)
{
    int m = 0;
    for (int i = 0; i < sec->n_kv; i++) {
        const struct suite_kv *kv = &sec->kv[i];
        int is_cpu = strncmp(kv->key, "cpu.", 4) == 0;
        if (is_cpu && !on_cpu)
            continue;
        if (!is_cpu && on_cpu) {
            char ck[40];
            snprintf(ck, sizeof ck, "cpu.%s", kv->key);
            int overridden = 0;
            for (int j = 0; j < sec->n_kv; j++)
                overridden |= !strcmp(sec->kv[j].key, ck);
            if (overridden)
                continue;
        }
        out[m++] = kv;
    }
    return m;
}

static const char *plain_key(const struct suite_kv *kv)
{
    return strncmp(kv->key, "cpu.", 4) == 0 ? kv->key + 4 : kv->key;
}

/* Checks every word of the section once, so errors come before any case. */
static int check_values(const struct suite *s, const struct family *f, const struct suite_kv *kv,
                        char *err, size_t n)
{
    const char *k = plain_key(kv);
    for (int v = 0; v < kv->n_values; v++) {
        const char *w = kv->values[v];
        if (!strcmp(k, "impls")) {
            if (!strcmp(w, "*") ? kv->n_values == 1 : impl_find(f, w) != NULL)
                continue;
            char known[256] = "";
            for (int i = 0; i < f->n_impls; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                         f->impls[i].name);
            snprintf(err, n, "%s:%d: %s has no implementation '%s' (known: %s)", s->path, kv->line,
                     f->name, w, known);
            return -1;
        }
        if (!strcmp(k, "dtype")) {
            if (dtype_parse(w) >= 0)
                continue;
            snprintf(err, n, "%s:%d: unknown dtype '%s' (known: fp32, bf16)", s->path, kv->line, w);
            return -1;
        }
        char *end;
        errno = 0;
        long long x = strtoll(w, &end, 10);
        if (errno || end == w || *end) {
            snprintf(err, n, "%s:%d: %s: '%s' is not an integer", s->path, kv->line, k, w);
            return -1;
        }
        if (x < 0) {
            snprintf(err, n, "%s:%d: %s: %lld is negative", s->path, kv->line, k, x);
            return -1;
        }
    }
    return 0;
}

/* Applies one word of one key to a case being built. */
static void apply(const struct family *f, const struct suite_kv *kv, const char *w,
                  struct suite_case *c, int64_t *tokens)
{
    const char *k = plain_key(kv);
    if (!strcmp(k, "impls"))
        c->impl = impl_find(f, w);
    else if (!strcmp(k, "dtype"))
        c->shape.dtype = (enum dtype)dtype_parse(w);
    else if (!strcmp(k, "tokens"))
        *tokens = strtoll(w, NULL, 10);
    else
        for (int i = 0; i < SF_COUNT; i++)
            if (!strcmp(k, shape_fields[i].name))
                *shape_field_ptr(&c->shape, i) = strtoll(w, NULL, 10);
}

int suite_expand(const struct suite *s, int on_cpu, struct suite_case **cases, int *n_cases,
                 char *err, size_t n)
{
    *cases = NULL;
    *n_cases = 0;
    int cap = 0;
    for (int si = 0; si < s->n_sections; si++) {
        const struct suite_section *sec = &s->sections[si];
        const struct family *f = family_find(sec->family);
        const struct suite_kv *keys[64];
        int nk = effective_keys(sec, on_cpu, keys), impl_key = -1, has_b = 0, has_tokens = 0;
        for (int i = 0; i < nk; i++) {
            if (check_values(s, f, keys[i], err, n) != 0)
                goto fail;
            if (!strcmp(plain_key(keys[i]), "impls"))
                impl_key = i;
            has_b |= !strcmp(plain_key(keys[i]), "B");
            has_tokens |= !strcmp(plain_key(keys[i]), "tokens");
        }
        if (has_b && has_tokens) {
            snprintf(err, n, "%s:%d: give tokens or B, not both", s->path, sec->line);
            goto fail;
        }
        /* impls is swept innermost; "*" (or no impls key) means every impl. */
        int n_impl = impl_key < 0 || !strcmp(keys[impl_key]->values[0], "*")
                         ? f->n_impls : keys[impl_key]->n_values;
        int64_t combos = 1;
        for (int i = 0; i < nk; i++)
            if (i != impl_key)
                combos *= keys[i]->n_values;
        for (int64_t c = 0; c < combos; c++) {
            struct suite_case base = { .family = f, .line = sec->line };
            int64_t tokens = -1, rest = c;
            shape_unset(&base.shape);
            /* Mixed radix, the last key fastest: the first key is outermost. */
            int digit[64];
            for (int i = nk - 1; i >= 0; i--) {
                if (i == impl_key)
                    continue;
                digit[i] = (int)(rest % keys[i]->n_values);
                rest /= keys[i]->n_values;
            }
            for (int i = 0; i < nk; i++)
                if (i != impl_key)
                    apply(f, keys[i], keys[i]->values[digit[i]], &base, &tokens);
            if (tokens >= 0) {
                if (base.shape.N <= 0 || tokens % base.shape.N != 0) {
                    snprintf(err, n, "%s:%d: tokens=%lld is not a multiple of N=%lld", s->path,
                             sec->line, (long long)tokens, (long long)base.shape.N);
                    goto fail;
                }
                base.shape.B = tokens / base.shape.N;
            }
            f->defaults(&base.shape);
            for (int m = 0; m < n_impl; m++) {
                if (*n_cases == cap) {
                    cap = cap ? 2 * cap : 64;
                    struct suite_case *grown = realloc(*cases, (size_t)cap * sizeof *grown);
                    if (!grown) {
                        snprintf(err, n, "%s: out of memory expanding cases", s->path);
                        goto fail;
                    }
                    *cases = grown;
                }
                struct suite_case *out = &(*cases)[(*n_cases)++];
                *out = base;
                out->impl = impl_key < 0 || !strcmp(keys[impl_key]->values[0], "*")
                                ? &f->impls[m] : impl_find(f, keys[impl_key]->values[m]);
            }
        }
    }
    return 0;
fail:
    free(*cases);
    *cases = NULL;
    *n_cases = 0;
    return -1;
}
