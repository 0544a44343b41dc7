#!/usr/bin/env bash
# Transformer train step and per-sample IBA per sequence: ibx (bench_transformer)
# and PyTorch (torch_transformer_bench.py) on the same shapes, one after the
# other in the same run (docs/performance.md). Ratio = PyTorch time / ibx time.
#
#   bench/transformer_vs_torch.sh [BUILD_DIR] [THREADS] [BATCH LEN LAYERS D HEADS FF VOCAB DROPOUT]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
threads=${2:-1}
B=${3:-32} T=${4:-128} L=${5:-2} D=${6:-128} H=${7:-4} FF=${8:-512} V=${9:-4000} P=${10:-0.1}
ours=$(OMP_NUM_THREADS=$threads "$build/bench/bench_transformer" --batch "$B" --len "$T" \
       --layers "$L" --d "$D" --heads "$H" --ff "$FF" --vocab "$V" --dropout "$P" --steps 10 --iba 5)
theirs=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/bench/torch_transformer_bench.py" \
         "$threads" "$B" "$T" "$L" "$D" "$H" "$FF" "$V" "$P" 10 5)
echo "$ours"; echo "$theirs"
num() { sed -n "s/.*$1: \([0-9.]*\).*/\1/p"; }
ts=$(echo "$ours" | num "train step"); tt=$(echo "$theirs" | num "torch train step")
is=$(echo "$ours" | num "per-sample IBA"); it=$(echo "$theirs" | num "torch per-sample IBA")
printf "train step speedup (torch/ibx): %.2f   IBA speedup: %.2f\n" \
  "$(echo "$tt / $ts" | bc -l)" "$(echo "$it / $is" | bc -l)"
