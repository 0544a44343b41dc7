#!/usr/bin/env bash
# Every shipped config in jobs/ parses and validates against the schema.
set -euo pipefail
ibx=$1
root=$(cd "$(dirname "$0")/.." && pwd)
n=0
for f in "$root"/jobs/*.ini; do
  "$ibx" config show "$f" > /dev/null || { echo "FAILED: $f"; exit 1; }
  n=$((n + 1))
done
[ $n -ge 10 ] || { echo "only $n configs in jobs/"; exit 1; }
echo "$n passed, 0 failed"
