#!/usr/bin/env bash
# kernels.sh — compile-time checks of the GPU code that need no GPU: every
# kernel was built by ptxas with no register spills and no local-memory
# stack (the reports the Makefile keeps in build/ops/**/*.ptxas).
set -u
pass=0; fail=0; skip=0
reports=$(find build/ops -name '*.ptxas' 2>/dev/null | sort)
if [ -z "$reports" ]; then
    echo "SKIP kernels.sh: no ptxas reports (built without nvcc)" >&2
    echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
for r in $reports; do
    n=$(grep -c 'Compiling entry function' "$r")
    if [ "$n" -gt 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL kernels.sh: $r lists no kernel" >&2; fi
    spills=$(grep -E '[1-9][0-9]* bytes spill (stores|loads)' "$r")
    if [ -z "$spills" ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL kernels.sh: $r: register spills:" >&2; echo "$spills" | head -5 >&2; fi
    stack=$(grep -E '[1-9][0-9]* bytes stack frame' "$r")
    if [ -z "$stack" ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL kernels.sh: $r: local-memory stack frame:" >&2; echo "$stack" | head -5 >&2; fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
