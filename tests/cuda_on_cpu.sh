#!/usr/bin/env bash
# cuda_on_cpu.sh — runs flash_fwd.cu's kernels and softmax_cublas.cu's
# masked-softmax kernel on the CPU (tests/cuda_on_cpu.cpp:
# a thread per CUDA thread, barriers, emulated shuffles) under AddressSanitizer
# + UBSan and under ThreadSanitizer, against float64 attention. Needs no GPU:
# g++ with C++20 and the CUDA headers (for float4, __nv_bfloat16); skipped
# without them. The kernel source is cut from flash_fwd.cu (softmax_cublas.cu)
# between "#define FLASH_THREADS" ("#define SOFTMAX_THREADS") and the
# "---- host" line, so it is the code nvcc builds.
set -u
cd "$(dirname "$0")/.."
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
CXX=${CXX:-g++}
skip() { echo "SKIP cuda_on_cpu.sh: $1" >&2; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
[ -f "$CUDA_HOME/include/cuda_bf16.h" ] || skip "no CUDA headers in $CUDA_HOME/include"
command -v "$CXX" >/dev/null || skip "no $CXX"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
awk '/^#define FLASH_THREADS /{on=1} /^\/\* ---- host/{on=0} on' ops/flash/flash_fwd.cu |
    sed 's/extern __shared__ float4 flash_smem_raw\[\];/float4 *flash_smem_raw = g_smem;/' > "$tmp/kernel.inc"
awk '/^#define SOFTMAX_THREADS /{on=1} /^\/\* ---- host/{on=0} on' ops/softmax/softmax_cublas.cu > "$tmp/softmax.inc"
grep -q 'g_smem' "$tmp/kernel.inc" && grep -q 'softmax_rows_kernel' "$tmp/softmax.inc" || { echo "FAIL cuda_on_cpu.sh: could not cut the kernels from flash_fwd.cu or softmax_cublas.cu" >&2; echo "0 passed, 1 failed"; exit 1; }
flags=(-std=c++20 -O1 -g -w -I"$CUDA_HOME/include" -I. -DKERNEL_PART="\"$tmp/kernel.inc\"" -DSOFTMAX_PART="\"$tmp/softmax.inc\"" tests/cuda_on_cpu.cpp -lpthread)
pass=0; fail=0; skipped=0
for san in address,undefined thread; do
    if ! "$CXX" -fsanitize=$san "${flags[@]}" -o "$tmp/run" 2>"$tmp/cc"; then
        grep -qE 'unrecognized.*c\+\+20|barrier: No such file|std::barrier. (is not|has not been)' "$tmp/cc" && skip "$CXX lacks C++20 <barrier>"
        if grep -qE 'cannot find (-l)?[a-z]*(asan|ubsan|tsan)|lib(asan|ubsan|tsan)' "$tmp/cc"; then
            echo "SKIP cuda_on_cpu.sh: no sanitizer runtime for -fsanitize=$san" >&2
            skipped=$((skipped + 1)); continue
        fi
        echo "FAIL cuda_on_cpu.sh: build with -fsanitize=$san:" >&2; head -20 "$tmp/cc" >&2
        fail=$((fail + 1)); continue
    fi
    arg=; [ $san = thread ] && arg=quick
    UBSAN_OPTIONS=halt_on_error=1 TSAN_OPTIONS=halt_on_error=1 "$tmp/run" $arg >"$tmp/out" 2>"$tmp/err"; rc=$?
    last=$(tail -n 1 "$tmp/out")
    cp "$tmp/out" "$tmp/out.$san"
    if [ $rc -ne 0 ] && grep -qE 'FATAL: ThreadSanitizer|unexpected memory mapping|Shadow memory range|ReserveShadowMemoryRange' "$tmp/err"; then
        echo "SKIP cuda_on_cpu.sh: -fsanitize=$san cannot run here: $(grep -m1 -E 'FATAL|unexpected|Shadow' "$tmp/err")" >&2
        skipped=$((skipped + 1)); continue
    fi
    if [ $rc -eq 0 ] && [[ $last =~ ^([0-9]+)\ passed,\ 0\ failed$ ]]; then
        pass=$((pass + BASH_REMATCH[1]))
    else
        fail=$((fail + 1))
        echo "FAIL cuda_on_cpu.sh: -fsanitize=$san: exit $rc; $last" >&2
        grep -E '^FAIL|ERROR|WARNING|SUMMARY' "$tmp/err" | head -10 >&2
    fi
done
# flash/cuda's executed FLOPs as bench stores them (flops_executed: a run
# without a GPU stores it too, beside "skipped") against twice the
# multiply-adds the kernel's product statements counted as they ran here.
if [ -x bin/bench ] && command -v sqlite3 >/dev/null && ls "$tmp"/out.* >/dev/null 2>&1; then
    re='^ok +(bf16|fp32) D=([0-9]+) B=([0-9]+) N=([0-9]+) Nk=([0-9]+) H=([0-9]+) Hkv=([0-9]+) causal=([01]) [^%]*: rel .* nonfinite [0-9]+( window=([0-9]+) sink=([0-9]+))? macs ([0-9]+)$'
    while read -r line; do
        [[ $line =~ $re ]] || continue
        m=("${BASH_REMATCH[@]}")
        causal=; [ "${m[8]}" = 1 ] && causal=--causal
        window=; [ -n "${m[9]}" ] && window="--window ${m[10]}" && [ "${m[11]}" != 0 ] && window+=" --sink ${m[11]}"
        rm -f "$tmp/x.db"
        SEQBENCH_GPU_FAULT="counting only" bin/bench run flash --impl cuda --dtype "${m[1]}" --D "${m[2]}" --B "${m[3]}" --N "${m[4]}" \
            --Nk "${m[5]}" --H "${m[6]}" --Hkv "${m[7]}" $causal $window --db "$tmp/x.db" --max-time 0.05 >/dev/null 2>&1
        got=$(sqlite3 "$tmp/x.db" 'SELECT printf("%.0f", flops_executed) FROM results' 2>/dev/null)
        if [ -n "$got" ] && [ "$got" = "$((2 * m[12]))" ]; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            echo "FAIL cuda_on_cpu.sh: flash/cuda flops_executed ${got:-none} != 2 x ${m[9]} counted: $line" >&2
        fi
    done < <(sort -u "$tmp"/out.*)
else
    echo "SKIP cuda_on_cpu.sh: no bin/bench or sqlite3: flash/cuda's executed count not compared" >&2
    skipped=$((skipped + 1))
fi
if [ $skipped -gt 0 ]; then echo "$pass passed, $fail failed, $skipped skipped"; else echo "$pass passed, $fail failed"; fi
[ $fail -eq 0 ]
