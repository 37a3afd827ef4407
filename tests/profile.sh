#!/usr/bin/env bash
# profile.sh — profiling as a user meets it on a machine without a GPU:
#   - bench names CUPTI, NVML and NVTX but links neither library (ldd);
#   - bench env --calibrate measures and caches the CPU's ceilings, exit 0;
#     bench env says where CUPTI and NVML are, or why not ($SEQBENCH_NVML,
#     $SEQBENCH_CUPTI naming missing files);
#   - --metrics: an unknown metric is one line and exit 2 before anything is
#     stored; the default set's passes are printed; without CUPTI one line
#     names the fix and the run goes on;
#   - a run stores the measured ceilings, NVML's absence, the predicted and
#     measured host memory, % of the measured ceiling;
#   - --profile ncu|nsys prints the commands, --exec runs them (a stand-in
#     ncu on PATH records its arguments);
#   - merge copies the per-kernel rows; the report shows the profiling and
#     kernel tables of a result that has them.
set -u
source "$(dirname "$0")/lib.bash"
export SEQBENCH_CACHE_DIR=$t/cache
run_q="--N 64 --H 2 --D 32 --max-time 0.05"

# --- the binary -------------------------------------------------------------
if grep -q -- '-DSB_HAVE_CUPTI' build/flags 2>/dev/null; then
    strings "$B" >"$t/strings"
    check "strings names libcupti.so.13" grep -q 'libcupti\.so\.13' "$t/strings"
    check "strings names libnvidia-ml.so.1" grep -q 'libnvidia-ml\.so\.1' "$t/strings"
    check "strings names NVTX's injection variable" grep -q 'NVTX_INJECTION64_PATH' "$t/strings"
    ldd "$B" >"$t/ldd"
    check "ldd names no CUPTI" sh -c "! grep -qi cupti '$t/ldd'"
    check "ldd names no NVML" sh -c "! grep -qi nvidia-ml '$t/ldd'"
else
    skip "built without CUDA or cupti.h: no CUPTI, NVML or NVTX to find in the binary"
fi

# --- bench env --------------------------------------------------------------
"$B" env --calibrate >"$t/out" 2>"$t/err"; rc=$?
check "env --calibrate exits 0 without a GPU (rc $rc: $(head -c 200 "$t/err"))" [ $rc -eq 0 ]
check "env --calibrate measured the CPU's roofs" grep -q 'cpu compute roof (fp32 FMA loop, [0-9]* threads, re-measured) | [0-9.]* GFLOP/s' "$t/out"
check "env --calibrate cached them" sh -c "ls '$t/cache' | grep -q '^cpu-ceilings-'"
check "env --calibrate says no GPU was measured" grep -q '| gpu | none measured: ' "$t/out"
SEQBENCH_NVML=$t/none/libnvidia-ml.so.1 SEQBENCH_CUPTI=$t/none/libcupti.so.13 "$B" env >"$t/out" 2>&1
check "env: NVML's absence named" grep -q "| NVML (loaded at run time) | NVML not found (SEQBENCH_NVML=$t/none/" "$t/out"
if grep -q -- '-DSB_HAVE_CUPTI' build/flags 2>/dev/null; then
    check "env: CUPTI's absence named" grep -q "| CUPTI (loaded at run time) | CUPTI not found (SEQBENCH_CUPTI=$t/none/" "$t/out"
    "$B" env >"$t/out" 2>&1
    check "env: the toolkit's CUPTI found" grep -q '| CUPTI (loaded at run time) | API 13' "$t/out"
fi

# --- --metrics --------------------------------------------------------------
bad 2 "an empty metric name" run flash --impl cpu $run_q --metrics a.sum,,b.sum --db "$t/m.db"
if grep -q -- '-DSB_HAVE_CUPTI' build/flags 2>/dev/null; then
    # Names are checked by CUPTI's host API, which needs no GPU.
    bad 2 "unknown metric 'bogus__nothing.sum'" run flash --impl cpu $run_q --metrics dram__bytes_read.sum,bogus__nothing.sum --db "$t/m.db"
    check "an unknown metric stores nothing" [ ! -e "$t/m.db" ]
    "$B" run flash --impl cpu $run_q --metrics default --db "$t/m.db" >"$t/out" 2>"$t/err"; rc=$?
    check "--metrics default on the CPU device runs (rc $rc)" [ $rc -eq 0 ]
    check "the passes are printed first" grep -q 'counters: 6 metrics, 1 pass per kernel on GH100' "$t/err"
    check "and that a CPU device reads none" grep -q 'not a GPU: none will be read' "$t/err"
fi
SEQBENCH_CUPTI=$t/none/libcupti.so.13 "$B" run flash --impl cpu $run_q --metrics default --db "$t/m.db" >"$t/out" 2>"$t/err"; rc=$?
check "without CUPTI --metrics goes on (rc $rc)" [ $rc -eq 0 ]
check "one line names why and the fix: $(cat "$t/err")" grep -q 'no counters: .*timing goes on (install CUPTI' "$t/err"
check "... and only one" [ "$(grep -c 'no counters' "$t/err")" -eq 1 ]
check "the run's rows are stored" [ "$(sqlite3 "$t/m.db" "SELECT count(*) FROM results WHERE status GLOB 'ok*'")" -ge 1 ]

# --- what a run stores ------------------------------------------------------
q() { sqlite3 "$t/m.db" "$1"; }
check "runs.calibration_json holds the CPU's ceilings" [ -n "$(q "SELECT 1 FROM runs WHERE json_extract(calibration_json, '\$.cpu_fma_gflops') > 0")" ]
check "runs.nvml_why says why there is no GPU state" [ -n "$(q "SELECT 1 FROM runs WHERE nvml_why GLOB '*no GPU*' AND gpu_sm_clock_mhz IS NULL")" ]
check "a CPU result: footprint predicted = the host bytes" [ "$(q "SELECT count(*) FROM results WHERE status GLOB 'ok*' AND footprint_predicted = footprint_bytes AND footprint_predicted > 0")" -ge 1 ]
check "a CPU result: host peak growth measured" [ "$(q "SELECT count(*) FROM results WHERE status GLOB 'ok*' AND host_peak_bytes >= 0")" -ge 1 ]
check "a CPU result: % of the measured ceiling beside % of bound" [ "$(q "SELECT count(*) FROM results WHERE status GLOB 'ok*' AND pct_bound_measured > 0 AND roof_flops_measured = roof_flops")" -ge 1 ]
check "a CPU result: no GPU fields" [ "$(q "SELECT count(*) FROM results WHERE status GLOB 'ok*' AND kernel_ms IS NULL AND counters_why IS NULL AND pool_peak_bytes IS NULL AND throttled_samples IS NULL")" -ge 1 ]

# A GPU host whose GPU fails: skipped GPU rows, a prediction beside each.
SEQBENCH_GPU_FAULT=test "$B" run flash --impl cuda $run_q --metrics default --energy --db "$t/m.db" >"$t/out" 2>"$t/err"; rc=$?
check "a failed GPU with --metrics --energy exits 1 (rc $rc)" [ $rc -eq 1 ]
check "its row is skipped with the prediction kept" [ "$(q "SELECT count(*) FROM results WHERE impl = 'cuda' AND status GLOB 'skipped: *' AND footprint_predicted > 0 AND energy_j_per_op IS NULL")" -eq 1 ]

# --- --profile ---------------------------------------------------------------
"$B" run flash --impl cpu $run_q --dtype bf16 --profile ncu --db "$t/p.db" >"$t/out" 2>"$t/err"; rc=$?
check "--profile ncu prints and exits 0 (rc $rc)" [ $rc -eq 0 ]
check "one ncu command, filtering on the timed range" grep -q '^ncu --nvtx --nvtx-include seqbench@timed/ .* -o flash_cpu_bf16_B=1_N=64_Nk=64_H=2_Hkv=2_D=32_Dv=32 .*/bench run flash .*--impl cpu$' "$t/out"
check "nothing ran, nothing stored" [ ! -e "$t/p.db" ]
SEQBENCH_GPU_FAULT=test "$B" run flash $run_q --profile nsys >"$t/out" 2>&1
check "--profile nsys: one command per GPU implementation" [ "$(grep -c '^nsys profile .*--capture-range=nvtx --nvtx-capture=timed@seqbench' "$t/out")" -eq "$(grep -c ' --impl ' "$t/out")" ]
check "... and at least two" [ "$(grep -c '^nsys profile' "$t/out")" -ge 2 ]
bad 2 "expected ncu or nsys" run flash --profile nvprof
bad 2 "give --profile ncu|nsys" run flash --exec
# A stand-in ncu that records its arguments, then runs the command it wraps.
mkdir -p "$t/bin"
cat >"$t/bin/ncu" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$t/ncu.args"
while [ "\$1" != "-o" ]; do shift; done; shift 2
exec "\$@"
EOF
chmod +x "$t/bin/ncu"
PATH=$t/bin:$PATH "$B" run flash --impl cpu $run_q --profile ncu --exec >"$t/out" 2>"$t/err"; rc=$?
check "--exec runs the command (rc $rc: $(tail -n 2 "$t/err"))" [ $rc -eq 0 ]
check "the profiler got the NVTX filter" grep -qx 'seqbench@timed/' "$t/ncu.args"
check "and bench's one timed sample, unstored" sh -c "grep -qx -- '--no-db' '$t/ncu.args' && grep -qx -- '--min-samples' '$t/ncu.args'"
check "the wrapped run printed its table" grep -q '^| flash/cpu fp32 B=1 N=64' "$t/out"
PATH=/usr/bin:/bin "$B" run flash --impl cpu $run_q --profile ncu --exec >"$t/out" 2>"$t/err"; rc=$?
check "--exec without ncu on PATH: exit 2 (rc $rc)" [ $rc -eq 2 ]

# --- merge and report carry the per-kernel breakdown ---------------------------
rid=$(q "SELECT id FROM results WHERE status GLOB 'ok*' ORDER BY id LIMIT 1")
q "UPDATE results SET kernel_ms = median_ms * 0.75, dram_read_bytes = 1.5e9, energy_j_per_op = 0.25,
   power_w = 400, throttled_samples = 1, counters_why = 'counters: planted reason' WHERE id = $rid;
   INSERT INTO kernels VALUES ($rid, 0, 'planted_kernel_a', '64x1x1', '128x1x1', 96, 4096, 1500, 1);
   INSERT INTO kernels VALUES ($rid, 1, 'planted_kernel_b', '8x1x1', '256x1x1', 32, 0, 500, 2);"
"$B" merge "$t/m.db" -o "$t/merged.db" >"$t/out" 2>&1
check "merge copies the kernels: $(cat "$t/out")" grep -q ', 2 kernels)' "$t/out"
check "the merged kernels point at the merged result" [ "$(sqlite3 "$t/merged.db" "SELECT count(*) FROM kernels k JOIN results r ON r.id = k.result_id WHERE r.kernel_ms > 0 AND k.name GLOB 'planted_kernel_*'")" -eq 2 ]
if have gnuplot command -v gnuplot; then
    "$B" report --db "$t/merged.db" --run all --out "$t/report" >"$t/out" 2>&1; rc=$?
    check "report with profiling data (rc $rc)" [ $rc -eq 0 ]
    html=$t/report/index.html
    check "the profiling table" grep -q 'profiling (CUPTI, NVML' "$html"
    check "the reason shown" grep -q 'counters: planted reason' "$html"
    check "the kernel table, both kernels" [ "$(grep -c 'planted_kernel_' "$html")" -eq 2 ]
    check "kernel b's share of the kernel time: 1000 of 2500 ns" grep -q '>40\.0</td>' "$html"
    check "the runs table names the measured ceilings" grep -q 'measured ceilings' "$html"
fi
summary
