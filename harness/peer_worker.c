/*
 * peer_worker.c — see peer_worker.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "measure.h"
#include "peer_worker.h"

extern char **environ;

/* A reply longer than this is not one (1000 sample times take ~25 KB). */
#define REPLY_MAX_BYTES (1 << 20)
/* How long a worker asked to quit gets before it is killed. */
#define QUIT_GRACE_S 2.0

/* ---- the line format ---------------------------------------------------- */

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes %XX in place; -1 on a malformed escape. */
static int pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s != '%') {
            *o++ = *s;
            continue;
        }
        int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
        if (lo < 0)
            return -1;
        *o++ = (char)(hi * 16 + lo);
        s += 2;
    }
    *o = 0;
    return 0;
}

int proto_append(char *buf, size_t n, const char *key, const char *value)
{
    size_t len = strlen(buf);
    int k = snprintf(buf + len, n - len, " %s=", key);
    if (k < 0 || (size_t)k >= n - len)
        return -1;
    len += (size_t)k;
    for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
        if (len + 4 > n)
            return -1;
        if (*v > ' ' && *v <= '~' && *v != '%')
            buf[len++] = (char)*v;
        else
            len += (size_t)snprintf(buf + len, n - len, "%%%02X", *v);
    }
    buf[len] = 0;
    return 0;
}

int reply_parse(char *line, struct reply *r)
{
    memset(r, 0, sizeof *r);
    r->text = line;
    char *save, *w = strtok_r(line, " ", &save);
    r->verb = w ? w : "";
    while ((w = strtok_r(NULL, " ", &save)) && r->n < REPLY_MAX_PAIRS) {
        char *eq = strchr(w, '=');
        if (!eq)
            return -1;
        *eq = 0;
        if (pct_decode(eq + 1) != 0)
            return -1;
        r->key[r->n] = w;
        r->val[r->n++] = eq + 1;
    }
    return 0;
}

const char *reply_get(const struct reply *r, const char *key)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->key[i], key) == 0)
            return r->val[i];
    return NULL;
}

void reply_free(struct reply *r)
{
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* ---- the process ------------------------------------------------------- */

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* The last non-empty line the worker wrote to its log (a Python traceback
 * ends with the exception), cut to fit; "" when none. */
static void log_tail(const struct worker *w, char *buf, size_t n)
{
    char path[300], chunk[2048];
    buf[0] = 0;
    snprintf(path, sizeof path, "%s/worker.log", w->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof chunk - 1 ? size - (long)sizeof chunk + 1 : 0, SEEK_SET);
    size_t got = fread(chunk, 1, sizeof chunk - 1, f);
    fclose(f);
    chunk[got] = 0;
    while (got && (chunk[got - 1] == '\n' || chunk[got - 1] == ' '))
        chunk[--got] = 0;
    const char *last = strrchr(chunk, '\n');
    last = last ? last + 1 : chunk;
    size_t len = strlen(last) < n ? strlen(last) : n - 1;
    memcpy(buf, last, len);
    buf[len] = 0;
}

/* Kills the worker's process group, after waiting up to grace_s for it to
 * end by itself, and reaps it; describes how it ended into how (when not
 * NULL). */
static void worker_kill(struct worker *w, double grace_s, char *how, size_t n)
{
    if (w->pid <= 0)
        return;
    int status = 0;
    const double deadline = now_seconds() + grace_s;
    pid_t got;
    while ((got = waitpid(w->pid, &status, WNOHANG)) == 0 && now_seconds() < deadline)
        usleep(10000);
    if (got == 0) {                     /* still running: end it and its children */
        kill(-w->pid, SIGKILL);
        kill(w->pid, SIGKILL);
        got = waitpid(w->pid, &status, 0);
        if (how)
            snprintf(how, n, "killed");
    } else if (how && got == w->pid && WIFSIGNALED(status)) {
        snprintf(how, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (how && got == w->pid && WIFEXITED(status)) {
        snprintf(how, n, "exited with status %d", WEXITSTATUS(status));
    } else if (how) {
        snprintf(how, n, "gone");
    }
    kill(-w->pid, SIGKILL);             /* whatever it left in its group */
    close(w->fd);
    w->fd = -1;
    w->pid = 0;
    w->in_len = 0;
}

/* A fresh scratch folder for a worker: tmpfs when there is one, since the
 * inputs of a long case are hundreds of MB. */
static int make_dir(char *dir, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    const char *bases[] = { "/dev/shm", tmp && tmp[0] ? tmp : "/tmp", "/tmp" };
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        snprintf(dir, n, "%s/seqbench-peer-XXXXXX", bases[i]);
        if (access(bases[i], W_OK) == 0 && mkdtemp(dir))
            return 0;
    }
    return -1;
}

/* Reads until a whole line is buffered or the deadline passes. Returns the
 * line (malloc'd, without the newline) or NULL with *why: "timeout", "eof",
 * "too long". */
static char *read_line(struct worker *w, double deadline, const char **why)
{
    for (;;) {
        char *nl = w->in_len ? memchr(w->in, '\n', w->in_len) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - w->in);
            char *line = malloc(len + 1);
            if (!line) {
                *why = "out of host memory";
                return NULL;
            }
            memcpy(line, w->in, len);
            line[len] = 0;
            memmove(w->in, nl + 1, w->in_len - len - 1);
            w->in_len -= len + 1;
            return line;
        }
        if (w->in_len >= REPLY_MAX_BYTES) {
            *why = "a reply over 1 MiB";
            return NULL;
        }
        double left = deadline - now_seconds();
        if (left <= 0) {
            *why = "timeout";
            return NULL;
        }
        struct pollfd p = { .fd = w->fd, .events = POLLIN };
        int ready = poll(&p, 1, left > 1e6 ? 1000000000 : (int)(left * 1e3) + 1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue;                   /* the deadline check above decides */
        if (w->in_cap - w->in_len < 65536) {
            size_t cap = w->in_cap ? 2 * w->in_cap : 65536;
            char *b = realloc(w->in, cap);
            if (!b) {
                *why = "out of host memory";
                return NULL;
            }
            w->in = b, w->in_cap = cap;
        }
        ssize_t got = read(w->fd, w->in + w->in_len, w->in_cap - w->in_len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            *why = "eof";
            return NULL;
        }
        w->in_len += (size_t)got;
    }
}

/* The worker failed a request: kill it and say how, with its last words. */
static void failed(struct worker *w, const char *what, const char *why, double limit_s, char *err,
                   size_t n)
{
    char how[96], last[160];
    worker_kill(w, strcmp(why, "eof") == 0 ? QUIT_GRACE_S : 0, how, sizeof how);
    log_tail(w, last, sizeof last);
    if (strcmp(why, "timeout") == 0)
        snprintf(err, n, "worker timed out after %.3g s in %s (killed)%s%.120s", limit_s, what,
                 last[0] ? "; its log: " : "", last);
    else if (strcmp(why, "eof") == 0)
        snprintf(err, n, "worker died in %s (%s)%s%.120s", what, how, last[0] ? ": " : "", last);
    else
        snprintf(err, n, "worker broke the protocol in %s (%s; killed)", what, why);
}

static int send_line(struct worker *w, const char *line)
{
    size_t len = strlen(line), off = 0;
    while (off <= len) {                /* the newline is sent as the last byte */
        const char *p = off < len ? line + off : "\n";
        size_t k = off < len ? len - off : 1;
        ssize_t put = send(w->fd, p, k, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        off += (size_t)put;
    }
    return 0;
}

int worker_request(struct worker *w, const char *line, double limit_s, const char *what,
                   struct reply *r, char *err, size_t n)
{
    memset(r, 0, sizeof *r);
    if (w->pid <= 0) {
        snprintf(err, n, "worker not running");
        return -1;
    }
    const char *why = "eof";
    char *got = send_line(w, line) == 0 ? read_line(w, now_seconds() + limit_s, &why) : NULL;
    if (!got) {
        failed(w, what, why, limit_s, err, n);
        return -1;
    }
    if (reply_parse(got, r) != 0 || !r->verb[0]) {
        reply_free(r);
        failed(w, what, "a malformed reply", limit_s, err, n);
        return -1;
    }
    return 0;
}

int worker_start(struct worker *w, char *const argv[], double limit_s, char *err, size_t n)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    if (make_dir(w->dir, sizeof w->dir) != 0) {
        snprintf(err, n, "no scratch folder for the worker (/dev/shm, $TMPDIR, /tmp): %s",
                 strerror(errno));
        return -1;
    }
    char log[300], env_dir[300];
    snprintf(log, sizeof log, "%s/worker.log", w->dir);
    snprintf(env_dir, sizeof env_dir, "SEQBENCH_PEER_DIR=%s", w->dir);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(err, n, "socketpair: %s", strerror(errno));
        remove_dir(w->dir);
        return -1;
    }
    /* The environment as it is, plus where the scratch folder is. */
    int n_env = 0;
    while (environ[n_env])
        n_env++;
    char **env = calloc((size_t)n_env + 2, sizeof *env);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT), sigaddset(&dfl, SIGPIPE), sigaddset(&dfl, SIGTERM);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    int rc = env ? 0 : ENOMEM;
    if (env) {
        memcpy(env, environ, (size_t)n_env * sizeof *env);
        env[n_env] = env_dir;
        rc = posix_spawn(&w->pid, argv[0], &fa, &at, argv, env);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(env);
    close(sv[1]);
    w->fd = sv[0];
    if (rc != 0) {
        snprintf(err, n, "cannot start %s: %s", argv[0], strerror(rc));
        close(w->fd);
        w->pid = 0;
        remove_dir(w->dir);
        return -1;
    }
    const char *why = "eof";
    char *line = read_line(w, now_seconds() + limit_s, &why);
    struct reply r;
    if (!line || reply_parse(line, &r) != 0 || strcmp(r.verb, "hello") != 0) {
        if (line)
            reply_free(&r);
        failed(w, "start-up", line ? "no hello" : why, limit_s, err, n);
        remove_dir(w->dir);
        return -1;
    }
    reply_free(&r);
    return 0;
}

void worker_stop(struct worker *w)
{
    if (w->pid > 0) {
        send_line(w, "quit");
        worker_kill(w, QUIT_GRACE_S, NULL, 0);
    }
    if (w->dir[0])
        remove_dir(w->dir);
    w->dir[0] = 0;
    free(w->in);
    w->in = NULL;
    w->in_len = w->in_cap = 0;
}
