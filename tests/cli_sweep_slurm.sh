#!/usr/bin/env bash
# ibx sweep submit against a real Slurm: a private one-node cluster (munged,
# slurmctld, slurmd from Debian's slurm-wlm on loopback, config and state in
# the build tree, torn down at the end; tests/support/slurm_cluster.sh).
#  1. A tiny sweep (4 train runs x 2 ranks via srun --mpi=pmix, an eval stage
#     per run after its own training (aftercorr), collect after all) is
#     submitted, waited for, and every result checked: stage markers, run
#     states, error files, collect's table equal to the files' numbers, PNG.
#  2. A longer run is preempted while it trains (scancel --signal=USR1
#     --batch): the trainer checkpoints and exits 3, the job script requeues
#     itself, the second start resumes from the checkpoint, and the metrics
#     hold every epoch exactly once.
# Skipped (exit 77) only when not root: the daemons need it.
set -euo pipefail
ibx=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the Slurm integration test starts munged/slurmctld/slurmd and needs root"
  exit 77
fi
for p in munged slurmctld slurmd sbatch srun squeue scontrol; do
  command -v $p > /dev/null || { echo "FAILED: $p missing (scripts/setup.sh installs slurm-wlm)"; exit 1; }
done
work=$(pwd)/sweep-slurm-test.$$
rm -rf "$work"
mkdir -p "$work"
cleanup() {
  scancel --user=root > /dev/null 2>&1 || true
  bash "$here/support/slurm_cluster.sh" stop "$work/cluster" || true
  [ -n "${IBX_KEEP_SLURM_TEST:-}" ] || rm -rf "$work" # keep it to read the daemons' logs
}
trap cleanup EXIT
export SLURM_CONF
SLURM_CONF=$(bash "$here/support/slurm_cluster.sh" start "$work/cluster" 8)
cd "$work"
fail() {
  echo "FAILED: $*"
  squeue || true
  tail -n 30 "$work"/results/*/logs/*.out 2> /dev/null || true
  exit 1
}
wait_idle() { # until squeue answers twice in a row with no job of ours (bounded)
  local empty=0 out
  for _ in $(seq "$1"); do
    if out=$(squeue -h 2> /dev/null) && [ -z "$out" ]; then
      empty=$((empty + 1))
      [ $empty -ge 2 ] && return 0
    else
      empty=0
    fi
    sleep 1
  done
  fail "jobs still queued after $1 s"
}
source "$here/support/sweep_test.sh"
write_tiny_sweep tiny.ini "$work/results" $'model.head = plain, gap\ntrain.seed = 0, 1' \
  $'tasks = 2\ntime = 00:10:00\nthrottle = 4' "" ""

# 1. the sweep
"$ibx" sweep submit tiny.ini | tee submit.out
grep -q "4 runs, 4 to submit" submit.out || fail "submit"
grep -q "submitted eval chunk 0: job [0-9]* (array), after aftercorr:[0-9]*" submit.out || fail "eval dependency"
grep -q "submitted collect chunk 0: job [0-9]* (sweep-wide), after afterok:[0-9]*" submit.out || fail "collect dependency"
sbatch_file=$(ls results/tiny/slurm/submit-1/train-0.sbatch)
grep -q -- "--array=0-3%4" "$sbatch_file" || fail "array line"
"$ibx" sweep status tiny.ini > status-during.out || true
wait_idle 300
"$ibx" sweep status tiny.ini | tee status.out || fail "sweep status not all done"
grep -q "train      4 done" status.out && grep -q "eval       4 done" status.out || fail "stages"
for d in results/tiny/*/; do
  [ -f "$d/run.ini" ] || continue
  [ "$(cat "$d/state")" = done ] || fail "$d state $(cat "$d/state")"
  grep -q "start job=" "$d/stages/train.events" || fail "$d events"
  grep -q "ibx train: 2 rank(s)" results/tiny/logs/train-*.out || fail "not 2 ranks"
done
[ "$(cat results/tiny/stages/collect)" = done ] || fail "collect stage"
[ -f results/tiny/tables/aib_table1.csv ] || fail "no table"
check_table_equals_error_files results/tiny 4 2 2 || fail "table differs from the error files"
"$ibx" sweep submit tiny.ini | grep -q "nothing to submit" || fail "resubmit of a finished sweep"

# 2. preemption: checkpoint, requeue, resume, nothing lost
cat > long.ini <<INI
[sweep]
name = long
base = $here/../jobs/fmnist_plain.ini
results = $work/results
$(sweep_test_set 1536 3 "train.log_every = 4")
[slurm]
tasks = 2
[stage train]
command = train {config}
resume = train --resume {run_dir}
outputs = metrics.h5
INI
"$ibx" sweep submit long.ini > submit-long.out || fail "submit long"
run=$(ls -d results/long/*/run.ini | head -1 | xargs dirname)
for _ in $(seq 300); do
  grep -q "epoch 1/3 done" results/long/logs/train-*.out 2> /dev/null && break
  sleep 0.5
done
grep -q "epoch 1/3 done" results/long/logs/train-*.out || fail "long run did not finish epoch 1"
job=$(squeue -h -o %i -n ibx-long-train | head -1)
[ -n "$job" ] || fail "long run finished before it could be preempted"
scancel --signal=USR1 --batch "$job"
for _ in $(seq 120); do
  grep -q preempted "$run/stages/train.events" 2> /dev/null && break
  sleep 0.5
done
grep -q preempted "$run/stages/train.events" || fail "no preemption recorded"
# the job script requeues the job; Slurm holds it back until its old job
# credential expired (cred_expire=10 in the test cluster's slurm.conf)
for _ in $(seq 120); do
  [ "$(squeue -h -j "$job" -o %T 2> /dev/null)" = PENDING ] && break
  sleep 0.5
done
[ "$(squeue -h -j "$job" -o %T 2> /dev/null)" = PENDING ] || fail "preempted job was not requeued"
wait_idle 300
cat "$run/stages/train.events"
[ "$(cat "$run/state")" = done ] || fail "long run state $(cat "$run/state")"
grep -q "resume job=$job restart=1" "$run/stages/train.events" || fail "second start did not resume"
grep -q "resumed from .*/$(basename "$run")/ckpt-" results/long/logs/train-*.out || fail "trainer did not resume from a checkpoint"
/usr/bin/python3 - "$run" <<'PY'
import sys, h5py, numpy as np
m = h5py.File(sys.argv[1] + "/metrics.h5", "r", swmr=True)
ep = list(m["epoch/epoch"][...])
assert ep == [1, 2, 3], ep
steps = m["step/step"][...]
assert len(steps) == len(set(steps)) and np.all(np.diff(steps) > 0), steps
print("preempted run: epochs %s, %d step rows, no duplicates" % (ep, len(steps)))
PY
echo "1 passed, 0 failed"
