# cuobjdump.bash — finds cuobjdump (and, beside it, nvdisasm, which its
# --dump-sass needs) for the tests that read the build's SASS
# (tests/kernels.sh, tests/cuda_on_cpu.sh); sourced, so not named *.sh.
# Looked for on PATH, in $CUDA_HOME/bin, and where make test installs them
# (scripts/deps.sh --test: PyPI's nvidia-cuda-cuobjdump and
# nvidia-cuda-nvdisasm, linked from .tools/bin). Prints its path, or nothing.
sb_cuobjdump() {
    local c root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    for c in "$(command -v cuobjdump 2>/dev/null)" "${CUDA_HOME:-/usr/local/cuda}/bin/cuobjdump" \
             "$root/.tools/bin/cuobjdump"; do
        [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }
    done
}

# The unqualified name of a kernel from its symbol: _Z16flash_fwd_kernelI...
# -> flash_fwd_kernel; an extern "C" name as it is; a namespaced one
# (_ZN...) -> "NAMESPACED:<symbol>", which the caller reports.
sb_kernel_name() {
    if [[ $1 =~ ^_Z([0-9]+)(.*)$ ]]; then
        echo "${BASH_REMATCH[2]:0:${BASH_REMATCH[1]}}"
    elif [[ $1 == _ZN* ]]; then
        echo "NAMESPACED:$1"
    else
        echo "$1"
    fi
}
