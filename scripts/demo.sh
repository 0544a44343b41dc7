#!/usr/bin/env bash
# README command (a): set up, build, and run the main job on the embedded
# default dataset (Fashion-MNIST from Debian's dataset-fashion-mnist):
# quarter-width VGG-16-BN with the quantised attentive information bottleneck
# (aib-qt), trained data-parallel on 2 MPI ranks, with progress, checkpoints
# and metrics in results/demo/.
#   bash scripts/demo.sh [section.key=value ...]    e.g. train.epochs=5
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target ibx_cli >/dev/null
cd "$root"
exec mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 \
  "$build/ibx" train jobs/fmnist_aib_qt.ini train.epochs=2 output.dir=results/demo "$@"
