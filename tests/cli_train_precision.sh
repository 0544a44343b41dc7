#!/usr/bin/env bash
# train.precision: a bad value is a usage error (exit 2); bf16 on a CPU without
# AVX512-BF16 (simulated: IBX_CPU_NO_BF16=1) fails at start with a one-line
# message naming the missing feature and a "failed: ..." state, never a crash;
# where the CPU has bf16, a short bf16 run trains and writes a checkpoint with
# exactly the tensors, shapes and dtype (float32) of an fp32 run's, and
# `ibx eval` (fp32 arithmetic) reads it (checkpoints are interchangeable).
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2
args=(model.backbone=vgg16 model.head=plain model.width=0.125 data.train_limit=256
      data.test_limit=100 train.batch_size=64 train.epochs=1 train.seed=5)

set +e
"$ibx" train "${args[@]}" train.precision=fp16 output.dir="$tmp/bad" --quiet 2> "$tmp/bad.err"
status=$?
set -e
[ $status -eq 2 ] || { echo "train.precision=fp16 exited $status, expected 2"; exit 1; }
grep -q "train.precision" "$tmp/bad.err" || { echo "no key in: $(cat "$tmp/bad.err")"; exit 1; }

set +e
IBX_CPU_NO_BF16=1 "$ibx" train "${args[@]}" train.precision=bf16 output.dir="$tmp/nobf16" --quiet \
  2> "$tmp/nobf16.err"
status=$?
set -e
[ $status -eq 1 ] || { echo "bf16 without the CPU feature exited $status, expected 1"; exit 1; }
[ "$(wc -l < "$tmp/nobf16.err")" -eq 1 ] || { echo "not one line:"; cat "$tmp/nobf16.err"; exit 1; }
grep -q "train.precision: .*avx512_bf16" "$tmp/nobf16.err" ||
  { echo "unclear message: $(cat "$tmp/nobf16.err")"; exit 1; }
grep -q "^failed: train.precision" "$tmp/nobf16/state" ||
  { echo "state: $(cat "$tmp/nobf16/state")"; exit 1; }

if ! grep -q avx512_bf16 /proc/cpuinfo; then
  echo "this CPU has no avx512_bf16: bf16 training part skipped"
  exit 0
fi
"$ibx" train "${args[@]}" train.precision=bf16 output.dir="$tmp/bf16" --quiet
"$ibx" train "${args[@]}" train.precision=fp32 output.dir="$tmp/fp32" --quiet
for r in bf16 fp32; do
  [ "$(cat "$tmp/$r/state")" = done ] || { echo "$r state: $(cat "$tmp/$r/state")"; exit 1; }
done
/usr/bin/python3 - "$tmp/bf16" "$tmp/fp32" <<'PY'
import glob, sys
import h5py, numpy as np
def tensors(d):
    f = h5py.File(sorted(glob.glob(d + "/ckpt-*.h5"))[-1], "r")
    out = {}
    f.visit(lambda n: out.__setitem__(n, f[n]) if isinstance(f[n], h5py.Dataset) else None)
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert sorted(a) == sorted(b), set(a) ^ set(b)
for n in a:
    assert a[n].shape == b[n].shape and a[n].dtype == b[n].dtype, (n, a[n].shape, a[n].dtype)
    if n.startswith("model/"):
        assert a[n].dtype == np.float32 and np.isfinite(a[n][...]).all(), n
diff = [n for n in a if n.startswith("model/") and "weight" in n and
        not np.array_equal(a[n][...], b[n][...])]
assert diff, "bf16 and fp32 runs gave identical weights: bf16 was not used"
print("bf16 checkpoint: %d tensors, same names, shapes and dtypes as fp32's" % len(a))
PY
# ibx eval (fp32 arithmetic) reads the bf16 run's checkpoint like any other
"$ibx" eval error --ckpt "$tmp/bf16" --limit 100 > "$tmp/eval.log" 2>&1 ||
  { echo "eval of the bf16 checkpoint failed:"; cat "$tmp/eval.log"; exit 1; }
echo "train.precision: all checks passed"
