#!/usr/bin/env bash
# robust.sh — what a suite survives, without a GPU:
#   1. isolation: a case that crashes (SIGSEGV), exits without a result or
#      hangs (--case-timeout) is one error row and the suite goes on
#      (test-only implementations: SEQBENCH_TEST_IMPLS=1); a GPU device's
#      suite is isolated by default; --no-db --isolate leaves nothing behind;
#   2. kill -9 during `bench suite smoke`, then --resume: no finished case
#      lost or measured again, none stored twice, PRAGMA integrity_check ok;
#      the unfinished run is left out of export and report until then;
#      --retry-failed replaces an error row, --resume alone keeps it;
#   3. two suites at once on one device: the second waits (saying for whom),
#      no two results' started_at..finished_at overlap, no row lost;
#      --lock-wait 0 refuses with the holder (exit 2);
#   4. a database whose page 2 header was overwritten: refused, byte for
#      byte as it was, no -wal or -shm made;
#   5. a writer holding the database lock for 7 s (past the 5 s busy
#      timeout): the suite waits and stores everything, exit 0;
#   6. a case the suite lists twice runs once, said once;
#   7. SIGTERM and SIGINT finish the case in flight, store it and exit 143
#      and 130 (isolated too); the run stays unfinished and --resume ends it;
#   8. every result has started_at <= finished_at, in ms.
set -u
source "$(dirname "$0")/lib.bash"

export SEQBENCH_LOCK_DIR=$t/locks SEQBENCH_TEST_IMPLS=1
mkdir -p "$SEQBENCH_LOCK_DIR"
q() { sqlite3 "$1" "$2"; }
FAST=(--device cpu --max-time 0.05)

# ---- 1. isolation ------------------------------------------------------------------
printf '%s\n' 'name = crashy' '[selftest]' 'impls = cpu crash exit' 'B = 1' 'N = 8 16' 'D = 4' >"$t/crashy.suite"
"$B" suite "$t/crashy.suite" "${FAST[@]}" --isolate --db "$t/iso.db" >"$t/out" 2>"$t/err"; rc=$?
check "isolated: a crash is a failure found, exit 1 (got $rc)" [ $rc -eq 1 ]
check "isolated: every case stored, 6" [ "$(q "$t/iso.db" 'SELECT count(*) FROM results')" -eq 6 ]
check "isolated: the crashes are one error row each, killed by SIGSEGV" \
    [ "$(q "$t/iso.db" "SELECT count(*) FROM results WHERE impl = 'crash' AND status = 'error: child killed by SIGSEGV (isolated case)'")" -eq 2 ]
check "isolated: the exits say the code and that no result came" \
    [ "$(q "$t/iso.db" "SELECT count(*) FROM results WHERE impl = 'exit' AND status = 'error: child exited 3 without a result (isolated case)'")" -eq 2 ]
check "isolated: the suite went on: the case after a crash is ok" \
    [ "$(q "$t/iso.db" "SELECT status FROM results WHERE case_str = 'selftest/cpu fp32 B=1 N=16 D=4'")" = ok ]
check "isolated: the ok rows were stored by the children with their samples" \
    [ "$(q "$t/iso.db" "SELECT count(*) FROM samples s JOIN results r ON r.id = s.result_id WHERE r.impl = 'cpu'")" -gt 0 ]
check "isolated: the table shows every row" [ "$(grep -c '^| selftest/' "$t/out")" -eq 6 ]
check "isolated: said on stderr" grep -q 'on cpu (isolated)' "$t/err"
check "isolated: the run finished" [ -n "$(q "$t/iso.db" 'SELECT finished_at FROM runs')" ]
"$B" suite "$t/crashy.suite" "${FAST[@]}" --db "$t/inproc.db" >/dev/null 2>&1; rc=$?
check "not isolated (the default on cpu): the crash takes the suite down (signal, got $rc)" [ $rc -ge 128 ]
check "not isolated: the run stays unfinished" [ -z "$(q "$t/inproc.db" 'SELECT finished_at FROM runs')" ]
"$B" suite "$t/crashy.suite" "${FAST[@]}" --db "$t/inproc.db" >/dev/null 2>"$t/err"
check "the same configuration again without --resume: a new run, and a hint" \
    grep -q 'did not finish; --resume would continue it' "$t/err"
# The case after the hang crashes at once, within the timeout: its own row.
printf '%s\n' 'name = hangs' '[selftest]' 'impls = hang crash' 'N = 8' >"$t/hang.suite"
"$B" suite "$t/hang.suite" "${FAST[@]}" --isolate --case-timeout 1 --db "$t/hang.db" >/dev/null 2>&1; rc=$?
check "a hang killed after --case-timeout 1: an error row (exit $rc)" \
    [ "$(q "$t/hang.db" "SELECT status FROM results WHERE impl = 'hang'")" = 'error: child killed after 1 s (--case-timeout) (isolated case)' ]
check "a hang: the next case ran" \
    [ "$(q "$t/hang.db" "SELECT status FROM results WHERE impl = 'crash'")" = 'error: child killed by SIGSEGV (isolated case)' ]
mkdir -p "$t/scratch"
TMPDIR=$t/scratch "$B" suite "$t/crashy.suite" "${FAST[@]}" --isolate --no-db >"$t/out" 2>&1; rc=$?
check "--no-db --isolate: the rows in the table (exit $rc)" [ "$(grep -c '^| selftest/' "$t/out")" -eq 6 ]
check "--no-db --isolate: its scratch database is gone" [ -z "$(ls -A "$t/scratch")" ]
SEQBENCH_GPU_FAULT=test "$B" suite smoke --db "$t/gpu.db" --filter flash/cuda >/dev/null 2>"$t/err"
check "a GPU device's suite is isolated by default" grep -q 'on cuda:0 (isolated)' "$t/err"
check "isolated on a GPU that cannot be set up: every case a skip naming why" \
    [ "$(q "$t/gpu.db" "SELECT count(*) FROM results WHERE status NOT LIKE 'skipped: GPU setup failed: test%'")" -eq 0 ]
bad 2 "contradict" suite smoke --isolate --no-isolate --list

# ---- 2. kill -9, then --resume -------------------------------------------------------
n_smoke=$("$B" suite smoke --device cpu --list | wc -l)
"$B" suite smoke "${FAST[@]}" --db "$t/k.db" >/dev/null 2>&1 & pid=$!
for _ in $(seq 600); do
    [ "$(q "$t/k.db" 'SELECT count(*) FROM results' 2>/dev/null || echo 0)" -ge 12 ] && break
    sleep 0.1
done
kill -9 $pid; wait $pid 2>/dev/null
q "$t/k.db" 'SELECT id, case_str, status, median_ms FROM results ORDER BY id' >"$t/before"
n_before=$(wc -l <"$t/before")
check "killed mid-suite with results stored ($n_before of $n_smoke)" [ "$n_before" -ge 12 ] && [ "$n_before" -lt "$n_smoke" ]
check "the killed run is unfinished" [ "$(q "$t/k.db" 'SELECT count(*) FROM runs WHERE finished_at IS NULL')" -eq 1 ]
"$B" export --db "$t/k.db" --format csv >"$t/x.csv" 2>&1
check "export leaves the unfinished run out" [ "$(wc -l <"$t/x.csv")" -eq 1 ]
"$B" export --db "$t/k.db" --format csv --include-unfinished >"$t/x.csv" 2>&1
check "export --include-unfinished takes it" [ "$(wc -l <"$t/x.csv")" -eq $((n_before + 1)) ]
if have gnuplot command -v gnuplot; then
    "$B" report --db "$t/k.db" --out "$t/rep" >/dev/null 2>"$t/err"; rc=$?
    check "report refuses a database with no finished run, saying so (exit $rc)" [ $rc -eq 2 ] && grep -q 'no run finished' "$t/err"
    "$B" report --db "$t/k.db" --out "$t/rep" --include-unfinished >/dev/null 2>&1
    check "report --include-unfinished reports it" [ -s "$t/rep/index.html" ]
fi
"$B" suite smoke "${FAST[@]}" --db "$t/k.db" --resume >"$t/out" 2>"$t/err"; rc=$?
check "--resume exits 0 (got $rc: $(tail -n 1 "$t/err"))" [ $rc -eq 0 ]
check "--resume says which run" grep -q "resuming run $(q "$t/k.db" 'SELECT run_uid FROM runs WHERE id = 1')" "$t/err"
check "--resume: one run, finished now" [ "$(q "$t/k.db" 'SELECT count(*) || " " || count(finished_at) FROM runs')" = "1 1" ]
check "--resume: every case once ($n_smoke)" \
    [ "$(q "$t/k.db" 'SELECT count(*) || " " || count(DISTINCT case_str) FROM results')" = "$n_smoke $n_smoke" ]
q "$t/k.db" "SELECT id, case_str, status, median_ms FROM results WHERE id <= $(tail -n 1 "$t/before" | cut -d'|' -f1) ORDER BY id" >"$t/after"
check "--resume: every finished case kept as it was, none measured again" cmp -s "$t/before" "$t/after"
check "--resume: they are shown as stored earlier" [ "$(grep -c ': stored earlier: ' "$t/err")" -eq "$n_before" ]
check "--resume: the table holds every case" [ "$(grep -c '^| ' "$t/out")" -eq $((n_smoke + 1)) ]
check "PRAGMA integrity_check: ok" [ "$(q "$t/k.db" 'PRAGMA integrity_check')" = ok ]
check "no sample without its result" [ "$(q "$t/k.db" 'SELECT count(*) FROM samples WHERE result_id NOT IN (SELECT id FROM results)')" -eq 0 ]
"$B" suite smoke "${FAST[@]}" --db "$t/k.db" --resume --filter 'softmax/ref fp32' >/dev/null 2>"$t/err"
check "--resume with nothing unfinished of its configuration: a new run" \
    grep -q 'no unfinished run of this configuration' "$t/err"
# An error row in an unfinished run: --resume keeps it, --retry-failed replaces it.
q "$t/k.db" "UPDATE runs SET finished_at = NULL WHERE id = 1;
             UPDATE results SET status = 'error: planted' WHERE id = (SELECT min(id) FROM results WHERE run_id = 1)"
planted=$(q "$t/k.db" "SELECT case_str FROM results WHERE status = 'error: planted'")
"$B" suite smoke "${FAST[@]}" --db "$t/k.db" --resume >/dev/null 2>&1
check "--resume keeps an error row" [ "$(q "$t/k.db" "SELECT count(*) FROM results WHERE status = 'error: planted'")" -eq 1 ]
q "$t/k.db" "UPDATE runs SET finished_at = NULL WHERE id = 1"
"$B" suite smoke "${FAST[@]}" --db "$t/k.db" --retry-failed >/dev/null 2>&1
check "--retry-failed replaces it: the case ok, once" \
    [ "$(q "$t/k.db" "SELECT group_concat(substr(status, 1, 2)) FROM results WHERE run_id = 1 AND case_str = '$planted'")" = ok ]
check "--retry-failed: still every case once in the run" \
    [ "$(q "$t/k.db" 'SELECT count(*) || " " || count(DISTINCT case_str) FROM results WHERE run_id = 1')" = "$n_smoke $n_smoke" ]
bad 2 "--no-db has none" suite smoke --resume --no-db

# ---- 3. two suites at once on one device ------------------------------------------------
"$B" suite smoke "${FAST[@]}" --db "$t/two.db" --filter flash >/dev/null 2>"$t/a.err" & a=$!
for _ in $(seq 300); do grep -q 'cases on cpu' "$t/a.err" && break; sleep 0.05; done     # it holds the lock
"$B" suite smoke "${FAST[@]}" --db "$t/two.db" --filter softmax >/dev/null 2>"$t/b.err" & b=$!
"$B" suite smoke "${FAST[@]}" --db "$t/three.db" --filter softmax --lock-wait 0 >/dev/null 2>"$t/c.err"; rc=$?
wait $a; ra=$?; wait $b; rb=$?
check "two suites at once: both exit 0 ($ra, $rb)" [ $ra -eq 0 ] && [ $rb -eq 0 ]
check "the second said it waits, and for whom" grep -q "bench: cpu is in use by pid $a since .*suite smoke" "$t/b.err"
check "--lock-wait 0: refused, exit 2 (got $rc)" [ $rc -eq 2 ] && grep -q 'cpu is in use by pid' "$t/c.err"
n_flash=$("$B" suite smoke --device cpu --list --filter flash | wc -l)
n_soft=$("$B" suite smoke --device cpu --list --filter softmax | wc -l)
check "no row lost: $n_flash + $n_soft" [ "$(q "$t/two.db" 'SELECT count(*) FROM results')" -eq $((n_flash + n_soft)) ]
check "no two results' started_at..finished_at overlap" [ "$(q "$t/two.db" \
    'SELECT count(*) FROM results a JOIN results b ON a.run_id < b.run_id
     WHERE a.started_at < b.finished_at AND b.started_at < a.finished_at')" -eq 0 ]

# ---- 4. a corrupt page -------------------------------------------------------------------
"$B" run flash --impl cpu --N 16 --H 1 --D 16 --db "$t/c.db" --max-time 0.05 >/dev/null 2>&1
printf '\377\377\377\377\377\377\377\377' | dd of="$t/c.db" bs=1 seek=4096 conv=notrunc 2>/dev/null
sum=$(md5sum <"$t/c.db")
bad 2 "corrupt SQLite database (PRAGMA quick_check" suite "$t/crashy.suite" "${FAST[@]}" --db "$t/c.db"
check "suite: the corrupt database is byte for byte as it was" [ "$(md5sum <"$t/c.db")" = "$sum" ]
bad 2 "quick_check" run flash --impl cpu --N 16 --H 1 --D 16 --db "$t/c.db"
check "run: byte for byte as it was" [ "$(md5sum <"$t/c.db")" = "$sum" ]
check "and no -wal or -shm beside it" [ -z "$(ls "$t"/c.db-* 2>/dev/null)" ]

# ---- 5. a writer holding the database for 7 s ---------------------------------------------
"$B" run flash --impl cpu --N 16 --H 1 --D 16 --db "$t/busy.db" --max-time 0.05 >/dev/null 2>&1
if have "python3 (Debian's)" "$PY" -c 'import sqlite3'; then
    "$PY" -c '
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(7)
db.execute("COMMIT")' "$t/busy.db" "$t/holding" & holder=$!
    for _ in $(seq 200); do [ -e "$t/holding" ] && break; sleep 0.05; done
    "$B" suite smoke "${FAST[@]}" --db "$t/busy.db" --filter 'flash/cpu fp32' >/dev/null 2>"$t/err"; rc=$?
    wait $holder
    n=$("$B" suite smoke --device cpu --list --filter 'flash/cpu fp32' | wc -l)
    check "a 7 s write lock: the suite waits and exits 0 (got $rc: $(tail -n 1 "$t/err"))" [ $rc -eq 0 ]
    check "it said it waits" grep -q 'has held the write lock for 5 s; .* waits for it' "$t/err"
    check "every case stored ($n)" [ "$(q "$t/busy.db" 'SELECT count(*) FROM results WHERE run_id = 2')" -eq "$n" ]
fi

# ---- 6. a case listed twice ---------------------------------------------------------------------
printf '%s\n' 'name = twice' '[selftest]' 'impls = cpu' 'N = 8 16 8' '[selftest again]' 'impls = cpu' 'N = 16' >"$t/twice.suite"
"$B" suite "$t/twice.suite" "${FAST[@]}" --db "$t/twice.db" >/dev/null 2>"$t/err"; rc=$?
check "a suite listing a case twice runs (exit $rc)" [ $rc -eq 0 ]
check "each case once" [ "$(q "$t/twice.db" 'SELECT count(*) || " " || count(DISTINCT case_str) FROM results')" = "2 2" ]
check "said once per case" [ "$(grep -c 'comes [0-9] times' "$t/err")" -eq 2 ]
check "naming the sections" grep -q "case 'selftest/cpu fp32 B=1 N=16 D=16' comes 2 times (the sections at lines 2 and 5); it runs once" "$t/err"
check "--list lists it once" [ "$("$B" suite "$t/twice.suite" --device cpu --list 2>/dev/null | wc -l)" -eq 2 ]

# ---- 7. SIGTERM and SIGINT ---------------------------------------------------------------------
# Cases of about a second each (a run of 4 MiB in and out takes a
# millisecond or more; 1000 samples wanted, a 0.8 s cap), so a signal
# lands inside one.
printf '%s\n' 'name = slow' '[selftest]' 'impls = cpu' 'N = 1024 1040 1056 1072 1088 1104' 'D = 1024' >"$t/slow.suite"
SLOW=(--device cpu --max-time 0.8 --target 0 --min-samples 1000)
for sig in TERM INT; do
    for iso in --no-isolate --isolate; do
        db=$t/sig-$sig$iso.db
        "$B" suite "$t/slow.suite" "${SLOW[@]}" $iso --db "$db" >/dev/null 2>"$t/err" & pid=$!
        for _ in $(seq 300); do
            [ "$(q "$db" 'SELECT count(*) FROM results' 2>/dev/null || echo 0)" -ge 1 ] && break
            sleep 0.05
        done
        sleep 0.3
        kill -$sig $pid; wait $pid; rc=$?
        want=$([ $sig = TERM ] && echo 143 || echo 130)
        done_n=$(grep -c '^\[' "$t/err")
        check "SIG$sig ($iso): exit $want (got $rc)" [ $rc -eq $want ]
        check "SIG$sig ($iso): stopped early ($done_n of 6)" [ "$done_n" -lt 6 ]
        check "SIG$sig ($iso): the case in flight finished and was stored ($done_n shown, $(q "$db" 'SELECT count(*) FROM results') stored)" \
            [ "$(q "$db" "SELECT count(*) FROM results WHERE status LIKE 'ok%'")" -eq "$done_n" ] && [ "$done_n" -ge 2 ]
        check "SIG$sig ($iso): the run stays unfinished, said so" \
            [ -z "$(q "$db" 'SELECT finished_at FROM runs')" ] && grep -q -- '--resume continues the run' "$t/err"
    done
done
"$B" suite "$t/slow.suite" "${SLOW[@]}" --no-isolate --db "$t/sig-TERM--no-isolate.db" --resume >/dev/null 2>&1
check "after SIGTERM, --resume ends the run" [ -n "$(q "$t/sig-TERM--no-isolate.db" 'SELECT finished_at FROM runs')" ]

# ---- 8. started_at, finished_at -----------------------------------------------------------------
check "every result has started_at <= finished_at, in ms since the epoch" [ "$(q "$t/k.db" \
    "SELECT count(*) FROM results WHERE started_at IS NULL OR finished_at < started_at
     OR started_at < 1600000000000 OR finished_at > 1000 * (strftime('%s', 'now') + 60)")" -eq 0 ]

summary
