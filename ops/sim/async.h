/*
 * async.h — between ptx_sim.cpp (what ThreadSanitizer must see: the
 * mbarrier word's init, arrivals and waits) and async.cpp (the bookkeeping
 * it must not see), and AddressSanitizer's poisoning both use: internal to
 * ops/sim/.
 */
#ifndef SEQBENCH_SIM_ASYNC_H
#define SEQBENCH_SIM_ASYNC_H

#include <cuda.h>
#include <stdint.h>

#include "sim.h"

/* AddressSanitizer's poisoning, for destinations an asynchronous copy has
 * not written yet (nothing without it: the 0xFF bytes stay). */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) __asan_poison_memory_region(p, n)
#define UNPOISON(p, n) __asan_unpoison_memory_region(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

void sb_sim_async_mbarrier_init(uint64_t *b, unsigned count, const sb_sim_loc &loc);
uint64_t sb_sim_async_mbarrier_arrive(uint64_t *b, unsigned tx, const sb_sim_loc &loc);
void sb_sim_async_mbarrier_wait(uint64_t *b, unsigned parity, const sb_sim_loc &loc);

/* The runner's cuTensorMapEncodeTiled (runtime.cpp hands it out as the
 * driver's entry point). */
CUresult sb_sim_tensor_map_encode_tiled(CUtensorMap *map, CUtensorMapDataType dtype, cuuint32_t rank, void *base,
                                        const cuuint64_t *dims, const cuuint64_t *strides, const cuuint32_t *box,
                                        const cuuint32_t *estrides, CUtensorMapInterleave interleave,
                                        CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2,
                                        CUtensorMapFloatOOBfill oob);

#endif
