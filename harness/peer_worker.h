/*
 * peer_worker.h — one worker process of a peer (harness/peer.h): started,
 * spoken to one line at a time, given a time limit for every request, and
 * killed when it overruns it, dies or talks nonsense.
 *
 * The worker is started with posix_spawn, which glibc implements as
 * clone(CLONE_VM | CLONE_VFORK) followed by exec: nothing runs in the child
 * with a copy of the parent's address space, so it is safe after CUDA is
 * initialised in bench (a fork() would copy the parent's CUDA state into
 * a child that must never use it). The child gets its own process group
 * (killed as a whole: a worker may start compilers), one end of a
 * socketpair as stdin and stdout, and a log file as stderr.
 *
 * The protocol is text, one line per message, words separated by spaces:
 * a verb, then key=value pairs whose values are percent-encoded (%20 for a
 * space, %25 for %, and so on for every byte outside '!'..'~'), so a value
 * can hold anything and a line never breaks. A reply's verb is "ok",
 * "skip" (the case is outside what the peer handles: the result is
 * "skipped: msg"), "oom" or "error" (with msg=...). ops/peers/worker.py
 * is the other side; docs/peers.md describes every request.
 */
#ifndef SEQBENCH_PEER_WORKER_H
#define SEQBENCH_PEER_WORKER_H

#include <stddef.h>
#include <sys/types.h>

#define REPLY_MAX_PAIRS 16

/* A parsed reply: verb, then key/value pairs pointing into text. */
struct reply {
    char *text;                     /* malloc'd, owned */
    const char *verb;
    const char *key[REPLY_MAX_PAIRS], *val[REPLY_MAX_PAIRS];
    int n;
};
/* The value of key, or NULL. */
const char *reply_get(const struct reply *r, const char *key);
void reply_free(struct reply *r);
/* Splits a line (modified in place, owned by r) into verb and decoded pairs;
 * -1 when a word has no '=' or a %-escape is malformed. */
int reply_parse(char *line, struct reply *r);

/* Appends " key=value" to buf (of size n, NUL-terminated), value
 * percent-encoded; -1 when it does not fit. */
int proto_append(char *buf, size_t n, const char *key, const char *value);

struct worker {
    pid_t pid;                      /* 0: not running */
    int fd;                         /* our end of the socketpair */
    char dir[256];                  /* its scratch folder: inputs, outputs, worker.log */
    char *in;                       /* bytes read past the last reply */
    size_t in_len, in_cap;
};

/* Starts argv[0] (an interpreter; argv NULL-terminated) with a fresh
 * scratch folder (in /dev/shm when it is writable, else $TMPDIR or /tmp),
 * passing its path as the environment's SEQBENCH_PEER_DIR, and waits up to
 * limit_s for its "hello" line. 0, or -1 with err (the worker is gone). */
int worker_start(struct worker *w, char *const argv[], double limit_s, char *err, size_t n);

/* Sends line (no newline), waits up to limit_s for the reply and parses
 * it. Returns 0 with *r filled (whatever its verb), or -1 with err set when
 * the worker died, overran the limit or sent what is not a reply: the
 * worker is then killed and w->pid is 0. what names the request in err. */
int worker_request(struct worker *w, const char *line, double limit_s, const char *what,
                   struct reply *r, char *err, size_t n);

/* Asks it to quit, waits a moment, then kills it; removes its folder. */
void worker_stop(struct worker *w);

#endif
