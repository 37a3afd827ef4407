#!/usr/bin/env bash
# delta.sh — the delta family's GPU kernels checked without a GPU: each
# kernel's index math transcribed to NumPy (tests/delta_kernels.py) runs on
# the inputs of a few `bench run --dump` cases (partial chunks, Hv = 4·H,
# D ≠ Dv, state, gate on/off, decode, fp32 and bf16: the tensor-core
# kernels' fragments go through an m16n8k16 emulator) and must write every
# element and match the float64 reference, under NumPy 1.x and 2.x; the
# multiply-adds of its product statements must equal the flops_executed
# bench stores.
set -u
source "$(dirname "$0")/lib.bash"
have_numpy || { summary; exit; }
tmp=$t
cases=(
    "--B 2 --N 130 --H 1 --Hv 2 --D 64 --Dv 128 --gate head --state"
    "--B 1 --N 64 --H 2 --Hv 2 --D 128 --Dv 64"
    "--B 1 --N 70 --H 2 --Hv 8 --D 64 --Dv 256 --gate head"
    "--B 1 --N 20 --H 1 --Hv 1 --D 256 --Dv 64 --state"
    "--B 2 --N 3 --H 1 --Hv 4 --D 64 --Dv 64 --gate head --state"
    "--B 1 --N 1 --H 2 --Hv 2 --D 128 --Dv 128 --state"
    "--B 1 --N 16 --H 1 --Hv 2 --D 256 --Dv 64 --gate head"
    "--dtype bf16 --B 1 --N 70 --H 1 --Hv 2 --D 64 --Dv 64 --gate head --state"
    "--dtype bf16 --B 2 --N 150 --H 1 --Hv 4 --D 128 --Dv 64 --gate head"
    "--dtype bf16 --B 1 --N 64 --H 1 --Hv 1 --D 64 --Dv 256 --state"
    "--dtype bf16 --B 1 --N 9 --H 1 --Hv 1 --D 256 --Dv 128 --gate head --state"
)
dirs=()
for i in "${!cases[@]}"; do
    # shellcheck disable=SC2086
    if bin/bench run delta --impl ref ${cases[$i]} --no-db --max-time 0.05 --dump "$tmp/c$i" >"$tmp/log" 2>&1; then
        dirs+=("$tmp/c$i")
    else
        fail=$((fail + 1)); echo "FAIL delta.sh: bench run ${cases[$i]} --dump:" >&2; tail -3 "$tmp/log" >&2
    fi
done
# Extreme gates and β: a dump's g and beta rewritten, the reference redone
# on them (--load): g = −20 everywhere with β = 1e-4; g = −1e4 every 7th
# token and −1e-3 elsewhere (|G| large, steps small) with β ≈ 1.
extreme=(
    "--B 1 --N 100 --H 1 --Hv 2 --D 64 --Dv 64 --gate head --state|const|-20|0.0001"
    "--dtype bf16 --B 1 --N 150 --H 1 --Hv 2 --D 64 --Dv 128 --gate head --state|mixed|-1e4|0.99609375"
    "--B 1 --N 9 --H 1 --Hv 1 --D 128 --Dv 64 --gate head --state|mixed|-1e4|0.9999"
)
for i in "${!extreme[@]}"; do
    IFS='|' read -r args kind gval bval <<<"${extreme[$i]}"
    # shellcheck disable=SC2086
    if bin/bench run delta --impl ref $args --no-db --max-time 0.05 --dump "$tmp/x$i" >"$tmp/log" 2>&1 &&
       "$PY" -c "
import numpy as np, sys
d, kind, gv, bv = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
g = np.load(d + '/g.npy'); b = np.load(d + '/beta.npy')
if kind == 'const':
    g[:] = gv
else:
    g[:] = -1e-3; g[:, 3::7] = gv
b[:] = bv
np.save(d + '/g.npy', g.astype(np.float32)); np.save(d + '/beta.npy', b.astype(np.float32))
" "$tmp/x$i" "$kind" "$gval" "$bval" &&
       bin/bench run delta --impl ref --load "$tmp/x$i" --no-db --max-time 0.05 --dump "$tmp/y$i" >"$tmp/log" 2>&1; then
        dirs+=("$tmp/y$i")
    else
        fail=$((fail + 1)); echo "FAIL delta.sh: extreme inputs ${extreme[$i]}:" >&2; tail -3 "$tmp/log" >&2
    fi
done
numpy_run tests/delta_kernels.py "${dirs[@]}"
# Each kernel's executed FLOPs as bench stores them for the case
# (flops_executed: stored beside "skipped" on a host whose GPU cannot be
# used, which the fault hook makes this one) against twice the
# multiply-adds its transcription's product statements counted (the last
# NumPy run's output).
while read -r _ kname dir _ macs; do
    rm -f "$tmp/m.db"
    SEQBENCH_GPU_FAULT="counting only" bin/bench run delta --impl "$kname" --load "$dir" --db "$tmp/m.db" --max-time 0.05 >/dev/null 2>&1
    got=$(sqlite3 "$tmp/m.db" 'SELECT printf("%.0f", flops_executed) FROM results' 2>/dev/null)
    check "delta/$kname on $dir: flops_executed ${got:-none} = 2 x $macs counted" [ "${got:-none}" = "$((2 * macs))" ]
done < <(grep '^macs ' "$t/py.out")
summary
