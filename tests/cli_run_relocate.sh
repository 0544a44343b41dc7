#!/usr/bin/env bash
# Issue 13, defect 1: a run directory is self-contained. A preempted run with
# a relative output.dir is copied (cp -a) and the copy resumed from another
# working directory: the copy finishes (state done, bit-identical to an
# uninterrupted run), the original is not touched (every file byte for byte,
# state still preempted), and nothing is created under the old relative path.
set -euo pipefail
ibx=$1
source "$(dirname "$0")/support/faults.sh"
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
mkdir -p "$tmp/w1" "$tmp/w2"

"${mpi[@]}" "$ibx" train "${tiny[@]}" train.epochs=2 output.dir="$tmp/straight" --quiet

cd "$tmp/w1"
preempted_run rel 2 1
cp -a rel "$tmp/copy"
(cd "$tmp/w1/rel" && find . -type f | sort | xargs sha256sum) > "$tmp/orig.sums"

cd "$tmp/w2"
"${mpi[@]}" "$ibx" train --resume ../copy --quiet || fail "resume of the copy"
[ "$(cat "$tmp/copy/state")" = done ] || fail "copy: state $(cat "$tmp/copy/state")"
[ ! -e "$tmp/w2/rel" ] || fail "resume created the old relative output.dir in its working directory"
(cd "$tmp/w1/rel" && find . -type f | sort | xargs sha256sum) > "$tmp/orig.after"
diff "$tmp/orig.sums" "$tmp/orig.after" || fail "resuming the copy changed the original run"
[ "$(cat "$tmp/w1/rel/state")" = preempted ] || fail "original state changed"
grep -q "^dir = .*copy$" "$tmp/copy/config.ini" || fail "copy/config.ini names another output.dir"
same_tensors "$(newest_ckpt "$tmp/copy")" "$(newest_ckpt "$tmp/straight")"

# moved to another directory and resumed through a checkpoint file of it
preempted_run "$tmp/w1/moved" 2 1
mv "$tmp/w1/moved" "$tmp/w2/elsewhere"
"${mpi[@]}" "$ibx" train --resume "$(newest_ckpt "$tmp/w2/elsewhere")" --quiet || fail "moved run"
[ "$(cat "$tmp/w2/elsewhere/state")" = done ] || fail "moved run: state"
[ ! -e "$tmp/w1/moved" ] || fail "resume wrote into the run's old location"
same_tensors "$(newest_ckpt "$tmp/w2/elsewhere")" "$(newest_ckpt "$tmp/straight")"
echo "1 passed, 0 failed"
