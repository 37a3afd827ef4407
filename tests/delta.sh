#!/usr/bin/env bash
# delta.sh — the delta family's GPU kernels checked without a GPU: each
# kernel's index math transcribed to NumPy (tests/delta_kernels.py) runs on
# the inputs of a few `bench run --dump` cases (partial chunks, Hv = 4·H,
# D ≠ Dv, state, gate on/off, decode, fp32 and bf16: the tensor-core
# kernels' fragments go through an m16n8k16 emulator) and must write every element and
# match the float64 reference. Skipped without python3 + numpy.
set -u
pass=0; fail=0
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP delta.sh: python3 with numpy not found" >&2
    echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cases=(
    "--B 2 --N 130 --H 1 --Hv 2 --D 64 --Dv 128 --gate head --state"
    "--B 1 --N 64 --H 2 --Hv 2 --D 128 --Dv 64"
    "--B 1 --N 70 --H 2 --Hv 8 --D 64 --Dv 256 --gate head"
    "--B 1 --N 20 --H 1 --Hv 1 --D 256 --Dv 64 --state"
    "--B 2 --N 3 --H 1 --Hv 4 --D 64 --Dv 64 --gate head --state"
    "--B 1 --N 1 --H 2 --Hv 2 --D 128 --Dv 128 --state"
    "--B 1 --N 16 --H 1 --Hv 2 --D 256 --Dv 64 --gate head"
    "--dtype bf16 --B 1 --N 70 --H 1 --Hv 2 --D 64 --Dv 64 --gate head --state"
    "--dtype bf16 --B 2 --N 150 --H 1 --Hv 4 --D 128 --Dv 64 --gate head"
    "--dtype bf16 --B 1 --N 64 --H 1 --Hv 1 --D 64 --Dv 256 --state"
    "--dtype bf16 --B 1 --N 9 --H 1 --Hv 1 --D 256 --Dv 128 --gate head --state"
)
dirs=()
for i in "${!cases[@]}"; do
    # shellcheck disable=SC2086
    if bin/bench run delta --impl ref ${cases[$i]} --no-db --dump "$tmp/c$i" >"$tmp/log" 2>&1; then
        dirs+=("$tmp/c$i")
    else
        fail=$((fail + 1)); echo "FAIL delta.sh: bench run ${cases[$i]} --dump:" >&2; tail -3 "$tmp/log" >&2
    fi
done
python3 tests/delta_kernels.py "${dirs[@]}" >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out" >&2
n_ok=$(grep -c '^ok' "$tmp/out"); n_bad=$(grep -c '^FAIL' "$tmp/out")
pass=$((pass + n_ok)); fail=$((fail + n_bad))
if [ $rc -ne 0 ] && [ "$n_bad" -eq 0 ]; then
    fail=$((fail + 1)); echo "FAIL delta.sh: delta_kernels.py exited $rc" >&2; tail -5 "$tmp/out" >&2
fi
grep '^FAIL' "$tmp/out" | sed 's/^/FAIL delta.sh: /' >&2
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
