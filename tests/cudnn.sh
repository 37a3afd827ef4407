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

# Wherever flash/cudnn cannot run (no GPU here, or no cuDNN), a skip with its
# reason, exit 0, and the row stored as it was printed.
if grep -q '^| gpu | none' "$t/env"; then
    SEQBENCH_CUDNN="$t/none/libcudnn.so.9" "$B" run flash --impl cudnn --dtype bf16 --N 64 --H 2 --D 64 \
        --causal --db "$t/r.db" >"$t/out" 2>"$t/err"; rc=$?
    check "run flash --impl cudnn exits 0 (got $rc: $(head -c 300 "$t/err"))" [ "$rc" -eq 0 ]
    check "run flash --impl cudnn: skipped, no CUDA device (got: $(grep cudnn "$t/out"))" \
        grep -q '| flash/cudnn bf16 .* | skipped: no CUDA device' "$t/out"
    if command -v sqlite3 >/dev/null; then
        check "the skip is stored" [ "$(sqlite3 "$t/r.db" "SELECT count(*) FROM results WHERE impl = 'cudnn'
            AND status LIKE 'skipped: no CUDA device%' AND impl_info IS NULL")" = 1 ]
    else
        skip "no sqlite3 shell to read the stored row"
    fi
    "$B" run flash --impl cudnn --N 64 --H 2 --D 64 --no-db >"$t/out" 2>&1; rc=$?
    check "fp32 is refused by dtype, exit 0 (got $rc: $(grep cudnn "$t/out"))" \
        bash -c "[ $rc -eq 0 ] && grep -q '| skipped: cudnn does not support fp32 |' '$t/out'"
else
    skip "a GPU is present: tests/test_cudnn.c runs flash/cudnn on it"
fi
summary
