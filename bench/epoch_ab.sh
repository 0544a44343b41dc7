#!/usr/bin/env bash
# Two ibx builds against each other on whole epochs (no PyTorch): one epoch
# of bench/epoch_recipe.sh (the recipe epoch_vs_torch.sh times), run
# alternately with build A and build B, RUNS times each; prints the wall clock of each whole process and
# the final test accuracy. For changes meant to keep the time (a refactor,
# another summation order); targets against PyTorch use epoch_vs_torch.sh.
#   bench/epoch_ab.sh BUILD_A BUILD_B [RUNS=2] [WIDTH=0.25] [THREADS=2] [PRECISION=fp32]
# Never part of ctest.
set -euo pipefail
. "$(dirname "$0")/epoch_recipe.sh"
a=$1 b=$2 runs=${3:-2} width=${4:-0.25} threads=${5:-2} prec=${6:-fp32}
data=${IBX_DATA:-/usr/share/datasets/fashion-mnist}
work=$(mktemp -d /tmp/ibx-epoch-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "A=$a B=$b width=$width threads=$threads precision=$prec ($(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq 1 "$runs"); do
  for side in A B; do
    build=$a
    [ $side = B ] && build=$b
    rm -rf "$work/run"
    epoch_recipe "$data" "$width" 1 "$threads" "$prec" "$work/run"
    /usr/bin/time -o "$work/time" -f "%e" env OMP_NUM_THREADS="$threads" "$build/ibx" train \
      "${EPOCH_ARGS[@]}" > "$work/out" 2>&1 ||
      { cat "$work/out" >&2; echo "epoch_ab: $side failed" >&2; exit 1; }
    acc=$(sed -n 's/.*(acc \([0-9.]*\)%).*/\1/p' "$work/out" | tail -1)
    echo "run $r $side: $(cat "$work/time") s, test accuracy $acc %"
  done
done
