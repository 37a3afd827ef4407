#!/usr/bin/env bash
# cudnn.sh — flash/cudnn from the command line: bench names libcudnn.so but
# does not link it (strings yes, ldd no); `bench list impls` shows the row and
# its status; `bench env` reports the cuDNN found, or why none (SEQBENCH_CUDNN
# pointing at a missing file); `bench run flash --impl cudnn` is a result
# with a reason and exit 0 wherever it cannot run, stored as such.
set -u
. "$(dirname "$0")/lib.bash"

if ! grep -q -- '-DSB_HAVE_CUDNN' build/flags 2>/dev/null; then
    skip "built without cuDNN's headers"
    check "list impls shows flash/cudnn" grep -q '^| flash/cudnn |' <("$B" list impls)
    summary; exit
fi

if command -v strings >/dev/null; then
    check "strings bin/bench names libcudnn.so" grep -q 'libcudnn\.so' <(strings "$B")
else
    skip "no strings(1)"
fi
if command -v ldd >/dev/null; then
    check "ldd bin/bench names no cuDNN" bash -c "! ldd '$B' | grep -qi cudnn"
else
    skip "no ldd(1)"
fi

"$B" list impls >"$t/impls"
check "list impls: flash/cudnn, cuda, bf16 fp16, unverified" \
    grep -q '^| flash/cudnn | cuda | bf16 fp16 | yes | unverified: never run on a GPU |' "$t/impls"

SEQBENCH_CUDNN="$t/none/libcudnn.so.9" "$B" env >"$t/env" 2>&1
check "env without cuDNN says why (got: $(grep cudnn "$t/env"))" \
    grep -q "^| cudnn (loaded at run time) | cuDNN not found (SEQBENCH_CUDNN=$t/none/libcudnn.so.9: No such file or directory) |" "$t/env"
"$B" env >"$t/env" 2>&1
if grep -q '^| cudnn (loaded at run time) | 9\.' "$t/env"; then
    pass=$((pass + 1))
else
    skip "no cuDNN found here: $(grep cudnn "$t/env")"
fi

# Without a GPU, naming flash/cudnn is bad usage (the device is the CPU);
# on a host whose GPU cannot be set up (the fault hook) it is a skip with its
# reason, stored as printed, and the run exits 1 (no GPU implementation ran).
if grep -q '^| gpu | none' "$t/env"; then
    "$B" run flash --impl cudnn --dtype bf16 --N 64 --H 2 --D 64 --causal --no-db >"$t/out" 2>"$t/err"; rc=$?
    check "no GPU: run flash --impl cudnn is bad usage, exit 2 (got $rc: $(head -c 300 "$t/err"))" \
        bash -c "[ $rc -eq 2 ] && grep -q 'flash/cudnn runs on a GPU' '$t/err'"
    SEQBENCH_GPU_FAULT="test fault" SEQBENCH_CUDNN="$t/none/libcudnn.so.9" "$B" run flash --impl cudnn \
        --dtype bf16 --N 64 --H 2 --D 64 --causal --db "$t/r.db" >"$t/out" 2>"$t/err"; rc=$?
    check "a broken GPU host: exit 1 (got $rc: $(head -c 300 "$t/err"))" [ "$rc" -eq 1 ]
    check "a broken GPU host: skipped with the reason (got: $(grep cudnn "$t/out"))" \
        grep -q '| flash/cudnn bf16 .* | skipped: GPU setup failed: test fault' "$t/out"
    check "the skip is stored" [ "$(sqlite3 "$t/r.db" "SELECT count(*) FROM results WHERE impl = 'cudnn'
        AND status LIKE 'skipped: GPU setup failed: test fault%' AND impl_info IS NULL")" = 1 ]
    SEQBENCH_GPU_FAULT="test fault" "$B" run flash --impl cudnn --N 64 --H 2 --D 64 --no-db >"$t/out" 2>&1
    check "fp32 is refused by dtype (got: $(grep cudnn "$t/out"))" \
        grep -q '| skipped: cudnn does not support fp32 |' "$t/out"
else
    "$B" run flash --impl cudnn --dtype bf16 --N 64 --H 2 --D 64 --causal --no-db >"$t/out" 2>&1; rc=$?
    check "a GPU: run flash --impl cudnn exits 0 (got $rc)" [ "$rc" -eq 0 ]
    check "a GPU: ok or a skip with cuDNN's reason (got: $(grep cudnn "$t/out"))" \
        grep -qE '\| flash/cudnn bf16 .* \| (ok|skipped: cuDNN)' "$t/out"
fi
summary
