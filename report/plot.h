/*
 * plot.h — the gnuplot layer of `bench report`. A figure is built in memory
 * (series of points, or bars per category), then written as STEM.dat (fixed
 * "%.6e" columns, one block per series) and STEM.gp (a script that draws
 * STEM.png with pngcairo and STEM.svg with svg from STEM.dat), then gnuplot
 * runs on it. The .gp and .dat stay beside the figures so a user can edit
 * the script and re-run `gnuplot STEM.gp` in the folder.
 *
 * Every string that can come from a database reaches the script through
 * gp_quote(): a single-quoted gnuplot string (no backquote or macro
 * substitution happens inside those), ' doubled, control characters blanked.
 * gnuplot runs with LC_ALL=C.UTF-8 and fonts named explicitly, so its PNG
 * and SVG output is byte-identical for identical input.
 */
#ifndef SEQBENCH_PLOT_H
#define SEQBENCH_PLOT_H

#include "strbuf.h"

/* Fonts are named, so output does not depend on fontconfig's default.
 * pngcairo sizes points at a larger scale than the svg terminal does; 10 pt
 * in the PNG matches 13 in the SVG. Titles are a little larger. */
#define FIG_FONT_PNG "DejaVu Sans,10"
#define FIG_FONT_SVG "DejaVu Sans,13"
#define FIG_TITLE_PNG ",11"
#define FIG_TITLE_SVG ",15"
#define FIG_MAX_PANELS 2

enum fig_kind {
    FIG_LINES,                  /* y against x, one line with points per series */
    FIG_POINTS,                 /* points only (roofline) */
    FIG_BARS,                   /* clustered bars: x is a category index */
};

struct fig_point { double x, y[FIG_MAX_PANELS]; };

struct fig_series {
    char *title;
    struct fig_point *pts;
    int n;
};

struct fig {
    char *stem;                 /* file name without extension */
    char *title;
    enum fig_kind kind;
    const char *xlabel;
    int logx;                   /* 0 linear; 2 log2, the data's x as tics; 10 log10 */
    int n_panels;               /* 1, or 2 side by side sharing x and the series */
    const char *ylabel[FIG_MAX_PANELS];
    int logy[FIG_MAX_PANELS];
    double hline;               /* a dashed reference line at this y (bars), or NAN */
    struct fig_series *series;
    int n_series;
    char **cats;                /* FIG_BARS: category labels */
    int n_cats;
    struct strbuf pre;          /* extra gnuplot commands before the plot (labels, constants) */
    struct strbuf items;        /* extra plot items, each starting with ", " (roof lines) */
};

/* A figure with no series yet; free with fig_free. */
void fig_init(struct fig *f, const char *stem, const char *title, enum fig_kind kind);
void fig_free(struct fig *f);
/* The series titled title, created when new. Returns its index. */
int fig_series(struct fig *f, const char *title);
void fig_point(struct fig *f, int series, double x, double y0, double y1);
/* The category labelled label, created when new. Returns its index. */
int fig_cat(struct fig *f, const char *label);
/* Number of points over all series. */
int fig_n_points(const struct fig *f);

/* Appends s to b as a safe single-quoted gnuplot string. */
void gp_quote(struct strbuf *b, const char *s);

/* Writes DIR/STEM.dat and DIR/STEM.gp, then runs gnuplot in DIR and checks
 * that the PNG and the SVG are non-empty. Returns 0, or -1 with err set
 * (gnuplot's first line of complaint included). */
int fig_render(struct fig *f, const char *dir, char *err, size_t n);

/* 1 when an executable gnuplot is on PATH. */
int gnuplot_found(void);

/* DIR/STEM.svg as an element to inline into HTML: the XML prolog dropped
 * and every id (and reference to one) prefixed with "STEM-", so several
 * inlined figures never share an id. NULL when unreadable. */
char *fig_svg_inline(const char *dir, const char *stem);

#endif
