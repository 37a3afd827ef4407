#!/usr/bin/env bash
# kernels.sh — compile-time checks of the GPU code that need no GPU: every
# kernel was built by ptxas with no register spills and no local-memory
# stack (the reports the Makefile keeps beside each object: build/ops/**/*.ptxas,
# build/harness/*.ptxas), and a .cu
# file that says "sass-expect: INSN" (e.g. HMMA) holds that instruction in
# its sm_90a SASS (cuobjdump and nvdisasm, from PyPI's nvidia-cuda-cuobjdump
# and nvidia-cuda-nvdisasm, found by tests/cuobjdump.bash; skipped when they
# are not installed).
set -u
pass=0; fail=0; skip=0
reports=$(find build/ops build/harness -name '*.ptxas' 2>/dev/null | sort)
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

source "$(dirname "$0")/cuobjdump.bash"
objdump=$(sb_cuobjdump)
for cu in $(grep -l 'sass-expect:' ops/*/*.cu harness/*.cu 2>/dev/null); do
    obj=build/${cu%.cu}.o
    for insn in $(sed -n 's/.*sass-expect: *\([A-Z0-9.]*\).*/\1/p' "$cu"); do
        if [ -z "$objdump" ] || [ ! -x "$objdump" ]; then
            skip=$((skip + 1)); echo "SKIP kernels.sh: $cu: no cuobjdump to look for $insn (pip install nvidia-cuda-cuobjdump)" >&2; continue
        fi
        n=$("$objdump" --dump-sass --gpu-architecture sm_90a "$obj" 2>/dev/null | grep -c "$insn")
        if [ "$n" -gt 0 ]; then pass=$((pass + 1)); else
            fail=$((fail + 1)); echo "FAIL kernels.sh: $cu: no $insn in the sm_90a SASS of $obj" >&2; fi
    done
done
if [ $skip -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ $fail -eq 0 ]
