#!/usr/bin/env bash
# README command (a): set up, build, and run the main job on the embedded
# default dataset (Fashion-MNIST from Debian's dataset-fashion-mnist).
#   bash scripts/demo.sh [extra 'ibx demo' options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target ibx_cli >/dev/null
exec "$build/ibx" demo "$@"
