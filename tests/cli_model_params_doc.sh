#!/usr/bin/env bash
# docs/model-parameters.md is what scripts/model_params_doc.sh makes from
# `ibx model params` now (the parameter list cannot drift from the code), and
# `ibx model params` prints names with shapes, params before buffers.
set -euo pipefail
ibx=$1
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$ibx" model params vgg16/aib-qt --width 0.25 --K 16 --Q 5 > "$tmp/p.txt"
grep -qx "param quantiser.anchors 5" "$tmp/p.txt" || { cat "$tmp/p.txt"; echo "FAIL: anchors"; exit 1; }
grep -qx "param encoder.2.weight 32x128" "$tmp/p.txt" || { echo "FAIL: encoder shape"; exit 1; }
grep -qx "buffer features.1.running_var 16" "$tmp/p.txt" || { echo "FAIL: buffer"; exit 1; }
[ "$(grep -c num_batches_tracked "$tmp/p.txt")" -eq 0 ]
# parameters first, then buffers
awk '$1 == "buffer" { b = 1 } $1 == "param" && b { exit 1 }' "$tmp/p.txt" || { echo "FAIL: order"; exit 1; }
bash "$root/scripts/model_params_doc.sh" "$ibx" "$tmp/doc.md" > /dev/null
diff -u "$root/docs/model-parameters.md" "$tmp/doc.md" ||
  { echo "FAIL: docs/model-parameters.md is out of date: run scripts/model_params_doc.sh build/ibx"; exit 1; }
echo "docs/model-parameters.md is current"
