#!/usr/bin/env bash
# The layers of docs/architecture.md, checked on the #include lines: code in
# src/<layer>/ and the headers of a layer include only headers of lower
# layers or of their own (data, models and io are side by side and do not
# include each other).
#   layering.sh REPO_ROOT
set -euo pipefail
root=$1
declare -A layer_of=(
  [error]=core [memory]=core [tensor]=core [params]=core [rng]=core [layers]=core [optim]=core
  [init]=core [precision]=core [transformer_layers]=core
  [data]=data [sampler]=data [augment]=data [text]=data
  [sequential]=models [vgg]=models [model]=models [model_testing]=models [quantize]=models [transformer]=models
  [h5io]=io [checkpoint]=io [metrics]=io [version]=io
  [config]=config [run_config]=config
  [dist]=train [trainer]=train [train_step]=train
  [eval]=eval [interpret]=eval [png]=eval [attribution]=eval [attribution_eval]=eval
  [attrib_metrics]=eval [iba]=eval [text_baseline]=eval [text_degradation]=eval [text_html]=eval [iba_text]=eval [text_attribution]=eval
  [sweep]=sweep [collect]=sweep [report]=sweep)
declare -A level=([core]=0 [data]=1 [models]=1 [io]=1 [config]=2 [train]=3 [eval]=4 [sweep]=5
  [cli]=6)
bad=0
allowed() { # may code of layer $1 include a header of layer $2?
  [ "$1" = "$2" ] || [ "${level[$2]}" -lt "${level[$1]}" ]
}
check() { # file, its layer
  local f=$1 mine=$2 h
  for h in $(grep -ho '#include "ibx/[a-z_0-9]*\.h"' "$f" | sed 's/.*ibx\///; s/\.h"//'); do
    local theirs=${layer_of[$h]:-}
    if [ -z "$theirs" ]; then
      echo "FAILED: $f includes ibx/$h.h, which no layer owns (add it to tests/support/layering.sh)"
      bad=1
    elif ! allowed "$mine" "$theirs"; then
      echo "FAILED: $f ($mine) includes ibx/$h.h ($theirs, a layer above or beside it)"
      bad=1
    fi
  done
}
for d in core data models io config train eval sweep cli; do
  for f in "$root"/src/$d/*.[ch]; do
    check "$f" "$d"
  done
done
for f in "$root"/include/ibx/*.h; do
  m=$(basename "$f" .h)
  [ -n "${layer_of[$m]:-}" ] || { echo "FAILED: include/ibx/$m.h belongs to no layer"; bad=1; continue; }
  check "$f" "${layer_of[$m]}"
done
[ $bad -eq 0 ] && echo "1 passed, 0 failed: includes follow the layers"
exit $bad
