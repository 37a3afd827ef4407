#!/usr/bin/env bash
# Installs what seqbench needs from Debian's packages, only when missing:
# a C compiler and make, SQLite (headers + static library, and the sqlite3
# shell the tests use), gnuplot and the font the report's figures name, and
# KISS FFT (BSD; the ssm family's conv cpu form loads it at run time, so
# bench runs without it and says so). The CUDA toolkit is optional and never
# installed here: without nvcc the build is CPU-only and says so.
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[[ $(/sbin/ldconfig -p 2>/dev/null) == *libkissfft-float.so.131* ]] || need+=(libkissfft-float131)
[ ${#need[@]} -eq 0 ] && exit 0
echo "deps: installing ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
