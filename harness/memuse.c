/*
 * memuse.c — see memuse.h.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "memuse.h"

int64_t proc_status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    const size_t len = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && sscanf(line + len, "%lld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb >= 0 ? (int64_t)kb * 1024 : -1;
}

static int64_t maxrss_bytes(void)
{
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? (int64_t)u.ru_maxrss * 1024 : -1;     /* kB on Linux */
}

void host_peak_begin(struct host_peak *h)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok = f && fputs("5", f) >= 0;
    if (f)
        ok &= fclose(f) == 0;
    h->reset = ok;
    h->start = ok ? proc_status_bytes("VmRSS:") : maxrss_bytes();
    if (h->start < 0)
        h->reset = 0, h->start = maxrss_bytes();
}

int64_t host_peak_end(const struct host_peak *h)
{
    const int64_t end = h->reset ? proc_status_bytes("VmHWM:") : maxrss_bytes();
    if (end < 0 || h->start < 0)
        return -1;
    return end > h->start ? end - h->start : 0;
}
