/*
 * peer.c — see peer.h: the peers' registration and install state, and the
 * implementation entry points (setup, run, fetch, sample, teardown) that
 * drive a peer's worker process through harness/peer_worker.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"
#include "npy.h"
#include "peer.h"
#include "peer_worker.h"
#include "plugin.h"

/* Peers at most: the table's rows and an adapter file's. */
#define MAX_PEERS 64
/* How long asking the peers' Python which distributions it has may take. */
#define PROBE_TIMEOUT_S 60.0
/* A fetch writes the output as .npy: its own slack on top of one run. */
#define FETCH_SLACK_S 60.0

/* A registered peer: its adapter and the implementation bench sees. */
struct peer_reg {
    const struct peer_adapter *a;
    struct impl impl;
    char name[64];              /* "ext:<name>" */
    struct worker w;            /* its worker; w.pid 0 when none runs */
};
static struct peer_reg regs[MAX_PEERS];
static int n_regs;
static double timeout_s = PEER_TIMEOUT_DEFAULT_S;

/* What one case keeps between setup and teardown. */
struct peer_case {
    struct peer_reg *r;
    double call_s;              /* the worker's checked run, seconds: sizes the time limits */
};

/* ---- where the Python and the adapters are ------------------------------- */

static void peers_dir(char *buf, size_t n)
{
    snprintf(buf, n, "%s/../ops/peers", sb_exe_dir ? sb_exe_dir : ".");
}

/* The peers' interpreter (peer.h), or NULL with why. */
static const char *peer_python(char *why, size_t n)
{
    static char path[1024];
    const char *env = getenv("SEQBENCH_PYTHON");
    if (env && env[0]) {
        if (access(env, X_OK) == 0)
            return env;
        snprintf(why, n, "SEQBENCH_PYTHON=%s is not an executable", env);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/../.peers/venv/bin/python", sb_exe_dir ? sb_exe_dir : ".");
    if (access(path, X_OK) == 0)
        return path;
    if (access("/usr/bin/python3", X_OK) == 0)
        return "/usr/bin/python3";
    snprintf(why, n, "no Python for the peers (SEQBENCH_PYTHON, .peers/venv from scripts/peers.sh, "
             "/usr/bin/python3)");
    return NULL;
}

/* Starts a worker: the interpreter on ops/peers/worker.py. */
static int start_worker(struct worker *w, char *err, size_t n)
{
    memset(w, 0, sizeof *w);
    char why[200], script[1100];
    const char *py = peer_python(why, sizeof why);
    if (!py) {
        snprintf(err, n, "%s", why);
        return -1;
    }
    peers_dir(script, sizeof script);
    strncat(script, "/worker.py", sizeof script - strlen(script) - 1);
    char *argv[] = { (char *)py, "-B", script, NULL };
    static int registered;
    if (!registered)
        registered = atexit(peers_shutdown) == 0;
    return worker_start(w, argv, timeout_s, err, n);
}

void peers_shutdown(void)
{
    for (int i = 0; i < n_regs; i++)
        if (regs[i].w.pid > 0 || regs[i].w.dir[0])
            worker_stop(&regs[i].w);
}

/* ---- install state --------------------------------------------------------- */

/* The distributions every peer needs and their versions ("" when absent),
 * asked of the peers' Python once per process. */
#define MAX_DISTS 64
static struct {
    int asked;
    char why[240];              /* why nothing is known (no Python, the probe failed) */
    int n;
    char name[MAX_DISTS][48], version[MAX_DISTS][48];
} probe;

static int dist_index(const char *name, size_t len)
{
    for (int i = 0; i < probe.n; i++)
        if (strlen(probe.name[i]) == len && strncmp(probe.name[i], name, len) == 0)
            return i;
    return -1;
}

static void probe_run(void)
{
    probe.asked = 1;
    for (int i = 0; i < n_regs; i++)    /* the union of every peer's distributions */
        for (const char *d = regs[i].a->dists; *d;) {
            size_t len = strcspn(d, " |");
            if (len && len < sizeof probe.name[0] && dist_index(d, len) < 0 && probe.n < MAX_DISTS)
                snprintf(probe.name[probe.n++], sizeof probe.name[0], "%.*s", (int)len, d);
            d += len + (d[len] != 0);
        }
    char line[4096] = "probe", list[3072] = "", err[300];
    for (int i = 0; i < probe.n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "",
                 probe.name[i]);
    proto_append(line, sizeof line, "dists", list);
    struct worker w;
    struct reply r;
    if (!peer_python(probe.why, sizeof probe.why))
        return;                         /* no Python: that is the reason */
    if (start_worker(&w, err, sizeof err) != 0 ||
        worker_request(&w, line, PROBE_TIMEOUT_S, "probe", &r, err, sizeof err) != 0) {
        snprintf(probe.why, sizeof probe.why, "the peers' Python could not be asked: %.200s", err);
        worker_stop(&w);
        return;
    }
    const char *v = reply_get(&r, "dists");
    if (strcmp(r.verb, "ok") != 0 || !v) {
        snprintf(probe.why, sizeof probe.why, "the peers' Python answered %s: %.160s", r.verb,
                 reply_get(&r, "msg") ? reply_get(&r, "msg") : "");
    } else {
        /* "torch=2.5.1,numpy=-": '-' is not installed */
        for (const char *p = v; *p;) {
            size_t len = strcspn(p, ","), eq = strcspn(p, "=");
            int i = eq < len ? dist_index(p, eq) : -1;
            if (i >= 0 && !(len - eq - 1 == 1 && p[eq + 1] == '-'))
                snprintf(probe.version[i], sizeof probe.version[0], "%.*s", (int)(len - eq - 1),
                         p + eq + 1);
            p += len + (p[len] == ',');
        }
    }
    reply_free(&r);
    worker_stop(&w);
}

int peer_installed(const struct peer_adapter *a, char *what, size_t n)
{
    if (!probe.asked)
        probe_run();
    if (probe.why[0]) {
        snprintf(what, n, "not installed (%s)", probe.why);
        return 0;
    }
    size_t len = 0;
    what[0] = 0;
    for (const char *d = a->dists; *d;) {      /* each word: one of its '|' alternatives */
        size_t k = strcspn(d, " ");
        int found = -1;
        for (const char *alt = d; alt < d + k && found < 0;) {
            size_t m = strcspn(alt, " |");
            int i = dist_index(alt, m);
            found = i >= 0 && probe.version[i][0] ? i : -1;
            alt += m + (alt[m] == '|');
        }
        if (found < 0) {
            snprintf(what, n, "not installed (%s)", a->install);
            return 0;
        }
        len += (size_t)snprintf(what + len, len < n ? n - len : 0, "%s%s %s", len ? ", " : "",
                                probe.name[found], probe.version[found]);
        d += k + (d[k] == ' ');
    }
    return 1;
}

const struct peer_adapter *peer_of(const struct impl *im)
{
    for (int i = 0; i < n_regs; i++)
        if (im == &regs[i].impl)
            return regs[i].a;
    return NULL;
}

static int peer_available(const struct impl *im, char *why, size_t n)
{
    char what[300];
    const struct peer_adapter *a = peer_of(im);
    if (!a || peer_installed(a, what, sizeof what))
        return 1;
    if (n)
        snprintf(why, n, "%s %.250s", im->name, what);
    return 0;
}

/* ---- talking to the worker ------------------------------------------------ */

/* A reply's verb as a status, its msg into ctx->err. */
static int reply_status(struct op_ctx *ctx, const struct reply *r)
{
    const char *msg = reply_get(r, "msg");
    snprintf(ctx->err, sizeof ctx->err, "%s", msg ? msg : "");
    if (strcmp(r->verb, "ok") == 0)
        return SB_OK;
    if (strcmp(r->verb, "skip") == 0)
        return SB_UNSUPPORTED;
    if (strcmp(r->verb, "oom") == 0)
        return SB_OOM;
    if (strcmp(r->verb, "error") != 0)
        snprintf(ctx->err, sizeof ctx->err, "worker sent '%.40s', not a reply", r->verb);
    return SB_ERROR;
}

/* Sends line; the reply's status (SB_OK with *r to read), or SB_ERROR
 * when the worker failed (killed: the next case starts another). */
static int ask(struct op_ctx *ctx, struct peer_case *pc, const char *line, double limit_s,
               const char *what, struct reply *r)
{
    char err[sizeof ctx->err];
    if (worker_request(&pc->r->w, line, limit_s, what, r, err, sizeof err) != 0) {
        snprintf(ctx->err, sizeof ctx->err, "%s", err);
        return SB_ERROR;
    }
    const char *fp = reply_get(r, "footprint");
    if (fp && atoll(fp) > ctx->footprint_bytes)
        ctx->footprint_bytes = atoll(fp);
    int rc = reply_status(ctx, r);
    if (rc != SB_OK)
        reply_free(r);
    return rc;
}

/* Seconds a request for k runs may take. */
static double runs_limit(const struct peer_case *pc, int k)
{
    double per_run = fmax(1.0, PEER_RUN_FACTOR * pc->call_s);
    return fmin(timeout_s, PEER_SAMPLE_SLACK_S + k * per_run);
}

/* "2,64,4,128": dims as a list. */
static void dims_text(const struct tensor_spec *t, char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; i < t->ndim; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%lld", i ? "," : "", (long long)t->dims[i]);
}

/* The prepare request: what to run, where the inputs are, the shape. */
static int prepare_line(const struct op_ctx *ctx, const struct peer_reg *r, char *line, size_t n)
{
    const struct peer_adapter *a = r->a;
    const struct family *f = family_find(a->family);
    char buf[1100], names[256] = "";
    int rc = 0;
    snprintf(line, n, "prepare");
    peers_dir(buf, sizeof buf);
    rc |= proto_append(line, n, "module", a->module);
    rc |= proto_append(line, n, "variant", a->variant ? a->variant : "");
    rc |= proto_append(line, n, "moddir", a->dir ? a->dir : buf);
    rc |= proto_append(line, n, "peer", r->name);
    rc |= proto_append(line, n, "family", a->family);
    if (ctx->gpu)
        snprintf(buf, sizeof buf, "cuda:%d", gpu_ctx_index(ctx->gpu));
    rc |= proto_append(line, n, "device", ctx->gpu ? buf : "cpu");
    rc |= proto_append(line, n, "dtype", dtype_table[ctx->shape->dtype].name);
    snprintf(buf, sizeof buf, "%d", ctx->threads);
    rc |= proto_append(line, n, "threads", buf);
    snprintf(buf, sizeof buf, "%.17g", ctx->scale);
    rc |= proto_append(line, n, "scale", buf);
    snprintf(buf, sizeof buf, "%zu", ctx->gpu ? gpu_flush_bytes(ctx->gpu) : (size_t)0);
    rc |= proto_append(line, n, "flush", buf);  /* allocated before the footprint's baseline */
    for (int i = 0; i < ctx->io->n_in; i++) {
        char key[48];
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "," : "",
                 ctx->io->in[i].name);
        snprintf(key, sizeof key, "in.%s", ctx->io->in[i].name);
        dims_text(&ctx->io->in[i], buf, sizeof buf);
        rc |= proto_append(line, n, key, buf);
    }
    rc |= proto_append(line, n, "inputs", names);
    dims_text(&ctx->io->out, buf, sizeof buf);
    rc |= proto_append(line, n, "out", buf);
    if (ctx->final) {
        dims_text(&ctx->io->final, buf, sizeof buf);
        rc |= proto_append(line, n, "final", buf);
    }
    for (int i = 0; i < SF_COUNT; i++)
        if (f->fields & SF_BIT(i)) {
            shape_field_format(i, shape_field_get(ctx->shape, i), buf, sizeof buf);
            rc |= proto_append(line, n, shape_fields[i].name, buf);
        }
    return rc;
}

/* The worker prepares the case; ctx->priv holds the case only when this
 * returns SB_OK (runcase tears down only what was set up). */
static int peer_prepare(struct op_ctx *ctx, struct peer_case *pc)
{
    struct peer_reg *r = pc->r;
    char err[sizeof ctx->err], path[400];
    if (r->w.pid <= 0) {
        if (r->w.dir[0])
            worker_stop(&r->w);         /* the one that failed: its folder goes */
        if (start_worker(&r->w, err, sizeof err) != 0) {
            snprintf(ctx->err, sizeof ctx->err, "%s", err);
            return SB_ERROR;
        }
    }
    for (int i = 0; i < ctx->io->n_in; i++) {
        const struct tensor_spec *t = &ctx->io->in[i];
        snprintf(path, sizeof path, "%s/%s.npy", r->w.dir, t->name);
        if (npy_write_f32(path, ctx->in[i], t->ndim, t->dims, err, sizeof err) != 0) {
            snprintf(ctx->err, sizeof ctx->err, "writing the inputs: %.200s", err);
            return SB_ERROR;
        }
    }
    char line[8192];
    if (prepare_line(ctx, r, line, sizeof line) != 0) {
        snprintf(ctx->err, sizeof ctx->err, "the prepare request is over %zu bytes", sizeof line);
        return SB_ERROR;
    }
    struct reply rep;
    int rc = ask(ctx, pc, line, timeout_s, "prepare", &rep);
    for (int i = 0; i < ctx->io->n_in; i++) {   /* the worker holds its own copy now */
        snprintf(path, sizeof path, "%s/%s.npy", r->w.dir, ctx->io->in[i].name);
        unlink(path);
    }
    if (rc != SB_OK)
        return rc;
    const char *info = reply_get(&rep, "info"), *call = reply_get(&rep, "call_s");
    snprintf(ctx->info, sizeof ctx->info, "%s", info ? info : "");
    pc->call_s = call ? atof(call) : 0;
    reply_free(&rep);
    return SB_OK;
}

static int peer_setup(struct op_ctx *ctx)
{
    struct peer_case *pc = calloc(1, sizeof *pc);
    if (!pc)
        return SB_OOM;
    pc->r = (struct peer_reg *)ctx->impl_data;
    int rc = peer_prepare(ctx, pc);
    if (rc == SB_OK)
        ctx->priv = pc;
    else
        free(pc);
    return rc;
}

static int peer_run(struct op_ctx *ctx)
{
    struct peer_case *pc = ctx->priv;
    struct reply rep;
    int rc = ask(ctx, pc, "run", runs_limit(pc, 1), "run", &rep);
    if (rc == SB_OK)
        reply_free(&rep);
    return rc;
}

/* Reads DIR/name.npy into dst, which holds t. */
static int read_output(struct op_ctx *ctx, const char *dir, const char *name,
                       const struct tensor_spec *t, float *dst)
{
    char path[400], err[300], got_s[96], want_s[96];
    float *data;
    int ndim;
    int64_t dims[SB_MAX_DIMS];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    if (npy_read_f32(path, &data, &ndim, dims, err, sizeof err) != 0) {
        snprintf(ctx->err, sizeof ctx->err, "its %s: %.200s", name, err);
        return SB_ERROR;
    }
    unlink(path);
    int same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++)
        same = dims[i] == t->dims[i];
    if (!same) {
        npy_dims_format(got_s, sizeof got_s, ndim, dims);
        npy_dims_format(want_s, sizeof want_s, t->ndim, t->dims);
        snprintf(ctx->err, sizeof ctx->err, "returned %s of shape %s, expected %s", name, got_s,
                 want_s);
        free(data);
        return SB_ERROR;
    }
    memcpy(dst, data, (size_t)tensor_numel(t) * sizeof *dst);
    free(data);
    return SB_OK;
}

static int peer_fetch(struct op_ctx *ctx)
{
    struct peer_case *pc = ctx->priv;
    struct reply rep;
    int rc = ask(ctx, pc, "fetch", runs_limit(pc, 1) + FETCH_SLACK_S, "fetch", &rep);
    if (rc != SB_OK)
        return rc;
    reply_free(&rep);
    rc = read_output(ctx, pc->r->w.dir, "out", &ctx->io->out, ctx->out);
    if (rc == SB_OK && ctx->final)
        rc = read_output(ctx, pc->r->w.dir, "final", &ctx->io->final, ctx->final);
    return rc;
}

static int peer_sample(struct op_ctx *ctx, const struct sample_req *q, double *ms)
{
    struct peer_case *pc = ctx->priv;
    char line[512] = "samples", buf[64];
    snprintf(buf, sizeof buf, "%d", q->n);
    proto_append(line, sizeof line, "n", buf);
    proto_append(line, sizeof line, "timing", q->timing);
    snprintf(buf, sizeof buf, "%zu", ctx->gpu ? gpu_flush_bytes(ctx->gpu) : (size_t)0);
    proto_append(line, sizeof line, "flush", buf);
    snprintf(buf, sizeof buf, "%g", q->graph_ms);
    proto_append(line, sizeof line, "graph_ms", buf);
    snprintf(buf, sizeof buf, "%d", q->graph_max);
    proto_append(line, sizeof line, "graph_max", buf);
    proto_append(line, sizeof line, "warmup", q->warmup ? "1" : "0");
    struct reply rep;
    int rc = ask(ctx, pc, line, runs_limit(pc, q->n), "samples", &rep);
    if (rc != SB_OK)
        return rc;
    const char *v = reply_get(&rep, "ms");
    int got = 0;
    for (char *end; v && *v && got < q->n; v = *end == ',' ? end + 1 : end) {
        ms[got] = strtod(v, &end);
        if (end == v || !(ms[got] >= 0))
            break;
        got++;
    }
    if (got != q->n || (v && *v)) {
        snprintf(ctx->err, sizeof ctx->err, "asked for %d timed runs, the worker returned %d", q->n,
                 got);
        rc = SB_ERROR;
    }
    reply_free(&rep);
    return rc;
}

static void peer_teardown(struct op_ctx *ctx)
{
    struct peer_case *pc = ctx->priv;
    if (!pc)
        return;
    struct reply rep;
    if (pc->r->w.pid > 0 && ask(ctx, pc, "release", runs_limit(pc, 1), "release", &rep) == SB_OK)
        reply_free(&rep);
    free(pc);
    ctx->priv = NULL;
}

/* ---- registration ------------------------------------------------------------ */

static int add_peer(const struct peer_adapter *a, char *err, size_t n)
{
    const struct family *f = family_find(a->family);
    if (!f) {
        snprintf(err, n, "peer %s: unknown family '%s'", a->name, a->family);
        return -1;
    }
    if (n_regs == MAX_PEERS) {
        snprintf(err, n, "more than %d peers", MAX_PEERS);
        return -1;
    }
    struct peer_reg *r = &regs[n_regs];
    snprintf(r->name, sizeof r->name, "ext:%s", a->name);
    r->a = a;
    r->impl = (struct impl){
        .name = r->name, .device = a->device, .dtypes = a->dtypes, .status = a->status,
        .summary = a->summary, .setup = peer_setup, .run = peer_run, .fetch = peer_fetch,
        .teardown = peer_teardown, .workspace_bytes = a->workspace_bytes, .sample = peer_sample,
        .available = peer_available, .data = r,
    };
    if (registry_add_impl(f, &r->impl, err, n) != 0)
        return -1;
    n_regs++;
    return 0;
}

/* One row of an adapter file: family name device dtypes module[:variant]
 * dists (dists comma-separated). Strings are kept for the process. */
static int parse_adapter_line(const char *file, int lineno, char *line, const char *dir,
                              struct peer_adapter *a, char *err, size_t n)
{
    char *w[6], *save;
    int k = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t && k < 6; t = strtok_r(NULL, " \t\r\n", &save))
        w[k++] = t;
    if (k != 6 || strtok_r(NULL, " \t\r\n", &save)) {
        snprintf(err, n, "%s:%d: expected 'family name device dtypes module[:variant] dists'",
                 file, lineno);
        return -1;
    }
    memset(a, 0, sizeof *a);
    a->family = strdup(w[0]);
    a->name = strdup(w[1]);
    if (strcmp(w[2], "cpu") != 0 && strcmp(w[2], "cuda") != 0) {
        snprintf(err, n, "%s:%d: device '%s': cpu or cuda", file, lineno, w[2]);
        return -1;
    }
    a->device = strcmp(w[2], "cpu") == 0 ? DEV_CPU : DEV_CUDA;
    for (char *t = strtok_r(w[3], ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int dt = dtype_parse(t);
        if (dt < 0) {
            snprintf(err, n, "%s:%d: unknown dtype '%s'", file, lineno, t);
            return -1;
        }
        a->dtypes |= DT_BIT(dt);
    }
    char *colon = strchr(w[4], ':');
    if (colon)
        *colon = 0;
    a->module = strdup(w[4]);
    a->variant = strdup(colon ? colon + 1 : "");
    for (char *c = w[5]; *c; c++)
        if (*c == ',')
            *c = ' ';
    a->dists = strdup(w[5]);
    char *how = malloc(strlen(w[5]) + 64);
    if (how)
        snprintf(how, strlen(w[5]) + 64, "install %s into the peers' Python", w[5]);
    a->install = how;
    char *status = malloc(strlen(file) + 32);
    if (status)
        snprintf(status, strlen(file) + 32, "an adapter of %s", file);
    a->status = status;
    a->summary = "a Python adapter from $SEQBENCH_PEER_ADAPTERS";
    a->dir = strdup(dir);
    if (!a->family || !a->name || !a->module || !a->variant || !a->dists || !how || !status ||
        !a->dir) {
        snprintf(err, n, "%s:%d: out of memory", file, lineno);
        return -1;
    }
    return 0;
}

/* The rows of $SEQBENCH_PEER_ADAPTERS, modules looked up beside it. */
static int register_file(const char *file, char *err, size_t n)
{
    FILE *fp = fopen(file, "r");
    if (!fp) {
        snprintf(err, n, "SEQBENCH_PEER_ADAPTERS=%s: cannot read it", file);
        return -1;
    }
    char dir[1024], line[512];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int rc = 0;
    for (int lineno = 1; rc == 0 && fgets(line, sizeof line, fp); lineno++) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        static struct peer_adapter rows[MAX_PEERS];
        static int n_rows;
        if (n_rows == MAX_PEERS) {
            snprintf(err, n, "%s:%d: more than %d adapters", file, lineno, MAX_PEERS);
            rc = -1;
        } else if (parse_adapter_line(file, lineno, line, dir, &rows[n_rows], err, n) != 0 ||
                   add_peer(&rows[n_rows], err, n) != 0) {
            rc = -1;
        } else {
            n_rows++;
        }
    }
    fclose(fp);
    return rc;
}

int peers_register(char *err, size_t n)
{
    static int done;
    if (done)
        return 0;
    done = 1;
    for (int i = 0; i < n_peer_adapters; i++)
        if (add_peer(&peer_adapters[i], err, n) != 0)
            return -1;
    const char *file = getenv("SEQBENCH_PEER_ADAPTERS");
    return file && file[0] ? register_file(file, err, n) : 0;
}

int peer_flags_apply(const char *cmd, const struct peer_flags *pf)
{
    if (!(pf->timeout_s > 0)) {
        cli_error("%s: --peer-timeout %g: must be a positive number of seconds", cmd, pf->timeout_s);
        return EXIT_USAGE;
    }
    timeout_s = pf->timeout_s;
    for (int i = 0; i < pf->plugins.n; i++) {
        char err[400];
        if (plugin_load(pf->plugins.v[i], err, sizeof err) != 0) {
            cli_error("%s: --plugin %s: %s", cmd, pf->plugins.v[i], err);
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}
