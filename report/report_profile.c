/*
 * report_profile.c — the profiling tables of `bench report`; see report.h.
 * Two per family, when it has profiled results:
 *
 *   profiling  per result: the event median beside the summed kernel time
 *              (the difference is what launching and the gaps between the
 *              op's kernels cost), % of bound against the datasheet and
 *              against the measured ceiling, DRAM and L2 traffic, tensor
 *              pipe and DRAM %, energy per op, throttled samples dropped,
 *              and what was not measured, with why;
 *   kernels    per result, its kernels: name, grid, block, registers,
 *              shared memory, mean duration, launches per run and share
 *              of the kernel time.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static int profiled(const struct rp_result *r)
{
    return isfinite(r->kernel_ms) || isfinite(r->dram_read_bytes) || isfinite(r->energy_j_per_op) ||
           r->n_kernels > 0 || r->counters_why || r->energy_why || r->throttled_samples > 0;
}

static void profile_row(struct strbuf *h, const struct report *rp, const struct rp_result *r)
{
    char why[1200] = "";
    snprintf(why, sizeof why, "%s%s%s", r->counters_why ? r->counters_why : "",
             r->counters_why && r->energy_why ? "; " : "", r->energy_why ? r->energy_why : "");
    sb_puts(h, "<tr>");
    if (rp->n_runs > 1)
        rp_td_text(h, NULL, rp->runs[r->run].label);
    rp_td_text(h, "case", rp_short_case(r));
    rp_td_text(h, "mono", r->impl);
    rp_td_text(h, NULL, r->dtype);
    rp_td_num(h, r->median_ms, "%.4g");
    rp_td_num(h, r->kernel_ms, "%.4g");
    rp_td_num(h, r->median_ms - r->kernel_ms, "%.3g");
    rp_td_num(h, r->pct_bound, "%.1f");
    rp_td_num(h, r->pct_bound_measured, "%.1f");
    rp_td_num(h, r->dram_read_bytes / 1e6, "%.4g");
    rp_td_num(h, r->dram_write_bytes / 1e6, "%.4g");
    rp_td_num(h, r->l2_bytes / 1e6, "%.4g");
    rp_td_num(h, r->tensor_util_pct, "%.1f");
    rp_td_num(h, r->dram_pct, "%.1f");
    rp_td_num(h, r->energy_j_per_op, "%.4g");
    rp_td_num(h, r->power_w, "%.0f");
    rp_td_num(h, r->throttled_samples >= 0 ? (double)r->throttled_samples : NAN, "%.0f");
    rp_td_num(h, r->sm_clock_mhz, "%.0f");
    rp_td_text(h, "err", why);
    sb_puts(h, "</tr>\n");
}

static void profile_table(struct report *rp, const char *fam)
{
    struct strbuf h = { 0 };
    sb_printf(&h, "<table class=\"data\"><thead><tr>%s<th>case</th><th>impl</th><th>dtype</th>"
                  "<th title=\"CUDA events around the op's launches (the timing median)\">event ms</th>"
                  "<th title=\"the op's kernel durations summed (CUPTI Activity, a pass apart)\">"
                  "kernel ms</th><th title=\"event minus kernel: launches and the gaps between the "
                  "op's kernels\">launch gaps ms</th><th title=\"against NVIDIA's datasheet\">%% of "
                  "bound</th><th title=\"against bench env --calibrate's measured ceilings\">%% of "
                  "measured</th><th>DRAM read MB</th><th>DRAM write MB</th><th>L2 MB</th>"
                  "<th>tensor pipe %%</th><th>DRAM %% of peak</th><th>J / op</th><th>W</th>"
                  "<th title=\"samples dropped: SM clock under 75%% of its default\">throttled</th>"
                  "<th>SM MHz</th><th>not measured, why</th></tr></thead><tbody>\n",
              rp->n_runs > 1 ? "<th>run</th>" : "");
    for (int i = 0; i < rp->n_res; i++)
        if (strcmp(rp->res[i].family, fam) == 0 && profiled(&rp->res[i]))
            profile_row(&h, rp, &rp->res[i]);
    sb_puts(&h, "</tbody></table>\n");
    rp_add_item(rp, fam, "profiling (CUPTI, NVML: passes apart from timing; counters from kernel "
                "replay, never a latency)", NULL, NULL, sb_take(&h));
}

static void kernel_table(struct report *rp, const char *fam)
{
    struct strbuf h = { 0 };
    int rows = 0;
    sb_printf(&h, "<table class=\"data\"><thead><tr>%s<th>case</th><th>impl</th><th>kernel</th>"
                  "<th>grid</th><th>block</th><th>registers</th><th>shared bytes</th>"
                  "<th>mean &micro;s</th><th>per run</th><th>%% of kernel time</th></tr></thead>"
                  "<tbody>\n", rp->n_runs > 1 ? "<th>run</th>" : "");
    for (int i = 0; i < rp->n_res; i++) {
        const struct rp_result *r = &rp->res[i];
        if (strcmp(r->family, fam) != 0)
            continue;
        double total = 0;
        for (int k = 0; k < r->n_kernels; k++)
            total += r->kernels[k].duration_ns * r->kernels[k].count;
        for (int k = 0; k < r->n_kernels; k++, rows++) {
            const struct rp_kernel *kr = &r->kernels[k];
            sb_puts(&h, "<tr>");
            if (rp->n_runs > 1)
                rp_td_text(&h, NULL, rp->runs[r->run].label);
            rp_td_text(&h, "case", rp_short_case(r));
            rp_td_text(&h, "mono", r->impl);
            rp_td_text(&h, "mono", kr->name);
            rp_td_text(&h, "mono", kr->grid ? kr->grid : "");
            rp_td_text(&h, "mono", kr->block ? kr->block : "");
            rp_td_num(&h, kr->registers >= 0 ? (double)kr->registers : NAN, "%.0f");
            rp_td_num(&h, kr->shared_bytes >= 0 ? (double)kr->shared_bytes : NAN, "%.0f");
            rp_td_num(&h, kr->duration_ns / 1e3, "%.4g");
            rp_td_num(&h, kr->count, "%.3g");
            rp_td_num(&h, total > 0 ? 100 * kr->duration_ns * kr->count / total : NAN, "%.1f");
            sb_puts(&h, "</tr>\n");
        }
    }
    sb_puts(&h, "</tbody></table>\n");
    if (rows)
        rp_add_item(rp, fam, "kernels (CUPTI Activity: each launch configuration of the op)", NULL,
                    NULL, sb_take(&h));
    else
        sb_free(&h);
}

void report_profile_items(struct report *rp)
{
    for (int f = 0; f < rp->n_families; f++) {
        const char *fam = rp->families[f];
        int any = 0;
        for (int i = 0; i < rp->n_res && !any; i++)
            any = strcmp(rp->res[i].family, fam) == 0 && profiled(&rp->res[i]);
        if (!any)
            continue;
        profile_table(rp, fam);
        kernel_table(rp, fam);
    }
}
