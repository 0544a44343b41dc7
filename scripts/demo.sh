#!/usr/bin/env bash
# README command (a): set up, build, and run the main job on the embedded
# default dataset (Fashion-MNIST from Debian's dataset-fashion-mnist): the
# sweep jobs/sweeps/fmnist_demo.ini (quarter-width VGG-16-BN, plain vs aib
# with three beta vs aib-qt with two Q, 2 MPI ranks each), their evaluation
# (error, interpretability score, attribution with heatmaps), then
# `ibx collect`, which prints the tables and names the plots, and `ibx report`, which
# writes results/fmnist_demo/report.html. Runs through Slurm when a
# cluster answers (sinfo), else on this machine (ibx sweep run --local).
# Then a small text run (jobs/sweeps/text_demo.ini: the transformer on the
# embedded fortunes default, token attribution, the HTML page of token
# heatmaps, the text-IBA table). Finished runs are kept in results/ and not
# redone.
#   bash scripts/demo.sh [--local]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
echo "== setup: Debian packages (scripts/setup.sh) =="
"$root/scripts/setup.sh"
echo "== building ibx in $build =="
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j "$(nproc)" --target ibx_cli > /dev/null
cd "$root"
ibx=$build/ibx
sweep=jobs/sweeps/fmnist_demo.ini
"$ibx" sweep plan "$sweep"
if [ "${1:-}" != --local ] && command -v sbatch > /dev/null && sinfo -h > /dev/null 2>&1; then
  echo "== Slurm answers: submitting (ibx sweep submit) =="
  "$ibx" sweep submit "$sweep"
  while :; do # progress: the status table every 30 s until nothing is left to run
    sleep 30
    set +e
    "$ibx" sweep status "$sweep" | tail -n 4
    st=${PIPESTATUS[0]}
    set -e
    [ "$st" -ne 1 ] && break
    [ -z "$(squeue -h -n ibx-fmnist_demo-train,ibx-fmnist_demo-collect 2> /dev/null)" ] && break
  done
else
  echo "== running locally (ibx sweep run --local), one run of 2 ranks at a time =="
  OMP_NUM_THREADS=1 "$ibx" sweep run "$sweep" --local -j 1 || true
fi
# The text part: the transformer on the embedded fortunes default (issue 12).
text_sweep=jobs/sweeps/text_demo.ini
"$ibx" sweep plan "$text_sweep"
if [ "${1:-}" != --local ] && command -v sbatch > /dev/null && sinfo -h > /dev/null 2>&1; then
  "$ibx" sweep submit "$text_sweep"
  while :; do
    sleep 30
    set +e
    "$ibx" sweep status "$text_sweep" | tail -n 4
    st=${PIPESTATUS[0]}
    set -e
    [ "$st" -ne 1 ] && break
    [ -z "$(squeue -h -n ibx-text_demo-train,ibx-text_demo-collect 2> /dev/null)" ] && break
  done
else
  OMP_NUM_THREADS=1 "$ibx" sweep run "$text_sweep" --local -j 1 || true
fi
echo "== results =="
"$ibx" sweep status "$sweep" || true
"$ibx" collect results/fmnist_demo || true
"$ibx" report results/fmnist_demo || true
echo
echo "report (open in a browser; one self-contained file): results/fmnist_demo/report.html"
echo "tables: results/fmnist_demo/tables/*.md, *.csv, *.tex; every number with its run id: values.csv"
echo "heatmaps (saliency, integrated gradients, Grad-CAM, IBA beta=10/k for test image 0): results/fmnist_demo/*/heatmaps.png"
echo "attention maps (heads with one; test images 0-3, original and modified): results/fmnist_demo/*/attention.png"
echo "interpretability and attribution results per run: results/fmnist_demo/*/results/{error,interpret,attribution}.h5"
echo
echo "== text (transformer on fortunes) =="
"$ibx" sweep status "$text_sweep" || true
"$ibx" collect results/text_demo || true
echo "token heatmaps: results/text_demo/*/results/attribution_text.html (open in a browser);"
echo "degradation curves: results/text_demo/*/results/degradation_text.png"
