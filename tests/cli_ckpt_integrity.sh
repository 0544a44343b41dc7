#!/usr/bin/env bash
# Issue 13, defect 2: checkpoints carry a crc32 per tensor, checked on load.
#  - 100 bytes flipped in the middle of the newest ckpt-*.h5 of a preempted
#    run: --resume warns naming the file, moves it aside (.corrupt) and
#    resumes from the newest intact one; the finished run is bit-identical to
#    an uninterrupted one.
#  - the newest checkpoint truncated: the same.
#  - ibx eval error on a damaged best.h5 fails naming the file and writes
#    no results; on the intact file it works.
set -euo pipefail
ibx=$1
source "$(dirname "$0")/support/faults.sh"
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
cd "$tmp"

flip_middle() { # XOR 100 bytes in the middle of a file with 0xff
  /usr/bin/python3 - "$1" <<'PY'
import os, sys
p = sys.argv[1]
n = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(n // 2)
    b = f.read(100)
    f.seek(n // 2)
    f.write(bytes(x ^ 0xFF for x in b))
PY
}

flip_tensor() { # XOR 100 bytes in the middle of the largest tensor's data
  /usr/bin/python3 - "$1" <<'PY'
import sys
import h5py
p = sys.argv[1]
with h5py.File(p, "r") as f:
    sets = []
    f.visit(lambda n: sets.append(f[n]) if isinstance(f[n], h5py.Dataset) else None)
    d = max(sets, key=lambda d: d.size)
    at = d.id.get_offset() + d.id.get_storage_size() // 2
with open(p, "r+b") as f:
    f.seek(at)
    b = f.read(100)
    f.seek(at)
    f.write(bytes(x ^ 0xFF for x in b))
PY
}

"${mpi[@]}" "$ibx" train "${tiny[@]}" train.epochs=2 output.dir=straight --quiet
preempted_run flip 2 1
cp -a flip cut
bad=$(newest_ckpt flip)
flip_middle "$bad"
"${mpi[@]}" "$ibx" train --resume flip --quiet > flip.resume 2>&1 || { cat flip.resume; fail "resume after a flipped checkpoint"; }
grep -q "warning: skipping $bad" flip.resume || { cat flip.resume; fail "no warning naming $bad"; }
[ "$(grep -c warning flip.resume)" = 1 ] || fail "more than one warning line"
[ -f "$bad.corrupt" ] || fail "the damaged checkpoint was not kept aside"
[ "$(cat flip/state)" = done ] || fail "flip: state $(cat flip/state)"
same_tensors "$(newest_ckpt flip)" "$(newest_ckpt straight)"

bad=$(newest_ckpt cut)
truncate -s 4000 "$bad"
"${mpi[@]}" "$ibx" train --resume cut --quiet > cut.resume 2>&1 || { cat cut.resume; fail "resume after a truncated checkpoint"; }
grep -q "warning: skipping $bad" cut.resume || { cat cut.resume; fail "no warning naming $bad"; }
same_tensors "$(newest_ckpt cut)" "$(newest_ckpt straight)"

# a checkpoint named on the command line is not replaced by another
flip_tensor "$(newest_ckpt straight)"
set +e; err=$("${mpi[@]}" "$ibx" train --resume "$(newest_ckpt straight)" --quiet 2>&1); st=$?; set -e
[ $st -ne 0 ] || fail "--resume of a damaged checkpoint file succeeded"
echo "$err" | grep -q "$(newest_ckpt straight): corrupt checkpoint" || fail "message: $err"

# evaluation of a damaged best.h5
mkdir -p good ev
cp straight/best.h5 good/best.h5
cp straight/best.h5 ev/bad.h5
flip_tensor ev/bad.h5
"$ibx" eval error --ckpt good/best.h5 > good.out 2>&1 || { cat good.out; fail "eval of the intact file"; }
set +e; "$ibx" eval error --ckpt ev/bad.h5 > bad.out 2>&1; st=$?; set -e
[ $st -eq 1 ] || { cat bad.out; fail "eval of a damaged checkpoint exited $st"; }
grep -q "ev/bad.h5: corrupt checkpoint: tensor '.*' fails its checksum" bad.out || { cat bad.out; fail "eval message"; }
[ ! -e ev/results/error.h5 ] || fail "eval of a damaged checkpoint wrote results"
echo "1 passed, 0 failed"
