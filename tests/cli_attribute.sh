#!/usr/bin/env bash
# ibx attribute end to end: a tiny VGG trained for one epoch on cluttered
# Fashion-MNIST (32x32 canvas), then
#  - evaluation on 2 MPI ranks writes results/attribution.h5 with the
#    documented groups, attributes and curves (h5py), n_images right, curves
#    normalised (MoRF/LeRF start at 1 and end at 0);
#  - 1 rank and 2 ranks give the same scores (images are independent);
#  - a second evaluation of other methods keeps the first one's groups;
#  - --image/--png writes a PNG; --list-layers lists features.22;
#  - a missing run directory and an unknown method fail with one line.
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi=(mpiexec --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1)
mkdir -p "$tmp/data"
"$ibx" data convert --format cluttered-fashion-mnist --split train --size 32 --seed 1 default "$tmp/data/train.h5" > /dev/null
"$ibx" data convert --format cluttered-fashion-mnist --split test --size 32 --seed 2 default "$tmp/data/test.h5" > /dev/null
"${mpi[@]}" -n 2 "$ibx" train data.dataset=h5 data.path="$tmp/data" data.image_size=32 \
  data.train_limit=512 data.test_limit=64 model.backbone=vgg16 model.head=plain model.width=0.125 \
  train.batch_size=64 train.epochs=1 output.dir="$tmp/run" --quiet

"$ibx" attribute "$tmp/run" --list-layers | grep -q "^features.22 "

methods=random,gradcam,iba_per_sample_beta10
"${mpi[@]}" -n 2 "$ibx" attribute "$tmp/run" --images 6 --methods $methods --stats 40 --points 5 --quiet > "$tmp/n2.txt"
cp "$tmp/run/results/attribution.h5" "$tmp/n2.h5"
"${mpi[@]}" -n 1 "$ibx" attribute "$tmp/run" --images 6 --methods random,gradcam --points 5 --quiet > "$tmp/n1.txt"
"$ibx" attribute "$tmp/run" --images 3 --methods gradient --points 5 --quiet > /dev/null
grep -q "iba_per_sample_beta10" "$tmp/n2.txt"

/usr/bin/python3 - "$tmp/n2.h5" "$tmp/run/results/attribution.h5" <<'PY'
import sys
import h5py, numpy as np
n2, final = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for m in ("random", "gradcam", "iba_per_sample_beta10"):
    g = n2["attribution/" + m]
    for a in ("degradation_8", "degradation_14", "bbox_ratio", "n_images", "n_bbox"):
        assert a in g.attrs, (m, a)
    assert g.attrs["n_images"] == 6, g.attrs["n_images"]
    for d in ("morf_8", "lerf_8", "morf_14", "lerf_14"):
        c = g[d][...]
        assert c.shape == (5,) and abs(c[0] - 1) < 1e-6 and abs(c[-1]) < 1e-6, (m, d, c)
    area = np.trapz(g["lerf_8"][...] - g["morf_8"][...], dx=0.25)
    assert abs(area - g.attrs["degradation_8"]) < 1e-5, (area, g.attrs["degradation_8"])
# the later runs: random and gradcam from 1 rank equal the 2-rank values,
# iba carried over unchanged, gradient added with its own n_images
for m in ("random", "gradcam"):
    for a in ("degradation_8", "degradation_14", "bbox_ratio"):
        x, y = n2["attribution/" + m].attrs[a], final["attribution/" + m].attrs[a]
        assert abs(x - y) < 1e-5 or (np.isnan(x) and np.isnan(y)), (m, a, x, y)
g = final["attribution/iba_per_sample_beta10"]
assert g.attrs["degradation_8"] == n2["attribution/iba_per_sample_beta10"].attrs["degradation_8"]
assert final["attribution/gradient"].attrs["n_images"] == 3
print("attribution.h5: layout as documented; 1 rank == 2 ranks; groups carried over")
PY

"$ibx" attribute "$tmp/run" --image 1 --png "$tmp/one.png" --methods gradient,gradcam > /dev/null
[ "$(head -c 4 "$tmp/one.png" | tail -c 3)" = PNG ] || { echo "no PNG written"; exit 1; }

set +e
"$ibx" attribute "$tmp/nonexistent" --quiet 2> "$tmp/err1"; s1=$?
"$ibx" attribute "$tmp/run" --methods gradient,bogus --quiet 2> "$tmp/err2"; s2=$?
set -e
[ $s1 -ne 0 ] && [ "$(wc -l < "$tmp/err1")" -eq 1 ] && grep -q nonexistent "$tmp/err1" \
  || { echo "missing run: status $s1, stderr:"; cat "$tmp/err1"; exit 1; }
[ $s2 -ne 0 ] && grep -q "unknown method 'bogus'" "$tmp/err2" \
  || { echo "bad method: status $s2, stderr:"; cat "$tmp/err2"; exit 1; }
echo "cli_attribute: ok"
