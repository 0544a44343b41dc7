#!/usr/bin/env bash
# A 2-rank `ibx train` whose rank 1 dies, hangs or fails mid-training must end
# with a non-zero status instead of waiting forever (docs/training.md):
#  kill:   SIGKILL rank 1 (sync BN on, so rank 0 blocks in a BN reduction):
#          mpirun notices the dead process and ends the job.
#  stop:   SIGSTOP rank 1: nothing dies, rank 0 blocks in a collective; its
#          watchdog (train.watchdog_s=5) records the state and exits, and
#          mpirun ends the rest.
#  inject: rank 1's step fails after backward started the gradient buckets
#          (IBX_TEST_FAIL_STEP), with and without sync BN: it records the
#          state and calls MPI_Abort, since rank 0 waits on buckets it will
#          never join.
# Each run is given 60 s (`timeout`); running into it (status 124) means the
# job hung and fails the test.
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi=(mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1)
args=(model.backbone=vgg16 model.head=plain model.width=0.125 data.train_limit=4096
      data.test_limit=200 train.batch_size=64 train.epochs=20 train.log_every=2 train.seed=5)

# pid of rank $2 of the run whose output.dir is $1 (Open MPI puts the rank in
# each process's environment)
rank_pid() {
  for pid in $(pgrep -f "output.dir=$1( |$)" || true); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$pid"
      return
    fi
  done
}

# starts a run in the background: $1 name, $2 an environment assignment for
# the ranks (NAME=VALUE), the rest extra config overrides; sets $pid
start() {
  local name=$1 env=$2
  shift 2
  timeout 60 "${mpi[@]}" -x "$env" "$ibx" train "${args[@]}" "$@" output.dir="$tmp/$name" \
    > "$tmp/$name.log" 2>&1 &
  pid=$!
}

# waits until the run logged step 4 (training is under way)
wait_training() {
  for _ in $(seq 600); do
    grep -q "step 4/" "$tmp/$1.log" 2>/dev/null && return
    sleep 0.1
  done
  echo "$1: training did not start"; cat "$tmp/$1.log"; exit 1
}

# waits for the run and checks it failed without hanging
expect_failure() {
  set +e; wait "$pid"; local st=$?; set -e
  [ $st -ne 124 ] || { echo "$1: the job hung (still running after 60 s)"; cat "$tmp/$1.log"; exit 1; }
  [ $st -ne 0 ] || { echo "$1: the job exited 0"; cat "$tmp/$1.log"; exit 1; }
  echo "$1: exit status $st, state: $(cat "$tmp/$1/state")"
}

start kill IBX_TEST_FAIL_STEP= train.sync_bn=true
wait_training kill
victim=$(rank_pid "$tmp/kill" 1)
[ -n "$victim" ] || { echo "kill: rank 1 not found"; exit 1; }
kill -KILL "$victim"
expect_failure kill

start stop IBX_TEST_FAIL_STEP= train.watchdog_s=5
wait_training stop
victim=$(rank_pid "$tmp/stop" 1)
[ -n "$victim" ] || { echo "stop: rank 1 not found"; exit 1; }
kill -STOP "$victim"
expect_failure stop
grep -q "^failed: rank [01]: no training progress for" "$tmp/stop/state" ||
  { echo "stop: state file: $(cat "$tmp/stop/state")"; exit 1; }
grep -q "no training progress" "$tmp/stop.log" || { echo "stop: no message"; cat "$tmp/stop.log"; exit 1; }

for sync in false true; do
  start "inject_$sync" IBX_TEST_FAIL_STEP=1:3 train.sync_bn=$sync
  expect_failure "inject_$sync"
  grep -q "^failed: rank 1: step 4: failure injected by IBX_TEST_FAIL_STEP.*(job aborted)$" \
    "$tmp/inject_$sync/state" || { echo "inject: state: $(cat "$tmp/inject_$sync/state")"; exit 1; }
  grep -q "ibx train: rank 1: step 4: failure injected.*aborting the job" "$tmp/inject_$sync.log" ||
    { echo "inject: message"; cat "$tmp/inject_$sync.log"; exit 1; }
done
echo "1 passed, 0 failed"
