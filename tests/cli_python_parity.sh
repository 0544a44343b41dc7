#!/usr/bin/env bash
# PyTorch parity of every model (issue 15): ibx trains each head on both
# backbones for a few steps (tiny widths, 128 Fashion-MNIST images), writes
# per-image logits and attention maps with `ibx eval error --save-outputs`
# (also under 2 MPI ranks: the same outputs), and the PyTorch modules of
# analysis/ibx_analysis, loaded strictly from the checkpoints with the
# inputs rebuilt in Python, must give the same logits and maps to 1e-4.
# Exit 77 (skipped) when Debian's python3-torch is not installed.
set -euo pipefail
ibx=$1
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
$py -c "import torch, pandas" 2>/dev/null || { echo "python3-torch/pandas missing: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
tiny=(data.train_limit=128 data.test_limit=64 train.batch_size=32 train.epochs=1
      train.log_every=2 model.K=8 model.Q=6 output.keep_last=1)
vgg=(model.backbone=vgg16 model.width=0.0625)
wrn=(model.backbone=wrn model.wrn_depth=10 model.wrn_widen=1)
declare -A models=(
  [vgg-plain]="${vgg[*]} model.head=plain"
  [vgg-plain-64]="${vgg[*]} model.head=plain data.image_size=64"
  [vgg-gap]="${vgg[*]} model.head=gap"
  [vgg-dvib-64]="${vgg[*]} model.head=dvib data.image_size=64"
  [vgg-att2]="${vgg[*]} model.head=att2"
  [vgg-att3]="${vgg[*]} model.head=att3 model.width=0.1"
  [vgg-pan]="${vgg[*]} model.head=pan"
  [vgg-aib]="${vgg[*]} model.head=aib model.width=0.1"
  [vgg-aib-l5]="${vgg[*]} model.head=aib model.attention_layer=5"
  [vgg-aib-qt]="${vgg[*]} model.head=aib-qt"
  [wrn-plain]="${wrn[*]} model.head=plain"
  [wrn-gap]="${wrn[*]} model.head=gap"
  [wrn-dvib]="${wrn[*]} model.head=dvib"
  [wrn-abn]="${wrn[*]} model.head=abn model.wrn_depth=16"
  [wrn-aib]="${wrn[*]} model.head=aib"
  [wrn-aib-l3]="${wrn[*]} model.head=aib model.attention_layer=3"
  [wrn-aib-qt]="${wrn[*]} model.head=aib-qt"
)
for name in "${!models[@]}"; do
  # shellcheck disable=SC2086
  "$ibx" train "${tiny[@]}" ${models[$name]} output.dir="$tmp/$name" --quiet
  "$ibx" eval error --ckpt "$tmp/$name" --limit 40 --batch 16 --save-outputs > /dev/null
done
# the per-image outputs do not depend on the number of ranks
cp "$tmp/vgg-att3/results/error.h5" "$tmp/att3-1rank.h5"
mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 \
  "$ibx" eval error --ckpt "$tmp/vgg-att3" --limit 40 --batch 16 --save-outputs > /dev/null

# full-size names and shapes: PyTorch's state dict equals `ibx model params`
for m in vgg16/plain vgg16/gap vgg16/dvib vgg16/att2 vgg16/att3 vgg16/pan vgg16/aib \
         vgg16/aib-qt wrn-16-4/plain wrn-16-4/gap wrn-16-4/dvib wrn-16-4/abn wrn-16-4/aib \
         wrn-16-4/aib-qt; do
  "$ibx" model params "$m" --width 0.5 --classes 7 > "$tmp/params_${m//\//_}.txt"
done
$py - "$root" "$tmp" <<'PY'
import glob, os, sys
sys.path.insert(0, sys.argv[1] + "/analysis")
from ibx_analysis.models import IbxModel
for path in sorted(glob.glob(sys.argv[2] + "/params_*.txt")):
    bb, head = os.path.basename(path)[7:-4].split("_", 1)
    kw = dict(backbone="vgg16", width=0.5) if bb == "vgg16" else \
        dict(backbone="wrn", wrn_depth=16, wrn_widen=4)
    m = IbxModel(head=head, in_channels=3, num_classes=7, **kw)
    want = {}
    for line in open(path):
        kind, name, shape = line.split()
        want[name] = tuple(int(d) for d in shape.split("x"))
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert got == want, (path, set(got) ^ set(want),
                         {k for k in got if k in want and got[k] != want[k]})
print("state dicts of the 14 full-size models equal ibx model params")
PY

$py - "$root" "$tmp" "${!models[@]}" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/analysis")
import h5py
import numpy as np
import torch
import ibx_analysis as ia

tmp, names = sys.argv[2], sys.argv[3:]
torch.set_num_threads(1)
a, b = (h5py.File(p, "r")["error/fashion-mnist-test"] for p in
        (tmp + "/att3-1rank.h5", tmp + "/vgg-att3/results/error.h5"))
for k in ("label", "prediction", "logits", "attention_0", "attention_1", "attention_2"):
    assert np.array_equal(a[k][...], b[k][...]), f"1 vs 2 ranks differ in {k}"

heads = set()
inputs = {}
for name in sorted(names):
    run = ia.load_run(f"{tmp}/{name}")
    ckpt = run.errors()["checkpoint"].iloc[0]   # the one ibx eval error read
    assert ckpt == run.checkpoint(), (ckpt, run.checkpoint())
    model = ia.load_ibx_checkpoint(ckpt)        # strict load_state_dict
    heads.add((model.backbone_name, model.head))
    frame, logits, maps = run.outputs()
    size = run.config["data"]["image_size"]
    if size not in inputs:
        inputs[size] = run.inputs(limit=40)
    x, y = inputs[size]
    assert np.array_equal(y.numpy(), frame["label"].values), f"{name}: labels differ"
    with torch.no_grad():
        lg, mp = model.forward_with_maps(x)
    lg = lg.numpy()
    scale = max(1.0, float(np.abs(logits).max()))
    dl = float(np.abs(lg - logits).max())
    assert dl <= 1e-4 * scale, f"{name}: logits differ by {dl} (scale {scale})"
    assert len(mp) == len(maps), f"{name}: {len(mp)} maps in PyTorch, {len(maps)} in ibx"
    dm = 0.0
    for t, m in zip(mp, maps):
        assert t.shape[2:] == m.shape[1:], f"{name}: map shape {t.shape} vs {m.shape}"
        dm = max(dm, float(np.abs(t[:, 0].numpy() - m).max()))
    assert dm <= 1e-4, f"{name}: attention maps differ by {dm}"
    top2 = np.sort(logits, 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3
    assert np.array_equal(lg.argmax(1)[clear], frame["prediction"].values[clear]), name
    # the state dict is exactly the checkpoint's tensors
    state, _ = ia.read_checkpoint(ckpt)
    assert set(model.state_dict()) == set(state), f"{name}: names differ"
    print(f"{name:14s} {model.backbone_name}/{model.head:7s} logits {dl:.1e} maps {dm:.1e} "
          f"({len(maps)} maps)")
# loading is strict, and a file that is no checkpoint is a clear error
bad = tmp + "/not_a_checkpoint.h5"
h5py.File(bad, "w").close()
try:
    ia.load_ibx_checkpoint(bad)
    raise AssertionError("a foreign file loaded")
except ValueError as e:
    assert bad in str(e) and "not an ibx checkpoint" in str(e), e
aib_state, _ = ia.read_checkpoint(ia.load_run(tmp + "/vgg-aib-qt").checkpoint())
del aib_state["quantiser.anchors"]
try:
    ia.load_run(tmp + "/vgg-aib-qt").model().load_state_dict(aib_state)
    raise AssertionError("a state dict without the anchors loaded")
except RuntimeError as e:
    assert "quantiser.anchors" in str(e), e
want = {("vgg16", h) for h in ("plain", "gap", "dvib", "att2", "att3", "pan", "aib", "aib-qt")}
want |= {("wrn", h) for h in ("plain", "gap", "dvib", "abn", "aib", "aib-qt")}
assert heads == want, sorted(want - heads)
print(f"PyTorch parity: {len(names)} models, every head on every backbone it supports")
PY
