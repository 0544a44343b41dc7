# Shared by the reliability tests (tests/cli_run_*.sh, cli_ckpt_integrity.sh,
# cli_fault_injection.sh, ...): tiny 2-rank trainings on real Fashion-MNIST
# and helpers to interrupt and compare them. Source after setting $ibx.
ibx=$(cd "$(dirname "$ibx")" && pwd)/$(basename "$ibx")
mpi=(mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# 32 steps per epoch (about a second: long enough to signal a run after an
# epoch and catch it in the next), sixteenth-width VGG-16
tiny=("$here/../jobs/fmnist_plain.ini" model.width=0.0625 data.train_limit=1024
      data.test_limit=100 train.batch_size=32 train.warmup_epochs=0 train.log_every=8
      train.seed=5)
export OMP_NUM_THREADS=1

fail() { echo "FAILED: $*"; exit 1; }

# wait_for FILE PATTERN [TENTHS]: until FILE contains PATTERN (default 60 s)
wait_for() {
  for _ in $(seq "${3:-600}"); do grep -q "$2" "$1" 2> /dev/null && return 0; sleep 0.1; done
  fail "timed out waiting for '$2' in $1"
}

# preempted_run DIR EPOCHS AFTER [ARGS...]: a 2-rank run of EPOCHS epochs
# stopped by SIGUSR1 once epoch AFTER is done (state preempted, exit 3)
preempted_run() {
  local dir=$1 epochs=$2 after=$3
  shift 3
  "${mpi[@]}" "$ibx" train "${tiny[@]}" train.epochs="$epochs" output.dir="$dir" "$@" \
    > "$dir.log" 2>&1 &
  local pid=$!
  wait_for "$dir.log" "epoch $after/$epochs done"
  kill -USR1 $pid
  local st=0
  wait $pid || st=$?
  [ $st -eq 3 ] || { cat "$dir.log"; fail "preempted run $dir exited $st, expected 3"; }
  [ "$(cat "$dir/state")" = preempted ] || fail "$dir: state $(cat "$dir/state")"
}

# same_tensors A.h5 B.h5: every dataset bit-identical, same epoch and step
same_tensors() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
import h5py, numpy as np
fa, fb = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
fa.visit(lambda n: names.append(n) if isinstance(fa[n], h5py.Dataset) else None)
other = []
fb.visit(lambda n: other.append(n) if isinstance(fb[n], h5py.Dataset) else None)
assert sorted(names) == sorted(other), "different tensors"
diff = [n for n in names if not np.array_equal(fa[n][...], fb[n][...])]
assert not diff, "%s and %s differ in %d tensors, e.g. %s" % (sys.argv[1], sys.argv[2], len(diff), diff[:3])
for k in ("epoch", "step", "best_error"):
    assert fa.attrs[k] == fb.attrs[k], (k, fa.attrs[k], fb.attrs[k])
PY
}

newest_ckpt() { ls "$1"/ckpt-*.h5 | tail -1; }
