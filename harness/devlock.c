/*
 * devlock.c — see devlock.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "devlock.h"

#define DEVLOCK_POLL_S 0.1          /* how often a waiting bench tries again */
#define DEVLOCK_REMIND_S 60.0       /* how often it says again that it waits */

void devlock_key(const char *device, const char *gpu_uuid, char *key, size_t n)
{
    if (strcmp(device, "cpu") == 0)
        snprintf(key, n, "cpu");
    else if (gpu_uuid && gpu_uuid[0])
        snprintf(key, n, "%s", gpu_uuid);
    else    /* "cuda:3" -> "cuda3": a file name without ':' */
        snprintf(key, n, "cuda%s", strchr(device, ':') ? strchr(device, ':') + 1 : "0");
}

/* The holder's line from the lock file ("pid 123 since ... : bench suite
 * ..."), or "an unknown process" when it has written none yet. */
static void holder_of(int fd, char *buf, size_t n)
{
    ssize_t got = pread(fd, buf, n - 1, 0);
    buf[got > 0 ? got : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    if (!buf[0])
        snprintf(buf, n, "an unknown process");
}

/* Writes this process into the held lock file. A failure only loses the
 * message a waiting bench prints, so it is not an error. */
static void write_holder(int fd)
{
    char line[1400], since[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int len = snprintf(line, sizeof line, "pid %d since %s: %s\n", (int)getpid(), since,
                       sb_command_line);
    if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)len, 0) < 0)
        return;
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int devlock_acquire(struct devlock *l, const char *device, const char *key, double wait_s,
                    char *err, size_t n)
{
    const char *dir = getenv(DEVLOCK_DIR_ENV);
    snprintf(l->path, sizeof l->path, "%s/seqbench-%u-%s.lock", dir && dir[0] ? dir : "/tmp",
             (unsigned)getuid(), key);
    /* O_CLOEXEC: a case child of an isolated suite never holds its parent's
     * lock (it dies with its parent: isolate.c). */
    l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->fd < 0) {
        snprintf(err, n, "%s: cannot open the device lock %s: %s", device, l->path, strerror(errno));
        return -1;
    }
    double t0 = monotonic_s(), said = -1;
    char holder[1200];
    for (;;) {
        if (flock(l->fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, n, "%s: cannot lock %s: %s", device, l->path, strerror(errno));
            devlock_release(l);
            return -1;
        }
        double waited = monotonic_s() - t0;
        holder_of(l->fd, holder, sizeof holder);
        if (wait_s >= 0 && waited >= wait_s) {
            snprintf(err, n, "%s is in use by %s (lock %s); gave up after %.0f s (--lock-wait %g)",
                     device, holder, l->path, waited, wait_s);
            devlock_release(l);
            return -1;
        }
        if (said < 0 || waited - said >= DEVLOCK_REMIND_S) {
            fprintf(stderr, "bench: %s is in use by %s; waiting %s\n", device, holder,
                    wait_s < 0 ? "until it is free (--lock-wait S to give up)" : "(--lock-wait)");
            said = waited;
        }
        usleep((useconds_t)(DEVLOCK_POLL_S * 1e6));
    }
    if (said >= 0)
        fprintf(stderr, "bench: %s is free after %.0f s; going on\n", device, monotonic_s() - t0);
    write_holder(l->fd);
    return 0;
}

void devlock_release(struct devlock *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
