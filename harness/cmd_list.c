/*
 * cmd_list.c — `bench list [families|impls|suites]` and `bench env`.
 */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "peer.h"
#include "plugin.h"
#include "session.h"
#include "suite.h"

static const struct command *find_command(int (*fn)(int, char **))
{
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == fn)
            return &commands[i];
    return NULL;
}

static void list_families(void)
{
    printf("| family | implementations | what |\n|---|---|---|\n");
    for (int i = 0; i < n_families; i++) {
        const struct family *f = families[i];
        printf("| %s | ", f->name);
        for (int j = 0; j < family_n_impls(f); j++)
            printf("%s%s", j ? ", " : "", family_impl(f, j)->name);
        printf(" | %s |\n", f->summary);
    }
}

/* The "built" column: whether the implementation can run here. A peer is
 * installed or not (and how to install it); a plugin's row names it. */
static void built_text(const struct impl *im, char *buf, size_t n)
{
    const struct peer_adapter *a = peer_of(im);
    const char *plugin = plugin_of(im);
    char what[300];
    if (a && peer_installed(a, what, sizeof what))
        snprintf(buf, n, "installed: %s", what);
    else if (a)
        snprintf(buf, n, "no: %s", what);
    else if (plugin)
        snprintf(buf, n, "plugin %s", plugin);
    else
        snprintf(buf, n, "%s", im->run ? "yes" : "no (no nvcc)");
}

static void list_impls(void)
{
    printf("| family/impl | device | dtypes | built | status | what |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_families; i++)
        for (int j = 0; j < family_n_impls(families[i]); j++) {
            const struct impl *im = family_impl(families[i], j);
            char built[400];
            printf("| %s/%s | %s | ", families[i]->name, im->name,
                   im->device == DEV_CUDA ? "cuda" : "cpu");
            for (int t = 0, first = 1; t < DT_COUNT; t++)
                if (im->dtypes & DT_BIT(t)) {
                    printf("%s%s", first ? "" : " ", dtype_table[t].name);
                    first = 0;
                }
            built_text(im, built, sizeof built);
            printf(" | %s | %s | %s |\n", built, im->status ? im->status : "",
                   im->summary ? im->summary : "");
        }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Suites in ./suites, else next to the binary. */
static int list_suites(void)
{
    char dir[1024] = "suites";
    DIR *d = opendir(dir);
    if (!d && sb_exe_dir) {
        snprintf(dir, sizeof dir, "%s/../suites", sb_exe_dir);
        d = opendir(dir);
    }
    if (!d) {
        cli_error("list: no suites directory (looked in ./suites and next to bench)");
        return EXIT_FAIL;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    printf("| suite | description |\n|---|---|\n");
    for (int i = 0; i < n; i++) {
        char path[1400], err[600];
        struct suite s;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (suite_load(path, NULL, &s, err, sizeof err) == 0) {
            printf("| %s | %s |\n", names[i], s.description);
            suite_free(&s);
        } else {
            printf("| %s | (does not parse: %s) |\n", names[i], err);
        }
        free(names[i]);
    }
    return EXIT_OK;
}

int cmd_list(int argc, char **argv)
{
    struct peer_flags pf = PEER_FLAGS_INIT;
    struct opt opts[] = { PEER_PLUGIN_OPT(pf) };
    char *pos[1];
    int n_pos, rc = cli_parse(find_command(cmd_list), argc, argv, opts, 1, pos, 1, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc || (rc = peer_flags_apply("list", &pf)) != 0)
        return rc;
    const char *what = n_pos ? pos[0] : "families";
    if (strcmp(what, "families") == 0)
        list_families();
    else if (strcmp(what, "impls") == 0)
        list_impls();
    else if (strcmp(what, "suites") == 0)
        return list_suites();
    else {
        cli_error("list: unknown list '%s' (families, impls or suites)", what);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cmd_env(int argc, char **argv)
{
    const char *device = NULL;
    int calibrate = 0;
    struct opt opts[] = {
        OPT("device", OPT_STRING, &device, "DEV", "cpu or cuda:N (default cuda:0 if present, else cpu)"),
        OPT("calibrate", OPT_FLAG, &calibrate, NULL,
            "measure the ceilings afresh and cache them: on a GPU cuBLASLt GEMMs (bf16, fp16, tf32, "
            "fp8, int8), FMA and exp2 rates, copy bandwidth; the CPU's FMA loop and STREAM triad"),
    };
    char *pos[1];
    int n_pos, rc = cli_parse(find_command(cmd_env), argc, argv, opts, 2, pos, 0, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
        return rc;
    struct session s;
    if ((rc = session_device(&s, device)) != EXIT_OK)
        return rc;
    s.popts.calibrate = calibrate ? 2 : 0;
    if ((rc = session_start(&s, NULL, NULL)) != EXIT_OK)
        return rc;
    if (calibrate) {
        /* The CPU's roofs every time (bench may run CPU implementations on
         * any host); the GPU's when there is one (session_start measured them). */
        ceilings_load(&s.cpu, omp_get_max_threads());
        ceilings_remeasure(&s.cpu);
        env_print_ceilings(&s);
    } else {
        env_print(&s);
    }
    session_close(&s);
    return EXIT_OK;
}
