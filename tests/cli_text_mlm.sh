#!/usr/bin/env bash
# Masked-language-model pre-training and fine-tuning end to end, tiny (seconds):
#  - ibx train (2 ranks) with model.objective = mlm on fortunes-corpus: the
#    held-out masked-token error is the run's test error, checkpoints as usual;
#  - ibx data --vocab-from: the labelled set tokenized with the corpus's vocabulary;
#  - fine-tuning: data.vocab_from + train.init_from loads every encoder and
#    embedding tensor (checked with h5py at a learning rate too small to move
#    them) and leaves the pooler/classifier to their initialisation;
#  - bad input: another vocabulary size, a missing run, a corrupt checkpoint, a
#    directory without checkpoints, MLM on a CNN: one-line errors, non-zero exit.
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
mpi=(mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1)
py=/usr/bin/python3
if [ ! -d /usr/share/games/fortunes ]; then echo "fortunes not installed: skipped"; exit 77; fi
enc=(model.backbone=transformer model.layers=2 model.d_model=16 model.heads=2 model.d_ff=32
     model.max_len=32 model.vocab=300 train.batch_size=32 train.optimizer=adamw
     train.schedule=linear train.warmup_epochs=0.5 train.log_every=4 eval.batch_size=32)
. "$(dirname "$0")/support/expect.sh"

# ---- pre-training
"${mpi[@]}" "$ibx" train "${enc[@]}" data.dataset=fortunes-corpus model.objective=mlm \
  data.train_limit=256 data.test_limit=64 train.epochs=2 train.lr=1e-3 output.dir="$tmp/pt" \
  > "$tmp/pt.log" 2>&1 || { cat "$tmp/pt.log"; fail "pre-training"; }
[ "$(cat "$tmp/pt/state")" = done ] || fail "state: $(cat "$tmp/pt/state")"
grep -q "held-out MLM loss" "$tmp/pt.log" || fail "no held-out MLM line: $(tail -3 "$tmp/pt.log")"
$py - "$tmp/pt" <<'PY'
import sys, h5py
d = sys.argv[1]
with h5py.File(d + "/best.h5", "r") as f:
    m = f["model"]
    assert "mlm.decoder.bias" in m and "mlm.dense.weight" in m and "pooler.weight" not in m, list(m)
    assert m["mlm.decoder.bias"].shape == m["embedding.token.weight"].shape[:1]
with h5py.File(d + "/metrics.h5", "r") as f:
    e = f["epoch/test_error"][...]
    assert len(e) == 2, e
    # the test error is the masked-token error on held-out text, in percent
    assert all(50.0 < x <= 100.0 for x in e), e
PY

# ---- the labelled set with the corpus's vocabulary
"$ibx" data info --format fortunes --vocab-size 300 --vocab-from fortunes-corpus default \
  > "$tmp/info.txt"
grep -q "vocabulary: 300 pieces" "$tmp/info.txt" || fail "info: $(cat "$tmp/info.txt")"

# ---- fine-tuning: every encoder/embedding tensor comes from the pre-trained run
"${mpi[@]}" "$ibx" train "${enc[@]}" data.dataset=fortunes data.vocab_from=fortunes-corpus \
  data.train_limit=64 data.test_limit=32 train.epochs=1 train.warmup_epochs=0 \
  train.schedule=constant train.lr=1e-12 train.weight_decay=0 train.init_from="$tmp/pt" \
  output.dir="$tmp/ft" > "$tmp/ft.log" 2>&1 || { cat "$tmp/ft.log"; fail "fine-tuning"; }
grep -q "initialised 28 of 32 parameter tensors from $tmp/pt/best.h5" "$tmp/ft.log" ||
  fail "init line: $(grep -i init "$tmp/ft.log")"
$py - "$tmp/pt/best.h5" "$tmp/ft/best.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    shared = [k for k in b["model"] if k in a["model"]]
    assert len(shared) == 28 and "classifier.weight" not in a["model"], shared
    for k in shared:
        assert np.allclose(a["model"][k][...], b["model"][k][...], atol=1e-6), k
    assert b["model"]["classifier.weight"].shape[0] == 4
PY
# a checkpoint file works as well as a run directory
"$ibx" train "${enc[@]}" data.dataset=fortunes data.vocab_from=fortunes-corpus \
  data.train_limit=32 data.test_limit=32 train.epochs=1 train.warmup_epochs=0 \
  train.schedule=constant train.init_from="$tmp/pt/best.h5" output.dir="$tmp/ft2" --quiet

# ---- bad input
base=("${enc[@]}" data.dataset=fortunes data.train_limit=32 data.test_limit=32 train.epochs=1
      train.warmup_epochs=0 train.schedule=constant)
expect_once 1 "has shape 300x16 there" "$ibx" train "${base[@]}" model.vocab=200 \
  data.vocab_from=fortunes-corpus train.init_from="$tmp/pt" output.dir="$tmp/b1" --quiet
expect_once 1 "no such run directory or checkpoint" "$ibx" train "${base[@]}" \
  train.init_from="$tmp/none" output.dir="$tmp/b2" --quiet
mkdir "$tmp/empty"
expect_once 1 "holds no checkpoint" "$ibx" train "${base[@]}" train.init_from="$tmp/empty" \
  output.dir="$tmp/b3" --quiet
head -c 3000 "$tmp/pt/best.h5" > "$tmp/cut.h5"
expect_once 1 "cut.h5" "$ibx" train "${base[@]}" train.init_from="$tmp/cut.h5" output.dir="$tmp/b4" \
  --quiet
expect_once 1 "model.objective = mlm needs model.backbone = transformer" "$ibx" train \
  data.dataset=fashion-mnist model.objective=mlm output.dir="$tmp/b5" --quiet
expect_once 1 "data.vocab_from = nope" "$ibx" train "${base[@]}" data.vocab_from=nope \
  output.dir="$tmp/b6" --quiet
echo "cli_text_mlm: ok"
