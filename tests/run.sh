#!/usr/bin/env bash
# Runs every test executable given, then the CLI tests; prints each one's
# summary and, last, the total as "N passed, M failed[, K skipped]".
# Exit status is non-zero when anything failed.
set -u
pass=0; fail=0; skip=0; broken=0
summarise() {   # name, output-file, exit-code
    local last
    last=$(tail -n 1 "$2")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
        pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2]))
        skip=$((skip + ${BASH_REMATCH[4]:-0}))
        printf '%-28s %s\n' "$1" "$last"
        [ "$3" -eq 0 ] || [ "${BASH_REMATCH[2]}" -ne 0 ] || { broken=$((broken + 1)); echo "$1: exit $3 with no failed check"; }
    else
        broken=$((broken + 1)); fail=$((fail + 1))
        printf '%-28s did not finish (exit %s); its output:\n' "$1" "$3"
        cat "$2"
    fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# The CPU roofs (harness/ceilings.h) are measured once for the whole run
# into a scratch cache, not read from or written to the user's.
export SEQBENCH_CACHE_DIR=${SEQBENCH_CACHE_DIR:-$tmp/cache}
for t in "$@" tests/*.sh; do
    [ "$t" = tests/run.sh ] && continue
    name=$(basename "$t")
    if [[ $t == *.sh ]]; then bash "$t" >"$tmp/out" 2>"$tmp/err"; else "$t" >"$tmp/out" 2>"$tmp/err"; fi
    rc=$?
    if [ $rc -ne 0 ] || grep -q '^FAIL' "$tmp/err"; then grep -E '^FAIL' "$tmp/err" | head -40; fi
    grep -E '^SKIP' "$tmp/err" | sed "s/^/$name: /" | head -20
    summarise "$name" "$tmp/out" "$rc"
done
if [ $skip -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ $fail -eq 0 ] && [ $broken -eq 0 ]
