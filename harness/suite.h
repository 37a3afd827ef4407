/*
 * suite.h — suite files: plain text, one section per family, lists swept as
 * a cartesian product. See suites/smoke for the format:
 *
 *   # comment
 *   name   = long-context           (keys before the first section are the
 *   budget = 3600                    suite's: name, description, budget,
 *   cpu.budget = 600                 cpu.budget, cpu.max_gflop)
 *
 *   [flash]                          ([family] or [family label])
 *   impls  = cpu cuda                (or *)
 *   dtype  = bf16
 *   tokens = 131072                  (B*N held constant: B = tokens / N)
 *   N      = 1024 2048 4096
 *   causal = 0 1
 *   cpu.tokens = 8192                (a "cpu." key replaces its plain key
 *                                     when the suite runs on the CPU device)
 *
 * Errors name file:line.
 */
#ifndef SEQBENCH_SUITE_H
#define SEQBENCH_SUITE_H

#include <stddef.h>
#include <stdint.h>

#include "seqbench.h"

struct suite_case {
    const struct family *family;
    const struct impl *impl;
    struct shape shape;         /* complete: defaults filled, not yet validated */
    int line;                   /* line of the section header */
};

struct suite_kv {
    char key[32];
    char **values;              /* whitespace-separated words */
    int n_values;
    int line;
};

struct suite_section {
    char family[32];
    char label[64];
    int line;
    struct suite_kv *kv;
    int n_kv;
};

struct suite {
    char path[512];
    char name[64];
    char description[256];
    double budget_s;            /* whole-suite time budget; 0 = none */
    double cpu_budget_s;        /* on the CPU device; 0 = budget_s */
    double cpu_max_gflop;       /* per case on the CPU device; 0 = no cap */
    uint64_t text_hash;         /* FNV-1a of the file's bytes (suite_load): what a run ran */
    struct suite_section *sections;
    int n_sections;
};

/* name_or_path: a path to a file, or a name looked up as suites/<name>
 * relative to the current directory and to the directory above the bench
 * executable (so bin/bench finds its suites from anywhere). */
int suite_load(const char *name_or_path, const char *exe_dir, struct suite *s,
               char *err, size_t n);
/* Parses text; filename is used only in messages. */
int suite_parse(const char *text, const char *filename, struct suite *s, char *err, size_t n);
/* Expands to cases for a device (on_cpu = 1 applies the cpu. keys), in file
 * order; each section's cases in the order of its keys' sweep, impl last.
 * Unknown family, impl, dtype or key, B not dividing tokens: error with file:line. */
int suite_expand(const struct suite *s, int on_cpu, struct suite_case **cases, int *n_cases,
                 char *err, size_t n);
void suite_free(struct suite *s);

#endif
