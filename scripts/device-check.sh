#!/usr/bin/env bash
# device-check.sh — a GPU session's one prepared call, for a machine lent
# with a GPU but without the toolkit, gnuplot or a network. Stages, each
# held to its own budget by `timeout`, everything written to one folder:
#
#   env       nvidia-smi, bench env, bench list impls            -> env.txt
#   sanitize  compute-sanitizer memcheck, racecheck, synccheck and initcheck,
#             each over every kernel at the families' small edge shapes
#             (bench verify --device cuda:0, one family at a time, the
#             tool's budget split over the families)         -> sanitize.txt
#   verify    bench verify --device cuda:0: every implementation against
#             its reference on the edge shapes, every row   -> verify.txt
#   suite     bench suite SUITE into bench.db, its table      -> suite.md,
#             log in suite.txt
#
# and summary.txt: the plan (each stage's budget and command) and one line
# per stage and tool with how it ended. A tool the machine lacks or refuses
# (compute-sanitizer on some virtualised GPUs: "Device not supported") is
# one line there, and the next stage runs. At most 7 files: the device
# tool brings back 8.
#
# Build on the build machine first, portable to the device's CPU and for
# Hopper only, then carry bin/:
#     make clean && make CPU_ARCH=-march=x86-64-v3 CUDA_ARCHS=90a bin/bench
# and on the device (repository root):
#     bash scripts/device-check.sh --out "$OUT"
# --dry-run prints the plan and lays out the folder without running
# anything (tests/device_check.sh runs it on the CPU).
#
# bench links cuBLAS and cuFFT dynamically; the device has no toolkit, so the
# libraries come from whatever Python wheel ships them (nvidia-cublas,
# nvidia-cufft; CUDA 13's share nvidia/cu13/lib), found by name ($CUBLAS_DIRS,
# a colon-separated list, instead when set).
set -u

usage() {
    cat <<'EOF'
usage: scripts/device-check.sh [--out DIR] [--stages LIST] [--budget STAGE=SECONDS]...
                               [--limit SECONDS] [--suite NAME] [--dry-run]
  --out DIR        the output folder (default $OUT, else /tmp/seqbench-out)
  --stages LIST    comma-separated, in this order: env,sanitize,verify,suite (default all)
  --budget S=N     seconds for stage S (defaults env=30 sanitize=240 verify=120 suite=150)
  --limit N        the stages' budgets must add up to at most N seconds (default 580:
                   one device call may run 600)
  --suite NAME     the suite of the suite stage (default long-context)
  --dry-run        print the plan, lay out the folder, run nothing
EOF
}
die() { echo "device-check.sh: $*" >&2; exit 2; }

STAGES=(env sanitize verify suite)
declare -A budget=([env]=30 [sanitize]=240 [verify]=120 [suite]=150)
TOOLS=(memcheck racecheck synccheck initcheck)
FAMILIES=(softmax flash linear gated delta ssm sparse)
out=${OUT:-/tmp/seqbench-out}
stages=env,sanitize,verify,suite
limit=580
suite=long-context
dry=0
BENCH=${BENCH:-bin/bench}

while [ $# -gt 0 ]; do
    case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift 2 ;;
    --stages) [ $# -ge 2 ] || die "--stages needs a list"; stages=$2; shift 2 ;;
    --budget)
        [ $# -ge 2 ] || die "--budget needs STAGE=SECONDS"
        [[ $2 =~ ^([a-z]+)=([0-9]+)$ ]] || die "--budget '$2': expected STAGE=SECONDS (a whole number)"
        [ -n "${budget[${BASH_REMATCH[1]}]+x}" ] || die "--budget '$2': no stage '${BASH_REMATCH[1]}' (env, sanitize, verify, suite)"
        [ "${BASH_REMATCH[2]}" -gt 0 ] || die "--budget '$2': a stage needs at least 1 second"
        budget[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}; shift 2 ;;
    --limit) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--limit needs a whole number of seconds"; limit=$2; shift 2 ;;
    --suite) [ $# -ge 2 ] || die "--suite needs a name"; suite=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (--help)" ;;
    esac
done

# The stages asked for, in their fixed order; their budgets add up within the limit.
declare -A want=()
IFS=, read -ra asked <<<"$stages"
[ ${#asked[@]} -gt 0 ] || die "--stages is empty"
for s in "${asked[@]}"; do
    [ -n "${budget[$s]+x}" ] || die "--stages: no stage '$s' (env, sanitize, verify, suite)"
    want[$s]=1
done
total=0
for s in "${STAGES[@]}"; do [ -n "${want[$s]+x}" ] && total=$((total + budget[$s])); done
[ $total -le "$limit" ] || die "the budgets of $stages add up to $total s, over the limit of $limit s"
per_tool=$((budget[sanitize] / ${#TOOLS[@]}))
per_family=$((per_tool / ${#FAMILIES[@]}))
[ -z "${want[sanitize]+x}" ] || [ $per_family -ge 1 ] ||
    die "--budget sanitize=${budget[sanitize]}: under 1 s per tool and family (${#TOOLS[@]} tools x ${#FAMILIES[@]} families)"
# bench suite stops itself a little before its stage's timeout, which then
# only catches a hang.
suite_inner=$((budget[suite] > 60 ? budget[suite] - 30 : budget[suite] / 2))

mkdir -p "$out" || die "cannot create $out"
summary=$out/summary.txt
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }

say "device-check: stages $stages, budgets $(for s in "${STAGES[@]}"; do [ -n "${want[$s]+x}" ] && printf '%s=%ss ' "$s" "${budget[$s]}"; done)= $total s of $limit s"
[ -n "${want[sanitize]+x}" ] && say "plan sanitize: ${#TOOLS[@]} tools x ${#FAMILIES[@]} families, $per_tool s a tool, $per_family s a family"
[ -n "${want[suite]+x}" ] && say "plan suite: bench suite $suite --budget $suite_inner under timeout ${budget[suite]}"
[ $dry -eq 1 ] && say "dry run: nothing is run"

# Runs "$@" with output to file f under `timeout secs`, or in a dry run
# writes the command there; echoes how it ended: exit N, or timeout.
run() {   # secs, file, command...
    local secs=$1 f=$2; shift 2
    if [ $dry -eq 1 ]; then
        echo "dry run: timeout $secs $*" >>"$f"
        echo "not run"
        return
    fi
    echo "\$ timeout $secs $*" >>"$f"
    timeout "$secs" "$@" >>"$f" 2>&1
    local rc=$?
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo "stopped at its budget ($secs s)"; else echo "exit $rc"; fi
}

if [ $dry -eq 0 ]; then
    # $CUBLAS_DIRS, when set (even empty), saves the search.
    libdirs=${CUBLAS_DIRS-$(find / -xdev \( -name 'libcublas.so*' -o -name 'libcublasLt.so*' -o -name 'libcufft.so*' \
                           -o -name 'libcupti.so*' \) 2>/dev/null |
                           xargs -r -n1 dirname | sort -u | paste -sd: -)}
    export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "cuBLAS, cuFFT from: ${libdirs:-not found}"
fi

if [ -n "${want[env]+x}" ]; then
    f=$out/env.txt; : >"$f"
    start=$SECONDS
    if [ $dry -eq 1 ] || command -v nvidia-smi >/dev/null; then
        r1=$(run $((budget[env] / 3)) "$f" nvidia-smi)
    else
        r1="nvidia-smi not found"; echo "$r1" >>"$f"
    fi
    r2=$(run $((budget[env] / 3)) "$f" "$BENCH" env --device cuda:0)
    r3=$(run $((budget[env] / 3)) "$f" "$BENCH" list impls)
    say "env: nvidia-smi $r1; bench env $r2; bench list impls $r3 ($((SECONDS - start)) s)"
fi

if [ -n "${want[sanitize]+x}" ]; then
    f=$out/sanitize.txt; : >"$f"
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer \
         /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
    if [ $dry -eq 0 ] && [ -z "$cs" ]; then
        say "sanitize: compute-sanitizer unavailable here: not installed (next stage)"
    else
        cs=${cs:-compute-sanitizer}
        refused=
        for tool in "${TOOLS[@]}"; do
            [ -n "$refused" ] && break
            for fam in "${FAMILIES[@]}"; do
                echo "==== $tool $fam" >>"$f"
                mark=$(wc -l <"$f")
                r=$(run $per_family "$f" "$cs" --tool "$tool" --error-exitcode 86 --print-limit 20 \
                    "$BENCH" verify --device cuda:0 --family "$fam")
                new=$(tail -n +"$((mark + 1))" "$f")
                if grep -qE 'Device not supported|not supported on this|Unable to (find|initialize|create)|error 999|unknown error|LibraryNotLoaded' <<<"$new"; then
                    refused=$(grep -m1 -E 'Device not supported|not supported on this|Unable to|error 999|unknown error|LibraryNotLoaded' <<<"$new")
                    say "sanitize: compute-sanitizer unavailable here: $refused (next stage)"
                    break
                fi
                if [ $dry -eq 1 ]; then
                    say "sanitize $tool $fam: $r"
                else
                    errors=$(grep -cE '^========= (Invalid|Race|Barrier|Uninitialized|Error|Program hit)' <<<"$new")
                    say "sanitize $tool $fam: $r, $errors reports"
                fi
            done
        done
    fi
fi

if [ -n "${want[verify]+x}" ]; then
    f=$out/verify.txt; : >"$f"
    start=$SECONDS
    r=$(run "${budget[verify]}" "$f" "$BENCH" verify --device cuda:0)
    say "verify: $r: $(grep -E '^verify: ' "$f" | tail -1) ($((SECONDS - start)) s)"
fi

if [ -n "${want[suite]+x}" ]; then
    f=$out/suite.txt; : >"$f"
    start=$SECONDS
    # Every result is committed as it finishes: a timeout loses only the case in flight.
    r=$(run "${budget[suite]}" "$f" "$BENCH" suite "$suite" --device cuda:0 --db "$out/bench.db" \
        --budget "$suite_inner" --max-time 0.5 --md "$out/suite.md")
    say "suite $suite: $r: $(tail -n 1 "$f") ($((SECONDS - start)) s)"
fi
# The profiling checks (CUPTI, NVML, --profile) need about 3 minutes more
# than one call leaves: scripts/profile-check.sh is a device call of its own.
say "device-check: done; files in $out: $(cd "$out" && ls | paste -sd' ' -)"
