/*
 * cmd_run.c — `bench run FAMILY`: one shape, every chosen implementation,
 * a markdown table, every result stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "dump.h"
#include "measure_flags.h"
#include "profile_cmd.h"
#include "peer.h"
#include "table.h"

/* Splits a comma list of implementation names into impls[]; -1 on an unknown one. */
static int parse_impls(const struct family *f, const char *list, const struct impl **impls, int *n)
{
    char buf[256];
    *n = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const struct impl *im = impl_find(f, t);
        if (!im) {
            char known[512] = "";
            for (int i = 0; i < family_n_impls(f); i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                         i ? ", " : "", family_impl(f, i)->name);
            cli_error("run: %s has no implementation '%s' (known: %s)", f->name, t, known);
            return -1;
        }
        if (*n < 16)
            impls[(*n)++] = im;
    }
    return 0;
}

/* The implementations a run without --impl takes: those of its device but
 * the reference, or the reference when the device has no other (softmax on
 * the CPU); peers only when installed (impl.available). */
static void default_impls(const struct family *f, const struct session *ses,
                          const struct impl **impls, int *n)
{
    *n = 0;
    for (int pass = 0; pass < 2 && !*n; pass++)
        for (int i = 0; i < family_n_impls(f) && *n < 16; i++) {
            const struct impl *im = family_impl(f, i);
            if (session_runs_impl(ses, im) && (pass || strcmp(im->name, "ref") != 0) &&
                impl_available(im, NULL, 0))
                impls[(*n)++] = im;
        }
}

/* Named implementations must all run on the run's device; -1 after one
 * line otherwise. */
static int check_impls_device(const struct family *f, const struct session *ses,
                              const struct impl *const *impls, int n)
{
    for (int i = 0; i < n; i++) {
        if (session_runs_impl(ses, impls[i]))
            continue;
        if (ses->on_cpu)
            cli_error("run: %s/%s runs on a GPU and this run's device is cpu (%s)", f->name,
                      impls[i]->name, ses->no_gpu_reason);
        else
            cli_error("run: %s/%s runs on the CPU and this run's device is %s (--device cpu runs it)",
                      f->name, impls[i]->name, ses->device);
        return -1;
    }
    return 0;
}

static void known_families(char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; i < n_families; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? ", " : "", families[i]->name);
}

/* 1 when an executable file named name is on PATH. */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    char dir[4096], file[4200];
    for (const char *p = path ? path : ""; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)len, p);
        snprintf(file, sizeof file, "%s/%s", len ? dir : ".", name);
        if (access(file, X_OK) == 0)
            return 1;
        p += len + (p[len] == ':');
    }
    return 0;
}

/* --profile TOOL: for each implementation, the command that profiles its
 * timed launches of the case (profile_cmd.h), printed; with --exec, run
 * one after the other. Returns the exit code: 0, the first failing
 * command's status, or EXIT_USAGE when the tool is not on PATH. */
static int profile_handoff(enum profile_tool tool, int exec, int argc, char **argv,
                           const struct family *f, const struct shape *s, enum timing timing,
                           const struct impl *const *impls, int n_impls)
{
    char bench[4200];
    snprintf(bench, sizeof bench, "%s/bench", sb_exe_dir ? sb_exe_dir : ".");
    if (exec && !on_path(profile_tool_names[tool])) {
        cli_error("run: --exec: %s is not on PATH (%s)", profile_tool_names[tool],
                  tool == PROFILE_NCU ? "Nsight Compute" : "Nsight Systems");
        return EXIT_USAGE;
    }
    for (int i = 0; i < n_impls; i++) {
        char case_str[320];
        case_string(f, impls[i]->name, s, case_str, sizeof case_str);
        if (impls[i]->device == DEV_CUDA && timing != TIMING_COLD)
            snprintf(case_str + strlen(case_str), sizeof case_str - strlen(case_str), " timing=%s",
                     timing_names[timing]);
        static struct profile_cmd cmd;
        if (profile_command(&cmd, tool, bench, argc - 1, argv + 1, impls[i]->name, case_str) != 0) {
            cli_error("run: --profile: the command line is too long");
            return EXIT_USAGE;
        }
        profile_command_print(stdout, &cmd);
        fflush(stdout);
        if (!exec)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            execvp(cmd.argv[0], cmd.argv);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            cli_error("run: --exec: %s failed (%s %d)", profile_tool_names[tool],
                      pid > 0 && WIFSIGNALED(st) ? "signal" : "exit",
                      pid > 0 && WIFSIGNALED(st) ? WTERMSIG(st) : pid > 0 ? WEXITSTATUS(st) : -1);
            return pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_FAIL;
        }
        fprintf(stderr, "bench: %s wrote %s.%s\n", profile_tool_names[tool], cmd.report,
                tool == PROFILE_NCU ? "ncu-rep" : "nsys-rep");
    }
    return EXIT_OK;
}

/* The options before the shape fields, which follow in shape_fields[] order. */
#define N_BASE_OPTS (10 + N_MEASURE_OPTS + N_PROFILE_OPTS + N_PEER_OPTS)

int cmd_run(int argc, char **argv)
{
    const char *impl_list = NULL, *dtype = "fp32", *device = NULL, *db = DEFAULT_DB;
    const char *dump_dir = NULL, *load_dir = NULL, *profile_tool = NULL;
    int no_db = 0, exec = 0;
    struct profile_opts popts = { 0 };
    int64_t seed = 1, field[SF_COUNT];
    int flag[SF_COUNT] = { 0 };
    const char *named[SF_COUNT] = { 0 };
    struct measure_flags mf;
    measure_flags_init(&mf);
    struct peer_flags pf = PEER_FLAGS_INIT;
    struct opt opts[N_BASE_OPTS + SF_COUNT] = {
        OPT("impl", OPT_STRING, &impl_list, "A,B", "implementations (default: the device's, but ref); CPU ones alone imply --device cpu"),
        OPT("dtype", OPT_STRING, &dtype, "T", "fp32, bf16 or fp16 (default fp32)"),
        OPT("device", OPT_STRING, &device, "DEV", "cpu (CPU implementations) or cuda:N (GPU ones; default cuda:0 where there is a GPU, else cpu)"),
        OPT("db", OPT_STRING, &db, "FILE", "results database (default " DEFAULT_DB ")"),
        OPT("no-db", OPT_FLAG, &no_db, NULL, "do not store the results"),
        OPT("dump", OPT_STRING, &dump_dir, "DIR", "write inputs, output, reference as .npy (DIR/IMPL with several impls)"),
        OPT("load", OPT_STRING, &load_dir, "DIR", "run on the inputs of a --dump folder"),
        OPT("seed", OPT_INT, &seed, "N", "input seed (default 1)"),
        MEASURE_OPTS(mf),
        PEER_OPTS(pf),
        PROFILE_OPTS(popts),
        OPT("profile", OPT_STRING, &profile_tool, "TOOL",
            "ncu or nsys: print the command that profiles each implementation's timed launches of "
            "this case (an NVTX filter on its 'timed' range; the report named after the case), "
            "and run nothing"),
        OPT("exec", OPT_FLAG, &exec, NULL, "with --profile: run those commands"),
    };
    int n_opts = N_BASE_OPTS;
    for (int f = 0; f < SF_COUNT; f++) {
        const struct shape_field *sf = &shape_fields[f];
        field[f] = -1;
        if (sf->is_flag)
            opts[n_opts++] = (struct opt){ sf->name, OPT_FLAG, &flag[f], NULL, sf->help, 0 };
        else if (sf->values)
            opts[n_opts++] = (struct opt){ sf->name, OPT_STRING, &named[f], "NAME", sf->help, 0 };
        else
            opts[n_opts++] = (struct opt){ sf->name, OPT_INT, &field[f], "N", sf->help, 0 };
    }
    const struct command *cmd = &commands[0];
    for (int i = 0; i < n_commands; i++)
        if (commands[i].fn == cmd_run)
            cmd = &commands[i];
    char *pos[1];
    int n_pos, rc = cli_parse(cmd, argc, argv, opts, n_opts, pos, 1, &n_pos);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc)
        return rc;
    struct measure_opts mopts = MEASURE_DEFAULTS;
    if ((rc = measure_flags_apply("run", &mf, &mopts)) != 0 ||
        (rc = peer_flags_apply("run", &pf)) != 0)
        return rc;
    int tool = profile_tool ? profile_tool_parse(profile_tool) : -1;
    if (profile_tool && tool < 0) {
        cli_error("run: --profile '%s': expected ncu or nsys", profile_tool);
        return EXIT_USAGE;
    }
    if (exec && !profile_tool) {
        cli_error("run: --exec runs the --profile command; give --profile ncu|nsys");
        return EXIT_USAGE;
    }

    struct loaded_case lc;
    char err[400], known[256];
    const struct family *fam = NULL;
    if (load_dir) {
        for (int f = 0; f < n_opts; f++)
            if (opts[f].seen && (f >= N_BASE_OPTS || opts[f].dest == (void *)&dtype)) {
                cli_error("run: --%s cannot be combined with --load (the shape comes from case.json)",
                          opts[f].name);
                return EXIT_USAGE;
            }
        if (dump_load(load_dir, &lc, err, sizeof err) != 0) {
            cli_error("run: %s", err);
            return EXIT_USAGE;
        }
        fam = family_find(lc.family);
        if (n_pos && strcmp(pos[0], lc.family) != 0) {
            cli_error("run: %s holds a %s case, not %s", load_dir, lc.family, pos[0]);
            loaded_case_free(&lc);
            return EXIT_USAGE;
        }
    } else {
        if (!n_pos) {
            known_families(known, sizeof known);
            cli_error("run: which family? (one of: %s)", known);
            return EXIT_USAGE;
        }
        if (!(fam = family_find(pos[0]))) {
            known_families(known, sizeof known);
            cli_error("run: unknown family '%s' (known: %s)", pos[0], known);
            return EXIT_USAGE;
        }
    }

    struct shape s;
    if (load_dir) {
        s = lc.shape;
        seed = (int64_t)lc.seed;
    } else {
        shape_unset(&s);
        int t = dtype_parse(dtype);
        if (t < 0) {
            cli_error("run: unknown dtype '%s' (known: fp32, bf16, fp16)", dtype);
            return EXIT_USAGE;
        }
        s.dtype = (enum dtype)t;
        for (int f = 0; f < SF_COUNT; f++) {
            const struct shape_field *sf = &shape_fields[f];
            const int seen = opts[N_BASE_OPTS + f].seen;
            if (!(fam->fields & SF_BIT(f))) {
                if (seen) {
                    cli_error("run: %s has no shape field --%s", fam->name, sf->name);
                    return EXIT_USAGE;
                }
                continue;
            }
            if (sf->is_flag) {
                if (seen)       /* else the family's default (sparse's streaming patterns: causal) */
                    *shape_field_ptr(&s, f) = flag[f];
            } else if (sf->values && seen) {
                if ((field[f] = shape_field_parse(f, named[f])) < 0) {
                    cli_error("run: --%s %s: not one of its values (%s)", sf->name, named[f],
                              sf->help);
                    return EXIT_USAGE;
                }
                *shape_field_ptr(&s, f) = field[f];
            } else if (seen) {
                if (field[f] < 0) {
                    cli_error("run: --%s %lld: must be a positive integer", sf->name,
                              (long long)field[f]);
                    return EXIT_USAGE;
                }
                *shape_field_ptr(&s, f) = field[f];
            }
        }
        fam->defaults(&s);
    }
    if (fam->validate(&s, err, sizeof err) != 0) {
        cli_error("run: invalid %s shape: %s", fam->name, err);
        if (load_dir)
            loaded_case_free(&lc);
        return EXIT_USAGE;
    }

    /* The implementations: those named (which imply the device when they
     * are all CPU ones and --device is not given), else the device's. */
    const struct impl *impls[16];
    int n_impls = 0;
    const char *list = impl_list ? impl_list : load_dir && lc.impl[0] ? lc.impl : NULL;
    struct session ses;
    rc = list && parse_impls(fam, list, impls, &n_impls) != 0 ? EXIT_USAGE : EXIT_OK;
    if (rc == EXIT_OK)
        rc = session_device(&ses, device ? device : session_implied_device(impls, n_impls));
    if (rc == EXIT_OK && list && check_impls_device(fam, &ses, impls, n_impls) != 0)
        rc = EXIT_USAGE;
    if (rc == EXIT_OK && !list)
        default_impls(fam, &ses, impls, &n_impls);
    if (rc == EXIT_OK && tool >= 0) {
        rc = profile_handoff((enum profile_tool)tool, exec, argc, argv, fam, &s, mopts.timing, impls,
                             n_impls);
        if (load_dir)
            loaded_case_free(&lc);
        return rc;
    }
    ses.popts = popts;
    if (rc == EXIT_OK)
        rc = session_start(&ses, no_db ? NULL : db, NULL);
    if (rc != EXIT_OK) {
        if (load_dir)
            loaded_case_free(&lc);
        return rc;
    }
    int failed = 0, n_ran = 0;
    table_header(stdout);
    for (int i = 0; i < n_impls; i++) {
        char dir[1024];
        if (dump_dir)
            snprintf(dir, sizeof dir, n_impls > 1 ? "%s/%s" : "%s", dump_dir, impls[i]->name);
        struct case_req q = { .family = fam, .impl = impls[i], .shape = s, .seed = (uint64_t)seed,
                              .device = ses.device, .gpu = ses.gctx,
                              .no_gpu_reason = ses.no_gpu_reason,
                              .mopts = mopts, .prof = &ses.prof,
                              .dump_dir = dump_dir ? dir : NULL,
                              .load = load_dir ? &lc : NULL,
                              .roof = session_roof(&ses, impls[i], s.dtype) };
        struct case_result r;
        run_case(&q, &r);
        table_row(stdout, &r);
        fflush(stdout);
        table_profile_line(stderr, &r);
        const int store_failed = table_store(&ses, &r) != 0;    /* a mismatch is stored too */
        failed |= status_failed(r.status) || store_failed;
        n_ran += strncmp(r.status, "skipped", 7) != 0;
        case_result_free(&r);
    }
    rc = failed ? EXIT_FAIL : session_gpu_ran(&ses, "run", n_impls, n_ran);
    session_close(&ses);
    if (load_dir)
        loaded_case_free(&lc);
    return rc;
}
