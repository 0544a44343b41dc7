#!/usr/bin/env bash
# End-to-end training time: `ibx train` against the PyTorch reference
# ../shared/reference/torch_epoch_train.py on Fashion-MNIST, same recipe
# (VGG-16-BN plain head, SGD 0.05 Nesterov momentum 0.9, weight decay 5e-4,
# linear warm-up over half an epoch then cosine per step, batch 128, random
# crop (zero padding 4) + horizontal flip, test accuracy after every epoch),
# interleaved: PAIRS pairs of (ibx, PyTorch) runs one after the other.
#
# What is timed is each whole process (wall clock from /usr/bin/time): start-up,
# data loading, augmentation, training, evaluation and (ibx) checkpoints and
# metrics, so it is what a user waits for. Also reported: user CPU seconds,
# peak RSS and the final test accuracy. Prints every pair and, per precision,
# the median and range of wall time and of the ratio ibx/PyTorch.
#
#   bench/epoch_vs_torch.sh [BUILD_DIR] [PAIRS] [WIDTH] [EPOCHS] [THREADS] [PRECISIONS]
#     defaults: build 3 0.25 1 2 "fp32"
#     PRECISIONS: e.g. "fp32 bf16": ibx train.precision=bf16 against PyTorch bf16
#     autocast; the fp32 rows give the PyTorch fp32 baseline for the bf16 target.
#   IBX_DATA=/usr/share/datasets/fashion-mnist  IBX_BENCH_KEEP=1 keeps the run dirs.
#   IBX_EPOCH_EXTRA="data.train_limit=512" adds ibx config overrides (smoke tests only:
#   the comparison is meaningless unless both sides train the same data).
# Needs Debian's python3-torch. Never part of ctest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/epoch_recipe.sh"
build=${1:-$here/build}
pairs=${2:-3} width=${3:-0.25} epochs=${4:-1} threads=${5:-2} precisions=${6:-fp32}
data=${IBX_DATA:-/usr/share/datasets/fashion-mnist}
# the shared reference next to the checkout or the worktrees, else bench/'s copy of it
torch_ref=${IBX_TORCH_EPOCH_REF:-}
for d in "$here/../shared/reference" "$here/../../shared/reference" "$here/bench"; do
  [ -n "$torch_ref" ] || { [ -f "$d/torch_epoch_train.py" ] && torch_ref=$d/torch_epoch_train.py; }
done
work=$(mktemp -d /tmp/ibx-epoch-bench.XXXXXX)
[ -n "${IBX_BENCH_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.4f", a / b }'; }
stats() { sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
    printf "%.2f [%.2f-%.2f]", m, v[1], v[NR]}'; }
# timed CMD...: runs CMD, leaves its output in $work/out and "wall user maxrss_kB" in $work/time
timed() { /usr/bin/time -o "$work/time" -f "%e %U %M" "$@" > "$work/out" 2>&1 ||
  { cat "$work/out" >&2; echo "epoch_vs_torch: failed: $*" >&2; exit 1; }; }
echo "reference: $torch_ref"
echo "width=$width epochs=$epochs threads=$threads pairs=$pairs data=$data ($(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%-6s %4s %9s %9s %7s %8s %8s %7s %7s %7s %8s %8s\n" prec pair ibx_s torch_s ratio \
  ibx_usr torch_usr ratio ibx_MB torch_MB ibx_acc torch_acc
summary=""
for prec in $precisions; do
  w_all="" t_all="" r_all="" u_all="" m_all=""
  for p in $(seq 1 "$pairs"); do
    run="$work/run-$prec-$p"
    epoch_recipe "$data" "$width" "$epochs" "$threads" "$prec" "$run"
    # shellcheck disable=SC2086 # IBX_EPOCH_EXTRA: overrides separated by spaces
    OMP_NUM_THREADS=$threads timed "$build/ibx" train "${EPOCH_ARGS[@]}" ${IBX_EPOCH_EXTRA:-}
    read -r iw iu im < "$work/time"
    ia=$(sed -n 's/.*(acc \([0-9.]*\)%).*/\1/p' "$work/out" | tail -1)
    OMP_NUM_THREADS=$threads timed /usr/bin/python3 "$torch_ref" fashion-mnist "$data" "$width" \
      "$epochs" "$threads" 0.05 128 "$prec"
    read -r tw tu tm < "$work/time"
    ta=$(sed -n 's/^final test_acc=\([0-9.]*\).*/\1/p' "$work/out")
    r=$(div "$iw" "$tw"); ur=$(div "$iu" "$tu"); mr=$(div "$im" "$tm")
    printf "%-6s %4d %9.1f %9.1f %7.3f %8.1f %8.1f %7.3f %7.0f %7.0f %8s %8s\n" "$prec" "$p" "$iw" "$tw" \
      "$r" "$iu" "$tu" "$ur" "$((im / 1024))" "$((tm / 1024))" "$ia" "$ta"
    w_all+="$iw"$'\n' t_all+="$tw"$'\n' r_all+="$r"$'\n' u_all+="$ur"$'\n' m_all+="$mr"$'\n'
  done
  summary+="$prec: ibx wall s $(printf "%s" "$w_all" | stats) | torch wall s $(printf "%s" "$t_all" | stats)"
  summary+=" | ratio $(printf "%s" "$r_all" | stats) | user-time ratio $(printf "%s" "$u_all" | stats)"
  summary+=" | peak-RSS ratio $(printf "%s" "$m_all" | stats)"$'\n'
done
echo "--- median [min-max] over $pairs pairs ---"
printf "%s" "$summary"
