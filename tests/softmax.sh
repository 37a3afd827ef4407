#!/usr/bin/env bash
# softmax.sh — the operand layout of ops/softmax/softmax_cublas.cu (pointer
# arrays, transposes, leading dimensions of both batched GEMMs) transcribed
# into NumPy with cuBLAS's column-major semantics (tests/softmax_emulate.py)
# against float64 attention. Needs no GPU; skipped without python3 and numpy.
set -u
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP softmax.sh: python3 with numpy not found" >&2
    echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
err=$(mktemp); trap 'rm -f "$err"' EXIT
out=$(python3 "$(dirname "$0")/softmax_emulate.py" 2>"$err"); rc=$?
sed -n 's/^FAIL/FAIL softmax.sh:/p' "$err" >&2
echo "$out" | tail -n 1
exit $rc
