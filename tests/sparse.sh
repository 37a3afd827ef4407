#!/usr/bin/env bash
# sparse.sh — the sparse family and flash's window as a user meets them:
# `bench list families` names sparse; `bench verify --family sparse` passes
# on the CPU; `bench run sparse --dump` writes q, k, v, a uint8 block_mask
# and the outputs, which an independent NumPy transcription
# (tests/sparse_check.py) regenerates and recomputes as the dense masked
# softmax, for every pattern and flash --window/--sink; --load runs the
# same case; bad input — a block size that is not 64 or 128, a field the
# pattern does not read, a window without causal, a mask of the wrong
# shape or not the pattern's — is one line and exit 2; sparse/cuda's
# executed count is stored beside "skipped" where no GPU runs it.
set -u
source "$(dirname "$0")/lib.bash"

check "bench list families names sparse" grep -q '^| sparse | ref, cpu, cuda[,| ]' <("$B" list families)
"$B" verify --family sparse --device cpu >"$t/verify" 2>&1; rc=$?
check "verify --family sparse passes on the CPU (exit $rc)" [ $rc -eq 0 ]
check "verify ran ref and cpu on every edge shape in 3 dtypes" grep -q 'verify: 54 ok, 0 failed' "$t/verify"

# The dumps, one per pattern and two flash windows.
n=0
while read -r fam args; do
    n=$((n + 1))
    "$B" run $fam $args --dump "$t/d$n" --no-db --max-time 0.05 >"$t/out" 2>&1; rc=$?
    check "run $fam $args --dump exits 0 (got $rc)" [ $rc -eq 0 ]
    check "run $fam $args: ok" grep -qE '\| ok' "$t/out"
done <<'CASES'
sparse --impl ref --N 300 --dtype fp32
sparse --impl cpu --N 300 --dtype fp32
sparse --impl cpu --B 2 --N 300 --Nk 400 --H 3 --Hkv 1 --D 64 --causal --density 30 --bq 128 --bk 64 --dtype bf16
sparse --impl cpu --N 500 --H 2 --D 64 --pattern window --window 100 --bq 64 --bk 64
sparse --impl cpu --N 1 --Nk 3000 --H 2 --D 64 --pattern sink --window 500 --sink 4
sparse --impl cpu --N 400 --H 4 --Hkv 2 --D 64 --pattern strided --window 64 --density 25 --bq 64 --bk 64
sparse --impl cpu --N 300 --H 4 --D 64 --pattern mixed --window 64 --sink 1 --density 50 --bq 64 --bk 128 --dtype fp16
flash --impl cpu --N 200 --Nk 333 --H 4 --Hkv 2 --D 64 --causal --window 70 --sink 5
flash --impl ref --N 1 --Nk 3000 --H 2 --D 64 --causal --window 500 --sink 4 --dtype bf16
CASES
for f in case.json q.npy k.npy v.npy block_mask.npy out.npy ref.npy; do
    check "sparse dump wrote $f" [ -s "$t/d1/$f" ]
done
check "case.json names the pattern's fields" grep -q '"case": "sparse/ref fp32 B=1 N=300 Nk=300 H=8 Hkv=8 D=128 Dv=128 pattern=random density=10 bq=128 bk=128"' "$t/d1/case.json"
if have_numpy; then
    folders=(); for i in $(seq 1 $n); do folders+=("$t/d$i"); done
    numpy_run tests/sparse_check.py "${folders[@]}"
fi

# --load: the same case on the same inputs; then bad folders.
"$B" run --load "$t/d3" --no-db --max-time 0.05 >"$t/out" 2>&1; rc=$?
check "run --load of a sparse dump exits 0 (got $rc)" [ $rc -eq 0 ]
check "run --load ran the dumped case" grep -q '| sparse/cpu bf16 B=2 N=300 Nk=400 H=3 Hkv=1 D=64 Dv=64 causal pattern=random density=30 bq=128 bk=64 | ok' "$t/out"
if have "NumPy for $PY" "$PY" -c 'import numpy'; then
    cp -r "$t/d3" "$t/wrong"
    "$PY" -c "import numpy as np, sys; np.save(sys.argv[1], np.ones((1, 3, 3, 7), np.uint8))" "$t/wrong/block_mask.npy"
    bad 2 "block_mask.npy: shape (1, 3, 3, 7) does not match case.json (2, 3, 3, 7)" run --load "$t/wrong" --no-db
    cp -r "$t/d3" "$t/edited"
    "$PY" -c "import numpy as np, sys; m = np.load(sys.argv[1]); m[1, 2, 0, 0] ^= 1; np.save(sys.argv[1], m)" "$t/edited/block_mask.npy"
    bad 2 "block_mask\[1,2,0,0\] is" run --load "$t/edited" --no-db
fi

bad 2 "bq=32: the block size must be 64 or 128"    run sparse --bq 32 --no-db
bad 2 "bk=100: the block size must be 64 or 128"   run sparse --bk 100 --no-db
bad 2 "density=120: a percentage"                  run sparse --density 120 --no-db
bad 2 "window=64: pattern=random reads no window"  run sparse --window 64 --no-db
bad 2 "not one of its values"                       run sparse --pattern diagonal --no-db
bad 2 "window=64: a sliding window needs causal"   run flash --window 64 --no-db
bad 2 "sink=4: sink tokens need a window"          run flash --causal --sink 4 --no-db
bad 2 "softmax has no shape field --window"        run softmax --causal --window 64 --no-db

# sparse/cuda's and flash/cuda's executed counts with a mask, stored where
# no GPU runs them (the fault hook): the whole 64 x 64 tiles of the index.
SEQBENCH_GPU_FAULT="counting only" "$B" run sparse --impl cuda --N 300 --H 2 --D 64 --causal --density 50 --bq 64 --bk 64 --db "$t/x.db" --max-time 0.05 >/dev/null 2>&1
got=$(sqlite3 "$t/x.db" "SELECT status LIKE 'skipped: %', flops_executed >= flops, flops > 0 FROM results" 2>/dev/null)
check "sparse/cuda without a GPU: skipped, with its executed and algorithmic counts (got $got)" [ "$got" = "1|1|1" ]

summary
