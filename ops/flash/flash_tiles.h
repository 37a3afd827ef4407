/*
 * flash_tiles.h — the tile sizes of the flash forward kernel, shared by the
 * CUDA kernel (ops/flash/flash_fwd.cu) and its CPU form (reference/flash.c),
 * so the CPU test exercises the same tiling: the same partial tiles at the
 * end of N and Nk, the same causal tile skipping, the same online-softmax
 * rescaling steps.
 *
 * FLASH_BR: query rows per block (one tile of Q stays in registers/smem).
 * FLASH_BC: keys per K/V tile streamed through shared memory. 64 x 128 bf16
 * K and V tiles take 32 KiB, leaving room for double buffering on sm_80+.
 */
#ifndef SEQBENCH_FLASH_TILES_H
#define SEQBENCH_FLASH_TILES_H

#define FLASH_BR 64
#define FLASH_BC 64

#endif
