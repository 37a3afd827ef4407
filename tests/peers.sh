#!/usr/bin/env bash
# peers.sh — peers (ext:<peer>) end to end through their worker processes,
# with the NumPy test adapters of tests/peers/ (no torch needed):
#   - bench list impls shows every adapter of ops/peers/peers.c with its
#     install state, and flash/cudnn; the test adapters as installed, an
#     adapter whose distribution is missing as not installed, with how;
#   - a correct adapter is validated, timed and stored with its versions and
#     numerics (impl_info), beside seqbench's rows, under NumPy 1.x and 2.x;
#     bench verify runs it over the edge shapes (Nk > N causal, GQA, MQA);
#   - a wrong output is a mismatch; a wrong shape, a worker that exits while
#     preparing, one that crashes while timed, one that hangs past the time
#     limit (prepare, samples) are each one error row, and the suite goes on
#     with a new worker for the next case;
#   - a peer that is not installed: a skipped row only when --impl names it;
#     left out of a run without --impl and of suites;
#   - report, export and compare carry the peer's rows like any other;
#   - no worker outlives bench; the GPU timer's protocol on a fake torch;
#   - on a GPU, the GPU peers that are installed: ok or skipped with a reason.
set -u
. "$(dirname "$0")/lib.bash"

have_numpy || { summary; exit; }
export SEQBENCH_PEER_ADAPTERS=$ROOT/tests/peers/adapters
export SEQBENCH_PYTHON=$PY
workers() { pgrep -f "$ROOT/bin/../ops/peers/worker.py" | wc -l; }
status_of() {   # db impl -> the stored status of its latest row
    sqlite3 "$1" "SELECT status FROM results WHERE impl = '$2' ORDER BY id DESC LIMIT 1"
}

# ---- install states ------------------------------------------------------------
"$B" list impls >"$t/impls" 2>"$t/err"; rc=$?
check "list impls exits 0 (got $rc: $(head -c 200 "$t/err"))" [ $rc -eq 0 ]
check "list impls shows flash/cudnn" grep -q '^| flash/cudnn |' "$t/impls"
for a in flash/ext:sdpa-flash flash/ext:sdpa-efficient flash/ext:sdpa-cudnn flash/ext:sdpa-math \
         flash/ext:torch-cpu flash/ext:fa2 flash/ext:fa3 flash/ext:flashinfer flash/ext:flashinfer-paged \
         linear/ext:fla-chunk gated/ext:fla-simple-gla gated/ext:fla-gla delta/ext:fla-delta \
         delta/ext:fla-gated-delta; do
    check "list impls: $a with an install state ($(grep "^| $a |" "$t/impls" | cut -c1-160))" \
        grep -qE "^\| $a \| [a-z]+ \| [a-z0-9 ]+ \| (installed: .+|no: not installed \(.+\)) \|" "$t/impls"
done
check "list impls: FlashAttention 2 says it is a source build" \
    grep -q '^| flash/ext:fa2 |.*source build' "$t/impls"
check "list impls: the NumPy adapter is installed, with NumPy's version" \
    grep -qE '^\| flash/ext:numpy \| cpu \| fp32 bf16 \| installed: numpy [0-9.]+ \|' "$t/impls"
check "list impls: a missing distribution is not installed, and how to install it" \
    grep -q '^| flash/ext:numpy-absent | cpu | fp32 | no: not installed (install numpy seqbench-no-such-dist' "$t/impls"
SEQBENCH_PYTHON=$t/no-python "$B" list impls >"$t/impls2" 2>&1; rc=$?
check "no Python: list impls still exits 0 (got $rc)" [ $rc -eq 0 ]
check "no Python: every peer says why" \
    grep -q "^| flash/ext:numpy | .*no: not installed (SEQBENCH_PYTHON=$t/no-python is not an executable)" "$t/impls2"

# scripts/peers.sh: a venv bench's workers use; with --system it reuses what
# the system has (here Debian's NumPy: nothing to download).
bash "$ROOT/scripts/peers.sh" --dry-run >"$t/out" 2>&1
check "peers.sh --dry-run: the wheels PyPI has" grep -q 'install: numpy torch fla-core flashinfer-python$' "$t/out"
bash "$ROOT/scripts/peers.sh" --venv "$t/pv" --system numpy >"$t/out" 2>&1; rc=$?
check "peers.sh --venv --system numpy: exit 0 (got $rc: $(tail -n 2 "$t/out"))" [ $rc -eq 0 ]
SEQBENCH_PYTHON=$t/pv/bin/python "$B" list impls >"$t/impls3" 2>&1
check "the venv's Python runs the peers" grep -qE '^\| flash/ext:numpy \| cpu \| fp32 bf16 \| installed: numpy' "$t/impls3"

# ---- a correct peer, under each NumPy ------------------------------------------------
for py in "${NUMPY_PYS[@]}"; do
    ver=$("$py" -c 'import numpy; print(numpy.__version__)')
    db=$t/ok-$ver.db
    SEQBENCH_PYTHON=$py "$B" run flash --impl ext:numpy,cpu --N 77 --Nk 100 --H 4 --Hkv 2 --D 32 \
        --causal --db "$db" --max-time 0.5 >"$t/out" 2>"$t/err"; rc=$?
    check "NumPy $ver: run exits 0 (got $rc: $(head -c 300 "$t/err"))" [ $rc -eq 0 ]
    check "NumPy $ver: the peer's row beside flash/cpu's in the table" \
        bash -c "grep -A1 '^| flash/ext:numpy fp32 B=1 N=77 Nk=100 H=4 Hkv=2 D=32 Dv=32 causal | ok' '$t/out' | grep -q '^| flash/cpu fp32'"
    check "NumPy $ver: stored ok with samples, a small error and the timer" \
        [ "$(sqlite3 "$db" "SELECT status LIKE 'ok%' AND n_samples >= 1 AND rel_err < 1e-5
             AND rows_checked = rows_total AND flops > 0 AND min_bytes > 0 AND timing = 'cpu'
             FROM results WHERE impl = 'ext:numpy'")" = 1 ]
    check "NumPy $ver: every sample stored" [ "$(sqlite3 "$db" "SELECT count(*) = (SELECT n_samples FROM
        results WHERE impl = 'ext:numpy') FROM samples WHERE result_id = (SELECT id FROM results
        WHERE impl = 'ext:numpy')")" = 1 ]
    info=$(sqlite3 "$db" "SELECT impl_info FROM results WHERE impl = 'ext:numpy'")
    check "NumPy $ver: impl_info is JSON with the peer, its versions, numerics and timer (got $info)" \
        "$PY" -c "import json, sys; d = json.loads(sys.argv[1]); sys.exit(not (d['peer'] == 'ext:numpy'
            and d['versions']['numpy'] == sys.argv[2] and d['numerics'] and d['timer'] == 'perf_counter_ns'))" \
        "$info" "$ver"
done
SEQBENCH_PYTHON=$PY "$B" run flash --impl ext:numpy --dtype bf16 --N 64 --H 2 --D 64 --no-db \
    --max-time 0.3 >"$t/out" 2>&1; rc=$?
check "bf16: ok (got $rc: $(grep ext:numpy "$t/out" | cut -c1-200))" \
    bash -c "[ $rc -eq 0 ] && grep -q '^| flash/ext:numpy bf16 .* | ok' '$t/out'"
"$B" verify --impl ext:numpy --device cpu >"$t/out" 2>"$t/err"; rc=$?
check "verify --impl ext:numpy: every edge shape ok (got $rc: $(tail -n 1 "$t/err"))" \
    bash -c "[ $rc -eq 0 ] && grep -qE '^verify: [1-9][0-9]* ok, 0 failed, 0 skipped' '$t/err'"

# ---- failures, one row each, the run going on -----------------------------------------
w0=$(workers)
start=$(date +%s)
"$B" run flash --impl ext:numpy-wrong,ext:numpy-shape,ext:numpy-exit,ext:numpy-crash,ext:numpy-hang,ext:numpy-hang-samples,ext:numpy-unsupported,ext:numpy-absent,ext:numpy \
    --N 48 --H 2 --D 16 --causal --db "$t/f.db" --peer-timeout 2 --max-time 0.3 >"$t/out" 2>"$t/err"; rc=$?
took=$(( $(date +%s) - start ))
check "failures: exit 1 (got $rc)" [ $rc -eq 1 ]
check "failures: the two hangs were cut at the 2 s limit (the run took ${took} s)" [ "$took" -lt 30 ]
check "wrong output: mismatch, nothing timed stored" \
    [ "$(sqlite3 "$t/f.db" "SELECT status = 'mismatch' AND n_samples = 0 AND rel_err > 0.01 FROM results WHERE impl = 'ext:numpy-wrong'")" = 1 ]
check "wrong shape: an error naming both shapes ($(status_of "$t/f.db" ext:numpy-shape))" \
    grep -q '^error: returned out of shape (48, 32), expected (1, 48, 2, 16)$' <(status_of "$t/f.db" ext:numpy-shape)
check "exit in prepare: error ($(status_of "$t/f.db" ext:numpy-exit))" \
    grep -q '^error: worker died in prepare (exited with status 3)' <(status_of "$t/f.db" ext:numpy-exit)
check "crash while timed: error ($(status_of "$t/f.db" ext:numpy-crash))" \
    grep -q '^error: worker died in samples (killed by signal 11' <(status_of "$t/f.db" ext:numpy-crash)
check "hang in prepare: error ($(status_of "$t/f.db" ext:numpy-hang))" \
    grep -q '^error: worker timed out after 2 s in prepare (killed)' <(status_of "$t/f.db" ext:numpy-hang)
check "hang while timed: error ($(status_of "$t/f.db" ext:numpy-hang-samples))" \
    grep -q '^error: worker timed out after 2 s in samples (killed)' <(status_of "$t/f.db" ext:numpy-hang-samples)
check "a peer that refuses the case: skipped with its reason" \
    grep -q '^skipped: numpy-unsupported takes no case$' <(status_of "$t/f.db" ext:numpy-unsupported)
check "not installed, named: skipped, and how to install it" \
    grep -q "^skipped: ext:numpy-absent not installed (install numpy seqbench-no-such-dist into the peers' Python)$" \
    <(status_of "$t/f.db" ext:numpy-absent)
check "after all that, the correct peer is ok" grep -q '^ok' <(status_of "$t/f.db" ext:numpy)
check "no worker outlives bench ($(workers) running, $w0 before)" [ "$(workers)" -le "$w0" ]

# A suite: a crashing worker on each of two cases (the second case starts a
# new worker, which validates before it crashes), the suite going on.
cat >"$t/crash.suite" <<'EOF'
name = crash
[flash]
impls = ext:numpy-crash ext:numpy cpu ext:numpy-absent
N = 32 40
H = 2
D = 16
EOF
"$B" suite "$t/crash.suite" --device cpu --db "$t/s.db" --max-time 0.2 >"$t/out" 2>"$t/err"; rc=$?
check "suite: exit 1 for the errors (got $rc)" [ $rc -eq 1 ]
check "suite: both crash rows are errors after a passed check (a new worker each)" \
    [ "$(sqlite3 "$t/s.db" "SELECT count(*) FROM results WHERE impl = 'ext:numpy-crash'
         AND status LIKE 'error: worker died in samples%' AND rel_err < 1e-5")" = 2 ]
check "suite: the other cases ran (4 ok)" \
    [ "$(sqlite3 "$t/s.db" "SELECT count(*) FROM results WHERE status LIKE 'ok%'")" = 4 ]
check "suite: a peer that is not installed is left out, and said so" \
    bash -c "[ \$(sqlite3 '$t/s.db' \"SELECT count(*) FROM results WHERE impl = 'ext:numpy-absent'\") = 0 ] &&
             grep -q 'cases of peers that are not installed left out: ext:numpy-absent not installed' '$t/err'"

# Without --impl, a run takes the device's installed peers and no others.
mkdir -p "$t/mine" && cp "$ROOT/tests/peers/numpy_flash.py" "$t/mine/"   # modules beside the file
printf 'flash numpy cpu fp32 numpy_flash:ok numpy\nflash numpy-absent cpu fp32 numpy_flash:ok numpy,seqbench-no-such-dist\n' \
    >"$t/mine/adapters"
SEQBENCH_PEER_ADAPTERS=$t/mine/adapters "$B" run flash --device cpu --N 32 --H 2 --D 16 \
    --no-db --max-time 0.2 >"$t/out" 2>&1; rc=$?
check "default impls: exit 0 (got $rc)" [ $rc -eq 0 ]
check "default impls: the installed peer runs beside cpu" \
    bash -c "grep -q '^| flash/ext:numpy fp32' '$t/out' && grep -q '^| flash/cpu fp32' '$t/out'"
check "default impls: the missing peer makes no row" bash -c "! grep -q 'numpy-absent' '$t/out'"

# ---- report, export, compare ----------------------------------------------------------
db=$t/ok-$("$PY" -c 'import numpy; print(numpy.__version__)').db
"$B" run flash --impl ext:numpy,cpu --N 64 --H 2 --D 16 --db "$db" --max-time 0.2 >/dev/null 2>&1   # an N sweep point
if have gnuplot command -v gnuplot; then
    "$B" report --db "$db" --out "$t/rep" >"$t/out" 2>&1; rc=$?
    check "report: exit 0 (got $rc: $(tail -n 2 "$t/out"))" [ $rc -eq 0 ]
    check "report: the peer's row in the flash table" grep -q 'ext:numpy' "$t/rep/index.html"
    check "report: the seqbench-over-peers figure" bash -c "ls '$t/rep' | grep -q 'peers.*\.svg$'"
fi
"$B" export --db "$db" --format csv >"$t/x.csv"
check "export: the peer's row" grep -q ',ext:numpy,' "$t/x.csv"
"$B" compare "$db" "$db" --format csv >"$t/c.csv" 2>&1
check "compare: the peer's case" grep -q 'flash/ext:numpy fp32' "$t/c.csv"

# ---- the GPU timer's protocol, on a fake torch ------------------------------------------
numpy_run "$ROOT/tests/peers/timer_check.py"

# ---- the GPU adapters: only on a GPU, with the library installed -------------------------
if "$B" env 2>/dev/null | grep -q '^| gpu | none'; then
    skip_no_gpu "the GPU peers (ext:sdpa-*, ext:fa2, ext:fa3, ext:flashinfer*, ext:fla-*, ext:flex) need a GPU"
else
    unset SEQBENCH_PYTHON SEQBENCH_PEER_ADAPTERS
    "$B" run flash --impl ext:sdpa-flash,ext:sdpa-efficient,ext:sdpa-cudnn,ext:sdpa-math,ext:fa2,ext:fa3 \
        --dtype bf16 --N 300 --Nk 512 --H 4 --Hkv 2 --D 64 --causal --no-db --max-time 0.3 >"$t/out" 2>&1
    check "a GPU: every flash peer ok, or skipped with its reason ($(grep -c ext: "$t/out") rows)" \
        bash -c "! grep '^| flash/ext:' '$t/out' | grep -vqE '\| (ok|skipped: .+) \|'"
fi

# ---- bad input ---------------------------------------------------------------------------
printf 'flash broken cpu\n' >"$t/bad-adapters"
SEQBENCH_PEER_ADAPTERS=$t/bad-adapters bad 2 "$t/bad-adapters:1: expected 'family name device dtypes" list impls
printf 'nosuch x cpu fp32 numpy_flash:ok numpy\n' >"$t/bad-adapters"
SEQBENCH_PEER_ADAPTERS=$t/bad-adapters bad 2 "peer x: unknown family 'nosuch'" list impls
bad 2 "--peer-timeout 0: must be a positive number" run flash --impl ext:numpy --peer-timeout 0 --no-db
summary
