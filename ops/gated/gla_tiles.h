/*
 * gla_tiles.h — the tile size the gated/linear GPU kernels (ops/gated/
 * gla_fwd.cu, gla_fwd_mma.cu) are built around, shared with the count of
 * what they execute (reference/gla.c): every thread grid covers a chunk of
 * GLA_GPU_CMAX tokens (4 sub-chunks of 16: gla_fwd.cu's 4 × 4 scores per
 * thread, gla_fwd_mma.cu's 4 warps of 16 rows), whatever the case's chunk.
 */
#ifndef SEQBENCH_GLA_TILES_H
#define SEQBENCH_GLA_TILES_H

#define GLA_GPU_CMAX 64         /* largest chunk the kernels take */

#endif
