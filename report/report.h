/*
 * report.h — `bench report`: results databases in, a self-contained HTML
 * folder out.
 *
 *   report_load     reads runs and results from one or more databases, each
 *                   opened read-only (schema versions 1..STORE_SCHEMA_VERSION, columns chosen by
 *                   name so optional ones may be absent);
 *   report_figures  writes .dat + .gp for every figure the data supports
 *                   and runs gnuplot on each (PNG and SVG);
 *   report_html     writes index.html: environment, per-family tables with
 *                   click-to-sort headers, the figures inlined as SVG.
 *
 * The output depends only on the databases: rows come in ORDER BY order,
 * numbers in fixed formats, no generation timestamp — the same database
 * gives byte-identical files.
 */
#ifndef SEQBENCH_REPORT_H
#define SEQBENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "strbuf.h"

#define REPORT_MIN_SCHEMA 1     /* oldest user_version the report reads */
#define REPORT_MAX_SCHEMA STORE_SCHEMA_VERSION /* newest: v4 adds the stopping rule, the bound, per-head errors */
#define REPORT_DECODE_MAX_N 16  /* a case with N <= this and Nk > N is decode */

/* One run row. Text fields are NULL when the column is NULL; numbers that
 * are unknown (NULL, or 0 for peaks) are NAN or -1. */
struct rp_run {
    const char *db;             /* the database it came from, as given */
    int64_t id;                 /* runs.id in that database */
    char *label;                /* "run 1", "run 2"... in report order */
    char *started_at, *finished_at, *suite, *command, *version, *git_commit, *build_flags,
         *hostname, *cpu_model, *device, *gpu_name, *gpu_cc;
    int64_t cpu_threads, gpu_sms, driver_version, runtime_version;
    double peak_tflops, peak_gbps;
    /* Schema 6: NVML's GPU state when the run began (-1 / NAN unknown),
     * why there is none, the measured ceilings (JSON). */
    int64_t sm_clock_mhz, max_sm_clock_mhz, clocks_locked, temperature_c, ecc, mig, persistence;
    double power_limit_w;
    char *nvml_why, *calibration_json;
};

/* One results row. Shape integers are -1 when NULL; doubles NAN. */
struct rp_result {
    int run;                    /* index into report.runs */
    char *case_str, *case_key, *family, *impl, *device, *dtype, *status, *error;
    char *bound;                /* "compute" or "bandwidth": the roof that binds (schema 4) */
    char *variant;              /* shape fields beyond the columns: "Hv=64 gate=head state" */
    int64_t B, N, Nk, H, Hkv, D, Dv, causal;
    double rel_err, flops, flops_minimal, min_bytes, footprint, median_ms, tflops, gbps,
           pct_peak;
    /* Schema 4: % of the bound and of each roof, the roofs, the executed
     * FLOPs. pct_compute falls back to pct_peak for older databases. */
    double pct_bound, pct_compute, pct_bandwidth, roof_flops, roof_bytes_s, flops_executed;
    /* Schema 6: profiling (NAN / -1 / NULL when not measured) and the
     * per-kernel breakdown. */
    int64_t id;                 /* results.id in its database */
    double kernel_ms, dram_read_bytes, dram_write_bytes, l2_bytes, tensor_util_pct, dram_pct,
           energy_j_per_op, power_w, pct_bound_measured, sm_clock_mhz;
    int64_t throttled_samples;
    char *counters_why, *energy_why;
    struct rp_kernel *kernels;
    int n_kernels;
};

/* One row of a result's per-kernel breakdown (the kernels table). */
struct rp_kernel {
    char *name, *grid, *block;
    int64_t registers, shared_bytes;
    double duration_ns, count;  /* a launch's mean; launches per run */
};

/* A figure or table produced for the page, in the order it was made.
 * Exactly one of stem (a figure: stem.png/.svg/.gp/.dat exist), note (a
 * figure that was skipped, and why) and html (a ready table) is set. */
struct rp_item {
    char *section;              /* a family name, or "all" / "compare" */
    char *title;
    char *stem, *note, *html;
};

struct report {
    const char *const *dbs;     /* as given */
    int n_dbs;
    struct rp_run *runs;
    int n_runs;
    struct rp_result *res;      /* ordered by run, family, dtype, causal, shape, N, impl */
    int n_res;
    char **families;            /* distinct, in order of first appearance in res */
    int n_families;
    struct rp_item *items;
    int n_items;
};

/* run_sel: "latest" (each database's newest finished run), "all" (its
 * finished runs), or a run id (looked up in every database, finished or
 * not). include_unfinished: latest and all take the runs that did not
 * finish (runs.finished_at NULL: killed, interrupted) too. Returns 0, or -1
 * with err set to one line naming the file and the problem; nothing is
 * ever written to a database. */
int report_load(struct report *rp, const char *const *dbs, int n_dbs, const char *run_sel,
                int include_unfinished, char *err, size_t n);
void report_free(struct report *rp);

/* Writes the figures into dir (which exists) and records them as items.
 * Returns 0, or -1 with err set (gnuplot failed). */
int report_figures(struct report *rp, const char *dir, char *err, size_t n);

/* Writes dir/index.html from rp and the figures already in dir. */
int report_html(const struct report *rp, const char *dir, char *err, size_t n);

/* The profiling tables (report_profile.c), as items of each family's
 * section: event time against kernel time (the launch overhead), counters,
 * energy, % of the measured ceiling beside % of the datasheet bound, what
 * is missing and why; and the per-kernel breakdown. Only for families
 * with profiled results. */
void report_profile_items(struct report *rp);

/* Table cells shared by the page's tables: text (HTML-escaped, an optional
 * class) and a number shown with fmt and sorted by its full value ("–"
 * when not finite). */
void rp_td_text(struct strbuf *h, const char *cls, const char *s);
void rp_td_num(struct strbuf *h, double v, const char *fmt);

/* Helpers shared by the report's files. */
int rp_ok(const struct rp_result *r);           /* status ok with a median */
int rp_is_decode(const struct rp_result *r);
/* A recurrent family's decode: a few tokens (N <= REPORT_DECODE_MAX_N) on a
 * carried state, whatever the context that state summarises. */
int rp_is_state_decode(const struct rp_result *r);
int rp_is_sweep(const struct rp_result *r);     /* Nk == N (or no Nk): an N sweep point */
/* The shape part of a case key, without family and dtype. */
const char *rp_short_case(const struct rp_result *r);
void rp_add_item(struct report *rp, const char *section, const char *title, const char *stem,
                 const char *note, char *html);

#endif
