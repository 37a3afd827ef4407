/*
 * cmd_verify.c — `bench verify`: every implementation against its reference
 * over small edge-case shapes (N = 1, decode against a long context, N not a
 * multiple of the tile, Nk > N causal, GQA and MQA, D = 64 and 128), in
 * every dtype it supports. Nothing is timed or stored. Exit 1 on any
 * mismatch or error; skipped implementations (no GPU) are listed as such.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "table.h"

struct verify_shape {
    int64_t B, N, Nk, H, Hkv, D, causal;
};

/* Attention-family edge shapes: small enough for the reference to check
 * every row in well under a second each. */
static const struct verify_shape attention_shapes[] = {
    { 1, 1, 1, 1, 1, 64, 0 },           /* the smallest case */
    { 2, 1, 4099, 8, 2, 128, 1 },       /* decode, GQA, Nk not a multiple of the tile */
    { 1, 1, 512, 4, 1, 64, 0 },         /* decode, MQA */
    { 2, 77, 77, 2, 2, 64, 1 },         /* N not a multiple of the tile, causal */
    { 1, 200, 333, 4, 2, 128, 1 },      /* Nk > N causal (bottom-right aligned), GQA */
    { 1, 130, 130, 3, 3, 128, 0 },      /* two tiles plus two rows */
    { 3, 64, 64, 2, 1, 64, 1 },         /* exact tile, MQA, batch > 1 */
    { 1, 257, 1000, 2, 2, 128, 0 },     /* cross attention, long Nk */
};

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
                for (size_t k = 0; k < sizeof attention_shapes / sizeof attention_shapes[0]; k++) {
                    const struct verify_shape *v = &attention_shapes[k];
                    struct shape s;
                    shape_unset(&s);
                    s.B = v->B, s.N = v->N, s.Nk = v->Nk, s.H = v->H, s.Hkv = v->Hkv;
                    s.D = v->D, s.causal = v->causal, s.dtype = (enum dtype)t;
                    f->defaults(&s);
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
