/*
 * cmd_suite.c — `bench suite NAME`: every case of a suite file, each stored
 * as soon as it finishes. Before a case runs, its cost is predicted: over the
 * suite's CPU cap, or over what is left of its time budget scaled from the
 * same implementation's largest earlier case (struct rate), it is recorded
 * as skipped with the reason. Ctrl-C finishes the case in flight, stores it and
 * stops; a second Ctrl-C aborts at once (every finished case is already
 * committed).
 *
 * --shard I/N keeps the cases of one shard (shard.h) after --filter; the
 * budget, and so the prediction that skips cases, then applies to that
 * shard's cases alone: each CI job of a matrix gets the whole budget.
 *
 * The device picks the cases (session.h): on cpu those of CPU
 * implementations, on cuda:N those of GPU implementations, before --filter
 * and --shard. The markdown table goes beside the database, named after it
 * (--db out/x.db -> out/x.md), so runs into different databases never
 * overwrite each other's table; --md FILE names it; --no-db writes none.
 */
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "measure_flags.h"
#include "peer.h"
#include "shard.h"
#include "suite.h"
#include "table.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL);        /* the second Ctrl-C kills */
}

/* The largest measured case of an implementation and dtype: its FLOPs and
 * the seconds the whole case took (reference, warm-up, samples). A new case
 * is predicted by scaling that time with its FLOPs, and only within
 * RATE_MAX_SCALE of it: a tiny case's fixed costs (the reference, the
 * sampling loop) say nothing about one 100x larger, which then runs. */
struct rate {
    const struct impl *impl;
    enum dtype dtype;
    double flops, seconds;
};
#define RATE_MAX_SCALE 16.0

/* Predicted seconds of a case of `flops` FLOPs, or 0 when unknown. */
static double rate_predict(const struct rate *rt, double flops)
{
    if (!rt || rt->flops <= 0 || flops > RATE_MAX_SCALE * rt->flops)
        return 0;
    return rt->seconds * flops / rt->flops;
}

static struct rate *rate_find(struct rate *rates, int *n, const struct impl *im, enum dtype dt)
{
    for (int i = 0; i < *n; i++)
        if (rates[i].impl == im && rates[i].dtype == dt)
            return &rates[i];
    return NULL;
}

/* Pattern: a glob when it has *?[, else a substring of the case string. */
static int case_matches(const char *pattern, const char *case_str)
{
    if (!pattern)
        return 1;
    if (strpbrk(pattern, "*?["))
        return fnmatch(pattern, case_str, 0) == 0;
    return strstr(case_str, pattern) != NULL;
}

/* The default table of a suite storing into db: db without a trailing
 * ".db", plus ".md". */
static void md_beside(const char *db, char *buf, size_t n)
{
    size_t len = strlen(db);
    if (len > 3 && strcmp(db + len - 3, ".db") == 0)
        len -= 3;
    snprintf(buf, n, "%.*s.md", (int)len, db);
}

int cmd_suite(int argc, char **argv)
{
    const char *device = NULL, *db = DEFAULT_DB, *filter = NULL, *md = NULL, *shard = NULL;
    int no_db = 0, list_only = 0;
    int64_t seed = 1;
    double budget = -1;
    struct measure_flags mf;
    struct profile_opts popts = { 0 };
    measure_flags_init(&mf);
    struct peer_flags pf = PEER_FLAGS_INIT;
    struct opt opts[] = {
        OPT("device", OPT_STRING, &device, "DEV", "cpu (the CPU implementations' cases) or cuda:N (the GPU ones'; default cuda:0 where there is a GPU, else cpu)"),
        OPT("db", OPT_STRING, &db, "FILE", "results database (default " DEFAULT_DB ")"),
        OPT("no-db", OPT_FLAG, &no_db, NULL, "do not store the results"),
        OPT("filter", OPT_STRING, &filter, "PATTERN", "only cases whose case string contains PATTERN (a glob if it has * ? [)"),
        OPT("shard", OPT_STRING, &shard, "I/N", "only shard I of N (by a hash of the case string; the budget is per shard)"),
        OPT("list", OPT_FLAG, &list_only, NULL, "print the cases and exit"),
        OPT("budget", OPT_DOUBLE, &budget, "S", "time budget in seconds (default: the suite's)"),
        OPT("seed", OPT_INT, &seed, "N", "input seed (default 1)"),
        MEASURE_OPTS(mf),
        PEER_OPTS(pf),
        PROFILE_OPTS(popts),
        OPT("md", OPT_STRING, &md, "FILE", "also write the markdown table to FILE (default: beside the database, X.db -> X.md; none with --no-db)"),
    };
    const struct command *cmd = NULL;
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == cmd_suite)
            cmd = &commands[i];
    char *pos[1];
    int n_pos, rc = cli_parse(cmd, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos, 1,
                              &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
        return rc;
    struct measure_opts mopts = MEASURE_DEFAULTS;
    if ((rc = measure_flags_apply("suite", &mf, &mopts)) != 0 ||
        (rc = peer_flags_apply("suite", &pf)) != 0)
        return rc;
    if (!n_pos) {
        cli_error("suite: which suite? (bench list suites)");
        return EXIT_USAGE;
    }

    struct suite su;
    char err[600];
    int shard_i = 1, shard_n = 1;
    if (shard && shard_parse(shard, &shard_i, &shard_n, err, sizeof err) != 0) {
        cli_error("suite: %s", err);
        return EXIT_USAGE;
    }
    if (suite_load(pos[0], sb_exe_dir, &su, err, sizeof err) != 0) {
        cli_error("suite: %s", err);
        return EXIT_USAGE;
    }
    /* The device decides which cases run and which keys apply (cpu.*), so
     * it is picked before expanding. */
    struct session ses;
    if ((rc = session_device(&ses, device)) != EXIT_OK) {
        suite_free(&su);
        return rc;
    }
    const int on_cpu = ses.on_cpu;
    struct suite_case *cases;
    int n_cases;
    if (suite_expand(&su, on_cpu, &cases, &n_cases, err, sizeof err) != 0) {
        cli_error("suite: %s", err);
        suite_free(&su);
        return EXIT_USAGE;
    }
    int kept = 0, on_device = 0, n_absent = 0;
    char absent[600] = "";          /* the peers left out because they are not installed */
    for (int i = 0; i < n_cases; i++) {
        char cs[256], why[300];
        if (!session_runs_impl(&ses, cases[i].impl))
            continue;
        on_device++;
        if (!impl_available(cases[i].impl, why, sizeof why)) {
            if (n_absent++ == 0 || !strstr(absent, cases[i].impl->name))
                snprintf(absent + strlen(absent), sizeof absent - strlen(absent), "%s%s",
                         absent[0] ? "; " : "", why);
            continue;
        }
        case_string(cases[i].family, cases[i].impl->name, &cases[i].shape, cs, sizeof cs);
        if (case_matches(filter, cs) && shard_of(cs, shard_n) == shard_i)
            cases[kept++] = cases[i];
    }
    n_cases = kept;
    if (n_absent)
        fprintf(stderr, "suite %s: %d cases of peers that are not installed left out: %s\n",
                su.name, n_absent, absent);
    if (!on_device) {
        cli_error("suite: no case of %s runs on %s (--device %s runs its cases)", su.name,
                  ses.device, on_cpu ? "cuda:N" : "cpu");
        free(cases);
        suite_free(&su);
        return EXIT_USAGE;
    }
    if (list_only) {
        for (int i = 0; i < n_cases; i++) {
            char cs[256];
            case_string(cases[i].family, cases[i].impl->name, &cases[i].shape, cs, sizeof cs);
            printf("%s\n", cs);
        }
        free(cases);
        suite_free(&su);
        return EXIT_OK;
    }
    if (n_cases == 0 && shard_n > 1) {     /* a small suite can leave a shard empty */
        fprintf(stderr, "suite %s: shard %d/%d has no cases; nothing to run\n", su.name, shard_i,
                shard_n);
        free(cases);
        suite_free(&su);
        return EXIT_OK;
    }
    if (n_cases == 0) {
        cli_error("suite: no case of %s matches '%s'", su.name, filter ? filter : "");
        free(cases);
        suite_free(&su);
        return EXIT_USAGE;
    }
    if (budget < 0)
        budget = on_cpu && su.cpu_budget_s > 0 ? su.cpu_budget_s : su.budget_s;

    char md_path[600] = "";
    if (md)
        snprintf(md_path, sizeof md_path, "%s", md);
    else if (!no_db)
        md_beside(db, md_path, sizeof md_path);
    ses.popts = popts;
    if ((rc = session_start(&ses, no_db ? NULL : db, su.name)) != EXIT_OK) {
        free(cases);
        suite_free(&su);
        return rc;
    }
    FILE *mdf = md_path[0] ? fopen(md_path, "w") : NULL;
    if (md_path[0] && !mdf)
        fprintf(stderr, "bench: suite: cannot write %s; the table goes to stdout only\n", md_path);
    fprintf(stderr, "suite %s: %d cases on %s%s%s, budget %.0f s\n", su.name, n_cases, ses.device,
            ses.store ? ", storing in " : "", ses.store ? db : "", budget);

    struct rate *rates = calloc((size_t)n_cases, sizeof *rates);
    int n_rates = 0, failed = 0, n_ok = 0, n_unreliable = 0, n_skipped = 0, done = 0;
    double t_start = now_seconds();
    interrupted = 0;
    signal(SIGINT, on_sigint);
    table_header(stdout);
    if (mdf)
        table_header(mdf);
    for (int i = 0; i < n_cases && !interrupted; i++) {
        const struct suite_case *c = &cases[i];
        struct case_req q = { .family = c->family, .impl = c->impl, .shape = c->shape,
                              .seed = (uint64_t)seed, .device = ses.device, .gpu = ses.gctx,
                              .no_gpu_reason = ses.no_gpu_reason,
                              .mopts = mopts, .prof = &ses.prof,
                              .roof = session_roof(&ses, c->impl, c->shape.dtype) };
        struct case_result r;
        char why[200];
        double flops = c->family->validate(&c->shape, why, sizeof why) == 0
                           ? c->family->flops(&c->shape) : 0;
        struct rate *rt = rate_find(rates, &n_rates, c->impl, c->shape.dtype);
        double left = budget - (now_seconds() - t_start);
        int runnable = c->impl->run && (c->impl->device == DEV_CPU || ses.gctx);
        if (runnable && c->impl->device == DEV_CPU && su.cpu_max_gflop > 0 &&
            flops > su.cpu_max_gflop * 1e9) {
            snprintf(why, sizeof why, "%.0f GFLOP is over the suite's CPU cap (cpu.max_gflop = %g)",
                     flops / 1e9, su.cpu_max_gflop);
            case_result_skipped(&q, why, &r);
        } else if (runnable && budget > 0 && rate_predict(rt, flops) > left) {
            snprintf(why, sizeof why, "predicted %.0f s is over the %.0f s left of the suite's budget",
                     rate_predict(rt, flops), left > 0 ? left : 0);
            case_result_skipped(&q, why, &r);
        } else {
            double t0 = now_seconds();
            run_case(&q, &r);
            double wall = now_seconds() - t0;
            if (status_is_ok(r.status) && flops > 0) {
                if (!rt) {
                    rt = &rates[n_rates++];
                    rt->impl = c->impl, rt->dtype = c->shape.dtype;
                }
                if (flops >= rt->flops)
                    rt->flops = flops, rt->seconds = wall;
            }
        }
        done++;
        n_ok += status_is_ok(r.status);
        n_unreliable += status_is_ok(r.status) && !status_is_reliable(r.status);
        n_skipped += strncmp(r.status, "skipped", 7) == 0;
        fprintf(stderr, "[%d/%d %4.0fs] %s: %s%s%s", i + 1, n_cases, now_seconds() - t_start,
                r.case_str, r.status, r.rec.error ? ": " : "", r.rec.error ? r.rec.error : "");
        if (status_is_ok(r.status))
            fprintf(stderr, " (median %.4g ms, %d samples)", r.rec.median_ms, r.rec.n_samples);
        fputc('\n', stderr);
        table_row(stdout, &r);
        fflush(stdout);
        table_profile_line(stderr, &r);
        if (mdf)
            table_row(mdf, &r);
        failed |= status_failed(r.status);
        if (table_store(&ses, &r) != 0)
            failed = 1, interrupted = 1;    /* the store broke: stop rather than lose results */
        case_result_free(&r);
    }
    signal(SIGINT, SIG_DFL);
    if (interrupted && done < n_cases)
        fprintf(stderr, "suite %s: interrupted after %d of %d cases; those are stored\n", su.name,
                done, n_cases);
    fprintf(stderr, "suite %s: %d ok (%d of them few samples or noisy), %d skipped, %d other, "
            "%.0f s%s%s\n", su.name, n_ok, n_unreliable, n_skipped, done - n_ok - n_skipped,
            now_seconds() - t_start, mdf ? "; table in " : "", mdf ? md_path : "");
    if (mdf)
        fclose(mdf);
    rc = session_gpu_ran(&ses, "suite", done, done - n_skipped);
    session_close(&ses);
    free(rates);
    free(cases);
    suite_free(&su);
    if (interrupted && done < n_cases)
        return 130;
    return failed ? EXIT_FAIL : rc;
}
