/*
 * test_suite.c — suite files: expansion order and counts, tokens -> B, cpu.
 * overrides, impls = *, defaults; each malformed input refused with
 * file:line and the reason; loading by path, by name from suites/ and from
 * the executable's ../suites; the shipped suites parse and expand.
 *
 * Relies only on the families softmax {ref, cuda-cublas, ...} and flash
 * {ref, cpu, cuda, ...}, and on defaults() setting Nk = N, Hkv = H, Dv = D.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "suite.h"

#define ERR_LEN 600

static int expand(const char *text, int on_cpu, struct suite_case **cases, int *n, char *err)
{
    struct suite s;
    if (suite_parse(text, "t.suite", &s, err, ERR_LEN) != 0)
        return -1;
    int rc = suite_expand(&s, on_cpu, cases, n, err, ERR_LEN);
    suite_free(&s);
    return rc;
}

static int defaults_hold(const struct suite_case *c)
{
    return c->shape.Nk == c->shape.N && c->shape.Hkv == c->shape.H && c->shape.Dv == c->shape.D;
}

/* Two sections, sweeps, impl innermost, first key outermost, tokens, defaults. */
static void test_expand(void)
{
    const char *text =
        "# a comment\n"
        "name = demo   # trailing comment\n"
        "description = two  sections, one # cut here\n"
        "\n"
        "budget = 60\ncpu.budget = 30\ncpu.max_gflop = 5.5\n"
        "\n"
        "[flash]            # comment after a header\n"
        "impls = cpu ref\n"
        "dtype = fp32 bf16\n"
        "   \t\n"
        "tokens = 1024\n"
        "N = 256 512 # two lengths\n"
        "H = 2\n"
        "D = 64\n"
        "[softmax decode]\r\n"
        "N = 1\r\n"
        "Nk = 4096\r\n"
        "causal = 1 0\r\n"
        "impls = ref\n";
    struct suite s;
    char err[ERR_LEN] = "";
    CHECK(suite_parse(text, "t.suite", &s, err, sizeof err) == 0, "parses: %s", err);
    CHECK(!strcmp(s.name, "demo"), "name '%s'", s.name);
    CHECK(!strcmp(s.description, "two  sections, one"), "description '%s'", s.description);
    CHECK(s.budget_s == 60 && s.cpu_budget_s == 30 && s.cpu_max_gflop == 5.5, "budgets");
    CHECK(!strcmp(s.path, "t.suite"), "path '%s'", s.path);
    CHECK(s.n_sections == 2, "2 sections, got %d", s.n_sections);
    if (s.n_sections == 2) {
        CHECK(!strcmp(s.sections[0].family, "flash") && !s.sections[0].label[0] &&
                  s.sections[0].line == 9, "first section");
        CHECK(!strcmp(s.sections[1].family, "softmax") && !strcmp(s.sections[1].label, "decode") &&
                  s.sections[1].line == 17, "second section and label");
        CHECK(s.sections[0].n_kv == 6 && s.sections[0].kv[3].n_values == 2 &&
                  !strcmp(s.sections[0].kv[3].key, "N") && s.sections[0].kv[3].line == 14 &&
                  !strcmp(s.sections[0].kv[3].values[1], "512"), "words kept as written");
    }
    struct suite_case *c;
    int n;
    CHECK(suite_expand(&s, 0, &c, &n, err, sizeof err) == 0, "expands: %s", err);
    /* flash: 2 dtypes x 2 N x 2 impls = 8; softmax: 2 causal x 1 impl = 2. */
    CHECK(n == 10, "10 cases, got %d", n);
    if (n == 10) {
        static const struct { const char *impl; enum dtype dt; int64_t N, B; } want[8] = {
            { "cpu", DT_FP32, 256, 4 }, { "ref", DT_FP32, 256, 4 },
            { "cpu", DT_FP32, 512, 2 }, { "ref", DT_FP32, 512, 2 },
            { "cpu", DT_BF16, 256, 4 }, { "ref", DT_BF16, 256, 4 },
            { "cpu", DT_BF16, 512, 2 }, { "ref", DT_BF16, 512, 2 },
        };
        for (int i = 0; i < 8; i++)
            CHECK(c[i].family == family_find("flash") && !strcmp(c[i].impl->name, want[i].impl) &&
                      c[i].shape.dtype == want[i].dt && c[i].shape.N == want[i].N &&
                      c[i].shape.B == want[i].B && c[i].shape.H == 2 && c[i].shape.D == 64 &&
                      c[i].line == 9 && defaults_hold(&c[i]),
                  "case %d: %s dtype %d N=%lld B=%lld", i, c[i].impl->name, c[i].shape.dtype,
                  (long long)c[i].shape.N, (long long)c[i].shape.B);
        for (int i = 8; i < 10; i++)
            CHECK(c[i].family == family_find("softmax") && !strcmp(c[i].impl->name, "ref") &&
                      c[i].shape.dtype == DT_FP32 && c[i].shape.N == 1 && c[i].shape.Nk == 4096 &&
                      c[i].shape.causal == (i == 8) && c[i].line == 17 &&
                      c[i].shape.Hkv == c[i].shape.H && c[i].shape.Dv == c[i].shape.D,
                  "decode case %d", i);
    }
    free(c);
    suite_free(&s);
    suite_free(&s);     /* twice is harmless */
    CHECK(s.n_sections == 0 && s.sections == NULL, "freed");
}

/* cpu.X replaces X (in X's place) only on the CPU; cpu.X alone sweeps in its own place. */
static void test_cpu_keys(void)
{
    const char *text =
        "[flash]\nimpls = ref\ntokens = 4096\ncpu.tokens = 512\nN = 1024 2048\nH = 4\n"
        "cpu.impls = cpu\ncpu.N = 128 256\ncpu.D = 32 16\n";
    struct suite_case *c = NULL;
    int n = 0;
    char err[ERR_LEN] = "";
    CHECK(expand(text, 0, &c, &n, err) == 0 && n == 2, "gpu: %d cases: %s", n, err);
    if (n == 2)
        CHECK(!strcmp(c[0].impl->name, "ref") && c[0].shape.N == 1024 && c[0].shape.B == 4 &&
                  c[1].shape.N == 2048 && c[1].shape.B == 2 && defaults_hold(&c[0]),
              "cpu. keys ignored off the CPU");
    free(c);
    CHECK(expand(text, 1, &c, &n, err) == 0 && n == 4, "cpu: %d cases: %s", n, err);
    if (n == 4) {
        /* Axes in order: tokens (cpu), N (cpu), D (cpu only): D turns fastest. */
        static const int64_t want[4][3] = { { 128, 4, 32 }, { 128, 4, 16 }, { 256, 2, 32 },
                                            { 256, 2, 16 } };
        for (int i = 0; i < 4; i++)
            CHECK(!strcmp(c[i].impl->name, "cpu") && c[i].shape.N == want[i][0] &&
                      c[i].shape.B == want[i][1] && c[i].shape.D == want[i][2] &&
                      c[i].shape.H == 4 && defaults_hold(&c[i]),
                  "cpu case %d: N=%lld B=%lld D=%lld", i, (long long)c[i].shape.N,
                  (long long)c[i].shape.B, (long long)c[i].shape.D);
    }
    free(c);
    /* The override keeps the plain key's place: N stays outermost. */
    const char *order = "[flash]\nimpls = ref\nN = 8 16\nH = 1 2\ncpu.N = 32 64\n";
    CHECK(expand(order, 1, &c, &n, err) == 0 && n == 4, "order: %d cases: %s", n, err);
    if (n == 4)
        CHECK(c[0].shape.N == 32 && c[1].shape.N == 32 && c[1].shape.H == 2 && c[2].shape.N == 64,
              "cpu.N swept where N is");
    free(c);
}

/* impls = * and no impls: every implementation that takes the dtype, in
 * table order (flash/cudnn takes no fp32); no dtype: fp32. */
static void test_all_impls(void)
{
    const struct family *f = family_find("flash");
    const char *texts[] = { "[flash]\nimpls = *\nN = 64\ndtype = bf16\n", "[flash]\nN = 64\n" };
    for (int t = 0; t < 2; t++) {
        const enum dtype dt = t ? DT_FP32 : DT_BF16;
        const struct impl *want[16];
        int n_want = 0;
        for (int i = 0; i < f->n_impls && n_want < 16; i++)
            if (f->impls[i].dtypes & DT_BIT(dt))
                want[n_want++] = &f->impls[i];
        struct suite_case *c = NULL;
        int n = 0;
        char err[ERR_LEN] = "";
        CHECK(expand(texts[t], 0, &c, &n, err) == 0 && n == n_want, "text %d: %d cases, want %d (%s)",
              t, n, n_want, err);
        for (int i = 0; i < n && n == n_want; i++)
            CHECK(c[i].impl == want[i] && c[i].shape.dtype == dt && c[i].shape.N == 64 &&
                      defaults_hold(&c[i]),
                  "text %d case %d: %s", t, i, c[i].impl->name);
        free(c);
    }
    /* A header alone is a valid (if dull) section; an empty text, an empty suite. */
    struct suite_case *c = NULL;
    int n = -1;
    char err[ERR_LEN] = "";
    CHECK(expand("[softmax]\n", 0, &c, &n, err) == 0 && n == family_find("softmax")->n_impls,
          "bare section: %d cases (%s)", n, err);
    free(c);
    CHECK(expand("# nothing\n\n", 0, &c, &n, err) == 0 && n == 0 && c == NULL, "empty suite");
    struct suite s;
    CHECK(suite_parse("[flash]\n", "dir/quick.suite", &s, err, sizeof err) == 0 &&
              !strcmp(s.name, "quick.suite") && s.budget_s == 0, "unnamed: the file name");
    suite_free(&s);
}

static void test_errors(void)
{
    static const struct { const char *text, *want; } bad[] = {
        { "[nope]\n", "t.suite:1: unknown family 'nope' (known: softmax, flash" },
        { "\n[flash]\nimpls = cpu fast\n", "t.suite:3: flash has no implementation 'fast' (known: ref, cpu" },
        { "[flash]\nimpls = * cpu\n", "t.suite:2: impls: '*'" },
        { "[flash]\ndtype = fp32 fp7\n", "t.suite:2: unknown dtype 'fp7' (known: fp32, bf16" },
        { "[flash]\nwidth = 3\n", "t.suite:2: unknown key 'width'" },
        { "[flash]\ncpu.width = 3\n", "t.suite:2: unknown key 'cpu.width'" },
        { "[flash]\nN = 12x\n", "t.suite:2: N: '12x' is not an integer" },
        { "[flash]\nD = 1.5\n", "t.suite:2: D: '1.5' is not an integer" },
        { "[flash]\nN = 99999999999999999999\n", "t.suite:2: N: '99999999999999999999' is not an integer" },
        { "[flash]\n\n\nN = 4 -4\n", "t.suite:4: N: -4 is negative" },
        { "[flash]\ncpu.N = x\n", "t.suite:2: cpu.N: 'x' is not an integer" }, /* refused off the CPU too */
        { "[flash]\nN = 4\n# N again\nN = 8\n", "t.suite:4: duplicate key 'N' (first at line 2)" },
        { "[flash]\ntokens = 1000\nN = 3\n", "t.suite:2: tokens=1000 is not a multiple of N=3" },
        { "[flash]\ntokens = 131072\nN = 1024 1000\n", "t.suite:2: tokens=131072 is not a multiple of N=1000" },
        { "[flash]\ntokens = 1024\n", "t.suite:2: tokens needs N" },
        { "[flash]\ntokens = 1024\nB = 2\nN = 4\n", "t.suite:3: give tokens or B, not both" },
        { "[flash]\nN 4\n", "t.suite:2: expected 'key = values' or '[family]'" },
        { "[flash]\n= 4\n", "t.suite:2: expected 'key = values' or '[family]'" },
        { "[flash\n", "t.suite:1: unterminated section header" },
        { "[flash] x\n", "t.suite:1: unexpected 'x' after ']'" },
        { "H = 4\n[flash]\n", "t.suite:1: unknown suite key 'H'" },
        { "[flash]\nN =   # nothing\n", "t.suite:2: 'N' has no values" },
        { "name =\n", "t.suite:1: 'name' has no values" },
        { "budget = soon\n", "t.suite:1: budget: 'soon' is not a number >= 0" },
        { "budget = -1\n", "t.suite:1: budget: '-1' is not a number >= 0" },
        { "cpu.budget = nan\n", "t.suite:1: cpu.budget: 'nan' is not a number >= 0" },
        { "budget = 1\nbudget = 2\n", "t.suite:2: duplicate key 'budget' (first at line 1)" },
        { "name = two words\n", "t.suite:1: name: 'two words' is more than one word" },
        /* 10^5 shapes x every impl: a sweep that large is refused, not run for days. */
        { "[flash]\nN = 1 2 3 4 5 6 7 8 9 10\nH = 1 2 3 4 5 6 7 8 9 10\nD = 1 2 3 4 5 6 7 8 9 10\n"
          "Dv = 1 2 3 4 5 6 7 8 9 10\nB = 1 2 3 4 5 6 7 8 9 10\n",
          "t.suite:1: the suite sweeps more than" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct suite_case *c = NULL;
        int n = -1;
        char err[ERR_LEN] = "";
        int rc = expand(bad[i].text, 0, &c, &n, err);
        CHECK(rc != 0 && strstr(err, bad[i].want) && c == NULL, "'%s' -> want '%s', got '%s'",
              bad[i].text, bad[i].want, err);
        free(c);
    }
    /* Only on the CPU do cpu.tokens and B meet. */
    const char *both = "[flash]\nB = 2\ncpu.tokens = 64\nN = 8\n";
    struct suite_case *c = NULL;
    int n;
    char err[ERR_LEN] = "";
    CHECK(expand(both, 0, &c, &n, err) == 0 && n > 0 && c[0].shape.B == 2, "B off the CPU: %s", err);
    free(c);
    c = NULL;
    CHECK(expand(both, 1, &c, &n, err) != 0 && strstr(err, "t.suite:3: give tokens or B, not both"),
          "cpu.tokens and B on the CPU: %s", err);
    free(c);
    /* A failed parse leaves nothing to free, and freeing it again is harmless. */
    struct suite s;
    CHECK(suite_parse("[flash]\nN = 1 2 3\n[nope]\n", "t.suite", &s, err, sizeof err) != 0 &&
              s.n_sections == 0 && s.sections == NULL, "failed parse frees");
    suite_free(&s);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static void test_load(void)
{
    char dir[] = "/tmp/test_suite.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    char sdir[64], bdir[64], file[96], cwd[PATH_MAX];
    snprintf(sdir, sizeof sdir, "%s/suites", dir);
    snprintf(bdir, sizeof bdir, "%s/bin", dir);
    snprintf(file, sizeof file, "%s/quick", sdir);
    CHECK(mkdir(sdir, 0755) == 0 && mkdir(bdir, 0755) == 0, "mkdir: %s", strerror(errno));
    CHECK(write_file(file, "name = quick\n[flash]\nimpls = ref\nN = 16 32\n") == 0, "write");
    struct suite s;
    char err[ERR_LEN] = "";

    /* By path. */
    CHECK(suite_load(file, NULL, &s, err, sizeof err) == 0 && !strcmp(s.name, "quick") &&
              !strcmp(s.path, file) && s.n_sections == 1, "by path: %s", err);
    suite_free(&s);
    /* By name, from the executable's ../suites. */
    CHECK(suite_load("quick", bdir, &s, err, sizeof err) == 0 && s.n_sections == 1 &&
              strstr(s.path, "/suites/quick"), "by name via exe_dir: %s", err);
    struct suite_case *c = NULL;
    int n = 0;
    CHECK(suite_expand(&s, 0, &c, &n, err, sizeof err) == 0 && n == 2 && c[1].shape.N == 32,
          "loaded suite expands: %s", err);
    free(c);
    suite_free(&s);
    /* By name, from suites/ under the current directory. */
    if (getcwd(cwd, sizeof cwd) && chdir(dir) == 0) {
        CHECK(suite_load("quick", NULL, &s, err, sizeof err) == 0 && !strcmp(s.path, "suites/quick"),
              "by name via cwd: %s (%s)", err, s.path);
        suite_free(&s);
        CHECK(chdir(cwd) == 0, "chdir back");
    } else {
        CHECK(0, "chdir %s: %s", dir, strerror(errno));
    }

    /* Not found: the message names both places looked in. */
    char want[160];
    snprintf(want, sizeof want, "suite 'no-such-suite' not found (looked in suites/no-such-suite and %s/suites/no-such-suite)",
             dir);
    CHECK(suite_load("no-such-suite", bdir, &s, err, sizeof err) != 0 && strstr(err, want),
          "missing with exe_dir: %s", err);
    CHECK(suite_load("no-such-suite", NULL, &s, err, sizeof err) != 0 &&
              strstr(err, "suite 'no-such-suite' not found (looked in suites/no-such-suite)"),
          "missing: %s", err);
    suite_free(&s);     /* a failed load leaves nothing to free */
    /* A directory, a missing path: the system's reason. */
    CHECK(suite_load(sdir, NULL, &s, err, sizeof err) != 0 && strstr(err, sdir) &&
              strstr(err, strerror(EISDIR)), "a directory: %s", err);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/absent", sdir);
    CHECK(suite_load(missing, NULL, &s, err, sizeof err) != 0 && strstr(err, missing) &&
              strstr(err, strerror(ENOENT)), "a missing path: %s", err);
    /* Errors inside a loaded file name the path it was read from. */
    CHECK(write_file(file, "[flash]\nN = 8\nN = 9\n") == 0, "rewrite");
    snprintf(want, sizeof want, "%s:3: duplicate key 'N'", file);
    CHECK(suite_load(file, NULL, &s, err, sizeof err) != 0 && strstr(err, want), "file:line: %s", err);

    unlink(file);
    rmdir(sdir);
    rmdir(bdir);
    rmdir(dir);
}

/* The shipped suites, when run from the repository root (make test does). */
static void test_shipped(void)
{
    const char *names[] = { "smoke", "long-context" };
    for (int i = 0; i < 2; i++) {
        struct suite s;
        char err[ERR_LEN], path[64];
        snprintf(path, sizeof path, "suites/%s", names[i]);
        if (access(path, R_OK) != 0) {
            check_skip("%s: not run from the repository root", path);
            continue;
        }
        int rc = suite_load(names[i], NULL, &s, err, sizeof err);
        CHECK(rc == 0, "%s parses: %s", path, err);
        if (rc)
            continue;
        for (int cpu = 0; cpu < 2; cpu++) {
            struct suite_case *c = NULL;
            int n = 0;
            CHECK(suite_expand(&s, cpu, &c, &n, err, sizeof err) == 0 && n > 0,
                  "%s expands (cpu=%d): %s", path, cpu, err);
            int valid = 1;
            for (int k = 0; k < n; k++) {
                char msg[200] = "";
                if (c[k].family->validate && c[k].family->validate(&c[k].shape, msg, sizeof msg)) {
                    valid = 0;
                    fprintf(stderr, "%s case %d: %s\n", path, k, msg);
                }
            }
            CHECK(valid, "%s: every case is a valid shape (cpu=%d)", path, cpu);
            free(c);
        }
        suite_free(&s);
    }
}

int main(void)
{
    test_expand();
    test_cpu_keys();
    test_all_impls();
    test_errors();
    test_load();
    test_shipped();
    return check_done();
}
