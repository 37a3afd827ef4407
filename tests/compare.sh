#!/usr/bin/env bash
# compare.sh — sharding, merge, compare and export as CI uses them:
#   1. --shard i/n partitions a suite's cases (smoke and long-context), and a
#      case's shard does not depend on the other cases;
#   2. the run: steps of .github/workflows/gpu-bench.yml, executed as written
#      in a clone of the working tree built by the workflow's own Build step,
#      on the CPU with SUITE set to a tiny suite file (seconds, where smoke's
#      default timing takes minutes): shards -> merge -> compare (exit 0
#      against itself, exit 1 against a baseline with a planted faster case)
#      -> report, and every path the upload steps name exists;
#   3. merge from the command line: idempotent, bad inputs exit 2 and leave
#      the output untouched;
#   4. export csv/json/gab parse (Python's csv and json) and hold every case;
#   5. compare never modifies its inputs (nor adds -wal/-shm files beside
#      them); --help says the rule.
set -u
source "$(dirname "$0")/lib.bash"

# ---- 1. shards ---------------------------------------------------------------
for suite in smoke long-context; do
    "$B" suite $suite --list >"$t/all"
    check "$suite lists cases" [ -s "$t/all" ]
    for n in 1 2 3 4 7; do
        : >"$t/union"
        for i in $(seq 1 $n); do "$B" suite $suite --list --shard "$i/$n" >>"$t/union"; done
        check "$suite: the $n shards together are the suite" [ "$(sort "$t/all")" = "$(sort "$t/union")" ]
        check "$suite: no case in two of the $n shards" [ -z "$(sort "$t/union" | uniq -d)" ]
    done
    "$B" suite $suite --list --shard 2/4 | grep flash >"$t/a"
    "$B" suite $suite --list --shard 2/4 --filter flash >"$t/b"
    check "$suite: a case's shard does not depend on the other cases" cmp -s "$t/a" "$t/b"
done
bad 2 "expected I/N" suite smoke --shard 0/4 --list
bad 2 "expected I/N" suite smoke --shard 5/4 --list
bad 2 "expected I/N" suite smoke --shard 1/0 --list
bad 2 "expected I/N" suite smoke --shard 1/4x --list
bad 2 "expected I/N" suite smoke --shard two --list

# ---- 2. the workflow's own commands ------------------------------------------
WF=.github/workflows/gpu-bench.yml
if have PyYAML "$PY" -c 'import yaml'; then
    # Each job's run: steps, in order, as job.NN.sh, and the paths its
    # upload-artifact steps upload, as job.upload.
    "$PY" - "$WF" "$t/steps" <<'PYEOF'
import os, sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
os.makedirs(sys.argv[2])
for job, spec in wf["jobs"].items():
    uploads = []
    for k, step in enumerate(spec.get("steps", [])):
        if "run" in step:
            open(os.path.join(sys.argv[2], "%s.%02d.sh" % (job, k)), "w").write(step["run"])
        if step.get("uses", "").startswith("actions/upload-artifact"):
            uploads += step["with"]["path"].split()
    open(os.path.join(sys.argv[2], job + ".upload"), "w").write("\n".join(uploads) + "\n")
PYEOF
    check "the workflow parses and has shard and compare jobs" [ -n "$(ls "$t/steps"/shard.* "$t/steps"/compare.* 2>/dev/null)" ]
    # A checkout as actions/checkout makes one: a clone of this repository
    # with what is not committed yet laid over it (the diff, and the new
    # files git does not ignore), so nothing built or ignored here leaks in.
    # The workflow's own Build step (make) builds it once; each job then
    # runs every run: step in a fresh copy, where that make finds nothing
    # to do.
    git clone -q "$ROOT" "$t/src" 2>"$t/clone.err" &&
        git -C "$ROOT" diff HEAD --binary | git -C "$t/src" apply --allow-empty 2>>"$t/clone.err" &&
        (cd "$ROOT" && git ls-files -z --others --exclude-standard | xargs -0r cp --parents -t "$t/src") 2>>"$t/clone.err"
    check "a clone of the working tree ($(head -c 300 "$t/clone.err"))" test -f "$t/src/Makefile" -a ! -e "$t/src/bin"
    # The shell GitHub Actions uses for run: (bash -e -o pipefail), with the
    # workflow's parameters set for a CPU: a tiny suite over 3 shards, one
    # OpenMP thread (on a loaded machine, threads waiting on each other make
    # microsecond cases noisy, and a planted regression needs a case that
    # is a plain "ok" on both sides: compare calls the others unreliable).
    printf '%s\n' 'name = ci-tiny' 'budget = 60' '[flash]' 'impls = *' 'dtype = fp32' 'B = 1' \
        'N = 16 32 48' 'H = 1' 'D = 16 32' 'causal = 0 1' '[softmax]' 'impls = *' 'dtype = fp32' \
        'B = 1' 'N = 16 32' 'H = 1' 'D = 16' 'causal = 0 1' >"$t/ci.suite"
    step() {    # dir, script
        (cd "$1" && SUITE="$t/ci.suite" SHARDS=3 GPU=test-gpu GITHUB_STEP_SUMMARY="$t/summary.md" OMP_NUM_THREADS=1 \
            bash --noprofile --norc -eo pipefail "$2") >"$t/step.out" 2>"$t/step.err"
    }
    for s in "$t/steps"/shard.*.sh; do
        [ "$(cat "$s")" = make ] || continue
        step "$t/src" "$s"; rc=$?
        check "the Build step builds the checkout (exit $rc: $(tail -n 3 "$t/step.err"))" test $rc -eq 0 -a -x "$t/src/bin/bench"
    done
    uploaded() {    # job, dir: every path the job's upload steps name exists
        local p
        while read -r p; do
            [ -z "$p" ] || check "$1 job: the uploaded $p exists" [ -e "$2/$p" ]
        done <"$t/steps/$1.upload"
    }
    for i in 1 2 3; do
        cp -a "$t/src" "$t/job$i"
        for s in "$t/steps"/shard.*.sh; do
            (export SHARD=$i; step "$t/job$i" "$s"); rc=$?
            check "shard $i/3: $(head -n 1 "$s") exits 0 (got $rc: $(tail -n 2 "$t/step.err"))" [ $rc -eq 0 ]
        done
        # A small suite can leave a shard empty (the upload step ignores that).
        if [ -f "$t/job$i/shard.db" ]; then
            uploaded shard "$t/job$i"
            mkdir -p "$t/wf/shards/shard-$i"; cp "$t/job$i/shard.db" "$t/wf/shards/shard-$i/"
        fi
    done
    cp -a "$t/src/." "$t/wf"
    compare_step=""
    : >"$t/summary.md"
    for s in "$t/steps"/compare.*.sh; do
        grep -q 'bench compare' "$s" && { compare_step=$s; cp "$t/wf/merged.db" "$t/wf/results/baselines/test-gpu.db"; }
        step "$t/wf" "$s"; rc=$?
        check "compare job: $(head -n 1 "$s") exits 0 (got $rc: $(tail -n 2 "$t/step.err"))" [ $rc -eq 0 ]
    done
    uploaded compare "$t/wf"
    check "the report step wrote results/report/index.html" [ -s "$t/wf/results/report/index.html" ]
    all=$("$B" suite "$t/ci.suite" --list | wc -l)
    check "merged.db holds every case of the suite once" [ "$(sqlite3 "$t/wf/merged.db" 'SELECT count(DISTINCT case_str) || "/" || count(*) FROM results')" = "$all/$all" ]
    check "the compare step ran" [ -n "$compare_step" ]
    check "the summary leads with the verdict" grep -q '^\*\*seqbench compare: no regression\*\*' "$t/summary.md"
    check "the summary: no case only on one side" grep -q '0 only in base, 0 only in new' "$t/summary.md"
    check "merged.db has a plain ok case to plant a regression on" [ "$(sqlite3 "$t/wf/merged.db" "SELECT count(*) FROM results WHERE status = 'ok'")" -gt 0 ]
    # A baseline in which one ok case was twice as fast: the step must fail.
    sqlite3 "$t/wf/results/baselines/test-gpu.db" \
        "UPDATE samples SET ms = ms / 2 WHERE result_id = (SELECT min(id) FROM results WHERE status = 'ok');
         UPDATE results SET median_ms = median_ms / 2 WHERE id = (SELECT min(id) FROM results WHERE status = 'ok')"
    : >"$t/summary.md"
    step "$t/wf" "$compare_step"; rc=$?
    check "a planted regression fails the compare step (exit $rc)" [ $rc -eq 1 ]
    check "and the summary says REGRESSION" grep -q '^\*\*seqbench compare: REGRESSION\*\* — 1 slower' "$t/summary.md"
    # The same regression, but the new result had too few samples: unreliable, not a failure.
    cp "$t/wf/merged.db" "$t/wf/merged.keep"
    sqlite3 "$t/wf/merged.db" "UPDATE results SET status = 'ok: few samples (3 of 10)' WHERE case_str = (SELECT case_str FROM results WHERE id = (SELECT min(id) FROM results WHERE status = 'ok'))"
    : >"$t/summary.md"
    step "$t/wf" "$compare_step"; rc=$?
    check "the same case with few samples passes the step (exit $rc)" [ $rc -eq 0 ]
    check "and the summary calls it unreliable" grep -q '^\*\*seqbench compare: no regression\*\* — 0 slower, .* 1 unreliable;' "$t/summary.md"
    check "and names why" grep -q '| unreliable (new: few samples (3 of 10)) |' "$t/summary.md"
    mv "$t/wf/merged.keep" "$t/wf/merged.db"
    rm "$t/wf/results/baselines/test-gpu.db"; : >"$t/summary.md"
    step "$t/wf" "$compare_step"; rc=$?
    check "no baseline: the step passes (exit $rc) and says why" [ $rc -eq 0 ]
    check "no baseline: said in the summary" grep -q 'No baseline' "$t/summary.md"
fi

# ---- 3. merge from the command line ------------------------------------------
"$B" suite smoke --device cpu --db "$t/a.db" --max-time 0.05 --md "$t/a.md" >/dev/null 2>&1
"$B" suite smoke --device cpu --db "$t/b.db" --max-time 0.05 --md "$t/b.md" >/dev/null 2>&1
counts() { sqlite3 "$1" 'SELECT (SELECT count(*) FROM runs) || " " || (SELECT count(*) FROM results) || " " || (SELECT count(*) FROM samples)'; }
"$B" merge "$t/a.db" "$t/b.db" -o "$t/m.db" >"$t/out" 2>&1; rc=$?
check "merge exits 0 (got $rc: $(cat "$t/out"))" [ $rc -eq 0 ]
check "merge prints one line per input" [ "$(grep -c 'runs added' "$t/out")" -eq 2 ]
first=$(counts "$t/m.db")
"$B" merge "$t/a.db" "$t/b.db" -o "$t/m.db" >"$t/out" 2>&1
check "merging again changes nothing ($first, then $(counts "$t/m.db"))" [ "$(counts "$t/m.db")" = "$first" ]
check "merging again says already present" [ "$(grep -c '0 runs added (0 results, 0 samples), 1 already present' "$t/out")" -eq 2 ]
sa=$(sqlite3 "$t/a.db" 'SELECT count(*) FROM samples'); sb=$(sqlite3 "$t/b.db" 'SELECT count(*) FROM samples')
check "every sample merged" [ "$(sqlite3 "$t/m.db" 'SELECT count(*) FROM samples')" -eq $((sa + sb)) ]
sqlite3 "$t/m.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null; msum=$(md5sum <"$t/m.db")
cp "$t/a.db" "$t/newer.db"; sqlite3 "$t/newer.db" 'PRAGMA user_version = 99'
bad 2 "newer"          merge "$t/newer.db" -o "$t/m.db"
bad 2 "no such file"   merge "$t/nope.db" -o "$t/m.db"
bad 2 "-o OUT.db"      merge "$t/a.db"
check "refused merges left the output byte for byte" [ "$(md5sum <"$t/m.db")" = "$msum" ]

# ---- 4. export ---------------------------------------------------------------
n_all=$(sqlite3 "$t/m.db" 'SELECT count(*) FROM results'); n_case=$(sqlite3 "$t/m.db" 'SELECT count(DISTINCT case_str) FROM results')
n_ok=$(sqlite3 "$t/b.db" "SELECT count(*) FROM results WHERE status = 'ok'")
for f in csv json gab; do
    "$B" export --db "$t/m.db" --format $f -o "$t/x.$f" 2>"$t/err"; rc=$?
    check "export --format $f exits 0 (got $rc: $(cat "$t/err"))" [ $rc -eq 0 ]
done
"$B" export --db "$t/m.db" --format csv --run all >"$t/all.csv"
uid=$(sqlite3 "$t/m.db" 'SELECT run_uid FROM runs ORDER BY id LIMIT 1')
"$B" export --db "$t/m.db" --format json --run "$uid" >"$t/one.json"
if have "python3 (Debian's)" "$PY" -c ''; then
    pyc() { "$PY" -c "$1" "${@:2}"; }
    check "csv: latest = one row per case ($n_case), equal columns" pyc '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert rows[0][:2] == ["run_uid", "started_at"] and "case_str" in rows[0] and "median_ms" in rows[0]
assert all(len(r) == len(rows[0]) for r in rows), "ragged rows"
assert len(rows) - 1 == int(sys.argv[2]), len(rows)' "$t/x.csv" "$n_case"
    check "csv --run all: every result ($n_all)" pyc '
import csv, sys; assert len(list(csv.reader(open(sys.argv[1], newline="")))) - 1 == int(sys.argv[2])' "$t/all.csv" "$n_all"
    check "json: an array of objects, one per case" pyc '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list) and len(d) == int(sys.argv[2])
assert all(isinstance(o["case_str"], str) and o["status"] for o in d)
assert all(isinstance(o["median_ms"], float) for o in d if o["status"] == "ok")' "$t/x.json" "$n_case"
    check "json --run UID: that run only" pyc '
import json, sys
d = json.load(open(sys.argv[1])); assert d and all(o["run_uid"] == sys.argv[2] for o in d)' "$t/one.json" "$uid"
    check "gab: customSmallerIsBetter entries for the ok results" pyc '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == int(sys.argv[2]), len(d)
assert all(set(o) == {"name", "unit", "value", "extra"} and o["unit"] == "ms" and o["value"] > 0 for o in d)
assert len({o["name"] for o in d}) == len(d)' "$t/x.gab" "$n_ok"
    "$B" compare "$t/a.db" "$t/b.db" --format json >"$t/cmp.json"
    check "compare --format json parses" pyc 'import json, sys; d = json.load(open(sys.argv[1])); assert "cases" in d and "families" in d' "$t/cmp.json"
fi
bad 2 "--db FILE"          export --format csv
bad 2 "expected csv, json or gab" export --db "$t/m.db" --format xml
bad 2 "no run 'nosuch'"    export --db "$t/m.db" --format csv --run nosuch
bad 2 "no such file"       export --db "$t/nope.db" --format csv

# ---- 5. compare: read-only, exit codes, help -----------------------------------
for f in a b; do sqlite3 "$t/$f.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null; done
sums=$(md5sum "$t/a.db" "$t/b.db" | cut -d' ' -f1)
"$B" compare "$t/a.db" "$t/a.db" >"$t/out" 2>&1; rc=$?
check "a database against itself: exit 0 (got $rc)" [ $rc -eq 0 ]
check "a database against itself: nothing slower, faster or noisy" grep -q '0 slower, 0 broken; 0 faster, [0-9]* same, 0 noisy' "$t/out"
"$B" compare "$t/a.db" "$t/b.db" --format csv >"$t/out" 2>&1; rc=$?
check "compare a b exits 0 or 1 (got $rc)" [ $rc -le 1 ]
check "compare left both databases byte for byte" [ "$(md5sum "$t/a.db" "$t/b.db" | cut -d' ' -f1)" = "$sums" ]
check "and wrote no -wal or -shm beside them" [ -z "$(ls "$t"/a.db-* "$t"/b.db-* 2>/dev/null)" ]
# Two machines: a run as if made on another host with another CPU, every
# sample twice as slow, is "A vs B", exit 0, with the environments side by
# side. The run is a tiny case with one thread and many samples, so it is a
# plain ok that Mann-Whitney can judge (a loaded machine's smoke run is
# mostly 'ok: few samples', which compare never judges).
OMP_NUM_THREADS=1 "$B" run flash --impl cpu --N 16 --H 1 --D 64 --db "$t/here.db" --max-time 1 --min-samples 20 >/dev/null 2>&1
check "the two-machine case is a plain ok" [ "$(sqlite3 "$t/here.db" "SELECT status FROM results")" = ok ]
cp "$t/here.db" "$t/elsewhere.db"
sqlite3 "$t/elsewhere.db" "UPDATE runs SET hostname = 'elsewhere', cpu_model = 'Another CPU 9000';
    UPDATE samples SET ms = ms * 2; UPDATE results SET median_ms = median_ms * 2"
"$B" compare "$t/here.db" "$t/elsewhere.db" >"$t/out" 2>&1; rc=$?
check "another host and CPU: exit 0 (got $rc)" [ $rc -eq 0 ]
check "another host and CPU: says the machines differ" grep -q '^\*\*seqbench compare: A vs B\*\* — the machines differ' "$t/out"
check "another host and CPU: the environment shows both" grep -q '^| host | [^|]* | elsewhere | \*\*differs\*\* |$' "$t/out"
"$B" compare "$t/here.db" "$t/elsewhere.db" --across-machines >"$t/out" 2>&1; rc=$?
check "--across-machines: twice as slow is a regression (exit $rc)" [ $rc -eq 1 ]
sqlite3 "$t/elsewhere.db" "UPDATE runs SET input_version = input_version + 1"
bad 2 "different input versions" compare "$t/here.db" "$t/elsewhere.db"
bad 2 "no such file"     compare "$t/a.db" "$t/nope.db"
bad 2 "newer"            compare "$t/newer.db" "$t/a.db"
bad 2 "--threshold"      compare "$t/a.db" "$t/b.db" --threshold 3
bad 2 "two databases"    compare "$t/a.db"
for c in compare merge export; do
    "$B" $c --help >"$t/help" 2>&1; rc=$?
    check "bench $c --help exits 0 and shows usage" [ $rc -eq 0 ] && grep -q "usage: bench $c" "$t/help"
done
check "compare --help says which run counts" grep -q "latest run's result" <("$B" compare --help)
check "compare --help states the rule" grep -q 'slower   p < alpha and ratio > 1 + threshold' <("$B" compare --help)

summary
