#!/usr/bin/env bash
# Whole training runs give the same bits whatever vector width ibx's own
# loops run at, as on the node types of one cluster: the build under test
# (portable: AVX-512 clones on an AVX-512 CPU, with the hand-written AVX-512
# kernels), a build of the same source with -mavx2 (every loop 8 floats wide,
# hand-written kernels off: IBX_CPU_NO_AVX512=1) and one with
# -DIBX_NO_ISA_CLONES (SSE2, 4 floats wide) train VGG-16-BN, AIB-QT and the
# MLM transformer for one short epoch each; every float dataset of the final
# checkpoints and the logged losses must be equal bit for bit.
# OpenBLAS is pinned to one GEMM kernel (OPENBLAS_CORETYPE=Haswell): it picks
# its kernels by CPU, and those differ (a run with Nehalem's kernel must
# differ: the comparison can fail). Before src/core/reduce.h, batch
# norm's `omp simd` sums made the -mavx2 build differ in every tensor.
# Skipped (77) off x86-64, with a compiler other than GCC (no clones), on a
# CPU without AVX2, or with an OpenBLAS that ignores OPENBLAS_CORETYPE.
set -euo pipefail
ibx=$(realpath "$1")
src=$(cd "$(dirname "$0")/.." && pwd)
[ "$(uname -m)" = x86_64 ] || { echo "not x86-64: skipped"; exit 77; }
grep -qw avx2 /proc/cpuinfo || { echo "this CPU has no AVX2: skipped"; exit 77; }
macros=$(${CC:-cc} -dM -E - < /dev/null 2> /dev/null || true) # the compiler cmake picks
grep -q __GNUC__ <<< "$macros" && ! grep -q __clang__ <<< "$macros" ||
  { echo "${CC:-cc} is not GCC (no load-time clones): skipped"; exit 77; }
pinned=$(OPENBLAS_CORETYPE=Haswell OPENBLAS_VERBOSE=2 "$ibx" --help 2>&1 | sed -n 's/^Core: //p' | head -1)
[ "$pinned" = Haswell ] ||
  { echo "OpenBLAS does not take OPENBLAS_CORETYPE (not a DYNAMIC_ARCH build?): skipped"; exit 77; }
work=$(pwd)/isa-bits.$$
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# the two other builds: only the ibx binary, Release as the default build
for variant in avx2:-mavx2 sse2:-DIBX_NO_ISA_CLONES; do
  name=${variant%%:*} flags=${variant#*:}
  cmake -S "$src" -B "$work/build-$name" -DCMAKE_BUILD_TYPE=Release -DIBX_BUILD_TESTS=OFF \
    -DIBX_BUILD_BENCH=OFF -DCMAKE_C_FLAGS="$flags" > "$work/cmake-$name.log" 2>&1 ||
    { tail -20 "$work/cmake-$name.log"; echo "FAILED: cmake ($name)"; exit 1; }
  cmake --build "$work/build-$name" --target ibx_cli -j 2 > "$work/make-$name.log" 2>&1 ||
    { tail -20 "$work/make-$name.log"; echo "FAILED: build ($name)"; exit 1; }
done
declare -A bin=([main]=$ibx [avx2]=$work/build-avx2/ibx [sse2]=$work/build-sse2/ibx)

export OMP_NUM_THREADS=2
short=(data.train_limit=512 data.test_limit=100 train.epochs=1 train.warmup_epochs=0)
declare -A job=(
  [vgg]="$src/jobs/fmnist_plain.ini model.width=0.125 train.batch_size=64"
  [aibqt]="$src/jobs/fmnist_aib_qt.ini model.width=0.125 train.batch_size=64"
  [mlm]="$src/jobs/fortunes_pretrain.ini")
train() { # model build run-name [VAR=value...]
  local m=$1 b=$2 r=$3
  shift 3
  # shellcheck disable=SC2086 # the job line is a config file and overrides
  env OPENBLAS_CORETYPE=Haswell "$@" "${bin[$b]}" train ${job[$m]} "${short[@]}" \
    output.dir="$work/$r" --quiet > "$work/$r.log" 2>&1 ||
    { cat "$work/$r.log"; echo "FAILED: training $m with the $b build"; exit 1; }
}
for m in vgg aibqt mlm; do
  train "$m" main "$m-main"
  train "$m" avx2 "$m-avx2" IBX_CPU_NO_AVX512=1
  train "$m" sse2 "$m-sse2" IBX_CPU_NO_AVX512=1
done
# another GEMM kernel (Nehalem's: SSE, no FMA; runs on any x86-64) must
# change the bits, so that the comparison can fail
core=$(OPENBLAS_CORETYPE=Nehalem OPENBLAS_VERBOSE=2 "$ibx" --help 2>&1 | sed -n 's/^Core: //p' | head -1)
[ "$core" = Nehalem ] || { echo "FAILED: OpenBLAS does not take OPENBLAS_CORETYPE=Nehalem ('$core')"; exit 1; }
train vgg main vgg-blas OPENBLAS_CORETYPE=Nehalem

/usr/bin/python3 - "$work" << 'PY'
import glob, sys
import h5py
work = sys.argv[1]

def tensors(run):
    ck = sorted(glob.glob("%s/%s/ckpt-*.h5" % (work, run)))[-1]
    out = {}
    with h5py.File(ck, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[...].tobytes())
                     if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
    with h5py.File("%s/%s/metrics.h5" % (work, run), "r") as m:
        out["metrics step/loss"] = m["step/loss"][...].tobytes()
    return out

bad = 0
for model in ("vgg", "aibqt", "mlm"):
    ref = tensors(model + "-main")
    for build in ("avx2", "sse2"):
        other = tensors("%s-%s" % (model, build))
        assert set(other) == set(ref), (model, build, set(ref) ^ set(other))
        diff = sorted(k for k in ref if ref[k] != other[k])
        print("%-5s %s build vs the build under test: %d of %d float datasets differ%s"
              % (model, build, len(diff), len(ref), "" if not diff else ": " + ", ".join(diff[:4])))
        bad += len(diff) > 0
blas = tensors("vgg-blas")
ref = tensors("vgg-main")
nblas = sum(ref[k] != blas[k] for k in ref)
print("vgg   OpenBLAS's Nehalem kernels instead of Haswell's: %d of %d float datasets differ" % (nblas, len(ref)))
if nblas == 0:
    print("FAILED: another GEMM kernel gave the same bits: the comparison shows nothing")
    bad += 1
sys.exit(1 if bad else 0)
PY
echo "1 passed, 0 failed"
