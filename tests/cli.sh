#!/usr/bin/env bash
# cli.sh — bench as a user meets it: bad input gets one clear line and a
# non-zero exit with any existing database left intact; the smoke suite
# stores only ok or "skipped: no CUDA device" rows; --dump writes .npy files
# and --load reads them back; --help exists for every command.
set -u
source "$(dirname "$0")/lib.bash"

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
bad 2 "unknown command 'runn'"       runn flash
bad 2 "suite 'nosuch' not found"     suite nosuch --db "$t/keep.db"
bad 2 "expected cpu, cuda or cuda:N" run flash --device tpu:0 --db "$t/keep.db"
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

# The smoke suite: every row ok, or skipped for want of a GPU.
"$B" suite smoke --db "$t/smoke.db" --max-time 0.05 --md "$t/smoke.md" >"$t/out" 2>"$t/err"; rc=$?
check "smoke suite exits 0 (got $rc): $(tail -n 3 "$t/err")" [ $rc -eq 0 ]
rows=$(sqlite3 "$t/smoke.db" 'SELECT count(*) FROM results')
check "smoke suite stored rows ($rows)" [ "${rows:-0}" -gt 20 ]
if "$B" env | grep -q '^| gpu | none'; then
    odd=$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results WHERE status <> 'ok' AND status NOT LIKE 'skipped: no CUDA device%' AND status NOT LIKE 'skipped: built without CUDA%'")
    check "smoke rows are all ok or skipped: no CUDA device ($odd others)" [ "$odd" -eq 0 ]
    check "GPU rows are skipped, never ok" [ "$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results WHERE device LIKE 'cuda%' AND status = 'ok'")" -eq 0 ]
else
    check "a GPU is present: no smoke row skipped for want of one" \
        [ "$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results WHERE status LIKE 'skipped: no CUDA device%'")" -eq 0 ]
fi
check "every ok row has samples" [ "$(sqlite3 "$t/smoke.db" "SELECT count(*) FROM results r WHERE status='ok' AND n_samples <> (SELECT count(*) FROM samples s WHERE s.result_id = r.id)")" -eq 0 ]
check "run row has environment" [ -n "$(sqlite3 "$t/smoke.db" "SELECT cpu_model FROM runs WHERE finished_at IS NOT NULL AND git_commit IS NOT NULL AND command LIKE '%suite smoke%'")" ]
check "markdown table written" grep -q '^| flash/cpu' "$t/smoke.md"
check "suite --list prints cases" [ "$("$B" suite smoke --list | wc -l)" -gt 20 ]
check "suite --filter narrows" [ "$("$B" suite smoke --list --filter 'flash/cpu bf16*causal')" != "" ]

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
check "the first case of the suite ran" [ "$(sqlite3 "$t/budget.db" "SELECT status FROM results WHERE N = 1024")" = ok ]

# verify: CPU implementations pass; GPU ones are skipped here, never passed.
"$B" verify --family flash --impl cpu >"$t/out" 2>"$t/err"; rc=$?
check "verify flash/cpu exits 0 (got $rc)" [ $rc -eq 0 ]
check "verify reports its counts" grep -q 'verify: [1-9][0-9]* ok, 0 failed' "$t/err"

summary
