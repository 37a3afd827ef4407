#!/usr/bin/env bash
# cli.sh — bench as a user meets it: bad input gets one clear line and a
# non-zero exit with any existing database left intact; the smoke suite on
# --device cpu stores ok rows (plain or "ok: few samples/noisy") of CPU
# implementations only, and its table beside its database; the stopping
# rule's statuses and the timing flags; --dump writes .npy files and --load
# reads them back; --help exists for every command; a GPU host whose GPU
# cannot be set up (the SEQBENCH_GPU_FAULT hook) makes verify, run and suite
# exit 1 naming why.
set -u
source "$(dirname "$0")/lib.bash"
BABS=$(cd "$(dirname "$B")" && pwd)/$(basename "$B")     # for commands run in another folder

# A database with one run in it, to prove bad input never touches it.
"$B" run flash --impl cpu --N 16 --H 1 --D 64 --db "$t/keep.db" --max-time 0.05 >/dev/null 2>&1
check "seed database created" [ -s "$t/keep.db" ]
sqlite3 "$t/keep.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
sum_before=$(md5sum <"$t/keep.db")

bad 2 "unknown family 'nope'"        run nope --db "$t/keep.db"
bad 2 "no implementation 'fast'"     run flash --impl fast --db "$t/keep.db"
bad 2 "unknown dtype 'fp7'"          run flash --dtype fp7 --db "$t/keep.db"
bad 2 "N=0"                          run flash --N 0 --db "$t/keep.db"
bad 2 "--N -5: must be a positive"   run flash --N -5 --db "$t/keep.db"
bad 2 "'abc' is not an integer"      run flash --N abc --db "$t/keep.db"
bad 2 "Hkv=3: must divide H=8"       run flash --H 8 --Hkv 3 --db "$t/keep.db"
bad 2 "causal attention needs Nk >= N" run flash --N 64 --Nk 32 --causal --db "$t/keep.db"
bad 2 "unknown option '--frobnicate'" run flash --frobnicate --db "$t/keep.db"
bad 2 "needs a value"                run flash --N
bad 2 "got the option '--N'"          run flash --metrics --N 1024
bad 2 "got the option '--dtype'"      run flash --N --dtype bf16
bad 2 "unknown command 'runn'"       runn flash
bad 2 "suite 'nosuch' not found"     suite nosuch --db "$t/keep.db"
bad 2 "expected cpu, cuda or cuda:N" run flash --device tpu:0 --db "$t/keep.db"
bad 2 "expected cold, warm, graph or kernel" run flash --timing hot --db "$t/keep.db"
bad 2 "expected cold, warm, graph or kernel" suite smoke --timing kernels --db "$t/keep.db"
bad 2 "contradicts --timing graph"   run flash --warm --timing graph --db "$t/keep.db"
bad 2 "--min-samples 0: expected 1 to" run flash --min-samples 0 --db "$t/keep.db"
bad 2 "--max-time 0: expected a positive" suite smoke --max-time 0 --db "$t/keep.db"
bad 2 "--target -1: expected a fraction" run flash --target -1 --db "$t/keep.db"
check "bad input left the database byte for byte" [ "$(md5sum <"$t/keep.db")" = "$sum_before" ]

printf 'name = broken\n[flash]\nN = 12x\n' >"$t/broken.suite"
bad 2 "broken.suite:3:" suite "$t/broken.suite" --db "$t/keep.db"

# A database from a newer seqbench, and a corrupt one: refused, untouched.
cp "$t/keep.db" "$t/newer.db"
sqlite3 "$t/newer.db" 'PRAGMA user_version = 99'
newer_sum=$(md5sum <"$t/newer.db")
bad 2 "newer" run flash --impl cpu --N 16 --H 1 --db "$t/newer.db"
check "newer database untouched" [ "$(md5sum <"$t/newer.db")" = "$newer_sum" ]
head -c 8192 /dev/urandom >"$t/corrupt.db"
corrupt_sum=$(md5sum <"$t/corrupt.db")
bad 2 "not a SQLite database" run flash --impl cpu --N 16 --H 1 --db "$t/corrupt.db"
check "corrupt database untouched" [ "$(md5sum <"$t/corrupt.db")" = "$corrupt_sum" ]
bad 2 "cannot open" run flash --impl cpu --N 16 --H 1 --db "$t/no/such/dir/x.db"

# --help for every command, and the top level.
for c in list run suite verify env; do
    "$B" $c --help >"$t/help" 2>&1; rc=$?
    check "bench $c --help exits 0" [ $rc -eq 0 ]
    check "bench $c --help shows usage" grep -q "usage: bench $c" "$t/help"
done
check "bench --help" "$B" --help >/dev/null
check "bench run --help lists the shape flags" grep -q -- "--Hkv" <("$B" run --help)
for c in run suite; do
    for f in "--timing MODE .*cold.*warm.*graph" "--warm .*--timing warm" "--min-samples N" \
             "--max-time S .*ok: few samples" "--target R .*95% confidence"; do
        check "bench $c --help: $f" grep -q -- "$f" <("$B" $c --help)
    done
done

# The stopping rule's statuses, and what is stored with them. One OpenMP
# thread: a tiny case then takes microseconds even on a loaded machine.
export OMP_NUM_THREADS=1
q() { sqlite3 "$t/stop.db" "$1"; }
"$B" run flash --impl cpu --N 256 --H 2 --D 64 --db "$t/stop.db" --max-time 0.0001 >"$t/out" 2>&1; rc=$?
check "a cap shorter than the floor still exits 0 (got $rc)" [ $rc -eq 0 ]
check "the table says few samples" grep -qE '\| ok: few samples \(1 of 10\)( \||: )' "$t/out"
check "stored: few samples, 1 sample, stopped on time, cpu timing, no noise" \
    [ "$(q "SELECT status, n_samples, stop_reason, timing, noise IS NULL FROM results ORDER BY id DESC LIMIT 1")" = "ok: few samples (1 of 10)|1|max_time|cpu|1" ]
"$B" run flash --impl cpu --N 16 --H 1 --D 64 --db "$t/stop.db" --max-time 10 --target 0.9 >"$t/out" 2>&1
check "a loose target: plain ok from 10 samples, on the target" \
    [ "$(q "SELECT status, n_samples, stop_reason, noise <= 0.9 FROM results ORDER BY id DESC LIMIT 1")" = "ok|10|target|1" ]
"$B" run flash --impl cpu --N 16 --H 1 --D 64 --db "$t/stop.db" --max-time 0.2 --target 0 --min-samples 12 >"$t/out" 2>&1
# Target 0 is met only by a zero-width interval (the clock's quantum made
# the middle samples equal); otherwise the case is noisy, with its value.
check "target 0: noisy, said with its value (or a zero-width interval)" \
    [ "$(q "SELECT (status GLOB 'ok: noisy (ci95 *% > 0%)' AND noise > 0 AND stop_reason IN ('max_time', 'max_samples')) OR (status = 'ok' AND noise = 0 AND stop_reason = 'target') FROM results WHERE n_samples >= 12 ORDER BY id DESC LIMIT 1")" = 1 ]
"$B" run flash --impl cpu --N 256 --H 4 --D 64 --db "$t/stop.db" --max-time 0.0001 --min-samples 1 >"$t/out" 2>&1
check "--min-samples 1: one sample meets the floor, but no interval: noisy" \
    [ "$(q "SELECT status GLOB 'ok: noisy (ci95 undefined with [1-5] samples)' FROM results ORDER BY id DESC LIMIT 1")" = 1 ]
"$B" run flash --impl cpu --N 16 --H 1 --D 64 --db "$t/stop.db" --timing graph --max-time 0.01 >"$t/out" 2>&1
check "--timing graph: a CPU implementation is timed as cpu, its case string unchanged" \
    [ "$(q "SELECT timing FROM results WHERE case_str = 'flash/cpu fp32 B=1 N=16 Nk=16 H=1 Hkv=1 D=64 Dv=64' ORDER BY id DESC LIMIT 1")" = cpu ]
# A GPU case without a GPU: the fault hook keeps the device cuda:0, so the
# (skipped) row carries the mode in its case string and key.
SEQBENCH_GPU_FAULT="test fault" "$B" run flash --impl cuda --N 16 --H 1 --D 64 --db "$t/stop.db" --timing graph --max-time 0.01 >"$t/out" 2>&1
check "--timing graph: a GPU case says so in its case string and key" \
    [ "$(q "SELECT count(*) FROM results WHERE case_str = 'flash/cuda fp32 B=1 N=16 Nk=16 H=1 Hkv=1 D=64 Dv=64 timing=graph' AND case_key LIKE '% timing=graph'")" = 1 ]
SEQBENCH_GPU_FAULT="test fault" "$B" run flash --impl cuda --N 16 --H 1 --D 64 --db "$t/stop.db" --warm --max-time 0.01 >"$t/out" 2>&1
check "--warm is --timing warm" \
    [ "$(q "SELECT count(*) FROM results WHERE case_str LIKE 'flash/cuda % timing=warm'")" = 1 ]
unset OMP_NUM_THREADS

# The smoke suite on the CPU: every row ok, and no row for a GPU
# implementation (the device picks the implementations).
"$B" suite smoke --device cpu --db "$t/smoke.db" --max-time 0.05 --md "$t/smoke.md" >"$t/out" 2>"$t/err"; rc=$?
check "smoke suite exits 0 (got $rc): $(tail -n 3 "$t/err")" [ $rc -eq 0 ]
rows=$(sqlite3 "$t/smoke.db" 'SELECT count(*) FROM results')
check "smoke suite stored rows ($rows)" [ "${rows:-0}" -gt 20 ]
check "smoke rows are all ok or 'ok: ...'" [ "$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results WHERE status <> 'ok' AND status NOT GLOB 'ok: *'")" -eq 0 ]
check "no row for a GPU implementation on --device cpu" [ "$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results WHERE device <> 'cpu' OR impl LIKE 'cuda%' OR impl = 'decode'")" -eq 0 ]
check "every ok row has samples" [ "$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results r WHERE status GLOB 'ok*' AND (n_samples < 1 OR n_samples <> (SELECT count(*) FROM samples s WHERE s.result_id = r.id))")" -eq 0 ]
check "every ok row says its timing and why sampling stopped" [ "$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results WHERE status GLOB 'ok*' AND (timing IS NULL OR stop_reason IS NULL)")" -eq 0 ]
check "a plain ok had its floor and its target" [ "$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results WHERE status = 'ok' AND (n_samples < 10 OR stop_reason <> 'target' OR noise > 0.01)")" -eq 0 ]
check "run row has environment" [ -n "$(sqlite3 "$t/smoke.db" "SELECT cpu_model FROM runs WHERE finished_at IS NOT NULL AND git_commit IS NOT NULL AND command LIKE '%suite smoke%'")" ]
check "run row has the input version" [ "$(sqlite3 "$t/smoke.db" "SELECT input_version FROM runs")" = "$(sed -n 's/^#define SB_INPUT_VERSION \([0-9]*\).*/\1/p' harness/seqbench.h)" ]
check "markdown table written" grep -q '^| flash/cpu' "$t/smoke.md"
check "suite --list prints cases" [ "$("$B" suite smoke --list --device cpu | wc -l)" -gt 20 ]
check "suite --list on cpu lists no GPU implementation" [ -z "$("$B" suite smoke --list --device cpu | grep -E '^[a-z]+/(cuda|decode)')" ]
check "suite --filter narrows" [ "$("$B" suite smoke --list --filter 'flash/cpu bf16*causal')" != "" ]

# The table goes beside the database (X.db -> X.md), not to results/ of the
# working directory; --no-db writes none. Run from an empty folder.
printf 'name = tiny\n[flash]\nimpls = *\nB = 1\nH = 1\nD = 16\nN = 16\n' >"$t/tiny.suite"
mkdir -p "$t/cwd" "$t/shards"
(cd "$t/cwd" && "$BABS" suite "$t/tiny.suite" --device cpu --db "$t/shards/one.db" --max-time 0.05 >/dev/null 2>&1 &&
                "$BABS" suite "$t/tiny.suite" --device cpu --db "$t/shards/two.db" --max-time 0.05 >/dev/null 2>&1)
check "--db one.db: the table is one.md beside it" grep -q '^| flash/cpu' "$t/shards/one.md"
check "--db two.db: two.md, the first kept" [ -s "$t/shards/two.md" ] && [ -s "$t/shards/one.md" ]
(cd "$t/cwd" && "$BABS" suite "$t/tiny.suite" --device cpu --no-db --max-time 0.05 >"$t/out" 2>&1)
check "--no-db prints the table" grep -q '^| flash/cpu' "$t/out"
check "nothing written to the working directory" [ -z "$(ls -A "$t/cwd")" ]

# A GPU host whose GPU cannot be set up, planted with the fault hook: the
# default device stays cuda:0, every GPU implementation is skipped with the
# reason, and the command exits 1 naming it; the CPU still works.
export SEQBENCH_GPU_FAULT="planted driver fault"
"$B" verify --family flash >"$t/out" 2>"$t/err"; rc=$?
check "GPU fault: verify exits 1 (got $rc)" [ $rc -eq 1 ]
check "GPU fault: verify says no GPU implementation ran, and why" grep -q 'verify: no GPU implementation ran on cuda:0: GPU setup failed: planted driver fault' "$t/err"
check "GPU fault: the summary counts the skipped by reason" grep -qE '^verify: 0 ok, 0 failed, ([0-9]+) skipped \(\1 GPU setup failed: planted driver fault' "$t/err"
check "GPU fault: every row is a GPU implementation, skipped with the reason" [ "$(grep -c '^| flash/' "$t/out")" -gt 0 ] && [ "$(grep '^| flash/' "$t/out" | grep -vc '^| flash/cuda.*| skipped: GPU setup failed: planted driver fault')" -eq 0 ]
"$B" verify --family flash --device cpu >/dev/null 2>&1; rc=$?
check "GPU fault: verify --device cpu exits 0 (got $rc)" [ $rc -eq 0 ]
"$B" verify --family flash --impl cpu >/dev/null 2>&1; rc=$?
check "GPU fault: verify --impl cpu runs on the CPU, exits 0 (got $rc)" [ $rc -eq 0 ]
"$B" suite "$t/tiny.suite" --db "$t/fault.db" --max-time 0.05 >/dev/null 2>"$t/err"; rc=$?
check "GPU fault: suite exits 1 (got $rc)" [ $rc -eq 1 ]
check "GPU fault: suite says why" grep -q 'suite: no GPU implementation ran on cuda:0: GPU setup failed' "$t/err"
check "GPU fault: the suite stored its GPU cases as skipped with the reason, and no CPU case" [ "$(sqlite3 "$t/fault.db" "SELECT count(*) FROM results WHERE device = 'cuda:0' AND status LIKE 'skipped: GPU setup failed: planted driver fault%'")" -gt 0 ] && [ "$(sqlite3 "$t/fault.db" "SELECT count(*) FROM results WHERE device <> 'cuda:0'")" -eq 0 ]
"$B" run flash --N 16 --H 1 --D 16 --no-db >/dev/null 2>"$t/err"; rc=$?
check "GPU fault: run exits 1 (got $rc)" [ $rc -eq 1 ] && grep -q 'run: no GPU implementation ran on cuda:0' "$t/err"
bad 2 "runs on the CPU and this run's device is cuda:0" run flash --impl cpu --device cuda:0 --N 16 --no-db
unset SEQBENCH_GPU_FAULT
bad 2 "runs on a GPU and this run's device is cpu" run flash --impl cuda --device cpu --N 16 --no-db
bad 2 "no implementation named cuda runs on cpu" verify --impl cuda --device cpu

# Dump and load: files exist, load reproduces the case, NumPy agrees.
"$B" run flash --impl cpu --N 77 --H 2 --Hkv 1 --D 64 --causal --dtype fp32 --dump "$t/d" --no-db --max-time 0.05 >"$t/out" 2>&1
for f in case.json q.npy k.npy v.npy out.npy ref.npy; do check "dump wrote $f" [ -s "$t/d/$f" ]; done
"$B" run --load "$t/d" --no-db --max-time 0.05 >"$t/out" 2>&1; rc=$?
check "run --load succeeds (exit $rc)" [ $rc -eq 0 ]
check "run --load ran the dumped case" grep -q '| flash/cpu fp32 B=1 N=77 Nk=77 H=2 Hkv=1 D=64 Dv=64 causal | ok' "$t/out"
bad 2 "cannot be combined with --load" run --load "$t/d" --N 5 --no-db
rm "$t/d/k.npy"
bad 2 "k.npy" run --load "$t/d" --no-db
# Under NumPy 1.x and 2.x (lib.bash: NUMPY_PYS).
if have_numpy; then
    "$B" run flash --impl cpu --N 77 --H 2 --Hkv 1 --D 64 --causal --dtype fp32 --dump "$t/np" --no-db --max-time 0.05 >/dev/null 2>&1
    for c in "linear" "gated --gate key" "gated --gate head" "delta --gate none" "delta --gate head"; do
        d="$t/rec_${c// /_}"
        "$B" run $c --impl ref --N 70 --H 2 --Hv 4 --D 16 --Dv 24 --state --dump "$d" --no-db --max-time 0.05 >/dev/null 2>&1
    done
    for py in "${NUMPY_PYS[@]}"; do
        v=$("$py" -c 'import numpy; print(numpy.__version__)')
        check "out.npy matches a float64 NumPy attention (NumPy $v)" "$py" tests/npy_check.py "$t/np"
        for c in "linear" "gated --gate key" "gated --gate head" "delta --gate none" "delta --gate head"; do
            check "$c: ref, out and final state match a float64 NumPy recurrence (NumPy $v)" "$py" tests/rec_check.py "$t/rec_${c// /_}"
        done
    done
fi

# The time budget: a case predicted (from the impl's largest measured case,
# scaled by FLOPs) to overrun what is left is recorded as skipped, not run.
printf 'budget = 0.3\n[flash]\nimpls = cpu\nB = 1\nH = 4\nD = 64\nN = 1024 2048\n' >"$t/budget.suite"
"$B" suite "$t/budget.suite" --device cpu --db "$t/budget.db" --max-time 0.25 >/dev/null 2>&1
check "a case predicted over the budget is skipped, saying so" [ "$(sqlite3 "$t/budget.db" "SELECT count(*) FROM results WHERE N = 2048 AND status LIKE 'skipped: predicted % over the % left of the suite''s budget'")" = 1 ]
check "the first case of the suite ran" [ "$(sqlite3 "$t/budget.db" "SELECT status GLOB 'ok*' FROM results WHERE N = 1024")" = 1 ]

# verify: CPU implementations pass; GPU ones are skipped here, never passed.
"$B" verify --family flash --impl cpu >"$t/out" 2>"$t/err"; rc=$?
check "verify flash/cpu exits 0 (got $rc)" [ $rc -eq 0 ]
check "verify reports its counts" grep -q 'verify: [1-9][0-9]* ok, 0 failed' "$t/err"

summary
