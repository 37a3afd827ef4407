/*
 * plugin.c — see plugin.h.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "plugin.h"
#include "seqbench_plugin.h"

/* Most implementations one plugin may add (each becomes a registry row). */
#define PLUGIN_MAX_IMPLS 32

/* The plugins' implementations, for bench list: which came from where. */
static struct {
    const struct impl *impl;
    const char *path;
} loaded[REGISTRY_MAX_EXTRA];
static int n_loaded;

/* 1 when an implementation before i in p has i's family and name. */
static int named_before(const struct sb_plugin *p, int i)
{
    for (int j = 0; j < i; j++)
        if (strcmp(p->impls[j].family, p->impls[i].family) == 0 &&
            strcmp(p->impls[j].impl.name, p->impls[i].impl.name) == 0)
            return 1;
    return 0;
}

const char *plugin_of(const struct impl *im)
{
    for (int i = 0; i < n_loaded; i++)
        if (loaded[i].impl == im)
            return loaded[i].path;
    return NULL;
}

/* The first problem with plugin p's table, or NULL. */
static const char *check_table(const struct sb_plugin *p, char *why, size_t n)
{
    if (p->abi != SB_PLUGIN_ABI) {
        snprintf(why, n, "built for plugin ABI %u, this bench has ABI %d (rebuild it against this "
                 "seqbench's harness/seqbench_plugin.h)", p->abi, SB_PLUGIN_ABI);
        return why;
    }
    if (p->impl_size != sizeof(struct impl) || p->ctx_size != sizeof(struct op_ctx) ||
        p->shape_size != sizeof(struct shape)) {
        snprintf(why, n, "built against another seqbench.h (struct sizes impl %u, op_ctx %u, shape "
                 "%u; this bench %zu, %zu, %zu)", p->impl_size, p->ctx_size, p->shape_size,
                 sizeof(struct impl), sizeof(struct op_ctx), sizeof(struct shape));
        return why;
    }
    if (p->n_impls < 1 || p->n_impls > PLUGIN_MAX_IMPLS || !p->impls) {
        snprintf(why, n, "n_impls %d: between 1 and %d implementations", p->n_impls,
                 PLUGIN_MAX_IMPLS);
        return why;
    }
    for (int i = 0; i < p->n_impls; i++) {
        const struct sb_plugin_impl *pi = &p->impls[i];
        const struct impl *im = &pi->impl;
        const struct family *f = pi->family ? family_find(pi->family) : NULL;
        const char *name = im->name ? im->name : "(no name)";
        if (!f)
            snprintf(why, n, "implementation %d (%s): unknown family '%s'", i, name,
                     pi->family ? pi->family : "(none)");
        else if (!im->name || !im->name[0] || strpbrk(im->name, " ,/\t"))
            snprintf(why, n, "implementation %d of %s: a name without spaces, commas or '/'", i,
                     f->name);
        else if (impl_find(f, im->name))
            snprintf(why, n, "%s/%s already exists", f->name, im->name);
        else if (i > 0 && named_before(p, i))
            snprintf(why, n, "%s/%s is named twice", f->name, im->name);
        else if (im->device != DEV_CPU && im->device != DEV_CUDA)
            snprintf(why, n, "%s/%s: device %d is neither DEV_CPU nor DEV_CUDA", f->name, name,
                     (int)im->device);
        else if (!im->dtypes || (im->dtypes & ~((1u << DT_COUNT) - 1)))
            snprintf(why, n, "%s/%s: dtypes 0x%x: a DT_BIT() mask of known dtypes", f->name, name,
                     im->dtypes);
        else if (!im->run)
            snprintf(why, n, "%s/%s: no run function", f->name, name);
        else if (im->device == DEV_CUDA && !im->fetch)
            snprintf(why, n, "%s/%s: a GPU implementation needs a fetch function", f->name, name);
        else if (im->sample || im->available)
            snprintf(why, n, "%s/%s: sample and available are bench's own (leave them NULL)",
                     f->name, name);
        else
            continue;
        return why;
    }
    return NULL;
}

int plugin_load(const char *path, char *err, size_t n)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, n, "cannot load it: %s", dlerror());
        return -1;
    }
    dlerror();
    const struct sb_plugin *p = dlsym(h, SB_PLUGIN_SYMBOL);
    const char *dl = dlerror();
    char why[300];
    if (dl || !p) {
        snprintf(err, n, "no symbol '%s' (not a seqbench plugin: harness/seqbench_plugin.h)",
                 SB_PLUGIN_SYMBOL);
        dlclose(h);
        return -1;
    }
    if (check_table(p, why, sizeof why)) {
        snprintf(err, n, "%s", why);
        dlclose(h);
        return -1;
    }
    for (int i = 0; i < p->n_impls; i++) {  /* checked above: every add succeeds */
        if (registry_add_impl(family_find(p->impls[i].family), &p->impls[i].impl, err, n) != 0)
            return -1;
        if (n_loaded < REGISTRY_MAX_EXTRA) {
            loaded[n_loaded].impl = &p->impls[i].impl;
            loaded[n_loaded++].path = path;
        }
    }
    return 0;                               /* the library stays loaded: its code is in the registry */
}
