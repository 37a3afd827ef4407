/*
 * registry.c — the static tables: dtypes, shape fields, families. Adding a
 * family is one line in families[] (and its reference/<family>.c); adding an
 * implementation is one row in that family's impl table.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqbench.h"

const struct dtype_info dtype_table[DT_COUNT] = {
    [DT_FP32] = { "fp32", 4, 0x1p-24 },
    [DT_BF16] = { "bf16", 2, 0x1p-8 },
    [DT_FP16] = { "fp16", 2, 0x1p-11 },
};

int dtype_parse(const char *name)
{
    for (int t = 0; t < DT_COUNT; t++)
        if (strcmp(dtype_table[t].name, name) == 0)
            return t;
    return -1;
}

uint16_t bf16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)    /* NaN stays a quiet NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);         /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float bf16_from_bits(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

float bf16_round(float x)
{
    return bf16_from_bits(bf16_bits(x));
}

/* fp32 -> fp16 by integer arithmetic on the bits, so it is exact and the
 * same on every host (no dependence on the compiler's _Float16). */
uint16_t fp16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)                        /* NaN: quiet, top payload bits kept */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x1ffu));
    if (a >= 0x47800000u)                       /* >= 65536 (or inf): infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {                      /* below 2^-14: fp16 subnormal or zero */
        /* The value is m·2^(e-150) with the hidden bit in m; in units of
         * fp16's subnormal step 2^-24 that is m >> (126 - e), rounded to
         * nearest even on the bits shifted out. */
        const int e = (int)(a >> 23);
        if (e < 102)                            /* below 2^-25: rounds to zero */
            return sign;
        const uint32_t m = (a & 0x7fffffu) | 0x800000u;
        const int shift = 126 - e;              /* 14..24 */
        uint32_t q = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;                                /* may carry into the smallest normal: right */
        return (uint16_t)(sign | q);
    }
    /* Normal: rebias the exponent (127 -> 15), keep 10 mantissa bits, round
     * to nearest even on the 13 dropped; a carry out of the mantissa bumps
     * the exponent, up to infinity from 65520 on. */
    const uint32_t rem = a & 0x1fffu, half = 0x1000u;
    uint32_t h = (a - 0x38000000u) >> 13;
    if (rem > half || (rem == half && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float fp16_from_bits(uint16_t b)
{
    const uint32_t sign = (uint32_t)(b & 0x8000u) << 16, e = (b >> 10) & 0x1fu, m = b & 0x3ffu;
    uint32_t u;
    if (e == 0x1f)                              /* inf or NaN */
        u = sign | 0x7f800000u | (m << 13);
    else if (e != 0)                            /* normal */
        u = sign | ((e + 112) << 23) | (m << 13);
    else {                                      /* zero or subnormal: m·2^-24, exact in fp32 */
        float x = (float)m * 0x1p-24f;
        memcpy(&u, &x, 4);
        u |= sign;
    }
    float x;
    memcpy(&x, &u, 4);
    return x;
}

float fp16_round(float x)
{
    return fp16_from_bits(fp16_bits(x));
}

float dtype_round(enum dtype dt, float x)
{
    switch (dt) {
    case DT_BF16:
        return bf16_round(x);
    case DT_FP16:
        return fp16_round(x);
    case DT_FP32:
    case DT_COUNT:
        break;
    }
    return x;
}

#define FIELD(nm, member, flag, vals, hlp) { nm, offsetof(struct shape, member), flag, vals, hlp }
static const char *const gate_names[GATE_COUNT + 1] = { "none", "head", "key", NULL };
static const char *const variant_names[] = { "s6", "ssd", "conv", NULL };   /* enum ssm_variant */
/* enum sparse_pattern (reference/sparse.h), in its order. */
static const char *const pattern_names[] = { "random", "window", "sink", "strided", "mixed", NULL };
const struct shape_field shape_fields[SF_COUNT] = {
    [SF_VARIANT] = FIELD("variant", variant, 0, variant_names, "ssm: s6 (Mamba's selective scan), ssd (Mamba-2) or conv (long convolution)"),
    [SF_B]      = FIELD("B", B, 0, NULL, "batch size"),
    [SF_N]      = FIELD("N", N, 0, NULL, "query tokens (sequence length)"),
    [SF_NK]     = FIELD("Nk", Nk, 0, NULL, "key/value tokens (default N; decode: N=1, Nk=context)"),
    [SF_H]      = FIELD("H", H, 0, NULL, "query heads (recurrent families: query/key heads)"),
    [SF_HKV]    = FIELD("Hkv", Hkv, 0, NULL, "key/value heads, divides H (default H; GQA/MQA)"),
    [SF_D]      = FIELD("D", D, 0, NULL, "query/key head dimension"),
    [SF_DV]     = FIELD("Dv", Dv, 0, NULL, "value head dimension (default D)"),
    [SF_DM]     = FIELD("Dm", Dm, 0, NULL, "ssm s6: channels (d_inner, default 256)"),
    [SF_P]      = FIELD("P", P, 0, NULL, "ssm ssd: head dimension (default 64)"),
    [SF_DS]     = FIELD("Ds", Ds, 0, NULL, "ssm s6/ssd: state size (default 16 s6, 128 ssd)"),
    [SF_G]      = FIELD("G", G, 0, NULL, "ssm s6/ssd: groups sharing B and C, divides Dm or H (default 1)"),
    [SF_CAUSAL] = FIELD("causal", causal, 1, NULL, "causal mask, bottom-right aligned when Nk > N"),
    [SF_HV]     = FIELD("Hv", Hv, 0, NULL, "value (and output) heads, a multiple of H (default H)"),
    [SF_CHUNK]  = FIELD("chunk", chunk, 0, NULL, "chunk length of the chunked algorithms (default 64)"),
    [SF_GATE]   = FIELD("gate", gate, 0, gate_names, "decay gate: none, head (scalar per head) or key (GLA)"),
    [SF_Z]      = FIELD("z", z, 1, NULL, "ssm s6/ssd: output gate, y·silu(z)"),
    [SF_SKIP]   = FIELD("skip", skip, 1, NULL, "ssm ssd: skip term D·x (s6 always has it)"),
    [SF_STATE]  = FIELD("state", state, 1, NULL, "initial state in and final state out"),
    [SF_PATTERN] = FIELD("pattern", pattern, 0, pattern_names, "sparse: the block mask: random, window, sink (sink + local), strided or mixed (dense and streaming heads)"),
    [SF_DENSITY] = FIELD("density", density, 0, NULL, "sparse: percent of the causal key blocks kept (random); strided: 100/stride; mixed: percent of dense heads"),
    [SF_WINDOW] = FIELD("window", window, 0, NULL, "flash: sliding window, key j seen by query i iff j > i + Nk - N - W (needs causal); sparse: the local window in keys"),
    [SF_SINK]   = FIELD("sink", sink, 0, NULL, "flash, sparse: the first S keys, seen by every query besides its window"),
    [SF_BQ]     = FIELD("bq", bq, 0, NULL, "sparse: query block size of the block mask, 64 or 128 (default 128)"),
    [SF_BK]     = FIELD("bk", bk, 0, NULL, "sparse: key block size of the block mask, 64 or 128 (default 128)"),
};
#undef FIELD

int64_t shape_field_parse(int f, const char *word)
{
    const char *const *v = shape_fields[f].values;
    if (v) {
        for (int64_t i = 0; v[i]; i++)
            if (strcmp(v[i], word) == 0)
                return i;
        return -1;
    }
    char *end;
    errno = 0;
    long long x = strtoll(word, &end, 10);
    if (end == word || *end || errno || x < 0)
        return -1;
    return x;
}

void shape_field_format(int f, int64_t v, char *buf, size_t n)
{
    const char *const *names = shape_fields[f].values;
    int64_t count = 0;
    while (names && names[count])
        count++;
    if (names && v >= 0 && v < count)
        snprintf(buf, n, "%s", names[v]);
    else
        snprintf(buf, n, "%lld", (long long)v);
}

void shape_unset(struct shape *s)
{
    for (int f = 0; f < SF_COUNT; f++)
        *shape_field_ptr(s, f) = -1;
    s->dtype = DT_FP32;
}

int64_t tensor_numel(const struct tensor_spec *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dims[i];
    return n;
}

void tensor_spec_set(struct tensor_spec *t, const char *name, int ndim, int64_t a, int64_t b,
                     int64_t c, int64_t d)
{
    t->name = name;
    t->ndim = ndim;
    t->dims[0] = a, t->dims[1] = b, t->dims[2] = c, t->dims[3] = d;
}

unsigned family_fields(const struct family *f, const struct shape *s)
{
    return f->fields_of ? f->fields_of(s) : f->fields;
}

double shape_default_scale(const struct shape *s)
{
    return s->D > 0 ? 1.0 / sqrt((double)s->D) : 1.0;
}

int64_t family_out_rows(const struct io_specs *io)
{
    return io->out.dims[0] * io->out.dims[1];
}

int64_t family_row_elems(const struct io_specs *io)
{
    int64_t n = 1;
    for (int i = 2; i < io->out.ndim; i++)
        n *= io->out.dims[i];
    return n;
}

extern const struct family family_softmax;  /* reference/softmax.c */
extern const struct family family_flash;    /* reference/flash.c */
extern const struct family family_linear;   /* reference/linear.c */
extern const struct family family_gated;    /* reference/gated.c */
extern const struct family family_delta;    /* reference/delta.c */
extern const struct family family_ssm;      /* reference/ssm.c */
extern const struct family family_sparse;   /* reference/sparse.c */

const struct family *const families[] = {
    &family_softmax,
    &family_flash,
    &family_linear,
    &family_gated,
    &family_delta,
    &family_ssm,
    &family_sparse,
};
const int n_families = (int)(sizeof families / sizeof families[0]);

extern const struct family family_selftest;  /* harness/selftest.c, tests only */

const struct family *family_find(const char *name)
{
    for (int i = 0; i < n_families; i++)
        if (strcmp(families[i]->name, name) == 0)
            return families[i];
    /* Implementations that crash on purpose, for the isolation tests; they
     * exist only when a test asks (never listed, never in families[]). */
    const char *test = getenv(SB_TEST_IMPLS_ENV);
    if (test && strcmp(test, "1") == 0 && strcmp(name, family_selftest.name) == 0)
        return &family_selftest;
    return NULL;
}

/* Implementations added at run time (peers, plugins): a flat list of
 * (family, impl) in the order added, so a family's extras keep that order. */
static struct {
    const struct family *family;
    const struct impl *impl;
} extra[REGISTRY_MAX_EXTRA];
static int n_extra;

int family_n_impls(const struct family *f)
{
    int n = f->n_impls;
    for (int i = 0; i < n_extra; i++)
        n += extra[i].family == f;
    return n;
}

const struct impl *family_impl(const struct family *f, int i)
{
    if (i < f->n_impls)
        return i >= 0 ? &f->impls[i] : NULL;
    i -= f->n_impls;
    for (int k = 0; k < n_extra; k++)
        if (extra[k].family == f && i-- == 0)
            return extra[k].impl;
    return NULL;
}

const struct impl *impl_find(const struct family *f, const char *name)
{
    for (int i = 0, n = family_n_impls(f); i < n; i++)
        if (strcmp(family_impl(f, i)->name, name) == 0)
            return family_impl(f, i);
    return NULL;
}

int registry_add_impl(const struct family *f, const struct impl *im, char *err, size_t n)
{
    if (impl_find(f, im->name)) {
        snprintf(err, n, "%s/%s already exists", f->name, im->name);
        return -1;
    }
    if (n_extra == REGISTRY_MAX_EXTRA) {
        snprintf(err, n, "more than %d added implementations", REGISTRY_MAX_EXTRA);
        return -1;
    }
    extra[n_extra].family = f;
    extra[n_extra++].impl = im;
    return 0;
}

int impl_available(const struct impl *im, char *why, size_t n)
{
    if (n)
        why[0] = 0;
    return !im->available || im->available(im, why, n);
}

int shape_parse_words(const struct family *f, const char *words, struct shape *s, char *err,
                      size_t n)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", words);
    for (char *save, *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(w, '=');
        if (eq)
            *eq = 0;
        int fi = 0;
        while (fi < SF_COUNT && strcmp(shape_fields[fi].name, w) != 0)
            fi++;
        if (fi == SF_COUNT || !(f->fields & SF_BIT(fi))) {
            snprintf(err, n, "%s has no shape field '%s'", f->name, w);
            return -1;
        }
        int64_t v = shape_fields[fi].is_flag && !eq ? 1 : eq ? shape_field_parse(fi, eq + 1) : -1;
        if (v < 0) {
            snprintf(err, n, "%s: bad value '%s'", w, eq ? eq + 1 : "");
            return -1;
        }
        *shape_field_ptr(s, fi) = v;
    }
    f->defaults(s);
    return 0;
}

void case_string(const struct family *f, const char *impl, const struct shape *s,
                 char *buf, size_t n)
{
    size_t len = 0;
    const unsigned fields = family_fields(f, s);
    len += (size_t)snprintf(buf, n, "%s%s%s %s", f->name, impl ? "/" : "", impl ? impl : "",
                            dtype_table[s->dtype].name);
    for (int i = 0; i < SF_COUNT && len < n; i++) {
        if (!(fields & SF_BIT(i)))
            continue;
        int64_t v = shape_field_get(s, i);
        if (shape_fields[i].is_flag) {
            if (v)
                len += (size_t)snprintf(buf + len, n - len, " %s", shape_fields[i].name);
        } else {
            char val[32];
            shape_field_format(i, v, val, sizeof val);
            len += (size_t)snprintf(buf + len, n - len, " %s=%s", shape_fields[i].name, val);
        }
    }
}

void shape_json(const struct family *f, const struct shape *s, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "{");
    const unsigned fields = family_fields(f, s);
    for (int i = 0; i < SF_COUNT && len < n; i++) {
        if (!(fields & SF_BIT(i)))
            continue;
        char val[32];
        shape_field_format(i, shape_field_get(s, i), val, sizeof val);
        const char *quote = shape_fields[i].values ? "\"" : "";
        len += (size_t)snprintf(buf + len, n - len, "%s\"%s\":%s%s%s", len > 1 ? "," : "",
                                shape_fields[i].name, quote, val, quote);
    }
    if (len < n)
        snprintf(buf + len, n - len, "}");
}
