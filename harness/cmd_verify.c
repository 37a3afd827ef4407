/*
 * cmd_verify.c — `bench verify`: every implementation against its reference
 * over its family's small edge-case shapes (family.edge_shapes: for attention
 * N = 1, decode against a long context, N not a multiple of the tile, Nk > N
 * causal, GQA and MQA, D = 64 and 128), in every dtype it supports. Nothing is timed or stored. Exit 1 on any
 * mismatch or error; skipped implementations (no GPU) are listed as such.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "table.h"

int cmd_verify(int argc, char **argv)
{
    const char *fam_list = NULL, *device = NULL, *impl_only = NULL;
    struct opt opts[] = {
        OPT("family", OPT_STRING, &fam_list, "A,B", "families to verify (default: all)"),
        OPT("impl", OPT_STRING, &impl_only, "NAME", "only this implementation"),
        OPT("device", OPT_STRING, &device, "DEV", "cpu or cuda:N (default cuda:0 if present, else cpu)"),
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
    if (rc)
        return rc;

    const struct family *fams[16];
    int n_fams = 0;
    if (fam_list) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", fam_list);
        for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            const struct family *f = family_find(t);
            if (!f) {
                cli_error("verify: unknown family '%s' (bench list families)", t);
                return EXIT_USAGE;
            }
            if (n_fams < 16)
                fams[n_fams++] = f;
        }
    } else {
        for (int i = 0; i < n_families && i < 16; i++)
            fams[n_fams++] = families[i];
    }

    struct session ses;
    if ((rc = session_open(&ses, device, NULL, NULL)) != EXIT_OK)
        return rc;
    int n_ok = 0, n_skip = 0, n_fail = 0, matched = 0;
    table_header(stdout);
    for (int fi = 0; fi < n_fams; fi++) {
        const struct family *f = fams[fi];
        for (int ii = 0; ii < f->n_impls; ii++) {
            const struct impl *im = &f->impls[ii];
            if (impl_only && strcmp(impl_only, im->name) != 0)
                continue;
            matched++;
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
                        return EXIT_FAIL;   /* a bug in the family's table */
                    }
                    struct case_req q = { .family = f, .impl = im, .shape = s, .seed = 11 + k,
                                          .device = ses.device, .gpu = ses.gctx,
                                          .no_gpu_reason = ses.no_gpu_reason, .verify_only = 1,
                                          .mopts = (struct measure_opts)MEASURE_DEFAULTS };
                    struct case_result r;
                    run_case(&q, &r);
                    table_row(stdout, &r);
                    fflush(stdout);
                    if (strcmp(r.status, "ok") == 0)
                        n_ok++;
                    else if (status_failed(r.status))
                        n_fail++;
                    else
                        n_skip++;
                    case_result_free(&r);
                }
            }
        }
    }
    session_close(&ses);
    if (impl_only && !matched) {
        cli_error("verify: no implementation named '%s' (bench list impls)", impl_only);
        return EXIT_USAGE;
    }
    fprintf(stderr, "verify: %d ok, %d failed, %d skipped\n", n_ok, n_fail, n_skip);
    return n_fail ? EXIT_FAIL : EXIT_OK;
}
