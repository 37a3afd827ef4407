#!/usr/bin/env bash
# profile-check.sh — the profiling checks that need a GPU (scripts/
# device-check.sh runs it as its last stage; it also runs alone, from the
# repository root, with bin/bench built as device-check.sh's header says):
#
#   1. CUPTI and NVML found, the GPU's state and measured ceilings
#      (bench env, bench env --calibrate);
#   2. counters read for flash (seqbench's kernel and cuDNN) and for
#      cuBLAS (softmax/cuda-cublas), each with its kernel breakdown;
#   3. event time against CUPTI's summed kernel time: within 3 % for every
#      op over 100 us (their difference is launch overhead and the gaps
#      between an op's kernels, which the blocking kernel hides);
#   4. a decode timed as a CUDA graph against cold single launches;
#   5. energy per op for flash at 16K tokens;
#   6. the ncu hand-off, when ncu is on PATH.
#
# Everything lands in $OUT (profile.db, profile.log); each check prints
# "PASS ..." or "FAIL ..." and the last line counts them. Budget: about 3
# minutes on an H100.
set -u
OUT=${OUT:-/tmp/seqbench-out}
B=${BENCH:-bin/bench}
DB=$OUT/profile.db
mkdir -p "$OUT"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $*"; }
no() { fail=$((fail + 1)); echo "FAIL $*"; }
# A query on the database: sqlite3 where installed, else Python's module
# (the GPU machines have Python for their NVIDIA wheels).
q() {
    if command -v sqlite3 >/dev/null; then
        sqlite3 "$DB" "$1" 2>/dev/null
    else
        python3 -c 'import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in r))' "$DB" "$1"
    fi
}

# CUPTI may come from a wheel on a machine without the toolkit.
cupti=$(find / -xdev -name 'libcupti.so.13*' 2>/dev/null | head -n 1)
[ -n "$cupti" ] && [ -z "${SEQBENCH_CUPTI:-}" ] && export SEQBENCH_CUPTI=$cupti
echo "CUPTI: ${SEQBENCH_CUPTI:-searched by bench}"
grep -i profiling /proc/driver/nvidia/params 2>/dev/null

# 1. environment and ceilings
"$B" env >"$OUT/profile-env.md" 2>&1
grep -E 'CUPTI|NVML|gpu clocks|power|ECC|reasons|ceilings' "$OUT/profile-env.md"
grep -q '| CUPTI (loaded at run time) | API' "$OUT/profile-env.md" && ok "CUPTI loaded" || no "CUPTI not loaded"
grep -q '| gpu clocks (NVML' "$OUT/profile-env.md" && ok "NVML read the clocks" || no "NVML missing"
timeout 120 "$B" env --calibrate >"$OUT/calibrate.md" 2>&1 && ok "env --calibrate" || no "env --calibrate"
cat "$OUT/calibrate.md"

# 2. counters and kernels: flash (ours, cuDNN) and cuBLAS
timeout 180 "$B" run flash --impl cuda,cudnn --N 4096 --H 16 --D 128 --dtype bf16 --causal \
    --metrics default --db "$DB" 2>&1 | tee -a "$OUT/profile.log" | tail -n 8
timeout 180 "$B" run softmax --impl cuda-cublas --N 2048 --H 16 --D 128 --dtype bf16 --causal \
    --metrics default --db "$DB" 2>&1 | tee -a "$OUT/profile.log" | tail -n 6
for impl in flash/cuda flash/cudnn softmax/cuda-cublas; do
    row=$(q "SELECT printf('%.4g ms event, %.4g ms kernels, %d kernels, DRAM %.4g MB read, L2 %.4g MB,
                           tensor %.1f %%, why: %s', median_ms, kernel_ms,
                           (SELECT count(*) FROM kernels WHERE result_id = r.id), dram_read_bytes / 1e6,
                           l2_bytes / 1e6, tensor_util_pct, counters_why)
             FROM results r WHERE case_str LIKE '$impl %' AND status GLOB 'ok*' ORDER BY id DESC LIMIT 1")
    echo "$impl: ${row:-no ok result}"
    n=$(q "SELECT count(*) FROM results r WHERE case_str LIKE '$impl %' AND dram_read_bytes > 0
           AND l2_bytes > 0 AND kernel_ms > 0 AND (SELECT count(*) FROM kernels WHERE result_id = r.id) > 0")
    [ "${n:-0}" -ge 1 ] && ok "$impl: counters and kernels read" || no "$impl: no counters or kernels"
done

# 3. event against kernel time, every GPU op over 100 us in this database
q "SELECT case_str, median_ms, kernel_ms, 100.0 * (median_ms - kernel_ms) / median_ms
   FROM results WHERE device != 'cpu' AND kernel_ms > 0 AND median_ms > 0.1" |
while IFS='|' read -r c ev k d; do
    awk -v d="$d" 'BEGIN { exit !(d < 3 && d > -3) }' && echo "PASS event vs kernel within 3 %: $c ($ev vs $k ms, $d %)" ||
        echo "FAIL event vs kernel beyond 3 %: $c ($ev vs $k ms, $d %)"
done | tee "$OUT/event-vs-kernel.txt"
pass=$((pass + $(grep -c '^PASS' "$OUT/event-vs-kernel.txt"))); fail=$((fail + $(grep -c '^FAIL' "$OUT/event-vs-kernel.txt")))

# --timing kernel: CUPTI's kernel sums as the samples, same stopping rule.
timeout 120 "$B" run flash --impl cuda --N 4096 --H 16 --D 128 --dtype bf16 --causal --timing kernel \
    --db "$DB" >>"$OUT/profile.log" 2>&1
kt=$(q "SELECT printf('%s: %.4g ms, %d samples', status, median_ms, n_samples) FROM results
        WHERE timing = 'kernel' ORDER BY id DESC LIMIT 1")
echo "flash 4096 --timing kernel: ${kt:-none}"
[ -n "$(q "SELECT 1 FROM results WHERE timing = 'kernel' AND status GLOB 'ok*' AND median_ms > 0")" ] &&
    ok "--timing kernel" || no "--timing kernel"

# 4. decode: graph against cold
for mode in cold graph; do
    timeout 120 "$B" run flash --impl cuda --N 1 --Nk 16384 --H 32 --Hkv 8 --D 128 --dtype bf16 \
        --causal --timing $mode --db "$DB" >>"$OUT/profile.log" 2>&1
done
cold=$(q "SELECT median_ms FROM results WHERE case_str LIKE 'flash/cuda % N=1 %' AND timing = 'cold' ORDER BY id DESC LIMIT 1")
graph=$(q "SELECT median_ms FROM results WHERE case_str LIKE 'flash/cuda % N=1 %' AND timing = 'graph' ORDER BY id DESC LIMIT 1")
echo "decode 16K: cold ${cold:-?} ms, graph ${graph:-?} ms per launch"
[ -n "$cold" ] && [ -n "$graph" ] && ok "decode timed cold and as a graph" || no "decode cold/graph missing"

# 5. energy per op, flash at 16K
timeout 180 "$B" run flash --impl cuda --N 16384 --H 16 --D 128 --dtype bf16 --causal --energy \
    --db "$DB" 2>&1 | tee -a "$OUT/profile.log" | tail -n 3
e=$(q "SELECT printf('%.4g J/op at %.0f W (%s)', energy_j_per_op, power_w, energy_why) FROM results
       WHERE case_str LIKE 'flash/cuda % N=16384 %' ORDER BY id DESC LIMIT 1")
echo "flash 16K energy: ${e:-none}"
[ -n "$(q "SELECT 1 FROM results WHERE case_str LIKE 'flash/cuda % N=16384 %' AND energy_j_per_op > 0")" ] &&
    ok "energy per op" || no "no energy per op"

# 6. the ncu hand-off
if command -v ncu >/dev/null; then
    (cd "$OUT" && timeout 300 "$OLDPWD/$B" run flash --impl cuda --N 4096 --H 16 --D 128 --dtype bf16 \
        --causal --profile ncu --exec) >>"$OUT/profile.log" 2>&1 && ls "$OUT"/*.ncu-rep >/dev/null 2>&1 &&
        ok "ncu profiled the timed launches" || no "ncu hand-off"
else
    echo "ncu not on PATH: hand-off not run"
fi
echo "profile-check: $pass passed, $fail failed"
