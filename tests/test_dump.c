/*
 * test_dump.c — harness/dump.c: .npy files round trip bit for bit and follow
 * the format (64-byte aligned header, NumPy's shape spelling); damaged or
 * unsupported files are refused with one line naming the file; dump_write
 * then dump_load gives back the case exactly; a case.json with a missing key
 * or an input of the wrong shape is refused; the sparse family's uint8 block
 * mask round trips and an edited one is refused.
 *
 * Uses only the seqbench.h and dump.h API and the family TEST_FAMILY
 * (default "flash"), so it runs against the real registry. Works in a
 * scratch folder under /tmp, removed at the end.
 */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness/dump.h"
#include "check.h"

#ifndef TEST_FAMILY
#define TEST_FAMILY "flash"
#endif

static char scratch[64];    /* the scratch folder */

/* ---- helpers ---------------------------------------------------------------- */

static void scratch_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", scratch, name);
}

/* The whole file, malloc'd and NUL-terminated; its size in *len. NULL if unreadable. */
static unsigned char *file_read(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    unsigned char *buf = malloc((size_t)*len + 1);
    if (buf && fread(buf, 1, (size_t)*len, f) != (size_t)*len) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[*len] = 0;
    fclose(f);
    return buf;
}

static void file_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len)
        fprintf(stderr, "cannot write %s\n", path);
    if (f)
        fclose(f);
}

/* A .npy file written by hand: version major.0, the dict padded to 64. */
static void npy_handmade(const char *path, int major, const char *dict, const void *data,
                         size_t nbytes)
{
    size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
    size_t total = (pre + len + 1 + 63) / 64 * 64, hlen = total - pre;
    unsigned char *buf = calloc(1, total + nbytes);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + pre, dict, len);
    memset(buf + pre + len, ' ', hlen - len - 1);
    buf[total - 1] = '\n';
    if (nbytes)
        memcpy(buf + total, data, nbytes);
    file_write(path, buf, total + nbytes);
    free(buf);
}

/* NumPy's spelling of a shape: "(5,)", "(2, 3)", "()". */
static void shape_str(char *buf, size_t n, int ndim, const int64_t *dims)
{
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
    snprintf(buf + len, n - len, "%s)", ndim == 1 ? "," : "");
}

static int one_line(const char *err)
{
    return err[0] && !strchr(err, '\n');
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* ---- .npy ------------------------------------------------------------------- */

/* Values that must survive bit for bit: signed zero, NaN payloads, infinities,
 * subnormals, then pseudo-random numbers. */
static void fill_floats(float *x, int64_t n, uint64_t seed)
{
    static const uint32_t special[] = { 0x80000000u, 0x7fc01234u, 0xffa00001u, 0x7f800000u,
                                        0xff800000u, 0x00000001u, 0x7f7fffffu };
    for (int64_t i = 0; i < n; i++) {
        if (i < (int64_t)(sizeof special / sizeof special[0]))
            memcpy(&x[i], &special[i], 4);
        else
            x[i] = 100.0f * sb_rng_uniform(&seed);
    }
}

static void test_npy_roundtrip(void)
{
    static const struct { int ndim; int64_t dims[SB_MAX_DIMS]; } shapes[] = {
        { 1, { 5 } },       { 1, { 1 } },          { 2, { 2, 3 } },      { 3, { 4, 1, 7 } },
        { 4, { 2, 3, 4, 5 } }, { 2, { 0, 3 } },     { 0, { 0 } },
        { 4, { 123456789012, 98765, 43, 0 } },      /* a longer dict; no data */
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int ndim = shapes[s].ndim, got_ndim = -1;
        const int64_t *dims = shapes[s].dims;
        int64_t numel = 1, got_dims[SB_MAX_DIMS];
        for (int i = 0; i < ndim; i++)
            numel *= dims[i];
        float *x = malloc((size_t)(numel + 1) * sizeof *x), *y = NULL;
        fill_floats(x, numel, s + 1);
        char path[128], err[256] = "", want[128], text[256];
        snprintf(path, sizeof path, "%s/rt%zu.npy", scratch, s);
        CHECK(npy_write_f32(path, x, ndim, dims, err, sizeof err) == 0, "write %s: %s", path, err);

        long len = 0;
        unsigned char *raw = file_read(path, &len);
        CHECK(raw && len >= 64, "%s: not written", path);
        if (raw && len >= 64) {
            long hlen = raw[8] | raw[9] << 8;
            CHECK(memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0, "%s: magic and version 1.0", path);
            CHECK((10 + hlen) % 64 == 0, "%s: header of %ld bytes is not 64-aligned", path,
                  10 + hlen);
            CHECK(raw[10 + hlen - 1] == '\n', "%s: header does not end in a newline", path);
            CHECK(len == 10 + hlen + numel * 4, "%s: %ld bytes, want %lld", path, len,
                  (long long)(10 + hlen + numel * 4));
            shape_str(want, sizeof want, ndim, dims);
            snprintf(text, sizeof text, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                     want);
            CHECK(strncmp((char *)raw + 10, text, strlen(text)) == 0, "%s: header %.80s, want %s",
                  path, raw + 10, text);
        }
        free(raw);

        int rc = npy_read_f32(path, &y, &got_ndim, got_dims, err, sizeof err);
        CHECK(rc == 0, "read %s: %s", path, err);
        if (rc == 0) {
            CHECK(got_ndim == ndim, "%s: ndim %d, want %d", path, got_ndim, ndim);
            CHECK(memcmp(got_dims, dims, (size_t)ndim * sizeof *dims) == 0, "%s: dims differ",
                  path);
            CHECK(memcmp(x, y, (size_t)numel * sizeof *x) == 0, "%s: data differ", path);
        }
        free(x), free(y);
    }
}

static void test_npy_f64_i64(void)
{
    const double d[6] = { 0.5, -2.25, 1e-3, 3.0e38, -0.0, 1.0 / 3.0 };
    const int64_t i[4] = { 0, -1, INT64_C(1) << 40, INT64_MIN };
    const int64_t d_dims[2] = { 2, 3 }, i_dims[1] = { 4 };
    char path[128], err[256] = "";
    float *y = NULL;
    int ndim;
    int64_t dims[SB_MAX_DIMS];

    scratch_path(path, sizeof path, "f64.npy");
    CHECK(npy_write_f64(path, d, 2, d_dims, err, sizeof err) == 0, "write f64: %s", err);
    CHECK(npy_read_f32(path, &y, &ndim, dims, err, sizeof err) == 0, "read f64: %s", err);
    for (int k = 0; y && k < 6; k++)
        CHECK(memcmp(&y[k], &(float){ (float)d[k] }, 4) == 0, "f64[%d] read as %.9g, want %.9g", k,
              y[k], (float)d[k]);
    CHECK(y && ndim == 2 && dims[0] == 2 && dims[1] == 3, "f64: shape");
    free(y);

    scratch_path(path, sizeof path, "i64.npy");
    CHECK(npy_write_i64(path, i, 1, i_dims, err, sizeof err) == 0, "write i64: %s", err);
    long len = 0;
    unsigned char *raw = file_read(path, &len);
    CHECK(raw && len == 128 + 32 && strstr((char *)raw + 10, "'descr': '<i8'") &&
              strstr((char *)raw + 10, "'shape': (4,)") && memcmp(raw + 128, i, 32) == 0,
          "i64 file: header or data wrong");
    free(raw);
    y = (float *)1;
    CHECK(npy_read_f32(path, &y, &ndim, dims, err, sizeof err) != 0 && !y &&
              strstr(err, path) && strstr(err, "'<i8' is not supported") && one_line(err),
          "reading <i8 as float: %s", err);
}

/* Headers NumPy might write that we did not: keys in another order, double
 * quotes, no trailing comma, version 2.0, float64 data. */
static void test_npy_accepted(void)
{
    const float x[4] = { 1, -2, 3.5f, -0.25f };
    const double d[4] = { 1, -2, 3.5, -0.25 };
    static const struct { int major; const char *dict; int f64; } cases[] = {
        { 1, "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<f4\"}", 0 },
        { 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 0 },
        { 1, "{ 'fortran_order':False,'shape':(2,2,),'descr':'<f8' }", 1 },
        { 3, "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 2L), }", 1 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[128], err[256] = "";
        float *y = NULL;
        int ndim;
        int64_t dims[SB_MAX_DIMS];
        snprintf(path, sizeof path, "%s/ok%zu.npy", scratch, c);
        npy_handmade(path, cases[c].major, cases[c].dict, cases[c].f64 ? (const void *)d : x,
                     cases[c].f64 ? sizeof d : sizeof x);
        int rc = npy_read_f32(path, &y, &ndim, dims, err, sizeof err);
        CHECK(rc == 0 && ndim == 2 && dims[0] == 2 && dims[1] == 2 && memcmp(y, x, sizeof x) == 0,
              "%s (%s) not read back: %s", path, cases[c].dict, rc ? err : "data or shape");
        free(y);
    }
}

static void test_npy_rejected(void)
{
    const float x[6] = { 1, 2, 3, 4, 5, 6 };
    static const struct { const char *what, *dict, *want; int major; long cut; } cases[] = {
        { "corrupted magic", NULL, "not a .npy file", 1, 0 },
        { "unclosed shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }",
          "bad .npy header", 1, 0 },
        { "missing comma", "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}",
          "bad .npy header", 1, 0 },
        { "no shape", "{'descr': '<f4', 'fortran_order': False}", "no 'shape'", 1, 0 },
        { "unknown key", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
          "unexpected key 'x'", 1, 0 },
        { "big-endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
          "big-endian dtype '>f4'", 1, 0 },
        { "fortran order", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
          "fortran_order is True", 1, 0 },
        { "int32", "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
          "'<i4' is not supported", 1, 0 },
        { "five dims", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 3, 1), }",
          "more than 4 dimensions", 1, 0 },
        { "version 9", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
          "version 9.0", 9, 0 },
        { "truncated data", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
          "truncated", 1, 4 },
        { "extra data", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
          "size mismatch", 1, 0 },
        { "truncated header", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
          "truncated .npy header", 1, 6 * 4 + 40 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[128], err[256] = "";
        snprintf(path, sizeof path, "%s/bad%zu.npy", scratch, c);
        npy_handmade(path, cases[c].major, cases[c].dict ? cases[c].dict : "{}", x, sizeof x);
        long len = 0;
        unsigned char *raw = file_read(path, &len);
        if (!cases[c].dict)
            raw[5] = 'X';
        file_write(path, raw, (size_t)(len - cases[c].cut));
        free(raw);

        float *y = (float *)1;
        int ndim;
        int64_t dims[SB_MAX_DIMS];
        int rc = npy_read_f32(path, &y, &ndim, dims, err, sizeof err);
        CHECK(rc != 0 && !y, "%s: accepted", cases[c].what);
        CHECK(strstr(err, path) && strstr(err, cases[c].want) && one_line(err),
              "%s: message \"%s\" should name the file and say \"%s\"", cases[c].what, err,
              cases[c].want);
        if (rc == 0)
            free(y);
    }

    char path[128], err[256] = "";
    float *y;
    int ndim;
    int64_t dims[SB_MAX_DIMS];
    scratch_path(path, sizeof path, "absent.npy");
    CHECK(npy_read_f32(path, &y, &ndim, dims, err, sizeof err) != 0 && strstr(err, path) &&
              strstr(err, strerror(ENOENT)),
          "missing file: %s", err);
}

/* ---- dump_write / dump_load ------------------------------------------------- */

/* One dumped case, kept to compare what comes back. */
struct dumped {
    const struct family *f;
    struct shape s;
    struct io_specs io;
    float *in[SB_MAX_TENSORS];
    float *out;
    int64_t rows[3];
    double *ref;
    struct dump_case dc;
};

/* A small shape with every size different, so a swapped dimension shows. */
static int dumped_make(struct dumped *d, enum dtype t, const char *impl)
{
    static const int64_t sizes[SF_COUNT] = {
        [SF_B] = 2, [SF_N] = 3, [SF_NK] = 5, [SF_H] = 4,
        [SF_HKV] = 2, [SF_D] = 8, [SF_DV] = 6, [SF_CAUSAL] = 1,
    };
    char msg[256];
    memset(d, 0, sizeof *d);
    d->f = family_find(TEST_FAMILY);
    CHECK(d->f != NULL, "family %s not registered", TEST_FAMILY);
    if (!d->f)
        return -1;
    shape_unset(&d->s);
    d->s.dtype = t;
    for (int i = 0; i < SF_COUNT; i++)
        if (d->f->fields & SF_BIT(i))
            *shape_field_ptr(&d->s, i) = sizes[i];
    d->f->defaults(&d->s);
    CHECK(d->f->validate(&d->s, msg, sizeof msg) == 0, "test shape invalid: %s", msg);
    d->f->io(&d->s, &d->io);

    uint64_t rng = 42;
    for (int i = 0; i < d->io.n_in; i++) {
        int64_t n = tensor_numel(&d->io.in[i]);
        d->in[i] = malloc((size_t)n * sizeof(float));
        fill_floats(d->in[i], n, (uint64_t)i + 7);
        for (int64_t e = 0; e < n; e++)
            d->in[i][e] = dtype_round(t, d->in[i][e]);
    }
    int64_t out_n = tensor_numel(&d->io.out), elems = family_row_elems(&d->io);
    d->out = malloc((size_t)out_n * sizeof *d->out);
    fill_floats(d->out, out_n, 99);
    d->rows[0] = 0, d->rows[1] = 2, d->rows[2] = family_out_rows(&d->io) - 1;
    d->ref = malloc((size_t)(3 * elems) * sizeof *d->ref);
    for (int64_t e = 0; e < 3 * elems; e++)
        d->ref[e] = sb_rng_uniform(&rng) + 1e-12;     /* not a float: must stay float64 */
    d->dc = (struct dump_case){ .family = d->f, .impl = impl, .shape = &d->s,
                                .scale = 0.12345678901234567, .seed = 0xFEDCBA9876543210ull,
                                .io = &d->io, .in = (const float *const *)d->in, .out = d->out,
                                .ref_rows = d->rows, .n_ref_rows = 3, .sampled = 1, .ref = d->ref };
    return 0;
}

static void dumped_free(struct dumped *d)
{
    for (int i = 0; i < SB_MAX_TENSORS; i++)
        free(d->in[i]);
    free(d->out), free(d->ref);
}

/* lc holds exactly the case d dumped. */
static void check_loaded(const struct dumped *d, const struct loaded_case *lc, const char *impl,
                         const char *what)
{
    CHECK(strcmp(lc->family, d->f->name) == 0, "%s: family %s", what, lc->family);
    CHECK(strcmp(lc->impl, impl ? impl : "") == 0, "%s: impl \"%s\"", what, lc->impl);
    for (int i = 0; i < SF_COUNT; i++)
        CHECK(shape_field_get(&lc->shape, i) == shape_field_get(&d->s, i), "%s: %s=%lld, want %lld",
              what, shape_fields[i].name, (long long)shape_field_get(&lc->shape, i),
              (long long)shape_field_get(&d->s, i));
    CHECK(lc->shape.dtype == d->s.dtype, "%s: dtype %d", what, (int)lc->shape.dtype);
    CHECK(lc->seed == d->dc.seed, "%s: seed %llu", what, (unsigned long long)lc->seed);
    CHECK(memcmp(&lc->scale, &d->dc.scale, sizeof lc->scale) == 0, "%s: scale %.17g", what,
          lc->scale);
    CHECK(lc->n_in == d->io.n_in, "%s: %d inputs", what, lc->n_in);
    for (int i = 0; i < lc->n_in && i < d->io.n_in; i++)
        CHECK(memcmp(lc->in[i], d->in[i], (size_t)tensor_numel(&d->io.in[i]) * sizeof(float)) == 0,
              "%s: input %s differs", what, d->io.in[i].name);
}

static void test_dump_roundtrip(enum dtype t)
{
    struct dumped d;
    if (dumped_make(&d, t, "cpu") != 0)
        return;
    char dir[128], path[256], err[512] = "", label[512], want[600];
    snprintf(dir, sizeof dir, "%s/rt_%s/a/b", scratch, dtype_table[t].name);
    CHECK(dump_write(dir, &d.dc, err, sizeof err) == 0, "dump_write %s: %s", dir, err);

    /* out.npy, ref.npy (float64, [rows, H, Dv]), ref_rows.npy (int64) */
    float *y = NULL;
    int ndim;
    int64_t dims[SB_MAX_DIMS], elems = family_row_elems(&d.io);
    snprintf(path, sizeof path, "%s/out.npy", dir);
    CHECK(npy_read_f32(path, &y, &ndim, dims, err, sizeof err) == 0 && ndim == d.io.out.ndim &&
              memcmp(dims, d.io.out.dims, (size_t)ndim * sizeof *dims) == 0 &&
              memcmp(y, d.out, (size_t)tensor_numel(&d.io.out) * sizeof *y) == 0,
          "out.npy: %s", err);
    free(y);
    snprintf(path, sizeof path, "%s/ref.npy", dir);
    long len = 0;
    unsigned char *raw = file_read(path, &len);
    int64_t ref_dims[SB_MAX_DIMS] = { 3 };
    for (int i = 2; i < d.io.out.ndim; i++)
        ref_dims[i - 1] = d.io.out.dims[i];
    char shape[64], hdr[128];
    shape_str(shape, sizeof shape, d.io.out.ndim - 1, ref_dims);
    snprintf(hdr, sizeof hdr, "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", shape);
    CHECK(raw && strncmp((char *)raw + 10, hdr, strlen(hdr)) == 0 &&
              memcmp(raw + len - 3 * elems * 8, d.ref, (size_t)(3 * elems * 8)) == 0,
          "ref.npy: header %.70s, want %s, or data differ", raw ? (char *)raw + 10 : "?", hdr);
    free(raw);
    snprintf(path, sizeof path, "%s/ref_rows.npy", dir);
    raw = file_read(path, &len);
    CHECK(raw && strstr((char *)raw + 10, "'descr': '<i8'") &&
              strstr((char *)raw + 10, "'shape': (3,)") && len == 128 + 24 &&
              memcmp(raw + 128, d.rows, 24) == 0,
          "ref_rows.npy: header or data wrong");
    free(raw);

    /* case.json */
    snprintf(path, sizeof path, "%s/case.json", dir);
    char *json = (char *)file_read(path, &len);
    case_string(d.f, "cpu", &d.s, label, sizeof label);
    snprintf(want, sizeof want, "\"case\": \"%s\"", label);
    CHECK(json && strstr(json, want), "case.json lacks %s", want);
    snprintf(want, sizeof want, "\"dtype\": \"%s\"", dtype_table[t].name);
    CHECK(json && strstr(json, want), "case.json lacks %s", want);
    CHECK(json && strstr(json, "\"stored_dtype\": \"float32\"") &&
              strstr(json, "\"seed\": 18364758544493064720") && strstr(json, "\"sampled\": true"),
          "case.json:\n%s", json ? json : "(unreadable)");
    free(json);

    struct loaded_case lc;
    CHECK(dump_load(dir, &lc, err, sizeof err) == 0, "dump_load %s: %s", dir, err);
    check_loaded(&d, &lc, "cpu", dtype_table[t].name);
    loaded_case_free(&lc);

    /* An edited input that is not a value of the dtype comes back rounded,
     * as the device would see it; fp32 keeps it. */
    {
        const struct tensor_spec *q = &d.io.in[0];
        float keep = d.in[0][0];
        d.in[0][0] = 1.0f + 0x1p-12f;   /* bf16 keeps 7 fraction bits, fp16 10: both round to 1 */
        snprintf(path, sizeof path, "%s/%s.npy", dir, q->name);
        CHECK(npy_write_f32(path, d.in[0], q->ndim, q->dims, err, sizeof err) == 0, "%s", err);
        CHECK(dump_load(dir, &lc, err, sizeof err) == 0 &&
                  lc.in[0][0] == (t == DT_FP32 ? 1.0f + 0x1p-12f : 1.0f),
              "%s input rounded on load as the device would: %s", dtype_table[t].name, err);
        loaded_case_free(&lc);
        d.in[0][0] = keep;
    }

    /* Dumped again unsampled and not run: ref_rows.npy and out.npy go. */
    d.dc.sampled = 0, d.dc.out = NULL;
    CHECK(dump_write(dir, &d.dc, err, sizeof err) == 0, "dump_write again: %s", err);
    snprintf(path, sizeof path, "%s/ref_rows.npy", dir);
    CHECK(access(path, F_OK) != 0, "stale %s left behind", path);
    snprintf(path, sizeof path, "%s/out.npy", dir);
    CHECK(access(path, F_OK) != 0, "stale %s left behind", path);
    dumped_free(&d);
}

/* Names with quotes, backslashes and control characters survive case.json;
 * no impl is null. */
static void test_dump_escapes(void)
{
    static const char *const impls[] = { "a\"b\\c\nd\x01/e", NULL };
    for (int k = 0; k < 2; k++) {
        struct dumped d;
        if (dumped_make(&d, DT_FP32, impls[k]) != 0)
            return;
        char dir[128], path[256], err[512] = "";
        snprintf(dir, sizeof dir, "%s/esc%d", scratch, k);
        CHECK(dump_write(dir, &d.dc, err, sizeof err) == 0, "dump_write %s: %s", dir, err);
        snprintf(path, sizeof path, "%s/case.json", dir);
        long len;
        char *json = (char *)file_read(path, &len);
        const char *want = k == 0 ? "\"impl\": \"a\\\"b\\\\c\\nd\\u0001/e\"" : "\"impl\": null";
        CHECK(json && strstr(json, want), "case.json lacks %s:\n%s", want, json ? json : "");
        free(json);
        struct loaded_case lc;
        CHECK(dump_load(dir, &lc, err, sizeof err) == 0, "dump_load %s: %s", dir, err);
        check_loaded(&d, &lc, impls[k], "escaped impl");
        loaded_case_free(&lc);
        dumped_free(&d);
    }
}

/* Rewrites DIR/case.json from text with the line of "key" dropped (line
 * NULL) or replaced; key NULL: prepended after the '{'. */
static void case_edit(const char *dir, const char *text, const char *key, const char *line)
{
    char path[256], tag[64];
    snprintf(path, sizeof path, "%s/case.json", dir);
    snprintf(tag, sizeof tag, "  \"%s\":", key ? key : "");
    size_t n = strlen(text);
    char *out = malloc(n + (line ? strlen(line) : 0) + 2), *o = out;
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);
        int hit = key && strncmp(p, tag, strlen(tag)) == 0;
        if (!hit || line) {
            const char *src = hit ? line : p;
            size_t l = hit ? strlen(line) : len;
            memcpy(o, src, l), o += l;
            if (hit)
                *o++ = '\n';
        }
        if (!key && p == text)                          /* after "{\n" */
            memcpy(o, line, strlen(line)), o += strlen(line);
        p += len;
    }
    file_write(path, out, (size_t)(o - out));
    free(out);
}

static void test_dump_rejected(void)
{
    struct dumped d;
    if (dumped_make(&d, DT_FP32, "cpu") != 0)
        return;
    char dir[128], path[256], err[512] = "", want[512];
    snprintf(dir, sizeof dir, "%s/bad", scratch);
    CHECK(dump_write(dir, &d.dc, err, sizeof err) == 0, "dump_write %s: %s", dir, err);
    snprintf(path, sizeof path, "%s/case.json", dir);
    long len;
    char *text = (char *)file_read(path, &len);
    if (!text) {
        dumped_free(&d);
        return;
    }

    static const struct { const char *what, *key, *line, *want; } cases[] = {
        { "no N", "N", NULL, "case.json: missing \"N\"" },
        { "no seed", "seed", NULL, "case.json: missing \"seed\"" },
        { "no family", "family", NULL, "case.json: missing \"family\"" },
        { "no dtype", "dtype", NULL, "case.json: missing \"dtype\"" },
        { "unknown family", "family", "  \"family\": \"nope\",", "unknown family \"nope\"" },
        { "unknown dtype", "dtype", "  \"dtype\": \"fp64\",", "unknown dtype \"fp64\"" },
        { "string size", "B", "  \"B\": \"2\",", "\"B\" must be an integer" },
        { "fractional size", "H", "  \"H\": 4.0,", "\"H\" must be an integer" },
        { "negative seed", "seed", "  \"seed\": -1,", "\"seed\" must be an integer" },
        { "zero size", "D", "  \"D\": 0,", "invalid" },
        { "syntax", "sampled", "  \"sampled\": true,\n}", "case.json:" },
        { "bad literal", "sampled", "  \"sampled\": ture", "case.json:" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct loaded_case lc;
        case_edit(dir, text, cases[c].key, cases[c].line);
        int rc = dump_load(dir, &lc, err, sizeof err);
        CHECK(rc != 0 && strstr(err, cases[c].want) && one_line(err),
              "%s: rc %d, message \"%s\" should say \"%s\"", cases[c].what, rc, err, cases[c].want);
        CHECK(rc == 0 || (lc.n_in == 0 && !lc.in[0]), "%s: inputs left allocated", cases[c].what);
        if (rc == 0)
            loaded_case_free(&lc);
    }

    /* Keys it does not know are skipped, whatever their value; scale defaults. */
    struct loaded_case lc;
    case_edit(dir, text, NULL,
              "  \"extra\": {\"a\": [1, -2.5e3, null, {\"b\": \"\\u00e9\\ud83d\\ude00\"}]},\n");
    CHECK(dump_load(dir, &lc, err, sizeof err) == 0, "unknown keys: %s", err);
    check_loaded(&d, &lc, "cpu", "unknown keys");
    loaded_case_free(&lc);
    case_edit(dir, text, "scale", NULL);
    CHECK(dump_load(dir, &lc, err, sizeof err) == 0 && lc.scale == 1.0 / sqrt((double)d.s.D),
          "default scale: %s", err);
    loaded_case_free(&lc);
    snprintf(path, sizeof path, "%s/case.json", dir);
    file_write(path, text, (size_t)len);                /* the original back */

    /* The first input with its last dimension one too long. */
    const struct tensor_spec *q = &d.io.in[0];
    int64_t dims[SB_MAX_DIMS];
    memcpy(dims, q->dims, sizeof dims);
    dims[q->ndim - 1]++;
    float *big = calloc((size_t)tensor_numel(q) * 2, sizeof *big);
    snprintf(path, sizeof path, "%s/%s.npy", dir, q->name);
    CHECK(npy_write_f32(path, big, q->ndim, dims, err, sizeof err) == 0, "%s: %s", path, err);
    char got_s[64], want_s[64];
    shape_str(got_s, sizeof got_s, q->ndim, dims);
    shape_str(want_s, sizeof want_s, q->ndim, q->dims);
    snprintf(want, sizeof want, "%s: shape %s does not match case.json %s", path, got_s, want_s);
    CHECK(dump_load(dir, &lc, err, sizeof err) != 0 && strcmp(err, want) == 0,
          "wrong shape: \"%s\", want \"%s\"", err, want);
    CHECK(lc.n_in == 0 && !lc.in[0], "wrong shape: inputs left allocated");

    /* A missing input, after the first loaded. */
    CHECK(npy_write_f32(path, d.in[0], q->ndim, q->dims, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/%s.npy", dir, d.io.in[d.io.n_in - 1].name);
    remove(path);
    CHECK(dump_load(dir, &lc, err, sizeof err) != 0 && strstr(err, path) &&
              strstr(err, strerror(ENOENT)) && lc.n_in == 0 && !lc.in[0],
          "missing input: %s", err);

    /* No case.json at all; a folder that cannot be made. */
    snprintf(path, sizeof path, "%s/nothing", scratch);
    CHECK(dump_load(path, &lc, err, sizeof err) != 0 && strstr(err, "nothing/case.json") &&
              strstr(err, strerror(ENOENT)),
          "no case.json: %s", err);
    snprintf(path, sizeof path, "%s/f64.npy/sub", scratch);
    CHECK(dump_write(path, &d.dc, err, sizeof err) != 0 && strstr(err, "mkdir") &&
              strstr(err, strerror(ENOTDIR)) && one_line(err),
          "dump into a file: %s", err);
    free(big), free(text);
    dumped_free(&d);
}

/* The sparse family's block mask: written as uint8 ('|u1') with its
 * dimensions, read back exactly; a mask of the wrong shape, one that is
 * not the pattern's, or a value that is not 0..255 is refused in one line. */
static void test_dump_mask(void)
{
    const struct family *f = family_find("sparse");
    struct shape s;
    char err[512] = "", dir[128], path[256];
    shape_unset(&s);
    s.dtype = DT_BF16;
    CHECK(shape_parse_words(f, "B=2 N=300 Nk=400 H=3 D=64 density=40 bq=64 bk=128", &s, err,
                            sizeof err) == 0, "%s", err);
    struct io_specs io;
    float *in[SB_MAX_TENSORS] = { 0 };
    f->io(&s, &io);
    for (int i = 0; i < io.n_in; i++)
        in[i] = malloc((size_t)tensor_numel(&io.in[i]) * sizeof(float));
    f->inputs(&s, 5, in);
    struct dump_case dc = { .family = f, .impl = "cpu", .shape = &s, .scale = 0.125, .seed = 5,
                            .io = &io, .in = (const float *const *)in };
    snprintf(dir, sizeof dir, "%s/mask", scratch);
    CHECK(dump_write(dir, &dc, err, sizeof err) == 0, "dump_write: %s", err);

    const struct tensor_spec *m = &io.in[3];
    const int64_t n = tensor_numel(m);
    long len = 0;
    snprintf(path, sizeof path, "%s/block_mask.npy", dir);
    unsigned char *raw = file_read(path, &len);
    CHECK(m->ndim == 4 && m->dims[0] == 2 && m->dims[1] == 3 && m->dims[2] == 5 && m->dims[3] == 4,
          "block_mask [B, H, ceil(N/bq), ceil(Nk/bk)]");
    int same = raw && len == 128 + n;
    for (int64_t e = 0; same && e < n; e++)
        same = raw[128 + e] == (unsigned char)in[3][e];
    CHECK(raw && strstr((char *)raw + 10, "'descr': '|u1'") &&
              strstr((char *)raw + 10, "'shape': (2, 3, 5, 4)") && same,
          "block_mask.npy: uint8, its shape, one byte a block");
    free(raw);

    struct loaded_case lc;
    CHECK(dump_load(dir, &lc, err, sizeof err) == 0 && lc.n_in == 4 &&
              memcmp(lc.in[3], in[3], (size_t)n * sizeof(float)) == 0 &&
              memcmp(lc.in[0], in[0], (size_t)tensor_numel(&io.in[0]) * sizeof(float)) == 0,
          "the mask and q read back: %s", err);
    loaded_case_free(&lc);

    /* Another mask than the pattern's. */
    in[3][5] = 1 - in[3][5];
    CHECK(npy_write_u8(path, in[3], m->ndim, m->dims, err, sizeof err) == 0, "%s", err);
    CHECK(dump_load(dir, &lc, err, sizeof err) != 0 && strstr(err, "block_mask[0,0,1,1]") &&
              strstr(err, dir) && one_line(err),
          "an edited mask is refused: %s", err);
    in[3][5] = 1 - in[3][5];
    /* The wrong shape. */
    const int64_t small[4] = { 1, 3, 5, 4 };
    CHECK(npy_write_u8(path, in[3], 4, small, err, sizeof err) == 0, "%s", err);
    CHECK(dump_load(dir, &lc, err, sizeof err) != 0 && strstr(err, "(1, 3, 5, 4) does not match") &&
              one_line(err),
          "a mask of the wrong shape is refused: %s", err);
    /* Not an integer 0..255: not written. */
    const float bad[2] = { 1, 0.5f };
    const int64_t two[1] = { 2 };
    CHECK(npy_write_u8(path, bad, 1, two, err, sizeof err) != 0 && strstr(err, "element 1 is 0.5"),
          "npy_write_u8 refuses 0.5: %s", err);
    for (int i = 0; i < io.n_in; i++)
        free(in[i]);
}

int main(void)
{
    snprintf(scratch, sizeof scratch, "/tmp/test_dump.XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        return 1;
    }
    test_npy_roundtrip();
    test_npy_f64_i64();
    test_npy_accepted();
    test_npy_rejected();
    for (int t = 0; t < DT_COUNT; t++)
        test_dump_roundtrip((enum dtype)t);
    test_dump_escapes();
    test_dump_rejected();
    test_dump_mask();
    nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_done();
}
