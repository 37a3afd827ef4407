#!/usr/bin/env bash
# submit.sh — the shards as a job array, then the merge once every task has
# ended, whatever its exit (docs/fleet.md). Run from the checkout's root;
# SUITE, SHARD_CLASS, OUT, BENCH and BENCH_ARGS pass through (sbatch exports
# the environment). Extra arguments go to the array's sbatch, e.g.
#   docs/slurm/submit.sh --array=1-8 --partition=h100
set -euo pipefail
here=$(dirname "$0")
array=$(sbatch --parsable "$@" "$here/shards.sbatch")
array=${array%%;*}                      # "jobid;cluster" on a federated cluster
sbatch --parsable --dependency="afterany:$array" "$here/merge.sbatch"
