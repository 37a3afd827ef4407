/*
 * report_figs.h — what the figure files of `bench report` share
 * (report_figs.c, report_density.c): picking result rows, labelling series
 * by what varies, starting and emitting a figure.
 */
#ifndef SEQBENCH_REPORT_FIGS_H
#define SEQBENCH_REPORT_FIGS_H

#include <stddef.h>
#include <stdint.h>

#include "plot.h"
#include "report.h"

#define LABEL_LEN 512           /* a series label: impl (any length, cut) and its fields */

/* Fields that may identify a series; a label names those that vary. */
enum { F_RUN = 1, F_FAMILY = 2, F_IMPL = 4, F_DTYPE = 8, F_H = 16, F_HKV = 32, F_D = 64,
       F_DV = 128, F_N = 256, F_CAUSAL = 512, F_B = 1024, F_NK = 2048, F_VARIANT = 4096 };
#define SHAPE_FIELDS (F_B | F_N | F_NK | F_H | F_HKV | F_D | F_DV | F_CAUSAL | F_VARIANT)

struct sel {                    /* the rows a figure draws */
    const struct rp_result **r;
    int n;
};

/* What a figure picks: rows of one family/dtype/causal (NULL or -2: any). */
struct pick {
    const char *family, *dtype;
    int64_t causal;
    int run;                    /* -1: any */
    int (*kind)(const struct rp_result *);
};

#define SERIES_FIELDS (F_RUN | F_IMPL | F_H | F_HKV | F_D | F_DV | F_VARIANT)

/* Where the figures go, and how many so far. */
struct figctx {
    struct report *rp;
    const char *dir;
    int count;                  /* figures so far: numbers the file names */
    char *err;
    size_t n;
};

int picks(const struct pick *p, const struct rp_result *r);
/* The rows p picks, in report order (free .r). */
struct sel select_rows(const struct report *rp, const struct pick *p);
/* The fields among `fields` whose value is not the same in every row. */
unsigned varying(const struct sel *s, unsigned fields);
const char *mask_name(int64_t causal);
/* "flash/cpu bf16 D=64 [run 2]": impl (with its family when fam), then
 * the fields of vary. */
void series_label(const struct report *rp, const struct rp_result *r, int fam, unsigned vary,
                  char *buf, size_t len);
/* Starts a figure whose file stem is "NN-what-a-b-c". */
void fig_start(struct figctx *c, struct fig *f, enum fig_kind kind, const char *title,
               const char *what, const char *a, const char *b, const char *d);
/* Renders f and records it in the report's section; with no points,
 * records note instead (if any). Frees f. 1 drawn, 0 not, -1 gnuplot failed. */
int emit(struct figctx *c, struct fig *f, const char *section, const char *note);

/* Block-sparse latency against density beside dense flash, the crossover
 * densities marked and tabulated (report_density.c). Figures drawn, or -1. */
int figs_density(struct figctx *c);

#endif
