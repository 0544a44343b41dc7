#!/usr/bin/env bash
# Runs ibx's VGG-16-BN training-step benchmark and the PyTorch reference on
# the same machine in the same run, for each configuration, and prints the
# ratios ibx/PyTorch for throughput and peak RSS.
#
#   bench/vgg_train_vs_torch.sh [BUILD_DIR]     (default: build)
# Needs Debian's python3-torch (scripts/setup.sh --dev).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
torch_ref=${IBX_TORCH_REF:-$here/../shared/reference/torch_vgg_train_bench.py}
[ -f "$torch_ref" ] || torch_ref=$here/bench/torch_vgg_train_bench.py
configs=("2 1.0 64 3" "1 1.0 64 3" "2 0.25 128 1" "1 0.25 128 1")
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
printf "%-22s %10s %10s %7s %9s %9s %7s\n" config ibx_img/s torch_img/s ratio ibx_MB torch_MB ratio
for cfg in "${configs[@]}"; do
  set -- $cfg
  ours=$(OMP_NUM_THREADS=$1 "$build/bench/bench_vgg_train" $cfg)
  theirs=$(/usr/bin/python3 "$torch_ref" $cfg)
  oi=$(echo "$ours" | field train_img_per_s); ti=$(echo "$theirs" | field train_img_per_s)
  om=$(echo "$ours" | field peak_rss_MB); tm=$(echo "$theirs" | field peak_rss_MB)
  printf "%-22s %10s %10s %7.2f %9s %9s %7.2f\n" "t=$1 w=$2 b=$3 in=$4" "$oi" "$ti" \
    "$(echo "$oi / $ti" | bc -l)" "$om" "$tm" "$(echo "$om / $tm" | bc -l)"
done
