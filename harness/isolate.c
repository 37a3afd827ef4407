/*
 * isolate.c — see isolate.h. The parent's half (spawning, waiting, reading
 * back) and the children's commands (`bench _case`, `bench _probe`).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "isolate.h"
#include "measure_flags.h"
#include "nvml.h"
#include "session.h"
#include "table.h"

/* The running binary, as the kernel knows it: a rebuild during a suite
 * does not change which bench the children are. */
#define SELF_EXE "/proc/self/exe"
#define CHILD_EXEC_FAILED 127           /* the exit code of a child whose exec failed */
#define PROBE_MAGIC 0x53425052u         /* "SBPR": a probe reply from this build */

/* ---- spawning and waiting ---------------------------------------------------- */

/* fork + exec of this bench with argv. In the child, between the two, only
 * async-signal-safe calls: ignore SIGINT and SIGTERM (the parent decides),
 * die with the parent, stdout onto out_fd when >= 0. Returns the pid, or -1
 * with errno. */
static pid_t spawn(char *const argv[], int out_fd)
{
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGTERM, &ign, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)            /* the parent died before prctl took */
        _exit(CHILD_EXEC_FAILED);
    if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(CHILD_EXEC_FAILED);
    execv(SELF_EXE, argv);
    _exit(CHILD_EXEC_FAILED);
}

/* Waits for pid, at most timeout_s seconds (0: no limit), then kills it.
 * Signals the parent catches do not end the wait: the case in flight
 * finishes. Returns the wait status; *timed_out says whether it was killed
 * for the time. */
static int wait_child(pid_t pid, double timeout_s, int *timed_out)
{
    int status = 0;
    double t0 = now_seconds(), nap = 1e-3;
    *timed_out = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return status;
        if (got < 0 && errno != EINTR)
            return status;
        if (timeout_s > 0 && now_seconds() - t0 > timeout_s && !*timed_out) {
            kill(pid, SIGKILL);
            *timed_out = 1;
        }
        usleep((useconds_t)(nap * 1e6));
        nap = nap < 0.05 ? nap * 2 : 0.05;  /* quick for short cases, cheap for long ones */
    }
}

/* "killed by SIGSEGV", "exited 3": what a wait status says, for a message. */
static void describe_status(int status, char *buf, size_t n)
{
    if (WIFSIGNALED(status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(status));
        if (abbrev)
            snprintf(buf, n, "killed by SIG%s", abbrev);
        else
            snprintf(buf, n, "killed by signal %d", WTERMSIG(status));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_EXEC_FAILED) {
        snprintf(buf, n, "could not be started (exec of %s failed)", SELF_EXE);
    } else {
        snprintf(buf, n, "exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

/* ---- the probe ---------------------------------------------------------------- */

/* What `bench _probe` writes on its stdout: the struct as this very binary
 * lays it out (the parent execs itself, so both sides agree), checked by a
 * magic number and the size. */
struct probe_reply {
    unsigned magic;
    unsigned size;
    struct isolate_probe p;
};

void isolate_probe(int index, int measure, struct isolate_probe *p)
{
    memset(p, 0, sizeof *p);
    p->gpu.index = index;
    char idx[16];
    snprintf(idx, sizeof idx, "%d", index);
    char *argv[] = { "bench", "_probe", idx, measure ? "--measure" : NULL, NULL };
    int fd[2];
    struct probe_reply reply;
    size_t got = 0;
    int status = 0, timed_out;
    if (pipe2(fd, O_CLOEXEC) != 0) {
        snprintf(p->gpu.why_absent, sizeof p->gpu.why_absent, "GPU probe: pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = spawn(argv, fd[1]);
    close(fd[1]);
    while (pid > 0 && got < sizeof reply) {
        ssize_t r = read(fd[0], (char *)&reply + got, sizeof reply - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd[0]);
    if (pid > 0)
        status = wait_child(pid, 0, &timed_out);
    if (pid > 0 && got == sizeof reply && reply.magic == PROBE_MAGIC && reply.size == sizeof reply &&
        WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        *p = reply.p;
        return;
    }
    char how[80];
    if (pid < 0)
        snprintf(how, sizeof how, "could not be started: %s", strerror(errno));
    else
        describe_status(status, how, sizeof how);
    snprintf(p->gpu.why_absent, sizeof p->gpu.why_absent, "the GPU probe (bench _probe) %s", how);
}

int cmd_probe(int argc, char **argv)
{
    int measure = 0;
    struct opt opts[] = {
        OPT("measure", OPT_FLAG, &measure, NULL, "also measure the copy bandwidth and the ceilings"),
    };
    char *pos[1];
    int n_pos;
    int64_t index;
    int rc = cli_parse(cli_command(cmd_probe), argc, argv, opts, 1, pos, 1, &n_pos);
    if (rc)
        return rc == CLI_HELP ? EXIT_OK : rc;
    if (n_pos != 1 || cli_parse_int(pos[0], &index) != 0 || index < 0) {
        cli_error("_probe: expected a device index");
        return EXIT_USAGE;
    }
    struct probe_reply reply = { .magic = PROBE_MAGIC, .size = sizeof reply };
    struct isolate_probe *p = &reply.p;
    memset(p, 0, sizeof *p);
    if (gpu_probe((int)index, &p->gpu) == 0) {
        struct gpu_ctx *g = gpu_open((int)index, p->why, sizeof p->why);
        if (g) {
            p->usable = 1;
            if (measure) {
                char why[300];      /* NVML only reads clocks for the ceilings here */
                struct nvml_dev *nv = nvml_open(p->gpu.uuid, (int)index, why, sizeof why);
                p->copy_bw = gpu_measure_bandwidth(g);
                gpu_ceilings_load(&p->ceil, g, &p->gpu, nv, 0);
                if (nv)
                    nvml_close(nv);
            }
            gpu_close(g);
        }
    }
    fflush(stdout);
    return fwrite(&reply, sizeof reply, 1, stdout) == 1 && fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

/* ---- a case in a child ------------------------------------------------------------ */

/* "family/impl dtype B=1 N=... causal" (a canonical case string without a
 * timing suffix) back into family, implementation and shape. The string
 * must be canonical: written again, it is the same. Returns 0, or -1 with
 * err. */
static int case_parse(const char *cs, const struct family **f, const struct impl **im,
                      struct shape *s, char *err, size_t n)
{
    char fam[64], impl[64], dt[16], again[256];
    int used = 0, t;
    if (sscanf(cs, "%63[^/]/%63s %15s %n", fam, impl, dt, &used) < 3 || !used) {
        snprintf(err, n, "'%s' is not a case string (family/impl dtype shape...)", cs);
        return -1;
    }
    if (!(*f = family_find(fam)) || !(*im = impl_find(*f, impl)) || (t = dtype_parse(dt)) < 0) {
        snprintf(err, n, "'%s': unknown family, implementation or dtype", cs);
        return -1;
    }
    shape_unset(s);
    if (shape_parse_words(*f, cs + used, s, err, n) != 0)
        return -1;
    s->dtype = (enum dtype)t;
    case_string(*f, (*im)->name, s, again, sizeof again);
    if (strcmp(again, cs) != 0) {
        snprintf(err, n, "'%s' is not canonical ('%s')", cs, again);
        return -1;
    }
    return 0;
}

int cmd_case(int argc, char **argv)
{
    const char *db = NULL, *device = NULL;
    int64_t run_id = 0, replace_id = 0, seed = 1;
    struct measure_flags mf;
    measure_flags_init(&mf);
    struct peer_flags pf = PEER_FLAGS_INIT;
    struct profile_opts popts = { 0 };
    struct opt opts[] = {
        OPT("db", OPT_STRING, &db, "FILE", "the run's database"),
        OPT("run-id", OPT_INT, &run_id, "ID", "the run the result joins"),
        OPT("replace", OPT_INT, &replace_id, "ID", "the result this one replaces"),
        OPT("device", OPT_STRING, &device, "DEV", "the run's device"),
        OPT("seed", OPT_INT, &seed, "N", "input seed"),
        MEASURE_OPTS(mf),
        PEER_OPTS(pf),
        PROFILE_OPTS(popts),
    };
    char *pos[1], err[600];
    int n_pos;
    int rc = cli_parse(cli_command(cmd_case), argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       pos, 1, &n_pos);
    if (rc)
        return rc == CLI_HELP ? EXIT_OK : rc;
    struct measure_opts mopts = MEASURE_DEFAULTS;
    if ((rc = measure_flags_apply("_case", &mf, &mopts)) != 0 ||
        (rc = peer_flags_apply("_case", &pf)) != 0)
        return rc;
    struct case_req q = { .seed = (uint64_t)seed, .mopts = mopts };
    if (n_pos != 1 || !db || run_id <= 0 || !device ||
        case_parse(pos[0], &q.family, &q.impl, &q.shape, err, sizeof err) != 0) {
        cli_error("_case: %s", n_pos == 1 && db && run_id > 0 && device ? err
                  : "expected CASE --db FILE --run-id ID --device DEV");
        return EXIT_USAGE;
    }
    struct session ses;
    if ((rc = session_device(&ses, device)) != EXIT_OK)
        return rc;
    ses.no_lock = 1;                /* the parent holds the device */
    ses.popts = popts;
    ses.popts.calibrate = 1;        /* the ceilings its parent's probe cached */
    if ((rc = session_start(&ses, NULL, NULL)) != EXIT_OK)
        return rc;
    struct store *st = store_open_checked_by_parent(db, err, sizeof err);
    if (!st) {
        cli_error("_case: %s", err);
        session_close(&ses);
        return EXIT_FAIL;
    }
    q.device = ses.device;
    q.gpu = ses.gctx;
    q.no_gpu_reason = ses.no_gpu_reason;
    q.roof = session_roof(&ses, q.impl, q.shape.dtype);
    q.prof = &ses.prof;
    struct case_result r;
    run_case(&q, &r);
    rc = EXIT_OK;
    if (store_replace_result(st, run_id, replace_id, &r.rec, r.samples, r.rec.n_samples, err,
                             sizeof err) != 0) {
        cli_error("_case: %s", err);
        rc = EXIT_FAIL;
    }
    case_result_free(&r);
    store_close(st);
    session_close(&ses);
    return rc;
}

/* The argv of `bench _case` for q, in bufs. */
struct case_argv {
    char *v[32 + 2 * OPT_LIST_MAX];
    char run_id[24], replace[24], seed[24], max_time[32], min_samples[16], target[32];
    char peer_timeout[32];
    char case_str[256];
};

static void case_argv(const struct isolate_case *ic, const struct case_req *q, struct case_argv *a)
{
    int k = 0;
    case_string(q->family, q->impl->name, &q->shape, a->case_str, sizeof a->case_str);
    snprintf(a->run_id, sizeof a->run_id, "%lld", (long long)ic->run_id);
    snprintf(a->replace, sizeof a->replace, "%lld", (long long)ic->replace_id);
    snprintf(a->seed, sizeof a->seed, "%llu", (unsigned long long)q->seed);
    snprintf(a->max_time, sizeof a->max_time, "%.17g", q->mopts.max_seconds);
    snprintf(a->min_samples, sizeof a->min_samples, "%d", q->mopts.min_samples);
    snprintf(a->target, sizeof a->target, "%.17g", q->mopts.target_rel);
    a->v[k++] = "bench";
    a->v[k++] = "_case";
    a->v[k++] = a->case_str;
    a->v[k++] = "--db", a->v[k++] = (char *)ic->db;
    a->v[k++] = "--run-id", a->v[k++] = a->run_id;
    a->v[k++] = "--replace", a->v[k++] = a->replace;
    a->v[k++] = "--device", a->v[k++] = (char *)q->device;
    a->v[k++] = "--seed", a->v[k++] = a->seed;
    a->v[k++] = "--timing", a->v[k++] = (char *)timing_names[q->mopts.timing];
    a->v[k++] = "--max-time", a->v[k++] = a->max_time;
    a->v[k++] = "--min-samples", a->v[k++] = a->min_samples;
    a->v[k++] = "--target", a->v[k++] = a->target;
    if (ic->peers) {
        for (int i = 0; i < ic->peers->plugins.n; i++)
            a->v[k++] = "--plugin", a->v[k++] = (char *)ic->peers->plugins.v[i];
        snprintf(a->peer_timeout, sizeof a->peer_timeout, "%.17g", ic->peers->timeout_s);
        a->v[k++] = "--peer-timeout", a->v[k++] = a->peer_timeout;
    }
    if (ic->profile && ic->profile->metrics)
        a->v[k++] = "--metrics", a->v[k++] = (char *)ic->profile->metrics;
    if (ic->profile && ic->profile->energy)
        a->v[k++] = "--energy";
    a->v[k] = NULL;
}

int isolate_run_case(struct store *st, const struct isolate_case *ic, const struct case_req *q,
                     struct case_result *res, char *err, size_t n)
{
    struct case_argv a;
    case_argv(ic, q, &a);
    const int64_t launched_ms = store_now_ms();
    int status = 0, timed_out = 0;
    pid_t pid = spawn(a.v, -1);
    if (pid > 0)
        status = wait_child(pid, ic->timeout_s, &timed_out);

    /* The child's row: one in the run for this case that is not the one it
     * was to replace, or that began after the child was started (a replaced
     * row's id can be reused). */
    case_result_error(q, "", res);          /* the stored case string, timing suffix and all */
    int64_t id = 0;
    int found = store_find_result(st, ic->run_id, res->case_str, &id, NULL, 0, err, n);
    if (found < 0)
        return -1;
    if (found) {
        case_result_free(res);
        if (table_load(st, id, res, err, n) != 0)
            return -1;
        if (!ic->replace_id || id != ic->replace_id || res->rec.started_at_ms >= launched_ms)
            return 0;
        case_result_free(res);
    }
    char how[120], why[200];
    if (pid < 0)
        snprintf(how, sizeof how, "could not be started: %s", strerror(errno));
    else if (timed_out)
        snprintf(how, sizeof how, "killed after %.0f s (--case-timeout)", ic->timeout_s);
    else
        describe_status(status, how, sizeof how);
    snprintf(why, sizeof why, "child %s%s (isolated case)", how,
             pid > 0 && WIFEXITED(status) ? " without a result" : "");
    case_result_error(q, why, res);
    res->rec.started_at_ms = launched_ms;
    return store_replace_result(st, ic->run_id, ic->replace_id, &res->rec, NULL, 0, err, n);
}
