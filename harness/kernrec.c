/*
 * kernrec.c — see kernrec.h.
 */
#include <stdlib.h>
#include <string.h>

#include "kernrec.h"

/* The interned copy of name: one allocation per distinct kernel name, so a
 * long pass of a few kernels stores each name once. */
static const char *intern(struct kernel_log *l, const char *name)
{
    for (int i = l->n_names - 1; i >= 0; i--)   /* the newest first: launches repeat */
        if (strcmp(l->names[i], name) == 0)
            return l->names[i];
    if (l->n_names == l->cap_names) {
        int cap = l->cap_names ? 2 * l->cap_names : 16;
        char **p = realloc(l->names, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        l->names = p, l->cap_names = cap;
    }
    char *copy = strdup(name);
    if (copy)
        l->names[l->n_names++] = copy;
    return copy;
}

int kernel_log_add(struct kernel_log *l, const struct kernel_rec *rec)
{
    const char *name = rec->name ? rec->name : "?";
    if (strstr(name, KERNREC_HARNESS_KERNEL))
        return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        struct kernel_rec *p = realloc(l->r, (size_t)cap * sizeof *p);
        if (!p) {
            l->dropped++;
            return -1;
        }
        l->r = p, l->cap = cap;
    }
    const char *interned = intern(l, name);
    if (!interned) {
        l->dropped++;
        return -1;
    }
    l->r[l->n] = *rec;
    l->r[l->n++].name = interned;
    return 0;
}

void kernel_log_clear(struct kernel_log *l)
{
    l->n = 0;
    l->dropped = 0;
}

void kernel_log_free(struct kernel_log *l)
{
    for (int i = 0; i < l->n_names; i++)
        free(l->names[i]);
    free(l->names);
    free(l->r);
    memset(l, 0, sizeof *l);
}

static int in_range(const struct kernel_rec *r, uint64_t t0, uint64_t t1)
{
    return r->start >= t0 && r->start <= t1;
}

double kernel_log_sum_ms(const struct kernel_log *l, uint64_t t0, uint64_t t1, int *count)
{
    double ns = 0;
    int k = 0;
    for (int i = 0; i < l->n; i++)
        if (in_range(&l->r[i], t0, t1)) {
            ns += (double)(l->r[i].end - l->r[i].start);
            k++;
        }
    if (count)
        *count = k;
    return ns * 1e-6;
}

/* Same group: the same name (interned, so the same pointer) and launch. */
static int same_launch(const struct kernel_row *g, const struct kernel_rec *r)
{
    return g->name == r->name && memcmp(g->grid, r->grid, sizeof g->grid) == 0 &&
           memcmp(g->block, r->block, sizeof g->block) == 0 && g->registers == r->registers &&
           g->shared_bytes == r->shared_bytes;
}

/* Most time per run first; ties by name, then launch, so the order is stable. */
static int by_time(const void *a, const void *b)
{
    const struct kernel_row *x = a, *y = b;
    double tx = x->duration_ns * x->count, ty = y->duration_ns * y->count;
    if (tx != ty)
        return tx > ty ? -1 : 1;
    int c = strcmp(x->name, y->name);
    return c ? c : memcmp(x->grid, y->grid, sizeof x->grid);
}

int kernel_log_group(const struct kernel_log *l, uint64_t t0, uint64_t t1, int runs,
                     struct kernel_row **rows)
{
    struct kernel_row *g = NULL;
    int n = 0, cap = 0;
    *rows = NULL;
    for (int i = 0; i < l->n; i++) {
        const struct kernel_rec *r = &l->r[i];
        if (!in_range(r, t0, t1))
            continue;
        int k = 0;
        while (k < n && !same_launch(&g[k], r))
            k++;
        if (k == n) {
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                struct kernel_row *p = realloc(g, (size_t)cap * sizeof *p);
                if (!p) {
                    free(g);
                    return -1;
                }
                g = p;
            }
            g[n++] = (struct kernel_row){ .name = r->name, .registers = r->registers,
                                          .shared_bytes = r->shared_bytes };
            memcpy(g[k].grid, r->grid, sizeof r->grid);
            memcpy(g[k].block, r->block, sizeof r->block);
        }
        g[k].duration_ns += (double)(r->end - r->start);   /* the total, for now */
        g[k].count += 1;
    }
    for (int k = 0; k < n; k++) {
        g[k].duration_ns /= g[k].count;
        g[k].count /= runs > 0 ? runs : 1;
    }
    if (n > 1)
        qsort(g, (size_t)n, sizeof *g, by_time);
    *rows = g;
    return n;
}
