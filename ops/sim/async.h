/*
 * async.h — between ptx_sim.cpp (what ThreadSanitizer must see: the
 * mbarrier word's init, arrivals and waits) and async.cpp (the bookkeeping
 * it must not see): internal to ops/sim/.
 */
#ifndef SEQBENCH_SIM_ASYNC_H
#define SEQBENCH_SIM_ASYNC_H

#include <stdint.h>

#include "sim.h"

void sb_sim_async_mbarrier_init(uint64_t *b, unsigned count, const sb_sim_loc &loc);
uint64_t sb_sim_async_mbarrier_arrive(uint64_t *b, unsigned tx, const sb_sim_loc &loc);
void sb_sim_async_mbarrier_wait(uint64_t *b, unsigned parity, const sb_sim_loc &loc);

#endif
