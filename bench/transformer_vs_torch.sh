#!/usr/bin/env bash
# Transformer train step and per-sample IBA per sequence: ibx (bench_transformer)
# and PyTorch (torch_transformer_bench.py) on the same shapes, interleaved in
# the same run (ibx, PyTorch, ibx, PyTorch, ...: PAIRS pairs, default 3), each
# timing its steady state (>= 20 steps and >= 10 s; >= 5 IBA sequences and
# >= 10 s). Ratio = PyTorch time / ibx time, per pair, then median [range].
#
#   [PAIRS=3] bench/transformer_vs_torch.sh [BUILD_DIR] [THREADS] [BATCH LEN LAYERS D HEADS FF VOCAB DROPOUT]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
threads=${2:-1}
B=${3:-32} T=${4:-128} L=${5:-2} D=${6:-128} H=${7:-4} FF=${8:-512} V=${9:-4000} P=${10:-0.1}
pairs=${PAIRS:-3}
num() { sed -n "s/.*$1: \([0-9.]*\) .*/\1/p"; }
rss() { sed -n "s/.*$1: \([0-9.]*\) MiB.*/\1/p"; }
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')," \
  "load $(cut -d' ' -f1-3 /proc/loadavg); threads $threads; batch $B len $T layers $L d $D heads $H ff $FF vocab $V dropout $P"
step_r=() iba_r=()
for i in $(seq "$pairs"); do
  ours=$(OMP_NUM_THREADS=$threads "$build/bench/bench_transformer" --batch "$B" --len "$T" \
         --layers "$L" --d "$D" --heads "$H" --ff "$FF" --vocab "$V" --dropout "$P" --steps 20 --iba 5)
  theirs=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/bench/torch_transformer_bench.py" \
           "$threads" "$B" "$T" "$L" "$D" "$H" "$FF" "$V" "$P" 20 5)
  ts=$(num "train step" <<< "$ours"); tt=$(num "torch train step" <<< "$theirs")
  is=$(num "per-sample IBA" <<< "$ours"); it=$(num "torch per-sample IBA" <<< "$theirs")
  sr=$(echo "$tt / $ts" | bc -l); ir=$(echo "$it / $is" | bc -l)
  step_r+=("$sr") iba_r+=("$ir")
  printf "pair %d: step ibx %s s torch %s s ratio %.2f | IBA ibx %s s torch %s s ratio %.2f | RSS ibx %s torch %s MiB\n" \
    "$i" "$ts" "$tt" "$sr" "$is" "$it" "$ir" "$(rss "peak RSS" <<< "$ours")" "$(rss "torch peak RSS" <<< "$theirs")"
done
summary() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f [%.2f-%.2f]", m, v[1], v[NR]}'; }
echo "train step speedup (torch/ibx): median $(summary "${step_r[@]}")   per-sample IBA speedup: median $(summary "${iba_r[@]}")"
