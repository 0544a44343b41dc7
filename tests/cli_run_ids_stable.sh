#!/usr/bin/env bash
# Run ids must not change when ibx gains config keys: a sweep's results live
# under results/<sweep>/<run id>/, so a changed id orphans every finished run
# (a rerun would train them all again). The ids below were computed by ibx
# at commit 4ffc1b0 (before the reliability, architecture, text and speed
# work added keys); keys added since are left out of the id while at their
# default (ibx_cfg_key.id_since, docs/sweeps.md), so they must still come out.
set -euo pipefail
ibx=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cat > base.ini <<'INI'
[data]
dataset = fashion-mnist
[model]
backbone = vgg16
width = 0.25
[train]
epochs = 2
batch_size = 64
INI
cat > ids.ini <<INI
[sweep]
name = ids
base = base.ini
results = $tmp/res
[grid]
model.head = plain, aib, aib-qt
model.beta = 0.001, 0.1
[set]
train.epochs = 3
[stage train]
command = train {config}
INI
cat > want.txt <<'IDS'
ebcb63edcab8ebcf model.head=plain model.beta=0.001
b5576dfe5f92cd67 model.head=plain model.beta=0.1
da7bb38b704e0d97 model.head=aib model.beta=0.001
6ec8d8bdb9c38a8f model.head=aib model.beta=0.1
daed7138b80cbddf model.head=aib-qt model.beta=0.001
4ebe6d23a4dfff77 model.head=aib-qt model.beta=0.1
IDS
"$ibx" sweep plan ids.ini | awk '/  to run  / {print $1, $4, $5}' > got.txt
diff want.txt got.txt || { echo "FAILED: run ids changed (left: before, right: now)"; exit 1; }
echo "1 passed, 0 failed"
