/*
 * cmd_compare.c — `bench compare BASE.db NEW.db`: the latest result of each
 * case on both sides, matched by canonical case string, judged by the rule
 * in compare.h, printed as markdown (for a GitHub job summary or a PR
 * comment), CSV or JSON, with the two sides' environments side by side.
 * Exit 0: no regression; 1: a case is slower past the threshold or went from
 * ok to mismatch/error; 2: bad usage or input. Both databases are opened
 * read-only.
 *
 * Results from two machines (host, CPU or GPU differ) are "A vs B": their
 * ratios are speedups and none is a regression unless --across-machines
 * asks for verdicts. Results made from two input generators
 * (SB_INPUT_VERSION) timed different inputs: compare refuses them (exit 2)
 * unless --across-inputs.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"
#include "emit.h"
#include "store.h"

enum format { F_MD, F_CSV, F_JSON };

/* "3%" -> 0.03. The % is required: a bare 0.03 could mean 3% or 0.03%. */
static int parse_threshold(const char *s, double *t)
{
    char *end;
    double pct = strtod(s, &end);
    if (end == s || strcmp(end, "%") != 0 || !(pct >= 0 && pct < 100)) {
        cli_error("compare: --threshold '%s': expected a percentage from 0%% to under 100%%, "
                  "e.g. 3%%", s);
        return -1;
    }
    *t = pct / 100;
    return 0;
}

static int parse_format(const char *s, enum format *f)
{
    static const char *const names[] = { [F_MD] = "md", [F_CSV] = "csv", [F_JSON] = "json" };
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *f = (enum format)i;
            return 0;
        }
    cli_error("compare: --format '%s': expected md, csv or json", s);
    return -1;
}

/* ---- markdown ------------------------------------------------------------ */

/* Text in a table cell: '|' escaped, line breaks as spaces. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
}

/* A number in a cell, "-" for NaN. */
static void md_num(FILE *f, const char *fmt, double x)
{
    if (isnan(x))
        fputs(" - |", f);
    else {
        fputc(' ', f);
        fprintf(f, fmt, x);
        fputs(" |", f);
    }
}

/* 1 when every case on both sides pairs two machines and those verdicts do
 * not count: the comparison is of two machines, "A vs B". */
static int machines_only(const struct comparison *cmp)
{
    return cmp->n_pairs > 0 && cmp->n_across_machines == cmp->n_pairs &&
           !cmp->judge_across_machines;
}

static void print_summary(FILE *f, const struct comparison *cmp, const char *base, const char *new)
{
    const struct cmp_family *a = &cmp->fam[cmp->n_fam];
    const int *k = a->count;
    if (machines_only(cmp))
        fputs("**seqbench compare: A vs B** — the machines differ (see Environment): the ratios "
              "are speedups, not regressions (--across-machines judges them); ", f);
    else
        fprintf(f, "**seqbench compare: %s** — ",
                comparison_regressed(cmp) ? "REGRESSION" : "no regression");
    fprintf(f, "%d slower, %d broken; %d faster, %d same, %d noisy, %d unreliable; ", k[V_SLOWER],
            k[V_BROKEN], k[V_FASTER], k[V_SAME], k[V_NOISY], k[V_UNRELIABLE]);
    if (a->n_ratios)
        fprintf(f, "geomean new/base %.3f over %d cases (new at %.3gx the speed of base)",
                a->geomean, a->n_ratios, 1 / a->geomean);
    else
        fputs("no case ok on both sides", f);
    fprintf(f, "; %d only in base, %d only in new; %d fixed, %d other status changes",
            k[V_ONLY_BASE], k[V_ONLY_NEW], k[V_FIXED], k[V_STATUS]);
    if (cmp->n_across_machines && !machines_only(cmp))
        fprintf(f, "; %d cases from different machines%s", cmp->n_across_machines,
                cmp->judge_across_machines ? ", judged as regressions (--across-machines)"
                                           : ", not counted as regressions");
    fprintf(f, " (base `%s`, new `%s`)\n\n", base, new);
}

/* ---- the environments -------------------------------------------------------- */

/* One row per field of rs_env_fields, then the timing mode (a results column). */
#define ENV_TIMING RS_ENV_COUNT
#define ENV_ROWS (RS_ENV_COUNT + 1)

static const char *env_label(int field)
{
    return field == ENV_TIMING ? "timing mode" : rs_env_fields[field].label;
}

/* The distinct values of one field over a side's runs (or its results, for
 * the timing mode), in first-seen order, joined by ", "; "-" for none.
 * Past MAX_VALUES distinct values the list ends with "...". */
#define MAX_VALUES 16
static void side_values(const struct resultset *rs, int field, char *buf, size_t n)
{
    const char *seen[MAX_VALUES];
    int n_seen = 0, count = field == ENV_TIMING ? rs->n : rs->n_runs;
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < count && k < n; i++) {
        const char *v = field == ENV_TIMING ? rs->r[i].timing : rs->runs[i].env[field];
        int dup = !v;
        for (int j = 0; j < n_seen && !dup; j++)
            dup = strcmp(seen[j], v) == 0;
        if (dup)
            continue;
        if (n_seen == MAX_VALUES) {
            snprintf(buf + k, n - k, ", ...");
            break;
        }
        seen[n_seen++] = v;
        k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? ", " : "", v);
    }
    if (!buf[0])
        snprintf(buf, n, "-");
}

static void print_environment(FILE *f, const struct resultset *base, const struct resultset *new)
{
    char b[512], w[512];
    fprintf(f, "### Environment\n\n| | base | new | |\n|---|---|---|---|\n");
    for (int field = 0; field < ENV_ROWS; field++) {
        side_values(base, field, b, sizeof b);
        side_values(new, field, w, sizeof w);
        fprintf(f, "| %s | ", env_label(field));
        md_cell(f, b);
        fputs(" | ", f);
        md_cell(f, w);
        fprintf(f, " | %s |\n", strcmp(b, w) != 0 ? "**differs**" : "");
    }
    fputc('\n', f);
}

/* "(new: noisy (ci95 2.3% > 1%))": what each unreliable side's status says. */
static void unreliable_why(FILE *f, const struct cmp_case *c)
{
    const struct rs_result *side[2] = { c->base, c->new };
    const char *name[2] = { "base", "new" };
    int k = 0;
    for (int i = 0; i < 2; i++)
        if (!status_is_reliable(side[i]->status)) {
            fprintf(f, "%s%s: ", k++ ? "; " : "(", name[i]);
            md_cell(f, side[i]->status + strlen("ok: "));
        }
    fputs(k ? ")" : "", f);
}

/* The verdict as a cell: a regression in bold, a case from two machines
 * said to be one when the comparison is not of two machines throughout. */
static void md_verdict(FILE *f, const struct comparison *cmp, const struct cmp_case *c)
{
    int counts = (c->v == V_SLOWER || c->v == V_BROKEN) &&
                 (!c->across_machines || cmp->judge_across_machines);
    fprintf(f, counts ? "| **%s**" : "| %s", verdict_names[c->v]);
    if (c->v == V_UNRELIABLE) {
        fputc(' ', f);
        unreliable_why(f, c);
    }
    fputs(c->across_machines && !machines_only(cmp) ? " (across machines) | " : " | ", f);
}

static void print_rule(FILE *f, const struct comparison *cmp)
{
    double t = cmp->threshold, al = cmp->alpha;
    fprintf(f, "Rule: ratio = median new / median base; p = two-sided Mann-Whitney U over the "
            "stored samples (exact without ties when both sides have at most %d, else normal "
            "approximation with tie correction). **slower**: p < %g and ratio > %g; "
            "**faster**: p < %g and ratio < %g; **same**: |ratio - 1| <= %g; **noisy**: beyond "
            "the threshold but p >= %g. **unreliable**: either side stored as 'ok: few samples' "
            "or 'ok: noisy' (under the sample floor or over the noise target): ratio shown, "
            "not judged, not in the geomean. **broken**: ok in base, mismatch or error in new. "
            "Exit 1 on any slower or broken case from the same machine (host, CPU and GPU; "
            "from two machines too with --across-machines).\n\n",
            MWU_EXACT_MAX, al, 1 + t, al, 1 - t, t, al);
}

static void print_families(FILE *f, const struct comparison *cmp)
{
    fprintf(f, "### By family\n\n| family | cases | geomean new/base | slower | faster | same "
            "| noisy | unreliable | broken |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i <= cmp->n_fam; i++) {
        const struct cmp_family *m = &cmp->fam[i];
        fprintf(f, i == cmp->n_fam ? "| **%s** | %d |" : "| %s | %d |", m->family, m->n_ratios);
        md_num(f, "%.3f", m->geomean);
        fprintf(f, " %d | %d | %d | %d | %d | %d |\n", m->count[V_SLOWER], m->count[V_FASTER],
                m->count[V_SAME], m->count[V_NOISY], m->count[V_UNRELIABLE], m->count[V_BROKEN]);
    }
    fputc('\n', f);
}

/* Regressions first, then by ratio, largest first. */
static int by_regression_then_ratio(const void *a, const void *b)
{
    const struct cmp_case *x = *(const struct cmp_case *const *)a;
    const struct cmp_case *y = *(const struct cmp_case *const *)b;
    if ((x->v == V_SLOWER) != (y->v == V_SLOWER))
        return x->v == V_SLOWER ? -1 : 1;
    double rx = isnan(x->ratio) ? -INFINITY : x->ratio;    /* no ratio: last */
    double ry = isnan(y->ratio) ? -INFINITY : y->ratio;
    if (rx != ry)
        return rx > ry ? -1 : 1;
    return strcmp(x->case_str, y->case_str);
}

/* Broken first, then fixed, then other changes; by case within each. */
static int by_verdict_then_case(const void *a, const void *b)
{
    const struct cmp_case *x = *(const struct cmp_case *const *)a;
    const struct cmp_case *y = *(const struct cmp_case *const *)b;
    return x->v != y->v ? (int)x->v - (int)y->v : strcmp(x->case_str, y->case_str);
}

/* The cases whose verdict is in [lo, hi], sorted by cmp_fn, into out. */
static int select_cases(const struct comparison *cmp, enum verdict lo, enum verdict hi,
                        int (*cmp_fn)(const void *, const void *), const struct cmp_case **out)
{
    int k = 0;
    for (int i = 0; i < cmp->n; i++)
        if (cmp->c[i].v >= lo && cmp->c[i].v <= hi)
            out[k++] = &cmp->c[i];
    qsort(out, (size_t)k, sizeof *out, cmp_fn);
    return k;
}


static void print_timed(FILE *f, const struct comparison *cmp, const struct cmp_case **sel)
{
    int k = select_cases(cmp, V_SLOWER, V_UNRELIABLE, by_regression_then_ratio, sel);
    if (!k)
        return;
    fprintf(f, "### Cases ok on both sides\n\n| verdict | case | base ms | new ms | new/base | p "
            "| samples base/new |\n|---|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < k; i++) {
        const struct cmp_case *c = sel[i];
        md_verdict(f, cmp, c);
        md_cell(f, c->case_str);
        fputs(" |", f);
        md_num(f, "%.4g", c->base->median_ms);
        md_num(f, "%.4g", c->new->median_ms);
        md_num(f, "%.3f", c->ratio);
        md_num(f, "%.2g", c->mwu.p);
        fprintf(f, " %d/%d |\n", c->base->n_samples, c->new->n_samples);
    }
    fputc('\n', f);
}

static void print_status_changes(FILE *f, const struct comparison *cmp, const struct cmp_case **sel)
{
    int k = 0;
    for (int i = 0; i < cmp->n; i++)
        if (cmp->c[i].v == V_BROKEN || cmp->c[i].v == V_FIXED || cmp->c[i].v == V_STATUS)
            sel[k++] = &cmp->c[i];
    qsort(sel, (size_t)k, sizeof *sel, by_verdict_then_case);
    if (!k)
        return;
    fprintf(f, "### Status changes\n\n| verdict | case | base | new |\n|---|---|---|---|\n");
    for (int i = 0; i < k; i++) {
        md_verdict(f, cmp, sel[i]);
        md_cell(f, sel[i]->case_str);
        fputs(" | ", f);
        md_cell(f, sel[i]->base->status);
        fputs(" | ", f);
        md_cell(f, sel[i]->new->status);
        fputs(" |\n", f);
    }
    fputc('\n', f);
}

static void print_only(FILE *f, const struct comparison *cmp, enum verdict v, const char *title)
{
    int k = cmp->fam[cmp->n_fam].count[v];
    if (!k)
        return;
    fprintf(f, "### %s (%d)\n\n", title, k);
    for (int i = 0; i < cmp->n; i++)
        if (cmp->c[i].v == v) {
            fputs("- ", f);
            md_cell(f, cmp->c[i].case_str);
            fputc('\n', f);
        }
    fputc('\n', f);
}

static int print_md(FILE *f, const struct comparison *cmp, const struct resultset *rb,
                    const struct resultset *rn, const char *base, const char *new)
{
    const struct cmp_case **sel = malloc(((size_t)cmp->n + 1) * sizeof *sel);
    if (!sel)
        return -1;
    print_summary(f, cmp, base, new);
    print_rule(f, cmp);
    print_environment(f, rb, rn);
    print_families(f, cmp);
    print_status_changes(f, cmp, sel);     /* broken cases are regressions: first */
    print_timed(f, cmp, sel);
    print_only(f, cmp, V_ONLY_BASE, "Only in base");
    print_only(f, cmp, V_ONLY_NEW, "Only in new");
    free(sel);
    return 0;
}

/* ---- CSV and JSON ----------------------------------------------------------- */

static void csv_num(FILE *f, double x)
{
    char buf[40];
    fputc(',', f);
    if (!isnan(x)) {
        emit_double(buf, sizeof buf, x);
        fputs(buf, f);
    }
}

/* One row per case, every verdict, in case order. */
static void print_csv(FILE *f, const struct comparison *cmp)
{
    fputs("verdict,case_str,family,base_status,new_status,base_ms,new_ms,ratio,p,"
          "base_samples,new_samples,across_machines\n", f);
    for (int i = 0; i < cmp->n; i++) {
        const struct cmp_case *c = &cmp->c[i];
        emit_csv_field(f, verdict_names[c->v]);
        fputc(',', f);
        emit_csv_field(f, c->case_str);
        fputc(',', f);
        emit_csv_field(f, c->family);
        fputc(',', f);
        emit_csv_field(f, c->base ? c->base->status : NULL);
        fputc(',', f);
        emit_csv_field(f, c->new ? c->new->status : NULL);
        csv_num(f, c->base ? c->base->median_ms : NAN);
        csv_num(f, c->new ? c->new->median_ms : NAN);
        csv_num(f, c->ratio);
        csv_num(f, c->mwu.p);
        fprintf(f, ",%d,%d,%d\n", c->base ? c->base->n_samples : 0,
                c->new ? c->new->n_samples : 0, c->across_machines);
    }
}

static void json_side(FILE *f, const char *key, const struct rs_result *r)
{
    fprintf(f, ", \"%s_status\": ", key);
    emit_json_string(f, r ? r->status : NULL);
    fprintf(f, ", \"%s_ms\": ", key);
    emit_json_number(f, r ? r->median_ms : NAN);
    fprintf(f, ", \"%s_samples\": %d", key, r ? r->n_samples : 0);
}

/* {"regression", "threshold", "alpha", "cases_across_machines",
 *  "across_machines_judged", "environment": [...], "families": [...],
 *  "cases": [...]}. */
static void print_json(FILE *f, const struct comparison *cmp, const struct resultset *rb,
                       const struct resultset *rn)
{
    char b[512], w[512];
    fprintf(f, "{\"regression\": %s, \"threshold\": ", comparison_regressed(cmp) ? "true" : "false");
    emit_json_number(f, cmp->threshold);
    fputs(", \"alpha\": ", f);
    emit_json_number(f, cmp->alpha);
    fprintf(f, ", \"cases_across_machines\": %d, \"across_machines_judged\": %s",
            cmp->n_across_machines, cmp->judge_across_machines ? "true" : "false");
    fputs(",\n \"environment\": [", f);
    for (int field = 0; field < ENV_ROWS; field++) {
        side_values(rb, field, b, sizeof b);
        side_values(rn, field, w, sizeof w);
        fprintf(f, "%s\n  {\"field\": ", field ? "," : "");
        emit_json_string(f, env_label(field));
        fputs(", \"base\": ", f);
        emit_json_string(f, b);
        fputs(", \"new\": ", f);
        emit_json_string(f, w);
        fprintf(f, ", \"differs\": %s}", strcmp(b, w) != 0 ? "true" : "false");
    }
    fputs("],\n \"families\": [", f);
    for (int i = 0; i <= cmp->n_fam; i++) {
        const struct cmp_family *m = &cmp->fam[i];
        fprintf(f, "%s\n  {\"family\": ", i ? "," : "");
        emit_json_string(f, m->family);
        fprintf(f, ", \"cases\": %d, \"geomean\": ", m->n_ratios);
        emit_json_number(f, m->geomean);
        for (int v = 0; v < V_COUNT; v++) {
            fputs(", ", f);
            emit_json_string(f, verdict_names[v]);
            fprintf(f, ": %d", m->count[v]);
        }
        fputc('}', f);
    }
    fputs("],\n \"cases\": [", f);
    for (int i = 0; i < cmp->n; i++) {
        const struct cmp_case *c = &cmp->c[i];
        fprintf(f, "%s\n  {\"case\": ", i ? "," : "");
        emit_json_string(f, c->case_str);
        fputs(", \"family\": ", f);
        emit_json_string(f, c->family);
        fputs(", \"verdict\": ", f);
        emit_json_string(f, verdict_names[c->v]);
        json_side(f, "base", c->base);
        json_side(f, "new", c->new);
        fputs(", \"ratio\": ", f);
        emit_json_number(f, c->ratio);
        fputs(", \"p\": ", f);
        emit_json_number(f, c->mwu.p);
        fprintf(f, ", \"across_machines\": %s}", c->across_machines ? "true" : "false");
    }
    fputs("]}\n", f);
}

/* ---- the command ------------------------------------------------------------ */

/* Opens and loads one side; says on stderr how many unfinished runs it
 * leaves out. Returns 0, or -1 after printing the error. */
static int load_side(const char *path, int include_unfinished, struct resultset *rs)
{
    char err[600];
    sqlite3 *db = rs_open(path, err, sizeof err);
    int rc = db ? rs_load_latest(db, path, include_unfinished, rs, err, sizeof err) : -1;
    int unfinished = rc == 0 && !include_unfinished ? rs_unfinished_runs(db) : 0;
    sqlite3_close(db);
    if (rc != 0)
        cli_error("compare: %s", err);
    else if (unfinished > 0)
        fprintf(stderr, "compare: %s: %d run%s that did not finish left out "
                "(--include-unfinished takes them)\n", path, unfinished, unfinished > 1 ? "s" : "");
    return rc;
}

/* Prints cmp in the chosen format. Returns 0, or -1 when out of memory. */
static int print_comparison(enum format fmt, const struct comparison *cmp,
                            const struct resultset *rb, const struct resultset *rn,
                            const char *base, const char *new)
{
    if (fmt == F_CSV)
        print_csv(stdout, cmp);
    else if (fmt == F_JSON)
        print_json(stdout, cmp, rb, rn);
    else if (print_md(stdout, cmp, rb, rn, base, new) != 0)
        return -1;
    if (fmt != F_MD && cmp->n_across_machines)     /* said in the markdown; in a log here */
        fprintf(stderr, "compare: %d of %d cases on both sides ran on different machines; %s\n",
                cmp->n_across_machines, cmp->n_pairs,
                cmp->judge_across_machines ? "judged as regressions (--across-machines)"
                                           : "not counted as regressions");
    return 0;
}

/* Refuses (one line, 1) when a case pairs results of two input versions:
 * they timed different inputs. */
static int refuse_across_inputs(const struct comparison *cmp, const struct resultset *rb,
                                const struct resultset *rn, const char *base, const char *new)
{
    if (!cmp->n_across_inputs)
        return 0;
    char b[128], w[128];
    side_values(rb, RS_INPUT_VERSION, b, sizeof b);
    side_values(rn, RS_INPUT_VERSION, w, sizeof w);
    cli_error("compare: %d cases pair results of different input versions (%s: %s, %s: %s), "
              "made from different inputs, so their times do not compare; --across-inputs "
              "compares them anyway", cmp->n_across_inputs, base, b, new, w);
    return 1;
}

int cmd_compare(int argc, char **argv)
{
    const char *threshold_s = "3%", *format_s = "md";
    double alpha = 0.05, threshold;
    int across_machines = 0, across_inputs = 0, include_unfinished = 0;
    struct opt opts[] = {
        OPT("threshold", OPT_STRING, &threshold_s, "PCT", "smallest change that counts, e.g. 3% (default 3%)"),
        OPT("alpha", OPT_DOUBLE, &alpha, "P", "significance level of the Mann-Whitney U test (default 0.05)"),
        OPT("format", OPT_STRING, &format_s, "md|csv|json", "output format (default md: GitHub markdown)"),
        OPT("across-machines", OPT_FLAG, &across_machines, NULL, "judge results from different machines (host, CPU, GPU) as regressions too"),
        OPT("across-inputs", OPT_FLAG, &across_inputs, NULL, "compare results made from different input versions (refused otherwise)"),
        OPT("include-unfinished", OPT_FLAG, &include_unfinished, NULL, "also take results from runs that did not finish (killed or interrupted; left out by default)"),
    };
    const struct command *cmd = NULL;
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == cmd_compare)
            cmd = &commands[i];
    char *pos[2];
    int n_pos;
    enum format fmt;
    int rc = cli_parse(cmd, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos, 2, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
        return rc;
    if (n_pos != 2) {
        cli_error("compare: expected two databases, BASE.db NEW.db (see bench compare --help)");
        return EXIT_USAGE;
    }
    if (!(alpha > 0 && alpha < 1)) {
        cli_error("compare: --alpha %g: expected a probability between 0 and 1", alpha);
        return EXIT_USAGE;
    }
    if (parse_threshold(threshold_s, &threshold) != 0 || parse_format(format_s, &fmt) != 0)
        return EXIT_USAGE;

    struct resultset base, new;
    if (load_side(pos[0], include_unfinished, &base) != 0)
        return EXIT_USAGE;
    if (load_side(pos[1], include_unfinished, &new) != 0) {
        rs_free(&base);
        return EXIT_USAGE;
    }
    struct comparison cmp;
    rc = EXIT_USAGE;
    if (compare_results(&base, &new, threshold, alpha, across_machines, &cmp) != 0)
        cli_error("compare: out of memory");
    else if (!across_inputs && refuse_across_inputs(&cmp, &base, &new, pos[0], pos[1]))
        ;   /* rc stays EXIT_USAGE */
    else if (print_comparison(fmt, &cmp, &base, &new, pos[0], pos[1]) != 0)
        cli_error("compare: out of memory");
    else
        rc = comparison_regressed(&cmp) ? EXIT_FAIL : EXIT_OK;
    fflush(stdout);
    comparison_free(&cmp);
    rs_free(&base);
    rs_free(&new);
    return rc;
}
