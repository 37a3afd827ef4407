/*
 * compare.c — see compare.h. The statistics first (ranks, the exact U
 * distribution, the normal approximation), then the verdict, then the
 * matching of two result sets and the per-family geometric means.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "store.h"

const char *const verdict_names[V_COUNT] = {
    [V_BROKEN] = "broken", [V_SLOWER] = "slower", [V_NOISY] = "noisy", [V_SAME] = "same",
    [V_FASTER] = "faster", [V_UNRELIABLE] = "unreliable", [V_FIXED] = "fixed", [V_STATUS] = "status", [V_NOT_OK] = "not ok",
    [V_ONLY_BASE] = "only in base", [V_ONLY_NEW] = "only in new",
};

/* ---- Mann-Whitney U ----------------------------------------------------- */

struct ranked {
    double v;
    int from_x;
};

static int by_value(const void *a, const void *b)
{
    double x = ((const struct ranked *)a)->v, y = ((const struct ranked *)b)->v;
    return (x > y) - (x < y);
}

/* Ranks x and y together (ties get their average rank). Returns the rank
 * sum of x, and in *tie_term the sum over tie groups of t^3 - t. */
static double rank_sum_x(struct ranked *all, int n, double *tie_term)
{
    double r1 = 0;
    *tie_term = 0;
    qsort(all, (size_t)n, sizeof *all, by_value);
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && all[j].v == all[i].v)
            j++;
        double t = j - i, avg_rank = (i + 1 + j) / 2.0;    /* ranks i+1 .. j */
        for (int k = i; k < j; k++)
            r1 += all[k].from_x ? avg_rank : 0;
        *tie_term += t * t * t - t;
        i = j;
    }
    return r1;
}

/* P(U <= u) under the null for sample sizes n1, n2 with no ties, from the
 * number of arrangements with each U: f(i,j,u) = f(i-1,j,u-j) + f(i,j-1,u)
 * (the largest value is either one of the i, adding j to U, or one of the j).
 * Updated in place over j; row i of the table holds f(i, j, .). */
static double exact_cdf(int n1, int n2, int u)
{
    int width = n1 * n2 + 1;
    double *f = calloc((size_t)(n1 + 1) * (size_t)width, sizeof *f);
    if (!f)
        return NAN;
    for (int i = 0; i <= n1; i++)
        f[(size_t)i * width] = 1;                       /* j = 0: U = 0 only */
    for (int j = 1; j <= n2; j++)
        for (int i = 1; i <= n1; i++)
            for (int v = width - 1; v >= j; v--)
                f[(size_t)i * width + v] += f[(size_t)(i - 1) * width + v - j];
    double below = 0, total = 0;
    for (int v = 0; v < width; v++) {
        total += f[(size_t)n1 * width + v];
        below += v <= u ? f[(size_t)n1 * width + v] : 0;
    }
    free(f);
    return below / total;
}

int mwu_test(const double *x, int n1, const double *y, int n2, struct mwu_result *out)
{
    *out = (struct mwu_result){ .u = NAN, .p = NAN };
    if (n1 < 1 || n2 < 1)
        return 0;
    int n = n1 + n2;
    struct ranked *all = malloc((size_t)n * sizeof *all);
    if (!all)
        return -1;
    for (int i = 0; i < n1; i++)
        all[i] = (struct ranked){ x[i], 1 };
    for (int i = 0; i < n2; i++)
        all[n1 + i] = (struct ranked){ y[i], 0 };
    double ties, r1 = rank_sum_x(all, n, &ties);
    free(all);
    double u1 = r1 - n1 * (n1 + 1) / 2.0, u2 = (double)n1 * n2 - u1;
    out->u = u1;
    if (ties == 0 && n1 <= MWU_EXACT_MAX && n2 <= MWU_EXACT_MAX) {
        out->exact = 1;
        out->p = fmin(1.0, 2 * exact_cdf(n1, n2, (int)fmin(u1, u2)));   /* symmetric */
        return isnan(out->p) ? -1 : 0;
    }
    double mu = n1 * (double)n2 / 2;
    double var = n1 * (double)n2 / 12 * ((n + 1) - ties / ((double)n * (n - 1)));
    if (var <= 0) {                     /* every value the same: no evidence at all */
        out->p = 1;
        return 0;
    }
    double z = (fmax(u1, u2) - mu - 0.5) / sqrt(var);
    out->p = fmin(1.0, erfc(z / sqrt(2)));   /* 2 * P(Z > z) */
    return 0;
}

/* ---- verdicts ------------------------------------------------------------ */

/* A ratio on the threshold counts as inside it; 1.03 - 1 is 0.030000000000000027
 * in doubles, so the comparison allows for rounding. */
#define THRESHOLD_SLACK 1e-12

enum verdict verdict_of(double ratio, double p, double threshold, double alpha)
{
    if (fabs(ratio - 1) <= threshold + THRESHOLD_SLACK)
        return V_SAME;
    int significant = !isnan(p) && p < alpha;
    if (!significant || isnan(ratio))
        return V_NOISY;
    return ratio > 1 ? V_SLOWER : V_FASTER;
}

/* The status's class: "ok", "mismatch", "oom", "skipped", "error". */
static size_t status_class_len(const char *status)
{
    const char *colon = strchr(status, ':');
    return colon ? (size_t)(colon - status) : strlen(status);
}

/* Matched and timed: "ok" or "ok: <why it is less reliable>". */
static int is_ok(const struct rs_result *r)
{
    return status_is_ok(r->status);
}

static int is_failure(const struct rs_result *r)
{
    return strcmp(r->status, "mismatch") == 0 || strncmp(r->status, "error", 5) == 0;
}

/* Fills c for a case present on both sides. */
static int judge_pair(struct cmp_case *c, double threshold, double alpha)
{
    const struct rs_result *b = c->base, *w = c->new;
    c->ratio = NAN;
    if (is_ok(b) && is_ok(w)) {
        c->ratio = w->median_ms / b->median_ms;
        if (mwu_test(w->samples, w->n_samples, b->samples, b->n_samples, &c->mwu) != 0)
            return -1;
        c->v = status_is_reliable(b->status) && status_is_reliable(w->status)
                   ? verdict_of(c->ratio, c->mwu.p, threshold, alpha) : V_UNRELIABLE;
    } else if (is_ok(b)) {
        c->v = is_failure(w) ? V_BROKEN : V_STATUS;
    } else if (is_ok(w)) {
        c->v = V_FIXED;
    } else {
        size_t lb = status_class_len(b->status), lw = status_class_len(w->status);
        c->v = lb == lw && strncmp(b->status, w->status, lb) == 0 ? V_NOT_OK : V_STATUS;
    }
    return 0;
}

/* ---- matching and geomeans ------------------------------------------------ */

static struct cmp_family *family_slot(struct comparison *cmp, const char *family)
{
    for (int i = 0; i < cmp->n_fam; i++)
        if (strcmp(cmp->fam[i].family, family) == 0)
            return &cmp->fam[i];
    struct cmp_family *f = &cmp->fam[cmp->n_fam++];
    f->family = family;
    return f;
}

static int by_family(const void *a, const void *b)
{
    return strcmp(((const struct cmp_family *)a)->family, ((const struct cmp_family *)b)->family);
}

/* Counts verdicts and takes the geometric means, per family and over all
 * (kept in fam[n_fam], past the sorted families). The sum of logs is kept in
 * geomean until the end. */
static void summarise(struct comparison *cmp)
{
    struct cmp_family all = { .family = "all" };
    for (int i = 0; i < cmp->n; i++) {
        const struct cmp_case *c = &cmp->c[i];
        struct cmp_family *f = family_slot(cmp, c->family);
        f->count[c->v]++, all.count[c->v]++;
        cmp->n_pairs += c->base && c->new;
        cmp->n_across_machines += c->across_machines;
        cmp->n_across_inputs += c->across_inputs;
        cmp->n_regressions += (c->v == V_SLOWER || c->v == V_BROKEN) &&
                              (!c->across_machines || cmp->judge_across_machines);
        if (c->v != V_UNRELIABLE && isfinite(c->ratio) && c->ratio > 0) {
            f->n_ratios++, all.n_ratios++;
            f->geomean += log(c->ratio), all.geomean += log(c->ratio);
        }
    }
    cmp->fam[cmp->n_fam] = all;
    for (int i = 0; i <= cmp->n_fam; i++) {
        struct cmp_family *f = &cmp->fam[i];
        f->geomean = f->n_ratios ? exp(f->geomean / f->n_ratios) : NAN;
    }
    qsort(cmp->fam, (size_t)cmp->n_fam, sizeof *cmp->fam, by_family);
}

/* Marks a case present on both sides that pairs two machines or two input
 * generators. */
static void mark_across(struct cmp_case *c, const struct resultset *base,
                        const struct resultset *new)
{
    const struct rs_run *b = &base->runs[c->base->run], *w = &new->runs[c->new->run];
    int vb = rs_input_version(b), vw = rs_input_version(w);
    c->across_machines = !rs_same_machine(b, w);
    c->across_inputs = vb > 0 && vw > 0 && vb != vw;
}

int compare_results(const struct resultset *base, const struct resultset *new, double threshold,
                    double alpha, int across_machines, struct comparison *cmp)
{
    *cmp = (struct comparison){ .threshold = threshold, .alpha = alpha,
                                .judge_across_machines = across_machines };
    size_t most = (size_t)base->n + (size_t)new->n;
    cmp->c = calloc(most + 1, sizeof *cmp->c);
    cmp->fam = calloc(most + 1, sizeof *cmp->fam);     /* the families, then "all" */
    if (!cmp->c || !cmp->fam)
        goto fail;
    for (int i = 0, j = 0; i < base->n || j < new->n;) {
        int order = i == base->n ? 1 : j == new->n ? -1
                  : strcmp(base->r[i].case_str, new->r[j].case_str);
        struct cmp_case *c = &cmp->c[cmp->n++];
        c->base = order <= 0 ? &base->r[i++] : NULL;
        c->new = order >= 0 ? &new->r[j++] : NULL;
        c->case_str = c->base ? c->base->case_str : c->new->case_str;
        c->family = c->base ? c->base->family : c->new->family;
        c->ratio = NAN;
        c->mwu = (struct mwu_result){ .u = NAN, .p = NAN };
        c->v = !c->new ? V_ONLY_BASE : !c->base ? V_ONLY_NEW : V_NOT_OK;
        if (c->base && c->new) {
            mark_across(c, base, new);
            if (judge_pair(c, threshold, alpha) != 0)
                goto fail;
        }
    }
    summarise(cmp);
    return 0;
fail:
    comparison_free(cmp);
    return -1;
}

int comparison_regressed(const struct comparison *cmp)
{
    return cmp->n_regressions > 0;
}

void comparison_free(struct comparison *cmp)
{
    free(cmp->c);
    free(cmp->fam);
    *cmp = (struct comparison){ 0 };
}
