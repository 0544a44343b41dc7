#!/usr/bin/env bash
# Per-image time of per-sample IBA (10 iterations x 10 noise draws, layer
# features.22, 3x32x32 input) for ibx and the PyTorch reference bottleneck
# (scripts/make_golden_iba.py --bench), quarter and full width, one after
# the other in the same run, PAIRS times (default 3) interleaved. Each side
# times its steady state: at least REPS images and at least 10 s. Ratio =
# PyTorch time / ibx time (> 1: ibx faster).
#
#   [PAIRS=3] bench/iba_vs_torch.sh [BUILD_DIR] [THREADS] [REPS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
threads=${2:-1}
reps=${3:-5}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
printf "%-28s %10s %12s %7s\n" config ibx_ms torch_ms speedup
for width in 0.25 1.0; do
 for _ in $(seq "${PAIRS:-3}"); do
  ours=$(OMP_NUM_THREADS=$threads "$build/bench/bench_iba" $width 3 "$reps")
  theirs=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/scripts/make_golden_iba.py" --bench \
           --width $width --channels 3 --reps "$reps")
  o=$(echo "$ours" | field median_ms); t=$(echo "$theirs" | field median_ms)
  printf "%-28s %10s %12s %7.2f\n" "w=$width t=$threads 3x32x32" "$o" "$t" "$(echo "$t / $o" | bc -l)"
 done
done
