/*
 * delta_chunk.h — what the delta family's chunked CPU form (reference/delta.c)
 * and its CUDA kernels (ops/delta/ *.cu) share: the chunk length the GPU
 * kernels are built for and the head dims they take.
 */
#ifndef SEQBENCH_DELTA_CHUNK_H
#define SEQBENCH_DELTA_CHUNK_H

/* Chunk length of the GPU kernels: 64, as flash-linear-attention's
 * chunk_gated_delta_rule uses (BT = 64); the CPU form takes any chunk. */
#define DELTA_GPU_CHUNK 64

/* Rows of a chunk each warp of the tensor-core kernels owns: the M of
 * mma.m16n8k16 (ops/delta/delta_chunk_mma.cu). */
#define DELTA_GPU_SUB 16

/* Tokens the decode kernel takes (one to a few new tokens per step). */
#define DELTA_DECODE_MAX_N 16

#endif
