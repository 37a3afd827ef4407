/*
 * commands.c — the command table: {name, function, usage, summary}. Each
 * command lives in its own harness/cmd_*.c; --help text comes from here.
 */
#include "cli.h"
#include "isolate.h"

const struct command commands[] = {
    { "list", cmd_list, "[families|impls|suites] [--plugin PATH.so]",
      "List the operator families, their implementations (device, dtypes, verification status)\n"
      "or the suites. Peers (<family>/ext:<peer>: other projects' implementations run in a\n"
      "worker process) say whether they are installed in the peers' Python, and how to install\n"
      "them when not; a plugin's implementations name their library." },
    { "run", cmd_run, "FAMILY [--impl A,B] [--dtype T] [shape: --B --N --Nk --H --Hkv --Hv --D --Dv --causal --chunk --gate --state] [options]",
      "Run one shape: validate every implementation against the reference (sampled rows at long N),\n"
      "time it, print a markdown table and store each result. The device picks the implementations:\n"
      "on cpu the CPU ones, on cuda:N the GPU ones (default: cuda:0 where there is a GPU); --impl\n"
      "naming only CPU ones runs on cpu. Timing stops when the median's 95% confidence interval is\n"
      "within --target of it after --min-samples samples, or at --max-time; a result short of either\n"
      "is stored as 'ok: few samples (n of 10)' or 'ok: noisy (...)', which does not change the exit\n"
      "code. Exit 1 on a mismatch or error, or on cuda:N when no GPU implementation ran." },
    { "suite", cmd_suite, "NAME [--device DEV] [--db FILE] [--filter PATTERN] [--shard I/N] [--resume] [options]",
      "Run every case of suites/NAME, storing each result as it finishes. Cases predicted not to fit\n"
      "the device memory or the suite's time budget are recorded as skipped; a case listed twice runs\n"
      "once. The device picks the cases: on cpu those of CPU implementations, on cuda:N those of GPU\n"
      "ones. On a GPU each case runs in a child process (--isolate): a crash or a sticky CUDA error is\n"
      "one error row and the suite goes on. A lock per device keeps two benches from timing on it at\n"
      "once: the second waits (--lock-wait). Ctrl-C or SIGTERM stops after the case in flight (exit\n"
      "130 or 143); everything finished is already stored, the run is left unfinished, and --resume\n"
      "continues the latest unfinished run of the same configuration without running a case it has a\n"
      "result for (--retry-failed: except errors). --shard I/N takes one of N shards balanced by\n"
      "predicted cost on --shard-class. The markdown table goes beside the database (X.db -> X.md)\n"
      "unless --md names it; --no-db writes none. Exit 1 on a mismatch or error, or on cuda:N when no\n"
      "GPU implementation ran." },
    { "verify", cmd_verify, "[--family A,B] [--impl NAME] [--device DEV]",
      "Check every implementation of the device against its reference over small edge-case shapes\n"
      "in every dtype it supports: on cpu the CPU implementations, on cuda:N (the default where there\n"
      "is a GPU) the GPU ones. Exit 1 on any mismatch or error, and on cuda:N when not one GPU\n"
      "implementation ran (the GPU could not be set up; the reason is printed). The summary counts\n"
      "the skipped by reason. Nothing is stored." },
    { "compare", cmd_compare, "BASE.db NEW.db [--threshold 3%] [--alpha 0.05] [--format md|csv|json] [--across-machines] [--across-inputs]",
      "Compare two results databases case by case and exit 1 on a regression.\n"
      "Cases are matched by canonical case string (family/impl dtype shape). When a database holds\n"
      "several runs of a case, the latest run's result is used (latest started_at, then highest\n"
      "run id) among the runs that finished (--include-unfinished: all). Cases ok on both sides are\n"
      "judged from their stored samples:\n"
      "  ratio = median new / median base; p = two-sided Mann-Whitney U (exact without ties when\n"
      "  both sides have at most 20 samples, else normal approximation with tie correction)\n"
      "  slower   p < alpha and ratio > 1 + threshold        (a regression)\n"
      "  faster   p < alpha and ratio < 1 - threshold\n"
      "  same     |ratio - 1| <= threshold\n"
      "  noisy    beyond the threshold but p >= alpha (or no samples)\n"
      "  unreliable  either side stored as 'ok: few samples' or 'ok: noisy': shown, not judged,\n"
      "           never a regression, not in the geometric means\n"
      "Status changes: broken = ok in base, mismatch or error in new (a regression); fixed = ok\n"
      "only in new; status = any other change (ok -> skipped or oom, ...). Also listed: cases only\n"
      "in base, only in new, and the geometric mean of ratios per family and overall, after the two\n"
      "sides' environments (GPU, driver, CUDA, cuBLAS, nvcc, host, CPU, commit, input version,\n"
      "timing mode).\n"
      "Machines: a case whose two results ran on different machines (host, CPU model, GPU name or\n"
      "UUID differ) compares machines, not versions: its verdict is shown but is no regression, and\n"
      "when every case is so the output says \"A vs B\"; --across-machines judges them as regressions.\n"
      "Inputs: results made from different input versions (runs.input_version, SB_INPUT_VERSION)\n"
      "timed different inputs, so compare refuses them (exit 2) unless --across-inputs.\n"
      "Exit 0: no regression; 1: a slower or broken case; 2: bad usage, a missing or unreadable\n"
      "file, not a seqbench database, a schema newer than this bench, or different input versions.\n"
      "Both databases are opened read-only." },
    { "merge", cmd_merge, "A.db [B.db ...] -o OUT.db",
      "Merge the runs of several databases into OUT.db, keyed by run_uid. OUT.db is created\n"
      "with the current schema if missing; a run OUT already has is skipped, so merging again\n"
      "changes nothing and merging A then B equals merging both. Results and samples get new ids.\n"
      "Inputs are opened read-only; an older schema is read by column name, a newer one is\n"
      "refused (exit 2). Each input is one transaction: a failure leaves OUT as it was before\n"
      "that input." },
    { "export", cmd_export, "--db FILE --format csv|json|gab [--run ID|latest|all] [-o FILE]",
      "Write results as CSV, JSON or github-action-benchmark JSON. CSV: a header row, then one\n"
      "row per result (RFC 4180 quoting, LF line ends); JSON: an array of objects with the same\n"
      "keys; gab: github-action-benchmark's customSmallerIsBetter array of {name: case, unit:\n"
      "\"ms\", value: median, extra} for the ok results. Columns: the run (run_uid, started_at, git_commit, hostname, gpu_name), then the\n"
      "result's case, shape, status, timing, throughput and error columns; one an older database\n"
      "lacks is empty. --run latest (the default) takes each case's result from the latest run\n"
      "that has it (as compare does, so a merged database of shards exports whole); all takes\n"
      "every run (gab names then repeat); otherwise a run_uid or a run id. latest and all take only\n"
      "runs that finished unless --include-unfinished." },
    { "report", cmd_report, "[--db FILE] [FILE...] [--run ID|latest|all] [--out DIR]",
      "Write an HTML report of one or more results databases. They are only read: environment,\n"
      "per-family tables, PNG + SVG figures drawn by gnuplot (scripts and data kept beside them). Several\n"
      "databases (--db A.db B.db ...) or --run all add per-case latency ratios against the first run." },
    /* Internal: what an isolated suite's children run (isolate.h). A name
     * starting with '_' is left out of `bench --help`. */
    { "_case", cmd_case, "CASE --db FILE --run-id ID --device DEV [options]",
      "Internal: run one case of an isolated suite and store its result in run ID." },
    { "_probe", cmd_probe, "INDEX [--measure]",
      "Internal: probe a GPU for an isolated suite, whose process never initialises CUDA." },
    { "env", cmd_env, "[--device DEV]",
      "Print what a run records about this machine: CPU, measured CPU peak and bandwidth, GPU,\n"
      "NVIDIA driver release, CUDA driver and runtime API versions, cuBLAS, nvcc and the build\n"
      "flags, the input version." },
};
const int n_commands = (int)(sizeof commands / sizeof commands[0]);

const char *sb_exe_dir;
char sb_command_line[1024];

