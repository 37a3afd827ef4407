/*
 * plot.c — figures as gnuplot data + script files; see plot.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot.h"

/* Sizes in pixels. Bars grow with the number of bars so labels stay legible. */
#define FIG_W 720
#define FIG_H 440
#define FIG_W2 1150             /* two panels */
#define FIG_BAR_PX 18           /* per bar */
#define FIG_CAT_MIN_PX 30       /* per category: 45-degree labels of 11 pt do not overlap */
#define FIG_BARS_MAX_W 2400
#define FIG_KEY_RIGHT_MAX 6     /* more series than this: the key goes below */
#define FIG_KEY_RIGHT_CHARS 30  /* ... or a title longer than this */
#define FIG_KEY_COLS 2
#define FIG_KEY_MAX_CHARS 60    /* longest key entry shown */
#define FIG_KEY_MAX_ENTRIES 40  /* more series than this: no key (it would dwarf the plot) */
#define FIG_XTICS_MAX 16        /* label each x value when there are at most this many */

/* Okabe-Ito colours (distinguishable with colour blindness), yellow swapped
 * for grey, each with its own point shape so lines also differ in print. */
static const char gp_style[] =
    "set encoding utf8\n"
    "set border 3 lw 1 lc rgb '#555555'\n"
    "set tics nomirror out scale 0.5\n"
    "set grid xtics ytics lc rgb '#e6e6e6' lw 1 dt 1\n"
    "set key outside right top vertical Left reverse samplen 2 spacing 1.15 box lc rgb '#dddddd'\n"
    "set linetype 1 lc rgb '#0072b2' lw 2 pt 7 ps 0.9\n"
    "set linetype 2 lc rgb '#d55e00' lw 2 pt 5 ps 0.9\n"
    "set linetype 3 lc rgb '#009e73' lw 2 pt 9 ps 1.1\n"
    "set linetype 4 lc rgb '#cc79a7' lw 2 pt 11 ps 1.1\n"
    "set linetype 5 lc rgb '#e69f00' lw 2 pt 13 ps 1.1\n"
    "set linetype 6 lc rgb '#56b4e9' lw 2 pt 15 ps 1.0\n"
    "set linetype 7 lc rgb '#000000' lw 2 pt 4 ps 0.9\n"
    "set linetype 8 lc rgb '#888888' lw 2 pt 6 ps 0.9\n"
    "set linetype cycle 8\n";

void fig_init(struct fig *f, const char *stem, const char *title, enum fig_kind kind)
{
    memset(f, 0, sizeof *f);
    f->stem = strdup(stem);
    f->title = strdup(title);
    f->kind = kind;
    f->n_panels = 1;
    f->hline = NAN;
}

void fig_free(struct fig *f)
{
    for (int i = 0; i < f->n_series; i++) {
        free(f->series[i].title);
        free(f->series[i].pts);
    }
    for (int i = 0; i < f->n_cats; i++)
        free(f->cats[i]);
    free(f->series);
    free(f->cats);
    free(f->stem);
    free(f->title);
    sb_free(&f->pre);
    sb_free(&f->items);
}

static void *grow(void *p, int count, size_t size)
{
    p = realloc(p, (size_t)(count + 1) * size);
    if (!p) {
        fputs("bench: out of memory\n", stderr);
        abort();
    }
    return p;
}

int fig_series(struct fig *f, const char *title)
{
    for (int i = 0; i < f->n_series; i++)
        if (strcmp(f->series[i].title, title) == 0)
            return i;
    f->series = grow(f->series, f->n_series, sizeof *f->series);
    f->series[f->n_series] = (struct fig_series){ .title = strdup(title) };
    return f->n_series++;
}

void fig_point(struct fig *f, int series, double x, double y0, double y1)
{
    struct fig_series *s = &f->series[series];
    s->pts = grow(s->pts, s->n, sizeof *s->pts);
    s->pts[s->n++] = (struct fig_point){ x, { y0, y1 } };
}

int fig_cat(struct fig *f, const char *label)
{
    for (int i = 0; i < f->n_cats; i++)
        if (strcmp(f->cats[i], label) == 0)
            return i;
    f->cats = grow(f->cats, f->n_cats, sizeof *f->cats);
    f->cats[f->n_cats] = strdup(label);
    return f->n_cats++;
}

int fig_n_points(const struct fig *f)
{
    int n = 0;
    for (int i = 0; i < f->n_series; i++)
        n += f->series[i].n;
    return n;
}

void gp_quote(struct strbuf *b, const char *s)
{
    sb_putn(b, "'", 1);
    for (; s && *s; s++) {
        if (*s == '\'')
            sb_puts(b, "''");
        else if ((unsigned char)*s < 0x20 || *s == 0x7f)
            sb_putn(b, " ", 1);
        else
            sb_putn(b, s, 1);
    }
    sb_putn(b, "'", 1);
}

/* ---- the data file ------------------------------------------------------ */

static int by_x(const void *a, const void *b)
{
    const struct fig_point *p = a, *q = b;
    return (p->x > q->x) - (p->x < q->x);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A number in the fixed data format; NaN marks a missing value. */
static void dat_num(struct strbuf *b, double v)
{
    if (isfinite(v))
        sb_printf(b, " %.6e", v);
    else
        sb_puts(b, " NaN");
}

/* Lines and points: one block per series (plotted with `index i`), points
 * sorted by x, columns x y0 [y1]. */
static void dat_series(struct fig *f, struct strbuf *b)
{
    for (int i = 0; i < f->n_series; i++) {
        struct fig_series *s = &f->series[i];
        qsort(s->pts, (size_t)s->n, sizeof *s->pts, by_x);
        sb_printf(b, "%s# index %d: ", i ? "\n\n" : "", i);
        for (const char *c = s->title; *c; c++)
            sb_putn(b, (unsigned char)*c < 0x20 ? " " : c, 1);
        sb_puts(b, "\n");
        for (int k = 0; k < s->n; k++) {
            dat_num(b, s->pts[k].x);
            for (int p = 0; p < f->n_panels; p++)
                dat_num(b, s->pts[k].y[p]);
            sb_puts(b, "\n");
        }
    }
}

/* Bars: one row per category, "label" then one column per series. */
static void dat_bars(const struct fig *f, struct strbuf *b)
{
    sb_puts(b, "# category");
    for (int i = 0; i < f->n_series; i++)
        sb_printf(b, " | %d", i + 2);
    sb_puts(b, "\n");
    for (int c = 0; c < f->n_cats; c++) {
        sb_puts(b, "\"");
        for (const char *s = f->cats[c]; *s; s++)
            sb_putn(b, *s == '"' ? "'" : (unsigned char)*s < 0x20 ? " " : s, 1);
        sb_puts(b, "\"");
        for (int i = 0; i < f->n_series; i++) {
            double v = NAN;
            for (int k = 0; k < f->series[i].n; k++)
                if ((int)f->series[i].pts[k].x == c)
                    v = f->series[i].pts[k].y[0];
            dat_num(b, v);
        }
        sb_puts(b, "\n");
    }
}

/* ---- the script --------------------------------------------------------- */

/* "96", "2K", "128K", "1M": powers-of-two sizes the way engineers say them. */
static void tic_label(char *buf, size_t len, double x)
{
    long long v = llround(x);
    if (v >= 1 << 20 && v % (1 << 20) == 0)
        snprintf(buf, len, "%lldM", v >> 20);
    else if (v >= 1024 && v % 1024 == 0)
        snprintf(buf, len, "%lldK", v >> 10);
    else
        snprintf(buf, len, "%.4g", x);
}

/* A log x range wider than the data's by factor pad at each end. */
static void gp_xrange(const struct fig *f, struct strbuf *b, double pad)
{
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < f->n_series; i++)
        for (int k = 0; k < f->series[i].n; k++) {
            lo = fmin(lo, f->series[i].pts[k].x);
            hi = fmax(hi, f->series[i].pts[k].x);
        }
    if (hi > 0 && lo > 0)
        sb_printf(b, "set xrange [%.6e:%.6e]\n", lo / pad, hi * pad);
}

/* A log2 x range a little wider than the data, so no point sits on the
 * border, and explicit tics at the data's x values when there are few: a
 * sweep reads best with its own sizes on the axis. */
static void gp_xtics(const struct fig *f, struct strbuf *b)
{
    double xs[FIG_XTICS_MAX];
    int n = 0, many = 0;
    for (int i = 0; i < f->n_series; i++)
        for (int k = 0; k < f->series[i].n; k++) {
            double x = f->series[i].pts[k].x;
            int seen = 0;
            for (int j = 0; j < n; j++)
                seen |= xs[j] == x;
            if (!seen && n == FIG_XTICS_MAX)
                many = 1;
            else if (!seen)
                xs[n++] = x;
        }
    gp_xrange(f, b, 1.25);
    if (many)
        return;                 /* gnuplot's own tics */
    qsort(xs, (size_t)n, sizeof *xs, cmp_double);
    sb_puts(b, "set xtics (");
    for (int j = 0; j < n; j++) {
        char lab[32];
        tic_label(lab, sizeof lab, xs[j]);
        sb_printf(b, "%s'%s' %.6e", j ? ", " : "", lab, xs[j]);
    }
    sb_puts(b, ")\n");
}

/* A key entry: titles longer than FIG_KEY_MAX_CHARS are cut, with "...",
 * so a runaway name cannot push the plot off the canvas. (Series are told
 * apart by their full title before this.) */
static void gp_quote_key(struct strbuf *b, const char *title)
{
    char cut[FIG_KEY_MAX_CHARS + 4];
    if (strlen(title) <= FIG_KEY_MAX_CHARS) {
        gp_quote(b, title);
        return;
    }
    snprintf(cut, sizeof cut, "%.*s...", FIG_KEY_MAX_CHARS - 3, title);
    gp_quote(b, cut);
}

/* The plot command of panel p: one item per series, then the extras. */
static void gp_plot(const struct fig *f, int p, struct strbuf *b)
{
    sb_puts(b, "    plot ");
    for (int i = 0; i < f->n_series; i++) {
        if (i)
            sb_puts(b, ", \\\n         ");
        if (f->kind == FIG_BARS)
            sb_printf(b, "%s using %d%s lt %d title ", i ? "''" : "dat", i + 2,
                      i ? "" : ":xtic(1)", i + 1);
        else
            sb_printf(b, "dat index %d using 1:%d with %s lt %d title ", i, p + 2,
                      f->kind == FIG_LINES ? "linespoints" : "points", i + 1);
        gp_quote_key(b, f->series[i].title);
    }
    if (isfinite(f->hline))
        sb_printf(b, ", \\\n         %g with lines dt 2 lw 1 lc rgb '#555555' notitle", f->hline);
    if (p == 0)
        sb_puts(b, sb_str(&f->items));
    sb_puts(b, "\n");
}

/* Axis settings shared by every panel of a figure. */
static void gp_axes(const struct fig *f, struct strbuf *b)
{
    sb_puts(b, "set xlabel ");
    gp_quote(b, f->xlabel ? f->xlabel : "");
    sb_puts(b, "\n");
    if (f->kind == FIG_BARS) {
        sb_puts(b, "set style data histogram\n"
                   "set style histogram clustered gap 1\n"
                   "set style fill solid 0.85 border rgb '#333333'\n"
                   "set xtics rotate by -45 left\n"
                   "set rmargin 18\n"                   /* the last label runs right */
                   "set grid noxtics\n");
        return;
    }
    if (f->logx == 2) {
        sb_puts(b, "set logscale x 2\n");
        gp_xtics(f, b);
    } else if (f->logx) {
        sb_puts(b, "set logscale x 10\nset format x '%g'\n");
    }
}

/* Tic values for a log axis: 1-2-5, every digit, or decades. */
static const double log_steps[3][10] = { { 1, 2, 5 }, { 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9 }, { 1 } };
static const int n_log_steps[3] = { 3, 10, 1 };

/* The tic values of step set `set` from the one just below lo to the one
 * just above hi (with 5% room), into b as "v, v, ..." when b is not NULL.
 * Returns how many; *a and *z are the ends. */
static int log_tics(double lo, double hi, int set, double *a, double *z, struct strbuf *b)
{
    int n = 0;
    *a = *z = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int e = (int)floor(log10(lo)) - 1; e <= (int)ceil(log10(hi)) + 1; e++)
            for (int m = 0; m < n_log_steps[set]; m++) {
                double v = log_steps[set][m] * pow(10, e);
                if (pass == 0 && v <= lo / 1.05)
                    *a = v;
                if (pass == 0 && v >= hi * 1.05 && *z == 0)
                    *z = v;
                if (pass == 1 && v >= *a && v <= *z) {
                    if (b)
                        sb_printf(b, "%s%g", n ? ", " : "", v);
                    n++;
                }
            }
    return n;
}

/* A log y range from the tic just below the data to the one just above,
 * labelled: gnuplot labels only whole decades, which leaves a narrow range
 * (most latency sweeps) unlabelled. 1-2-5 tics; every digit when that
 * gives fewer than 3, decades when it gives more than 12. */
static void gp_logtics(const struct fig *f, int p, struct strbuf *b)
{
    double lo = INFINITY, hi = 0, a, z;
    for (int i = 0; i < f->n_series; i++)
        for (int k = 0; k < f->series[i].n; k++)
            if (f->series[i].pts[k].y[p] > 0) {
                lo = fmin(lo, f->series[i].pts[k].y[p]);
                hi = fmax(hi, f->series[i].pts[k].y[p]);
            }
    if (!(hi > 0))
        return;
    int n = log_tics(lo, hi, 0, &a, &z, NULL), set = n < 3 ? 1 : n > 12 ? 2 : 0;
    struct strbuf t = { 0 };
    log_tics(lo, hi, set, &a, &z, &t);
    sb_printf(b, "    set yrange [%g:%g]\n    set ytics (%s)\n", a, z, sb_str(&t));
    sb_free(&t);
}

static void gp_panel(const struct fig *f, int p, struct strbuf *b)
{
    if (f->n_panels == 2) {
        /* Equal plot areas; the key sits right of the second one. */
        sb_printf(b, "    set lmargin at screen %s\n    set rmargin at screen %s\n",
                  p ? "0.49" : "0.07", p ? "0.80" : "0.40");
        sb_puts(b, p && f->n_series <= FIG_KEY_MAX_ENTRIES ? "    set key\n" : "    unset key\n");
    }
    sb_puts(b, "    set ylabel ");
    gp_quote(b, f->ylabel[p] ? f->ylabel[p] : "");
    sb_puts(b, "\n");
    if (f->logy[p] && f->kind != FIG_POINTS) {
        sb_puts(b, "    set logscale y 10\n    set offsets 0, 0, 0, 0\n");
        gp_logtics(f, p, b);
    } else if (f->logy[p]) {         /* points: ranges, if any, set by the caller in pre */
        sb_puts(b, "    set logscale y 10\n    set ytics auto\n");
    } else {
        sb_puts(b, "    unset logscale y\n    set yrange [0:*]\n    set ytics auto\n"
                   "    set offsets 0, 0, graph 0.05, 0\n");
    }
    sb_puts(b, "    set format y '%g'\n");
    gp_plot(f, p, b);
}

static void gp_script(const struct fig *f, struct strbuf *b)
{
    int w = f->n_panels == 2 ? FIG_W2 : FIG_W, h = FIG_H;
    if (f->kind == FIG_BARS) {
        int per_cat = (f->n_series + 1) * FIG_BAR_PX;     /* its bars and a gap */
        w = 260 + f->n_cats * (per_cat > FIG_CAT_MIN_PX ? per_cat : FIG_CAT_MIN_PX);
        w = w < FIG_W ? FIG_W : w > FIG_BARS_MAX_W ? FIG_BARS_MAX_W : w;
        h = FIG_H + 100;            /* room for the rotated case labels */
    }
    /* a long key (and a bar chart's) goes below the plot, in columns, so the
     * plot keeps its width */
    size_t longest = 0;
    for (int i = 0; i < f->n_series; i++)
        longest = strlen(f->series[i].title) > longest ? strlen(f->series[i].title) : longest;
    int key_below = f->kind == FIG_BARS || (f->n_panels == 1 && (f->n_series > FIG_KEY_RIGHT_MAX ||
                                                                longest > FIG_KEY_RIGHT_CHARS));
    int no_key = f->n_series > FIG_KEY_MAX_ENTRIES;
    if (key_below && !no_key)
        h += (f->n_series + FIG_KEY_COLS - 1) / FIG_KEY_COLS * 18;
    sb_printf(b, "# %s.gp, written by bench report: ", f->stem);
    gp_quote(b, f->title);
    sb_printf(b, "\n# Redraw %s.png and %s.svg from %s.dat with:  gnuplot %s.gp\n",
              f->stem, f->stem, f->stem, f->stem);
    sb_printf(b, "dat = '%s.dat'\n%s", f->stem, gp_style);
    if (no_key)                 /* the series are named in the .dat's "# index" lines */
        sb_puts(b, "unset key\n");
    else if (key_below)
        sb_printf(b, "set key below center horizontal maxcols %d nobox height 1.5\n", FIG_KEY_COLS);
    gp_axes(f, b);
    sb_puts(b, sb_str(&f->pre));
    sb_puts(b, "do for [fmt in \"png svg\"] {\n"
               "    if (fmt eq \"png\") {\n");
    sb_printf(b, "        set terminal pngcairo size %d,%d font '%s' noenhanced\n"
                 "        tfont = '%s'\n"
                 "    } else {\n"
                 "        set terminal svg size %d,%d dynamic font '%s' noenhanced\n"
                 "        tfont = '%s'\n"
                 "    }\n", w, h, FIG_FONT_PNG, FIG_TITLE_PNG, w, h, FIG_FONT_SVG, FIG_TITLE_SVG);
    sb_printf(b, "    set output '%s.'.fmt\n", f->stem);
    if (f->n_panels == 2) {
        sb_puts(b, "    set multiplot layout 1,2 title ");
        gp_quote(b, f->title);
        sb_puts(b, " font tfont\n");
    } else {
        sb_puts(b, "    set title ");
        gp_quote(b, f->title);
        sb_puts(b, " font tfont\n");
    }
    for (int p = 0; p < f->n_panels; p++)
        gp_panel(f, p, b);
    if (f->n_panels == 2)
        sb_puts(b, "    unset multiplot\n");
    sb_puts(b, "    unset output\n}\n");
}

/* ---- running gnuplot ---------------------------------------------------- */

int gnuplot_found(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *copy = strdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char exe[4096];
        snprintf(exe, sizeof exe, "%s/gnuplot", d);
        found = access(exe, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* The last line of a file that is not blank or a "^" marker: where
 * gnuplot puts its error ("file.gp" line 12: ...), after echoing the
 * offending command. */
static void last_line(const char *path, char *buf, size_t len)
{
    char line[1024];
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strspn(line, " \t\r\n^") != strlen(line))
            snprintf(buf, len, "%.*s", (int)strcspn(line, "\r\n"), line);
    fclose(f);
}

/* Runs `gnuplot STEM.gp` in dir with a fixed locale; its stderr goes to a
 * scratch file that is removed afterwards. Returns 0, or -1 with err. */
static int run_gnuplot(const char *dir, const char *stem, char *err, size_t n)
{
    char script[300], log[4200];
    snprintf(script, sizeof script, "%s.gp", stem);
    snprintf(log, sizeof log, "%s/.%s.err", dir, stem);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, n, "cannot start gnuplot: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int nul = open("/dev/null", O_WRONLY);
        if (fd < 0 || nul < 0 || dup2(fd, 2) < 0 || dup2(nul, 1) < 0 || chdir(dir) != 0)
            _exit(126);
        setenv("LC_ALL", "C.UTF-8", 1);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
        char line[300];
        last_line(log, line, sizeof line);
        snprintf(err, n, "gnuplot failed on %s/%s (exit %d)%s%s", dir, script,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, *line ? ": " : "", line);
    }
    unlink(log);
    return ok ? 0 : -1;
}

static int nonempty(const char *dir, const char *stem, const char *ext)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.%s", dir, stem, ext);
    return stat(path, &st) == 0 && st.st_size > 0;
}

int fig_render(struct fig *f, const char *dir, char *err, size_t n)
{
    struct strbuf dat = { 0 }, gp = { 0 };
    char path[4200];
    if (f->kind == FIG_BARS)
        dat_bars(f, &dat);
    else
        dat_series(f, &dat);
    gp_script(f, &gp);
    snprintf(path, sizeof path, "%s/%s.dat", dir, f->stem);
    int rc = sb_write_file(&dat, path, err, n);
    snprintf(path, sizeof path, "%s/%s.gp", dir, f->stem);
    if (rc == 0)
        rc = sb_write_file(&gp, path, err, n);
    sb_free(&dat);
    sb_free(&gp);
    if (rc == 0)
        rc = run_gnuplot(dir, f->stem, err, n);
    if (rc == 0 && (!nonempty(dir, f->stem, "png") || !nonempty(dir, f->stem, "svg"))) {
        snprintf(err, n, "gnuplot wrote no %s/%s.png or .svg", dir, f->stem);
        rc = -1;
    }
    return rc;
}

/* ---- inlining the SVG --------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct strbuf b = { 0 };
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        sb_putn(&b, buf, got);
    fclose(f);
    return sb_take(&b);
}

char *fig_svg_inline(const char *dir, const char *stem)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.svg", dir, stem);
    char *svg = read_file(path);
    const char *start = svg ? strstr(svg, "<svg") : NULL;
    if (!start) {
        free(svg);
        return NULL;
    }
    /* Attribute forms gnuplot writes that name or reference an id. */
    static const char *const refs[] = { " id='", " id=\"", "href='#", "href=\"#", "url(#" };
    struct strbuf b = { 0 };
    for (const char *s = start; *s;) {
        size_t k, nrefs = sizeof refs / sizeof refs[0];
        for (k = 0; k < nrefs; k++)
            if (strncmp(s, refs[k], strlen(refs[k])) == 0)
                break;
        if (k < nrefs) {
            sb_printf(&b, "%s%s-", refs[k], stem);
            s += strlen(refs[k]);
        } else if (strncmp(s, "<title>Gnuplot</title>", 22) == 0) {
            s += 22;                /* a tooltip saying "Gnuplot" over every figure */
        } else {
            sb_putn(&b, s++, 1);
        }
    }
    free(svg);
    return sb_take(&b);
}
