#!/usr/bin/env bash
# Issue 13, defect 3 and the sweep half of the fault-injection proof: a
# 3-run `ibx sweep run --local` (2 MPI ranks per training, then an eval
# stage) interrupted three ways, each time run again:
#  1. Ctrl-C (SIGINT to the runner's process group, as a terminal sends):
#     the training checkpoints, its stage is "preempted" (not "failed: exit
#     1"), the runner exits 1 saying so;
#  2. SIGTERM to the training's mpiexec (which then exits 1): the run's own
#     state file says preempted, and so does the stage; the runner goes on
#     with the next run; then kill -9 of the runner: its training is told to
#     checkpoint (never left running unsupervised);
#  3. a plain rerun waits for that training to let go of its run, resumes
#     every preempted run, evaluates all, exits 0.
# The three final checkpoints are bit-identical to an uninterrupted sweep's.
set -euo pipefail
ibx=$1
source "$(dirname "$0")/support/faults.sh"
tmp=$(mktemp -d)
runner=
cleanup() {
  [ -z "$runner" ] || kill -9 -- -"$runner" 2> /dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
sweep_file() { # NAME RESULTS
  cat > "$1.ini" <<INI
[sweep]
name = s
base = $here/../jobs/fmnist_plain.ini
results = $tmp/$2
[set]
model.width = 0.0625
data.train_limit = 4096
data.test_limit = 100
train.batch_size = 32
train.warmup_epochs = 0
train.log_every = 8
# 6 epochs of 4096 images: after a Ctrl-C and a SIGTERM, each past one more epoch, run 0
# still has epochs left on a fast machine, so both land mid-run
train.epochs = 6
[grid]
train.seed = 0, 1, 2
[slurm]
tasks = 2
[stage train]
command = train {config}
resume = train --resume {run_dir}
outputs = metrics.h5
[stage eval]
after = train
tasks = 1
exec = bash $here/support/eval_error_standin.sh {run_dir}
outputs = results/error.h5
INI
}
sweep_file ref ref
sweep_file s res
"$ibx" sweep run ref.ini --local -j 1 > ref.out 2>&1 || { cat ref.out; fail "uninterrupted sweep"; }
ids=($("$ibx" sweep plan s.ini | grep -oE '^  [0-9a-f]{16} '))
[ ${#ids[@]} -eq 3 ] || fail "plan lists ${#ids[@]} runs"
run() { echo "res/s/${ids[$1]}"; }

# start_runner OUT: the runner in its own session (a terminal's job)
start_runner() {
  setsid "$ibx" sweep run s.ini --local -j 1 > "$1" 2>&1 &
  runner=$!
}
# progress RUN N: until RUN's training log has N more "epoch k/6 done" lines
# than when called
progress() {
  local log="$(run $1)/logs/train.log" want n
  want=$(( $(grep -c "/6 done" "$log" 2> /dev/null || true) + $2 ))
  for _ in $(seq 600); do
    n=$(grep -c "/6 done" "$log" 2> /dev/null || true)
    [ "$n" -ge "$want" ] && return 0
    sleep 0.1
  done
  fail "no progress in $log"
}
until_started() { wait_for "$1" "train    ${ids[$2]} started"; }

# 1. Ctrl-C while run 0 trains
start_runner run1.out
until_started run1.out 0
progress 0 1
kill -INT -- -"$runner"
st=0; wait "$runner" || st=$?
runner=
cat run1.out
[ $st -eq 1 ] || fail "interrupted sweep exited $st"
[ "$(cat "$(run 0)/state")" = preempted ] || fail "run 0 state: $(cat "$(run 0)/state")"
[ "$(cat "$(run 0)/stages/train")" = preempted ] || fail "run 0 stage: $(cat "$(run 0)/stages/train")"
grep -q "train    ${ids[0]} preempted" run1.out || fail "runner did not report the preemption"

# 2. SIGTERM to mpiexec of run 0 (resumed), then kill -9 of the runner during run 1
start_runner run2.out
until_started run2.out 0
progress 0 1
launcher=$(pgrep -P "$runner" mpiexec)
kill -TERM "$launcher"
until_started run2.out 1
grep -q "train    ${ids[0]} preempted" run2.out || { cat run2.out; fail "SIGTERM to mpiexec: not preempted"; }
[ "$(cat "$(run 0)/stages/train")" = preempted ] || fail "run 0 stage after SIGTERM: $(cat "$(run 0)/stages/train")"
progress 1 1
kill -9 "$runner"
wait "$runner" 2> /dev/null || true
runner=
cat run2.out

# 3. run again at once: everything finishes
"$ibx" sweep run s.ini --local -j 1 > run3.out 2>&1 || { cat run3.out; fail "final rerun"; }
cat run3.out
for r in 0 1 2; do
  d=$(run $r)
  [ "$(cat "$d/state")" = done ] || fail "run $r state $(cat "$d/state")"
  [ "$(cat "$d/stages/eval")" = done ] || fail "run $r was not evaluated"
  same_tensors "$(newest_ckpt "$d")" "$(newest_ckpt "ref/s/${ids[$r]}")"
done
grep -q "stopped on request after writing a checkpoint" "$(run 1)/logs/train.log" ||
  fail "run 1 was not checkpointed on the runner's death"
grep -q "resumed from" "$(run 1)/logs/train.log" || fail "run 1 was not resumed"
"$ibx" sweep status s.ini > status.out || { cat status.out; fail "status after the sweep"; }
echo "1 passed, 0 failed"
