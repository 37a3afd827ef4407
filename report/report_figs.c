/*
 * report_figs.c — which figures a report holds, and their data; see
 * report.h. Every figure is made only from results with status ok (or "ok: few
 * samples ...", "ok: noisy ...": measured, marked in the tables) and a
 * median; a figure with no such points is not drawn and a one-line note
 * says why. Series are labelled by what varies inside the figure (impl
 * always; shape fields, dtype, family or run only when they differ).
 *
 * Figures, per family: latency vs N and TFLOP/s + % of bound vs N (per
 * dtype x mask), decode latency vs context Nk, speedup bars between the
 * implementations of each case, and where peers (ext:*) ran, seqbench's
 * best over the best peer per case vs N. Across families: memory footprint vs N,
 * a roofline (one roof per device and dtype), flash-vs-linear-time crossovers, block-sparse
 * latency vs density beside dense flash (report_density.c). Across runs: per-case latency
 * ratio bars against the first run, with geometric means.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "report.h"
#include "report_figs.h"

#define SPEEDUP_LOG_ABOVE 20.0  /* bars switch to a log axis past this max/min spread */
int picks(const struct pick *p, const struct rp_result *r)
{
    return rp_ok(r) && (!p->family || strcmp(p->family, r->family) == 0) &&
           (!p->dtype || strcmp(p->dtype, r->dtype) == 0) &&
           (p->causal == -2 || p->causal == r->causal) && (p->run < 0 || p->run == r->run) &&
           (!p->kind || p->kind(r));
}

struct sel select_rows(const struct report *rp, const struct pick *p)
{
    struct sel s = { calloc((size_t)rp->n_res + 1, sizeof *s.r), 0 };
    for (int i = 0; i < rp->n_res; i++)
        if (picks(p, &rp->res[i]))
            s.r[s.n++] = &rp->res[i];
    return s;
}

/* The fields among `fields` whose value is not the same in every row. */
unsigned varying(const struct sel *s, unsigned fields)
{
    unsigned v = 0;
    for (int i = 1; i < s->n; i++) {
        const struct rp_result *a = s->r[0], *b = s->r[i];
        v |= (a->run != b->run) * F_RUN | (strcmp(a->family, b->family) != 0) * F_FAMILY |
             (strcmp(a->impl, b->impl) != 0) * F_IMPL | (strcmp(a->dtype, b->dtype) != 0) * F_DTYPE |
             (a->H != b->H) * F_H | (a->Hkv != b->Hkv) * F_HKV | (a->D != b->D) * F_D |
             (a->Dv != b->Dv) * F_DV | (a->N != b->N) * F_N | (a->causal != b->causal) * F_CAUSAL |
             (a->B != b->B) * F_B | (a->Nk != b->Nk) * F_NK |
             (strcmp(a->variant, b->variant) != 0) * F_VARIANT;
    }
    int dv_is_d = 1;            /* then Dv says nothing D does not */
    for (int i = 0; i < s->n; i++)
        dv_is_d &= s->r[i]->Dv == s->r[i]->D;
    return v & fields & (dv_is_d ? ~(unsigned)F_DV : ~0u);
}

const char *mask_name(int64_t causal)
{
    return causal == 1 ? "causal" : causal == 0 ? "full" : "mask n/a";
}

/* The varying fields of r, each after a space: " bf16 N=96 D=64 [run 2]". */
static void field_label(const struct report *rp, const struct rp_result *r, unsigned vary,
                        char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
#define ADD(flag, ...)                                                            \
    if ((vary & (flag)) && k < len)                                               \
        k += (size_t)snprintf(buf + k, len - k, __VA_ARGS__)
/* a shape field, left out where it does not apply (-1: not the family's) */
#define ADD_SET(flag, v, fmt)                                                     \
    if ((v) >= 0)                                                                 \
        ADD(flag, fmt, (long long)(v))
    ADD(F_DTYPE, " %s", r->dtype);
    ADD_SET(F_B, r->B, " B=%lld");
    ADD_SET(F_N, r->N, " N=%lld");
    ADD_SET(F_NK, r->Nk, " Nk=%lld");
    ADD_SET(F_H, r->H, " H=%lld");
    ADD_SET(F_HKV, r->Hkv, " Hkv=%lld");
    ADD_SET(F_D, r->D, " D=%lld");
    ADD_SET(F_DV, r->Dv, " Dv=%lld");
    ADD(F_CAUSAL, " %s", mask_name(r->causal));
    ADD(F_VARIANT, "%s%s", r->variant[0] ? " " : "", r->variant);
    ADD(F_RUN, " [%s]", rp->runs[r->run].label);
#undef ADD
#undef ADD_SET
}

/* "flash/cpu bf16 D=64 [run 2]": impl (with its family when fam), then the
 * varying fields. */
void series_label(const struct report *rp, const struct rp_result *r, int fam, unsigned vary,
                  char *buf, size_t len)
{
    char fields[256];
    field_label(rp, r, vary, fields, sizeof fields);
    snprintf(buf, len, "%s%s%s%s", fam ? r->family : "", fam ? "/" : "", r->impl, fields);
}

/* The bar category of every row of s: the shape fields that vary among
 * the rows ("N=96 D=64 causal"), after "impl " when with_impl. The full
 * shape (rp_short_case) when those would not tell two cases apart — a
 * family whose shape has fields beyond these. Free with free_labels. */
static char **case_labels(const struct report *rp, const struct sel *s, int with_impl)
{
    unsigned vary = varying(s, SHAPE_FIELDS | F_DTYPE);
    char **lab = calloc((size_t)s->n + 1, sizeof *lab), buf[LABEL_LEN];
    int clash = !vary;
    for (int i = 0; i < s->n; i++) {
        field_label(rp, s->r[i], vary, buf, sizeof buf);
        lab[i] = strdup(buf);
    }
    for (int i = 0; i < s->n && !clash; i++)
        for (int j = i + 1; j < s->n && !clash; j++)
            clash = strcmp(lab[i], lab[j]) == 0 && strcmp(s->r[i]->case_key, s->r[j]->case_key) != 0;
    for (int i = 0; i < s->n; i++) {
        snprintf(buf, sizeof buf, "%s%s%s", with_impl ? s->r[i]->impl : "", with_impl ? " " : "",
                 clash ? rp_short_case(s->r[i]) : lab[i] + 1);
        free(lab[i]);
        lab[i] = strdup(buf);
    }
    return lab;
}

static void free_labels(char **lab, int n)
{
    for (int i = 0; i < n; i++)
        free(lab[i]);
    free(lab);
}

/* The shape part of a case key: "flash fp32 B=1 N=64 ..." -> "B=1 N=64 ...". */
const char *rp_short_case(const struct rp_result *r)
{
    const char *s = r->case_key;
    size_t f = strlen(r->family), d = strlen(r->dtype);
    if (strncmp(s, r->family, f) == 0 && s[f] == ' ')
        s += f + 1;
    if (strncmp(s, r->dtype, d) == 0 && s[d] == ' ')
        s += d + 1;
    return s;
}

/* ---- emitting ------------------------------------------------------------ */

/* Starts a figure whose file stem is "NN-what-a-b-c" (file-name-safe; the
 * number keeps stems unique whatever the names hold). */
void fig_start(struct figctx *c, struct fig *f, enum fig_kind kind, const char *title,
               const char *what, const char *a, const char *b, const char *d)
{
    char stem[160];
    int k = snprintf(stem, sizeof stem, "%02d-%s", ++c->count, what);
    const char *parts[] = { a, b, d };
    for (int i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        k += snprintf(stem + k, sizeof stem - (size_t)k, "-");
        for (const char *s = parts[i]; *s && k < 60; s++)
            stem[k++] = ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                         (*s >= '0' && *s <= '9')) ? *s : '_';
        stem[k] = 0;
    }
    fig_init(f, stem, title, kind);
}

/* Renders f and records it; when it has no points, records note instead
 * (if any). Frees f. Returns 1 drawn, 0 not, -1 gnuplot failed. */
int emit(struct figctx *c, struct fig *f, const char *section, const char *note)
{
    int rc = 1;
    if (fig_n_points(f) == 0) {
        c->count--;             /* its number goes to the next figure */
        if (note)
            rp_add_item(c->rp, section, f->title, NULL, note, NULL);
        rc = 0;
    } else if (fig_render(f, c->dir, c->err, c->n) == 0) {
        rp_add_item(c->rp, section, f->title, f->stem, NULL, NULL);
    } else {
        rc = -1;
    }
    fig_free(f);
    return rc;
}

/* ---- per family: N sweeps, decode, speedups -------------------------------- */

/* What a sweep's title says of B, which is not a series field: nothing
 * when every row has the same B; " (B·N = T tokens)" when B changes with N
 * at a constant token count (a line then compares equal work, so a flat
 * one is expected); " (B varies)" otherwise. */
static void batch_note(const struct sel *s, char *buf, size_t len)
{
    int same_b = 1, same_tokens = 1;
    for (int i = 1; i < s->n; i++) {
        same_b &= s->r[i]->B == s->r[0]->B;
        same_tokens &= s->r[i]->B * s->r[i]->N == s->r[0]->B * s->r[0]->N;
    }
    if (s->n == 0 || same_b)
        buf[0] = 0;
    else if (same_tokens)
        snprintf(buf, len, " (B·N = %lld tokens)", (long long)(s->r[0]->B * s->r[0]->N));
    else
        snprintf(buf, len, " (B varies)");
}

/* Latency vs N, and TFLOP/s + % of bound vs N (% of the compute roof for
 * databases from before the bound), for one family/dtype/mask. */
static int figs_sweep(struct figctx *c, const char *fam, const char *dtype, int64_t causal)
{
    struct pick p = { fam, dtype, causal, -1, rp_is_sweep };
    struct sel s = select_rows(c->rp, &p);
    unsigned vary = varying(&s, SERIES_FIELDS);
    char title[256], label[LABEL_LEN], batch[64];
    struct fig lat, thr;
    batch_note(&s, batch, sizeof batch);
    snprintf(title, sizeof title, "%s %s %s: latency vs sequence length%s", fam, dtype,
             mask_name(causal), batch);
    fig_start(c, &lat, FIG_LINES, title, "latency", fam, dtype, mask_name(causal));
    lat.logx = 2, lat.logy[0] = 1;
    lat.xlabel = "sequence length N (tokens, log2 scale)";
    lat.ylabel[0] = "median latency (ms, log scale)";
    for (int i = 0; i < s.n; i++) {
        series_label(c->rp, s.r[i], 0, vary, label, sizeof label);
        fig_point(&lat, fig_series(&lat, label), (double)s.r[i]->N, s.r[i]->median_ms, NAN);
    }
    int rc = emit(c, &lat, fam, NULL);
    snprintf(title, sizeof title, "%s %s %s: throughput vs sequence length%s", fam, dtype,
             mask_name(causal), batch);
    fig_start(c, &thr, FIG_LINES, title, "throughput", fam, dtype, mask_name(causal));
    thr.n_panels = 2, thr.logx = 2;
    thr.xlabel = "sequence length N (tokens, log2 scale)";
    thr.ylabel[0] = "TFLOP/s";
    thr.ylabel[1] = "% of bound (binding roof)";
    for (int i = 0; i < s.n; i++)
        if (isfinite(s.r[i]->tflops)) {
            series_label(c->rp, s.r[i], 0, vary, label, sizeof label);
            fig_point(&thr, fig_series(&thr, label), (double)s.r[i]->N, s.r[i]->tflops,
                      isfinite(s.r[i]->pct_bound) ? s.r[i]->pct_bound : s.r[i]->pct_peak);
        }
    snprintf(label, sizeof label, "No throughput figure for %s %s %s: no TFLOP/s stored.", fam,
             dtype, mask_name(causal));
    if (rc >= 0)
        rc = emit(c, &thr, fam, label) < 0 ? -1 : rc;
    else
        fig_free(&thr);
    free(s.r);
    return rc;
}

/* Decode latency against the context length Nk, for one family/dtype. */
static int fig_decode(struct figctx *c, const char *fam, const char *dtype)
{
    struct pick p = { fam, dtype, -2, -1, rp_is_decode };
    struct sel s = select_rows(c->rp, &p);
    unsigned vary = varying(&s, SERIES_FIELDS | F_N | F_CAUSAL);
    char title[256], label[LABEL_LEN];
    struct fig f;
    snprintf(title, sizeof title, "%s %s: decode latency vs context length", fam, dtype);
    fig_start(c, &f, FIG_LINES, title, "decode", fam, dtype, NULL);
    f.logx = 2, f.logy[0] = 1;
    f.xlabel = "context length Nk (tokens in the KV cache, log2 scale)";
    f.ylabel[0] = "median latency (ms, log scale)";
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < s.n; i++) {
        series_label(c->rp, s.r[i], 0, vary | F_N, label, sizeof label);
        fig_point(&f, fig_series(&f, label), (double)s.r[i]->Nk, s.r[i]->median_ms, NAN);
        lo = fmin(lo, (double)s.r[i]->Nk), hi = fmax(hi, (double)s.r[i]->Nk);
    }
    free(s.r);
    /* The recurrent families' decode on a state costs the same at any
     * context: a flat line across the KV-cache decode's range. */
    struct pick ps = { NULL, dtype, -2, -1, rp_is_state_decode };
    s = select_rows(c->rp, &ps);
    if (hi == lo)               /* one context: a short line around it */
        lo /= 2, hi *= 2;
    for (int i = 0; i < s.n && hi > lo; i++) {
        char fields[LABEL_LEN / 2];
        field_label(c->rp, s.r[i], F_B | F_H | F_VARIANT | (c->rp->n_runs > 1) * F_RUN, fields,
                    sizeof fields);
        snprintf(label, sizeof label, "%.40s/%.40s%s", s.r[i]->family, s.r[i]->impl, fields);
        int si = fig_series(&f, label);
        fig_point(&f, si, lo, s.r[i]->median_ms, NAN);
        fig_point(&f, si, hi, s.r[i]->median_ms, NAN);
    }
    free(s.r);
    return emit(c, &f, fam, NULL);
}

/* Speedup of each implementation over the slowest one on the same case
 * (same run, same case key): the slowest is always defined, whatever the
 * family's implementations are, and every bar reads as "how much faster". */
static int fig_speedup(struct figctx *c, const char *fam, const char *dtype, int run)
{
    struct pick p = { fam, dtype, -2, run, NULL };
    struct sel s = select_rows(c->rp, &p);
    char title[300];
    struct fig f;
    snprintf(title, sizeof title, "%s %s%s%s: speedup over the slowest implementation per case "
             "(higher is faster)", fam, dtype, c->rp->n_runs > 1 ? ", " : "",
             c->rp->n_runs > 1 ? c->rp->runs[run].label : "");
    fig_start(c, &f, FIG_BARS, title, "speedup", fam, dtype,
              c->rp->n_runs > 1 ? c->rp->runs[run].label : NULL);
    f.xlabel = "";
    f.ylabel[0] = "speedup (x)";
    f.hline = 1.0;
    double top = 1;
    char **cat = case_labels(c->rp, &s, 0);
    for (int i = 0; i < s.n; i++) {
        double slowest = 0;
        int impls = 0;
        for (int j = 0; j < s.n; j++)
            if (strcmp(s.r[j]->case_key, s.r[i]->case_key) == 0) {
                impls++;
                slowest = fmax(slowest, s.r[j]->median_ms);
            }
        if (impls < 2)
            continue;
        double x = slowest / s.r[i]->median_ms;
        top = fmax(top, x);
        fig_point(&f, fig_series(&f, s.r[i]->impl), fig_cat(&f, cat[i]), x, NAN);
    }
    free_labels(cat, s.n);
    f.logy[0] = top > SPEEDUP_LOG_ABOVE;
    if (f.logy[0])
        f.ylabel[0] = "speedup (x, log scale)";
    free(s.r);
    return emit(c, &f, fam, NULL);
}

/* 1 when no row before i in s has the same key as row i. */
static int first_of(const struct sel *s, int i,
                    int (*same)(const struct rp_result *, const struct rp_result *))
{
    for (int j = 0; j < i; j++)
        if (same(s->r[j], s->r[i]))
            return 0;
    return 1;
}

static int same_dtype(const struct rp_result *a, const struct rp_result *b)
{
    return strcmp(a->dtype, b->dtype) == 0;
}

static int same_dtype_mask(const struct rp_result *a, const struct rp_result *b)
{
    return same_dtype(a, b) && a->causal == b->causal;
}

static int same_run_dtype(const struct rp_result *a, const struct rp_result *b)
{
    return same_dtype(a, b) && a->run == b->run;
}

static int same_run_case(const struct rp_result *a, const struct rp_result *b)
{
    return a->run == b->run && strcmp(a->case_key, b->case_key) == 0;
}

/* Runs fig(c, fam, row) for the first row of each key in the family's rows
 * that kind picks. Returns the number of figures drawn, or -1. */
static int per_key(struct figctx *c, const char *fam, int (*kind)(const struct rp_result *),
                   int (*same)(const struct rp_result *, const struct rp_result *),
                   int (*fig)(struct figctx *, const char *, const struct rp_result *))
{
    struct pick p = { fam, NULL, -2, -1, kind };
    struct sel s = select_rows(c->rp, &p);
    int drawn = 0;
    for (int i = 0; i < s.n && drawn >= 0; i++)
        if (first_of(&s, i, same)) {
            int rc = fig(c, fam, s.r[i]);
            drawn = rc < 0 ? -1 : drawn + rc;
        }
    free(s.r);
    return drawn;
}

static int sweep_of(struct figctx *c, const char *fam, const struct rp_result *r)
{
    return figs_sweep(c, fam, r->dtype, r->causal);
}

static int decode_of(struct figctx *c, const char *fam, const struct rp_result *r)
{
    return fig_decode(c, fam, r->dtype);
}

static int speedup_of(struct figctx *c, const char *fam, const struct rp_result *r)
{
    return fig_speedup(c, fam, r->dtype, r->run);
}

/* ---- per family: seqbench against the peers --------------------------------- */

/* A peer: another project's implementation, run through a worker
 * (harness/peer.h), named ext:<peer>. */
static int is_peer(const struct rp_result *r)
{
    return strncmp(r->impl, "ext:", 4) == 0;
}

static int has_peer(const struct rp_result *r)
{
    return is_peer(r) && (rp_is_sweep(r) || rp_is_decode(r));
}

/* Per case (run and case key), the best peer's median over the best of
 * seqbench's own implementations (every other row but ref; a plugin's
 * counts as seqbench's), against N for an N sweep and against the context
 * Nk for decode: above 1, seqbench's best is faster. Drawn only for a
 * family with a peer's ok row. */
static int fig_peers(struct figctx *c, const char *fam)
{
    struct pick p = { fam, NULL, -2, -1, NULL };
    struct sel s = select_rows(c->rp, &p);
    int peers = 0;
    for (int i = 0; i < s.n; i++)
        peers += has_peer(s.r[i]);
    if (!peers) {
        free(s.r);
        return 0;
    }
    unsigned vary = varying(&s, F_RUN | F_DTYPE | F_H | F_HKV | F_D | F_DV | F_CAUSAL | F_VARIANT);
    char title[300], label[LABEL_LEN], fields[LABEL_LEN / 2];
    struct fig f;
    snprintf(title, sizeof title, "%s: best peer's time over seqbench's best (above 1: seqbench "
             "faster)", fam);
    fig_start(c, &f, FIG_LINES, title, "peers", fam, NULL, NULL);
    f.logx = 2, f.logy[0] = 1, f.hline = 1.0;
    f.xlabel = "sequence length N (decode: context Nk), log2 scale";
    f.ylabel[0] = "best peer / best seqbench (x, log scale)";
    for (int i = 0; i < s.n; i++) {
        const struct rp_result *r = s.r[i];
        int decode = rp_is_decode(r);
        if ((!decode && !rp_is_sweep(r)) || !first_of(&s, i, same_run_case))
            continue;
        double own = INFINITY, peer = INFINITY;
        for (int j = i; j < s.n; j++) {
            const struct rp_result *o = s.r[j];
            if (!same_run_case(o, r))
                continue;
            if (is_peer(o))
                peer = fmin(peer, o->median_ms);
            else if (strcmp(o->impl, "ref") != 0)
                own = fmin(own, o->median_ms);
        }
        if (!isfinite(own) || !isfinite(peer))
            continue;
        field_label(c->rp, r, vary, fields, sizeof fields);
        snprintf(label, sizeof label, "%s%s", decode ? "decode" : fields[0] ? "" : "prefill",
                 decode ? fields : fields + (fields[0] == ' '));
        fig_point(&f, fig_series(&f, label), (double)(decode ? r->Nk : r->N), peer / own, NAN);
    }
    free(s.r);
    char note[300];
    snprintf(note, sizeof note, "No seqbench-over-peers figure for %s: no case has both a peer "
             "and one of seqbench's implementations ok.", fam);
    return emit(c, &f, fam, note);
}

/* Every figure of one family, or a one-line note for each kind it lacks. */
static int figs_family(struct figctx *c, const char *fam)
{
    static const char *const why[] = {
        "No latency or throughput figure for %s: no ok result on an N sweep (Nk = N).",
        "No decode figure for %s: no ok case with N <= 16 and Nk > N.",
        "No speedup figure for %s: no case has two ok implementations.",
    };
    int drawn[3];
    drawn[0] = per_key(c, fam, rp_is_sweep, same_dtype_mask, sweep_of);
    drawn[1] = drawn[0] < 0 ? -1 : per_key(c, fam, rp_is_decode, same_dtype, decode_of);
    drawn[2] = drawn[1] < 0 ? -1 : per_key(c, fam, NULL, same_run_dtype, speedup_of);
    if (drawn[2] >= 0 && fig_peers(c, fam) < 0)
        return -1;
    for (int k = 0; k < 3; k++) {
        if (drawn[k] < 0)
            return -1;
        if (drawn[k] == 0) {
            char note[300];
            snprintf(note, sizeof note, why[k], fam);
            rp_add_item(c->rp, fam, "", NULL, note, NULL);
        }
    }
    return 0;
}

/* ---- across families ----------------------------------------------------- */

static int has_footprint(const struct rp_result *r)
{
    return rp_is_sweep(r) && r->footprint > 0;
}

/* Peak memory against N for every family on one plot, so quadratic and
 * linear growth are told apart at a glance. */
static int fig_footprint(struct figctx *c)
{
    struct pick p = { NULL, NULL, -2, -1, has_footprint };
    struct sel s = select_rows(c->rp, &p);
    unsigned vary = varying(&s, SERIES_FIELDS | F_DTYPE);
    char label[LABEL_LEN];
    struct fig f;
    fig_start(c, &f, FIG_LINES, "memory footprint vs sequence length, all families", "footprint",
              NULL, NULL, NULL);
    f.logx = 2, f.logy[0] = 1;
    f.xlabel = "sequence length N (tokens, log2 scale)";
    f.ylabel[0] = "peak footprint (MiB, log scale)";
    for (int i = 0; i < s.n; i++) {
        series_label(c->rp, s.r[i], 1, vary, label, sizeof label);
        fig_point(&f, fig_series(&f, label), (double)s.r[i]->N, s.r[i]->footprint / 1048576.0, NAN);
    }
    free(s.r);
    return emit(c, &f, "all", "No footprint figure: no ok result stores footprint_bytes.");
}

static int has_intensity(const struct rp_result *r)
{
    return r->flops > 0 && r->min_bytes > 0 && r->tflops > 0;
}

/* One roof of the roofline: a compute roof of some dtypes on one device,
 * bent down by that device's bandwidth roof. */
struct roof_line {
    const char *device;         /* the GPU's name or the CPU's model */
    int gpu;                    /* 1: datasheet roofs (bf16 tensor, fp32 FMA); 0: the CPU's FMA loop */
    char dtypes[32];            /* "bf16", "fp32" or "bf16, fp32" (one roof for both) */
    double tflops;              /* compute roof; NAN unknown */
    double tbps;                /* the device's bandwidth roof, TB/s; NAN unknown */
};

/* The device a result ran on, as a roof's label names it. */
static const char *result_device(const struct report *rp, const struct rp_result *r)
{
    const struct rp_run *run = &rp->runs[r->run];
    if (r->device && strncmp(r->device, "cuda", 4) == 0)
        return run->gpu_name && *run->gpu_name ? run->gpu_name : r->device;
    return run->cpu_model && *run->cpu_model ? run->cpu_model : "cpu";
}

/* A result's roofs in TFLOP/s and TB/s. Before schema 4 only the %
 * of the compute roof was stored: its roof is tflops / pct, and the
 * bandwidth roof is the run's. */
static void result_roofs(const struct report *rp, const struct rp_result *r, double *tf, double *tb)
{
    *tf = r->roof_flops > 0 ? r->roof_flops / 1e12
        : r->pct_peak > 0 ? r->tflops * 100 / r->pct_peak : NAN;
    *tb = r->roof_bytes_s > 0 ? r->roof_bytes_s / 1e12 : rp->runs[r->run].peak_gbps / 1e3;
}

/* The roofs of the selected results: one per device and dtype, the
 * highest seen (a CPU's measured roofs rise when re-measured), dtypes of
 * one device sharing a value merged (a CPU computes both in fp32). */
static int roof_lines(const struct report *rp, const struct sel *s, struct roof_line *out, int max)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        const struct rp_result *r = s->r[i];
        const char *dev = result_device(rp, r);
        double tf, tb;
        result_roofs(rp, r, &tf, &tb);
        if (!isfinite(tf) && !isfinite(tb))
            continue;
        int k = 0;
        while (k < n && !(strcmp(out[k].device, dev) == 0 && strcmp(out[k].dtypes, r->dtype) == 0))
            k++;
        if (k == max)
            continue;
        if (k == n) {
            out[n++] = (struct roof_line){ .device = dev, .tflops = NAN, .tbps = NAN,
                                           .gpu = r->device && strncmp(r->device, "cuda", 4) == 0 };
            snprintf(out[k].dtypes, sizeof out[k].dtypes, "%s", r->dtype);
        }
        out[k].tflops = fmax(out[k].tflops, tf);    /* fmax: a NAN side gives the other */
        out[k].tbps = fmax(out[k].tbps, tb);
    }
    for (int k = 0; k < n; k++)             /* one bandwidth roof per device */
        for (int j = 0; j < n; j++)
            if (strcmp(out[k].device, out[j].device) == 0)
                out[k].tbps = fmax(out[k].tbps, out[j].tbps);
    for (int k = 0; k < n; k++)
        for (int j = k + 1; j < n; j++)
            if (strcmp(out[k].device, out[j].device) == 0 && out[k].tflops == out[j].tflops) {
                size_t len = strlen(out[k].dtypes);
                snprintf(out[k].dtypes + len, sizeof out[k].dtypes - len, ", %s", out[j].dtypes);
                out[j--] = out[--n];
            }
    return n;
}

/* Axis ranges that hold the points, every compute roof and every ridge
 * point (where the bandwidth roof meets the compute roof), with room. */
static void roof_ranges(struct fig *f, const struct sel *s, const struct roof_line *L, int n)
{
    double x0 = INFINITY, x1 = 0, y0 = INFINITY, y1 = 0;
    for (int i = 0; i < s->n; i++) {
        double x = s->r[i]->flops / s->r[i]->min_bytes, y = s->r[i]->tflops;
        x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
    }
    for (int k = 0; k < n; k++) {
        if (isfinite(L[k].tflops))
            y1 = fmax(y1, L[k].tflops);
        if (isfinite(L[k].tflops) && isfinite(L[k].tbps)) {
            double ridge = L[k].tflops / L[k].tbps;
            x0 = fmin(x0, ridge), x1 = fmax(x1, ridge);
        }
    }
    sb_printf(&f->pre, "set xrange [%.6e:%.6e]\nset yrange [%.6e:%.6e]\n", x0 / 4, x1 * 4, y0 / 4,
              y1 * 4);
}

#define ROOF_LINES_MAX 16

/* The roofs as gnuplot constants, plot items and labels: one line per
 * device and dtype (the compute roof, min'd with the device's bandwidth
 * roof), one bandwidth label per device. Labels name the device when the
 * figure holds more than one. */
static void roofs(struct figctx *c, struct fig *f, const struct sel *s)
{
    struct roof_line L[ROOF_LINES_MAX];
    const int n = roof_lines(c->rp, s, L, ROOF_LINES_MAX);
    int devices = 0, labelled_bw = 0;
    for (int k = 0; k < n; k++) {
        int first = 1;
        for (int j = 0; j < k; j++)
            first &= strcmp(L[j].device, L[k].device) != 0;
        devices += first;
    }
    roof_ranges(f, s, L, n);
    for (int k = 0; k < n; k++) {
        char text[300], dev[160] = "";
        const int tf = isfinite(L[k].tflops), tb = isfinite(L[k].tbps), m = k + 1;
        if (devices > 1)
            snprintf(dev, sizeof dev, "%.100s: ", L[k].device);
        sb_printf(&f->pre, "peak%d = %.6e\nbw%d = %.6e\n", m, tf ? L[k].tflops : 0.0, m,
                  tb ? L[k].tbps : 0.0);
        if (tf && tb)
            sb_printf(&f->items, ", \\\n         (x * bw%d < peak%d ? x * bw%d : peak%d)", m, m, m, m);
        else
            sb_printf(&f->items, ", \\\n         %s%d", tf ? "peak" : "x * bw", m);
        sb_printf(&f->items, " with lines dt %d lw 1.5 lc rgb '#444444' notitle", k + 2);
        if (tf) {
            if (L[k].gpu)           /* bf16 against the tensor cores, fp32 the FMA units */
                snprintf(text, sizeof text, "%s%s %s roof %.4g TFLOP/s", dev, L[k].dtypes,
                         strcmp(L[k].dtypes, "fp32") == 0 ? "FMA" : "tensor", L[k].tflops);
            else
                snprintf(text, sizeof text, "%sFMA loop roof (%s) %.4g TFLOP/s", dev, L[k].dtypes,
                         L[k].tflops);
            sb_puts(&f->pre, "set label ");
            gp_quote(&f->pre, text);
            /* at the flat roof's far end; at the near end when there is no
             * bandwidth roof, the side where the fewest points sit */
            sb_printf(&f->pre, " at graph %s, first peak%d %s offset 0,0.8 tc rgb '#444444'\n",
                      tb ? "0.98" : "0.02", m, tb ? "right" : "left");
        }
        int first = 1;
        for (int j = 0; j < k; j++)
            first &= strcmp(L[j].device, L[k].device) != 0;
        if (tb && first) {
            snprintf(text, sizeof text, "%smemory roof %.4g GB/s", dev, L[k].tbps * 1e3);
            sb_puts(&f->pre, "set label ");
            gp_quote(&f->pre, text);
            sb_printf(&f->pre, " at graph 0.02, graph %.2f left tc rgb '#444444'\n",
                      0.95 - 0.05 * labelled_bw++);
        }
    }
}

/* Achieved FLOP/s against arithmetic intensity (flops / min_bytes). */
static int fig_roofline(struct figctx *c)
{
    struct pick p = { NULL, NULL, -2, -1, has_intensity };
    struct sel s = select_rows(c->rp, &p);
    unsigned vary = varying(&s, F_RUN | F_IMPL | F_DTYPE);
    char label[LABEL_LEN];
    struct fig f;
    fig_start(c, &f, FIG_POINTS, "roofline: achieved throughput vs arithmetic intensity",
              "roofline", NULL, NULL, NULL);
    f.logx = 10, f.logy[0] = 1;
    f.xlabel = "arithmetic intensity (FLOP per compulsory byte, log scale)";
    f.ylabel[0] = "achieved TFLOP/s (log scale)";
    for (int i = 0; i < s.n; i++) {
        series_label(c->rp, s.r[i], 1, vary, label, sizeof label);
        fig_point(&f, fig_series(&f, label), s.r[i]->flops / s.r[i]->min_bytes, s.r[i]->tflops,
                  NAN);
    }
    if (s.n)
        roofs(c, &f, &s);
    free(s.r);
    return emit(c, &f, "all", "No roofline: no ok result with FLOPs, bytes and TFLOP/s.");
}

/* ---- crossovers: where a linear-time family overtakes flash ---------------- */

/* One implementation's N sweep: points in ascending N. */
struct curve {
    const struct rp_result *r;  /* its first row: run, family, impl, shape */
    double *N, *tokens, *ms;    /* tokens = B·N: points compare only at equal work */
    int n;
};

static int same_curve(const struct rp_result *a, const struct rp_result *b)
{
    return a->run == b->run && strcmp(a->family, b->family) == 0 &&
           strcmp(a->impl, b->impl) == 0 && strcmp(a->device, b->device) == 0 &&
           a->H == b->H && a->Hkv == b->Hkv && a->D == b->D && a->Dv == b->Dv &&
           strcmp(a->variant, b->variant) == 0;
}

/* A flash curve and a linear-time curve are compared when they ran in the
 * same run, on the same device, with the same heads and head size. */
static int comparable(const struct rp_result *flash, const struct rp_result *lin)
{
    return flash->run == lin->run && strcmp(flash->device, lin->device) == 0 &&
           flash->H == lin->H && flash->D == lin->D;
}

/* The recurrent families (sparse is attention over fewer pairs: its
 * figure against flash is the density sweep's, report_density.c). */
static int is_linear_time(const char *family)
{
    return strcmp(family, "softmax") != 0 && strcmp(family, "flash") != 0 &&
           strcmp(family, "sparse") != 0;
}

static int curves_of(const struct sel *s, struct curve **out)
{
    struct curve *cv = calloc((size_t)s->n + 1, sizeof *cv);
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        int k = 0;
        while (k < n && !same_curve(cv[k].r, s->r[i]))
            k++;
        if (k == n) {
            cv[n].r = s->r[i];
            cv[n].N = calloc((size_t)s->n, sizeof(double));
            cv[n].tokens = calloc((size_t)s->n, sizeof(double));
            cv[n++].ms = calloc((size_t)s->n, sizeof(double));
        }
        cv[k].N[cv[k].n] = (double)s->r[i]->N;
        cv[k].tokens[cv[k].n] = (double)s->r[i]->N * (double)s->r[i]->B;
        cv[k].ms[cv[k].n++] = s->r[i]->median_ms;
    }
    *out = cv;
    return n;
}

/* Where lin's latency falls below flash's, interpolating log(latency ratio)
 * linearly in log N between the first common sweep points that straddle it.
 * Returns 1 with *Nx and *ms (flash's latency there), 0 when lin is faster
 * at every common N (*Nx = first N), 2 when it never overtakes (*Nx = last
 * N), -1 when fewer than two N are common. */
static int crossover(const struct curve *flash, const struct curve *lin, double *Nx, double *ms)
{
    double pN = 0, pd = 0, pf = 0;
    int common = 0;
    for (int i = 0; i < lin->n; i++)
        for (int j = 0; j < flash->n; j++) {
            if (flash->N[j] != lin->N[i] || flash->tokens[j] != lin->tokens[i])
                continue;
            double d = log(lin->ms[i] / flash->ms[j]), lN = log(lin->N[i]), lf = log(flash->ms[j]);
            if (common == 0 && d <= 0) {
                *Nx = lin->N[i];
                return 0;
            }
            if (common > 0 && pd > 0 && d <= 0) {
                double a = pd / (pd - d);
                *Nx = exp(pN + a * (lN - pN));
                *ms = exp(pf + a * (lf - pf));
                return 1;
            }
            pN = lN, pd = d, pf = lf, common++;
            *Nx = lin->N[i];
        }
    return common >= 2 ? 2 : -1;
}

static void crossover_row(struct strbuf *h, const struct report *rp, const struct curve *fl,
                          const struct curve *ln, int kind, double Nx, double ms)
{
    sb_puts(h, "<tr><td>");
    sb_html(h, ln->r->dtype);
    sb_printf(h, " %s</td><td>", mask_name(ln->r->causal));
    sb_html(h, ln->r->family);
    sb_puts(h, "/");
    sb_html(h, ln->r->impl);
    sb_puts(h, "</td><td>flash/");
    sb_html(h, fl->r->impl);
    sb_printf(h, "</td><td>H=%lld D=%lld", (long long)ln->r->H, (long long)ln->r->D);
    if (rp->n_runs > 1) {
        sb_puts(h, " [");
        sb_html(h, rp->runs[ln->r->run].label);
        sb_puts(h, "]");
    }
    if (kind == 1)
        sb_printf(h, "</td><td class=\"num\">%.0f</td><td class=\"num\">%.4g</td></tr>\n", Nx, ms);
    else
        sb_printf(h, "</td><td colspan=\"2\">%s N = %.0f</td></tr>\n",
                  kind == 0 ? "already faster at" : "still slower at", Nx);
}

/* A circle at the crossover and a dotted drop line to the N axis, labelled
 * "N* = ..." upright along the line: neighbouring crossovers' labels then
 * never cover each other or the curves' points. */
static void mark_crossover(struct fig *f, double Nx, double ms)
{
    sb_printf(&f->pre, "set label '' at %.6e,%.6e point pt 6 ps 2.2 lc rgb '#000000' front\n",
              Nx, ms);
    sb_printf(&f->pre, "set arrow from %.6e, graph 0 to %.6e,%.6e nohead dt 3 lc rgb '#777777'\n",
              Nx, Nx, ms);
    sb_printf(&f->pre, "set label 'N* = %.0f' at %.6e, graph 0.03 rotate by 90 left "
              "offset -0.7,0 front boxed\n", Nx, Nx);
}

/* For one dtype/mask: every flash curve against every comparable
 * linear-time curve; the figure shows both with the crossovers marked. */
static int fig_crossover(struct figctx *c, const struct rp_result *g, struct strbuf *table)
{
    struct pick p = { NULL, g->dtype, g->causal, -1, rp_is_sweep };
    struct sel s = select_rows(c->rp, &p);
    struct curve *cv;
    int n = curves_of(&s, &cv), rc = 0;
    unsigned vary = varying(&s, SERIES_FIELDS) | F_IMPL;
    char title[256], label[LABEL_LEN];
    struct fig f;
    snprintf(title, sizeof title, "%s %s: flash vs linear-time families, crossovers marked",
             g->dtype, mask_name(g->causal));
    fig_start(c, &f, FIG_LINES, title, "crossover", g->dtype, mask_name(g->causal), NULL);
    sb_puts(&f.pre, "set style textbox opaque fc rgb '#ffffff' noborder margins 1,1\n");
    f.logx = 2, f.logy[0] = 1;
    f.xlabel = "sequence length N (tokens, log2 scale)";
    f.ylabel[0] = "median latency (ms, log scale)";
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            double Nx = 0, ms = 0;
            if (strcmp(cv[a].r->family, "flash") != 0 || !is_linear_time(cv[b].r->family) ||
                !comparable(cv[a].r, cv[b].r))
                continue;
            int kind = crossover(&cv[a], &cv[b], &Nx, &ms);
            if (kind < 0)
                continue;
            crossover_row(table, c->rp, &cv[a], &cv[b], kind, Nx, ms);
            const struct curve *both[] = { &cv[a], &cv[b] };
            for (int k = 0; k < 2; k++) {
                series_label(c->rp, both[k]->r, 1, vary, label, sizeof label);
                int si = fig_series(&f, label);
                if (f.series[si].n == 0)
                    for (int i = 0; i < both[k]->n; i++)
                        fig_point(&f, si, both[k]->N[i], both[k]->ms[i], NAN);
            }
            if (kind == 1)
                mark_crossover(&f, Nx, ms);
        }
    rc = emit(c, &f, "all", NULL);
    for (int k = 0; k < n; k++)
        free(cv[k].N), free(cv[k].tokens), free(cv[k].ms);
    free(cv);
    free(s.r);
    return rc;
}

static int figs_crossovers(struct figctx *c)
{
    struct pick p = { NULL, NULL, -2, -1, rp_is_sweep };
    struct sel s = select_rows(c->rp, &p);
    struct strbuf table = { 0 };
    int drawn = 0;
    for (int i = 0; i < s.n && drawn >= 0; i++)
        if (first_of(&s, i, same_dtype_mask)) {
            int rc = fig_crossover(c, s.r[i], &table);
            drawn = rc < 0 ? -1 : drawn + rc;
        }
    free(s.r);
    if (drawn < 0) {
        sb_free(&table);
        return -1;
    }
    if (!table.len) {
        rp_add_item(c->rp, "all", "crossovers", NULL, "No crossover figure: no linear-time family "
                    "(other than softmax and flash) has ok results on two or more of flash's sweep "
                    "points with the same H and D.", NULL);
        return 0;
    }
    struct strbuf h = { 0 };
    sb_puts(&h, "<table class=\"data\"><thead><tr><th>dtype</th><th>linear-time</th><th>flash</th>"
                "<th>shape</th><th>crossover N*</th><th>flash ms at N*</th></tr></thead><tbody>\n");
    sb_puts(&h, sb_str(&table));
    sb_puts(&h, "</tbody></table>\n");
    sb_free(&table);
    rp_add_item(c->rp, "all", "crossover points (log-log interpolation between sweep points)", NULL,
                NULL, sb_take(&h));
    return 0;
}

/* ---- across runs ------------------------------------------------------- */

/* The ok row of run `run` with this case string, or NULL. */
static const struct rp_result *in_run(const struct report *rp, int run, const char *case_str)
{
    for (int i = 0; i < rp->n_res; i++)
        if (rp->res[i].run == run && rp_ok(&rp->res[i]) &&
            strcmp(rp->res[i].case_str, case_str) == 0)
            return &rp->res[i];
    return NULL;
}

/* Latency of every later run relative to the first, per case (matched by
 * case string, so impl included), as bars; the geometric mean of each
 * run's ratios goes into geo. */
static int fig_ratio(struct figctx *c, const char *fam, struct strbuf *geo)
{
    struct pick p = { fam, NULL, -2, 0, NULL };
    struct sel s = select_rows(c->rp, &p);
    char title[300];
    struct fig f;
    snprintf(title, sizeof title, "%s: latency relative to %s per case (below 1 is faster)", fam,
             c->rp->runs[0].label);
    fig_start(c, &f, FIG_BARS, title, "ratio", fam, NULL, NULL);
    f.ylabel[0] = "latency ratio (run k / run 1)";
    f.hline = 1.0;
    double lo = 1, hi = 1;
    char **cat = case_labels(c->rp, &s, 1);
    for (int k = 1; k < c->rp->n_runs; k++) {
        char name[64];
        double sum = 0;
        int n = 0, faster = 0;
        snprintf(name, sizeof name, "%s / %s", c->rp->runs[k].label, c->rp->runs[0].label);
        for (int i = 0; i < s.n; i++) {
            const struct rp_result *o = in_run(c->rp, k, s.r[i]->case_str);
            if (!o)
                continue;
            double x = o->median_ms / s.r[i]->median_ms;
            lo = fmin(lo, x), hi = fmax(hi, x);
            sum += log(x), n++, faster += x < 1;
            fig_point(&f, fig_series(&f, name), fig_cat(&f, cat[i]), x, NAN);
        }
        if (!n)
            continue;
        sb_puts(geo, "<tr><td>");
        sb_html(geo, fam);
        sb_puts(geo, "</td><td>");
        sb_html(geo, name);
        sb_printf(geo, "</td><td class=\"num\" data-v=\"%d\">%d</td><td class=\"num\" data-v=\"%d\">%d"
                  "</td><td class=\"num\" data-v=\"%.9g\">%.3f</td></tr>\n",
                  n, n, faster, faster, exp(sum / n), exp(sum / n));
    }
    f.logy[0] = hi / lo > SPEEDUP_LOG_ABOVE;
    free_labels(cat, s.n);
    free(s.r);
    return emit(c, &f, "compare", NULL);
}

static int figs_compare(struct figctx *c)
{
    struct strbuf geo = { 0 };
    int drawn = 0;
    for (int i = 0; i < c->rp->n_families && drawn >= 0; i++) {
        int rc = fig_ratio(c, c->rp->families[i], &geo);
        drawn = rc < 0 ? -1 : drawn + rc;
    }
    if (drawn <= 0) {
        sb_free(&geo);
        if (drawn == 0)
            rp_add_item(c->rp, "compare", "ratios", NULL, "No ratio figure: no case is ok in both "
                        "the first run and a later one.", NULL);
        return drawn;
    }
    struct strbuf h = { 0 };
    sb_puts(&h, "<table class=\"data\"><thead><tr><th>family</th><th>runs</th><th>cases</th>"
                "<th>faster</th><th>geomean ratio</th></tr></thead><tbody>\n");
    sb_puts(&h, sb_str(&geo));
    sb_puts(&h, "</tbody></table>\n");
    sb_free(&geo);
    rp_add_item(c->rp, "compare", "geometric mean of the latency ratios, per family", NULL, NULL,
                sb_take(&h));
    return 0;
}

int report_figures(struct report *rp, const char *dir, char *err, size_t n)
{
    struct figctx c = { rp, dir, 0, err, n };
    for (int i = 0; i < rp->n_families; i++)
        if (figs_family(&c, rp->families[i]) != 0)
            return -1;
    if (fig_footprint(&c) < 0 || fig_roofline(&c) < 0 || figs_crossovers(&c) != 0 ||
        figs_density(&c) < 0)
        return -1;
    if (rp->n_runs > 1 && figs_compare(&c) < 0)
        return -1;
    return 0;
}
