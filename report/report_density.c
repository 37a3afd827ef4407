/*
 * report_density.c — block-sparse attention against dense flash: for every
 * density sweep of the sparse family's random pattern (one run, device,
 * dtype, mask and shape; suites/long-context's [sparse density]), latency
 * against density with each dense flash implementation of the same shape
 * and run as a flat line beside it, and where a sparse implementation's
 * curve meets a flash line on its device, the crossover density marked:
 * below it the block-sparse kernel beats dense flash. A table lists the
 * crossovers and, at 10 % density (90 % sparsity), the sparse time as a
 * fraction of dense flash's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_figs.h"

#define DENSITY_AT 10.0     /* the density whose time ratio the table gives */

/* The density of a random-pattern sparse result ("pattern=random
 * density=10 bq=128 bk=128"); -1 for any other. */
static double density_of(const struct rp_result *r)
{
    const char *d = strstr(r->variant, "density=");
    if (strcmp(r->family, "sparse") != 0 || !strstr(r->variant, "pattern=random") || !d)
        return -1;
    return atof(d + strlen("density="));
}

static int is_random_sparse(const struct rp_result *r)
{
    return density_of(r) >= 0;
}

/* The same shape, run, device, dtype and mask (flash's variant is empty:
 * dense, no window). */
static int same_shape(const struct rp_result *a, const struct rp_result *b)
{
    return a->run == b->run && strcmp(a->device, b->device) == 0 &&
           strcmp(a->dtype, b->dtype) == 0 && a->causal == b->causal && a->B == b->B &&
           a->N == b->N && a->Nk == b->Nk && a->H == b->H && a->Hkv == b->Hkv && a->D == b->D &&
           a->Dv == b->Dv;
}

/* The variant without its density: the block sizes, which make a series. */
static void blocks_of(const struct rp_result *r, char *buf, size_t n)
{
    const char *b = strstr(r->variant, "bq=");
    snprintf(buf, n, "%s", b ? b : "");
}

/* Where the curve (density ascending) meets latency f: the highest density
 * at or under which the curve is no slower, interpolated linearly in
 * density and log latency between the two points that straddle it.
 * Returns 1 with *dx; 0 when it is faster at every density (*dx the
 * highest); 2 when slower at every density; -1 with fewer than 2 points. */
static int density_crossover(const double *d, const double *ms, int n, double f, double *dx)
{
    if (n < 2)
        return -1;
    if (ms[n - 1] <= f) {
        *dx = d[n - 1];
        return 0;
    }
    for (int i = n - 2; i >= 0; i--)
        if (ms[i] <= f) {
            const double a = log(f / ms[i]) / log(ms[i + 1] / ms[i]);
            *dx = d[i] + a * (d[i + 1] - d[i]);
            return 1;
        }
    return 2;
}

/* One sweep (the rows of s like g): its figure and table rows. */
static int fig_sweep(struct figctx *c, const struct sel *s, const struct rp_result *g,
                     struct strbuf *table)
{
    char title[300], label[LABEL_LEN], blocks[64];
    struct fig f;
    snprintf(title, sizeof title, "sparse %s %s N=%lld H=%lld D=%lld (%s): latency vs density",
             g->dtype, mask_name(g->causal), (long long)g->N, (long long)g->H, (long long)g->D,
             g->device);
    fig_start(c, &f, FIG_LINES, title, "density", g->dtype, mask_name(g->causal), g->device);
    sb_puts(&f.pre, "set style textbox opaque fc rgb '#ffffff' noborder margins 1,1\n");
    f.logy[0] = 1;
    f.xlabel = "density (% of the causal key blocks computed)";
    f.ylabel[0] = "median latency (ms, log scale)";
    double lo = INFINITY, hi = -INFINITY;
    int curves = 0;
    /* the sparse curves: one per implementation and block sizes, ascending density */
    for (int i = 0; i < s->n; i++) {
        const struct rp_result *r = s->r[i];
        if (!is_random_sparse(r) || !same_shape(r, g))
            continue;
        blocks_of(r, blocks, sizeof blocks);
        snprintf(label, sizeof label, "sparse/%s %s", r->impl, blocks);
        const int si = fig_series(&f, label);
        const double d = density_of(r);
        struct fig_series *sr = &f.series[si];
        int at = sr->n;
        fig_point(&f, si, d, r->median_ms, NAN);
        while (at > 0 && sr->pts[at - 1].x > d) {   /* keep it sorted by density */
            const struct fig_point t = sr->pts[at - 1];
            sr->pts[at - 1] = sr->pts[at], sr->pts[at] = t;
            at--;
        }
        lo = fmin(lo, d), hi = fmax(hi, d);
    }
    curves = f.n_series;
    /* dense flash of the same shape: a flat line each, and the crossovers
     * of the sparse curves of its device (same_shape: same device) */
    struct pick pf = { "flash", g->dtype, g->causal, g->run, NULL };
    struct sel fl = select_rows(c->rp, &pf);
    for (int k = 0; k < fl.n; k++) {
        const struct rp_result *r = fl.r[k];
        if (!same_shape(r, g) || r->variant[0])
            continue;
        snprintf(label, sizeof label, "flash/%s (dense)", r->impl);
        const int si = fig_series(&f, label);
        fig_point(&f, si, lo, r->median_ms, NAN);
        fig_point(&f, si, hi, r->median_ms, NAN);
        for (int a = 0; a < curves; a++) {
            const struct fig_series *sr = &f.series[a];
            double d[64], ms[64], dx = 0, at10 = NAN;
            int n = 0;
            for (int p = 0; p < sr->n && n < 64; p++, n++) {
                d[n] = sr->pts[p].x, ms[n] = sr->pts[p].y[0];
                if (d[n] == DENSITY_AT)
                    at10 = ms[n] / r->median_ms;
            }
            const int kind = density_crossover(d, ms, n, r->median_ms, &dx);
            if (kind < 0)
                continue;
            sb_puts(table, "<tr><td>");
            sb_html(table, g->dtype);
            sb_printf(table, " %s</td><td>", mask_name(g->causal));
            sb_html(table, sr->title);
            sb_puts(table, "</td><td>flash/");
            sb_html(table, r->impl);
            sb_printf(table, "</td><td>B=%lld N=%lld H=%lld D=%lld ", (long long)g->B,
                      (long long)g->N, (long long)g->H, (long long)g->D);
            sb_html(table, g->device);
            if (kind == 1)
                sb_printf(table, "</td><td class=\"num\">%.1f %%", dx);
            else
                sb_printf(table, "</td><td>%s %.0f %%", kind == 0 ? "faster up to" : "slower from",
                          kind == 0 ? d[n - 1] : d[0]);
            if (isfinite(at10))
                sb_printf(table, "</td><td class=\"num\">%.3f</td></tr>\n", at10);
            else
                sb_puts(table, "</td><td>-</td></tr>\n");
            if (kind == 1) {
                sb_printf(&f.pre, "set arrow from %.6e, graph 0 to %.6e, graph 1 nohead dt 3 "
                          "lc rgb '#777777'\n", dx, dx);
                sb_printf(&f.pre, "set label 'd* = %.1f %%' at %.6e, graph 0.03 rotate by 90 "
                          "left offset -0.7,0 front boxed\n", dx, dx);
            }
        }
    }
    free(fl.r);
    return emit(c, &f, "sparse", NULL);
}

int figs_density(struct figctx *c)
{
    struct pick p = { "sparse", NULL, -2, -1, is_random_sparse };
    struct sel s = select_rows(c->rp, &p);
    struct strbuf table = { 0 };
    int drawn = 0;
    for (int i = 0; i < s.n && drawn >= 0; i++) {
        int first = 1, densities = 0;
        for (int j = 0; j < i && first; j++)
            first = !same_shape(s.r[j], s.r[i]);
        for (int j = 0; j < s.n; j++)      /* a sweep: two densities or more */
            densities += same_shape(s.r[j], s.r[i]) && density_of(s.r[j]) != density_of(s.r[i]);
        if (first && densities) {
            const int rc = fig_sweep(c, &s, s.r[i], &table);
            drawn = rc < 0 ? -1 : drawn + rc;
        }
    }
    free(s.r);
    if (drawn <= 0 || !table.len) {
        sb_free(&table);
        return drawn;
    }
    struct strbuf h = { 0 };
    sb_puts(&h, "<table class=\"data\"><thead><tr><th>dtype</th><th>sparse</th><th>dense</th>"
                "<th>shape</th><th>crossover density d*</th><th>time at 10 % density / "
                "dense</th></tr></thead><tbody>\n");
    sb_puts(&h, sb_str(&table));
    sb_puts(&h, "</tbody></table>\n");
    sb_free(&table);
    rp_add_item(c->rp, "sparse", "block-sparse vs dense flash: crossover density (below it sparse "
                "is faster; linear in density, log in latency, between sweep points)", NULL, NULL,
                sb_take(&h));
    return drawn;
}
