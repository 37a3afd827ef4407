#!/usr/bin/env bash
# flash.sh — the split-KV path of ops/flash/flash_fwd.cu transcribed into
# NumPy (tests/flash_emulate.py: the split plan, the block decode, the
# epilogue's workspace slots and the combine kernel, thread by thread)
# against float64 attention, under NumPy 1.x and 2.x. Needs no GPU.
set -u
source "$(dirname "$0")/lib.bash"
have_numpy && numpy_run tests/flash_emulate.py
summary
