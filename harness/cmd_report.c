/*
 * cmd_report.c — `bench report`: results databases to a self-contained HTML
 * folder (index.html, PNG + SVG figures, their gnuplot scripts and data).
 *
 * Nothing half-written is ever presented as a report: everything goes into
 * a fresh DIR.tmp-XXXXXX beside DIR, which replaces DIR only once complete;
 * on failure or Ctrl-C it is removed (exit 130 for Ctrl-C). An existing
 * DIR is replaced only when it is a previous report (an index.html of ours
 * and plain files), so a mistyped --out never deletes someone's folder.
 * Databases are opened read-only.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "report.h"
#include "session.h"

#define REPORT_MAX_DBS 16

static volatile sig_atomic_t interrupted;

/* Ctrl-C while drawing: finish the figure in flight, then remove the tmp
 * folder instead of publishing it. */
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}
#define REPORT_MARK "<meta name=\"generator\" content=\"seqbench bench report\">"

/* Removes dir's plain files, then dir. Only ever called on a folder this
 * command made or checked to be a previous report. */
static int remove_report_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    return rmdir(dir);
}

/* 0 when out does not exist or is a previous report (plain files and our
 * index.html); else -1 with why. */
static int replaceable(const char *out, char *why, size_t n)
{
    struct stat st;
    if (stat(out, &st) != 0)
        return errno == ENOENT ? 0 : (snprintf(why, n, "%s: %s", out, strerror(errno)), -1);
    char path[4200], head[1024] = "";
    snprintf(path, sizeof path, "%s/index.html", out);
    FILE *f = S_ISDIR(st.st_mode) ? fopen(path, "r") : NULL;
    if (f) {
        size_t got = fread(head, 1, sizeof head - 1, f);
        head[got] = 0;
        fclose(f);
    }
    int ours = strstr(head, REPORT_MARK) != NULL;
    DIR *d = ours ? opendir(out) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", out, e->d_name);
            ours &= lstat(path, &st) == 0 && S_ISREG(st.st_mode);
        }
    if (d)
        closedir(d);
    if (!ours)
        snprintf(why, n, "%s exists and is not a previous report; choose another --out", out);
    return ours ? 0 : -1;
}

/* Moves the finished tmp folder to out, replacing a previous report. */
static int publish(const char *tmp, const char *out, char *err, size_t n)
{
    char old[4200];
    snprintf(old, sizeof old, "%s.old-XXXXXX", out);
    struct stat st;
    int had = stat(out, &st) == 0;
    if (had && (!mkdtemp(old) || rename(out, old) != 0)) {
        snprintf(err, n, "cannot move the previous %s aside: %s", out, strerror(errno));
        return -1;
    }
    if (rename(tmp, out) != 0) {
        snprintf(err, n, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
        if (had)
            rename(old, out);
        return -1;
    }
    if (had)
        remove_report_dir(old);
    return 0;
}

static int valid_run(const char *s)
{
    int64_t id;
    return strcmp(s, "latest") == 0 || strcmp(s, "all") == 0 ||
           (cli_parse_int(s, &id) == 0 && id > 0);
}

/* One line, the report freed, and the usage exit code: bad input. */
static int refuse(struct report *rp, const char *why)
{
    cli_error("report: %s", why);
    report_free(rp);
    return EXIT_USAGE;
}

/* Loads, draws and publishes; returns the exit code. Every check on the
 * input comes before the first file is written. */
static int make_report(const char *const *dbs, int n_dbs, const char *run,
                       int include_unfinished, const char *out)
{
    struct report rp;
    char err[10000], tmp[4200];
    if (report_load(&rp, dbs, n_dbs, run, include_unfinished, err, sizeof err) != 0)
        return refuse(&rp, err);
    if (!gnuplot_found())
        return refuse(&rp, "gnuplot not found; install it (Debian: apt-get install gnuplot-nox)");
    if (replaceable(out, err, sizeof err) != 0)
        return refuse(&rp, err);
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out);
    if (make_parents(out) != 0 || !mkdtemp(tmp)) {
        snprintf(err, sizeof err, "cannot create %s: %s", tmp, strerror(errno));
        return refuse(&rp, err);
    }
    interrupted = 0;
    signal(SIGINT, on_sigint);
    int rc = report_figures(&rp, tmp, err, sizeof err);
    if (rc == 0) {
        report_profile_items(&rp);
        rc = report_html(&rp, tmp, err, sizeof err);
    }
    if (rc == 0 && interrupted)
        rc = -1, snprintf(err, sizeof err, "interrupted; %s left as it was", out);
    if (rc == 0)
        rc = publish(tmp, out, err, sizeof err);
    signal(SIGINT, SIG_DFL);
    if (rc != 0) {
        cli_error("report: %s", err);
        remove_report_dir(tmp);
    } else {
        int figs = 0;
        for (int i = 0; i < rp.n_items; i++)
            figs += rp.items[i].stem != NULL;
        fprintf(stderr, "report: %s/index.html (%d runs, %d results, %d figures)\n", out,
                rp.n_runs, rp.n_res, figs);
    }
    report_free(&rp);
    return interrupted ? 130 : rc ? EXIT_FAIL : EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
    const char *db = DEFAULT_DB, *run = "latest", *out = "results/report";
    int include_unfinished = 0;
    struct opt opts[] = {
        OPT("db", OPT_STRING, &db, "FILE", "results database (default " DEFAULT_DB "); more "
            "databases follow as arguments"),
        OPT("run", OPT_STRING, &run, "ID|latest|all", "which runs of each database (default latest)"),
        OPT("out", OPT_STRING, &out, "DIR", "output folder, replaced when it holds a previous "
            "report (default results/report)"),
        OPT("include-unfinished", OPT_FLAG, &include_unfinished, NULL, "latest and all: also runs "
            "that did not finish (killed or interrupted; left out by default)"),
    };
    const struct command *cmd = NULL;
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == cmd_report)
            cmd = &commands[i];
    char *pos[REPORT_MAX_DBS];
    const char *dbs[REPORT_MAX_DBS + 1];
    int n_pos, rc = cli_parse(cmd, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos,
                              REPORT_MAX_DBS - 1, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
        return rc;
    if (!valid_run(run)) {
        cli_error("report: --run '%s': expected a run id, latest or all", run);
        return EXIT_USAGE;
    }
    int n_dbs = 0;
    if (opts[0].seen || n_pos == 0)
        dbs[n_dbs++] = db;
    for (int i = 0; i < n_pos; i++)
        dbs[n_dbs++] = pos[i];
    char dir[4096];             /* "out/" names the folder out: DIR.tmp-* must be its sibling */
    snprintf(dir, sizeof dir, "%s", out);
    for (size_t k = strlen(dir); k > 1 && dir[k - 1] == '/'; k--)
        dir[k - 1] = 0;
    return make_report(dbs, n_dbs, run, include_unfinished, dir);
}
