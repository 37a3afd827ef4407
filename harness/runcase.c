/*
 * runcase.c — see runcase.h. The order matters and follows llm.c's habit:
 * check, initialise, validate, and only then time.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ceilings.h"
#include "dump.h"
#include "gpu.h"
#include "memuse.h"
#include "nvtx.h"
#include "profile.h"
#include "runcase.h"
#include "validate.h"

/* Memory the harness leaves free on each side, for the runtime, libraries
 * and fragmentation: a case predicted over the rest is skipped, not tried. */
#define DEVICE_HEADROOM 0.95
#define HOST_HEADROOM 0.80

/* A GPU case timed other than cold says so at the end of its case string
 * and key (" timing=graph"), so it never matches a cold result; cold, the
 * default, adds nothing, so keys from before timing modes still match. */
static void append_timing(const struct case_req *q, char *buf, size_t n)
{
    size_t len = strlen(buf);
    if (q->impl->device == DEV_CUDA && q->mopts.timing != TIMING_COLD && len < n)
        snprintf(buf + len, n - len, " timing=%s", timing_names[q->mopts.timing]);
}

static void record_init(const struct case_req *q, struct case_result *res)
{
    memset(res, 0, sizeof *res);
    const struct shape *s = &q->shape;
    case_string(q->family, q->impl->name, s, res->case_str, sizeof res->case_str);
    case_string(q->family, NULL, s, res->case_key, sizeof res->case_key);
    append_timing(q, res->case_str, sizeof res->case_str);
    append_timing(q, res->case_key, sizeof res->case_key);
    shape_json(q->family, s, res->shape_json, sizeof res->shape_json);
    struct result_record *r = &res->rec;
    r->case_str = res->case_str;
    r->case_key = res->case_key;
    r->shape_json = res->shape_json;
    r->family = q->family->name;
    r->impl = q->impl->name;
    r->device = q->impl->device == DEV_CUDA ? q->device : "cpu";
    r->dtype = dtype_table[s->dtype].name;
    r->B = s->B, r->N = s->N, r->Nk = s->Nk, r->H = s->H, r->Hkv = s->Hkv;
    r->D = s->D, r->Dv = s->Dv, r->causal = s->causal;
    r->status = res->status;
    r->error = NULL;
    r->rel_err = r->max_abs_err = NAN;
    r->median_ms = r->min_ms = r->p10_ms = r->p90_ms = r->mean_ms = r->stdev_ms = NAN;
    r->tflops = r->gbps = r->pct_peak = r->kernel_ms = NAN;
    r->footprint_bytes = -1;
    r->l2_flush = q->impl->device == DEV_CUDA
                      ? q->mopts.timing == TIMING_COLD || q->mopts.timing == TIMING_KERNEL : -1;
    r->seed = q->seed;
    r->flops = r->min_bytes = r->flops_minimal = NAN;
    r->noise = r->pct_bound = r->pct_compute = r->pct_bandwidth = NAN;
    r->roof_flops = r->roof_bytes_s = r->flops_executed = NAN;
    r->worst_rel_err = r->validate_s = r->recheck_rel_err = NAN;
    r->worst_row = r->worst_head = -1;
    r->stop_reason = r->timing = r->bound = r->impl_info = NULL;
    r->dram_read_bytes = r->dram_write_bytes = r->l2_bytes = r->tensor_util_pct = r->dram_pct = NAN;
    r->energy_j_per_op = r->power_w = r->sm_clock_mhz = NAN;
    r->pct_bound_measured = r->roof_flops_measured = r->roof_bytes_s_measured = NAN;
    r->throttled_samples = -1;
    r->throttle_reasons = r->footprint_predicted = r->pool_peak_bytes = -1;
    r->meminfo_bytes = r->host_peak_bytes = -1;
    r->started_at_ms = r->finished_at_ms = store_now_ms();
    char msg[160];
    if (q->family->validate(s, msg, sizeof msg) == 0) {
        r->flops = q->family->flops(s);
        r->flops_minimal = q->family->flops_minimal ? q->family->flops_minimal(s) : r->flops;
        r->min_bytes = q->family->min_bytes(s);
        r->flops_executed = q->impl->flops_executed ? q->impl->flops_executed(s) : r->flops;
    }
}

void case_result_skipped(const struct case_req *q, const char *why, struct case_result *res)
{
    record_init(q, res);
    snprintf(res->status, sizeof res->status, "skipped: %s", why);
}

void case_result_error(const struct case_req *q, const char *why, struct case_result *res)
{
    record_init(q, res);
    snprintf(res->status, sizeof res->status, "error: %s", why);
}

void case_result_free(struct case_result *res)
{
    free(res->samples);
    free(res->kernels);
    res->samples = NULL;
    res->kernels = NULL;
    res->rec.kernels = NULL;
    res->rec.n_kernels = 0;
}

/* Elements of the case's tensors; *u8 of them integer inputs (a mask),
 * one byte each on the device. */
static double io_elems(const struct case_req *q, double *u8)
{
    struct io_specs io;
    q->family->io(&q->shape, &io);
    double n = (double)tensor_numel(&io.out) + (io.final.ndim ? (double)tensor_numel(&io.final) : 0);
    *u8 = 0;
    for (int i = 0; i < io.n_in; i++) {
        n += (double)tensor_numel(&io.in[i]);
        *u8 += io.in[i].u8 ? (double)tensor_numel(&io.in[i]) : 0;
    }
    return n;
}

double case_device_bytes(const struct case_req *q)
{
    double ws = q->impl->workspace_bytes ? (double)q->impl->workspace_bytes(&q->shape) : 0, u8;
    const double n = io_elems(q, &u8);
    return (n - u8) * dtype_table[q->shape.dtype].bytes + u8 + ws;
}

double case_host_bytes(const struct case_req *q)
{
    double u8;
    return io_elems(q, &u8) * sizeof(float);
}

static double host_available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb > 0)
        return kb * 1024;
    return (double)sysconf(_SC_AVPHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
}

/* Why this case cannot run here, or NULL. */
static const char *cannot_run(const struct case_req *q, char *why, size_t n)
{
    const struct impl *im = q->impl;
    const struct shape *s = &q->shape;
    char msg[200];
    if (q->family->validate(s, msg, sizeof msg) != 0) {
        snprintf(why, n, "invalid shape: %s", msg);
        return why;
    }
    if (!(im->dtypes & DT_BIT(s->dtype))) {
        snprintf(why, n, "%s does not support %s", im->name, dtype_table[s->dtype].name);
        return why;
    }
    if (!im->run) {
        snprintf(why, n, "built without CUDA (nvcc not found at build time)");
        return why;
    }
    if (!impl_available(im, why, n))
        return why;
    if (im->device == DEV_CUDA && !q->gpu) {
        snprintf(why, n, "%s", q->no_gpu_reason ? q->no_gpu_reason : "no CUDA device");
        return why;
    }
    double host = case_host_bytes(q), avail = host_available_bytes();
    if (host > HOST_HEADROOM * avail) {
        snprintf(why, n, "needs %.1f GiB of host memory, %.1f GiB available", host / 0x1p30,
                 avail / 0x1p30);
        return why;
    }
    if (im->device == DEV_CUDA) {
        double dev = case_device_bytes(q), free_b = (double)gpu_free_bytes(q->gpu);
        if (dev > DEVICE_HEADROOM * free_b) {
            snprintf(why, n, "needs %.1f GiB of device memory, %.1f GiB free", dev / 0x1p30,
                     free_b / 0x1p30);
            return why;
        }
    }
    return NULL;
}

static void set_status_error(struct case_result *res, int rc, const char *err)
{
    if (rc == SB_OOM)
        snprintf(res->status, sizeof res->status, "oom");
    else if (rc == SB_UNSUPPORTED)
        snprintf(res->status, sizeof res->status, "skipped: %s", err[0] ? err : "unsupported shape");
    else
        snprintf(res->status, sizeof res->status, "error: %s", err[0] ? err : "unknown failure");
    if (rc == SB_OOM && err[0]) {
        snprintf(res->error, sizeof res->error, "%s", err);
        res->rec.error = res->error;
    }
}

/* % of each roof and of the bound, from the algorithmic FLOPs, the
 * compulsory bytes and the median: the time the work needs at a roof over
 * the time it took. The binding roof is the one that needs longer. A roof
 * that is unknown leaves its % (and the bound) NULL. */
static void bound_set(struct result_record *r, const struct roof *roof)
{
    const double t = r->median_ms * 1e-3;
    r->roof_flops = roof->flops > 0 ? roof->flops : NAN;
    r->roof_bytes_s = roof->bytes_s > 0 ? roof->bytes_s : NAN;
    r->pct_compute = 100.0 * r->flops / r->roof_flops / t;
    r->pct_bandwidth = 100.0 * r->min_bytes / r->roof_bytes_s / t;
    r->pct_peak = r->pct_compute;       /* the legacy column keeps its meaning */
    r->bound = NULL;
    r->pct_bound = NAN;
    if (isfinite(r->pct_compute) && isfinite(r->pct_bandwidth)) {
        const int bw = r->pct_bandwidth > r->pct_compute;
        r->bound = bw ? "bandwidth" : "compute";
        r->pct_bound = bw ? r->pct_bandwidth : r->pct_compute;
    }
}

static int bound_beaten(const struct result_record *r)
{
    return r->pct_compute > 100 || r->pct_bandwidth > 100;
}

/* A result faster than a roof allows says the roof was measured low (a CPU
 * ceiling taken while the machine was busier), or the roof or a count is
 * wrong. A measured roof is measured again (once per run: the ceilings keep
 * the best value ever seen). What still beats its roof keeps its status —
 * its time is as good as any — but its % are clamped to 100 and a note in
 * the error column says by how much and against which roof, so no stored
 * % ever exceeds 100 and none is silently wrong. */
static void case_bound(const struct case_req *q, struct case_result *res)
{
    struct result_record *r = &res->rec;
    struct roof roof = q->roof;
    bound_set(r, &roof);
    if (bound_beaten(r) && roof.cpu && ceilings_remeasure(roof.cpu)) {
        roof.flops = roof.cpu->flops;
        roof.bytes_s = roof.cpu->bytes_s;
        bound_set(r, &roof);
    }
    if (!bound_beaten(r))
        return;
    const int compute = r->pct_compute > 100;
    snprintf(res->error, sizeof res->error,
             "above its roof: %.1f %% of the %s roof (%.4g %s, %s); %% clamped to 100",
             compute ? r->pct_compute : r->pct_bandwidth, compute ? "compute" : "bandwidth",
             compute ? r->roof_flops / 1e9 : r->roof_bytes_s / 1e9, compute ? "GFLOP/s" : "GB/s",
             roof.cpu ? "measured ceiling, re-measured this run" : "datasheet");
    r->error = res->error;
    double *pct[] = { &r->pct_compute, &r->pct_bandwidth, &r->pct_bound };
    for (size_t i = 0; i < sizeof pct / sizeof pct[0]; i++)
        if (*pct[i] > 100)              /* (not fmin: a NULL % stays NULL) */
            *pct[i] = 100;
    r->pct_peak = r->pct_compute;
}

/* % of bound against the measured ceilings (the GPU's from calibrate.h,
 * the CPU's own): the time the work needs at the binding measured roof over
 * the median. Not clamped: a kernel that beats what cuBLAS or a copy
 * reached says the ceiling is the number to question. */
static void bound_measured(const struct case_req *q, struct result_record *r)
{
    const double f = q->roof.cpu ? q->roof.cpu->flops : q->roof.flops_measured;
    const double b = q->roof.cpu ? q->roof.cpu->bytes_s : q->roof.bytes_s_measured;
    r->roof_flops_measured = f > 0 ? f : NAN;
    r->roof_bytes_s_measured = b > 0 ? b : NAN;
    const double need = fmax(r->flops / r->roof_flops_measured, r->min_bytes / r->roof_bytes_s_measured);
    r->pct_bound_measured = 100.0 * need / (r->median_ms * 1e-3);
}

/* Device memory the case took as cudaMemGetInfo sees it: the free memory
 * before setup less the least seen since (inputs, outputs, workspaces and
 * what libraries allocated themselves; device-wide, so another process's
 * allocation counts too). */
struct meminfo_watch {
    int64_t before, least;
};

static void meminfo_look(struct meminfo_watch *w, struct gpu_ctx *g)
{
    const int64_t f = g ? gpu_free_bytes(g) : 0;
    if (f > 0 && (w->least <= 0 || f < w->least))
        w->least = f;
}

/* What the check before timing compared, kept for the recheck after it. */
struct check_set {
    const struct io_specs *io;
    struct tolerance tol;       /* the family's, for the case's dtype */
    const int64_t *rows;        /* the checked rows, sorted */
    int64_t nrows;
    const double *ref;          /* nrows × row elems */
    const double *ref_final;    /* io->final in full; NULL when none */
};

/* ctx->out (and ctx->final) against the reference on the checked rows. */
static int check_output(const struct check_set *cs, const struct op_ctx *ctx,
                        struct check_result *chk)
{
    const struct io_specs *io = cs->io;
    validate_compare(&cs->tol, ctx->out, tensor_numel(&io->out), cs->rows, cs->nrows,
                     family_row_elems(io), validate_out_heads(io), cs->ref, chk);
    if (chk->ok && ctx->final)
        validate_final(&cs->tol, io, ctx->final, cs->ref_final, chk);
    return chk->ok;
}

static void set_mismatch(struct case_result *res, const char *why)
{
    snprintf(res->status, sizeof res->status, "mismatch");
    snprintf(res->error, sizeof res->error, "%s", why);
    res->rec.error = res->error;
}

/* A GPU implementation's output that passed the sampled check: every row
 * against the device reference. chk takes its worst (row, head) when that
 * is worse, or its verdict when it fails. */
static int check_on_device(const struct family *f, struct op_ctx *ctx, struct check_result *chk,
                           struct case_result *res)
{
    struct check_result dev;
    int ran, rc = validate_on_device(f, ctx, &dev, &ran);
    if (rc != SB_OK || !ran)
        return rc;
    res->rec.rows_checked = res->rec.rows_total;
    if (!dev.ok) {
        chk->ok = 0;
        snprintf(chk->why, sizeof chk->why, "device reference (every row, fp32): %.150s", dev.why);
    }
    if (!dev.ok || dev.worst_rel_l2 > chk->worst_rel_l2) {
        chk->worst_rel_l2 = dev.worst_rel_l2;
        chk->worst_row = dev.worst_row, chk->worst_head = dev.worst_head;
    }
    return SB_OK;
}

/* After timing: the output of the last timed run, fetched again, checked on
 * the same rows, so a fault that appears only under back-to-back launches
 * (a race, a stale buffer, state carried between runs) fails the case. The
 * host output was poisoned before timing, so only what the timed runs (CPU)
 * or this fetch (GPU) wrote counts. *matched = 0: status "mismatch". */
static int recheck_last_run(const struct impl *im, struct op_ctx *ctx, const struct check_set *cs,
                            struct case_result *res, int *matched)
{
    int rc;
    if (im->fetch && (rc = im->fetch(ctx)) != SB_OK)
        return rc;
    struct check_result chk;
    *matched = check_output(cs, ctx, &chk);
    res->rec.recheck_rel_err = chk.rel_l2;
    if (!*matched) {
        char why[sizeof res->error];
        snprintf(why, sizeof why, "after timing, the last timed run: %.200s", chk.why);
        set_mismatch(res, why);
    }
    return SB_OK;
}

/* Poisons the host output (and final state): an element nobody writes
 * stays NaN and fails the check. */
static void poison_host(const struct op_ctx *ctx)
{
    const int64_t out_n = tensor_numel(&ctx->io->out);
    const int64_t final_n = ctx->final ? tensor_numel(&ctx->io->final) : 0;
    for (int64_t i = 0; i < out_n; i++)
        ctx->out[i] = NAN;
    for (int64_t i = 0; i < final_n; i++)
        ctx->final[i] = NAN;
}

int run_case(const struct case_req *q, struct case_result *res)
{
    const struct family *f = q->family;
    const struct impl *im = q->impl;
    const struct shape *s = &q->shape;
    char why[240];
    record_init(q, res);
    /* The prediction that decides skip-before-OOM, kept beside what the
     * case then measured. */
    res->rec.footprint_predicted = (int64_t)(im->device == DEV_CUDA ? case_device_bytes(q)
                                                                     : case_host_bytes(q));
    if (cannot_run(q, why, sizeof why)) {
        snprintf(res->status, sizeof res->status, "skipped: %s", why);
        res->rec.finished_at_ms = store_now_ms();
        return 0;
    }
    nvtx_push(res->case_str);
    struct host_peak host_peak;
    host_peak_begin(&host_peak);
    struct measure_opts mopts = q->mopts;
    profile_measure_opts(q->prof, &mopts);

    struct io_specs io;
    f->io(s, &io);
    const int64_t elems = family_row_elems(&io);
    float *in[SB_MAX_TENSORS] = { 0 };
    float *out = malloc((size_t)tensor_numel(&io.out) * sizeof *out);
    const int64_t final_n = io.final.ndim ? tensor_numel(&io.final) : 0;
    float *final = final_n ? malloc((size_t)final_n * sizeof *final) : NULL;
    int64_t *rows = NULL, nrows = 0;
    int sampled = 0, rc = SB_OK, setup_done = 0;
    double *ref = NULL, *ref_final = NULL;
    struct op_ctx ctx = { .shape = s, .io = &io, .out = out, .final = final,
                          .scale = shape_default_scale(s),
                          .threads = omp_get_max_threads(),
                          .gpu = im->device == DEV_CUDA ? q->gpu : NULL,
                          .impl_data = im->data };
    if (q->load)
        ctx.scale = q->load->scale;

    for (int i = 0; i < io.n_in; i++) {
        in[i] = q->load ? q->load->in[i] : malloc((size_t)tensor_numel(&io.in[i]) * sizeof(float));
        if (!in[i])
            goto host_oom;
    }
    if (!out || (final_n && !final))
        goto host_oom;
    if (final_n && !(ref_final = malloc((size_t)final_n * sizeof *ref_final)))
        goto host_oom;
    if (!q->load)
        f->inputs(s, q->seed, in);
    ctx.in = (const float *const *)in;

    double t_check = now_seconds();     /* validate_s: picking, reference, comparisons */
    nrows = validate_pick_rows(f, s, q->seed, &rows, &sampled);
    if (nrows < 0 || !(ref = malloc((size_t)(nrows * elems) * sizeof *ref)))
        goto host_oom;
    f->reference(s, ctx.scale, ctx.in, rows, nrows, ref, ref_final);
    res->rec.rows_checked = nrows;
    res->rec.rows_total = family_out_rows(&io);
    const struct check_set cs = { .io = &io, .tol = f->tolerance(s), .rows = rows,
                                  .nrows = nrows, .ref = ref, .ref_final = ref_final };
    double validate_s = now_seconds() - t_check;

    poison_host(&ctx);
    struct meminfo_watch mem = { 0 };
    if (ctx.gpu) {
        gpu_reset_peak(ctx.gpu);
        mem.before = gpu_free_bytes(ctx.gpu);
    }
    rc = im->setup ? im->setup(&ctx) : SB_OK;
    meminfo_look(&mem, ctx.gpu);
    if (ctx.info[0]) {                          /* kept for a skip or an error too */
        snprintf(res->impl_info, sizeof res->impl_info, "%s", ctx.info);
        res->rec.impl_info = res->impl_info;
    }
    if (rc != SB_OK)
        goto failed;
    setup_done = 1;
    if ((rc = im->run(&ctx)) != SB_OK)
        goto failed;
    if (im->fetch && (rc = im->fetch(&ctx)) != SB_OK)
        goto failed;
    meminfo_look(&mem, ctx.gpu);

    t_check = now_seconds();
    struct check_result chk;
    if (check_output(&cs, &ctx, &chk) && ctx.gpu &&
        (rc = check_on_device(f, &ctx, &chk, res)) != SB_OK)
        goto failed;
    res->rec.validate_s = validate_s + (now_seconds() - t_check);
    res->rec.rel_err = chk.rel_l2;
    res->rec.max_abs_err = chk.max_abs;
    res->rec.worst_rel_err = chk.worst_rel_l2;
    res->rec.worst_row = chk.worst_row;
    res->rec.worst_head = chk.worst_head;
    if (!chk.ok) {
        set_mismatch(res, chk.why);
    } else if (q->verify_only) {
        snprintf(res->status, sizeof res->status, "ok");
    } else {
        res->samples = malloc((size_t)q->mopts.max_samples * sizeof *res->samples);
        if (!res->samples)
            goto host_oom;
        struct measure_result m;
        struct result_record *r = &res->rec;
        poison_host(&ctx);
        rc = measure_case(im, &ctx, &mopts, res->samples, &m);
        meminfo_look(&mem, ctx.gpu);
        r->n_samples = m.n;
        r->timing = timing_names[m.timing];
        r->throttled_samples = m.throttled;
        r->throttle_reasons = m.reasons;
        r->sm_clock_mhz = m.sm_mhz;
        if (rc != SB_OK)
            goto failed;
        int matched;
        if ((rc = recheck_last_run(im, &ctx, &cs, res, &matched)) != SB_OK)
            goto failed;
        if (!matched) {             /* a wrong result has no speed: nothing timed is stored */
            r->n_samples = 0;
            goto measured;
        }
        r->noise = isfinite(m.noise) ? m.noise : NAN;
        r->stop_reason = stop_names[m.stop];
        struct stats st;
        stats_compute(res->samples, m.n, &st);
        r->median_ms = st.median, r->min_ms = st.min, r->p10_ms = st.p10, r->p90_ms = st.p90;
        r->mean_ms = st.mean, r->stdev_ms = st.stdev;
        r->tflops = r->flops / (st.median * 1e-3) / 1e12;
        r->gbps = r->min_bytes / (st.median * 1e-3) / 1e9;
        case_bound(q, res);
        bound_measured(q, r);
        measure_status(&q->mopts, &m, res->status, sizeof res->status);
        profile_case(q->prof, im, &ctx, &mopts, res);
        meminfo_look(&mem, ctx.gpu);
    }
measured:
    res->rec.footprint_bytes = ctx.footprint_bytes > 0 ? ctx.footprint_bytes
                               : ctx.gpu ? gpu_peak_case_bytes(ctx.gpu) : (int64_t)case_host_bytes(q);
    res->rec.host_peak_bytes = host_peak_end(&host_peak);
    if (ctx.gpu) {
        res->rec.pool_peak_bytes = gpu_pool_peak_bytes(ctx.gpu);
        if (mem.before > 0 && mem.least > 0)
            res->rec.meminfo_bytes = mem.before > mem.least ? mem.before - mem.least : 0;
    }
    goto done;

host_oom:
    rc = SB_OOM;
    snprintf(ctx.err, sizeof ctx.err, "out of host memory");
failed:
    set_status_error(res, rc, ctx.err);
done:
    if (q->dump_dir) {
        struct dump_case dc = { .family = f, .impl = im->name, .shape = s, .scale = ctx.scale,
                                .seed = q->seed, .io = &io, .in = ctx.in,
                                .out = setup_done ? out : NULL, .ref_rows = rows,
                                .n_ref_rows = nrows, .sampled = sampled, .ref = ref,
                                .final = setup_done ? final : NULL, .ref_final = ref_final };
        char err[300];
        if (ctx.in && dump_write(q->dump_dir, &dc, err, sizeof err) != 0) {
            snprintf(res->status, sizeof res->status, "error: dump: %.300s", err);
        }
    }
    if (setup_done && im->teardown)
        im->teardown(&ctx);
    if (ctx.gpu)
        gpu_free_case(ctx.gpu);
    if (!q->load)
        for (int i = 0; i < io.n_in; i++)
            free(in[i]);
    free(out), free(rows), free(ref), free(final), free(ref_final);
    res->rec.finished_at_ms = store_now_ms();
    nvtx_pop();
    return 0;
}
