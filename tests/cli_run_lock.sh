#!/usr/bin/env bash
# Issue 13, defect 4: two writers on one run are impossible. While a 2-rank
# trainer runs, a second `ibx train --resume DIR` and a fresh `ibx train`
# into the same output.dir fail at once, naming the holder's host and pid;
# the first trainer goes on untouched. After kill -9 of the first (its lock
# file left behind), a resume detects the stale lock, says so, and runs.
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

"${mpi[@]}" "$ibx" train "${tiny[@]}" train.epochs=30 output.dir=run > a.log 2>&1 &
launcher=$!
pids+=($launcher)
wait_for a.log "epoch 1/30 done"
pids+=($(pgrep -P $launcher))
holder=$(cat run/lock 2> /dev/null || true)
[[ "$holder" =~ ^host\ $(hostname)\ pid\ ([0-9]+)$ ]] || fail "lock file says '$holder'"
pid=${BASH_REMATCH[1]}
grep -q train "/proc/$pid/cmdline" || fail "lock names pid $pid, not a trainer"

set +e
second=$("${mpi[@]}" "$ibx" train --resume run --quiet 2>&1); st=$?
fresh=$("$ibx" train "${tiny[@]}" output.dir=run --quiet 2>&1); st2=$?
set -e
[ $st -eq 1 ] || { echo "$second"; fail "a second trainer on the run exited $st"; }
echo "$second" | grep -q "run: the run is in use by another trainer (host $(hostname) pid $pid holds run/lock)" ||
  fail "message of the second trainer: $second"
[ $st2 -eq 1 ] || { echo "$fresh"; fail "a fresh trainer into the run's directory exited $st2"; }
echo "$fresh" | grep -q "in use by another trainer (host $(hostname) pid $pid" || fail "message: $fresh"
kill -0 $launcher || fail "the first trainer died"
[ "$(cat run/state)" = running ] || fail "state became $(cat run/state)"

# kill -9 everything: the lock file stays, its lock is gone
kill -9 "${pids[@]}"
wait $launcher 2> /dev/null || true
sleep 0.5
[ "$(cat run/lock)" = "$holder" ] || fail "lock file changed"
"${mpi[@]}" "$ibx" train --resume run > c.log 2>&1 &
pids+=($!)
wait_for c.log "resumed from"
kill -USR1 $!
st=0; wait $! || st=$?
[ $st -eq 3 ] || { cat c.log; fail "resume after a stale lock exited $st"; }
grep -q "taking over the stale run lock of host $(hostname) pid $pid (no longer running)" c.log ||
  { cat c.log; fail "stale lock not reported"; }
[ "$(cat run/state)" = preempted ] || fail "state after the resume: $(cat run/state)"
[ ! -s run/lock ] || fail "lock file not emptied on a clean exit: $(cat run/lock)"
echo "1 passed, 0 failed"
