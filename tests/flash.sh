#!/usr/bin/env bash
# flash.sh — the split-KV path of ops/flash/flash_fwd.cu transcribed into
# NumPy (tests/flash_emulate.py: the split plan, the block decode, the
# epilogue's workspace slots and the combine kernel, thread by thread)
# against float64 attention. Needs no GPU; skipped without python3 and numpy.
set -u
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP flash.sh: python3 with numpy not found" >&2
    echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
err=$(mktemp); trap 'rm -f "$err"' EXIT
out=$(python3 "$(dirname "$0")/flash_emulate.py" 2>"$err"); rc=$?
sed -n 's/^FAIL/FAIL flash.sh:/p' "$err" >&2
echo "$out" | tail -n 1
exit $rc
