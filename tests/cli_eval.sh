#!/usr/bin/env bash
# ibx eval end to end on tiny runs trained here (seconds):
#  - error and interpret give the same counts on 1 and 2 MPI ranks and write
#    the documented results layout (read back with h5py);
#  - maps writes a PNG (Figure 3 and Figure 5 layouts) and a caption;
#  - cross-domain: a CIFAR-10 model on tiny STL-10 files (the 9-class view,
#    monkeys dropped) writes /error/stl10-train;
#  - bad input: a model without attention given to interpret, a dataset with
#    other channels, and one with another image size (rejected, or resampled
#    with --resize) are one-line errors with a non-zero status.
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
mpi=(mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1)
py=/usr/bin/python3
tiny=(model.width=0.125 data.train_limit=1024 data.test_limit=200 train.batch_size=64
      train.epochs=2 train.log_every=8 output.keep_last=2)

"$ibx" train "${tiny[@]}" model.head=aib output.dir="$tmp/aib" --quiet
"$ibx" train "${tiny[@]}" model.head=plain output.dir="$tmp/plain" --quiet

# fail, expect STATUS NEEDLE CMD... (exit status and a one-line message containing NEEDLE)
. "$(dirname "$0")/support/expect.sh"

# ---- top-1 error: 1 rank == 2 ranks, layout as documented
"$ibx" eval error --ckpt "$tmp/aib" --limit 500 > "$tmp/e1.txt"
cp "$tmp/aib/results/error.h5" "$tmp/e1.h5"
"${mpi[@]}" "$ibx" eval error --ckpt "$tmp/aib" --limit 500 > "$tmp/e2.txt"
grep -q "fashion-mnist-test: top-1 error" "$tmp/e2.txt" || fail "error output: $(cat "$tmp/e2.txt")"
$py - "$tmp/e1.h5" "$tmp/aib/results/error.h5" <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r")["error/fashion-mnist-test"] for p in sys.argv[1:3])
for key in ("top1_error", "n_samples", "n_correct", "dataset", "split", "checkpoint"):
    assert key in b.attrs, key
assert b.attrs["n_samples"] == 500 and b.attrs["dataset"] == "fashion-mnist", dict(b.attrs)
assert b.attrs["split"] == "test" and b.attrs["checkpoint"].endswith(".h5")
assert a.attrs["n_correct"] == b.attrs["n_correct"], (a.attrs["n_correct"], b.attrs["n_correct"])
err = 100.0 * (1 - b.attrs["n_correct"] / b.attrs["n_samples"])
assert abs(b.attrs["top1_error"] - err) < 1e-9
PY

# ---- interpretability score: 1 rank == 2 ranks, Table 2 printout, layout
"$ibx" eval interpret --ckpt "$tmp/aib" --limit 120 > "$tmp/i1.txt"
cp "$tmp/aib/results/interpret.h5" "$tmp/i1.h5"
"${mpi[@]}" "$ibx" eval interpret --ckpt "$tmp/aib" --limit 120 > "$tmp/i2.txt"
for row in "color_block   p=4" "patch         p=4" "high_pass     r>=4" "low_pass      r<12"; do
  grep -q -- "$row" "$tmp/i2.txt" || { cat "$tmp/i2.txt"; fail "table lacks '$row'"; }
done
$py - "$tmp/i1.h5" "$tmp/aib/results/interpret.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
groups = ["interpret/%s/p%d" % (m, p) for m in ("color_block", "patch") for p in (4, 8, 12, 16)]
groups += ["interpret/high_pass/r4", "interpret/low_pass/r12"]
for g in groups:
    x, y = a[g], b[g]
    for key in ("score", "n_prediction_consistent", "n_total", "threshold", "seed"):
        assert key in y.attrs, (g, key)
    assert y.attrs["n_total"] == 120 and y.attrs["threshold"] == 0.9 and y.attrs["seed"] == 0
    for key in ("score", "n_prediction_consistent", "n_attention_consistent"):
        assert x.attrs[key] == y.attrs[key], (g, key, x.attrs[key], y.attrs[key])
    # batches differ between 1 and 2 ranks: equal up to float32 rounding
    assert np.allclose(x["cosine"][...], y["cosine"][...], rtol=0, atol=1e-5), g
    cos = y["cosine"][...]
    assert len(cos) == y.attrs["n_prediction_consistent"]
    assert abs(y.attrs["score"] - 100.0 * np.mean(cos >= 0.9)) < 1e-9 if len(cos) else True
PY
# a second update keeps the other groups (only color_block/p8 is rewritten)
"$ibx" eval interpret --ckpt "$tmp/aib" --limit 50 --mods color_block --windows 8 --seed 3 > /dev/null
$py - "$tmp/aib/results/interpret.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f["interpret/color_block/p8"].attrs["seed"] == 3
assert f["interpret/color_block/p4"].attrs["seed"] == 0 and "interpret/low_pass/r12" in f
PY

# ---- pictures
"$ibx" eval maps --ckpt "$tmp/aib" --ckpt "$tmp/aib/ckpt-000000016.h5" --out "$tmp/fig3.png" > /dev/null
"$ibx" eval maps --ckpt "$tmp/aib/ckpt-000000016.h5" --ckpt "$tmp/aib" --select disagreement \
  --count 3 --out "$tmp/fig5.png" > /dev/null
$py - "$tmp/fig3.png" "$tmp/fig5.png" <<'PY'
import struct, sys
for path, rows in zip(sys.argv[1:3], (5, None)):
    head = open(path, "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    w, h = struct.unpack(">II", head[16:24])
    assert w > 3 * 32 and h > 32, (path, w, h)
    if rows:  # 5 rows of 4x magnified 32x32 inputs, 4 groups of 3 cells, plus the
        # row labels on the left (the longest, "color_block 8": 13 characters of
        # 12 px), two title lines on top and the colour bar below (22 px lines)
        grid_w, grid_h = 4 * (3 * (4 * 32 + 2) + 8) - 8 + 4, 5 * (4 * 32 + 2)
        assert w == grid_w + (13 * 12 - 2) + 8 and h == grid_h + 2 * 22 + 8 + 3 * 22, (w, h)
PY
grep -q "true " "$tmp/fig3.txt" && grep -q "first run predicted" "$tmp/fig5.txt" \
  || fail "captions: $(cat "$tmp/fig3.txt" "$tmp/fig5.txt")"

# ---- bad input
expect 2 "has no attention map" "$ibx" eval interpret --ckpt "$tmp/plain" --limit 10
# a cross-domain stage in a sweep that mixes datasets skips the other runs
"$ibx" eval error --ckpt "$tmp/plain" --limit 10 --data stl10 --only-trained-on cifar10 \
  > "$tmp/only.txt" || fail "--only-trained-on exited non-zero"
grep -q "nothing to evaluate" "$tmp/only.txt" || fail "--only-trained-on: no note"
# in a sweep that mixes heads the stage may skip such a model: exit 0, nothing written
"$ibx" eval interpret --ckpt "$tmp/plain" --limit 10 --skip-without-attention > "$tmp/skip.txt" ||
  fail "--skip-without-attention exited non-zero"
grep -q "nothing to score" "$tmp/skip.txt" || fail "--skip-without-attention: no note"
[ ! -e "$tmp/plain/results/interpret.h5" ] || fail "--skip-without-attention wrote interpret.h5"
expect 2 "has no attention map" "$ibx" eval maps --ckpt "$tmp/plain" --out "$tmp/x.png"
expect 1 "no such run directory" "$ibx" eval error --ckpt "$tmp/nothing"
expect 2 "unknown modification" "$ibx" eval interpret --ckpt "$tmp/aib" --mods blur
expect 2 "window 40 does not fit" "$ibx" eval interpret --ckpt "$tmp/aib" --limit 4 --windows 40 --mods color_block

# tiny datasets: MNIST-format 20x20 digits, CIFAR-10 and STL-10 binaries
$py - "$tmp" <<'PY'
import os, struct, sys, random
t = sys.argv[1]; r = random.Random(5)
os.makedirs(t + "/mnist20"); os.makedirs(t + "/cifar"); os.makedirs(t + "/stl")
for split, n in (("train", 30), ("t10k", 20)):
    with open("%s/mnist20/%s-images-idx3-ubyte" % (t, split), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 20, 20) + bytes(r.randrange(256) for _ in range(n * 400)))
    with open("%s/mnist20/%s-labels-idx1-ubyte" % (t, split), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
for name in ["data_batch_%d.bin" % k for k in range(1, 6)] + ["test_batch.bin"]:
    with open("%s/cifar/%s" % (t, name), "wb") as f:
        for i in range(20):
            f.write(bytes([i % 10]) + bytes(r.randrange(256) for _ in range(3072)))
labels = {"train": [1, 8, 10, 3, 6, 5, 2], "test": [4, 6, 7, 9, 1]}  # 8 = monkey
for split, ys in labels.items():
    with open("%s/stl/%s_X.bin" % (t, split), "wb") as f:
        f.write(bytes(r.randrange(256) for _ in range(len(ys) * 3 * 96 * 96)))
    with open("%s/stl/%s_y.bin" % (t, split), "wb") as f:
        f.write(bytes(ys))
PY
expect 2 "images are 20x20, the model was trained on 28x28" \
  "$ibx" eval error --ckpt "$tmp/aib" --data mnist --data-path "$tmp/mnist20"
"$ibx" eval error --ckpt "$tmp/aib" --data mnist --data-path "$tmp/mnist20" --resize > /dev/null
expect 2 "images have 3 channels, the model" \
  "$ibx" eval error --ckpt "$tmp/aib" --data stl10 --data-path "$tmp/stl" --split train

# ---- cross-domain: CIFAR-10 model on STL-10 train and test
"$ibx" train model.head=plain model.width=0.0625 data.dataset=cifar10 data.path="$tmp/cifar" \
  train.batch_size=20 train.epochs=1 output.dir="$tmp/c10" --quiet
"$ibx" eval error --ckpt "$tmp/c10" --data stl10 --data-path "$tmp/stl" --split train > /dev/null
cp "$tmp/c10/results/error.h5" "$tmp/c1.h5"
"${mpi[@]}" "$ibx" eval error --ckpt "$tmp/c10" --data stl10 --data-path "$tmp/stl" --split train > /dev/null
"${mpi[@]}" "$ibx" eval error --ckpt "$tmp/c10" --data stl10 --data-path "$tmp/stl" --split test > /dev/null
$py - "$tmp/c1.h5" "$tmp/c10/results/error.h5" "$tmp/mnist20" "$tmp/aib/results/error.h5" <<'PY'
import sys, h5py
one, f = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
tr, te = f["error/stl10-train"].attrs, f["error/stl10-test"].attrs
assert tr["n_samples"] == 6 and te["n_samples"] == 5, (tr["n_samples"], te["n_samples"])  # monkeys dropped
assert tr["dataset"] == "stl10" and tr["split"] == "train" and te["split"] == "test"
assert one["error/stl10-train"].attrs["n_correct"] == tr["n_correct"]
m = h5py.File(sys.argv[4], "r")["error/mnist-test"].attrs
assert m["n_samples"] == 20 and m["dataset"] == "mnist"
assert "fashion-mnist-test" in h5py.File(sys.argv[4], "r")["error"]
PY
echo "cli_eval: error, interpret, maps, cross-domain and bad input behave as documented"
