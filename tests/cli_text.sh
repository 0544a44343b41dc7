#!/usr/bin/env bash
# Text runs end to end on a tiny transformer trained here on the embedded
# fortunes default (seconds):
#  - ibx train (2 MPI ranks) on token ids, checkpoints and metrics as for images;
#  - ibx eval error on the run: 1 rank == 2 ranks, results/error.h5 layout;
#  - ibx attribute on the run: every text method, token deletion and [MASK]
#    replacement, a beta sweep; 1 rank == 2 ranks; /text_attribution layout
#    (read back with h5py), the HTML page and the curve PNG exist;
#  - ibx collect prints the text-IBA table;
#  - bad input: a transformer on images, a CNN on text, a bad --layer and an
#    unknown method are one-line errors with a non-zero status.
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
mpi=(mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1)
py=/usr/bin/python3
if [ ! -d /usr/share/games/fortunes ]; then echo "fortunes not installed: skipped"; exit 77; fi
tiny=(data.dataset=fortunes model.backbone=transformer model.layers=2 model.d_model=16
      model.heads=2 model.d_ff=32 model.max_len=32 model.vocab=300 data.train_limit=256
      data.test_limit=64 train.batch_size=32 train.epochs=2 train.optimizer=adamw train.lr=1e-3
      train.schedule=linear train.warmup_epochs=0.5 train.log_every=4 eval.batch_size=32
      data.token_dropout=0.1)

. "$(dirname "$0")/support/expect.sh"

"${mpi[@]}" "$ibx" train "${tiny[@]}" output.dir="$tmp/run" --quiet
[ "$(cat "$tmp/run/state")" = done ] || fail "state: $(cat "$tmp/run/state")"
ls "$tmp/run"/ckpt-*.h5 > /dev/null && [ -f "$tmp/run/metrics.h5" ] || fail "no checkpoint/metrics"

# ---- eval error: 1 rank == 2 ranks
"$ibx" eval error --ckpt "$tmp/run" > "$tmp/e1.txt"
cp "$tmp/run/results/error.h5" "$tmp/e1.h5"
"${mpi[@]}" "$ibx" eval error --ckpt "$tmp/run" > "$tmp/e2.txt"
grep -q "fortunes-test: top-1 error" "$tmp/e2.txt" || fail "eval output: $(cat "$tmp/e2.txt")"
$py - "$tmp/e1.h5" "$tmp/run/results/error.h5" <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r")["error/fortunes-test"] for p in sys.argv[1:3])
assert a.attrs["n_correct"] == b.attrs["n_correct"], (a.attrs["n_correct"], b.attrs["n_correct"])
assert b.attrs["n_samples"] == 618 and b.attrs["dataset"] == "fortunes", dict(b.attrs)
want = 100.0 * (1 - b.attrs["n_correct"] / b.attrs["n_samples"])  # percent, as image runs
assert abs(b.attrs["top1_error"] - want) < 1e-9, (b.attrs["top1_error"], want)
PY
# --save-outputs is for image runs: a text run gets one clear line, exit 1
if "$ibx" eval error --ckpt "$tmp/run" --save-outputs > "$tmp/so.txt" 2>&1; then
  fail "--save-outputs on a text run succeeded"
fi
grep -q "a text run has none" "$tmp/so.txt" || fail "--save-outputs message: $(cat "$tmp/so.txt")"

# ---- attribute: 1 rank == 2 ranks, layout, page, picture
args=(--images 10 --stats 60 --html 3 --replace-with-mask --iba-betas 1 --iba-layers 0 --quiet)
"$ibx" attribute "$tmp/run" "${args[@]}" > "$tmp/a1.txt"
cp "$tmp/run/results/attribution.h5" "$tmp/a1.h5"
"${mpi[@]}" "$ibx" attribute "$tmp/run" "${args[@]}" > "$tmp/a2.txt"
for m in random grad_x_embedding integrated_gradients occlusion cls_attention iba iba_l0_beta1; do
  grep -q "^$m " "$tmp/a2.txt" || { cat "$tmp/a2.txt"; fail "table lacks $m"; }
  grep -q "$m" "$tmp/run/results/attribution_text.html" || fail "page lacks $m"
done
[ -s "$tmp/run/results/degradation_text.png" ] || fail "no curve PNG"
$py - "$tmp/a1.h5" "$tmp/run/results/attribution.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["text_attribution"] for p in sys.argv[1:3])
assert b.attrs["iba_layer"] == 1 and b.attrs["steps"] == 10, dict(b.attrs)
methods = ["random", "grad_x_embedding", "integrated_gradients", "occlusion", "cls_attention",
           "iba", "iba_l0_beta1"]
for mode in ("delete", "mask"):
    for m in methods:
        g, h = a[mode][m], b[mode][m]
        assert g.attrs["n_sequences"] == 10
        for k in ("morf_prob", "lerf_prob", "morf_acc", "lerf_acc"):
            assert h[k].shape == (11,), (m, k, h[k].shape)
            np.testing.assert_allclose(g[k][:], h[k][:], rtol=1e-5, atol=1e-6)
        # nothing removed: both orders start at the same point
        assert abs(h["morf_prob"][0] - h["lerf_prob"][0]) < 1e-6
        for k in ("score", "morf_area", "lerf_area"):
            assert np.isfinite(h.attrs[k]) or k == "score", (m, k)
hm = b["heatmaps"]
assert hm["ids"].shape == (3, 32) and hm["lengths"].shape == (3,)
for m in methods:
    np.testing.assert_allclose(a["heatmaps"][m][:], hm[m][:], rtol=1e-5, atol=1e-6)
    L = hm["lengths"][0]
    assert np.all(np.isfinite(hm[m][0, :L]))
# IBA heat is min-max normalised per sequence
L = hm["lengths"][1]
assert abs(hm["iba"][1, :L].min()) < 1e-6 and abs(hm["iba"][1, :L].max() - 1) < 1e-6
PY

# ---- ibx collect: the text-IBA table (method x MoRF/LeRF area, score, accuracy at 50 %)
"$ibx" collect "$tmp" > "$tmp/collect.txt" 2> /dev/null || true
grep -q "### Text IBA: token deletion" "$tmp/collect.txt" || { cat "$tmp/collect.txt"; fail "no text table"; }
grep -q "^| iba_l0_beta1 | " "$tmp/collect.txt" || fail "text table lacks iba_l0_beta1"
grep -q "transformer: acc 50% MoRF" "$tmp/collect.txt" || fail "text table lacks the accuracy column"

# ---- bad input
expect_once 1 "needs a text dataset" "$ibx" train model.backbone=transformer data.train_limit=64 \
  output.dir="$tmp/bad1" --quiet
expect_once 1 "cannot read the text dataset" "$ibx" train data.dataset=fortunes \
  output.dir="$tmp/bad2" --quiet
expect_once 1 "the folds need data.validation = true" "$ibx" train "${tiny[@]}" \
  data.validation_fold=2 output.dir="$tmp/bad3" --quiet
expect_once 1 "data.validation_fold = 5 must be below data.validation_folds = 5" "$ibx" train \
  "${tiny[@]}" data.validation=true data.validation_fold=5 output.dir="$tmp/bad4" --quiet
expect_once 1 "--layer 5 outside 0..2" "$ibx" attribute "$tmp/run" --layer 5 --quiet
expect_once 1 "unknown text attribution method 'bogus'" "$ibx" attribute "$tmp/run" --methods bogus --quiet
echo "cli_text: ok"
