#!/usr/bin/env bash
# softmax.sh — the operand layout of ops/softmax/softmax_cublas.cu (pointer
# arrays, transposes, leading dimensions of both batched GEMMs) transcribed
# into NumPy with cuBLAS's column-major semantics (tests/softmax_emulate.py)
# against float64 attention, under NumPy 1.x and 2.x. Needs no GPU.
set -u
source "$(dirname "$0")/lib.bash"
have_numpy && numpy_run tests/softmax_emulate.py
summary
