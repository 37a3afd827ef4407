/*
 * test_suite.c — suite files: expansion order and counts, tokens, cpu.
 * overrides, defaults; each malformed input refused with file:line and the
 * reason; the shipped suites parse and expand on both devices.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suite.h"

static int expand(const char *text, int on_cpu, struct suite_case **cases, int *n, char *err)
{
    struct suite s;
    if (suite_parse(text, "t.suite", &s, err, 400) != 0)
        return -1;
    int rc = suite_expand(&s, on_cpu, cases, n, err, 400);
    suite_free(&s);
    return rc;
}

static void test_expand(void)
{
    const char *text =
        "# a comment\n"
        "name = demo   # trailing comment\n"
        "description = two sections\n"
        "budget = 60\ncpu.budget = 30\ncpu.max_gflop = 5\n"
        "\n[flash]\nimpls = cpu ref\ndtype = fp32 bf16\ntokens = 1024\nN = 256 512\n"
        "cpu.N = 128\nH = 2\n"
        "[softmax decode]\nN = 1\nNk = 4096\ncausal = 1\n";
    struct suite s;
    char err[400] = "";
    CHECK(suite_parse(text, "t.suite", &s, err, sizeof err) == 0, "parses: %s", err);
    CHECK(!strcmp(s.name, "demo") && s.budget_s == 60 && s.cpu_budget_s == 30 && s.cpu_max_gflop == 5,
          "suite keys");
    CHECK(s.n_sections == 2 && !strcmp(s.sections[1].label, "decode"), "sections and label");
    struct suite_case *c;
    int n;
    CHECK(suite_expand(&s, 0, &c, &n, err, sizeof err) == 0, "expands: %s", err);
    /* flash: 2 dtypes x 2 N x 2 impls = 8; softmax: every impl (2) = 2. */
    CHECK(n == 10, "10 cases, got %d", n);
    if (n == 10) {
        CHECK(!strcmp(c[0].impl->name, "cpu") && !strcmp(c[1].impl->name, "ref"), "impl innermost");
        CHECK(c[0].shape.dtype == DT_FP32 && c[4].shape.dtype == DT_BF16, "first key outermost");
        CHECK(c[0].shape.N == 256 && c[0].shape.B == 4 && c[2].shape.N == 512 && c[2].shape.B == 2,
              "tokens hold B*N");
        CHECK(c[0].shape.Nk == 256 && c[0].shape.Hkv == 2 && c[0].shape.Dv == c[0].shape.D,
              "defaults fill Nk, Hkv, Dv");
        CHECK(c[8].family == family_find("softmax") && c[8].shape.N == 1 && c[8].shape.Nk == 4096 &&
              c[8].shape.causal == 1, "decode section");
    }
    free(c);
    CHECK(suite_expand(&s, 1, &c, &n, err, sizeof err) == 0 && n == 6, "cpu: N overridden, %d cases", n);
    if (n == 6)
        CHECK(c[0].shape.N == 128 && c[0].shape.B == 8, "cpu.N applies on the CPU");
    free(c);
    suite_free(&s);
}

static void test_errors(void)
{
    static const struct { const char *text, *want; } bad[] = {
        { "[nope]\n", "t.suite:1: unknown family 'nope'" },
        { "\n[flash]\nimpls = fast\n", "t.suite:3: flash has no implementation 'fast'" },
        { "[flash]\ndtype = fp7\n", "t.suite:2: unknown dtype 'fp7'" },
        { "[flash]\nwidth = 3\n", "t.suite:2: unknown key 'width'" },
        { "[flash]\nN = 12x\n", "t.suite:2: N: '12x' is not an integer" },
        { "[flash]\nN = -4\n", "t.suite:2: N: -4 is negative" },
        { "[flash]\nN = 4\nN = 8\n", "t.suite:3: duplicate key 'N'" },
        { "[flash]\ntokens = 1000\nN = 3\n", "tokens=1000 is not a multiple of N=3" },
        { "[flash]\ntokens = 1024\nB = 2\nN = 4\n", "give tokens or B, not both" },
        { "[flash]\nN 4\n", "t.suite:2: expected 'key = values'" },
        { "[flash\n", "t.suite:1: unterminated section header" },
        { "H = 4\n[flash]\n", "t.suite:1: unknown suite key 'H'" },
        { "[flash]\nN =\n", "t.suite:2: 'N' has no values" },
        { "budget = soon\n", "t.suite:1: budget: 'soon' is not a number" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct suite_case *c = NULL;
        int n = 0;
        char err[400] = "";
        int rc = expand(bad[i].text, 0, &c, &n, err);
        CHECK(rc != 0 && strstr(err, bad[i].want), "'%s' -> want '%s', got '%s'", bad[i].text,
              bad[i].want, err);
        free(c);
    }
    struct suite s;
    char err[400];
    CHECK(suite_load("no-such-suite", NULL, &s, err, sizeof err) != 0 && strstr(err, "not found"),
          "missing suite: %s", err);
    CHECK(suite_load("/tmp", NULL, &s, err, sizeof err) != 0 && strstr(err, "directory"),
          "a directory: %s", err);
}

static void test_shipped(void)
{
    const char *names[] = { "smoke", "long-context" };
    for (int i = 0; i < 2; i++) {
        struct suite s;
        char err[400];
        int rc = suite_load(names[i], NULL, &s, err, sizeof err);
        CHECK(rc == 0, "suites/%s parses: %s", names[i], err);
        if (rc)
            continue;
        for (int cpu = 0; cpu < 2; cpu++) {
            struct suite_case *c;
            int n;
            CHECK(suite_expand(&s, cpu, &c, &n, err, sizeof err) == 0 && n > 0,
                  "suites/%s expands (cpu=%d): %s", names[i], cpu, err);
            int valid = 1;
            for (int k = 0; k < n; k++) {
                char msg[200];
                valid &= c[k].family->validate(&c[k].shape, msg, sizeof msg) == 0;
            }
            CHECK(valid, "suites/%s: every case is a valid shape", names[i]);
            free(c);
        }
        suite_free(&s);
    }
}

int main(void)
{
    test_expand();
    test_errors();
    test_shipped();
    return check_done();
}
