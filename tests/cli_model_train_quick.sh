#!/usr/bin/env bash
# ibx model train-quick is `ibx train` with a config made from MODEL and its
# options: the run directory's resolved config holds them, the trainer's
# metrics and checkpoint are there, and a bad input shape is refused.
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAILED: $*"; exit 1; }
OMP_NUM_THREADS=1 "$ibx" model train-quick vgg16/aib --width 0.0625 --K 8 --beta 0.05 \
  --beta-warmup 0.5 --epochs 1 --batch 64 --limit 128 --test-limit 64 --lr 0.02 \
  --seed 7 --threads 1 --out "$tmp/run" > out.txt 2>&1 || { cat out.txt; fail "train-quick"; }
grep -q "epoch 1/1 done" out.txt || { cat out.txt; fail "no epoch line from the trainer"; }
for kv in "head = aib" "width = 0.0625" "K = 8" "beta = 0.05" "beta_warmup_epochs = 0.5" \
  "augment = false" "train_limit = 128" "test_limit = 64" "lr = 0.02" "seed = 7" \
  "batch_size = 64"; do
  grep -qx "$kv" "$tmp/run/config.ini" || fail "config.ini lacks '$kv'"
done
[ -f "$tmp/run/metrics.h5" ] && ls "$tmp"/run/ckpt-*.h5 > /dev/null || fail "no metrics or checkpoint"
[ "$(cat "$tmp/run/state")" = done ] || fail "state $(cat "$tmp/run/state")"
set +e
"$ibx" model train-quick vgg16/plain --input 3x32x32 --out "$tmp/bad" > bad.txt 2>&1
st=$?
set -e
[ $st -eq 2 ] || fail "3-channel input: exit $st"
grep -q "needs --input 1xSxS" bad.txt || fail "message: $(cat bad.txt)"
echo "1 passed, 0 failed"
