/*
 * devlock.h — one bench timing on a device at a time.
 *
 * Two benches timing on one GPU (or one CPU) at once each measure the other:
 * both finish, both exit 0, and every median is 2–3× too slow. So `bench
 * run` and `bench suite` hold a lock per device for everything they time
 * (the roofs they measure included). It is an flock(2) on a file, so the
 * kernel releases it when its holder exits however it exits — kill -9
 * included — and no stale lock outlives a process.
 *
 * The file is $SEQBENCH_LOCK_DIR (else /tmp) /seqbench-<uid>-<key>.lock,
 * keyed by what the device is, not by how this process names it: a GPU by
 * its UUID (CUDA_VISIBLE_DEVICES renumbers GPUs, so cuda:0 of two
 * processes may be two GPUs, or cuda:0 and cuda:1 one), by its index when
 * the UUID is unknown; the CPU as "cpu" (one per host, as /tmp is).
 * The holder writes who it is into the file (pid, since, command line); a
 * second bench reads it to say who it waits for.
 */
#ifndef SEQBENCH_DEVLOCK_H
#define SEQBENCH_DEVLOCK_H

#include <stddef.h>

#define DEVLOCK_DIR_ENV "SEQBENCH_LOCK_DIR"

struct devlock {
    int fd;                     /* the locked file; -1 when not held */
    char path[512];
};

/* The lock file's key for a device: "cpu", "GPU-<uuid>", or "cuda<index>"
 * when the UUID is unknown (a GPU that could not be probed). */
void devlock_key(const char *device, const char *gpu_uuid, char *key, size_t n);

/* Takes the lock of `key` for device `device` (the name in messages),
 * waiting up to wait_s seconds (< 0: as long as it takes; 0: not at all).
 * While it waits it says on stderr, once and then every minute, who holds
 * it. Returns 0 (held: l->fd >= 0), or -1 with one line in err: the holder
 * and how long we waited, or why the file could not be opened. */
int devlock_acquire(struct devlock *l, const char *device, const char *key, double wait_s,
                    char *err, size_t n);
/* Lets go (closing the file releases the flock). Safe to repeat. */
void devlock_release(struct devlock *l);

#endif
