#!/usr/bin/env bash
# gla.sh — the GPU kernels of ops/gated/ transcribed into NumPy
# (tests/gla_emulate.py: their index math and mma fragment layouts, thread
# by thread) against the float64 recurrence, under NumPy 1.x and 2.x, and
# the multiply-adds their product statements execute against the
# flops_executed bench stores for each case. Needs no GPU.
set -u
source "$(dirname "$0")/lib.bash"
have_numpy || { summary; exit; }
numpy_run tests/gla_emulate.py
# Each kernel's executed FLOPs as bench stores them (flops_executed: stored
# beside "skipped" on a host whose GPU cannot be used, which the fault hook
# makes this one) against twice the multiply-adds the transcribed kernels'
# product statements counted (the last NumPy run's output).
while read -r _ fam impl dtype rest; do
    args=${rest% = *}; macs=${rest##* = }
    rm -f "$t/m.db"
    # shellcheck disable=SC2086
    SEQBENCH_GPU_FAULT="counting only" "$B" run "$fam" --impl "$impl" --dtype "$dtype" $args --db "$t/m.db" --max-time 0.05 >/dev/null 2>&1
    got=$(sqlite3 "$t/m.db" 'SELECT printf("%.0f", flops_executed) FROM results' 2>/dev/null)
    check "$fam/$impl $dtype $args: flops_executed ${got:-none} = 2 x $macs counted" [ "${got:-none}" = "$((2 * macs))" ]
done < <(grep '^macs ' "$t/py.out")
summary
