#!/usr/bin/env bash
# cute_layout.sh — the fragment maps of ops/ptx.cuh, which the CPU runner's
# mma.sync and ldmatrix follow, against CuTe's MMA and copy traits
# (tests/cute_layout.cu), CuTe being CUTLASS's statement of the same layouts,
# written independently of this project; and the TMA box placement of each
# swizzle against CuTe's GMMA K-major atoms. CuTe's headers come from PyPI's
# nvidia-cutlass, which make test fetches (scripts/deps.sh --test) into the
# tests' folder of tools ($SB_TEST_DEPS, default tests/.deps); nvcc compiles
# the check for the host (no GPU). Prints "cute-layout: ok <atom>" per atom
# and "mutation: caught <what>" per deliberately broken map.
set -u
cd "$(dirname "$0")/.."
source tests/lib.bash
inc=${SB_TEST_DEPS:-tests/.deps}/cutlass/include
nvcc=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
if [ ! -x "$nvcc" ]; then
    # Not a GPU's absence but the toolkit's: tests/run.sh counts it as a
    # skip that CI=true refuses.
    skip "no nvcc to compile CuTe's headers"; summary; exit
fi
have "CuTe's headers in $inc" [ -f "$inc/cute/tensor.hpp" ] || { summary; exit; }
if "$nvcc" -std=c++17 -I"$inc" -I. tests/cute_layout.cu -o "$t/cute_layout" 2>"$t/cc"; then
    pass=$((pass + 1))
    "$t/cute_layout" >"$t/out" 2>"$t/err"; rc=$?
    grep -E '^(cute-layout|mutation):' "$t/out"
    sed -n 's/^FAIL/FAIL/p' "$t/err" >&2
    last=$(tail -n 1 "$t/out")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2]))
    fi
    check "cute_layout exits 0 (exit $rc)" [ $rc -eq 0 ]
    check "every wrapped atom compared (15)" [ "$(grep -c '^cute-layout: ok' "$t/out")" -eq 15 ]
    check "every mutation caught (5)" [ "$(grep -c '^mutation: caught' "$t/out")" -eq 5 ]
else
    fail=$((fail + 1)); echo "FAIL cute_layout.sh: nvcc tests/cute_layout.cu:" >&2; head -20 "$t/cc" >&2
fi
summary
