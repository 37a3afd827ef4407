/*
 * cmd_list.c — `bench list [families|impls|suites]` and `bench env`.
 */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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
        for (int j = 0; j < f->n_impls; j++)
            printf("%s%s", j ? ", " : "", f->impls[j].name);
        printf(" | %s |\n", f->summary);
    }
}

static void list_impls(void)
{
    printf("| family/impl | device | dtypes | built | status | what |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_families; i++)
        for (int j = 0; j < families[i]->n_impls; j++) {
            const struct impl *im = &families[i]->impls[j];
            printf("| %s/%s | %s | ", families[i]->name, im->name,
                   im->device == DEV_CUDA ? "cuda" : "cpu");
            for (int t = 0, first = 1; t < DT_COUNT; t++)
                if (im->dtypes & DT_BIT(t)) {
                    printf("%s%s", first ? "" : " ", dtype_table[t].name);
                    first = 0;
                }
            printf(" | %s | %s | %s |\n", im->run ? "yes" : "no (no nvcc)", im->status, im->summary);
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
    char *pos[1];
    int n_pos, rc = cli_parse(find_command(cmd_list), argc, argv, NULL, 0, pos, 1, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
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
