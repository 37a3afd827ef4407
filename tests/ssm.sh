#!/usr/bin/env bash
# ssm.sh — the ssm family as a user meets it: listed; bench verify passes on
# the CPU; `run --impl ref|cpu --N 300 --dtype fp32 --dump D` of each
# variant writes its tensors in the documented layouts, which a float64
# NumPy recomputation agrees with (tests/ssm_check.py), and --load runs
# the same case; bad shapes and bad inputs (a non-negative A in an edited
# dump, G not dividing H, a field of another variant) get one line and
# exit 2; KISS FFT missing makes the conv cpu form a skip naming the
# package, and everything else still runs.
set -u
source "$(dirname "$0")/lib.bash"

check "bench list families names ssm" grep -q '^| ssm |' <("$B" list families)

"$B" verify --family ssm --device cpu >"$t/out" 2>"$t/err"; rc=$?
check "verify --family ssm --device cpu exits 0 (got $rc): $(tail -n 2 "$t/err")" [ $rc -eq 0 ]
check "verify ran every edge shape ok" grep -q 'verify: [1-9][0-9]* ok, 0 failed' "$t/err"

numpy=0; have_numpy && numpy=1
declare -A files=(
    [s6]="u delta A B C D z h0 out ref ht ref_ht"
    [ssd]="x dt A B C D z h0 out ref ht ref_ht"
    [conv]="u k out ref"
)
declare -A flags=(
    [s6]="--Dm 12 --Ds 16 --G 3 --chunk 16 --z --state"
    [ssd]="--H 4 --P 16 --Ds 32 --G 2 --chunk 64 --skip --z --state"
    [conv]="--H 8"
)
for v in s6 ssd conv; do
    for impl in ref cpu; do
        d="$t/$v-$impl"
        "$B" run ssm --variant $v --impl $impl --N 300 --dtype fp32 ${flags[$v]} --dump "$d" --no-db \
            --max-time 0.05 >"$t/out" 2>&1; rc=$?
        check "$v/$impl --dump exits 0 (got $rc): $(tail -n 1 "$t/out")" [ $rc -eq 0 ]
        for f in case.json ${files[$v]}; do
            [[ $f == case.json ]] && n=$f || n=$f.npy
            check "$v/$impl dump wrote $n" [ -s "$d/$n" ]
        done
        check "$v/$impl: case.json names the variant" grep -q "\"variant\": \"$v\"" "$d/case.json"
        [ $numpy = 1 ] && numpy_run tests/ssm_check.py "$d"     # layouts, out, ref, ht
    done
    "$B" run --load "$t/$v-cpu" --no-db --max-time 0.05 >"$t/out" 2>&1; rc=$?
    check "$v: run --load exits 0 (got $rc)" [ $rc -eq 0 ]
    check "$v: run --load ran the dumped case ok" grep -q "| ssm/cpu fp32 variant=$v B=1 N=300 .* | ok" "$t/out"
done

# Bad shapes: one line, exit 2.
bad 2 "G=4: must divide H=6"              run ssm --variant ssd --H 6 --G 4 --no-db
bad 2 "G=3: must divide Dm=8"             run ssm --Dm 8 --G 3 --no-db
bad 2 "Ds: variant conv does not use it"  run ssm --variant conv --Ds 16 --no-db
bad 2 "state: variant conv does not use it" run ssm --variant conv --state --no-db
bad 2 "P: variant s6 does not use it"     run ssm --P 64 --no-db
bad 2 "Ds=512: at most 256"               run ssm --Ds 512 --no-db
bad 2 "not one of its values"             run ssm --variant mamba3 --no-db
bad 2 "ssm has no shape field --D"        run ssm --D 64 --no-db

# Bad inputs in an edited dump: A made non-negative, a step made zero.
if [ $numpy = 1 ]; then
    cp -r "$t/s6-cpu" "$t/badA"
    $PY -c "import numpy as np, sys; a = np.load(sys.argv[1]); a[2, 3] = 0.25; np.save(sys.argv[1], a)" "$t/badA/A.npy"
    bad 2 "A.npy: element 35 is 0.25: must be negative" run --load "$t/badA" --no-db
    cp -r "$t/ssd-cpu" "$t/baddt"
    $PY -c "import numpy as np, sys; a = np.load(sys.argv[1]); a[0, 0, 1] = 0; np.save(sys.argv[1], a)" "$t/baddt/dt.npy"
    bad 2 "dt.npy: element 1 is 0: must be positive" run --load "$t/baddt" --no-db
fi

# The suite's budget predicts a case from the same implementation's largest
# measured case of the same variant: an s6 case's rate (9 FLOPs an update,
# bound by its exps) says nothing about ssd's (bound by FLOPs). Here ssd's
# count is 15x s6's: s6's rate would predict it far over what is left.
printf 'budget = 20\n[ssm s6]\nimpls = cpu\nvariant = s6\nB = 1\nN = 364\nDm = 16\nDs = 16\n[ssm ssd]\nimpls = cpu\nvariant = ssd\nB = 1\nN = 256\nH = 1\nP = 64\nDs = 64\n' >"$t/rate.suite"
"$B" suite "$t/rate.suite" --device cpu --db "$t/rate.db" --max-time 1.5 --min-samples 1000 >/dev/null 2>&1
check "an ssd case is not predicted from an s6 case's rate: $(sqlite3 "$t/rate.db" "SELECT status FROM results WHERE case_str LIKE '%ssd%'")" \
    [ "$(sqlite3 "$t/rate.db" "SELECT count(*) FROM results WHERE case_str LIKE '%variant=ssd%' AND status NOT LIKE 'skipped%'")" = 1 ]

# Peers: the ssm rows listed with their install state; a peer adapter sees
# an ssm case's own fields (the variant as shape.variant, Dm, Ds, G, P, z,
# skip, state): the NumPy adapters of tests/peers/ssm_adapters compute s6
# and ssd from them and must match the reference.
"$B" list impls >"$t/impls" 2>&1
for a in ssm/ext:mamba-ssm ssm/ext:fla-ssd; do
    check "list impls: $a with an install state" \
        grep -qE "^\| $a \| cuda \| [a-z0-9 ]+ \| (installed: .+|no: not installed \(.+\)) \|" "$t/impls"
done
if [ $numpy = 1 ]; then
    export SEQBENCH_PEER_ADAPTERS=$ROOT/tests/peers/ssm_adapters SEQBENCH_PYTHON=$PY
    "$B" run ssm --impl ext:np-s6 --device cpu --N 40 --Dm 6 --Ds 16 --G 3 --z --state --no-db \
        --max-time 0.05 >"$t/out" 2>&1; rc=$?
    check "peer ext:np-s6 (s6 with G, z, state) matches: exit $rc, $(grep -o 'ssm/ext:np-s6 [^|]*| [^|]*' "$t/out")" \
        grep -q '| ssm/ext:np-s6 fp32 variant=s6 B=1 N=40 Dm=6 Ds=16 G=3 chunk=8 z state | ok' "$t/out"
    "$B" run ssm --variant ssd --impl ext:np-ssd --device cpu --N 40 --H 4 --P 8 --Ds 16 --G 2 --skip --z \
        --state --no-db --max-time 0.05 >"$t/out" 2>&1
    check "peer ext:np-ssd (ssd with G, skip, z, state) matches: $(grep -o 'ssm/ext:np-ssd [^|]*| [^|]*' "$t/out")" \
        grep -q '| ssm/ext:np-ssd fp32 variant=ssd .* | ok' "$t/out"
    "$B" run ssm --variant conv --impl ext:np-s6 --device cpu --N 40 --H 4 --no-db --max-time 0.05 >"$t/out" 2>&1
    check "peer ext:np-s6 on a conv case: skipped, saying why" \
        grep -q '| ssm/ext:np-s6 fp32 variant=conv .* | skipped: this adapter computes the s6 variant' "$t/out"
    unset SEQBENCH_PEER_ADAPTERS SEQBENCH_PYTHON
fi

# KISS FFT unusable: the conv cpu form is a skip naming why; s6 still runs.
SEQBENCH_KISSFFT=/nonexistent/libkissfft.so "$B" run ssm --variant conv --impl cpu --N 64 --H 4 \
    --no-db --max-time 0.05 >"$t/out" 2>&1; rc=$?
check "conv/cpu without KISS FFT: exit 0 (got $rc)" [ $rc -eq 0 ]
check "conv/cpu without KISS FFT: skipped, saying why" grep -q 'skipped: KISS FFT not found (SEQBENCH_KISSFFT=/nonexistent' "$t/out"
SEQBENCH_KISSFFT=/nonexistent/libkissfft.so "$B" run ssm --impl cpu --N 64 --Dm 4 --no-db \
    --max-time 0.05 >"$t/out" 2>&1; rc=$?
check "s6/cpu without KISS FFT runs (exit $rc)" [ $rc -eq 0 ] && grep -q '| ssm/cpu fp32 variant=s6 .* | ok' "$t/out"

summary
