/*
 * test_shard.c — cost-balanced shards (harness/shard.h):
 *   1. the deal on planted costs: longest first to the least loaded shard,
 *      ties by case string, loads as dealt;
 *   2. the shipped suites (smoke, long-context; CPU and GPU cases) on
 *      every class, n = 2..8 shards: every case in exactly one shard, the
 *      union the suite, each shard's predicted cost (summed here from
 *      shard_case_cost, not read from the partition) within 1.2x of every
 *      other's, and the same partition whatever order the cases come in;
 *   3. the cost model: more work costs more, a case that cannot run costs
 *      the fixed part only, and classes are found by name (unknown: listed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "shard.h"
#include "suite.h"

static void test_deal(void)
{
    /* 5, 4, 3, 3, 3 into two: 5 | 4, then 3 to the 4 (7), 3 to the 5 (8),
     * 3 to the 7 (10): shard 1 = {5, 3}, shard 2 = {4, 3, 3}. */
    const double cost[] = { 3, 5, 3, 4, 3 };
    const char *const keys[] = { "c", "a", "d", "b", "e" };
    int shard[5];
    double load[2];
    CHECK(shard_partition(cost, keys, 5, 2, shard, load) == 0, "partition");
    CHECK(shard[1] == 1 && shard[3] == 2, "the two dearest start the two shards");
    CHECK(shard[0] == 2 && shard[2] == 1 && shard[4] == 2,
          "the 3s by case string: c to the least loaded (4), d to the 5, e to the 7 (%d %d %d)",
          shard[0], shard[2], shard[4]);
    CHECK(load[0] == 8 && load[1] == 10, "loads 8 and 10 (%g %g)", load[0], load[1]);
    /* More shards than cases: every case alone, the rest empty. */
    int one[2];
    double l3[3];
    CHECK(shard_partition(cost, keys, 2, 3, one, l3) == 0 && one[0] != one[1] && l3[2] == 0,
          "3 shards, 2 cases: one each and an empty shard");
    /* Costs that differ below a microsecond compare equal: ties by key. */
    const double close[] = { 1.0000000001, 1.0 };
    const char *const ck[] = { "b", "a" };
    int cs[2];
    shard_partition(close, ck, 2, 2, cs, NULL);
    CHECK(cs[1] == 1 && cs[0] == 2, "costs equal to the microsecond: the key decides");
}

/* The cases of suite `name` for a device, with their case strings. */
static int load_cases(const char *name, int on_cpu, struct suite_case **cases, char (**keys)[256])
{
    struct suite s;
    char err[600];
    int n = 0;
    if (suite_load(name, "bin", &s, err, sizeof err) != 0 ||
        suite_expand(&s, on_cpu, cases, &n, err, sizeof err) != 0) {
        CHECK(0, "load %s: %s", name, err);
        return 0;
    }
    suite_free(&s);
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (((*cases)[i].impl->device == DEV_CPU) == (on_cpu != 0))
            (*cases)[kept++] = (*cases)[i];
    *keys = malloc((size_t)kept * sizeof **keys);
    for (int i = 0; i < kept; i++)
        case_string((*cases)[i].family, (*cases)[i].impl->name, &(*cases)[i].shape, (*keys)[i],
                    sizeof (*keys)[i]);
    return kept;
}

static void test_suites(void)
{
    static const char *const suites[] = { "smoke", "long-context" };
    static const char *const classes[] = { "cpu", "h100", "a100", "l4", "b200" };
    for (int si = 0; si < 2; si++)
        for (int on_cpu = 0; on_cpu < 2; on_cpu++) {
            struct suite_case *cases = NULL;
            char (*keys)[256] = NULL;
            int n = load_cases(suites[si], on_cpu, &cases, &keys);
            CHECK(n > 10, "%s (%s): cases (%d)", suites[si], on_cpu ? "cpu" : "gpu", n);
            double *cost = malloc((size_t)n * sizeof *cost), *rcost = malloc((size_t)n * sizeof *rcost);
            const char **kp = malloc((size_t)n * sizeof *kp), **rkp = malloc((size_t)n * sizeof *rkp);
            int *shard = malloc((size_t)n * sizeof *shard), *rshard = malloc((size_t)n * sizeof *rshard);
            for (int ci = 0; ci < 5; ci++) {
                struct shard_class cls;
                char err[300];
                CHECK(shard_class_find(classes[ci], &cls, err, sizeof err) == 0, "class %s", classes[ci]);
                for (int i = 0; i < n; i++) {
                    cost[i] = shard_case_cost(&cls, cases[i].family, cases[i].impl, &cases[i].shape);
                    kp[i] = keys[i];
                    rcost[n - 1 - i] = cost[i], rkp[n - 1 - i] = keys[i];
                }
                for (int ns = 2; ns <= 8; ns++) {
                    double sum[8] = { 0 };
                    int count[8] = { 0 }, same_rev = 1, in_range = 1;
                    shard_partition(cost, kp, n, ns, shard, NULL);
                    shard_partition(rcost, rkp, n, ns, rshard, NULL);
                    for (int i = 0; i < n; i++) {
                        in_range &= shard[i] >= 1 && shard[i] <= ns;
                        if (shard[i] < 1 || shard[i] > ns)
                            continue;
                        sum[shard[i] - 1] += cost[i];
                        count[shard[i] - 1]++;
                        same_rev &= shard[i] == rshard[n - 1 - i];
                    }
                    double lo = sum[0], hi = sum[0];
                    int total = 0;
                    for (int j = 0; j < ns; j++) {
                        lo = fmin(lo, sum[j]), hi = fmax(hi, sum[j]);
                        total += count[j];
                    }
                    CHECK(in_range && total == n, "every case in exactly one of the %d shards", ns);
                    CHECK(hi <= 1.2 * lo, "%s (%s) on %s, %d shards: predicted %.2f to %.2f s",
                          suites[si], on_cpu ? "cpu" : "gpu", classes[ci], ns, lo, hi);
                    CHECK(same_rev, "%s on %s, %d shards: the same partition from the cases reversed",
                          suites[si], classes[ci], ns);
                }
            }
            free(cost), free(rcost), free(kp), free(rkp), free(shard), free(rshard);
            free(cases), free(keys);
        }
}

static void test_cost_model(void)
{
    struct shard_class h100, cpu;
    char err[300];
    CHECK(shard_class_find("h100", &h100, err, sizeof err) == 0 && h100.flops_tensor > h100.flops_fp32,
          "h100: tensor roof above the fp32 one");
    CHECK(shard_class_find("cpu", &cpu, err, sizeof err) == 0, "cpu");
    CHECK(shard_class_find("z80", &cpu, err, sizeof err) != 0 && strstr(err, "h100") &&
          strstr(err, "cpu"), "an unknown class lists the names: %s", err);
    const struct family *f = family_find("flash");
    const struct impl *im = impl_find(f, "cpu");
    struct shape small, big, bad;
    shape_unset(&small);
    shape_parse_words(f, "B=1 N=256 H=4 D=64", &small, err, sizeof err);
    shape_unset(&big);
    shape_parse_words(f, "B=1 N=4096 H=16 D=128 causal", &big, err, sizeof err);
    shape_unset(&bad);
    shape_parse_words(f, "B=1 N=64 H=3 Hkv=2 D=64", &bad, err, sizeof err);    /* 2 does not divide 3 */
    double cs = shard_case_cost(&cpu, f, im, &small), cb = shard_case_cost(&cpu, f, im, &big);
    CHECK(cb > cs && cs > 0, "more work costs more (%.3g > %.3g s)", cb, cs);
    CHECK(shard_case_cost(&h100, f, im, &big) < cb, "a faster class predicts less");
    CHECK(shard_case_cost(&cpu, f, im, &bad) < cs, "an invalid shape costs the fixed part only");
}

int main(void)
{
    test_deal();
    test_suites();
    test_cost_model();
    return check_done();
}
