/*
 * npy.c — see npy.h. The .npy format (numpy.lib.format): "\x93NUMPY", major,
 * minor, the header length (uint16 LE in 1.0, uint32 LE in 2.0 and 3.0),
 * then a Python dict literal {'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), } padded with spaces and one final '\n' so that the data
 * starts on a multiple of 64 bytes, then the raw C-order data. We write 1.0;
 * we read 1.0, 2.0 and 3.0 (3.0 only allows UTF-8 in the header, which our
 * dtypes never need).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "npy.h"
#include "scan.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c writes host memory as little-endian .npy data"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64                /* the format's data alignment */
#define NPY_MAX_HEADER (1u << 20)   /* a 2.0 length beyond this is corruption, not a header */
#define NPY_CHUNK 4096              /* elements converted per read of a '<f8' or '|u1' file */
#define fail scan_fail
#define STR_(x) #x
#define STR(x) STR_(x)

/* "(2, 3)", "(5,)" or "()": the shape as NumPy prints it. */
void npy_dims_format(char *buf, size_t size, int ndim, const int64_t *dims)
{
    size_t len = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (len < size)
        snprintf(buf + len, size - len, "%s)", ndim == 1 ? "," : "");
}

/* ---- .npy writing ----------------------------------------------------------- */

int npy_write(const char *path, const char *descr, size_t itemsize, const void *data,
                     int ndim, const int64_t *dims, char *err, size_t n)
{
    if (ndim < 0 || ndim > SB_MAX_DIMS)
        return fail(err, n, "%s: %d dimensions (at most %d)", path, ndim, SB_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return fail(err, n, "%s: negative dimension %lld", path, (long long)dims[i]);
        if (dims[i] && numel > INT64_MAX / (int64_t)itemsize / dims[i])
            return fail(err, n, "%s: tensor too large", path);
        numel *= dims[i];
    }
    if (numel && !data)
        return fail(err, n, "%s: no data to write", path);

    char shape[128], dict[256];
    npy_dims_format(shape, sizeof shape, ndim, dims);
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       descr, shape);
    /* magic, 2 version bytes, 2 length bytes, dict, spaces, '\n' */
    size_t total = (NPY_MAGIC_LEN + 4 + (size_t)len + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t hlen = total - NPY_MAGIC_LEN - 4;
    unsigned char header[sizeof dict + 2 * NPY_ALIGN];
    memcpy(header, NPY_MAGIC, NPY_MAGIC_LEN);
    header[6] = 1, header[7] = 0;
    header[8] = (unsigned char)(hlen & 0xff), header[9] = (unsigned char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)len);
    memset(header + 10 + len, ' ', hlen - (size_t)len - 1);
    header[total - 1] = '\n';

    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(err, n, "%s: %s", path, strerror(errno));
    int ok = fwrite(header, 1, total, f) == total &&
             (numel == 0 || fwrite(data, itemsize, (size_t)numel, f) == (size_t)numel);
    int e = errno;
    if (fclose(f) != 0 && ok)
        ok = 0, e = errno;
    if (!ok) {
        remove(path);   /* no half-written file for NumPy to misread */
        return fail(err, n, "%s: write: %s", path, strerror(e));
    }
    return 0;
}

int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *dims, char *err,
                  size_t n)
{
    return npy_write(path, "<f4", sizeof *data, data, ndim, dims, err, n);
}

int npy_write_f64(const char *path, const double *data, int ndim, const int64_t *dims, char *err,
                  size_t n)
{
    return npy_write(path, "<f8", sizeof *data, data, ndim, dims, err, n);
}

int npy_write_u8(const char *path, const float *data, int ndim, const int64_t *dims, char *err,
                 size_t n)
{
    int64_t numel = 1;
    for (int i = 0; i < ndim && i < SB_MAX_DIMS; i++)
        numel *= dims[i] > 0 ? dims[i] : 0;
    unsigned char *u = malloc(numel ? (size_t)numel : 1);
    if (!u)
        return fail(err, n, "%s: out of memory for %lld bytes", path, (long long)numel);
    for (int64_t i = 0; i < numel; i++) {
        if (!(data[i] >= 0 && data[i] <= 255 && data[i] == (float)(int)data[i])) {
            free(u);
            return fail(err, n, "%s: element %lld is %g, not an integer in 0..255", path,
                        (long long)i, (double)data[i]);
        }
        u[i] = (unsigned char)data[i];
    }
    int rc = npy_write(path, "|u1", 1, u, ndim, dims, err, n);
    free(u);
    return rc;
}

int npy_write_i64(const char *path, const int64_t *data, int ndim, const int64_t *dims, char *err,
                  size_t n)
{
    return npy_write(path, "<i8", sizeof *data, data, ndim, dims, err, n);
}

/* ---- .npy reading ----------------------------------------------------------- */


/* A quoted string, 'x' or "x"; 0 on success. */
static int py_string(struct scan *s, char *out, size_t size)
{
    size_t len = 0;
    char quote = scan_eat(s, '\'') ? '\'' : scan_eat(s, '"') ? '"' : 0;
    if (!quote)
        return -1;
    while (s->p < s->end && *s->p != quote) {
        if (*s->p == '\\' && s->p + 1 < s->end)
            s->p++;
        if (len + 1 >= size)
            return -1;
        out[len++] = *s->p++;
    }
    if (s->p >= s->end)
        return -1;
    s->p++;
    out[len] = '\0';
    return 0;
}

/* True or False; 0 on success. */
static int py_bool(struct scan *s, int *value)
{
    scan_ws(s);
    size_t left = (size_t)(s->end - s->p);
    if (left >= 4 && memcmp(s->p, "True", 4) == 0)
        *value = 1, s->p += 4;
    else if (left >= 5 && memcmp(s->p, "False", 5) == 0)
        *value = 0, s->p += 5;
    else
        return -1;
    return s->p < s->end && (isalnum((unsigned char)*s->p) || *s->p == '_') ? -1 : 0;
}

/* A tuple of non-negative integers: (), (5,), (2, 3); Python 2's 3L too. */
static int py_shape(struct scan *s, struct npy_info *info)
{
    if (!scan_eat(s, '('))
        return scan_error(s, "expected a shape tuple");
    info->ndim = 0;
    while (!scan_eat(s, ')')) {
        if (info->ndim == SB_MAX_DIMS)
            return scan_error(s, "more than " STR(SB_MAX_DIMS) " dimensions");
        scan_ws(s);
        if (s->p >= s->end || !isdigit((unsigned char)*s->p))
            return scan_error(s, "expected a dimension");
        int64_t d = 0;
        for (; s->p < s->end && isdigit((unsigned char)*s->p); s->p++) {
            if (d > (INT64_MAX - 9) / 10)
                return scan_error(s, "dimension too large");
            d = d * 10 + (*s->p - '0');
        }
        if (s->p < s->end && *s->p == 'L')
            s->p++;
        info->dims[info->ndim++] = d;
        if (!scan_eat(s, ',')) {
            if (scan_eat(s, ')'))
                break;
            return scan_error(s, "expected ',' or ')' in the shape");
        }
    }
    return 0;
}

/* The header dict, keys in any order; fills info->ndim, dims and itemsize. */
static int npy_parse_header(const char *path, const char *text, size_t len, struct npy_info *info,
                            char *err, size_t n)
{
    struct scan s = { text, text, text + len, "expected '{'" };
    char key[32], descr[32] = "";
    int have = 0, fortran = 0;     /* have: 1 descr, 2 fortran_order, 4 shape */
    if (!scan_eat(&s, '{'))
        goto bad;
    while (!scan_eat(&s, '}')) {
        int rc, bit;
        if (py_string(&s, key, sizeof key) != 0 || !scan_eat(&s, ':')) {
            scan_error(&s, "expected a quoted key and ':'");
            goto bad;
        }
        s.why = "bad value";
        if (strcmp(key, "descr") == 0)
            rc = py_string(&s, descr, sizeof descr), bit = 1;
        else if (strcmp(key, "fortran_order") == 0)
            rc = py_bool(&s, &fortran), bit = 2;
        else if (strcmp(key, "shape") == 0)
            rc = py_shape(&s, info), bit = 4;
        else
            return fail(err, n, "%s: bad .npy header: unexpected key '%s'", path, key);
        if (rc != 0)
            goto bad;
        have |= bit;
        if (!scan_eat(&s, ',')) {
            if (scan_eat(&s, '}'))
                break;
            scan_error(&s, "expected ',' or '}'");
            goto bad;
        }
    }
    scan_ws(&s);
    if (s.p != s.end) {
        scan_error(&s, "text after the dict");
        goto bad;
    }
    if (have != 7)
        return fail(err, n, "%s: bad .npy header: no '%s'", path,
                    !(have & 1) ? "descr" : !(have & 2) ? "fortran_order" : "shape");
    if (fortran)
        return fail(err, n, "%s: fortran_order is True; only C-order arrays are supported", path);
    /* uint8 has no byte order: NumPy writes '|u1' (and reads '<u1' as it) */
    info->itemsize = strcmp(descr, "<f4") == 0 ? 4 : strcmp(descr, "<f8") == 0 ? 8
                   : strcmp(descr, "|u1") == 0 || strcmp(descr, "<u1") == 0 ? 1 : 0;
    if (!info->itemsize)
        return fail(err, n, "%s: %sdtype '%s' is not supported (want '<f4', '<f8' or '|u1')",
                    path, descr[0] == '>' ? "big-endian " : "", descr);
    return 0;
bad:
    return fail(err, n, "%s: bad .npy header: %s at byte %d of the dict", path, s.why,
                (int)(s.p - text));
}

/* Opens a .npy file and reads its header; on success *fp is at the data and
 * the file holds exactly numel*itemsize bytes of it. */
static int npy_open(const char *path, FILE **fp, struct npy_info *info, char *err, size_t n)
{
    memset(info, 0, sizeof *info);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, n, "%s: %s", path, strerror(errno));
    unsigned char pre[12];
    char *text = NULL;
    int rc = -1;
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        fail(err, n, "%s: not a .npy file (no \\x93NUMPY magic)", path);
        goto out;
    }
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) {
        fail(err, n, "%s: unsupported .npy version %d.%d", path, pre[6], pre[7]);
        goto out;
    }
    size_t lenbytes = pre[6] == 1 ? 2 : 4, hlen = 0;
    if (fread(pre + 8, 1, lenbytes, f) != lenbytes) {
        fail(err, n, "%s: truncated .npy header", path);
        goto out;
    }
    for (size_t i = 0; i < lenbytes; i++)
        hlen |= (size_t)pre[8 + i] << (8 * i);
    if (hlen > NPY_MAX_HEADER) {
        fail(err, n, "%s: bad .npy header: length %zu", path, hlen);
        goto out;
    }
    if (!(text = malloc(hlen + 1)) || fread(text, 1, hlen, f) != hlen) {
        fail(err, n, "%s: %s", path, text ? "truncated .npy header" : "out of memory");
        goto out;
    }
    if (npy_parse_header(path, text, hlen, info, err, n) != 0)
        goto out;

    info->numel = 1;
    for (int i = 0; i < info->ndim; i++) {
        if (info->dims[i] && info->numel > INT64_MAX / info->itemsize / info->dims[i]) {
            fail(err, n, "%s: tensor too large", path);
            goto out;
        }
        info->numel *= info->dims[i];
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fail(err, n, "%s: %s", path, strerror(errno));
        goto out;
    }
    int64_t want = info->numel * info->itemsize;
    int64_t have = (int64_t)st.st_size - (int64_t)(NPY_MAGIC_LEN + 2 + lenbytes + hlen);
    if (have != want) {
        fail(err, n, "%s: %s: the header's shape needs %lld bytes of data, the file has %lld",
             path, have < want ? "truncated" : "size mismatch", (long long)want, (long long)have);
        goto out;
    }
    rc = 0;
out:
    free(text);
    if (rc)
        fclose(f);
    else
        *fp = f;
    return rc;
}

/* Reads the data npy_open() left f at into out (numel floats), then closes f. */
static int npy_read_data(const char *path, FILE *f, const struct npy_info *info, float *out,
                         char *err, size_t n)
{
    size_t got = 0, want = (size_t)info->numel;
    if (info->itemsize == 4) {
        got = fread(out, 4, want, f);
    } else {    /* '<f8' or '|u1', a chunk at a time */
        union { double f8[NPY_CHUNK]; unsigned char u1[NPY_CHUNK]; } buf;
        while (got < want) {
            size_t k = want - got < NPY_CHUNK ? want - got : NPY_CHUNK;
            size_t r = fread(&buf, (size_t)info->itemsize, k, f);
            for (size_t i = 0; i < r; i++)
                out[got + i] = info->itemsize == 8 ? (float)buf.f8[i] : (float)buf.u1[i];
            got += r;
            if (r < k)
                break;
        }
    }
    int bad = got != want, e = ferror(f) ? errno : 0;
    fclose(f);
    if (bad)
        return fail(err, n, "%s: read: %s", path, e ? strerror(e) : "unexpected end of file");
    return 0;
}

/* npy_open + allocation + npy_read_data; when want is given, the file's
 * shape must equal it (checked before allocating). */
int npy_load(const char *path, const struct tensor_spec *want, float **data,
                    struct npy_info *info, char *err, size_t n)
{
    FILE *f = NULL;
    *data = NULL;
    if (npy_open(path, &f, info, err, n) != 0)
        return -1;
    if (want && (info->ndim != want->ndim ||
                 memcmp(info->dims, want->dims, (size_t)want->ndim * sizeof *want->dims) != 0)) {
        char got_s[128], want_s[128];
        npy_dims_format(got_s, sizeof got_s, info->ndim, info->dims);
        npy_dims_format(want_s, sizeof want_s, want->ndim, want->dims);
        fclose(f);
        return fail(err, n, "%s: shape %s does not match case.json %s", path, got_s, want_s);
    }
    float *buf = malloc(info->numel ? (size_t)info->numel * sizeof *buf : 1);
    if (!buf) {
        fclose(f);
        return fail(err, n, "%s: out of memory for %lld floats", path, (long long)info->numel);
    }
    if (npy_read_data(path, f, info, buf, err, n) != 0) {
        free(buf);
        return -1;
    }
    *data = buf;
    return 0;
}

int npy_read_f32(const char *path, float **data, int *ndim, int64_t dims[SB_MAX_DIMS], char *err,
                 size_t n)
{
    struct npy_info info;
    if (npy_load(path, NULL, data, &info, err, n) != 0)
        return -1;
    *ndim = info.ndim;
    memcpy(dims, info.dims, sizeof info.dims);
    return 0;
}
