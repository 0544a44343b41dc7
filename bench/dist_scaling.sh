#!/usr/bin/env bash
# Issue 5 benchmark: data-parallel scaling of the VGG-16-BN training step.
#   bench/dist_scaling.sh [BUILD_DIR]
# For each width: 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread
# at the same global batch (strong scaling: each rank gets half the batch), and
# 2 ranks x 1 thread at twice the global batch (weak scaling: each rank keeps
# the 1x1 batch). Target: 2x1 >= 0.95 * 2 * (1x1).
# Single ranks run unbound (so 2 threads get 2 cores); two ranks are bound one
# per core.
set -euo pipefail
build=${1:-build}
run() { mpiexec -n "$1" --oversubscribe --allow-run-as-root --bind-to "$2" \
          -x OMP_NUM_THREADS="$3" "$build/bench/bench_dist" "${@:4}"; }
for cfg in "0.25 128 1 16" "1.0 64 3 6"; do
  set -- $cfg
  w=$1 b=$2 c=$3 s=$4
  run 1 none 1 $w $b $c $s
  run 1 none 2 $w $b $c $s
  run 2 core 1 $w $b $c $s
  run 2 core 1 $w $((2 * b)) $c $s
done
