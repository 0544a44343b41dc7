#!/usr/bin/env bash
# `ibx sweep status` from sacct, without a cluster: sbatch, squeue, sacct and
# scontrol are stand-ins on PATH that answer what a cluster with accounting
# answers (sacct -n -P -X -D -o JobID,State,Elapsed,ExitCode,NodeList), so
# the parsing is checked on every machine (tests/cli_vcluster.sh checks the
# same against a real slurmdbd as root). A run requeued after a node failure,
# a failed run and a run preempted and pending again must show their state,
# elapsed time, exit code, node list and requeues; without sacct, status says
# so and falls back to squeue; --retry-failed resubmits the failed run only.
set -euo pipefail
ibx=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mkdir bin
cat > bin/sbatch << 'EOF'
#!/bin/bash
n=$(cat "$(dirname "$0")/next" 2> /dev/null || echo 100)
echo $((n + 1)) > "$(dirname "$0")/next"
echo "$n"
EOF
cat > bin/scontrol << 'EOF'
#!/bin/bash
echo "MaxArraySize            = 1001"
EOF
cat > bin/squeue << 'EOF'
#!/bin/bash
cat "$(dirname "$0")/squeue.out" 2> /dev/null
EOF
cat > bin/sacct << 'EOF'
#!/bin/bash
[ -e "$(dirname "$0")/no-accounting" ] && { echo "sacct: error: Slurm accounting storage is disabled" >&2; exit 1; }
cat "$(dirname "$0")/sacct.out"
EOF
chmod +x bin/*
export PATH=$tmp/bin:$PATH
fail() { echo "FAILED: $*"; cat status.out 2> /dev/null || true; exit 1; }
cat > s.ini << INI
[sweep]
name = s
base = $here/../jobs/fmnist_plain.ini
results = $tmp/results
[grid]
train.seed = 0, 1, 2
[slurm]
nodes = 2
tasks = 2
[stage train]
command = train {config}
resume = train --resume {run_dir}
outputs = metrics.h5
INI
"$ibx" sweep submit s.ini > submit1.out || fail "submit: $(cat submit1.out)"
grep -q "submitted train chunk 0: job 100 (array)" submit1.out || fail "submit: $(cat submit1.out)"
mapfile -t runs < results/s/slurm/submit-1/runs
[ ${#runs[@]} = 3 ] || fail "runs file"
# what the run directories say (the job script writes these markers)
for r in "${runs[@]}"; do mkdir -p "$r/stages"; done
echo done > "${runs[0]}/stages/train"
/usr/bin/python3 -c "import h5py,sys; h5py.File(sys.argv[1],'w').close()" "${runs[0]}/metrics.h5"
echo "failed: exit 1" > "${runs[1]}/stages/train"
echo preempted > "${runs[2]}/stages/train"
# what Slurm says: task 0 lost a node and completed on the second attempt,
# task 1 failed, task 2 was requeued after preemption and is pending again
cat > bin/sacct.out << 'EOF'
100_0|NODE_FAIL|00:00:24|0:0|vn[1-2]
100_0|COMPLETED|00:00:17|0:0|vn[1,3]
100_1|FAILED|00:00:03|1:0|vn2
100_2|REQUEUED|00:00:10|0:0|vn[1-2]
EOF
echo "100_2|PENDING|0:00||" > bin/squeue.out
set +e
"$ibx" sweep status -v s.ini > status.out
st=$?
set -e
cat status.out
[ $st = 1 ] || fail "status exit $st (not all done)"
grep -q "(Slurm states from sacct/squeue)" status.out || fail "not from sacct"
line() { grep -A1 "^  $(basename "$1") " status.out | tail -1; }
[[ $(line "${runs[0]}") =~ train\ +done\ +\[slurm\ 100_0\ COMPLETED\ 00:00:17\ exit\ 0:0\ on\ vn\[1,3\]\;\ requeued\ 1x,\ after\ NODE_FAIL\]$ ]] ||
  fail "run 0: $(line "${runs[0]}")"
[[ $(line "${runs[1]}") =~ train\ +failed\ +failed:\ exit\ 1\ +\[slurm\ 100_1\ FAILED\ 00:00:03\ exit\ 1:0\ on\ vn2\]$ ]] ||
  fail "run 1: $(line "${runs[1]}")"
[[ $(line "${runs[2]}") =~ train\ +preempted\ +\[slurm\ 100_2\ PENDING\ 0:00\;\ requeued\ 1x,\ after\ REQUEUED\]$ ]] ||
  fail "run 2: $(line "${runs[2]}")"
grep -q "train      1 done 1 failed 1 preempted" status.out || fail "summary"
# --retry-failed: the failed run only (run 2 is still queued, run 0 done)
"$ibx" sweep submit s.ini > submit2.out
grep -q "3 runs, 0 to submit" submit2.out || fail "plain resubmit: $(cat submit2.out)"
"$ibx" sweep submit s.ini --retry-failed > submit3.out
grep -q "3 runs, 1 to submit (failed ones included)" submit3.out || fail "retry: $(cat submit3.out)"
[ "$(cat results/s/slurm/submit-2/runs)" = "${runs[1]}" ] || fail "retried: $(cat results/s/slurm/submit-2/runs)"
# no accounting: squeue only, and status says so
touch bin/no-accounting
"$ibx" sweep status -v s.ini > status.out || true
grep -q "(Slurm states from squeue; sacct unavailable)" status.out || fail "no-sacct fallback"
[[ $(line "${runs[2]}") =~ \[slurm\ 100_2\ PENDING\ 0:00\]$ ]] || fail "squeue only: $(line "${runs[2]}")"
echo "1 passed, 0 failed"
