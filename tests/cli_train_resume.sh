#!/usr/bin/env bash
# Resume and preemption, end to end with 2 MPI ranks on real Fashion-MNIST:
#  A: 4 epochs straight.
#  B: the same config, SIGUSR1 once epoch 2 is done (the trainer checkpoints
#     mid-epoch 3 and exits 3), then `ibx train --resume`: the final parameters,
#     buffers and optimiser state must be bit-identical to A's.
# Also: h5py reads the checkpoint and metrics files and finds the documented
# datasets; a truncated or foreign file given to --resume is a clear error.
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi=(mpiexec -n 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1)
args=(model.backbone=vgg16 model.head=plain model.width=0.125 data.train_limit=1024
      data.test_limit=500 train.batch_size=64 train.epochs=4 train.log_every=4 train.seed=3)

"${mpi[@]}" "$ibx" train "${args[@]}" output.dir="$tmp/a" --quiet
[ "$(cat "$tmp/a/state")" = done ] || { echo "run A state: $(cat "$tmp/a/state")"; exit 1; }

"${mpi[@]}" "$ibx" train "${args[@]}" output.dir="$tmp/b" > "$tmp/b.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "epoch 2/4 done" "$tmp/b.log" 2>/dev/null && break; sleep 0.1; done
kill -USR1 $pid
set +e; wait $pid; status=$?; set -e
[ $status -eq 3 ] || { echo "preempted run exited $status, expected 3"; cat "$tmp/b.log"; exit 1; }
[ "$(cat "$tmp/b/state")" = preempted ] || { echo "state after preemption: $(cat "$tmp/b/state")"; exit 1; }
"${mpi[@]}" "$ibx" train --resume "$tmp/b" --quiet
[ "$(cat "$tmp/b/state")" = done ] || { echo "run B state: $(cat "$tmp/b/state")"; exit 1; }

/usr/bin/python3 - "$tmp/a" "$tmp/b" <<'PY'
import glob, sys
import h5py, numpy as np
a_dir, b_dir = sys.argv[1:3]
def last(d):
    return sorted(glob.glob(d + "/ckpt-*.h5"))[-1]
fa, fb = h5py.File(last(a_dir), "r"), h5py.File(last(b_dir), "r")
assert fa.attrs["format"] == "ibx-checkpoint", fa.attrs["format"]
for key in ("epoch", "step", "seed", "world_size", "best_error", "config", "git_commit", "hostnames"):
    assert key in fa.attrs, key
assert fa.attrs["epoch"] == 4 and fb.attrs["epoch"] == 4
assert "features.0.weight" in fa["model"] and "features.1.running_mean" in fa["model"]
names = []
fa.visit(lambda n: names.append(n) if isinstance(fa[n], h5py.Dataset) else None)
assert any(n.startswith("optimizer/momentum_buffer/") for n in names)
diff = [n for n in names if not np.array_equal(fa[n][...], fb[n][...])]
assert not diff, "resumed run differs in %d tensors, e.g. %s" % (len(diff), diff[:3])
m = h5py.File(a_dir + "/metrics.h5", "r", swmr=True)
for col in ("step", "epoch", "loss", "ce", "kl", "vq", "commit", "lr", "img_per_s", "grad_norm"):
    assert col in m["step"], col
for col in ("epoch", "train_error", "test_error", "loss", "seconds"):
    assert col in m["epoch"], col
assert list(m["epoch/epoch"][...]) == [1, 2, 3, 4]
mb = h5py.File(b_dir + "/metrics.h5", "r", swmr=True)
assert list(mb["epoch/epoch"][...]) == [1, 2, 3, 4], mb["epoch/epoch"][...]
assert np.array_equal(m["step/step"][...], mb["step/step"][...])
print("resume: %d tensors bit-identical; checkpoint and metrics layout as documented" % len(names))
PY

# bad checkpoints given to --resume
head -c 3000 "$(ls "$tmp"/a/ckpt-*.h5 | tail -1)" > "$tmp/cut.h5"
/usr/bin/python3 -c "import h5py,sys; h5py.File(sys.argv[1],'w')['x']=[1,2]" "$tmp/foreign.h5"
for bad in cut foreign; do
  set +e; err=$("${mpi[@]}" "$ibx" train --resume "$tmp/$bad.h5" --quiet 2>&1); st=$?; set -e
  [ $st -ne 0 ] || { echo "--resume $bad.h5 succeeded"; exit 1; }
  echo "$err" | grep -q "$tmp/$bad.h5" || { echo "error does not name the file: $err"; exit 1; }
done
echo "$err" | grep -q "not an ibx checkpoint" || { echo "foreign file message: $err"; exit 1; }
echo "1 passed, 0 failed"
