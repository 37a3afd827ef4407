#!/usr/bin/env bash
# cuda_on_cpu.sh — every kernel of bin/bench run from its own source on the
# CPU (ops/sim/, docs/cuda-on-cpu.md): the implementations' host code and
# kernels, as they are, through the harness's validation against the CPU
# reference and the device reference (harness/gpu_ref.cu, every row), their
# executed multiply-adds against flops_executed, run_case's timing behind
# the blocking kernel (harness/gpu_kernels.cu) in each GPU mode; once under
# AddressSanitizer + UBSan (the curated edge cases of tests/cuda_on_cpu.cpp,
# then bench verify's sweep of every family's edge shapes) and once under
# ThreadSanitizer (the curated cases: the sweep would take it 6 CPU
# minutes); the instruction wrappers against the PTX ISA; planted bugs that
# must be caught. Then one line per kernel, "kernel=<name> ...", and a
# failure for any kernel in bin/bench's sm_90a SASS (the harness's own
# included) that did not run in both.
#
# Runnable alone after `make`: it builds bin/tests/cuda_on_cpu-{asan,tsan}
# (make, with the build's CUDA_ARCHS) when they are missing or stale. Needs
# nvcc's build (the ptxas reports) and g++ with C++20 and the sanitizer
# runtimes (scripts/deps.sh --test installs g++). cuobjdump
# (tests/cuobjdump.bash, installed by make test) lists the SASS's kernels.
set -u
cd "$(dirname "$0")/.."
source tests/lib.bash
source tests/cuobjdump.bash

if [ ! -x bin/bench ]; then
    fail=$((fail + 1)); echo "FAIL cuda_on_cpu.sh: no bin/bench (run make first)" >&2; summary; exit
fi
if ! { [ -f build/cuda_archs ] && [ -n "$(cat build/cuda_archs)" ] && ls build/ops/*/*.ptxas >/dev/null 2>&1; }; then
    # Not a GPU's absence but the toolkit's: tests/run.sh counts it as a
    # skip that CI=true refuses.
    skip "no nvcc: bench was built CPU-only, so there are no kernels to run"; summary; exit
fi
CXX=${SIM_CXX:-g++}
sanitizer_builds() {    # flag
    echo 'int main(){}' | "$CXX" -std=c++20 -fsanitize="$1" -x c++ - -o "$t/probe"
}
for kind in asan tsan; do
    flag=$([ $kind = asan ] && echo address,undefined || echo thread)
    have "$CXX with C++20 and -fsanitize=$flag" sanitizer_builds "$flag" || continue
    if ! env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory CUDA_ARCHS="$(cat build/cuda_archs)" \
            bin/tests/cuda_on_cpu-$kind >"$t/make" 2>&1; then
        fail=$((fail + 1)); echo "FAIL cuda_on_cpu.sh: building bin/tests/cuda_on_cpu-$kind:" >&2
        grep -E 'error|Error' "$t/make" | head -20 >&2; continue
    fi
    arg=; [ $kind = tsan ] && arg=cases
    start=$SECONDS
    run() {     # [prefix...]: the runner binary of this kind
        OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            TSAN_OPTIONS=halt_on_error=1 "$@" bin/tests/cuda_on_cpu-$kind $arg >"$t/out.$kind" 2>"$t/err.$kind"
    }
    run; rc=$?
    # ThreadSanitizer's shadow memory cannot take the address-space layout
    # of kernels with more random mmap bits (Linux 6.x defaults): the same
    # run with the layout fixed (setarch -R, no randomisation) can.
    if [ $rc -ne 0 ] && grep -qE 'unexpected memory mapping|Shadow memory range|FATAL: ThreadSanitizer' "$t/err.$kind"; then
        run setarch "$(uname -m)" -R; rc=$?
    fi
    sed -n "s/^ok /ok [$kind] /p; s/^planted:/planted [$kind]:/p" "$t/out.$kind"
    grep '^SKIP ' "$t/err.$kind" | sed 's/^SKIP cuda_on_cpu:/SKIP cuda_on_cpu.sh:/' >&2
    last=$(tail -n 1 "$t/out.$kind")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
        pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2])); skip=$((skip + ${BASH_REMATCH[4]:-0}))
    fi
    if [ $rc -ne 0 ] || ! [[ $last =~ ^[0-9]+\ passed,\ 0\ failed ]]; then
        [[ $last =~ passed ]] || fail=$((fail + 1))
        echo "FAIL cuda_on_cpu.sh: [$kind] exit $rc; ${last:0:200}" >&2
        grep -v 'ASan doesn.t fully support makecontext' "$t/err.$kind" |
            grep -E '^FAIL|^cuda-on-cpu:|ERROR|WARNING|SUMMARY|FATAL|^    #[0-9] ' | head -25 >&2
    fi
    echo "[$kind] $((SECONDS - start)) s"
done
[ -s "$t/out.asan" ] || [ -s "$t/out.tsan" ] || { summary; exit; }

# Every kernel of the binary's SASS must have run, in each run that ran.
find_objdump() { objdump=$(sb_cuobjdump); [ -n "$objdump" ] && "$objdump" --version; }
if have cuobjdump find_objdump && "$objdump" -symbols bin/bench >"$t/syms" 2>/dev/null; then
    arch=sm_90a
    "$objdump" -symbols -arch $arch bin/bench >"$t/syms" 2>/dev/null && grep -q ENTRY "$t/syms" ||
        { arch="every architecture"; "$objdump" -symbols bin/bench >"$t/syms" 2>/dev/null; }
    awk '/FUNC .* ENTRY/ { print $NF }' "$t/syms" | sort -u >"$t/mangled"
    from="bin/bench's $arch SASS ($objdump)"
else
    # The ptxas reports of the objects bin/bench links: the same cubins' entries.
    grep -ho "Compiling entry function '[^']*' for 'sm_90a'" build/ops/*/*.ptxas build/harness/*.ptxas 2>/dev/null |
        sed "s/Compiling entry function '\([^']*\)'.*/\1/" | sort -u >"$t/mangled"
    from="the sm_90a entries of the ptxas reports"
fi
names=$(while read -r m; do sb_kernel_name "$m"; done <"$t/mangled" | sort -u)
echo "kernels in $from: $(echo $names | wc -w)"
for k in $names; do
    if [[ $k == NAMESPACED:* ]]; then
        fail=$((fail + 1)); echo "FAIL cuda_on_cpu.sh: kernel ${k#NAMESPACED:} is not a global-namespace function" >&2
        continue
    fi
    line=$(grep -h "^kernel=$k ran" "$t/out.asan" 2>/dev/null | head -1)
    for kind in asan tsan; do
        [ -s "$t/out.$kind" ] || continue
        if grep -qE "^kernel=$k ran [1-9]" "$t/out.$kind"; then pass=$((pass + 1)); else
            fail=$((fail + 1)); echo "FAIL cuda_on_cpu.sh: kernel=$k is in bin/bench but never ran on the CPU under $kind" >&2; fi
    done
    tsan=$(sed -n "s/^kernel=$k ran \([0-9]*\) launches, \([0-9]*\) blocks.*/\1 launches, \2 blocks/p" "$t/out.tsan" 2>/dev/null)
    echo "${line:-kernel=$k (never ran)}${tsan:+; under tsan $tsan}"
done
summary
