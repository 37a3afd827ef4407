#!/usr/bin/env bash
# gla.sh — the GPU kernels of ops/gated/ transcribed into NumPy
# (tests/gla_emulate.py: their index math and mma fragment layouts, thread
# by thread) against the float64 recurrence. Needs no GPU; skipped without
# python3 and numpy.
set -u
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP gla.sh: python3 with numpy not found" >&2
    echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
out=$(python3 "$(dirname "$0")/gla_emulate.py" 2>/tmp/gla_emulate.$$.err); rc=$?
sed -n 's/^FAIL/FAIL gla.sh:/p' /tmp/gla_emulate.$$.err >&2
rm -f /tmp/gla_emulate.$$.err
echo "$out" | tail -n 1
exit $rc
