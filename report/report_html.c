/*
 * report_html.c — index.html of `bench report`; see report.h.
 *
 * One self-contained page: the CSS and the table-sorting script are inline
 * (below, as C strings, so the binary needs no template files), figures are
 * inlined SVG linking to their PNG, SVG, script and data. Every string that
 * came from a database goes through sb_html(). Numbers are printed in fixed
 * formats and carried in data-v attributes for sorting, so the same database
 * always gives the same bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "report.h"
#include "store.h"

#define FIG_WIDE_PX 760         /* a figure wider than this gets a row of its own */

static const char page_css[] =
    ":root{--fg:#1d2330;--muted:#6b7280;--line:#e3e6eb;--bg:#fff;--head:#f5f6f8;"
    "--ok:#17803d;--bad:#c62828;--warn:#b45309;--skip:#8a8f98}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;padding:24px 32px 64px;color:var(--fg);background:var(--bg);"
    "font:14px/1.45 'DejaVu Sans',system-ui,sans-serif;max-width:1500px}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:36px 0 10px;padding-bottom:4px;"
    "border-bottom:2px solid var(--fg)}h3{font-size:14px;margin:18px 0 6px;color:var(--muted);"
    "font-weight:600;text-transform:uppercase;letter-spacing:.04em}\n"
    ".sub{color:var(--muted);margin:0 0 10px}\n"
    "nav a{margin-right:14px;color:#1f5fbf;text-decoration:none}nav a:hover{text-decoration:underline}\n"
    "table{border-collapse:collapse;font-size:12.5px;margin:6px 0 12px}\n"
    "th,td{padding:3px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}\n"
    "thead th{background:var(--head);position:sticky;top:0;font-weight:600;white-space:nowrap}\n"
    "table.data thead th{cursor:pointer;user-select:none}\n"
    "table.data thead th:hover{background:#e9ecf1}\n"
    "th[aria-sort=ascending]::after{content:' \\25B2';font-size:9px}\n"
    "th[aria-sort=descending]::after{content:' \\25BC';font-size:9px}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "td.case,td.mono{font-family:'DejaVu Sans Mono',monospace;font-size:11.5px;white-space:nowrap}\n"
    "td.err{color:var(--muted);max-width:380px}\n"
    "tr:hover td{background:#fafbfc}\n"
    ".st{font-weight:600}.st-none{color:var(--muted)}.st-ok{color:var(--ok)}.st-unreliable{color:var(--warn)}.st-mismatch,.st-error,.st-oom{color:var(--bad)}"
    ".st-skipped{color:var(--skip);font-weight:400}\n"
    "tr.skipped td{color:var(--skip)}\n"
    "table.env th{background:var(--head);width:150px}table.env td{max-width:520px;"
    "word-break:break-word}\n"
    ".figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(660px,1fr));gap:14px}\n"
    "figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px;background:#fff}\n"
    "figure.wide{grid-column:1/-1}\n"
    "figure svg{width:100%;height:auto;display:block}\n"
    "figcaption{font-size:12px;color:var(--muted);margin-top:4px}\n"
    "figcaption a{color:#1f5fbf;margin-left:8px}\n"
    ".note{color:var(--muted);font-size:12.5px;margin:4px 0;padding-left:10px;"
    "border-left:3px solid var(--line)}\n"
    ".counts span{margin-right:12px}\n";

/* Click a header to sort its table by that column; click again to reverse.
 * Cells with data-v sort numerically (empty data-v: no value, always last),
 * others as text with numbers inside compared by value ("N=96" < "N=128"). */
static const char page_js[] =
    "(function () {\n"
    "  function key(td) {\n"
    "    var v = td.getAttribute('data-v');\n"
    "    if (v === null) return td.textContent;\n"
    "    return v === '' ? null : parseFloat(v);\n"
    "  }\n"
    "  function cmp(a, b) {\n"
    "    if (a === null || b === null) return (a === null) - (b === null);\n"
    "    if (typeof a === 'number' && typeof b === 'number') return a - b;\n"
    "    return String(a).localeCompare(String(b), 'en', { numeric: true });\n"
    "  }\n"
    "  document.querySelectorAll('table.data').forEach(function (t) {\n"
    "    var heads = Array.prototype.slice.call(t.tHead.rows[0].cells);\n"
    "    heads.forEach(function (th, col) {\n"
    "      th.title = 'sort by ' + th.textContent;\n"
    "      th.addEventListener('click', function () {\n"
    "        var up = th.getAttribute('aria-sort') !== 'ascending';\n"
    "        heads.forEach(function (h) { h.removeAttribute('aria-sort'); });\n"
    "        th.setAttribute('aria-sort', up ? 'ascending' : 'descending');\n"
    "        var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);\n"
    "        rows.sort(function (a, b) {\n"
    "          var x = key(a.cells[col]), y = key(b.cells[col]);\n"
    "          if (x === null || y === null) return cmp(x, y);\n"
    "          return up ? cmp(x, y) : cmp(y, x);\n"
    "        });\n"
    "        rows.forEach(function (r) { body.appendChild(r); });\n"
    "      });\n"
    "    });\n"
    "  });\n"
    "})();\n";

/* ---- cells --------------------------------------------------------------- */

void rp_td_text(struct strbuf *h, const char *cls, const char *s)
{
    sb_printf(h, "<td%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    sb_html(h, s);
    sb_puts(h, "</td>");
}

/* A number cell: shown with fmt, sorted by the full value; "–" when NAN. */
void rp_td_num(struct strbuf *h, double v, const char *fmt)
{
    if (!isfinite(v)) {
        sb_puts(h, "<td class=\"num\" data-v=\"\">&ndash;</td>");
        return;
    }
    sb_printf(h, "<td class=\"num\" data-v=\"%.9g\">", v);
    sb_printf(h, fmt, v);
    sb_puts(h, "</td>");
}

/* "ok", "mismatch", "skipped", "error", "oom": the status before its colon. */
static void status_word(const char *status, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s", (int)strcspn(status, ":"), status);
}

/* ---- the runs ------------------------------------------------------------- */

/* CUDA encodes versions as 1000 * major + 10 * minor. */
static void cuda_version(char *buf, size_t len, int64_t v)
{
    if (v > 0)
        snprintf(buf, len, "%lld.%lld", (long long)(v / 1000), (long long)(v % 1000 / 10));
    else
        snprintf(buf, len, "none");
}

/* The rows of the environment table, one column per run. */
enum env_field { E_DB, E_STARTED, E_SUITE, E_DEVICE, E_GPU, E_CPU, E_CUDA, E_PEAKS, E_STATE,
                 E_CEILINGS, E_HOST, E_COMMIT, E_FLAGS, E_COMMAND, E_N };
static const struct { const char *name; int mono; } env_fields[E_N] = {
    [E_DB] = { "database", 1 }, [E_STARTED] = { "started (UTC)", 0 }, [E_SUITE] = { "suite", 0 },
    [E_DEVICE] = { "device", 0 }, [E_GPU] = { "GPU", 0 }, [E_CPU] = { "CPU", 0 },
    [E_CUDA] = { "CUDA", 0 }, [E_PEAKS] = { "peaks", 0 }, [E_STATE] = { "GPU state (NVML)", 0 },
    [E_CEILINGS] = { "measured ceilings", 1 }, [E_HOST] = { "host", 0 },
    [E_COMMIT] = { "commit", 1 }, [E_FLAGS] = { "build flags", 1 }, [E_COMMAND] = { "command", 1 },
};

static const char *or_unknown(const char *s)
{
    return s ? s : "?";
}

static void env_gpu(const struct rp_run *r, char *b, size_t n)
{
    if (r->gpu_name && *r->gpu_name)
        snprintf(b, n, "%s, %lld SMs, CC %s", r->gpu_name, (long long)r->gpu_sms,
                 or_unknown(r->gpu_cc));
    else
        snprintf(b, n, "none");
}

static void env_cuda(const struct rp_run *r, char *b, size_t n)
{
    char d[32], rt[32];
    cuda_version(d, sizeof d, r->driver_version);
    cuda_version(rt, sizeof rt, r->runtime_version);
    snprintf(b, n, "driver %s, runtime %s", d, rt);
}

static void env_peaks(const struct rp_run *r, char *b, size_t n)
{
    int k = isfinite(r->peak_tflops) ? snprintf(b, n, "%.4g TFLOP/s", r->peak_tflops)
                                     : snprintf(b, n, "compute unknown");
    snprintf(b + k, n - (size_t)k, isfinite(r->peak_gbps) ? ", %.4g GB/s" : ", bandwidth unknown",
             r->peak_gbps);
}

/* "on"/"off" for a stored 1/0, "?" unknown. */
static const char *env_onoff(int64_t v)
{
    return v < 0 ? "?" : v ? "on" : "off";
}

static void env_state(const struct rp_run *r, char *b, size_t n)
{
    if (r->sm_clock_mhz < 0 && r->max_sm_clock_mhz < 0) {
        snprintf(b, n, "%s", r->nvml_why ? r->nvml_why : "not recorded");
        return;
    }
    snprintf(b, n, "SM clock %lld of %lld MHz%s, power limit %.0f W, %lld C, ECC %s, MIG %s, "
             "persistence %s", (long long)r->sm_clock_mhz, (long long)r->max_sm_clock_mhz,
             r->clocks_locked == 1 ? " (applications clocks locked)" : "", r->power_limit_w,
             (long long)r->temperature_c, env_onoff(r->ecc), env_onoff(r->mig), env_onoff(r->persistence));
}

/* The text of one environment cell (unescaped; the caller escapes it). */
static void env_cell(const struct rp_run *r, enum env_field f, char *b, size_t n)
{
    switch (f) {
    case E_DB: snprintf(b, n, "%s (run id %lld)", r->db, (long long)r->id); break;
    case E_STARTED:
        snprintf(b, n, "%s to %s", or_unknown(r->started_at),
                 r->finished_at ? r->finished_at : "(unfinished)");
        break;
    case E_SUITE: snprintf(b, n, "%s", r->suite ? r->suite : "(bench run)"); break;
    case E_DEVICE: snprintf(b, n, "%s", or_unknown(r->device)); break;
    case E_GPU: env_gpu(r, b, n); break;
    case E_CPU:
        snprintf(b, n, "%s, %lld threads", or_unknown(r->cpu_model), (long long)r->cpu_threads);
        break;
    case E_CUDA: env_cuda(r, b, n); break;
    case E_PEAKS: env_peaks(r, b, n); break;
    case E_STATE: env_state(r, b, n); break;
    case E_CEILINGS: snprintf(b, n, "%s", r->calibration_json ? r->calibration_json : "not recorded"); break;
    case E_HOST: snprintf(b, n, "%s", or_unknown(r->hostname)); break;
    case E_COMMIT:
        snprintf(b, n, "%s (seqbench %s)", or_unknown(r->git_commit), or_unknown(r->version));
        break;
    case E_FLAGS: snprintf(b, n, "%s", or_unknown(r->build_flags)); break;
    case E_COMMAND: snprintf(b, n, "%s", or_unknown(r->command)); break;
    case E_N: break;
    }
}

static void html_runs(struct strbuf *h, const struct report *rp)
{
    sb_puts(h, "<section id=\"runs\"><h2>Runs</h2>\n<table class=\"env\"><thead><tr><th></th>");
    for (int k = 0; k < rp->n_runs; k++) {
        sb_puts(h, "<th>");
        sb_html(h, rp->runs[k].label);
        sb_puts(h, "</th>");
    }
    sb_puts(h, "</tr></thead><tbody>\n");
    for (int f = 0; f < E_N; f++) {
        sb_printf(h, "<tr><th>%s</th>", env_fields[f].name);
        for (int k = 0; k < rp->n_runs; k++) {
            char buf[2048];
            env_cell(&rp->runs[k], (enum env_field)f, buf, sizeof buf);
            rp_td_text(h, env_fields[f].mono ? "mono" : NULL, buf);
        }
        sb_puts(h, "</tr>\n");
    }
    sb_puts(h, "</tbody></table></section>\n");
}

/* ---- per family ---------------------------------------------------------- */

/* minimal: also the throughput by the family's minimal FLOP count (schema 3). */
static void result_row(struct strbuf *h, const struct report *rp, const struct rp_result *r,
                       int minimal)
{
    char word[32], detail[1024];
    status_word(r->status, word, sizeof word);
    const char *after = r->status + strlen(word);
    snprintf(detail, sizeof detail, "%s%s%s", *after ? after + 2 : "",
             *after && r->error ? "; " : "", r->error ? r->error : "");
    sb_printf(h, "<tr%s>", strcmp(word, "skipped") == 0 ? " class=\"skipped\"" : "");
    if (rp->n_runs > 1)
        rp_td_text(h, NULL, rp->runs[r->run].label);
    rp_td_text(h, "case", rp_short_case(r));
    rp_td_text(h, "mono", r->impl);
    rp_td_text(h, NULL, r->dtype);
    sb_printf(h, "<td class=\"st st-%s\">", status_is_ok(r->status) && !status_is_reliable(r->status)
              ? "unreliable" : strcmp(word, "ok") == 0 || strcmp(word, "mismatch") == 0 ||
              strcmp(word, "skipped") == 0 || strcmp(word, "oom") == 0 ? word : "error");
    sb_html(h, word);
    sb_puts(h, "</td>");
    rp_td_text(h, "err", detail);
    rp_td_num(h, r->median_ms, "%.4g");
    rp_td_num(h, r->tflops, "%.3g");
    if (minimal)
        rp_td_num(h, r->flops_minimal / r->median_ms / 1e9, "%.3g");
    rp_td_num(h, r->flops_executed / r->flops, "%.3g");
    rp_td_num(h, r->pct_bound, "%.1f");
    rp_td_text(h, NULL, r->bound ? r->bound : "");
    rp_td_num(h, r->pct_compute, "%.1f");
    rp_td_num(h, r->pct_bandwidth, "%.1f");
    rp_td_num(h, r->gbps, "%.4g");
    rp_td_num(h, r->rel_err, "%.1e");
    sb_puts(h, "</tr>\n");
}

/* "67 results: 42 ok, 3 few samples or noisy, 0 failed, 22 skipped" for
 * one family, or all (NULL). */
static void status_counts(struct strbuf *h, const struct report *rp, const char *fam)
{
    int counts[5] = { 0 };      /* ok, mismatch/error/oom, skipped, all, ok but unreliable */
    for (int i = 0; i < rp->n_res; i++)
        if (!fam || strcmp(rp->res[i].family, fam) == 0) {
            const char *s = rp->res[i].status;
            counts[status_is_reliable(s) ? 0 : status_is_ok(s) ? 4
                   : strncmp(s, "skipped", 7) == 0 ? 2 : 1]++;
            counts[3]++;
        }
    sb_printf(h, "<span>%d results:</span><span class=\"st st-ok\">%d ok</span>"
              "<span class=\"st st-%s\">%d few samples or noisy</span>"
              "<span class=\"st st-%s\">%d failed</span><span class=\"st st-skipped\">%d skipped"
              "</span>", counts[3], counts[0], counts[4] ? "unreliable" : "none", counts[4],
              counts[1] ? "mismatch" : "none", counts[1], counts[2]);
}

static void family_table(struct strbuf *h, const struct report *rp, const char *fam)
{
    sb_puts(h, "<h3>results</h3>\n<p class=\"counts\">");
    status_counts(h, rp, fam);
    sb_puts(h, " (click a column to sort)</p>\n");
    int minimal = 0;
    for (int i = 0; i < rp->n_res; i++)
        minimal |= strcmp(rp->res[i].family, fam) == 0 && isfinite(rp->res[i].flops_minimal);
    sb_printf(h, "<table class=\"data\"><thead><tr>%s<th>case</th><th>impl</th><th>dtype</th>"
                 "<th>status</th><th>error / reason</th><th>median ms</th><th>TFLOP/s</th>%s"
                 "<th title=\"executed FLOPs over the algorithmic count\">executed ×</th>"
                 "<th title=\"the time the work needs at the binding roof over the measured time\">"
                 "%% of bound</th><th>bound</th><th>%% compute</th><th>%% bandwidth</th>"
                 "<th>GB/s</th><th>rel err</th></tr></thead><tbody>\n",
              rp->n_runs > 1 ? "<th>run</th>" : "",
              minimal ? "<th title=\"by the minimal (recurrent) FLOP count\">minimal TFLOP/s</th>" : "");
    for (int i = 0; i < rp->n_res; i++)
        if (strcmp(rp->res[i].family, fam) == 0)
            result_row(h, rp, &rp->res[i], minimal);
    sb_puts(h, "</tbody></table>\n");
}

/* One figure: its SVG inline, never drawn wider than gnuplot drew it (so
 * fonts keep their size), then links to its files. Only when its width
 * class (wider than FIG_WIDE_PX or not) is `wide`. */
static void figure_html(struct strbuf *h, const struct rp_item *it, const char *dir, int wide)
{
    static const char vb_at[] = "viewBox=\"0 0 ";
    char *svg = fig_svg_inline(dir, it->stem);
    const char *vb = svg ? strstr(svg, vb_at) : NULL;
    int width = vb ? atoi(vb + strlen(vb_at)) : FIG_WIDE_PX;
    if ((width > FIG_WIDE_PX) != wide) {
        free(svg);
        return;
    }
    sb_printf(h, "<figure id=\"%s\"%s><div class=\"plot\" style=\"max-width:%dpx\">%s</div>"
              "<figcaption>", it->stem, wide ? " class=\"wide\"" : "", width,
              svg ? svg : "(SVG unreadable)");
    sb_html(h, it->title);
    sb_printf(h, " <a href=\"%s.png\">PNG</a><a href=\"%s.svg\">SVG</a><a href=\"%s.gp\">gnuplot"
              "</a><a href=\"%s.dat\">data</a></figcaption></figure>\n", it->stem, it->stem,
              it->stem, it->stem);
    free(svg);
}

/* A section's figures in a grid (two-column ones first, then the wide),
 * then its notes and tables, each in the order they were made. */
static void section_items(struct strbuf *h, const struct report *rp, const char *section,
                          const char *dir)
{
    struct strbuf figs = { 0 };
    for (int wide = 0; wide < 2; wide++)
        for (int i = 0; i < rp->n_items; i++)
            if (strcmp(rp->items[i].section, section) == 0 && rp->items[i].stem)
                figure_html(&figs, &rp->items[i], dir, wide);
    if (figs.len)
        sb_printf(h, "<div class=\"figs\">\n%s</div>\n", sb_str(&figs));
    sb_free(&figs);
    for (int i = 0; i < rp->n_items; i++) {
        const struct rp_item *it = &rp->items[i];
        if (strcmp(it->section, section) != 0 || it->stem)
            continue;
        if (it->note) {
            sb_puts(h, "<p class=\"note\">");
            sb_html(h, it->note);
            sb_puts(h, "</p>\n");
        } else {
            sb_puts(h, "<h3>");
            sb_html(h, it->title);
            sb_printf(h, "</h3>\n%s", it->html);
        }
    }
}

/* ---- the page ------------------------------------------------------------ */

static void page_head(struct strbuf *h, const struct report *rp)
{
    sb_printf(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"generator\" content=\"seqbench bench report\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                 "<title>seqbench report</title>\n<style>\n%s</style>\n</head>\n<body>\n"
                 "<header><h1>seqbench report</h1>\n<p class=\"sub\">", page_css);
    sb_printf(h, "%d run%s from ", rp->n_runs, rp->n_runs == 1 ? "" : "s");
    for (int i = 0; i < rp->n_dbs; i++) {
        sb_puts(h, i ? ", " : "");
        sb_html(h, rp->dbs[i]);
    }
    sb_puts(h, "</p>\n<p class=\"counts\">");
    status_counts(h, rp, NULL);
    sb_puts(h, "</p>\n<nav><a href=\"#runs\">runs</a>");
    for (int i = 0; i < rp->n_families; i++) {
        sb_printf(h, "<a href=\"#family-%d\">", i + 1);
        sb_html(h, rp->families[i]);
        sb_puts(h, "</a>");
    }
    sb_puts(h, "<a href=\"#all\">across families</a>");
    if (rp->n_runs > 1)
        sb_puts(h, "<a href=\"#compare\">runs compared</a>");
    sb_puts(h, "</nav></header>\n");
}

/* What every number on the page counts, in one paragraph. */
static const char conventions[] =
    "<section id=\"conventions\"><h2>How the numbers are counted</h2>\n<p class=\"sub\">"
    "<b>FLOPs</b> count a multiply-add as 2, by the algorithm: attention counts 2&middot;(D + Dv) "
    "per (query, key) pair the mask leaves, exactly (FlashAttention's scripts halve N&middot;Nk "
    "instead); the recurrent families count their chunked recurrence over each chunk's causal "
    "pairs. TFLOP/s and % compute use this count, so implementations compare. What an "
    "implementation's tiles execute beyond it (whole diagonal tiles, padded rows and chunks, "
    "full GEMMs under a causal mask) is its executed count, shown as <i>executed &times;</i>. "
    "<b>% of bound</b> is the time the result's FLOPs and compulsory bytes (each input read "
    "once, each output written once) need at the binding roof, over the measured median; "
    "% compute and % bandwidth are the same against each roof alone. Roofs: NVIDIA's "
    "datasheet peaks on a GPU (bf16 on the tensor cores, fp32 on the FMA units, DRAM), the "
    "measured FMA loop and STREAM triad on the CPU. A result above its roof is clamped to 100 "
    "and says so.</p></section>\n";

int report_html(const struct report *rp, const char *dir, char *err, size_t n)
{
    struct strbuf h = { 0 };
    char path[4200];
    page_head(&h, rp);
    html_runs(&h, rp);
    sb_puts(&h, conventions);
    for (int i = 0; i < rp->n_families; i++) {
        sb_printf(&h, "<section id=\"family-%d\" class=\"family\"><h2>", i + 1);
        sb_html(&h, rp->families[i]);
        sb_puts(&h, "</h2>\n");
        section_items(&h, rp, rp->families[i], dir);
        family_table(&h, rp, rp->families[i]);
        sb_puts(&h, "</section>\n");
    }
    sb_puts(&h, "<section id=\"all\"><h2>Across families</h2>\n");
    section_items(&h, rp, "all", dir);
    sb_puts(&h, "</section>\n");
    if (rp->n_runs > 1) {
        sb_puts(&h, "<section id=\"compare\"><h2>Runs compared</h2>\n<p class=\"sub\">Cases are "
                    "matched by their case string (shape and implementation); each bar is the "
                    "latency in a later run divided by the first run's.</p>\n");
        section_items(&h, rp, "compare", dir);
        sb_puts(&h, "</section>\n");
    }
    sb_printf(&h, "<script>\n%s</script>\n</body>\n</html>\n", page_js);
    snprintf(path, sizeof path, "%s/index.html", dir);
    int rc = sb_write_file(&h, path, err, n);
    sb_free(&h);
    return rc;
}
