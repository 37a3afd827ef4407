/*
 * table.c — see table.h.
 */
#include <math.h>
#include <string.h>

#include "cli.h"
#include "table.h"

void table_header(FILE *f)
{
    fprintf(f, "| case | status | median ms | p10-p90 ms | TFLOP/s | GB/s | %% of bound | rel err | samples (noise) |\n");
    fprintf(f, "|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
}

static void num(FILE *f, double x, const char *fmt)
{
    if (isnan(x))
        fputs(" - |", f);
    else {
        fputc(' ', f);
        fprintf(f, fmt, x);
        fputs(" |", f);
    }
}

void table_row(FILE *f, const struct case_result *r)
{
    const struct result_record *x = &r->rec;
    fprintf(f, "| %s | %s%s%s |", r->case_str, r->status, x->error ? ": " : "",
            x->error ? x->error : "");
    num(f, x->median_ms, "%.4g");
    if (isnan(x->p10_ms))
        fputs(" - |", f);
    else
        fprintf(f, " %.4g-%.4g |", x->p10_ms, x->p90_ms);
    num(f, x->tflops, "%.3g");
    num(f, x->gbps, "%.4g");
    if (isnan(x->pct_bound))
        fputs(" - |", f);
    else                                /* which roof binds: "87.1 bandwidth" */
        fprintf(f, " %.1f %s |", x->pct_bound, x->bound);
    num(f, x->rel_err, "%.2e");
    /* The noise is the median's 95% confidence half-width (measure.h). */
    char noise[32];
    if (isnan(x->noise))
        fprintf(f, " %d |\n", x->n_samples);
    else {
        noise_format(x->noise, noise, sizeof noise);
        fprintf(f, " %d (±%s) |\n", x->n_samples, noise);
    }
}

void table_profile_line(FILE *f, const struct case_result *r)
{
    const struct result_record *x = &r->rec;
    char line[1600] = "";
    size_t k = 0;
#define ADD(...) (k < sizeof line ? (k += (size_t)snprintf(line + k, sizeof line - k, __VA_ARGS__)) : k)
    if (isfinite(x->kernel_ms))
        ADD("%skernels %.4g ms of %.4g ms event (launch gaps %.3g ms) in %d kernel%s", k ? "; " : "",
            x->kernel_ms, x->median_ms, x->median_ms - x->kernel_ms, x->n_kernels,
            x->n_kernels == 1 ? "" : "s");
    if (isfinite(x->dram_read_bytes) || isfinite(x->dram_write_bytes))
        ADD("%sDRAM %.4g MB read, %.4g MB written", k ? "; " : "", x->dram_read_bytes / 1e6,
            x->dram_write_bytes / 1e6);
    if (isfinite(x->l2_bytes))
        ADD("%sL2 %.4g MB", k ? "; " : "", x->l2_bytes / 1e6);
    if (isfinite(x->tensor_util_pct))
        ADD("%stensor pipe %.1f %%", k ? "; " : "", x->tensor_util_pct);
    if (isfinite(x->dram_pct))
        ADD("%sDRAM %.1f %% of peak", k ? "; " : "", x->dram_pct);
    if (isfinite(x->energy_j_per_op))
        ADD("%s%.4g J/op at %.0f W", k ? "; " : "", x->energy_j_per_op, x->power_w);
    if (x->throttled_samples > 0)
        ADD("%s%d throttled samples dropped", k ? "; " : "", x->throttled_samples);
    if (isfinite(x->pct_bound_measured) && strcmp(x->device, "cpu") != 0)
        ADD("%s%.1f %% of the measured ceiling", k ? "; " : "", x->pct_bound_measured);
    if (x->counters_why)
        ADD("%snone: %s", k ? "; " : "", x->counters_why);
    if (x->energy_why)
        ADD("%sno energy: %s", k ? "; " : "", x->energy_why);
#undef ADD
    if (k)
        fprintf(f, "  %s: %s\n", r->case_str, line);
}

int table_store(struct session *s, const struct case_result *r)
{
    if (!s->store)
        return 0;
    char err[300];
    if (store_insert_result(s->store, s->run_id, &r->rec, r->samples, r->rec.n_samples, err,
                            sizeof err) != 0) {
        cli_error("%s", err);
        return -1;
    }
    return 0;
}

int table_load(struct store *st, int64_t result_id, struct case_result *r, char *err, size_t n)
{
    memset(r, 0, sizeof *r);
    if (store_load_result(st, result_id, &r->rec, r->text, sizeof r->text, err, n) != 0)
        return -1;
    snprintf(r->case_str, sizeof r->case_str, "%s", r->rec.case_str ? r->rec.case_str : "?");
    snprintf(r->status, sizeof r->status, "%s", r->rec.status ? r->rec.status : "?");
    r->rec.case_str = r->case_str;
    r->rec.status = r->status;
    return 0;
}

int status_failed(const char *status)
{
    return strcmp(status, "mismatch") == 0 || strncmp(status, "error:", 6) == 0;
}
