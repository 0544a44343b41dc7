#!/usr/bin/env bash
# Training-step throughput and peak memory of VGG-16-BN, ibx
# (build/bench/bench_vgg_train) against the PyTorch reference
# (../shared/reference/torch_vgg_train_bench.py), interleaved: for each
# configuration, PAIRS pairs of (ibx, PyTorch) runs one after the other, so
# drifts of the machine hit both sides alike. Both sides time 2 warm-up steps,
# then at least 20 steps and at least 10 s. Prints every pair and, per
# configuration, the median and range of img/s and of the ratio ibx/PyTorch.
#
#   bench/vgg_train_vs_torch.sh [BUILD_DIR] [PAIRS] [PRECISIONS]
#     BUILD_DIR   default build
#     PAIRS       default 3
#     PRECISIONS  default "fp32"; "fp32 bf16" adds ibx bf16 and PyTorch bf16
#                 autocast rows (each precision against the same on the other side)
#   IBX_BENCH_CONFIGS="THREADS WIDTH BATCH IN;..." overrides the configurations.
# Needs Debian's python3-torch (scripts/setup.sh --dev). Never part of ctest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
pairs=${2:-3}
precisions=${3:-fp32}
# the shared reference next to the checkout or the worktrees, else bench/'s copy of it
torch_ref=${IBX_TORCH_REF:-}
for d in "$here/../shared/reference" "$here/../../shared/reference" "$here/bench"; do
  [ -n "$torch_ref" ] || { [ -f "$d/torch_vgg_train_bench.py" ] && torch_ref=$d/torch_vgg_train_bench.py; }
done
IFS=';' read -r -a configs <<< "${IBX_BENCH_CONFIGS:-2 1.0 64 3;1 1.0 64 3;2 0.25 128 1;1 0.25 128 1}"
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
stats() { # "median min max" of the numbers on stdin
  sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
    printf "%.2f %.2f %.2f", m, v[1], v[NR]}'
}
echo "reference: $torch_ref ($(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%-28s %4s %10s %10s %7s %8s %8s %7s\n" config pair ibx_img/s torch_img/s ratio ibx_MB torch_MB ratio
summary=""
for cfg in "${configs[@]}"; do
  for prec in $precisions; do
    set -- $cfg
    name="t=$1 w=$2 b=$3 in=$4 $prec"
    oi_all="" ti_all="" r_all="" mr_all=""
    for p in $(seq 1 "$pairs"); do
      ours=$(OMP_NUM_THREADS=$1 "$build/bench/bench_vgg_train" $cfg "$prec")
      theirs=$(/usr/bin/python3 "$torch_ref" $cfg "$prec")
      oi=$(echo "$ours" | field train_img_per_s); ti=$(echo "$theirs" | field train_img_per_s)
      om=$(echo "$ours" | field peak_rss_MB); tm=$(echo "$theirs" | field peak_rss_MB)
      r=$(echo "$oi / $ti" | bc -l); mr=$(echo "$om / $tm" | bc -l)
      printf "%-28s %4d %10s %10s %7.2f %8s %8s %7.2f\n" "$name" "$p" "$oi" "$ti" "$r" "$om" "$tm" "$mr"
      oi_all+="$oi"$'\n' ti_all+="$ti"$'\n' r_all+="$r"$'\n' mr_all+="$mr"$'\n'
    done
    summary+=$(printf "%-28s ibx %s | torch %s | ratio %s | mem ratio %s" "$name" \
      "$(printf "%s" "$oi_all" | stats)" "$(printf "%s" "$ti_all" | stats)" \
      "$(printf "%s" "$r_all" | stats)" "$(printf "%s" "$mr_all" | stats)")$'\n'
  done
done
echo "--- median min max over $pairs pairs ---"
printf "%s" "$summary"
