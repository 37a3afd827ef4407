#!/usr/bin/env bash
# device-check.sh — a GPU session's one prepared call, for a machine lent
# with a GPU but without the CUDA toolkit, gnuplot or a network: verify every
# implementation, then run the long-context suite inside a time budget, and
# leave what matters in $OUT (nvidia-smi, bench env, verify table, the
# database, the suite table). The report is drawn back on the build machine
# from $OUT/bench.db (bench report needs gnuplot).
#
# Build on the build machine first, portable to the device's CPU and for
# Hopper only, then carry bin/:
#     make clean && make CPU_ARCH=-march=x86-64-v3 CUDA_ARCHS=90a bin/bench
# and on the device (repository root):
#     bash scripts/device-check.sh            # SUITE_BUDGET=360 by default
#
# bench links cuBLAS dynamically; the device has no toolkit, so the libraries
# come from whatever Python wheel ships them (nvidia-cublas), found by name.
set -u
OUT=${OUT:-/tmp/seqbench-out}
SUITE=${SUITE:-long-context}
SUITE_BUDGET=${SUITE_BUDGET:-360}
mkdir -p "$OUT"

libdirs=$(find / -xdev \( -name 'libcublas.so*' -o -name 'libcublasLt.so*' -o -name 'libcupti.so*' \) 2>/dev/null |
          xargs -r -n1 dirname | sort -u | paste -sd: -)
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "cuBLAS from: ${libdirs:-not found}"

nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
bin/bench env >"$OUT/env.md" 2>&1
cat "$OUT/env.md"

# Every implementation against its reference on its family's edge shapes.
timeout 180 bin/bench verify >"$OUT/verify.md" 2>"$OUT/verify.err"
echo "verify exit $?: $(tail -n 1 "$OUT/verify.err")"
grep -v '| ok |' "$OUT/verify.md" | grep -v 'skipped' | head -40

# The suite: every result is committed as it finishes, so a timeout loses
# only the case in flight.
timeout $((SUITE_BUDGET + 120)) bin/bench suite "$SUITE" --db "$OUT/bench.db" \
    --budget "$SUITE_BUDGET" --max-time 0.5 --md "$OUT/$SUITE.md" >/dev/null 2>"$OUT/suite.err"
echo "suite exit $?: $(tail -n 1 "$OUT/suite.err")"

# Profiling (CUPTI counters and kernels, NVML energy, event vs kernel time,
# graph vs cold decode, the ncu hand-off): its own script and budget, about
# 3 minutes; PROFILE=0 leaves it out (then run scripts/profile-check.sh as
# a call of its own).
if [ "${PROFILE:-1}" = 1 ]; then
    timeout 420 bash scripts/profile-check.sh >"$OUT/profile-check.txt" 2>&1
    echo "profile-check exit $?: $(tail -n 1 "$OUT/profile-check.txt")"
    grep '^FAIL' "$OUT/profile-check.txt" | head -20
fi
