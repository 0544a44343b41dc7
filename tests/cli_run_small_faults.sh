#!/usr/bin/env bash
# Issue 13, defect 6, through the command line:
#  - a directory given as the config file is an error (exit 2), not a run
#    with every default;
#  - after kill -9 of a 2-rank run, plain h5py.File(metrics.h5, "r") reads
#    the metrics (no SWMR flag left set), with the epochs done so far;
#  - NAME.tmp.<pid> files of killed writers are removed when the run resumes
#    (a live writer's are kept);
#  - ibx data convert into a missing directory creates it.
set -euo pipefail
ibx=$1
source "$(dirname "$0")/support/faults.sh"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"

mkdir confdir
set +e
out=$(timeout 120 "$ibx" train confdir model.width=0.0625 data.train_limit=64 data.test_limit=10 \
        train.batch_size=32 train.epochs=1 output.dir=never --quiet 2>&1)
st=$?
set -e
[ $st -eq 2 ] || fail "a directory as config file: exit $st ($out)"
echo "$out" | grep -q "confdir: not a config file (a directory)" || fail "message: $out"
[ ! -e never ] || fail "a run was started"

"${mpi[@]}" "$ibx" train "${tiny[@]}" train.epochs=30 output.dir=run > a.log 2>&1 &
launcher=$!
pids+=($launcher)
wait_for a.log "epoch 2/30 done"
kill -9 $launcher $(pgrep -P $launcher)
wait $launcher 2> /dev/null || true
/usr/bin/python3 - run/metrics.h5 <<'PY' || fail "metrics.h5 after kill -9"
import sys
import h5py
with h5py.File(sys.argv[1], "r") as m:
    epochs = list(m["epoch/epoch"][...])
    assert epochs[:2] == [1, 2], epochs
    assert len(m["step/step"]) >= 8, len(m["step/step"])
print("metrics.h5 readable after kill -9: epochs", epochs)
PY

sleep 30 &
live=$!
pids+=($live)
touch run/ckpt-000000999.h5.tmp.99999999 run/metrics.h5.tmp.99999998 run/state.tmp.$live
"${mpi[@]}" "$ibx" train --resume run > b.log 2>&1 &
wait_for b.log "resumed from"
kill -USR1 $!
st=0; wait $! || st=$?
[ $st -eq 3 ] || { cat b.log; fail "resume exited $st"; }
[ ! -e run/ckpt-000000999.h5.tmp.99999999 ] && [ ! -e run/metrics.h5.tmp.99999998 ] ||
  fail "stale temporary files left: $(ls run)"
[ -e run/state.tmp.$live ] || fail "a live writer's temporary file was removed"

"$ibx" data convert --format fashion-mnist default new/sub/fm-test.h5 --split test > conv.out 2>&1 ||
  { cat conv.out; fail "data convert into a missing directory"; }
"$ibx" data info --format h5 new/sub/fm-test.h5 > /dev/null || fail "converted file unreadable"
echo "1 passed, 0 failed"
