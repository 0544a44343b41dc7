#!/usr/bin/env bash
# Issue 5 benchmark: the same global batch on 1 rank x 1 thread, 1 rank x 2
# threads and 2 ranks x 1 thread; target: 2x1 >= 0.95 * 2 * (1x1).
#   bench/dist_scaling.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
run() { mpiexec -n "$1" --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS="$2" \
          "$build/bench/bench_dist" "${@:3}"; }
for cfg in "0.25 128 1 12" "1.0 64 3 4"; do
  set -- $cfg
  run 1 1 $cfg; run 1 2 $cfg; run 2 1 $cfg
done
