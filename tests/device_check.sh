#!/usr/bin/env bash
# device_check.sh — scripts/device-check.sh on the CPU: its arguments (bad
# ones: one line, exit 2), the budget arithmetic, the output folder a dry
# run lays out, and a real run against stand-ins for the GPU tools
# (nvidia-smi, a compute-sanitizer that refuses the device as on some
# virtualised GPUs, a bench that records its calls and whose suite outlasts
# its stage): the refusal is one line and the next stages run, a stage is
# stopped at its budget.
set -u
source "$(dirname "$0")/lib.bash"
dc=scripts/device-check.sh

# Bad arguments: exit 2, one line on stderr, the phrase that explains it.
dc_bad() {    # phrase, args...
    local phrase=$1; shift
    bash "$dc" --dry-run --out "$t/bad" "$@" >"$t/out" 2>"$t/err"; local rc=$?
    check "device-check $* exits 2 (got $rc)" [ $rc -eq 2 ]
    check "device-check $*: one line on stderr" [ "$(wc -l <"$t/err")" -eq 1 ]
    check "device-check $*: says '$phrase' (said: $(head -c 200 "$t/err"))" grep -q -- "$phrase" "$t/err"
}
dc_bad "no stage 'foo'" --budget foo=3
dc_bad "at least 1 second" --budget verify=0
dc_bad "expected STAGE=SECONDS" --budget verify=x
dc_bad "no stage 'nope'" --stages env,nope
dc_bad "unknown argument '--bogus'" --bogus
dc_bad "add up to 620 s, over the limit of 580 s" --budget suite=230
dc_bad "under 1 s per tool and family" --budget sanitize=12
dc_bad "--limit needs a whole number" --limit soon

# A dry run with the defaults: the plan, every stage's file, nothing run.
bash "$dc" --dry-run --out "$t/dry" >"$t/out" 2>"$t/err"
check "dry run exits 0" [ $? -eq 0 ]
s=$t/dry/summary.txt
check "the budgets add up: 30 + 240 + 120 + 150 = 540 of 580" grep -q 'env=30s sanitize=240s verify=120s suite=150s = 540 s of 580 s' "$s"
check "sanitize: 60 s a tool, 8 s a family" grep -q '4 tools x 7 families, 60 s a tool, 8 s a family' "$s"
check "every tool on every family planned (28 lines)" [ "$(grep -c '^sanitize [a-z]* [a-z]*: not run' "$s")" -eq 28 ]
check "bench suite stops itself 30 s before its stage's timeout" grep -q 'bench suite long-context --budget 120 under timeout 150' "$s"
for f in summary env sanitize verify suite; do
    check "dry run lays out $f.txt" [ -f "$t/dry/$f.txt" ]
done
check "sanitize.txt holds the racecheck command with its timeout" \
    grep -q 'timeout 8 compute-sanitizer --tool racecheck --error-exitcode 86 .* verify --device cuda:0 --family sparse' "$t/dry/sanitize.txt"
check "at most 7 files (the device tool brings back 8)" [ "$(ls "$t/dry" | wc -l)" -le 7 ]

# Chosen stages and budgets.
bash "$dc" --dry-run --out "$t/two" --stages verify,sanitize --budget sanitize=100 --budget verify=50 >/dev/null 2>&1
check "two stages: 100 + 50 = 150" grep -q 'sanitize=100s verify=50s = 150 s of 580 s' "$t/two/summary.txt"
check "two stages: 25 s a tool, 3 s a family" grep -q '25 s a tool, 3 s a family' "$t/two/summary.txt"
check "two stages: no env or suite files" [ ! -e "$t/two/env.txt" ] && [ ! -e "$t/two/suite.txt" ]

# A real run against stand-ins.
mkdir -p "$t/fake"
cat >"$t/fake/nvidia-smi" <<'EOF'
#!/bin/sh
echo "NVIDIA H100 80GB HBM3 (stand-in)"
EOF
cat >"$t/fake/compute-sanitizer" <<'EOF'
#!/bin/sh
echo "========= Error: Device not supported"
exit 1
EOF
cat >"$t/fake/bench" <<EOF
#!/bin/sh
echo "\$*" >>"$t/calls"
case "\$1" in
verify) echo "verify: 12 ok, 0 failed, 3 skipped" >&2 ;;
suite) sleep 30 ;;
*) echo "bench \$1 (stand-in)" ;;
esac
EOF
chmod +x "$t/fake/"*
start=$SECONDS
PATH="$t/fake:$PATH" BENCH="$t/fake/bench" CUBLAS_DIRS= \
    bash "$dc" --out "$t/real" --budget suite=4 --budget sanitize=40 >"$t/out" 2>&1
rc=$?
s=$t/real/summary.txt
check "real run exits 0 (got $rc)" [ $rc -eq 0 ]
check "the refusing compute-sanitizer is one line" \
    [ "$(grep -c 'compute-sanitizer unavailable here: ========= Error: Device not supported (next stage)' "$s")" -eq 1 ]
check "no tool runs after the refusal" [ "$(grep -c '^sanitize ' "$s")" -eq 0 ]
check "verify ran after it" grep -q '^verify: exit 0: verify: 12 ok, 0 failed, 3 skipped' "$s"
check "bench verify was called on cuda:0" grep -qx 'verify --device cuda:0' "$t/calls"
check "the suite was stopped at its budget" grep -q '^suite long-context: stopped at its budget (4 s)' "$s"
check "bench suite got its database and table in the folder" \
    grep -q "suite long-context --device cuda:0 --db $t/real/bench.db --budget 2 --max-time 0.5 --md $t/real/suite.md" "$t/calls"
check "env ran nvidia-smi" grep -q 'stand-in' "$t/real/env.txt"
check "the whole run kept to its budgets ($((SECONDS - start)) s)" [ $((SECONDS - start)) -lt 30 ]
summary
