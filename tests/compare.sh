#!/usr/bin/env bash
# compare.sh — sharding, merge, compare and export as CI uses them:
#   1. --shard i/n partitions a suite's cases (smoke and long-context, on the
#      cpu device and on a GPU device's cases) into shards whose predicted
#      costs are within 1.2x of each other;
#   2. the workflow .github/workflows/gpu-bench.yml: it runs on trusted
#      events only, and its run: steps, executed as written in a clone of
#      the working tree built by the workflow's own Build step, on the CPU
#      with SUITE set to a tiny suite file (seconds, where smoke's default
#      timing takes minutes): the A/B (the committed HEAD built as the base,
#      the cases interleaved, the gate passing the same samples and failing
#      a planted slower case), shards -> merge -> compare with the baseline
#      (a report: a planted faster baseline is said, not failed) -> the
#      cross-GPU report, and every path the upload steps name exists;
#   3. merge from the command line: idempotent, bad inputs exit 2 and leave
#      the output untouched;
#   4. export csv/json/gab parse (Python's csv and json) and hold every case;
#   5. compare never modifies its inputs (nor adds -wal/-shm files beside
#      them); --help says the rule.
set -u
source "$(dirname "$0")/lib.bash"

# ---- 1. shards ---------------------------------------------------------------
# The partition is by predicted cost (harness/shard.h): every shard lists
# its part of the same partition, the parts together are the suite with no
# case twice, and their predicted costs are within 1.2x of each other (the
# loads each shard prints; tests/test_shard.c recomputes them). On the CPU
# device and, through the fault hook, on a GPU device's cases.
for dev in cpu gpu; do
    for suite in smoke long-context; do
        run_list() { if [ $dev = gpu ]; then SEQBENCH_GPU_FAULT=test "$B" "$@"; else "$B" "$@" --device cpu; fi; }
        run_list suite $suite --list >"$t/all" 2>/dev/null
        check "$dev: $suite lists cases" [ -s "$t/all" ]
        for n in 1 2 3 4 7; do
            : >"$t/union"; : >"$t/loads"
            for i in $(seq 1 $n); do run_list suite $suite --list --shard "$i/$n" >>"$t/union" 2>>"$t/loads"; done
            check "$dev: $suite: the $n shards together are the suite" [ "$(sort "$t/all")" = "$(sort "$t/union")" ]
            check "$dev: $suite: no case in two of the $n shards" [ -z "$(sort "$t/union" | uniq -d)" ]
            [ $n -eq 1 ] && continue
            check "$dev: $suite: every shard of $n computed the same loads" \
                [ "$(sed -n 's/.*(shards \(.*\))$/\1/p' "$t/loads" | sort -u | wc -l)" -eq 1 ]
            check "$dev: $suite: the $n shards' predicted costs within 1.2x ($(sed -n '1s/.*(shards \(.*\))$/\1/p' "$t/loads"))" \
                awk '/\(shards / { match($0, /\(shards [0-9.]+ to [0-9.]+ s\)/); split(substr($0, RSTART, RLENGTH), w, " ");
                     if (w[2] <= 0 || w[4] > 1.2 * w[2]) bad = 1; seen = 1 } END { exit !(seen && !bad) }' "$t/loads"
        done
    done
done
"$B" suite smoke --list --shard 2/4 --shard-class a100 --device cpu >"$t/a" 2>"$t/err"
check "--shard-class a100 is named in the shard's line" grep -q 'on a100 (A100 SXM4 80GB)' "$t/err"
bad 2 "expected one of cpu, a10, a100" suite smoke --shard 1/2 --shard-class z80 --list
bad 2 "expected I/N" suite smoke --shard 0/4 --list
bad 2 "expected I/N" suite smoke --shard 5/4 --list
bad 2 "expected I/N" suite smoke --shard 1/0 --list
bad 2 "expected I/N" suite smoke --shard 1/4x --list
bad 2 "expected I/N" suite smoke --shard two --list

# ---- 2. the workflow's own commands ------------------------------------------
WF=.github/workflows/gpu-bench.yml
if have PyYAML "$PY" -c 'import yaml'; then
    # Each job's run: steps, in order, as job.NN.sh with its name in
    # job.NN.name, and the paths its upload-artifact steps upload, as
    # job.upload; the events it runs on and each job's if: as on.json.
    "$PY" - "$WF" "$t/steps" <<'PYEOF'
import json, os, sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
os.makedirs(sys.argv[2])
on = wf.get("on", wf.get(True))            # YAML 1.1 reads the key on: as True
json.dump({"on": on, "if": {j: s.get("if", "") for j, s in wf["jobs"].items()},
           "permissions": wf.get("permissions")}, open(os.path.join(sys.argv[2], "on.json"), "w"))
for job, spec in wf["jobs"].items():
    uploads = []
    for k, step in enumerate(spec.get("steps", [])):
        if "run" in step:
            open(os.path.join(sys.argv[2], "%s.%02d.sh" % (job, k)), "w").write(step["run"])
            open(os.path.join(sys.argv[2], "%s.%02d.name" % (job, k)), "w").write(step.get("name", ""))
        if step.get("uses", "").startswith("actions/checkout"):
            assert step.get("with", {}).get("persist-credentials") is False, job + ": checkout persists the token"
        if step.get("uses", "").startswith("actions/upload-artifact"):
            uploads += step["with"]["path"].split()
    open(os.path.join(sys.argv[2], job + ".upload"), "w").write("\n".join(uploads) + "\n")
PYEOF
    check "the workflow parses and has ab, shard and compare jobs" [ -n "$(ls "$t/steps"/ab.* "$t/steps"/shard.* "$t/steps"/compare.* 2>/dev/null)" ]
    # Trusted events only: never pull_request (a fork's code on our runners);
    # pull_request_target only when labeled, and every job checks the label.
    check "the workflow runs only on trusted events, every job gated on the label" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1])); on = d["on"]
assert set(on) <= {"push", "workflow_dispatch", "pull_request_target"}, on
assert on["push"]["branches"] == ["main"], on["push"]
assert on["pull_request_target"]["types"] == ["labeled"], on["pull_request_target"]
assert all("github.event.label.name == '"'"'gpu-bench'"'"'" in c for c in d["if"].values()), d["if"]
assert d["permissions"] == {"contents": "read"}, d["permissions"]' "$t/steps/on.json"
    # A checkout as actions/checkout makes one: a clone of this repository
    # with what is not committed yet laid over it (the diff, and the new
    # files git does not ignore), so nothing built or ignored here leaks in.
    # The workflow's own Build step builds it once; each job then runs every
    # run: step in a fresh copy, where that make finds nothing to do.
    git clone -q "$ROOT" "$t/src" 2>"$t/clone.err" &&
        git -C "$ROOT" diff HEAD --binary | git -C "$t/src" apply --allow-empty 2>>"$t/clone.err" &&
        (cd "$ROOT" && git ls-files -z --others --exclude-standard | xargs -0r cp --parents -t "$t/src") 2>>"$t/clone.err"
    check "a clone of the working tree ($(head -c 300 "$t/clone.err"))" test -f "$t/src/Makefile" -a ! -e "$t/src/bin"
    # The shell GitHub Actions uses for run: (bash -e -o pipefail), with the
    # workflow's parameters set for a CPU: a tiny suite over 3 shards on the
    # cpu device, one OpenMP thread (on a loaded machine, threads waiting on
    # each other make microsecond cases noisy, and a planted regression
    # needs a case that is a plain "ok" on both sides: compare calls the
    # others unreliable), the A/B on four of its cases against the
    # committed HEAD. CUDA_HOME is empty, so the builds are CPU-only: these
    # steps are about the workflow, and make test builds the CUDA code.
    printf '%s\n' 'name = ci-tiny' 'budget = 60' '[flash]' 'impls = *' 'dtype = fp32' 'B = 1' \
        'N = 16 32 48' 'H = 1' 'D = 16 32' 'causal = 0 1' '[softmax]' 'impls = *' 'dtype = fp32' \
        'B = 1' 'N = 16 32' 'H = 1' 'D = 16' 'causal = 0 1' >"$t/ci.suite"
    base_sha=$(git -C "$t/src" rev-parse HEAD)
    step() {    # dir, script
        (cd "$1" && SUITE="$t/ci.suite" SHARDS=3 GPU=test-gpu SHARD_CLASS=cpu DEVICE=cpu CUDA_HOME= \
            CUDA_ARCHS=90a AB_SUITE="$t/ci.suite" AB_FILTER='flash/cpu fp32 B=1 N=16 ' \
            AB_ARGS='--device cpu --max-time 0.2' BASE_SHA="$base_sha" \
            GITHUB_STEP_SUMMARY="$t/summary.md" OMP_NUM_THREADS=1 \
            bash --noprofile --norc -eo pipefail "$2") >"$t/step.out" 2>"$t/step.err"
    }
    name_of() { cat "${1%.sh}.name"; }
    for s in "$t/steps"/shard.*.sh; do
        [ "$(name_of "$s")" = Build ] || continue
        step "$t/src" "$s"; rc=$?
        check "the Build step builds the checkout (exit $rc: $(tail -n 3 "$t/step.err"))" test $rc -eq 0 -a -x "$t/src/bin/bench"
    done
    uploaded() {    # job, dir: every path the job's upload steps name exists
        local p
        while read -r p; do
            [ -z "$p" ] || check "$1 job: the uploaded $p exists" [ -e "$2/$p" ]
        done <"$t/steps/$1.upload"
    }

    # The ab job: the base built beside the head, the A/B, the gate.
    cp -a "$t/src" "$t/abjob"
    gate_step=""
    for s in "$t/steps"/ab.*.sh; do
        [ "$(name_of "$s")" = Gate ] && { gate_step=$s; continue; }
        step "$t/abjob" "$s"; rc=$?
        check "ab job: '$(name_of "$s")' exits 0 (got $rc: $(tail -n 2 "$t/step.err"))" [ $rc -eq 0 ]
    done
    check "ab job: the base is built from BASE_SHA" [ -x "$t/abjob/base/bin/bench" ] &&
        check "ab job: base/ holds BASE_SHA" [ "$(git -C "$t/abjob/base" rev-parse HEAD)" = "$base_sha" ]
    check "ab job: the gate step exists" [ -n "$gate_step" ]
    abq() { sqlite3 "$t/abjob/ab/$1.db" "$2"; }
    n_ab=$(wc -l <"$t/abjob/ab/cases")
    check "ab job: four cases, each on both sides once ($n_ab)" [ "$n_ab" -eq 4 ] &&
        check "ab job: both databases hold them" [ "$(abq base 'SELECT count(DISTINCT case_str) || "/" || count(*) FROM results')" = 4/4 ] &&
        check "ab job: head too" [ "$(abq head 'SELECT count(DISTINCT case_str) || "/" || count(*) FROM results')" = 4/4 ]
    # Interleaved: case by case, base first for cases 1 and 3, head first
    # for 2 and 4, and the two sides of a case never overlap. The base's
    # schema may predate results.started_at: the run's start then.
    when() { abq "$1" "SELECT coalesce((SELECT r.started_at FROM results r WHERE r.case_str = '$2'), 0),
                         (SELECT u.started_at FROM runs u JOIN results r ON r.run_id = u.id WHERE r.case_str = '$2')"; }
    k=0; order_ok=1
    while IFS= read -r c; do
        b=$(when base "$c"); h=$(when head "$c")
        if [ $((k % 2)) -eq 0 ]; then [[ "$b" < "$h" ]] || order_ok=0; else [[ "$h" < "$b" ]] || order_ok=0; fi
        k=$((k + 1))
    done <"$t/abjob/ab/cases"
    check "ab job: the sides alternate, ABBA" [ $order_ok -eq 1 ]
    if [ -n "$gate_step" ]; then
        : >"$t/summary.md"
        step "$t/abjob" "$gate_step"; rc=$?
        check "ab job: the gate runs compare (exit 0 or 1: the same code, judged from noisy samples; got $rc)" [ $rc -le 1 ]
        check "ab job: the gate's verdict is in the summary" grep -q '^\*\*seqbench compare: ' "$t/summary.md"
        uploaded ab "$t/abjob"
        # Both sides made plain ok with the base's samples: the same, exit 0;
        # then one case twice as slow in head: the gate fails.
        abq head "ATTACH '$t/abjob/ab/base.db' AS b;
            UPDATE results SET status = 'ok';
            DELETE FROM samples;
            INSERT INTO samples SELECT h.id, s.idx, s.ms FROM results h JOIN b.results r ON r.case_str = h.case_str
                JOIN b.samples s ON s.result_id = r.id;
            UPDATE results SET n_samples = (SELECT count(*) FROM samples WHERE result_id = results.id),
                median_ms = (SELECT r.median_ms FROM b.results r WHERE r.case_str = results.case_str)"
        abq base "UPDATE results SET status = 'ok'"
        step "$t/abjob" "$gate_step"; rc=$?
        check "ab job: the same samples on both sides pass the gate (exit $rc: $(head -c 300 "$t/abjob/ab.md"))" [ $rc -eq 0 ]
        abq head "UPDATE samples SET ms = ms * 2 WHERE result_id = (SELECT min(id) FROM results);
                  UPDATE results SET median_ms = median_ms * 2 WHERE id = (SELECT min(id) FROM results)"
        : >"$t/summary.md"
        step "$t/abjob" "$gate_step"; rc=$?
        check "ab job: a case twice as slow in head fails the gate (exit $rc)" [ $rc -eq 1 ]
        check "ab job: and the summary says REGRESSION" grep -q '^\*\*seqbench compare: REGRESSION\*\* — 1 slower' "$t/summary.md"
    fi

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
    check "the report is cross-GPU: the run beside the committed baseline" grep -q 'test-gpu.db' "$t/wf/results/report/index.html"
    all=$("$B" suite "$t/ci.suite" --list | wc -l)
    check "merged.db holds every case of the suite once" [ "$(sqlite3 "$t/wf/merged.db" 'SELECT count(DISTINCT case_str) || "/" || count(*) FROM results')" = "$all/$all" ]
    check "the compare step ran" [ -n "$compare_step" ]
    check "the summary leads with the verdict" grep -q '^\*\*seqbench compare: no regression\*\*' "$t/summary.md"
    check "the summary: no case only on one side" grep -q '0 only in base, 0 only in new' "$t/summary.md"
    check "merged.db has a plain ok case to plant a regression on" [ "$(sqlite3 "$t/wf/merged.db" "SELECT count(*) FROM results WHERE status = 'ok'")" -gt 0 ]
    # A baseline in which one ok case was twice as fast: another runner's
    # baseline is a report, not the gate: the step passes and says so.
    sqlite3 "$t/wf/results/baselines/test-gpu.db" \
        "UPDATE samples SET ms = ms / 2 WHERE result_id = (SELECT min(id) FROM results WHERE status = 'ok');
         UPDATE results SET median_ms = median_ms / 2 WHERE id = (SELECT min(id) FROM results WHERE status = 'ok')"
    : >"$t/summary.md"
    step "$t/wf" "$compare_step"; rc=$?
    check "a slower case than the baseline passes the step: a report, not the gate (exit $rc)" [ $rc -eq 0 ]
    check "and the summary says REGRESSION, informational" grep -q 'informational; exit 1' "$t/summary.md" &&
        check "with the verdict" grep -q '^\*\*seqbench compare: REGRESSION\*\* — 1 slower' "$t/summary.md"
    # The same regression, but the new result had too few samples: unreliable.
    cp "$t/wf/merged.db" "$t/wf/merged.keep"
    sqlite3 "$t/wf/merged.db" "UPDATE results SET status = 'ok: few samples (3 of 10)' WHERE case_str = (SELECT case_str FROM results WHERE id = (SELECT min(id) FROM results WHERE status = 'ok'))"
    : >"$t/summary.md"
    step "$t/wf" "$compare_step"; rc=$?
    check "the same case with few samples passes the step (exit $rc)" [ $rc -eq 0 ]
    # Unreliable: the planted case and any other that this (loaded) machine
    # stored with few samples or noise.
    unrel=$(sqlite3 "$t/wf/merged.db" "SELECT count(*) FROM results WHERE status LIKE 'ok: %'")
    check "and the summary calls it unreliable ($unrel unreliable in all)" grep -q "^\*\*seqbench compare: no regression\*\* — 0 slower, .* $unrel unreliable;" "$t/summary.md"
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
