/*
 * cmd_suite.c — `bench suite NAME`: every case of a suite file, each stored
 * as soon as it finishes.
 *
 * Which cases: the device picks them (session.h: on cpu those of CPU
 * implementations, on cuda:N those of GPU ones), then --filter, then a case
 * the suite expands to twice runs once (said once on stderr), then --shard
 * I/N keeps one shard of a partition balanced by predicted cost on a named
 * device class (shard.h), the same on every shard. The budget, and so the
 * prediction that skips cases, then applies to that shard's cases alone.
 *
 * Before a case runs, its cost is predicted: over the suite's CPU cap, or
 * over what is left of its time budget scaled from the same
 * implementation's largest earlier case (struct rate), it is recorded as
 * skipped with the reason.
 *
 * Robustness (docs/measurement.md, "Robustness"):
 *   - --isolate (the default on a GPU) runs each case in a child process
 *     (isolate.h): a faulting kernel or a sticky CUDA error is one error
 *     row, and the suite goes on. This process then never initialises CUDA.
 *   - The device lock (devlock.h) is held from before the first measurement
 *     to the end: a second bench on the same device waits (--lock-wait).
 *   - The run records its configuration (runs.config: the suite file's
 *     hash, device, shard, timing, seed, commit, ...); a run that stops
 *     before its last case stays unfinished (runs.finished_at NULL), left
 *     out of compare, report and export. --resume continues the latest
 *     unfinished run of the same configuration, running only the cases it
 *     has no row for (--retry-failed: and those stored as error).
 *   - SIGINT (Ctrl-C) and SIGTERM finish the case in flight, store it and
 *     stop: exit 130 or 143; a second signal ends the process at once (every
 *     finished case is already committed).
 *
 * The markdown table goes beside the database, named after it (--db
 * out/x.db -> out/x.md), so runs into different databases never overwrite
 * each other's table; --md FILE names it; --no-db writes none.
 */
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "isolate.h"
#include "measure_flags.h"
#include "peer.h"
#include "shard.h"
#include "suite.h"
#include "table.h"

#define CASE_TIMEOUT_DEFAULT_S 1800.0   /* an isolated case that runs longer is killed */

static volatile sig_atomic_t stop_signal;  /* SIGINT or SIGTERM: stop after the case in flight */

static void on_stop(int sig)
{
    stop_signal = sig;
    signal(SIGINT, SIG_DFL);        /* the second signal ends the process at once */
    signal(SIGTERM, SIG_DFL);
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

/* ---- which cases ------------------------------------------------------------- */

/* One case of the suite with its case string (timing suffix and all: what
 * is stored). */
struct picked {
    struct suite_case c;
    char str[256];
};

static int picked_cmp(const void *a, const void *b)
{
    const struct picked *x = *(const struct picked *const *)a, *y = *(const struct picked *const *)b;
    int d = strcmp(x->str, y->str);
    return d ? d : (x < y ? -1 : x > y);
}

/* Drops every repeat of a case string from p[0..n), keeping the first in
 * file order, and says once per repeated case where it repeats. Returns
 * the new count, or -1 when out of memory. */
static int drop_duplicates(struct picked *p, int n, const char *suite_name)
{
    struct picked **by = malloc((size_t)(n > 0 ? n : 1) * sizeof *by);
    char *drop = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!by || !drop) {
        free(by), free(drop);
        return -1;
    }
    for (int i = 0; i < n; i++)
        by[i] = &p[i];
    qsort(by, (size_t)n, sizeof *by, picked_cmp);   /* equal strings: in file order */
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && strcmp(by[j]->str, by[i]->str) == 0)
            drop[by[j++] - p] = 1;
        if (j - i > 1 && by[i]->c.line == by[i + 1]->c.line)
            fprintf(stderr, "suite %s: case '%s' comes %d times (the section at line %d); it runs "
                    "once\n", suite_name, by[i]->str, j - i, by[i]->c.line);
        else if (j - i > 1)
            fprintf(stderr, "suite %s: case '%s' comes %d times (the sections at lines %d and %d); "
                    "it runs once\n", suite_name, by[i]->str, j - i, by[i]->c.line, by[i + 1]->c.line);
        i = j;
    }
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (!drop[i])
            p[kept++] = p[i];
    free(by), free(drop);
    return kept;
}

/* Keeps shard shard_i of n_shards in p[0..n) (suite order kept), by the
 * partition of the class's predicted costs. Says what the shard holds.
 * Returns the new count, or -1 when out of memory. */
static int keep_shard(struct picked *p, int n, int shard_i, int n_shards,
                      const struct shard_class *cls)
{
    double *cost = malloc((size_t)(n > 0 ? n : 1) * sizeof *cost);
    const char **keys = malloc((size_t)(n > 0 ? n : 1) * sizeof *keys);
    int *shard = malloc((size_t)(n > 0 ? n : 1) * sizeof *shard);
    double *load = malloc((size_t)n_shards * sizeof *load);
    int kept = -1;
    if (cost && keys && shard && load) {
        for (int i = 0; i < n; i++) {
            cost[i] = shard_case_cost(cls, p[i].c.family, p[i].c.impl, &p[i].c.shape);
            keys[i] = p[i].str;
        }
        if (shard_partition(cost, keys, n, n_shards, shard, load) == 0) {
            double total = 0, lo = load[0], hi = load[0];
            for (int j = 0; j < n_shards; j++) {
                total += load[j];
                lo = load[j] < lo ? load[j] : lo;
                hi = load[j] > hi ? load[j] : hi;
            }
            kept = 0;
            for (int i = 0; i < n; i++)
                if (shard[i] == shard_i)
                    p[kept++] = p[i];
            fprintf(stderr, "shard %d/%d by predicted cost on %s (%s): %d of %d cases, %.1f s of "
                    "%.1f s predicted (shards %.1f to %.1f s)\n", shard_i, n_shards, cls->name,
                    cls->what, kept, n, load[shard_i - 1], total, lo, hi);
        }
    }
    free(cost), free(keys), free(shard), free(load);
    return kept;
}

/* ---- one suite's loop ------------------------------------------------------------ */

struct suite_loop {
    struct session *ses;
    const struct suite *su;
    struct measure_opts mopts;
    uint64_t seed;
    double budget, t_start;
    int isolate;                /* cases run in children (isolate.h) */
    struct isolate_case ic;     /* where they store */
    int retry_failed;
    FILE *mdf;
    struct rate *rates;
    int n_rates;
    int n_cases, done, failed, n_ok, n_unreliable, n_skipped, n_earlier;
};

/* Stores r, replacing result replace_id when not 0. 0, or -1 (said). */
static int store_case(struct session *ses, const struct case_result *r, int64_t replace_id)
{
    char err[400];
    if (!ses->store)
        return 0;
    if (store_replace_result(ses->store, ses->run_id, replace_id, &r->rec, r->samples,
                             r->rec.n_samples, err, sizeof err) != 0) {
        cli_error("%s", err);
        return -1;
    }
    return 0;
}

/* The progress line, the table rows and the counts of a finished case. */
static void case_done(struct suite_loop *L, int i, const struct case_result *r, const char *earlier)
{
    L->done++;
    L->n_ok += status_is_ok(r->status);
    L->n_unreliable += status_is_ok(r->status) && !status_is_reliable(r->status);
    L->n_skipped += strncmp(r->status, "skipped", 7) == 0;
    L->failed |= status_failed(r->status);
    fprintf(stderr, "[%d/%d %4.0fs] %s: %s%s%s%s", i + 1, L->n_cases, now_seconds() - L->t_start,
            r->case_str, earlier, r->status, r->rec.error ? ": " : "", r->rec.error ? r->rec.error : "");
    if (status_is_ok(r->status))
        fprintf(stderr, " (median %.4g ms, %d samples)", r->rec.median_ms, r->rec.n_samples);
    fputc('\n', stderr);
    table_row(stdout, r);
    fflush(stdout);
    table_profile_line(stderr, r);
    if (L->mdf)
        table_row(L->mdf, r);
}

/* When the run is resumed: 1 when case c already has a result that stays
 * (printed as stored earlier), 0 when it is to run (*replace_id set to
 * the error result it replaces under --retry-failed), -1 on a store error. */
static int stored_earlier(struct suite_loop *L, int i, const char *case_str, int64_t *replace_id)
{
    char status[320], err[400];
    int64_t id = 0;
    *replace_id = 0;
    if (!L->ses->resumed)
        return 0;
    int found = store_find_result(L->ses->store, L->ses->run_id, case_str, &id, status,
                                  sizeof status, err, sizeof err);
    if (found == 1 && L->retry_failed && strncmp(status, "error: ", 7) == 0) {
        *replace_id = id;
        return 0;
    }
    struct case_result r;
    if (found == 1 && table_load(L->ses->store, id, &r, err, sizeof err) == 0) {
        L->n_earlier++;
        case_done(L, i, &r, "stored earlier: ");
        return 1;
    }
    if (found != 0)
        cli_error("%s", err);
    return found == 0 ? 0 : -1;
}

/* Runs (or skips) case i. Returns 0, or -1 when its result could not be
 * stored (the suite stops rather than lose results). */
static int suite_case(struct suite_loop *L, int i, const struct suite_case *c, const char *case_str)
{
    struct session *ses = L->ses;
    int64_t replace_id;
    int earlier = stored_earlier(L, i, case_str, &replace_id);
    if (earlier)
        return earlier > 0 ? 0 : -1;
    struct case_req q = { .family = c->family, .impl = c->impl, .shape = c->shape,
                          .seed = L->seed, .device = ses->device, .gpu = ses->gctx,
                          .no_gpu_reason = ses->no_gpu_reason, .mopts = L->mopts,
                          .prof = &ses->prof,
                          .roof = session_roof(ses, c->impl, c->shape.dtype) };
    struct case_result r;
    char why[200], err[400];
    double flops = c->family->validate(&c->shape, why, sizeof why) == 0 ? c->family->flops(&c->shape)
                                                                        : 0;
    struct rate *rt = rate_find(L->rates, &L->n_rates, c->impl, c->shape.dtype);
    double left = L->budget - (now_seconds() - L->t_start);
    int runnable = c->impl->run && (c->impl->device == DEV_CPU || ses->gpu_usable);
    int stored = 0;
    if (runnable && c->impl->device == DEV_CPU && L->su->cpu_max_gflop > 0 &&
        flops > L->su->cpu_max_gflop * 1e9) {
        snprintf(why, sizeof why, "%.0f GFLOP is over the suite's CPU cap (cpu.max_gflop = %g)",
                 flops / 1e9, L->su->cpu_max_gflop);
        case_result_skipped(&q, why, &r);
    } else if (runnable && L->budget > 0 && rate_predict(rt, flops) > left) {
        snprintf(why, sizeof why, "predicted %.0f s is over the %.0f s left of the suite's budget",
                 rate_predict(rt, flops), left > 0 ? left : 0);
        case_result_skipped(&q, why, &r);
    } else {
        double t0 = now_seconds();
        if (runnable && L->isolate) {
            struct isolate_case ic = L->ic;
            ic.replace_id = replace_id;
            if (isolate_run_case(ses->store, &ic, &q, &r, err, sizeof err) != 0) {
                cli_error("%s", err);
                return -1;
            }
            stored = 1;
        } else {
            run_case(&q, &r);
        }
        double wall = now_seconds() - t0;
        if (status_is_ok(r.status) && flops > 0) {
            if (!rt) {
                rt = &L->rates[L->n_rates++];
                rt->impl = c->impl, rt->dtype = c->shape.dtype;
            }
            if (flops >= rt->flops)
                rt->flops = flops, rt->seconds = wall;
        }
    }
    int rc = stored ? 0 : store_case(ses, &r, replace_id);
    case_done(L, i, &r, "");
    case_result_free(&r);
    return rc;
}

/* ---- the command ----------------------------------------------------------------- */

/* What the command line asked. */
struct suite_args {
    const char *name, *device, *db, *filter, *md, *shard, *shard_class;
    int no_db, list_only, isolate_on, isolate_off, resume, retry_failed;
    int64_t seed;
    double budget, lock_wait, case_timeout;
    struct measure_opts mopts;
    struct peer_flags pf;       /* --plugin, --peer-timeout: the children get them too */
    struct profile_opts popts;  /* --metrics, --energy: likewise */
    int shard_i, shard_n;
};

/* What --resume matches, before session_config adds the device, host and
 * commit. */
static void suite_config(const struct suite *su, const struct suite_args *a, const char *cls,
                         char *buf, size_t n)
{
    const struct measure_opts *mo = &a->mopts;
    snprintf(buf, n, "suite=%s file=%016llx shard=%d/%d class=%s filter=%s seed=%lld timing=%s "
             "max_time=%g min_samples=%d target=%g", su->name, (unsigned long long)su->text_hash,
             a->shard_i, a->shard_n, cls, a->filter ? a->filter : "", (long long)a->seed,
             timing_names[mo->timing], mo->max_seconds, mo->min_samples, mo->target_rel);
}

/* --device cuda:auto: shard I on cuda:(I-1 mod the GPUs this host has), so
 * the shards of one host each time on their own GPU. Writes the device
 * into buf. Returns 0, or EXIT_USAGE (said) on a host without a GPU. */
static int auto_device(int isolate, int shard_i, char *buf, size_t n)
{
    struct isolate_probe p;
    if (isolate)
        isolate_probe(0, 0, &p);
    else
        gpu_probe(0, &p.gpu);
    int count = p.gpu.n_devices > 0 ? p.gpu.n_devices : p.gpu.host_has_gpu;
    if (count <= 0) {
        cli_error("suite: --device cuda:auto: %s", p.gpu.why_absent);
        return EXIT_USAGE;
    }
    snprintf(buf, n, "cuda:%d", (shard_i - 1) % count);
    return EXIT_OK;
}

/* Expands the suite for the session's device and keeps the cases that run:
 * the device's, --filter's, each once, this shard's. *out is malloc'd.
 * Returns the count, or -1 after saying why (EXIT_USAGE). */
static int pick_cases(const struct suite *su, const struct session *ses, const struct suite_args *a,
                      const struct shard_class *cls, struct picked **out)
{
    struct suite_case *cases;
    int n_cases, on_device = 0, n = 0, n_absent = 0;
    char err[600], absent[600] = "";    /* the peers left out because they are not installed */
    *out = NULL;
    if (suite_expand(su, ses->on_cpu, &cases, &n_cases, err, sizeof err) != 0) {
        cli_error("suite: %s", err);
        return -1;
    }
    struct picked *p = malloc((size_t)(n_cases > 0 ? n_cases : 1) * sizeof *p);
    for (int i = 0; p && i < n_cases; i++) {
        if (!session_runs_impl(ses, cases[i].impl))
            continue;
        on_device++;
        char why[300];
        if (!impl_available(cases[i].impl, why, sizeof why)) {
            if (n_absent++ == 0 || !strstr(absent, cases[i].impl->name))
                snprintf(absent + strlen(absent), sizeof absent - strlen(absent), "%s%s",
                         absent[0] ? "; " : "", why);
            continue;
        }
        struct case_result r;       /* the stored case string, with its timing suffix */
        struct case_req q = { .family = cases[i].family, .impl = cases[i].impl,
                              .shape = cases[i].shape, .device = ses->device, .mopts = a->mopts };
        case_result_skipped(&q, "", &r);
        if (!case_matches(a->filter, r.case_str))
            continue;
        p[n].c = cases[i];
        snprintf(p[n++].str, sizeof p[0].str, "%s", r.case_str);
    }
    free(cases);
    if (n_absent)
        fprintf(stderr, "suite %s: %d cases of peers that are not installed left out: %s\n",
                su->name, n_absent, absent);
    if (!p || (n = drop_duplicates(p, n, su->name)) < 0 ||
        (a->shard_n > 1 && (n = keep_shard(p, n, a->shard_i, a->shard_n, cls)) < 0)) {
        cli_error("suite: out of memory");
        free(p);
        return -1;
    }
    if (!on_device) {
        cli_error("suite: no case of %s runs on %s (--device %s runs its cases)", su->name,
                  ses->device, ses->on_cpu ? "cuda:N" : "cpu");
        free(p);
        return -1;
    }
    *out = p;
    return n;
}

/* An isolated suite's children store into a database; --no-db gets a
 * scratch one in $TMPDIR, removed at the end. Writes its path into buf.
 * Returns 0, or -1 (said). */
static int scratch_make(char *buf, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, n, "%s/seqbench-scratch-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(buf)) {
        cli_error("suite: --no-db --isolate: cannot make a scratch folder %s", buf);
        return -1;
    }
    snprintf(buf + strlen(buf), n - strlen(buf), "/scratch.db");
    return 0;
}

static void scratch_remove(char *path)
{
    static const char *const side[] = { "", "-wal", "-shm" };
    char f[700];
    for (int k = 0; k < 3; k++) {
        snprintf(f, sizeof f, "%s%s", path, side[k]);
        unlink(f);
    }
    *strrchr(path, '/') = 0;
    rmdir(path);
}

/* What session_start found of an unfinished run of this configuration. */
static void say_resume(const struct session *ses, const struct suite *su, const struct suite_args *a)
{
    if (ses->resumed)
        fprintf(stderr, "suite %s: resuming run %s (its stored cases are not run again%s)\n",
                su->name, ses->open_uid, a->retry_failed ? ", but those stored as error are" : "");
    else if (a->resume)
        fprintf(stderr, "suite %s: no unfinished run of this configuration to resume; a new run\n",
                su->name);
    else if (ses->open_uid[0])
        fprintf(stderr, "suite %s: run %s of this configuration did not finish; --resume would "
                "continue it\n", su->name, ses->open_uid);
}

/* The cases in order until the last, a signal, or a store that failed.
 * Returns 1 when the store failed. */
static int run_cases(struct suite_loop *L, const struct picked *cases, int n)
{
    int broken = 0;
    stop_signal = 0;
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    table_header(stdout);
    if (L->mdf)
        table_header(L->mdf);
    for (int i = 0; i < n && !stop_signal && !broken; i++)
        broken = suite_case(L, i, &cases[i].c, cases[i].str) != 0;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return broken;
}

/* Runs the cases of a loaded suite on the session's device (picked, not
 * started); returns the exit code. */
static int suite_run(const struct suite_args *a, struct suite *su, struct session *ses, int isolate)
{
    struct shard_class cls;
    struct picked *cases;
    char err[600], md_path[600] = "", scratch[600] = "", what[1200], config[1600];
    if (shard_class_find(a->shard_class ? a->shard_class : shard_class_default(ses->on_cpu), &cls,
                         err, sizeof err) != 0) {
        cli_error("suite: %s", err);
        return EXIT_USAGE;
    }
    int n_cases = pick_cases(su, ses, a, &cls, &cases), rc;
    if (n_cases < 0)
        return EXIT_USAGE;
    if (a->list_only || n_cases == 0) {
        for (int i = 0; a->list_only && i < n_cases; i++)
            printf("%s\n", cases[i].str);
        if (!a->list_only && a->shard_n > 1)    /* a small suite can leave a shard empty */
            fprintf(stderr, "suite %s: shard %d/%d has no cases; nothing to run\n", su->name,
                    a->shard_i, a->shard_n);
        else if (!a->list_only)
            cli_error("suite: no case of %s matches '%s'", su->name, a->filter ? a->filter : "");
        free(cases);
        return a->list_only || a->shard_n > 1 ? EXIT_OK : EXIT_USAGE;
    }
    double budget = a->budget >= 0 ? a->budget
                    : ses->on_cpu && su->cpu_budget_s > 0 ? su->cpu_budget_s : su->budget_s;
    if (a->no_db && isolate && scratch_make(scratch, sizeof scratch) != 0) {
        free(cases);
        return EXIT_FAIL;
    }
    const char *store_path = scratch[0] ? scratch : a->no_db ? NULL : a->db;
    if (a->md)
        snprintf(md_path, sizeof md_path, "%s", a->md);
    else if (!a->no_db)
        md_beside(a->db, md_path, sizeof md_path);
    suite_config(su, a, cls.name, what, sizeof what);
    session_config(ses, what, config, sizeof config);
    ses->config = config;
    ses->resume = a->resume;
    ses->lock_wait_s = a->lock_wait;
    ses->popts = a->popts;
    if ((rc = session_start(ses, store_path, su->name)) != EXIT_OK) {
        if (scratch[0])
            scratch_remove(scratch);
        free(cases);
        return rc;
    }
    say_resume(ses, su, a);
    FILE *mdf = md_path[0] ? fopen(md_path, "w") : NULL;
    if (md_path[0] && !mdf)
        fprintf(stderr, "bench: suite: cannot write %s; the table goes to stdout only\n", md_path);
    const int stores = ses->store && !scratch[0];
    fprintf(stderr, "suite %s: %d cases on %s%s%s%s, budget %.0f s\n", su->name, n_cases,
            ses->device, isolate ? " (isolated)" : "", stores ? ", storing in " : "",
            stores ? a->db : "", budget);

    struct suite_loop L = { .ses = ses, .su = su, .mopts = a->mopts, .seed = (uint64_t)a->seed,
                            .budget = budget, .t_start = now_seconds(), .isolate = isolate,
                            .ic = { .db = store_path, .run_id = ses->run_id,
                                    .timeout_s = a->case_timeout, .peers = &a->pf,
                                    .profile = &a->popts },
                            .retry_failed = a->retry_failed, .mdf = mdf, .n_cases = n_cases,
                            .rates = calloc((size_t)n_cases, sizeof(struct rate)) };
    const int broken = run_cases(&L, cases, n_cases), stopped = L.done < n_cases;
    if (stopped)
        fprintf(stderr, "suite %s: %s after %d of %d cases; those are stored%s\n", su->name,
                broken ? "stopped (the store failed)" : stop_signal == SIGTERM ? "terminated"
                                                                               : "interrupted",
                L.done, n_cases, stores ? "; --resume continues the run" : "");
    fprintf(stderr, "suite %s: %d ok (%d of them few samples or noisy), %d skipped, %d other%s, "
            "%.0f s%s%s\n", su->name, L.n_ok, L.n_unreliable, L.n_skipped,
            L.done - L.n_ok - L.n_skipped, L.n_earlier ? " (some stored earlier)" : "",
            now_seconds() - L.t_start, mdf ? "; table in " : "", mdf ? md_path : "");
    if (mdf)
        fclose(mdf);
    ses->unfinished = stopped;
    rc = session_gpu_ran(ses, "suite", L.done, L.done - L.n_skipped);
    session_close(ses);
    if (scratch[0])
        scratch_remove(scratch);
    free(L.rates);
    free(cases);
    if (stopped)
        return broken ? EXIT_FAIL : 128 + stop_signal;
    return L.failed ? EXIT_FAIL : rc;
}

/* Checks what parsing cannot; 0 or EXIT_USAGE (said). */
static int check_args(struct suite_args *a, int n_pos, char *err, size_t n)
{
    if (!n_pos)
        cli_error("suite: which suite? (bench list suites)");
    else if (a->isolate_on && a->isolate_off)
        cli_error("suite: --isolate and --no-isolate contradict each other");
    else if (!(a->case_timeout >= 0))
        cli_error("suite: --case-timeout %g: expected seconds >= 0", a->case_timeout);
    else if ((a->resume || a->retry_failed) && a->no_db)
        cli_error("suite: --resume continues a run in a database; --no-db has none");
    else if (a->shard && shard_parse(a->shard, &a->shard_i, &a->shard_n, err, n) != 0)
        cli_error("suite: %s", err);
    else
        return 0;
    return EXIT_USAGE;
}

int cmd_suite(int argc, char **argv)
{
    struct suite_args a = { .db = DEFAULT_DB, .seed = 1, .budget = -1, .lock_wait = -1,
                            .case_timeout = CASE_TIMEOUT_DEFAULT_S, .shard_i = 1, .shard_n = 1,
                            .pf = PEER_FLAGS_INIT };
    struct measure_flags mf;
    measure_flags_init(&mf);
    struct opt opts[] = {
        OPT("device", OPT_STRING, &a.device, "DEV", "cpu (the CPU implementations' cases) or cuda:N (the GPU ones'; default cuda:0 where there is a GPU, else cpu); cuda:auto: shard I on cuda:(I-1 mod the GPUs here)"),
        OPT("db", OPT_STRING, &a.db, "FILE", "results database (default " DEFAULT_DB ")"),
        OPT("no-db", OPT_FLAG, &a.no_db, NULL, "do not store the results"),
        OPT("filter", OPT_STRING, &a.filter, "PATTERN", "only cases whose case string contains PATTERN (a glob if it has * ? [)"),
        OPT("shard", OPT_STRING, &a.shard, "I/N", "only shard I of N, balanced by predicted cost (the budget is per shard)"),
        OPT("shard-class", OPT_STRING, &a.shard_class, "CLASS", "the device class whose roofs predict the shards' costs: cpu, h100, h200, a100, ... (default cpu on --device cpu, else h100); the same for every shard"),
        OPT("list", OPT_FLAG, &a.list_only, NULL, "print the cases and exit"),
        OPT("budget", OPT_DOUBLE, &a.budget, "S", "time budget in seconds (default: the suite's)"),
        OPT("seed", OPT_INT, &a.seed, "N", "input seed (default 1)"),
        MEASURE_OPTS(mf),
        PEER_OPTS(a.pf),
        PROFILE_OPTS(a.popts),
        OPT("isolate", OPT_FLAG, &a.isolate_on, NULL, "each case in a child process: a crash or a sticky CUDA error is one error row (the default on a GPU)"),
        OPT("no-isolate", OPT_FLAG, &a.isolate_off, NULL, "every case in this process (the default on cpu)"),
        OPT("case-timeout", OPT_DOUBLE, &a.case_timeout, "S", "kill an isolated case after S seconds, an error row (default 1800; 0: never)"),
        OPT("resume", OPT_FLAG, &a.resume, NULL, "continue the latest unfinished run of this configuration (suite file, device, shard, timing, seed, commit): only the cases it has no result for"),
        OPT("retry-failed", OPT_FLAG, &a.retry_failed, NULL, "with --resume (implied): also run again the cases stored as error, replacing them"),
        OPT("lock-wait", OPT_DOUBLE, &a.lock_wait, "S", "when another bench times on the device, wait at most S seconds, then exit 2 (default: until it is free)"),
        OPT("md", OPT_STRING, &a.md, "FILE", "also write the markdown table to FILE (default: beside the database, X.db -> X.md; none with --no-db)"),
    };
    char *pos[1], err[600];
    int n_pos, rc = cli_parse(cli_command(cmd_suite), argc, argv, opts,
                              (int)(sizeof opts / sizeof opts[0]), pos, 1, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
        return rc;
    a.mopts = (struct measure_opts)MEASURE_DEFAULTS;
    if ((rc = measure_flags_apply("suite", &mf, &a.mopts)) != 0 ||
        (rc = check_args(&a, n_pos, err, sizeof err)) != 0 ||
        (rc = peer_flags_apply("suite", &a.pf)) != 0)
        return rc;
    a.name = pos[0];
    a.resume |= a.retry_failed;

    struct suite su;
    if (suite_load(a.name, sb_exe_dir, &su, err, sizeof err) != 0) {
        cli_error("suite: %s", err);
        return EXIT_USAGE;
    }
    /* Isolation: asked, or by default unless the device is the CPU. The
     * GPU is then probed in a child, before anything else touches CUDA. */
    int isolate = a.isolate_on || (!a.isolate_off && !(a.device && strcmp(a.device, "cpu") == 0));
    char auto_dev[32];
    struct session ses;
    if (a.device && strcmp(a.device, "cuda:auto") == 0 &&
        (rc = auto_device(isolate, a.shard_i, auto_dev, sizeof auto_dev)) == EXIT_OK)
        a.device = auto_dev;
    if (rc == EXIT_OK)
        rc = isolate ? session_device_isolated(&ses, a.device) : session_device(&ses, a.device);
    if (rc == EXIT_OK)
        rc = suite_run(&a, &su, &ses, a.isolate_on || (isolate && !ses.on_cpu));
    suite_free(&su);
    return rc;
}
