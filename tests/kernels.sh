#!/usr/bin/env bash
# kernels.sh — compile-time checks of the GPU code that need no GPU: every
# kernel was built by ptxas with no register spills and no local-memory
# stack (the reports the Makefile keeps beside each object:
# build/ops/**/*.ptxas, build/harness/*.ptxas), and a .cu file (ops/ or
# harness/) that says "sass-expect: INSN" (e.g. HMMA) holds that instruction
# in its sm_90a SASS (cuobjdump and nvdisasm: the toolkit's, or the ones make
# test installs from PyPI into .tools/bin; tests/cuobjdump.bash finds them).
set -u
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/cuobjdump.bash"
reports=$(find build/ops build/harness -name '*.ptxas' 2>/dev/null | sort)
if [ -z "$reports" ]; then
    # Not a GPU's absence but the toolkit's: tests/run.sh counts it as a
    # skip that CI=true refuses.
    skip "no nvcc: bench was built CPU-only, so there are no kernels to check"
    summary; exit
fi
for r in $reports; do
    # A .cu of host code only (ops/sparse/sparse_fwd.cu launches flash's
    # kernels) compiles no entry; every other one must list its kernels.
    src=${r#build/}; src=${src%.ptxas}.cu
    if [ -f "$src" ] && ! grep -q '__global__' "$src"; then
        check "$r lists no kernel: $src defines none" bash -c "! grep -q 'Compiling entry function' '$r'"
    else
        check "$r lists a kernel" grep -q 'Compiling entry function' "$r"
    fi
    spills=$(grep -E '[1-9][0-9]* bytes spill (stores|loads)' "$r" | head -n 5)
    check "$r: no register spills: $spills" [ -z "$spills" ]
    stack=$(grep -E '[1-9][0-9]* bytes stack frame' "$r" | head -n 5)
    check "$r: no local-memory stack frame: $stack" [ -z "$stack" ]
done

find_cuobjdump() {
    CUOBJDUMP=$(sb_cuobjdump)
    [ -n "$CUOBJDUMP" ] && "$CUOBJDUMP" --version
}
expects=$(grep -l 'sass-expect:' ops/*/*.cu harness/*.cu 2>/dev/null)
if [ -n "$expects" ] && have cuobjdump find_cuobjdump; then
    for cu in $expects; do
        obj=build/${cu%.cu}.o
        for insn in $(sed -n 's/.*sass-expect: *\([A-Z0-9.]*\).*/\1/p' "$cu"); do
            n=$("$CUOBJDUMP" --dump-sass --gpu-architecture sm_90a "$obj" 2>/dev/null | grep -c "$insn")
            check "$cu: $insn in the sm_90a SASS of $obj ($n found)" [ "$n" -gt 0 ]
        done
    done
fi
summary
