#!/usr/bin/env bash
# gla.sh — the GPU kernels of ops/gated/ transcribed into NumPy
# (tests/gla_emulate.py: their index math and mma fragment layouts, thread
# by thread) against the float64 recurrence, and the multiply-adds their
# product statements execute against the flops_executed bench stores for
# each case. Needs no GPU; skipped without python3 and numpy.
set -u
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP gla.sh: python3 with numpy not found" >&2
    echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
out=$(python3 "$(dirname "$0")/gla_emulate.py" 2>/tmp/gla_emulate.$$.err); rc=$?
sed -n 's/^FAIL/FAIL gla.sh:/p' /tmp/gla_emulate.$$.err >&2
rm -f /tmp/gla_emulate.$$.err
# Each kernel's executed FLOPs as bench stores them (flops_executed: a run
# without a GPU stores it beside "skipped") against twice the multiply-adds
# the transcribed kernels' product statements counted.
last=$(echo "$out" | tail -n 1)
pass=0; fail=0
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then pass=${BASH_REMATCH[1]}; fail=${BASH_REMATCH[2]}; fi
B=${BENCH:-bin/bench}
if [ -x "$B" ] && command -v sqlite3 >/dev/null; then
    db=$(mktemp -u /tmp/gla_sh.XXXXXX.db)
    while read -r _ fam impl dtype rest; do
        args=${rest% = *}; macs=${rest##* = }
        rm -f "$db"
        # shellcheck disable=SC2086
        "$B" run "$fam" --impl "$impl" --dtype "$dtype" $args --db "$db" --max-time 0.05 >/dev/null 2>&1
        got=$(sqlite3 "$db" 'SELECT printf("%.0f", flops_executed) FROM results' 2>/dev/null)
        if [ -n "$got" ] && [ "$got" = "$((2 * macs))" ]; then pass=$((pass + 1)); else
            fail=$((fail + 1))
            echo "FAIL gla.sh: $fam/$impl $dtype $args: flops_executed ${got:-none} != 2 x $macs counted" >&2
        fi
    done < <(echo "$out" | grep '^macs ')
    rm -f "$db"
    echo "$pass passed, $fail failed"
else
    echo "SKIP gla.sh: no $B or sqlite3: executed counts not compared" >&2
    echo "$pass passed, $fail failed, 1 skipped"
fi
[ $rc -eq 0 ] && [ $fail -eq 0 ]
