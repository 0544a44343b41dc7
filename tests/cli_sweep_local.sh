#!/usr/bin/env bash
# ibx sweep on this machine (run --local): 2 runs x 2 MPI ranks on real
# Fashion-MNIST (tiny), an eval stage, collect. Checks: plan/status/run agree
# with the run directories; a second run does nothing; a failing stage is
# recorded, skipped without --retry-failed and rerun with it; a corrupt
# results file is reported by status (exit 2) and collect (exit 1, the rest
# collected); a run dir not in the current sweep is left out of collect; bad
# sweep files are refused naming the line.
set -euo pipefail
ibx=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
source "$here/support/sweep_test.sh"
write_tiny_sweep tiny.ini "$tmp/results" "train.seed = 0, 1" "tasks = 2" " --quiet" $'dependency = afterany\n'
fail() { echo "FAILED: $*"; exit 1; }
"$ibx" sweep plan tiny.ini | tee plan.out
grep -q "2 runs: 0 done, 2 to run" plan.out || fail "plan before running"
ids=($(grep -oE '^  [0-9a-f]{16} ' plan.out))
[ ${#ids[@]} -eq 2 ] || fail "plan lists ${#ids[@]} run ids"

# first try: eval of run 0 fails
set +e
IBX_TEST_FAIL_RUN=${ids[0]} OMP_NUM_THREADS=1 "$ibx" sweep run tiny.ini --local -j 1 > run1.out 2>&1
st=$?
set -e
cat run1.out
[ $st -eq 1 ] || fail "sweep run with a failing stage exited $st"
grep -q "eval     ${ids[0]} failed: exit 1" run1.out || fail "failure not reported"
[ "$(cat results/tiny/${ids[0]}/stages/eval)" = "failed: exit 1" ] || fail "marker"
[ "$(cat results/tiny/${ids[1]}/stages/eval)" = done ] || fail "other run's eval"
[ "$(cat results/tiny/stages/collect)" = done ] || fail "collect (afterany) did not run"
set +e; "$ibx" sweep status tiny.ini > status1.out; st=$?; set -e
[ $st -eq 1 ] || fail "status with a failed stage exited $st"
grep -q "eval       failed" status1.out || fail "status does not show the failure"

# without --retry-failed the failed run stays; with it, it is redone
"$ibx" sweep run tiny.ini --local > run2.out 2>&1 || true
grep -q "0 stage tasks to run" run2.out || { cat run2.out; fail "failed run rerun without --retry-failed"; }
OMP_NUM_THREADS=1 "$ibx" sweep run tiny.ini --local --retry-failed > run3.out 2>&1 || { cat run3.out; fail "retry"; }
grep -q "eval     ${ids[0]} done" run3.out || fail "retry did not redo eval"
grep -q "train    ${ids[0]}" run3.out && fail "retry retrained a finished run"
"$ibx" sweep status tiny.ini || fail "status after retry"
"$ibx" sweep plan tiny.ini | grep -q "2 runs: 2 done, 0 to run" || fail "plan after the sweep"
"$ibx" sweep run tiny.ini --local | grep -q "0 stage tasks to run" || fail "second run did work"
grep -q "ranks\|rank(s)" results/tiny/${ids[0]}/logs/train.log || true
[ -f results/tiny/tables/aib_table1.md ] || fail "collect stage wrote no table"

# the tables hold exactly the error files' numbers
"$ibx" collect results/tiny > collect.out || { cat collect.out; fail "collect"; }
check_table_equals_error_files results/tiny 2 1 2 || fail "table differs from the error files"

# a run left from an earlier version of the sweep file is not collected
cp -r results/tiny/${ids[0]} results/tiny/0123456789abcdef
"$ibx" collect results/tiny > collect-stale.out || { cat collect-stale.out; fail "collect with a stale run"; }
grep -q "1 run directories not in .*runs.txt left out" collect-stale.out || fail "stale run not reported"
grep -q "from 2 runs" collect-stale.out || fail "stale run collected"
rm -rf results/tiny/0123456789abcdef

# a corrupt results file: status says which, collect reports it and goes on
echo garbage > results/tiny/${ids[1]}/results/error.h5
set +e; "$ibx" sweep status tiny.ini > status2.out; st=$?; set -e
[ $st -eq 2 ] || { cat status2.out; fail "status with a corrupt file exited $st"; }
grep -q "corrupt.*${ids[1]}/results/error.h5" status2.out || { cat status2.out; fail "status does not name the corrupt file"; }
set +e; "$ibx" collect results/tiny > collect2.out; st=$?; set -e
[ $st -eq 1 ] || fail "collect with a corrupt file exited $st"
grep -q "${ids[1]}/results/error.h5: not a readable HDF5 file" collect2.out || fail "collect message"
grep -q "collected 1 numbers from 2 runs" collect2.out || { cat collect2.out; fail "collect did not keep the rest"; }

# bad sweep files: one line naming file and line, exit 2
printf '[sweep]\nname = x\n[grid]\nmodel.bta = 1, 2\n' > bad1.ini
printf '[sweep]\nname = x\n[grid]\nmodel.beta =\n' > bad2.ini
printf '[sweep]\nname = x\n[stage eval]\nafter = train\ncommand = config docs\n' > bad3.ini
for n in 1 2 3; do
  set +e; err=$("$ibx" sweep plan bad$n.ini 2>&1); st=$?; set -e
  [ $st -eq 2 ] || fail "bad$n.ini: exit $st"
  echo "$err" | grep -q "bad$n.ini:4:" || fail "bad$n.ini: $err"
  echo "  $err"
done
echo "1 passed, 0 failed"
