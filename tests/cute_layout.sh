#!/usr/bin/env bash
# cute_layout.sh — the fragment maps of ops/ptx.cuh, which the CPU runner's
# mma.sync and ldmatrix follow, against CuTe's MMA and copy traits
# (tests/cute_layout.cu), CuTe being CUTLASS's statement of the same layouts,
# written independently of this project; and the TMA box placement of each
# swizzle against CuTe's GMMA K-major atoms. CuTe's headers come from PyPI's
# nvidia-cutlass, pinned below, fetched once into the tests' folder of tools
# ($SB_TEST_DEPS, default tests/.deps); nvcc compiles the check for the host
# (no GPU). Prints "cute-layout: ok <atom>" per atom and "mutation: caught
# <what>" per deliberately broken map.
set -u
cd "$(dirname "$0")/.."
source tests/lib.bash
CUTLASS_VERSION=4.2.0.0
deps=${SB_TEST_DEPS:-tests/.deps}
inc=$deps/cutlass-$CUTLASS_VERSION/include
nvcc=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
if [ ! -x "$nvcc" ]; then
    skip "no nvcc to compile CuTe's headers"; summary; exit
fi
if [ ! -f "$inc/cute/tensor.hpp" ]; then
    mkdir -p "$deps/wheels"
    if ! python3 -m pip download -q --no-deps --only-binary=:all: "nvidia-cutlass==$CUTLASS_VERSION" \
            -d "$deps/wheels" >"$t/pip" 2>&1; then
        skip "could not fetch nvidia-cutlass==$CUTLASS_VERSION from PyPI: $(tail -1 "$t/pip")"; summary; exit
    fi
    # Only CuTe's and CUTLASS's headers, from cutlass_library/source/include/.
    python3 - "$deps/wheels/nvidia_cutlass-$CUTLASS_VERSION-py3-none-any.whl" "$inc" <<'PY'
import os, sys, zipfile
wheel, inc = sys.argv[1], sys.argv[2]
prefix = "cutlass_library/source/include/"
with zipfile.ZipFile(wheel) as z:
    for m in z.namelist():
        if m.startswith(prefix) and not m.endswith("/"):
            dst = os.path.join(inc, m[len(prefix):])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as f:
                f.write(z.read(m))
PY
    rm -rf "$deps/wheels"
fi
check "CuTe's headers in $inc" [ -f "$inc/cute/tensor.hpp" ]
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
