/*
 * compare.h — two result sets, case by case: the Mann-Whitney U test over
 * the stored samples, the verdict rule, geometric means per family.
 *
 * The rule (also printed by `bench compare --help` and in its output):
 *   ratio = median(new) / median(base), p = two-sided Mann-Whitney U;
 *   slower  p < alpha and ratio > 1 + threshold      (a regression)
 *   faster  p < alpha and ratio < 1 - threshold
 *   same    |ratio - 1| <= threshold, whatever p says
 *   noisy   beyond the threshold, but p >= alpha (or no samples to test)
 * for two timed results of which one is "ok: few samples ..." or
 * "ok: noisy ..." (measure.h), the ratio and p are shown but not judged:
 *   unreliable                                         (never a regression)
 * and, for cases whose status differs:
 *   broken  ok in base, mismatch or error in new     (a regression)
 *   fixed   not ok in base, ok in new
 *   status  any other change of status class (ok -> skipped, oom, ...)
 *
 * Two results from different machines (rs_same_machine: host, CPU, GPU)
 * compare two machines, not two versions: their verdicts are computed the
 * same way but are not regressions unless the caller asks for that
 * (across_machines), since a slower GPU is not a slower commit. Two
 * results made from different input generators (SB_INPUT_VERSION) timed
 * different inputs; compare counts such pairs so the caller can refuse.
 */
#ifndef SEQBENCH_COMPARE_H
#define SEQBENCH_COMPARE_H

#include "resultset.h"

/* Exact p-values when neither sample is larger than this and there are no
 * ties: the exact null distribution's table is (n1+1)·(n1·n2+1) doubles, and
 * every count (at most C(40,20) ≈ 1.4e11) is exact in a double. */
#define MWU_EXACT_MAX 20

struct mwu_result {
    double u;               /* U of the first sample (scipy's U1) */
    double p;               /* two-sided; NAN when a sample is empty */
    int exact;              /* 1: exact distribution, 0: normal approximation */
};

/* Two-sided Mann-Whitney U test of x[0..n1) against y[0..n2): exact when
 * there are no ties and n1, n2 <= MWU_EXACT_MAX, otherwise the normal
 * approximation with the tie correction of the variance and a continuity
 * correction of 0.5 (as scipy.stats.mannwhitneyu, method "asymptotic").
 * All samples equal: p = 1. Returns 0, or -1 when out of memory. */
int mwu_test(const double *x, int n1, const double *y, int n2, struct mwu_result *out);

enum verdict {
    V_BROKEN, V_SLOWER, V_NOISY, V_SAME, V_FASTER, V_UNRELIABLE, V_FIXED, V_STATUS,
    V_NOT_OK,               /* neither side ok, same status class: not compared */
    V_ONLY_BASE, V_ONLY_NEW,
    V_COUNT
};
extern const char *const verdict_names[V_COUNT];

/* The timing verdict for two ok results (the rule above). p may be NAN. */
enum verdict verdict_of(double ratio, double p, double threshold, double alpha);

struct cmp_case {
    const char *case_str, *family;
    const struct rs_result *base, *new;     /* NULL on a side that lacks the case */
    double ratio;                           /* NAN unless both ok with medians */
    struct mwu_result mwu;
    enum verdict v;
    int across_machines;                    /* both sides, from different machines */
    int across_inputs;                      /* both sides, from different known input versions */
};

struct cmp_family {
    const char *family;
    int count[V_COUNT];
    int n_ratios;                           /* cases in the geomean (judged ones only) */
    double geomean;                         /* of ratios; NAN when none */
};

struct comparison {
    double threshold, alpha;
    int judge_across_machines;              /* cross-machine verdicts count as regressions */
    int n_pairs;                            /* cases present on both sides */
    int n_across_machines, n_across_inputs; /* of those pairs */
    int n_regressions;                      /* slower or broken cases that count */
    struct cmp_case *c;                     /* in case_str order */
    int n;
    struct cmp_family *fam;                 /* in name order; fam[n_fam] is "all" */
    int n_fam;
};

/* Matches base and new (each sorted by case_str, as rs_load_latest gives
 * them) and fills cmp, which points into both. across_machines: a slower or
 * broken case from two machines is a regression too. Returns 0, or -1 when
 * out of memory. */
int compare_results(const struct resultset *base, const struct resultset *new, double threshold,
                    double alpha, int across_machines, struct comparison *cmp);
/* 1 when any case that counts (see above) is slower or broken: the exit
 * status of compare. */
int comparison_regressed(const struct comparison *cmp);
void comparison_free(struct comparison *cmp);

#endif
