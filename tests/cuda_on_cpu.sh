#!/usr/bin/env bash
# cuda_on_cpu.sh — every kernel of bin/bench run from its own source on the
# CPU (ops/sim/, docs/cuda-on-cpu.md): the implementations' host code and
# kernels, as they are, through the harness's validation against the CPU
# reference, once under AddressSanitizer + UBSan (the curated edge cases of
# tests/cuda_on_cpu.cpp, then bench verify's sweep of every family's edge
# shapes) and once under ThreadSanitizer (the curated cases: the sweep would
# take it 6 CPU minutes); the instruction wrappers against the PTX ISA; planted bugs
# that must be caught. Then one line per kernel, "kernel=<name> ...", and a
# failure for any kernel in bin/bench's sm_90a SASS that ran in neither
# (or not in both) of the runs.
#
# Runnable alone after `make`: it builds bin/tests/cuda_on_cpu-{asan,tsan}
# (make, with the build's CUDA_ARCHS) when they are missing or stale. Needs
# nvcc's build (the ptxas reports), g++ with C++20 and the sanitizer
# runtimes; skipped without them. cuobjdump (tests/cuobjdump.bash) lists the
# SASS's kernels; without it the sm_90a entries of the ptxas reports stand in.
set -u
cd "$(dirname "$0")/.."
source tests/cuobjdump.bash
pass=0; fail=0; skip=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
summary() {
    if [ $skip -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
    [ $fail -eq 0 ]
    exit
}
skip_all() { echo "SKIP cuda_on_cpu.sh: $1" >&2; skip=$((skip + 1)); summary; }

[ -x bin/bench ] || skip_all "no bin/bench (run make first)"
[ -f build/cuda_archs ] && [ -n "$(cat build/cuda_archs)" ] && ls build/ops/*/*.ptxas >/dev/null 2>&1 ||
    skip_all "bench was built without nvcc: no kernels to run"
CXX=${SIM_CXX:-g++}
for kind in asan tsan; do
    flag=$([ $kind = asan ] && echo address,undefined || echo thread)
    if ! echo 'int main(){}' | "$CXX" -std=c++20 -fsanitize=$flag -x c++ - -o "$tmp/probe" 2>"$tmp/cc"; then
        echo "SKIP cuda_on_cpu.sh: $CXX cannot build with -fsanitize=$flag: $(head -1 "$tmp/cc")" >&2
        skip=$((skip + 1)); continue
    fi
    if ! env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory CUDA_ARCHS="$(cat build/cuda_archs)" \
            bin/tests/cuda_on_cpu-$kind >"$tmp/make" 2>&1; then
        fail=$((fail + 1)); echo "FAIL cuda_on_cpu.sh: building bin/tests/cuda_on_cpu-$kind:" >&2
        grep -E 'error|Error' "$tmp/make" | head -20 >&2; continue
    fi
    arg=; [ $kind = tsan ] && arg=cases
    start=$SECONDS
    OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        TSAN_OPTIONS=halt_on_error=1 bin/tests/cuda_on_cpu-$kind $arg >"$tmp/out.$kind" 2>"$tmp/err.$kind"
    rc=$?
    if [ $rc -ne 0 ] && grep -qE 'FATAL: ThreadSanitizer|unexpected memory mapping|Shadow memory range' "$tmp/err.$kind"; then
        echo "SKIP cuda_on_cpu.sh: -fsanitize=$flag cannot run here: $(grep -m1 -E 'FATAL|unexpected|Shadow' "$tmp/err.$kind")" >&2
        skip=$((skip + 1)); continue
    fi
    sed -n "s/^ok /ok [$kind] /p; s/^planted:/planted [$kind]:/p" "$tmp/out.$kind"
    last=$(tail -n 1 "$tmp/out.$kind")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2]))
    fi
    if [ $rc -ne 0 ] || ! [[ $last =~ ^[0-9]+\ passed,\ 0\ failed$ ]]; then
        [[ $last =~ passed ]] || fail=$((fail + 1))
        echo "FAIL cuda_on_cpu.sh: [$kind] exit $rc; ${last:0:200}" >&2
        grep -v 'ASan doesn.t fully support makecontext' "$tmp/err.$kind" |
            grep -E '^FAIL|^cuda-on-cpu:|ERROR|WARNING|SUMMARY|^    #[0-9] ' | head -25 >&2
    fi
    echo "[$kind] $((SECONDS - start)) s"
done
[ -s "$tmp/out.asan" ] || [ -s "$tmp/out.tsan" ] || summary

# Every kernel of the binary's SASS must have run, in each run that ran.
objdump=$(sb_cuobjdump)
if [ -n "$objdump" ] && "$objdump" -symbols bin/bench >"$tmp/syms" 2>/dev/null; then
    arch=sm_90a
    "$objdump" -symbols -arch $arch bin/bench >"$tmp/syms" 2>/dev/null && grep -q ENTRY "$tmp/syms" ||
        { arch="every architecture"; "$objdump" -symbols bin/bench >"$tmp/syms" 2>/dev/null; }
    awk '/FUNC .* ENTRY/ { print $NF }' "$tmp/syms" | sort -u >"$tmp/mangled"
    from="bin/bench's $arch SASS ($objdump)"
else
    # The ptxas reports of the objects bin/bench links: the same cubins' entries.
    grep -ho "Compiling entry function '[^']*' for 'sm_90a'" build/ops/*/*.ptxas build/harness/*.ptxas 2>/dev/null |
        sed "s/Compiling entry function '\([^']*\)'.*/\1/" | sort -u >"$tmp/mangled"
    from="the sm_90a entries of the ptxas reports (no cuobjdump found)"
fi
names=$(while read -r m; do sb_kernel_name "$m"; done <"$tmp/mangled" | sort -u)
echo "kernels in $from: $(echo $names | wc -w)"
for k in $names; do
    if [[ $k == NAMESPACED:* ]]; then
        fail=$((fail + 1)); echo "FAIL cuda_on_cpu.sh: kernel ${k#NAMESPACED:} is not a global-namespace function" >&2
        continue
    fi
    line=$(grep -h "^kernel=$k ran" "$tmp/out.asan" 2>/dev/null | head -1)
    for kind in asan tsan; do
        [ -s "$tmp/out.$kind" ] || continue
        if grep -qE "^kernel=$k ran [1-9]" "$tmp/out.$kind"; then pass=$((pass + 1)); else
            fail=$((fail + 1)); echo "FAIL cuda_on_cpu.sh: kernel=$k is in bin/bench but never ran on the CPU under $kind" >&2; fi
    done
    tsan=$(sed -n "s/^kernel=$k ran \([0-9]*\) launches, \([0-9]*\) blocks.*/\1 launches, \2 blocks/p" "$tmp/out.tsan" 2>/dev/null)
    echo "${line:-kernel=$k (never ran)}${tsan:+; under tsan $tsan}"
done
summary
