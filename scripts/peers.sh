#!/usr/bin/env bash
# peers.sh — installs the peers (other projects' implementations, bench's
# ext:<peer> rows; docs/peers.md) that PyPI offers as wheels, into a virtual
# environment that bench's workers then use (.peers/venv is found next to
# bench's folder; elsewhere point SEQBENCH_PYTHON at DIR/bin/python).
#
#   scripts/peers.sh [--venv DIR] [--system] [--wheels DIR] [--dry-run] [PACKAGE...]
#
#   --venv DIR    where (default .peers/venv, ignored by git)
#   --system      give the venv the system's site-packages, so a PyTorch that
#                 is already installed (a GPU image's) is used, not replaced
#   --wheels DIR  install only from the wheels in DIR (pip --no-index): for a
#                 machine without network, with wheels downloaded elsewhere
#   --dry-run     print what would be installed
#   PACKAGE...    instead of the default list below
#
# What PyPI has as wheels (installed by default):
#   numpy, torch         PyTorch's SDPA backends (ext:sdpa-*) and ext:torch-cpu;
#                        PyPI's Linux wheel is a CUDA build (several GB with its
#                        nvidia-* wheels), and it runs on the CPU as well
#   fla-core             flash-linear-attention's kernels (ext:fla-*): Python and
#                        Triton (which comes with torch), nothing to build
#   flashinfer-python    FlashInfer (ext:flashinfer*): Python, it compiles its
#                        kernels with nvcc at first use (minutes, cached)
# What PyPI has only as sources (not installed here; build them yourself,
# with nvcc and torch in the venv):
#   flash-attn           FlashAttention 2 (ext:fa2):
#                        DIR/bin/pip install flash-attn --no-build-isolation
#   flash_attn_3         FlashAttention 3 (ext:fa3, Hopper): clone
#                        flash-attention, then in hopper/: DIR/bin/python setup.py install
#   mamba-ssm            the ssm family's peer: pip install mamba-ssm --no-build-isolation
#
# bench list impls says afterwards which peers are installed, with versions.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.peers/venv system=0 wheels="" dry=0 pkgs=()
while [ $# -gt 0 ]; do
    case $1 in
        --venv) venv=${2:?--venv needs a folder}; shift 2 ;;
        --system) system=1; shift ;;
        --wheels) wheels=${2:?--wheels needs a folder}; shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "peers.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) pkgs+=("$1"); shift ;;
    esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(numpy torch fla-core flashinfer-python)
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "peers.sh: no python3" >&2; exit 1; }

if [ $dry -eq 1 ]; then
    echo "would make $venv$([ $system -eq 1 ] && echo ' (with the system site-packages)') and install: ${pkgs[*]}"
    exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv $([ $system -eq 1 ] && echo --system-site-packages) "$venv" ||
        { echo "peers.sh: $py -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
src=()
[ -n "$wheels" ] && src=(--no-index --find-links "$wheels")
echo "peers.sh: installing ${pkgs[*]} into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${src[@]}" "${pkgs[@]}"
echo "peers.sh: done; bench uses $venv/bin/python$( [ "$venv" = .peers/venv ] || echo " with SEQBENCH_PYTHON=$venv/bin/python")"
