#!/usr/bin/env bash
# fleet.sh — the Slurm job-array example of docs/fleet.md, run as written
# (docs/slurm/submit.sh) with a stub `sbatch` on PATH that runs a job here:
# an array's tasks at once, each with the SLURM_ARRAY_* variables Slurm
# sets, and a dependent job only after the job it depends on has ended. On
# the smoke suite on the CPU: every shard's database, the merge of them
# holding each case once, every run finished, the report; the dependency
# named the array job with afterany. Then a task "requeued" (run again)
# resumes its shard's run: nothing measured twice.
set -u
source "$(dirname "$0")/lib.bash"

export SEQBENCH_LOCK_DIR=$t/locks
mkdir -p "$SEQBENCH_LOCK_DIR" "$t/stub"
# The stub: options before the script; the array from --array or the
# script's #SBATCH line; the job id from a counter; what it was asked in
# $STUB_LOG. A task's exit status is kept, as Slurm keeps it, and does not
# stop the others.
cat >"$t/stub/sbatch" <<'EOF'
#!/usr/bin/env bash
set -u
parsable=0 dep="" array=""
while [ $# -gt 1 ]; do
    case $1 in
        --parsable) parsable=1 ;;
        --dependency=*) dep=${1#*=} ;;
        --array=*) array=${1#*=} ;;
        --*) ;;
        *) break ;;
    esac
    shift
done
script=$1
id=$(( $(cat "$STUB_DIR/next" 2>/dev/null || echo 100) + 1 )); echo $id >"$STUB_DIR/next"
[ -n "$array" ] || array=$(sed -n 's/^#SBATCH --array=//p' "$script")
echo "job $id: $(basename "$script") array=$array dependency=$dep" >>"$STUB_LOG"
if [ -n "$dep" ]; then      # afterany:ID — that job must have ended
    [ -e "$STUB_DIR/done.${dep#afterany:}" ] || { echo "sbatch stub: $dep has not ended" >&2; exit 1; }
fi
if [ -n "$array" ]; then
    lo=${array%-*} hi=${array#*-}
    for i in $(seq "$lo" "$hi"); do
        SLURM_JOB_ID=$id SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$((hi - lo + 1)) \
            bash "$script" >"$STUB_DIR/out.${id}_$i" 2>&1 &
    done
    for i in $(seq "$lo" "$hi"); do wait -n; done
else
    SLURM_JOB_ID=$id bash "$script" >"$STUB_DIR/out.$id" 2>&1
fi
touch "$STUB_DIR/done.$id"
if [ $parsable -eq 1 ]; then echo "$id"; else echo "Submitted batch job $id"; fi
EOF
chmod +x "$t/stub/sbatch"
export STUB_DIR=$t/stub STUB_LOG=$t/stub/log PATH="$t/stub:$PATH"
case $B in /*) abs=$B ;; *) abs=$ROOT/$B ;; esac
export SUITE=smoke SHARD_CLASS=cpu OUT=$t/fleet BENCH=$abs BENCH_ARGS="--device cpu --max-time 0.05"

(cd "$ROOT" && docs/slurm/submit.sh) >"$t/submit.out" 2>"$t/submit.err"; rc=$?
check "submit.sh exits 0 (got $rc: $(tail -n 2 "$t/submit.err"))" [ $rc -eq 0 ]
check "two jobs: the array of 4 shards, then the merge" [ "$(wc -l <"$STUB_LOG")" -eq 2 ] &&
    check "the array from the script's #SBATCH line" grep -q '^job 101: shards.sbatch array=1-4 dependency=$' "$STUB_LOG" &&
    check "the merge after every task ended, whatever its exit" grep -q '^job 102: merge.sbatch array= dependency=afterany:101$' "$STUB_LOG"
n_smoke=$("$B" suite smoke --device cpu --list | wc -l)
for i in 1 2 3 4; do
    check "shard $i: its database" [ -s "$OUT/shard$i.db" ]
    check "shard $i: ran shard $i/4 ($(tail -n 1 "$STUB_DIR/out.101_$i"))" grep -q "^shard $i/4 by predicted cost on cpu" "$STUB_DIR/out.101_$i"
done
m=$OUT/merged.db
check "merged.db: every case of smoke once ($n_smoke)" \
    [ "$(sqlite3 "$m" 'SELECT count(*) || " " || count(DISTINCT case_str) FROM results')" = "$n_smoke $n_smoke" ]
check "merged.db: the 4 shards' runs, all finished" \
    [ "$(sqlite3 "$m" 'SELECT count(*) || " " || count(finished_at) FROM runs')" = "4 4" ]
check "merged.db: each run says its shard" \
    [ "$(sqlite3 "$m" "SELECT count(DISTINCT substr(config, instr(config, 'shard='), 9)) FROM runs")" -eq 4 ]
check "merged.db: PRAGMA integrity_check ok" [ "$(sqlite3 "$m" 'PRAGMA integrity_check')" = ok ]
if have gnuplot command -v gnuplot; then
    check "the merge job wrote the report" [ -s "$OUT/report/index.html" ]
fi

# A task requeued after it finished part of its shard: --resume continues
# its run (same host, same configuration), measuring none of it again.
db=$OUT/shard2.db
sqlite3 "$db" "UPDATE runs SET finished_at = NULL;
               DELETE FROM samples WHERE result_id > (SELECT min(id) + 2 FROM results);
               DELETE FROM results WHERE id > (SELECT min(id) + 2 FROM results)"
kept=$(sqlite3 "$db" 'SELECT group_concat(id || median_ms) FROM results')
(cd "$ROOT" && SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=4 bash docs/slurm/shards.sbatch) >/dev/null 2>"$t/err"; rc=$?
check "a requeued task exits 0 (got $rc)" [ $rc -eq 0 ]
check "it resumed its run" grep -q 'resuming run' "$t/err"
check "one run, finished, every case of the shard once" \
    [ "$(sqlite3 "$db" 'SELECT (SELECT count(*) FROM runs WHERE finished_at IS NOT NULL) || " " || count(*) || " " || count(DISTINCT case_str) FROM results')" = \
      "1 $(sqlite3 "$m" "SELECT count(*) FROM results r JOIN runs u ON u.id = r.run_id WHERE u.config LIKE '% shard=2/4 %'") $(sqlite3 "$m" "SELECT count(*) FROM results r JOIN runs u ON u.id = r.run_id WHERE u.config LIKE '% shard=2/4 %'")" ]
check "the three it had kept, as they were" \
    [ "$(sqlite3 "$db" "SELECT group_concat(id || median_ms) FROM results WHERE id <= (SELECT min(id) + 2 FROM results)")" = "$kept" ]

summary
