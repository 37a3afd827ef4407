#!/usr/bin/env bash
# Runs every test executable given, then tests/*.sh; prints each one's
# summary and, last, the total as "N passed, M failed[, K skipped]".
#
# Only a check that needs a GPU may skip, and it says so on stderr:
#   SKIP <test>: no GPU: <what>
# Any other skip (another reason, or a skip counted in a test's summary
# with no such line to explain it) is listed and, under CI=true, counted as
# a failure: on CI every tool a check needs is installed (make test runs
# scripts/deps.sh --test), so nothing but the GPU may be missing.
# Exit status is non-zero when anything failed.
set -u
ci=0; [ "${CI:-}" = true ] && ci=1
pass=0; fail=0; skip=0; other=0; broken=0
summarise() {   # name, output-file, stderr-file, exit-code
    local last k lines gpu bad
    last=$(tail -n 1 "$2")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
        pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2]))
        k=${BASH_REMATCH[4]:-0}
        lines=$(grep -c '^SKIP' "$3"); gpu=$(grep -c '^SKIP [^ ]*: no GPU: ' "$3")
        bad=$((k - (gpu < k ? gpu : k)))
        grep '^SKIP' "$3" | grep -v '^SKIP [^ ]*: no GPU: ' | sed "s/^/$1: not for want of a GPU: /" | head -20
        [ "$k" -le "$lines" ] || echo "$1: $((k - lines)) skipped with no SKIP line saying why"
        if [ $ci -eq 1 ] && [ $bad -gt 0 ]; then
            fail=$((fail + bad)); skip=$((skip + k - bad))
            echo "FAIL $1: $bad skipped for a reason other than no GPU (CI=true counts them as failed)"
        else
            skip=$((skip + k)); other=$((other + bad))
        fi
        printf '%-28s %s\n' "$1" "$last"
        [ "$4" -eq 0 ] || [ "${BASH_REMATCH[2]}" -ne 0 ] || { broken=$((broken + 1)); echo "$1: exit $4 with no failed check"; }
    else
        broken=$((broken + 1)); fail=$((fail + 1))
        printf '%-28s did not finish (exit %s); its output:\n' "$1" "$4"
        cat "$2"
    fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# The CPU roofs (harness/ceilings.h) are measured once for the whole run
# into a scratch cache, not read from or written to the user's.
export SEQBENCH_CACHE_DIR=${SEQBENCH_CACHE_DIR:-$tmp/cache}
# The device locks (harness/devlock.h) of this run's benches, apart from
# those of any other bench on the machine (another checkout's tests).
export SEQBENCH_LOCK_DIR=${SEQBENCH_LOCK_DIR:-$tmp/locks}
mkdir -p "$SEQBENCH_LOCK_DIR"
for t in "$@" tests/*.sh; do
    [ "$t" = tests/run.sh ] && continue
    name=$(basename "$t")
    if [[ $t == *.sh ]]; then bash "$t" >"$tmp/out" 2>"$tmp/err"; else "$t" >"$tmp/out" 2>"$tmp/err"; fi
    rc=$?
    if [ $rc -ne 0 ] || grep -q '^FAIL' "$tmp/err"; then grep -E '^FAIL' "$tmp/err" | head -40; fi
    grep -E '^SKIP [^ ]*: no GPU: ' "$tmp/err" | sed "s/^/$name: /" | head -20
    summarise "$name" "$tmp/out" "$tmp/err" "$rc"
done
[ $other -eq 0 ] || echo "$other skipped for a reason other than no GPU (listed above): install what they need (scripts/deps.sh --test); CI=true fails on them"
if [ $skip -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ $fail -eq 0 ] && [ $broken -eq 0 ]
