#!/usr/bin/env bash
# The Python side on a small real sweep (issue 15): `ibx sweep run --local`
# trains 4 tiny aib runs (beta 0.01 / 0.1 x seeds 0 / 1), evaluates them with
# --save-outputs and attributes 4 images each with --save-heatmaps; then
# analysis/ibx_analysis loads the sweep into one tidy DataFrame (checked
# against the results files), and the figure scripts (AIB Figures 3 and 4,
# IBA degradation curves) write non-empty PNG and PDF files; the heatmaps of
# 1 and 2 MPI ranks agree.
# Exit 77 (skipped) without Debian's python3-torch / pandas / matplotlib.
set -euo pipefail
ibx=$1
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
$py -c "import torch, pandas, matplotlib" 2>/dev/null || { echo "python3-torch/pandas/matplotlib missing: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
cd "$tmp"
cat > figs.ini <<'INI'
[sweep]
name = figs
results = sweeps

[set]
model.head = aib
model.width = 0.0625
model.K = 8
data.train_limit = 128
data.test_limit = 64
train.batch_size = 32
train.epochs = 1
output.keep_last = 1

[grid]
model.beta = 0.01, 0.1
train.seed = 0, 1

[slurm]
tasks = 1

[stage train]
command = train {config} --quiet
outputs = metrics.h5

[stage eval]
after = train
command = eval error --ckpt {run_dir} --limit 16 --save-outputs
outputs = results/error.h5

[stage attribute]
after = train
command = attribute {run_dir} --images 4 --stats 64 --methods random,saliency,iba_per_sample_beta10 --save-heatmaps --quiet
outputs = results/attribution.h5
INI
"$ibx" sweep run figs.ini --local > sweep.out 2>&1 || { cat sweep.out; exit 1; }
sw=sweeps/figs
# the raw heatmaps do not depend on the number of ranks (rows gathered)
one=$(ls -d $sw/*/ | head -1)
cp "$one/results/attribution.h5" a1.h5
mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 "$ibx" attribute "$one" \
  --images 4 --stats 64 --methods random,saliency,iba_per_sample_beta10 --save-heatmaps --quiet \
  > a2.out 2>&1 || { cat a2.out; exit 1; }
$py - a1.h5 "$one/results/attribution.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["heatmaps"] for p in sys.argv[1:3])
assert sorted(a) == sorted(b) == ["iba_per_sample_beta10", "random", "saliency", "target"]
for k in a:
    x, y = a[k][...], b[k][...]
    assert x.shape == y.shape and np.abs(x - y).max() <= 1e-5 * max(1e-30, np.abs(x).max()), k
PY
$py - "$root" "$sw" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/analysis")
import h5py
import numpy as np
import ibx_analysis as ia

sw = sys.argv[2]
df = ia.load_sweep(sw)
runs, left_out = ia.sweep_runs(sw)
assert len(runs) == 4 and not left_out, (len(runs), left_out)
assert {"run_id", "model.beta", "train.seed", "model.head", "kind", "value"} <= set(df.columns)
assert "model.K" not in df.columns, "an unvaried key became a column"
for r in runs:
    with h5py.File(f"{r.dir}/results/error.h5", "r") as f:
        want = f["error/fashion-mnist-test"].attrs["top1_error"]
    got = df[(df.run_id == r.id) & (df.kind == "error")]["value"]
    assert len(got) == 1 and got.iloc[0] == want, (r.id, list(got), want)
    with h5py.File(f"{r.dir}/results/attribution.h5", "r") as f:
        for m in ("random", "saliency", "iba_per_sample_beta10"):
            want = f[f"attribution/{m}"].attrs["degradation_8"]
            got = df[(df.run_id == r.id) & (df.name == m) & (df.metric == "degradation_8")]
            assert got["value"].iloc[0] == want, (r.id, m)
    frame, logits, maps = r.outputs()
    assert len(frame) == 16 and logits.shape == (16, 10) and maps[0].shape == (16, 8, 8)
    assert abs(100.0 * (1 - frame.correct.mean()) - r.errors().top1_error.iloc[0]) < 1e-9
    heat, target = r.heatmaps()
    assert set(heat) == {"random", "saliency", "iba_per_sample_beta10"}, set(heat)
    assert heat["saliency"].shape == (4, 32, 32) and np.array_equal(target, frame.label[:4])
    assert heat["iba_per_sample_beta10"].min() >= 0 and heat["saliency"].max() > 0
    ep = r.metrics_epochs()
    assert 0 <= ep.test_error.iloc[-1] <= 100 and ep.test_error.iloc[-1] > 1  # percent
# seeds are averaged: 2 beta values, 2 seeds each
stats = ia.seed_stats(df[df.kind == "error"], ["model.beta"])
assert list(stats["count"]) == [2, 2], stats
print(df.head().to_string())
PY
for s in fig3_attention fig4_ablation iba_degradation; do
  args=(--sweep "$sw" --out "$tmp/$s")
  [ $s != fig3_attention ] || args+=(--n 4)
  $py "$root/analysis/scripts/$s.py" "${args[@]}" > "$s.out" || { cat "$s.out"; exit 1; }
  for ext in png pdf; do
    [ -s "$tmp/$s.$ext" ] || { echo "FAIL: $s.$ext not written"; exit 1; }
  done
  head -c 4 "$tmp/$s.pdf" | grep -q "%PDF" || { echo "FAIL: $s.pdf is not a PDF"; exit 1; }
  head -c 8 "$tmp/$s.png" | grep -q "PNG" || { echo "FAIL: $s.png is not a PNG"; exit 1; }
done
grep -q "0.01" fig4_ablation.out || { cat fig4_ablation.out; echo "FAIL: no table"; exit 1; }
echo "figures: $(ls "$tmp"/*.png | wc -l) PNG + PDF"
