#!/usr/bin/env bash
# README command (b): set up (with the --dev packages: the PyTorch parity and
# figure tests of analysis/ need python3-torch, -pandas, -matplotlib), build
# and run every test. .ci/run calls this.
#   bash scripts/test.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
echo "== setup: Debian packages (scripts/setup.sh) =="
"$root/scripts/setup.sh" --dev
echo "== building ibx and the tests in $build ($(nproc) jobs) =="
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
cd "$build"
echo "== running $(ctest -N | sed -n 's/^Total Tests: //p') tests (ctest) =="
ctest --output-on-failure -j "$(nproc)"
