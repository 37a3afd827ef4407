/*
 * libload.c — see libload.h.
 */
#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libload.h"

/* Python installs whose site-packages may hold an NVIDIA wheel, as an
 * environment variable naming a prefix (with a suffix: HOME + /.local), or a
 * fixed prefix. */
static const struct lib_dir py_prefixes[] = {
    { "VIRTUAL_ENV", "" }, { "CONDA_PREFIX", "" }, { "HOME", "/.local" },
    { NULL, "/usr/local" }, { NULL, "/usr" },
};
#define SITE_PACKAGES "lib/python3*/*-packages"

/* Appends directory a + b + "/" + soname to paths when there is room and a
 * is not empty. */
static void add(char paths[][LIB_PATH_MAX], int *np, const char *a, const char *b, const char *soname)
{
    if (*np < LIB_SEARCH_MAX && a && *a)
        snprintf(paths[(*np)++], LIB_PATH_MAX, "%s%s/%s", a, b, soname);
}

/* The root a lib_dir names: getenv(env) or "" (path alone); NULL when its
 * variable is unset or empty. */
static const char *dir_root(const struct lib_dir *d)
{
    if (!d->env)
        return "";
    const char *v = getenv(d->env);
    return v && *v ? v : NULL;
}

int lib_candidates(const struct lib_search *s, char paths[][LIB_PATH_MAX])
{
    int np = 0;
    for (int i = 0; i < s->n_dirs; i++) {
        const char *root = dir_root(&s->dirs[i]);
        if (root)       /* a fixed path has root "": add() then takes path as the directory */
            add(paths, &np, *root ? root : s->dirs[i].path, *root ? s->dirs[i].path : "", s->soname);
    }
    for (size_t p = 0; p < sizeof py_prefixes / sizeof py_prefixes[0]; p++) {
        const char *root = dir_root(&py_prefixes[p]);
        if (!root)
            continue;
        for (int w = 0; w < s->n_wheels; w++) {
            char pattern[LIB_PATH_MAX];
            glob_t g;
            snprintf(pattern, sizeof pattern, "%s%s/" SITE_PACKAGES "/%s", root, py_prefixes[p].path,
                     s->wheels[w]);
            if (glob(pattern, GLOB_ONLYDIR, NULL, &g) == 0)
                for (size_t i = 0; i < g.gl_pathc; i++)
                    add(paths, &np, g.gl_pathv[i], "", s->soname);
            globfree(&g);
        }
    }
    return np;
}

const char *lib_find(const struct lib_search *s, char *buf, size_t n)
{
    static char paths[LIB_SEARCH_MAX][LIB_PATH_MAX];
    const int np = lib_candidates(s, paths);
    for (int i = 0; i < np; i++)
        if (access(paths[i], F_OK) == 0) {
            snprintf(buf, n, "%s", paths[i]);
            return buf;
        }
    snprintf(buf, n, "%s", s->soname);
    return buf;
}

const char *lib_env_only(const struct lib_search *s)
{
    const char *v = s->env_only ? getenv(s->env_only) : NULL;
    return v && *v ? v : NULL;
}

void *lib_dlopen(const char *what, const char *path, char *real, size_t rn, char *why, size_t n)
{
    if (strchr(path, '/') && access(path, F_OK) != 0) {
        snprintf(why, n, "%s not found (%s: %s)", what, path, strerror(errno));
        return NULL;
    }
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        /* A bare name dlopen cannot find is "not found"; a file that exists
         * but fails to load (a missing dependency, a wrong ELF class) is not. */
        int absent = !strchr(path, '/') && e && strncmp(e, path, strlen(path)) == 0;
        snprintf(why, n, "%s %s (%s)", what, absent ? "not found" : "unusable", e ? e : path);
        return NULL;
    }
    struct link_map *lm = NULL;
    snprintf(real, rn, "%s", dlinfo(dl, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name[0] ? lm->l_name : path);
    return dl;
}

void lib_env_why(const char *var, const char *inner, char *why, size_t n)
{
    const size_t k = strcspn(inner, "(");
    snprintf(why, n, "%.*s(%s=%s", (int)k, inner, var, inner[k] ? inner + k + 1 : "");
}
