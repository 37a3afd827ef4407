/*
 * calibrate_kernels.h — the calibration kernels (calibrate_kernels.cu)
 * behind a C API for harness/calibrate.c. Built only with nvcc.
 */
#ifndef SEQBENCH_CALIBRATE_KERNELS_H
#define SEQBENCH_CALIBRATE_KERNELS_H

#include <stdint.h>

#define CALIB_CHAINS 8      /* independent chains per thread: covers FMA and MUFU latency */
#define CALIB_BLOCK 256     /* threads per block */

#ifdef __cplusplus
extern "C" {
#endif

/* Each queues one kernel on `stream` (a cudaStream_t) and returns the
 * launch's cudaError_t (0: cudaSuccess).
 *   fill: n_words random 32-bit words & keep into words;
 *   fma:  blocks x CALIB_BLOCK threads, each CALIB_CHAINS x iters FMAs
 *         (2 FLOPs each); out holds blocks x CALIB_BLOCK floats;
 *   ex2:  the same count of ex2.approx. */
int sb_calib_fill(void *stream, void *words, uint64_t n_words, uint32_t seed, uint32_t keep);
int sb_calib_fma(void *stream, int blocks, float *out, int iters);
int sb_calib_ex2(void *stream, int blocks, float *out, int iters);

#ifdef __cplusplus
}
#endif

#endif
