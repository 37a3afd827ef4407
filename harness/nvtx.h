/*
 * nvtx.h — NVTX ranges for the profilers people use (Nsight Systems,
 * Nsight Compute): every case runs inside a range named by its case
 * string, and each timed run() inside a nested range named "timed"
 * (NVTX_TIMED), so `ncu --nvtx --nvtx-include "seqbench@timed/"` or `nsys
 * --capture-range=nvtx --nvtx-capture=timed@seqbench` select exactly the
 * timed launches (profile_cmd.h builds those commands). All ranges are in
 * the domain "seqbench" (NVTX_DOMAIN); "timed" is a registered string, which
 * nsys's NVTX capture needs.
 *
 * NVTX v3 is header-only (the toolkit's nvtx3/nvToolsExt.h): with no tool
 * attached each call is a branch on a null pointer; a tool is loaded only
 * when it sets NVTX_INJECTION64_PATH. Without the header (no CUDA) these
 * are no-ops.
 */
#ifndef SEQBENCH_NVTX_H
#define SEQBENCH_NVTX_H

#define NVTX_DOMAIN "seqbench"
#define NVTX_TIMED "timed"

void nvtx_push(const char *name);   /* a range named name (copied by NVTX) */
void nvtx_push_timed(void);         /* the "timed" range */
void nvtx_pop(void);

#endif
