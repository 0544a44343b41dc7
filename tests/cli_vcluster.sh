#!/usr/bin/env bash
# Multi-node ibx on a virtual Slurm cluster (tests/support/vcluster.sh): three
# nodes, each a network namespace with its own hostname and a veth on a private
# bridge (10.214.14.0/24, created and removed here), slurmctld + slurmdbd on a
# real MariaDB, one slurmd per node; Open MPI between nodes over TCP only.
#  1. Training across nodes: the same run (global batch 64, sync BN) as
#     sbatch --nodes=1 --ntasks-per-node=1, --nodes=2 --ntasks-per-node=1,
#     --nodes=1 --ntasks-per-node=2 and --nodes=2 --ntasks-per-node=2, each
#     `srun --mpi=pmix ibx train`. 2 nodes x 1 rank must equal 1 node x 2 ranks
#     bit for bit (the same sums, TCP instead of shared memory); 2 and 4 ranks
#     must match 1 rank to 1e-4 over the first steps, as tests/mpi_test_sync_bn.c
#     checks for one step; sacct must list the nodes each job ran on.
#  2. A sweep across the nodes: 4 runs spread over the nodes, one run's second
#     stage fails; `ibx sweep status -v` shows sacct's state, elapsed time, exit
#     code and node list per run; --retry-failed resubmits that run only.
#  3. Preemption and node failure: a 2-node training run is preempted
#     (scancel --signal=USR1 --batch: checkpoint, exit 3, requeue, resume),
#     then loses a node mid-epoch (link cut, its slurmd and rank SIGKILLed;
#     the resumed ranks are held with SIGSTOP from their first log line until
#     the node is dead, so that a fast machine cannot finish the run first):
#     the attempt ends within train.watchdog_s with a clear error, Slurm
#     requeues the job (NODE_FAIL), it resumes from the last checkpoint on the
#     surviving node and the third one; sacct -D shows REQUEUED, NODE_FAIL,
#     COMPLETED, `status -v` "requeued 2x, after NODE_FAIL", and the metrics
#     hold every epoch exactly once.
# Skipped (exit 77) when not root or when this kernel/container cannot create
# network namespaces (the script says which).
set -euo pipefail
ibx=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
vcluster=$here/support/vcluster.sh
. "$here/support/vcluster_require.sh"
work=$(pwd)/vcluster-test.$$
rm -rf "$work"
mkdir -p "$work"
cl=$work/c
ranks=
cleanup() {
  [ -z "$ranks" ] || pkill -CONT -f "$ranks" || true # held ranks must be able to end
  bash "$vcluster" down "$cl" || true
  [ -n "${IBX_KEEP_VCLUSTER_TEST:-}" ] || rm -rf "$work" # keep it to read the daemons' logs
}
trap cleanup EXIT
bash "$vcluster" up "$cl" 3 2 > /dev/null
vc() { bash "$vcluster" exec "$cl" "$@"; }
cd "$work"
fail() {
  echo "FAILED: $*"
  vc squeue || true
  vc sacct -X -o JobID,JobName,State,Elapsed,ExitCode,NodeList || true
  tail -n 30 "$work"/*.out "$work"/results/*/logs/*.out 2> /dev/null || true
  exit 1
}
wait_idle() { # until our slurmctld has no job left (bounded)
  for _ in $(seq "$1"); do
    [ -z "$(vc squeue -h 2> /dev/null || echo busy)" ] && return 0
    sleep 1
  done
  fail "jobs still queued after $1 s"
}
# Open MPI: TCP between nodes, shared memory within one, only on the cluster's
# network; ob1 so that no other transport (UCX) picks itself
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self,vader OMPI_MCA_btl_tcp_if_include=10.214.14.0/24
export OMP_NUM_THREADS=1

# 1. the same training run on 1 and 2 nodes
cat > train.sbatch << EOF
#!/bin/bash
srun --mpi=pmix "$ibx" train "$here/../jobs/fmnist_plain.ini" model.width=0.125 \\
  data.train_limit=256 data.test_limit=100 train.epochs=1 train.warmup_epochs=0 \\
  train.batch_size=64 train.log_every=1 train.sync_bn=true output.dir="$work/\$SLURM_JOB_NAME"
EOF
for shape in 1x1 2x1 1x2 2x2; do
  vc sbatch -J "n$shape" --nodes="${shape%x*}" --ntasks-per-node="${shape#*x}" -o "%x.out" \
    train.sbatch > /dev/null
done
wait_idle 120
# slurmctld forgets a job before the accounting records its end: wait
# (bounded) until sacct no longer shows any of them as active
for _ in $(seq 30); do
  vc sacct -X -n -P -o JobName,State,NodeList,ExitCode > train-sacct.txt
  grep -qE '\|(PENDING|RUNNING|COMPLETING|CONFIGURING)\|' train-sacct.txt || break
  sleep 1
done
cat train-sacct.txt
for shape in 1x1 2x1 1x2 2x2; do
  line=$(grep "^n$shape|" train-sacct.txt) || fail "sacct does not list n$shape"
  [ "$(cut -d'|' -f2 <<< "$line")" = COMPLETED ] || fail "n$shape: $line"
  nodes=$(cut -d'|' -f3 <<< "$line")
  case ${shape%x*} in
    1) [[ $nodes =~ ^vn[1-3]$ ]] || fail "n$shape ran on '$nodes'" ;;
    2) [[ $nodes =~ ^vn\[[1-3][,-][1-3]\]$ ]] || fail "n$shape ran on '$nodes', not two nodes" ;;
  esac
  ranks=$((${shape%x*} * ${shape#*x}))
  grep -q "ibx train: $ranks rank(s)" "n$shape.out" || fail "n$shape: not $ranks ranks"
done
/usr/bin/python3 - << 'PY' || fail "multi-node training does not match"
import h5py, numpy as np
def run(name):
    with h5py.File(name + "/metrics.h5", "r") as m:
        loss = m["step/loss"][...]
    ck = sorted(__import__("glob").glob(name + "/ckpt-*.h5"))[-1]
    with h5py.File(ck, "r") as c:
        params = np.concatenate([c["model"][k][...].ravel() for k in sorted(c["model"])])
    return loss, params
l11, p11 = run("n1x1"); l21, p21 = run("n2x1"); l12, p12 = run("n1x2"); l22, p22 = run("n2x2")
assert len(l11) == 4, l11
assert np.array_equal(l21, l12) and np.array_equal(p21, p12), \
    "2 nodes x 1 rank differs from 1 node x 2 ranks"
for name, l, p in (("2 ranks", l21, p21), ("4 ranks", l22, p22)):
    rel = np.abs(l - l11) / np.abs(l11)
    dp = np.linalg.norm(p - p11) / np.linalg.norm(p11)
    print("%s vs 1 rank: loss rel diff per step %s, params rel L2 %.2e" %
          (name, np.array2string(rel, precision=2), dp))
    assert rel.max() < 1e-4, (name, rel)
    assert dp < 1e-3, (name, dp)
print("2 nodes x 1 rank == 1 node x 2 ranks bit for bit")
PY

# 2. a sweep spread over the nodes, sacct status, --retry-failed
cat > flaky.sh << EOF
#!/bin/bash
# fails for the seed-2 run while $work/fail-once exists
if grep -q '^seed = 2$' "\$1/run.ini" && [ -e "$work/fail-once" ]; then
  echo "flaky: failing on purpose" >&2; exit 1
fi
echo ok > "\$1/checked"
EOF
touch fail-once
cat > spread.ini << INI
[sweep]
name = spread
base = $here/../jobs/fmnist_plain.ini
results = $work/results
[set]
data.train_limit = 128
data.test_limit = 100
train.epochs = 1
train.warmup_epochs = 0
train.batch_size = 64
model.width = 0.125
[grid]
train.seed = 0, 1, 2, 3
[slurm]
tasks = 1
cpus_per_task = 1
time = 00:10:00
[stage train]
command = train {config}
resume = train --resume {run_dir}
outputs = metrics.h5
[stage check]
after = train
exec = bash $work/flaky.sh {run_dir}
outputs = checked
INI
vc "$ibx" sweep submit spread.ini > submit1.out || fail "submit spread"
grep -q "4 runs, 4 to submit" submit1.out || fail "submit: $(cat submit1.out)"
wait_idle 120
# slurmdbd records a job asynchronously: right after the queue empties,
# sacct may not know the last jobs yet (seen on a quiet machine), so ask
# again until every run's accounting line is there (at most 30 s)
failed_line='check +failed +failed: exit 1 +\[slurm [0-9]+_[0-9] FAILED 00:00:[0-9]{2} exit 1:0 on vn[1-3]\]'
train_line='train +done +\[slurm [0-9]+_[0-3] COMPLETED 00:[0-9:]{5} exit 0:0 on vn[1-3]\]'
for _ in $(seq 60); do
  st=0
  vc "$ibx" sweep status -v spread.ini > status1.out || st=$?
  grep -qE "$failed_line" status1.out && [ "$(grep -cE "$train_line" status1.out)" = 4 ] && break
  sleep 0.5
done
cat status1.out
[ $st = 1 ] || fail "status with a failed run exited $st"
grep -q "(Slurm states from sacct/squeue)" status1.out || fail "status did not use sacct"
grep -q "train      4 done" status1.out || fail "train stages"
grep -q "check      3 done 1 failed" status1.out || fail "check stages"
grep -qE "$failed_line" status1.out || fail "the failed run's sacct line"
grep -cE "$train_line" status1.out | grep -qx 4 || fail "sacct lines of the training runs"
nodes_used=$(grep -oE "train +done .* on vn[1-3]" status1.out | grep -oE "vn[1-3]$" | sort -u | wc -l)
[ "$nodes_used" -ge 2 ] || fail "the runs did not spread over the nodes ($nodes_used node)"
rm fail-once
vc "$ibx" sweep submit spread.ini > submit2.out || fail "plain resubmit"
grep -q "4 runs, 0 to submit" submit2.out || fail "a plain submit retried a failed run: $(cat submit2.out)"
vc "$ibx" sweep submit spread.ini --retry-failed > submit3.out || fail "retry"
grep -q "4 runs, 1 to submit (failed ones included)" submit3.out || fail "retry: $(cat submit3.out)"
[ "$(wc -l < results/spread/slurm/submit-2/runs)" = 1 ] || fail "retry submitted more than the failed run"
grep -q "^seed = 2$" "$(cat results/spread/slurm/submit-2/runs)/run.ini" || fail "retried the wrong run"
wait_idle 120
vc "$ibx" sweep status spread.ini > status2.out || fail "status after the retry: $(cat status2.out)"
grep -q "check      4 done" status2.out || fail "retried run not done"

# 3. a 2-node run is preempted (checkpoint, requeue, resume), then loses a node
#    (NODE_FAIL, requeue, resume from the last checkpoint)
cat > nf.ini << INI
[sweep]
name = nf
base = $here/../jobs/fmnist_plain.ini
results = $work/results
[set]
data.train_limit = 1536
data.test_limit = 100
train.epochs = 6
train.warmup_epochs = 0
train.batch_size = 64
train.log_every = 4
train.sync_bn = true
train.watchdog_s = 20
model.width = 0.125
[slurm]
nodes = 2
tasks = 2
[stage train]
command = train {config}
resume = train --resume {run_dir}
outputs = metrics.h5
INI
vc "$ibx" sweep submit nf.ini > submit-nf.out || fail "submit nf"
run=$(ls -d results/nf/*/run.ini | head -1 | xargs dirname)
wait_log() { # until the run's log says $1 (bounded: 120 s)
  for _ in $(seq 1200); do
    grep -q "$1" results/nf/logs/train-*.out 2> /dev/null && return 0
    sleep 0.1
  done
  fail "nf: no '$1' in the log"
}
wait_log "epoch 1/6 done"
job=$(vc squeue -h -n ibx-nf-train -o %i | head -1)
[ -n "$job" ] || fail "nf finished before it could be preempted"
vc scancel --signal=USR1 --batch "$job"
for _ in $(seq 120); do
  [ "$(cat "$run/stages/train" 2> /dev/null)" = preempted ] && break
  sleep 0.5
done
[ "$(cat "$run/stages/train")" = preempted ] || fail "nf was not preempted: $(cat "$run/stages/train")"
vc "$ibx" sweep status -v nf.ini > status-preempted.out || true
cat status-preempted.out
grep -qE "train +preempted +\[slurm $job (PENDING|REQUEUED|RUNNING|CONFIGURING)[^]]*; requeued 1x, after REQUEUED\]" \
  status-preempted.out || fail "status while preempted"
# the second attempt is up and running on its nodes (waiting for "epoch 2
# done" matched the first attempt's line when its preemption landed after
# epoch 2, on a quiet machine). Its ranks are stopped (SIGSTOP; the nodes
# share this pid namespace) as soon as they say they resumed: the rest of
# the run took under a second here, and once the second attempt had
# finished before the node died (the third then had nothing to resume).
wait_log "resumed from"
ranks="^$ibx train --resume $(cat results/nf/slurm/submit-1/runs)\$" # as the job script runs them
for _ in $(seq 50); do
  [ "$(pgrep -fc "$ranks")" = 2 ] && break
  sleep 0.1
done
pkill -STOP -f "$ranks" || fail "no rank of the second attempt to hold"
[ "$(pgrep -fc "$ranks")" = 2 ] || fail "not 2 ranks in the second attempt: $(pgrep -fa "$ranks")"
grep -q "epoch 6/6 done" results/nf/logs/train-*.out && fail "the second attempt finished before it was held"
for _ in $(seq 120); do
  [ "$(vc squeue -h -n ibx-nf-train -o %T | head -1)" = RUNNING ] && break
  sleep 0.5
done
read -r job nodes <<< "$(vc squeue -h -n ibx-nf-train -o '%i %N' | head -1)"
[ -n "$job" ] || fail "nf finished before a node could fail"
# the node that is not the batch host: vn[1-2] -> 2, vn[1,3] -> 3
victim=$(grep -oE '[0-9]\]$' <<< "$nodes" | tr -d ']' || true)
[ -n "$victim" ] || fail "nf runs on '$nodes'"
killed_at=$(date +%s)
bash "$vcluster" kill-node "$cl" "$victim"
pkill -CONT -f "$ranks" || true # the surviving rank goes on, into a collective with a dead peer
# the first attempt ends (NODE_FAIL) and the job goes back to the queue
for _ in $(seq 120); do
  [ "$(vc squeue -h -j "$job" -o %T 2> /dev/null)" = PENDING ] && break
  sleep 0.5
done
ended_after=$(($(date +%s) - killed_at))
[ "$(vc squeue -h -j "$job" -o %T)" = PENDING ] || fail "job $job was not requeued after the node failure"
echo "node vn$victim crashed: the attempt ended and the job was requeued after ${ended_after} s (watchdog 20 s)"
[ "$ended_after" -le 30 ] || fail "the attempt took ${ended_after} s to end after the node failure"
wait_idle 180
cat "$run/stages/train.events"
grep -qE "Node failure on vn$victim|no training progress for" results/nf/logs/train-*.out ||
  fail "no clear error in the log"
[ "$(cat "$run/state")" = done ] || fail "nf run state $(cat "$run/state")"
grep -q "terminated job=$job: SIGTERM from Slurm" "$run/stages/train.events" ||
  fail "the end of the attempt on the failed node is not recorded"
grep -q "preempted job=$job: checkpoint written, requeueing" "$run/stages/train.events" ||
  fail "the preemption is not recorded"
grep -q "resume job=$job restart=1" "$run/stages/train.events" || fail "second start did not resume"
grep -q "resume job=$job restart=2" "$run/stages/train.events" || fail "third start did not resume"
[ "$(grep -c "resumed from .*/$(basename "$run")/ckpt-" results/nf/logs/train-*.out)" = 2 ] ||
  fail "not two resumes from a checkpoint"
vc sacct -n -P -X -D -o JobID,State,NodeList -j "${job%_*}" > nf-sacct.txt
cat nf-sacct.txt
hosts() { vc scontrol show hostnames "$1" | tr '\n' ' '; }
[ "$(wc -l < nf-sacct.txt)" = 3 ] || fail "sacct: not 3 attempts"
[ "$(sed -n 1p nf-sacct.txt | cut -d'|' -f2)" = REQUEUED ] || fail "sacct: the preempted attempt"
first=$(sed -n 2p nf-sacct.txt) last=$(tail -1 nf-sacct.txt)
[ "$(cut -d'|' -f2 <<< "$first")" = NODE_FAIL ] || fail "the second attempt: $first"
[[ " $(hosts "$(cut -d'|' -f3 <<< "$first")")" == *" vn$victim "* ]] || fail "NODE_FAIL not on vn$victim"
[ "$(cut -d'|' -f2 <<< "$last")" = COMPLETED ] || fail "the third attempt: $last"
[[ " $(hosts "$(cut -d'|' -f3 <<< "$last")")" != *" vn$victim "* ]] || fail "ran on the dead node again"
nf_line="train +done +\[slurm $job COMPLETED .* on vn\[[0-9,-]+\]; requeued 2x, after NODE_FAIL\]"
for _ in $(seq 60); do # until slurmdbd has recorded the last attempt (see status1 above)
  vc "$ibx" sweep status -v nf.ini > status-nf.out || fail "nf status: $(cat status-nf.out)"
  grep -qE "$nf_line" status-nf.out && break
  sleep 0.5
done
grep -qE "$nf_line" status-nf.out || fail "status does not show the requeue: $(cat status-nf.out)"
/usr/bin/python3 - "$run" << 'PY' || fail "metrics after the node failure"
import sys, h5py, numpy as np
m = h5py.File(sys.argv[1] + "/metrics.h5", "r")
ep = list(m["epoch/epoch"][...])
assert ep == [1, 2, 3, 4, 5, 6], ep
steps = m["step/step"][...]
assert len(steps) == len(set(steps)) and np.all(np.diff(steps) > 0), steps
print("node failure: epochs %s, %d step rows, no duplicates" % (ep, len(steps)))
PY
echo "1 passed, 0 failed"
