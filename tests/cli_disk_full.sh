#!/usr/bin/env bash
# Issue 13, defect 5: a full disk is a clean failure. With output.dir on a
# 4 MiB tmpfs (root only; skipped with 77 otherwise):
#  - a checkpoint larger than the space: every rank exits, mpiexec with 1
#    (not 139 from a segfault in HDF5's shutdown inside MPI_Finalize), one
#    line names the file and "No space left on device", the state file says
#    failed, no temporary file is left;
#  - the disk fills after two epochs: the same, the earlier checkpoints stay
#    intact, and once space is freed the run resumes to the end.
set -euo pipefail
ibx=$1
source "$(dirname "$0")/support/faults.sh"
[ "$(id -u)" = 0 ] || { echo "not root: cannot mount a tmpfs, skipped"; exit 77; }
tmp=$(mktemp -d)
mkdir "$tmp/full"
mount -t tmpfs -o size=4m tmpfs "$tmp/full" 2> /dev/null || { echo "cannot mount a tmpfs, skipped"; rm -rf "$tmp"; exit 77; }
trap 'umount "$tmp/full"; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
cd "$tmp"

expect_disk_full() { # LOG STATUS DIR
  [ "$2" -eq 1 ] || { cat "$1"; fail "disk full: exit $2, expected 1"; }
  grep -q "Segmentation\|signal" "$1" && { cat "$1"; fail "a rank crashed"; }
  grep -Eq "^ibx train: .*$3/(ckpt-[0-9]+\.h5|best\.h5|metrics\.h5)\.tmp\.[0-9]+: write failed: No space left on device$" "$1" ||
    { cat "$1"; fail "no one-line disk-full message"; }
  grep -q "^failed: .*No space left on device" "$3/state" || fail "state: $(cat "$3/state")"
  [ -z "$(find "$3" -name '*.tmp.*')" ] || fail "temporary files left: $(ls "$3")"
}

st=0
"${mpi[@]}" "$ibx" train "${tiny[@]}" model.width=0.25 train.epochs=2 output.dir=full/big \
  --quiet > big.log 2>&1 || st=$?
expect_disk_full big.log $st full/big
rm -rf full/big

# leave room for two small checkpoints and best.h5, not for a fourth file
head -c $((4096 * 1024 - 1900 * 1024)) /dev/zero > full/filler
st=0
"${mpi[@]}" "$ibx" train "${tiny[@]}" train.epochs=4 output.dir=full/run --quiet > run.log 2>&1 || st=$?
expect_disk_full run.log $st full/run
n=$(ls full/run/ckpt-*.h5 | wc -l)
[ "$n" -ge 1 ] || fail "no checkpoint before the disk filled"
rm full/filler
"${mpi[@]}" "$ibx" train --resume full/run --quiet > resume.log 2>&1 || { cat resume.log; fail "resume after freeing space"; }
[ "$(cat full/run/state)" = done ] || fail "state after resume: $(cat full/run/state)"
grep -q warning resume.log && { cat resume.log; fail "a checkpoint was damaged"; }
echo "1 passed, 0 failed"
