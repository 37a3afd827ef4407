/*
 * runcase.h — one case end to end: checks that it can run here, predicts its
 * memory, makes the inputs, computes the reference rows, runs the
 * implementation once on poisoned output, validates, and only then times it.
 * Whatever happens becomes a status in the result, never an abort.
 */
#ifndef SEQBENCH_RUNCASE_H
#define SEQBENCH_RUNCASE_H

#include "measure.h"
#include "seqbench.h"
#include "store.h"

struct dump_case;
struct loaded_case;
struct gpu_ctx;
struct cpu_ceilings;
struct profiler;

/* The roofs a result is measured against (the roofline's two lines): the
 * compute roof of its dtype on its device and the memory bandwidth. */
struct roof {
    double flops;                   /* FLOP/s; 0 unknown */
    double bytes_s;                 /* bytes/s; 0 unknown */
    struct cpu_ceilings *cpu;       /* the measured ceilings behind them (CPU), re-measured
                                       once when a result beats them; NULL: datasheet (GPU) */
    double flops_measured;          /* the measured ceilings (calibrate.h on a GPU, the CPU's
                                       own on the CPU): pct_bound_measured; 0 unknown */
    double bytes_s_measured;
};

struct case_req {
    const struct family *family;
    const struct impl *impl;
    struct shape shape;             /* complete (defaults filled) */
    uint64_t seed;
    const char *device;             /* "cpu" or "cuda:N": the run's device */
    struct gpu_ctx *gpu;            /* NULL when no usable GPU */
    const char *no_gpu_reason;      /* why gpu is NULL, for the skip status */
    struct measure_opts mopts;
    int verify_only;                /* validate, do not time */
    const char *dump_dir;           /* --dump DIR, or NULL */
    const struct loaded_case *load; /* --load DIR inputs, or NULL */
    struct roof roof;               /* for % of bound; zeros: unknown */
    struct profiler *prof;          /* the session's instruments (profile.h); NULL: none */
};

struct case_result {
    struct result_record rec;       /* strings point into the buffers below */
    char case_str[256];
    char case_key[256];
    char shape_json[256];
    char status[320];
    char error[320];
    char impl_info[512];            /* the implementation's op_ctx.info */
    char counters_json[2048];
    char counters_why[512];
    char energy_why[320];
    char text[4096];                /* the other strings of a result read back from the store */
    double *samples;                /* malloc'd, n_samples of them */
    struct kernel_row *kernels;     /* malloc'd, rec.n_kernels of them */
};

/* Fills res; returns 0 (a result to store) or -1 only when the result
 * itself could not be produced (out of host memory for the bookkeeping). */
int run_case(const struct case_req *req, struct case_result *res);
void case_result_free(struct case_result *res);

/* A result that never ran: status "skipped: <why>". */
void case_result_skipped(const struct case_req *req, const char *why, struct case_result *res);
/* A result whose run failed outside the case (its isolated process died):
 * status "error: <why>". */
void case_result_error(const struct case_req *req, const char *why, struct case_result *res);

/* Bytes the case needs on its device (inputs and output in the dtype plus
 * the implementation's workspace), and on the host (fp32 copies). */
double case_device_bytes(const struct case_req *req);
double case_host_bytes(const struct case_req *req);

#endif
