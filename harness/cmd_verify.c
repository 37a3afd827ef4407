/*
 * cmd_verify.c — `bench verify`: every implementation of the device against
 * its reference over its family's small edge-case shapes (family.edge_shapes:
 * for attention N = 1, decode against a long context, N not a multiple of
 * the tile, Nk > N causal, GQA and MQA, D = 64 and 128), in every dtype it
 * supports. Nothing is timed or stored.
 *
 * The device picks the implementations (session.h): on cpu the CPU ones, on
 * cuda:N (the default where this host has a GPU) the GPU ones. Exit 1 on any
 * mismatch or error, and on cuda:N when not one GPU implementation ran (the
 * GPU could not be set up, a CPU-only build): a verify that checked nothing
 * on the GPU must not pass. The summary counts the skipped by reason.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "peer.h"
#include "table.h"

/* Skipped cases counted by reason (the status after "skipped: "); reasons
 * past the table's size are counted together as "other". */
#define MAX_REASONS 8
struct skip_counts {
    char reason[MAX_REASONS][160];
    int count[MAX_REASONS + 1];     /* [MAX_REASONS]: other reasons */
    int n, total;
};

static void skip_count(struct skip_counts *k, const char *status)
{
    const char *why = status + strlen("skipped: ");
    int i = 0;
    while (i < k->n && strncmp(k->reason[i], why, sizeof k->reason[i] - 1) != 0)
        i++;
    if (i == k->n && k->n < MAX_REASONS)
        snprintf(k->reason[k->n++], sizeof k->reason[0], "%.159s", why);
    k->count[i]++;
    k->total++;
}

/* "12 ok, 0 failed, 30 skipped (24 no CUDA device; 6 other)" on stderr. */
static void print_summary(const struct skip_counts *k, int n_ok, int n_fail)
{
    fprintf(stderr, "verify: %d ok, %d failed, %d skipped", n_ok, n_fail, k->total);
    for (int i = 0; i <= k->n; i++) {
        if (!k->count[i])
            continue;
        fprintf(stderr, "%s%d %s", i ? "; " : " (", k->count[i],
                i < k->n ? k->reason[i] : "for other reasons");
    }
    fputs(k->total ? ")\n" : "\n", stderr);
}

/* The families named in fam_list (all when NULL) into fams[]; -1 after one
 * line on an unknown name. */
static int pick_families(const char *fam_list, const struct family **fams, int *n_fams)
{
    *n_fams = 0;
    if (!fam_list) {
        for (int i = 0; i < n_families && i < 16; i++)
            fams[(*n_fams)++] = families[i];
        return 0;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", fam_list);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const struct family *f = family_find(t);
        if (!f) {
            cli_error("verify: unknown family '%s' (bench list families)", t);
            return -1;
        }
        if (*n_fams < 16)
            fams[(*n_fams)++] = f;
    }
    return 0;
}

/* Every edge shape of one implementation in every dtype it supports. */
static int verify_impl(const struct session *ses, const struct family *f, const struct impl *im,
                       int *n_ok, int *n_fail, struct skip_counts *skips)
{
    for (int t = 0; t < DT_COUNT; t++) {
        if (!(im->dtypes & DT_BIT(t)))
            continue;
        for (int k = 0; f->edge_shapes && f->edge_shapes[k]; k++) {
            struct shape s;
            char err[200];
            shape_unset(&s);
            s.dtype = (enum dtype)t;
            if (shape_parse_words(f, f->edge_shapes[k], &s, err, sizeof err) != 0) {
                cli_error("verify: %s edge shape '%s': %s", f->name, f->edge_shapes[k], err);
                return -1;      /* a bug in the family's table */
            }
            struct case_req q = { .family = f, .impl = im, .shape = s, .seed = 11 + k,
                                  .device = ses->device, .gpu = ses->gctx,
                                  .no_gpu_reason = ses->no_gpu_reason, .verify_only = 1,
                                  .mopts = (struct measure_opts)MEASURE_DEFAULTS };
            struct case_result r;
            run_case(&q, &r);
            table_row(stdout, &r);
            fflush(stdout);
            if (strcmp(r.status, "ok") == 0)
                (*n_ok)++;
            else if (status_failed(r.status))
                (*n_fail)++;
            else if (strncmp(r.status, "skipped: ", 9) == 0)
                skip_count(skips, r.status);
            else                /* oom: neither passed nor failed */
                skip_count(skips, "skipped: out of memory");
            case_result_free(&r);
        }
    }
    return 0;
}

int cmd_verify(int argc, char **argv)
{
    const char *fam_list = NULL, *device = NULL, *impl_only = NULL;
    struct peer_flags pf = PEER_FLAGS_INIT;
    struct opt opts[] = {
        OPT("family", OPT_STRING, &fam_list, "A,B", "families to verify (default: all)"),
        OPT("impl", OPT_STRING, &impl_only, "NAME", "only this implementation (its device is then the default)"),
        OPT("device", OPT_STRING, &device, "DEV", "cpu (the CPU implementations) or cuda:N (the GPU ones; default cuda:0 where there is a GPU, else cpu)"),
        PEER_OPTS(pf),
    };
    const struct command *cmd = NULL;
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == cmd_verify)
            cmd = &commands[i];
    char *pos[1];
    int n_pos, rc = cli_parse(cmd, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos, 0,
                              &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc || (rc = peer_flags_apply("verify", &pf)) != 0)
        return rc;

    const struct family *fams[16];
    const struct impl *named[16];
    int n_fams, n_named = 0;
    if (pick_families(fam_list, fams, &n_fams) != 0)
        return EXIT_USAGE;
    for (int fi = 0; impl_only && fi < n_fams; fi++) {
        const struct impl *im = impl_find(fams[fi], impl_only);
        if (im && n_named < 16)
            named[n_named++] = im;
    }
    if (impl_only && !n_named) {
        cli_error("verify: no implementation named '%s' (bench list impls)", impl_only);
        return EXIT_USAGE;
    }
    if (!device && impl_only)
        device = session_implied_device(named, n_named);

    struct session ses;
    if ((rc = session_open(&ses, device, NULL, NULL)) != EXIT_OK)
        return rc;
    int n_ok = 0, n_fail = 0, n_impls = 0;
    struct skip_counts skips = { .n = 0 };
    table_header(stdout);
    for (int fi = 0; fi < n_fams && rc == EXIT_OK; fi++)
        for (int ii = 0; ii < family_n_impls(fams[fi]) && rc == EXIT_OK; ii++) {
            const struct impl *im = family_impl(fams[fi], ii);
            if ((impl_only && strcmp(impl_only, im->name) != 0) || !session_runs_impl(&ses, im))
                continue;
            if (!impl_only && !impl_available(im, NULL, 0))
                continue;       /* a peer not installed: verified only when named */
            n_impls++;
            if (verify_impl(&ses, fams[fi], im, &n_ok, &n_fail, &skips) != 0)
                rc = EXIT_FAIL;
        }
    if (rc == EXIT_OK && !n_impls) {
        cli_error("verify: no implementation%s%s runs on %s (--device %s for the others)",
                  impl_only ? " named " : "", impl_only ? impl_only : "", ses.device,
                  ses.on_cpu ? "cuda:N" : "cpu");
        rc = EXIT_USAGE;
    }
    if (rc == EXIT_OK) {
        print_summary(&skips, n_ok, n_fail);
        rc = n_fail ? EXIT_FAIL : session_gpu_ran(&ses, "verify", n_ok + n_fail + skips.total,
                                                  n_ok + n_fail);
    }
    session_close(&ses);
    return rc;
}
