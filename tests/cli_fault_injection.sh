#!/usr/bin/env bash
# Issue 13, fault-injection proof: a 2-rank training is SIGKILLed (mpiexec
# and both ranks at once) at 10 moments drawn from a seeded generator, and
# resumed after each; half of the kills land while a checkpoint (or
# best.h5) is being written (IBX_TEST_WRITE_DELAY_MS holds the temporary
# file open for a moment), the others at random times. After every kill no
# file under a final name is damaged (every checkpoint's crc32s check out
# in Python); the final checkpoint is bit-identical to an uninterrupted
# run's, the metrics have the same step rows, and no temporary file is left.
#   IBX_FAULT_SEED=N bash tests/cli_fault_injection.sh build/ibx  (default 13)
set -euo pipefail
ibx=$1
source "$(dirname "$0")/support/faults.sh"
tmp=$(mktemp -d)
launcher=
cleanup() {
  [ -z "$launcher" ] || kill -9 $launcher $(pgrep -P $launcher) 2> /dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
RANDOM=${IBX_FAULT_SEED:-13}
echo "seed ${IBX_FAULT_SEED:-13}"
# 12 epochs: a kill during write k <= 2 costs at most 2 epochs of progress,
# a kill at a random moment at most 16 steps, so 10 kills always land
args=("${tiny[@]}" train.epochs=12)

"${mpi[@]}" "$ibx" train "${args[@]}" output.dir=straight --quiet

check_files() { # every checkpoint under a final name is whole
  /usr/bin/python3 - run <<'PY' || fail "a damaged file under a final name after kill $1"
import glob, sys, zlib
import h5py, numpy as np
for p in sorted(glob.glob(sys.argv[1] + "/ckpt-*.h5")) + glob.glob(sys.argv[1] + "/best.h5"):
    with h5py.File(p, "r") as f:
        sets = []
        f.visit(lambda n: sets.append(n) if isinstance(f[n], h5py.Dataset) else None)
        assert sets, p
        for n in sets:
            d = f[n]
            crc = zlib.crc32(np.ascontiguousarray(d[...], dtype="<f4").tobytes())
            assert crc == d.attrs["crc32"], (p, n)
with h5py.File(sys.argv[1] + "/metrics.h5", "r") as m:
    m["step/step"][...]
PY
}

kills=0
for attempt in $(seq 10); do
  if [ -e run/state ] && [ "$(cat run/state)" = done ]; then break; fi
  if ls run/ckpt-*.h5 > /dev/null 2>&1; then cmd=(train --resume run); else cmd=(train "${args[@]}" output.dir=run); fi
  if [ $((attempt % 2)) = 1 ]; then # during the k-th checkpoint write of this attempt
    k=$((RANDOM % 2 + 1))
    old=$(ls run/*.tmp.* 2> /dev/null || true) # a killed writer's, removed when the trainer starts
    IBX_TEST_WRITE_DELAY_MS=400 setsid "${mpi[@]}" -x IBX_TEST_WRITE_DELAY_MS "$ibx" "${cmd[@]}" > "log.$attempt" 2>&1 &
    launcher=$!
    seen=""
    for _ in $(seq 1200); do
      for f in run/ckpt-*.h5.tmp.* run/best.h5.tmp.*; do
        [ -e "$f" ] || continue
        case " $(echo $old) " in *" $f "*) continue ;; esac
        case " $seen " in *" $f "*) ;; *) seen="$seen $f" ;; esac
      done
      [ "$(echo $seen | wc -w)" -ge $k ] && break
      kill -0 $launcher 2> /dev/null || break
      sleep 0.05
    done
    how="during checkpoint write $k ($(echo $seen | awk '{print $NF}'))"
  else # at a random moment once the trainer is up
    setsid "${mpi[@]}" "$ibx" "${cmd[@]}" > "log.$attempt" 2>&1 &
    launcher=$!
    wait_for "log.$attempt" "run directory"
    delay=$((RANDOM % 2000))
    # the moment is random in time, but at most 2 progress lines (16 steps)
    # in: on a fast machine the run must not finish before the 10th kill
    for _ in $(seq $((delay / 50))); do
      [ "$(grep -c ' step ' "log.$attempt" 2> /dev/null)" -ge 2 ] && break
      sleep 0.05
    done
    how="after ${delay} ms or 2 progress lines"
  fi
  if kill -0 $launcher 2> /dev/null; then
    procs="$launcher $(pgrep -P $launcher | tr '\n' ' ')"
    kill -9 $procs 2> /dev/null || true
    kills=$((kills + 1))
    echo "kill $kills: $how, $(ls run | grep -c '^ckpt-.*h5$') checkpoints, state $(cat run/state 2> /dev/null)"
  else
    echo "attempt $attempt: the run ended before the kill"
  fi
  wait $launcher 2> /dev/null || true
  # SIGKILL is not instant: a rank may still be exiting when the next trainer
  # starts, and its temporary file then counts as a live writer's (kept);
  # wait until the killed processes are gone or zombies (at most 10 s)
  for _ in $(seq 100); do
    alive=0
    for p in ${procs:-}; do
      s=$(awk '{print $3}' /proc/$p/stat 2> /dev/null || true)
      [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ] && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  procs=
  launcher=
  check_files $kills
done
[ $kills -eq 10 ] || fail "only $kills kills landed (the run is too short for this machine?)"

"${mpi[@]}" "$ibx" train --resume run --quiet > final.log 2>&1 || { cat final.log; fail "final resume"; }
[ "$(cat run/state)" = done ] || fail "state $(cat run/state)"
same_tensors "$(newest_ckpt run)" "$(newest_ckpt straight)"
/usr/bin/python3 - run/metrics.h5 straight/metrics.h5 <<'PY' || fail "metrics rows differ"
import sys
import h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
assert np.array_equal(a["step/step"][...], b["step/step"][...]), (a["step/step"][...], b["step/step"][...])
assert np.array_equal(a["epoch/epoch"][...], b["epoch/epoch"][...])
PY
[ -z "$(find run -name '*.tmp.*')" ] || fail "temporary files left: $(find run -name '*.tmp.*' | tr '\n' ' ')"
echo "1 passed, 0 failed"
