/*
 * shard.c — see shard.h.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "shard.h"

uint64_t fnv1a64(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int shard_of(const char *case_str, int n)
{
    return (int)(fnv1a64(case_str) % (uint64_t)n) + 1;
}

int shard_parse(const char *s, int *i, int *n, char *err, size_t len)
{
    char a[32], b[32];
    const char *slash = strchr(s, '/');
    int64_t vi, vn;
    if (slash && (size_t)(slash - s) < sizeof a && strlen(slash + 1) < sizeof b) {
        snprintf(a, sizeof a, "%.*s", (int)(slash - s), s);
        snprintf(b, sizeof b, "%s", slash + 1);
        if (cli_parse_int(a, &vi) == 0 && cli_parse_int(b, &vn) == 0 && vn >= 1 &&
            vn <= SHARD_MAX && vi >= 1 && vi <= vn) {
            *i = (int)vi, *n = (int)vn;
            return 0;
        }
    }
    snprintf(err, len, "--shard '%s': expected I/N with 1 <= I <= N <= %d, e.g. 2/4", s, SHARD_MAX);
    return -1;
}
