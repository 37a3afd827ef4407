#!/usr/bin/env bash
# gla.sh — the GPU kernels of ops/gated/ transcribed into NumPy
# (tests/gla_emulate.py: their index math and mma fragment layouts, thread
# by thread) against the float64 recurrence, under NumPy 1.x and 2.x. Needs
# no GPU.
set -u
source "$(dirname "$0")/lib.bash"
have_numpy && numpy_run tests/gla_emulate.py
summary
