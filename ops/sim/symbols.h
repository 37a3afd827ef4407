/*
 * symbols.h — the scheduler's questions to symbols.cpp: a kernel's template
 * __shared__ variables, the statistics of a kernel name. Internal to
 * ops/sim/.
 */
#ifndef SEQBENCH_SIM_SYMBOLS_H
#define SEQBENCH_SIM_SYMBOLS_H

#include <stddef.h>

#include <vector>

#include "sim.h"

struct sb_sim_region {
    char *p;
    size_t n;
};

/* The function-local statics of the kernel at `kernel` (symbol `mangled`):
 * its template __shared__ variables, which GCC keeps out of the sb_shared
 * section. Found once per kernel. */
const std::vector<sb_sim_region> &sb_sim_kernel_statics(const void *kernel, const char *mangled);

/* The statistics of kernel `name` (sb_sim_each_kernel), noting a launch on
 * `device` and the template arguments of `mangled` (may be NULL). */
sb_sim_kernel_stats &sb_sim_stats_of(const char *name, const char *mangled, const char *device);

#endif
