/*
 * test_cudnn.c — flash/cudnn and the cuDNN loader (harness/cudnn_lib.h),
 * most of it without a GPU:
 *   1. the support rules and the choice of graph (unified or composite);
 *   2. the loader's failure paths, each with its exact reason: no file, a
 *      file that is no library, a library lacking an entry point, a cuDNN
 *      of another major version (the fake libraries are built here with the
 *      C compiler); $CUDNN_HOME searched first; flash/cudnn's setup turning
 *      them into "skipped: ..." reasons;
 *   3. the real cuDNN: seqbench's graphs (composite with the bottom-right
 *      and the top-left mask, GQA, MQA, Dv != D, decode; unified) built with
 *      every tensor and operation descriptor finalized by the library, the
 *      layouts read back from the descriptors; a planted bad shape fails
 *      with the call and file:line named;
 *   4. with a GPU, flash/cudnn run and validated against the reference.
 * Built without cuDNN's headers, only a skip is reported.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ops/flash/flash_cudnn.h"
#include "../ops/ops.h"
#include "check.h"
#include "gpu.h"
#include "runcase.h"

static struct shape mk(int64_t B, int64_t N, int64_t Nk, int64_t H, int64_t Hkv, int64_t D,
                       int64_t Dv, int64_t causal)
{
    struct shape s;
    shape_unset(&s);
    s.B = B, s.N = N, s.Nk = Nk, s.H = H, s.Hkv = Hkv, s.D = D, s.Dv = Dv, s.causal = causal;
    s.dtype = DT_BF16;
    return s;
}

/* ---- 1. rules -------------------------------------------------------------- */

static void test_rules(void)
{
    char why[256];
    const struct {
        struct shape s;
        int cc;
        const char *want;       /* a phrase of the reason, NULL: supported */
    } cases[] = {
        { mk(1, 128, 128, 4, 4, 128, 128, 1), 9, NULL },
        { mk(1, 1, 4096, 8, 1, 256, 256, 1), 9, NULL },                 /* decode d=256 on Hopper */
        { mk(1, 1, 4096, 8, 1, 256, 256, 1), 8, "decode (N=1) on compute capability 8.x" },
        { mk(1, 64, 64, 2, 2, 256, 256, 0), 8, NULL },                  /* prefill d=256 on Ampere */
        { mk(1, 64, 64, 2, 2, 60, 60, 0), 9, "multiples of 8" },
        { mk(1, 64, 64, 2, 2, 64, 260, 0), 9, "up to 256" },
        { mk(1, 64, 64, 2, 2, 64, 64, 0), 7, "compute capability 8.0 or newer" },
        { mk(1, 64, 32, 2, 2, 64, 64, 1), 9, "causal needs N <= Nk" },
        { mk(1, 64, 64, 2, 2, 64, 64, 0), 0, NULL },                    /* cc unknown: no arch rule */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *r = flash_cudnn_unsupported(&cases[i].s, cases[i].cc, why, sizeof why);
        if (cases[i].want)
            CHECK(r && strstr(r, cases[i].want), "case %zu: want '%s', got '%s'", i, cases[i].want,
                  r ? r : "(supported)");
        else
            CHECK(r == NULL, "case %zu: supported, got '%s'", i, r);
    }
    struct shape other = mk(1, 64, 64, 2, 2, 64, 64, 0);
    other.dtype = DT_FP32;
    CHECK(flash_cudnn_unsupported(&other, 9, why, sizeof why) && strstr(why, "not fp32"), "fp32: %s", why);
    other.dtype = DT_FP16;
    CHECK(!flash_cudnn_unsupported(&other, 9, why, sizeof why), "fp16 is supported: %s", why);

    /* Unified only where both versions have it and no mask is needed;
     * causal decode (N = 1) sees every key, so it needs none. */
    const int have_unified = SDPA_HEADERS_UNIFIED;
    CHECK(flash_cudnn_kind(&cases[0].s, 91900) == SDPA_COMPOSITE, "causal prefill is composite");
    CHECK(flash_cudnn_kind(&cases[1].s, 91900) == (have_unified ? SDPA_UNIFIED : SDPA_COMPOSITE),
          "causal decode needs no mask");
    CHECK(flash_cudnn_kind(&cases[3].s, 91900) == (have_unified ? SDPA_UNIFIED : SDPA_COMPOSITE),
          "non-causal on 9.19");
    CHECK(flash_cudnn_kind(&cases[3].s, 91300) == SDPA_COMPOSITE, "9.13.0 has no unified op");
    CHECK(flash_cudnn_kind(&cases[3].s, 91301) == (have_unified ? SDPA_UNIFIED : SDPA_COMPOSITE),
          "9.13.1 has it");
    CHECK(!flash_cudnn_masked(&cases[1].s) && flash_cudnn_masked(&cases[0].s), "masked iff causal and N > 1");
}

#ifdef SB_HAVE_CUDNN

/* ---- 2. the loader's failure paths ------------------------------------------ */

static char tmp[64];            /* the scratch folder */

/* DIR/libcudnn.so.9 under the scratch folder (DIR created). */
static void lib_path(char *buf, size_t n, const char *dir)
{
    snprintf(buf, n, "%s/%s", tmp, dir);
    mkdir(buf, 0700);
    snprintf(buf, n, "%s/%s/libcudnn.so.9", tmp, dir);
}

/* Builds a shared library from C source at path; 0 on success. */
static int build_so(const char *path, const char *source)
{
    char src[256], cmd[1024];
    snprintf(src, sizeof src, "%s/fake.c", tmp);
    FILE *f = fopen(src, "w");
    if (!f)
        return -1;
    fputs(source, f);
    fclose(f);
    const char *cc = getenv("CC") ? getenv("CC") : "cc";
    snprintf(cmd, sizeof cmd, "%s -shared -fPIC -o '%s' '%s' 2>/dev/null", cc, path, src);
    return system(cmd);
}

/* The entry points the loader needs, each a stub; cudnnGetVersion returns V. */
#define FAKE_LIB(V)                                                                        \
    "unsigned long cudnnGetVersion(void) { return " #V "; }\n"                            \
    "#define F(f) int f(void) { return 0; }\n"                                            \
    "F(cudnnGetErrorString) F(cudnnGetLastErrorString) F(cudnnCreate) F(cudnnDestroy)\n"  \
    "F(cudnnSetStream) F(cudnnBackendCreateDescriptor) F(cudnnBackendDestroyDescriptor)\n" \
    "F(cudnnBackendSetAttribute) F(cudnnBackendGetAttribute) F(cudnnBackendFinalize)\n"   \
    "F(cudnnBackendExecute)\n"

/* cudnn_lib_load under SEQBENCH_CUDNN=path fails with exactly want. */
static void expect_load(const char *path, const char *want)
{
    struct cudnn_lib lib;
    char why[600] = "";
    setenv("SEQBENCH_CUDNN", path, 1);
    int rc = cudnn_lib_load(&lib, why, sizeof why);
    CHECK(rc == -1 && strcmp(why, want) == 0, "load %s:\n  want '%s'\n  got  '%s'", path, want, why);
}

/* flash/cudnn's setup (no GPU) under SEQBENCH_CUDNN=path: skipped, with
 * the loader's reason. Through the flash family's table, so the row is
 * wired to this file's functions. */
static void expect_setup_skip(const char *path, const char *want)
{
    const struct impl *im = impl_find(family_find("flash"), "cudnn");
    struct shape s = mk(1, 64, 64, 2, 2, 64, 64, 1);
    struct io_specs io;
    family_find("flash")->io(&s, &io);
    struct op_ctx ctx = { .shape = &s, .io = &io, .scale = 0.125 };
    setenv("SEQBENCH_CUDNN", path, 1);
    int rc = im && im->setup ? im->setup(&ctx) : -1;
    CHECK(rc == SB_UNSUPPORTED && strcmp(ctx.err, want) == 0, "setup %s:\n  want '%s'\n  got  %d '%s'",
          path, want, rc, ctx.err);
}

static void test_loader_failures(void)
{
    char none[256], text[256], lacks[256], old[256], want[700];
    lib_path(none, sizeof none, "none");
    unlink(none);
    snprintf(want, sizeof want, "cuDNN not found (SEQBENCH_CUDNN=%s: No such file or directory)", none);
    expect_load(none, want);
    expect_setup_skip(none, want);

    lib_path(text, sizeof text, "text");
    FILE *f = fopen(text, "w");
    for (int i = 0; f && i < 8; i++)
        fputs("this is not a shared library, only text\n", f);
    if (f)
        fclose(f);
    struct cudnn_lib lib;
    char why[600];
    setenv("SEQBENCH_CUDNN", text, 1);
    snprintf(want, sizeof want, "cuDNN unusable (SEQBENCH_CUDNN=%s: ", text);
    CHECK(cudnn_lib_load(&lib, why, sizeof why) == -1 && strncmp(why, want, strlen(want)) == 0 &&
              strstr(why, "ELF"),
          "a text file: %s", why);

    lib_path(lacks, sizeof lacks, "lacks");
    lib_path(old, sizeof old, "old");
    if (build_so(lacks, "unsigned long cudnnGetVersion(void) { return 91900; }\n") != 0 ||
        build_so(old, FAKE_LIB(8907)) != 0) {
        check_skip("no C compiler to build the fake libraries ($CC or cc)");
        unsetenv("SEQBENCH_CUDNN");
        return;
    }
    snprintf(want, sizeof want, "cuDNN unusable (SEQBENCH_CUDNN=%s lacks cudnnGetErrorString)", lacks);
    expect_load(lacks, want);
    expect_setup_skip(lacks, want);
    snprintf(want, sizeof want,
             "cuDNN unusable (SEQBENCH_CUDNN=%s is cuDNN 8.9.7; bench was built for cuDNN 9)", old);
    expect_load(old, want);

    /* $CUDNN_HOME/lib comes first in the search, and the first file found
     * is the one reported, not passed over for the toolkit's. */
    char home[256], home_lib[300];
    snprintf(home, sizeof home, "%s/home", tmp);
    mkdir(home, 0700);
    lib_path(home_lib, sizeof home_lib, "home/lib");
    build_so(home_lib, FAKE_LIB(8907));
    unsetenv("SEQBENCH_CUDNN");
    setenv("CUDNN_HOME", home, 1);
    snprintf(want, sizeof want, "cuDNN unusable (%s is cuDNN 8.9.7; bench was built for cuDNN 9)", home_lib);
    CHECK(cudnn_lib_load(&lib, why, sizeof why) == -1 && strcmp(why, want) == 0,
          "CUDNN_HOME first:\n  want '%s'\n  got  '%s'", want, why);
    unsetenv("CUDNN_HOME");
    cudnn_version_string(91900, why, sizeof why);
    CHECK(strcmp(why, "9.19.0") == 0, "version 91900 reads %s", why);
    cudnn_version_string(8907, why, sizeof why);
    CHECK(strcmp(why, "8.9.7") == 0, "version 8907 reads %s", why);
}

/* ---- 3. the real library ------------------------------------------------------ */

/* The finalized tensor with this uid in g, or NULL. */
static cudnnBackendDescriptor_t find_tensor(const struct sdpa_graph *g, int64_t uid)
{
    for (int i = 0; i < g->n_descs; i++) {
        int64_t u = -1, n = 0;
        if (g->lib->cudnnBackendGetAttribute(g->descs[i], CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1,
                                             &n, &u) == CUDNN_STATUS_SUCCESS && u == uid)
            return g->descs[i];
    }
    return NULL;
}

/* The tensor uid's dims and strides, as the library holds them, are want;
 * its type is want_type. */
static void check_layout(const struct sdpa_graph *g, int64_t uid, const int64_t want[8],
                         cudnnDataType_t want_type, const char *what)
{
    cudnnBackendDescriptor_t t = find_tensor(g, uid);
    int64_t dim[4] = { 0 }, str[4] = { 0 }, n1 = 0, n2 = 0;
    cudnnDataType_t type = CUDNN_DATA_FLOAT;
    int ok = t && g->lib->cudnnBackendGetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, &n1,
                                                   dim) == CUDNN_STATUS_SUCCESS &&
             g->lib->cudnnBackendGetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, &n2,
                                              str) == CUDNN_STATUS_SUCCESS &&
             g->lib->cudnnBackendGetAttribute(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &n2,
                                              &type) == CUDNN_STATUS_SUCCESS;
    CHECK(ok && n1 == 4 && memcmp(dim, want, sizeof dim) == 0 && memcmp(str, want + 4, sizeof str) == 0,
          "%s uid %lld: dims {%lld,%lld,%lld,%lld} strides {%lld,%lld,%lld,%lld}, want {%lld,%lld,%lld,%lld} "
          "{%lld,%lld,%lld,%lld}", what, (long long)uid, (long long)dim[0], (long long)dim[1],
          (long long)dim[2], (long long)dim[3], (long long)str[0], (long long)str[1], (long long)str[2],
          (long long)str[3], (long long)want[0], (long long)want[1], (long long)want[2], (long long)want[3],
          (long long)want[4], (long long)want[5], (long long)want[6], (long long)want[7]);
    CHECK(ok && type == want_type, "%s uid %lld: type %d in memory, want %d", what, (long long)uid, (int)type,
          (int)want_type);
}

/* Builds s's graph of `kind`; checks its operation count, the token-major
 * layouts of q, k (transposed for composite), v and out, the scalars. */
static void check_graph(const struct cudnn_lib *lib, struct shape s, enum sdpa_kind kind, int ops,
                        const char *what)
{
    const int64_t B = s.B, N = s.N, Nk = s.Nk, H = s.H, Hkv = s.Hkv, D = s.D, Dv = s.Dv;
    struct sdpa_graph g;
    cudnnStatus_t st = sdpa_graph_build(&g, lib, &s, 1.0 / sqrt((double)D), kind);
    CHECK(st == CUDNN_STATUS_SUCCESS, "%s: %s", what, g.err);
    CHECK(g.n_ops == ops && g.kind == kind, "%s: %d operations (%s), want %d", what, g.n_ops,
          sdpa_kind_names[g.kind], ops);
    const int64_t q[8] = { B, H, N, D, N * H * D, D, H * D, 1 };
    const int64_t k[8] = { B, Hkv, Nk, D, Nk * Hkv * D, D, Hkv * D, 1 };
    const int64_t kt[8] = { B, Hkv, D, Nk, Nk * Hkv * D, D, 1, Hkv * D };
    const int64_t v[8] = { B, Hkv, Nk, Dv, Nk * Hkv * Dv, Dv, Hkv * Dv, 1 };
    const int64_t o[8] = { B, H, N, Dv, N * H * Dv, Dv, H * Dv, 1 };
    const cudnnDataType_t io = s.dtype == DT_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    check_layout(&g, SDPA_UID_Q, q, io, what);
    check_layout(&g, SDPA_UID_K, kind == SDPA_UNIFIED ? k : kt, io, what);
    check_layout(&g, SDPA_UID_V, v, io, what);
    check_layout(&g, SDPA_UID_O, o, io, what);
    CHECK(g.masked == flash_cudnn_masked(&s) && g.bottom_right == (g.masked && N != Nk) &&
              g.seq_q == N && g.seq_kv == Nk && g.scale == (float)(1.0 / sqrt((double)D)),
          "%s: masked %d bottom-right %d s_q %d s_kv %d scale %g", what, g.masked, g.bottom_right, g.seq_q,
          g.seq_kv, g.scale);
    CHECK((find_tensor(&g, SDPA_UID_SEQ_KV) != NULL) == g.bottom_right &&
              (find_tensor(&g, SDPA_UID_NEG_INF) != NULL) == g.masked,
          "%s: the by-value scalars are in the graph exactly when the mask needs them", what);
    sdpa_graph_destroy(&g);
    CHECK(g.n_descs == 0, "%s: every descriptor destroyed", what);
}

static void test_graphs(const struct cudnn_lib *lib)
{
    const int uni = lib->version >= SDPA_UNIFIED_MIN_VERSION && SDPA_HEADERS_UNIFIED;
    /* 14 ops: QKᵀ, scale, 2 index, add, sub, compare, select, max, sub, exp, sum, div, PV. */
    struct shape br = mk(2, 100, 333, 8, 2, 128, 128, 1);
    CHECK(flash_cudnn_kind(&br, lib->version) == SDPA_COMPOSITE, "bottom-right causal is composite");
    check_graph(lib, br, SDPA_COMPOSITE, 14, "causal bottom-right GQA");
    check_graph(lib, mk(1, 256, 256, 4, 4, 64, 64, 1), SDPA_COMPOSITE, 12, "causal top-left (N = Nk)");
    check_graph(lib, mk(1, 77, 130, 4, 1, 128, 64, 0), SDPA_COMPOSITE, 8, "non-causal MQA Dv != D");
    struct shape decode = mk(4, 1, 4099, 16, 2, 128, 128, 1);
    check_graph(lib, decode, SDPA_COMPOSITE, 8, "causal decode: no mask");
    struct shape half = br;
    half.dtype = DT_FP16;
    check_graph(lib, half, SDPA_COMPOSITE, 14, "fp16 causal bottom-right GQA");
    if (uni) {
        check_graph(lib, mk(1, 77, 130, 4, 1, 128, 64, 0), SDPA_UNIFIED, 1, "unified non-causal MQA Dv != D");
        check_graph(lib, decode, SDPA_UNIFIED, 1, "unified decode");
        decode.dtype = DT_FP16;
        check_graph(lib, decode, SDPA_UNIFIED, 1, "unified fp16 decode");
        CHECK(flash_cudnn_kind(&decode, lib->version) == SDPA_UNIFIED, "decode goes unified");
    } else {
        check_skip("cuDNN %zu or its headers (%d) predate the unified SDPA operation", lib->version,
                   CUDNN_VERSION);
    }

    /* A planted fault: 3 query heads over 2 kv heads (which the family's
     * validator refuses) is refused by the library too, and the message
     * names the call and where it was made. (Zero dims are no test: 9.19's
     * matmul finalize divides by them.) */
    struct sdpa_graph g;
    struct shape bad = mk(1, 64, 64, 3, 2, 64, 64, 0);
    cudnnStatus_t st = sdpa_graph_build(&g, lib, &bad, 1.0, SDPA_COMPOSITE);
    CHECK(st != CUDNN_STATUS_SUCCESS && strncmp(g.err, "cudnnBackend", 12) == 0 &&
              strstr(g.err, "CUDNN_STATUS_") && strstr(g.err, "flash_cudnn.c:"),
          "H=3 Hkv=2 fails with the call named: %s", g.err);
    sdpa_graph_destroy(&g);
}

/* ---- 4. on a GPU ---------------------------------------------------------------- */

static void test_gpu(void)
{
    struct shape half = mk(1, 300, 1000, 8, 2, 64, 64, 1);
    half.dtype = DT_FP16;
    const struct shape shapes[] = {
        half,                                   /* fp16, composite, bottom-right */
        mk(2, 100, 333, 8, 2, 128, 128, 1),     /* composite, bottom-right, GQA */
        mk(1, 256, 256, 4, 4, 64, 64, 1),       /* composite, top-left */
        mk(1, 77, 130, 4, 1, 128, 64, 0),       /* unified (9.13.1+), MQA, Dv != D */
        mk(4, 1, 4099, 16, 2, 128, 128, 1),     /* decode */
    };
    char err[256];
    struct gpu_ctx *gc = gpu_open(0, err, sizeof err);
    CHECK(gc != NULL, "gpu_open: %s", err);
    if (!gc)
        return;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct case_req q = { .family = family_find("flash"), .shape = shapes[i], .seed = 7,
                              .device = "cuda:0", .gpu = gc, .verify_only = 1 };
        q.impl = impl_find(q.family, "cudnn");
        q.mopts = (struct measure_opts)MEASURE_DEFAULTS;
        struct case_result r;
        run_case(&q, &r);
        CHECK(strcmp(r.status, "ok") == 0, "%s: %s %s (err %.3g)", r.case_str, r.status, r.error,
              r.rec.rel_err);
        CHECK(r.rec.impl_info && strstr(r.rec.impl_info, "\"cudnn\":\"9."), "%s: impl_info %s", r.case_str,
              r.rec.impl_info);
        if (flash_cudnn_masked(&shapes[i]))
            CHECK(r.rec.impl_info && strstr(r.rec.impl_info, "\"graph\":\"composite\""),
                  "%s: a mask is composite: %s", r.case_str, r.rec.impl_info);
        printf("%s: %s %s\n", r.case_str, r.status, r.rec.impl_info ? r.rec.impl_info : "");
        case_result_free(&r);
    }
    gpu_close(gc);
}

static void test_library(void)
{
    struct cudnn_lib lib;
    char why[600];
    unsetenv("SEQBENCH_CUDNN");
    if (cudnn_lib_load(&lib, why, sizeof why) != 0) {
        check_skip("no usable cuDNN on this machine: %s", why);
        return;
    }
    CHECK(lib.version / 10000 == CUDNN_MAJOR && strstr(lib.path, "libcudnn.so"), "loaded %s, version %zu",
          lib.path, lib.version);
    test_graphs(&lib);

    /* Past the loader, setup stops at the missing GPU. (After the failure
     * paths: cudnn_lib_get keeps the first library it loads.) */
    struct gpu_info info;
    if (gpu_probe(0, &info) == 0) {
        test_gpu();
        return;
    }
    check_skip("no GPU: flash/cudnn's graphs are built, never executed");
    expect_setup_skip("", "no CUDA device");
}

#endif /* SB_HAVE_CUDNN */

int main(void)
{
    test_rules();
#ifdef SB_HAVE_CUDNN
    snprintf(tmp, sizeof tmp, "/tmp/test_cudnn.XXXXXX");
    if (!mkdtemp(tmp)) {
        CHECK(0, "mkdtemp");
        return check_done();
    }
    test_loader_failures();
    test_library();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
#else
    check_skip("built without cuDNN's headers: only the support rules are tested");
#endif
    return check_done();
}
