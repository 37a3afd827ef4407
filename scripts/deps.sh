#!/usr/bin/env bash
# deps.sh — installs what seqbench needs, only what is missing, so a second
# run only looks.
#
#   scripts/deps.sh          the main job (make long-context): a C compiler
#                            and make, SQLite (headers + static library, and
#                            the sqlite3 shell), gnuplot and the font the
#                            report's figures name. Debian packages.
#   scripts/deps.sh --test   that, plus what make test's checks need:
#     Debian: g++ (the CPU runner of the CUDA kernels, tests/cuda_on_cpu.sh,
#       with its AddressSanitizer and ThreadSanitizer runtimes),
#       python3-numpy and python3-yaml (the .npy checks, the peers' NumPy
#       adapters, the workflow parser of tests/compare.sh), python3-venv
#       (for the folder below), chromium (tests/browser.sh renders the
#       report; it draws with the font above);
#     PyPI, into .tools/venv (gitignored; pip refuses to install into
#       Debian's own Python): NumPy 2 — the NumPy checks run under Debian's
#       NumPy (1.24 on Debian 12) and this one — and NVIDIA's cuobjdump and
#       nvdisasm wheels, which tests/kernels.sh and tests/cuda_on_cpu.sh read
#       the SASS with (.tools/bin/ links to them);
#     PyPI's nvidia-cutlass wheel, of which only CuTe's and CUTLASS's
#       headers are kept, in the tests' folder ($SB_TEST_DEPS, default
#       tests/.deps, gitignored): tests/cute_layout.sh compiles against them.
#
# The CUDA toolkit is optional and never installed here: without nvcc the
# build is CPU-only and says so. Debian packages need root or sudo; the
# PyPI folder needs neither.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case $mode in ""|--test) ;; *) echo "usage: scripts/deps.sh [--test]" >&2; exit 2 ;; esac

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ "$mode" = --test ]; then
    command -v g++ >/dev/null || need+=(g++)
    for p in python3-numpy python3-yaml python3-venv chromium; do installed "$p" || need+=("$p"); done
fi

if [ ${#need[@]} -gt 0 ]; then
    echo "deps: installing ${need[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "deps: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1 ||
        { cat "$log" >&2; rm -f "$log"; echo "deps: apt-get install ${need[*]} failed" >&2; exit 1; }
    rm -f "$log"
fi
[ "$mode" = --test ] || exit 0

# ---- the tests' own folder of PyPI tools -------------------------------------
# Rebuilt only when the requirements below change (they are kept beside it).
# cuobjdump/nvdisasm: any CUDA 13 release reads the toolkit's cubins.
tools=.tools
reqs='numpy>=2,<3
nvidia-cuda-cuobjdump>=13.2,<14
nvidia-cuda-nvdisasm>=13.2,<14'
if [ "$(cat "$tools/requirements.txt" 2>/dev/null)" != "$reqs" ] ||
   ! "$tools/venv/bin/python" -c 'import numpy' 2>/dev/null ||
   ! [ -x "$tools/bin/cuobjdump" ] || ! [ -x "$tools/bin/nvdisasm" ]; then
    echo "deps: installing $(echo "$reqs" | tr '\n' ' ')into $tools/venv"
    rm -rf "$tools"
    mkdir -p "$tools/bin"
    /usr/bin/python3 -m venv "$tools/venv"
    echo "$reqs" >"$tools/venv/requirements.in"
    "$tools/venv/bin/python" -m pip install -q --disable-pip-version-check -r "$tools/venv/requirements.in"
    for b in cuobjdump nvdisasm; do
        f=$(find "$tools/venv" -path '*/nvidia/cu*/bin/*' -name "$b" -type f | head -n 1)
        [ -n "$f" ] || { echo "deps: $b not found in $tools/venv after pip install" >&2; exit 1; }
        ln -sf "../${f#"$tools"/}" "$tools/bin/$b"
    done
    echo "$reqs" >"$tools/requirements.txt"
fi

# ---- CuTe's headers (tests/cute_layout.sh) ------------------------------------
# CUTLASS 4.2's include/ from its PyPI wheel (cutlass_library/source/include/),
# into $deps/cutlass/include, refetched only when the pinned version changes.
cutlass=4.2.0.0
deps=${SB_TEST_DEPS:-tests/.deps}
if [ "$(cat "$deps/cutlass/version" 2>/dev/null)" != "$cutlass" ] || ! [ -f "$deps/cutlass/include/cute/tensor.hpp" ]; then
    echo "deps: fetching CuTe's headers (nvidia-cutlass==$cutlass) into $deps/cutlass"
    rm -rf "$deps/cutlass" "$deps/wheels"
    mkdir -p "$deps/wheels"
    "$tools/venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        "nvidia-cutlass==$cutlass" -d "$deps/wheels"
    "$tools/venv/bin/python" - "$deps/wheels/nvidia_cutlass-$cutlass-py3-none-any.whl" "$deps/cutlass/include" <<'PY'
import os, sys, zipfile
wheel, inc = sys.argv[1], sys.argv[2]
prefix = "cutlass_library/source/include/"
with zipfile.ZipFile(wheel) as z:
    for m in z.namelist():
        if m.startswith(prefix) and not m.endswith("/"):
            dst = os.path.join(inc, m[len(prefix):])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as f:
                f.write(z.read(m))
PY
    rm -rf "$deps/wheels"
    [ -f "$deps/cutlass/include/cute/tensor.hpp" ] || { echo "deps: no cute/tensor.hpp in nvidia-cutlass==$cutlass" >&2; exit 1; }
    echo "$cutlass" >"$deps/cutlass/version"
fi
