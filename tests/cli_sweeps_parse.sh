#!/usr/bin/env bash
# Every shipped sweep in jobs/sweeps/ parses, validates and expands.
set -euo pipefail
ibx=$1
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for f in "$root"/jobs/sweeps/*.ini; do
  out=$("$ibx" sweep plan "$f" --results "$tmp") || { echo "FAILED: $f"; exit 1; }
  echo "$out" | tail -n 1 | grep -q "runs: 0 done" || { echo "FAILED: $f: $out"; exit 1; }
  n=$((n + 1))
done
[ $n -ge 13 ] || { echo "only $n sweeps in jobs/sweeps/"; exit 1; }
echo "$n passed, 0 failed"
