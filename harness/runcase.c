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

#include "dump.h"
#include "gpu.h"
#include "runcase.h"
#include "validate.h"

/* Memory the harness leaves free on each side, for the runtime, libraries
 * and fragmentation: a case predicted over the rest is skipped, not tried. */
#define DEVICE_HEADROOM 0.95
#define HOST_HEADROOM 0.80

static void record_init(const struct case_req *q, struct case_result *res)
{
    memset(res, 0, sizeof *res);
    const struct shape *s = &q->shape;
    case_string(q->family, q->impl->name, s, res->case_str, sizeof res->case_str);
    case_string(q->family, NULL, s, res->case_key, sizeof res->case_key);
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
    r->l2_flush = q->impl->device == DEV_CUDA ? q->mopts.flush_l2 : -1;
    r->seed = q->seed;
    r->flops = r->min_bytes = r->flops_minimal = NAN;
    r->noise = r->pct_bound = r->pct_compute = r->pct_bandwidth = NAN;
    r->roof_flops = r->roof_bytes_s = r->flops_executed = NAN;
    r->worst_rel_err = r->validate_s = r->recheck_rel_err = NAN;
    r->worst_row = r->worst_head = -1;
    r->stop_reason = r->timing = r->bound = r->impl_info = NULL;
    char msg[160];
    if (q->family->validate(s, msg, sizeof msg) == 0) {
        r->flops = q->family->flops(s);
        r->flops_minimal = q->family->flops_minimal ? q->family->flops_minimal(s) : r->flops;
        r->min_bytes = q->family->min_bytes(s);
    }
}

void case_result_skipped(const struct case_req *q, const char *why, struct case_result *res)
{
    record_init(q, res);
    snprintf(res->status, sizeof res->status, "skipped: %s", why);
}

void case_result_free(struct case_result *res)
{
    free(res->samples);
    res->samples = NULL;
}

static double io_elems(const struct case_req *q)
{
    struct io_specs io;
    q->family->io(&q->shape, &io);
    double n = (double)tensor_numel(&io.out) + (io.final.ndim ? (double)tensor_numel(&io.final) : 0);
    for (int i = 0; i < io.n_in; i++)
        n += (double)tensor_numel(&io.in[i]);
    return n;
}

double case_device_bytes(const struct case_req *q)
{
    double ws = q->impl->workspace_bytes ? (double)q->impl->workspace_bytes(&q->shape) : 0;
    return io_elems(q) * dtype_table[q->shape.dtype].bytes + ws;
}

double case_host_bytes(const struct case_req *q)
{
    return io_elems(q) * sizeof(float);
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

int run_case(const struct case_req *q, struct case_result *res)
{
    const struct family *f = q->family;
    const struct impl *im = q->impl;
    const struct shape *s = &q->shape;
    char why[240];
    record_init(q, res);
    if (cannot_run(q, why, sizeof why)) {
        snprintf(res->status, sizeof res->status, "skipped: %s", why);
        return 0;
    }

    struct io_specs io;
    f->io(s, &io);
    const int64_t out_n = tensor_numel(&io.out), elems = family_row_elems(&io);
    float *in[SB_MAX_TENSORS] = { 0 };
    float *out = malloc((size_t)out_n * sizeof *out);
    const int64_t final_n = io.final.ndim ? tensor_numel(&io.final) : 0;
    float *final = final_n ? malloc((size_t)final_n * sizeof *final) : NULL;
    int64_t *rows = NULL, nrows = 0;
    int sampled = 0, rc = SB_OK, setup_done = 0;
    double *ref = NULL, *ref_final = NULL;
    struct op_ctx ctx = { .shape = s, .io = &io, .out = out, .final = final,
                          .scale = 1.0 / sqrt((double)s->D),
                          .threads = omp_get_max_threads(),
                          .gpu = im->device == DEV_CUDA ? q->gpu : NULL };
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

    nrows = validate_pick_rows(f, s, q->seed, &rows, &sampled);
    if (nrows < 0 || !(ref = malloc((size_t)(nrows * elems) * sizeof *ref)))
        goto host_oom;
    f->reference(s, ctx.scale, ctx.in, rows, nrows, ref, ref_final);
    res->rec.rows_checked = nrows;
    res->rec.rows_total = family_out_rows(&io);

    for (int64_t i = 0; i < out_n; i++)
        out[i] = NAN;                           /* poison: unwritten elements fail */
    for (int64_t i = 0; i < final_n; i++)
        final[i] = NAN;
    if (ctx.gpu)
        gpu_reset_peak(ctx.gpu);
    rc = im->setup ? im->setup(&ctx) : SB_OK;
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

    struct check_result chk;
    validate_compare(f, s, out, out_n, rows, nrows, elems, ref, &chk);
    if (chk.ok && final_n)
        validate_final(f, s, &io, final, ref_final, &chk);
    res->rec.rel_err = chk.rel_l2;
    res->rec.max_abs_err = chk.max_abs;
    if (!chk.ok) {
        snprintf(res->status, sizeof res->status, "mismatch");
        snprintf(res->error, sizeof res->error, "%s", chk.why);
        res->rec.error = res->error;
    } else if (q->verify_only) {
        snprintf(res->status, sizeof res->status, "ok");
    } else {
        res->samples = malloc((size_t)q->mopts.max_samples * sizeof *res->samples);
        if (!res->samples)
            goto host_oom;
        if ((rc = measure_case(im, &ctx, &q->mopts, res->samples, &res->rec.n_samples)) != SB_OK)
            goto failed;
        struct stats st;
        stats_compute(res->samples, res->rec.n_samples, &st);
        struct result_record *r = &res->rec;
        r->median_ms = st.median, r->min_ms = st.min, r->p10_ms = st.p10, r->p90_ms = st.p90;
        r->mean_ms = st.mean, r->stdev_ms = st.stdev;
        r->tflops = r->flops / (st.median * 1e-3) / 1e12;
        r->gbps = r->min_bytes / (st.median * 1e-3) / 1e9;
        if (q->peak_flops > 0)
            r->pct_peak = 100.0 * r->tflops * 1e12 / q->peak_flops;
        snprintf(res->status, sizeof res->status, "ok");
    }
    res->rec.footprint_bytes = ctx.gpu ? gpu_peak_case_bytes(ctx.gpu) : (int64_t)case_host_bytes(q);
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
    return 0;
}
