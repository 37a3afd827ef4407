#!/usr/bin/env bash
# ab.sh — a same-runner A/B of two bench builds: every case of a suite timed
# by both, interleaved case by case, on one device of one machine, into two
# databases for `bench compare`. Only the build differs between the sides:
# the machine, its clocks, its load and the hour are shared, so a regression
# gate can hold a 3% threshold that a comparison with another runner's
# baseline cannot.
#
#   scripts/ab.sh BASE_BENCH HEAD_BENCH SUITE OUT_DIR [--filter PATTERN] [bench suite options...]
#   then: bench compare OUT_DIR/base.db OUT_DIR/head.db --threshold 3%
#
# The cases are HEAD's (`HEAD_BENCH suite SUITE --list`, after --filter).
# Case k runs on both sides, base first when k is even and head first when
# it is odd (ABBA), so a drift (a GPU warming up, a neighbour starting)
# falls on both sides alike. Each side runs a case as `bench suite SUITE
# --filter EXACT`, EXACT being the case string with its last character in
# brackets: a glob, which fnmatch matches against the whole string (a plain
# --filter matches a substring, and "... Dv=64" would also take "... Dv=64
# causal"). Any bench that has `suite --filter --db --md` takes part, so the
# base can be a build from before this script. Both sides read the suite
# file HEAD's checkout has (run from its root): a case the base cannot run
# is missing from base.db, and compare lists it as only in new.
#
# Exit: 0 when every side ran (a mismatch or error is in the databases, for
# compare to judge); 2 on bad usage; 130/143 when interrupted.
set -u
if [ $# -lt 4 ]; then
    echo "usage: scripts/ab.sh BASE_BENCH HEAD_BENCH SUITE OUT_DIR [--filter PATTERN] [bench suite options...]" >&2
    exit 2
fi
base=$1 head=$2 suite=$3 out=$4
shift 4
filter=()
if [ "${1:-}" = --filter ] && [ $# -ge 2 ]; then
    filter=(--filter "$2")
    shift 2
fi
for b in "$base" "$head"; do
    [ -x "$b" ] || { echo "ab.sh: $b is not an executable bench" >&2; exit 2; }
done
mkdir -p "$out" || exit 2
"$head" suite "$suite" --list "${filter[@]}" "$@" >"$out/cases" || {
    echo "ab.sh: $head suite $suite --list failed" >&2; exit 2; }
n=$(wc -l <"$out/cases")
echo "ab.sh: $n cases of $suite, interleaved: $base (base) and $head (head)" >&2

k=0
while IFS= read -r c; do
    if [ $((k % 2)) -eq 0 ]; then order=(base head); else order=(head base); fi
    for s in "${order[@]}"; do
        if [ "$s" = base ]; then b=$base; else b=$head; fi
        glob="${c%?}[${c: -1}]"
        "$b" suite "$suite" --filter "$glob" --db "$out/$s.db" --md /dev/null "$@" \
            >/dev/null 2>"$out/$s.err"
        rc=$?
        if [ $rc -ge 128 ]; then
            echo "ab.sh: interrupted during $c ($s)" >&2
            exit $rc
        fi
        [ $rc -le 1 ] || echo "ab.sh: $s could not run $c (exit $rc: $(tail -n 1 "$out/$s.err"))" >&2
    done
    k=$((k + 1))
    echo "ab.sh: [$k/$n] $c" >&2
done <"$out/cases"
exit 0
