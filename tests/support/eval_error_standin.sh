#!/usr/bin/env bash
# Test stand-in for the `eval error` stage until `ibx eval error` is on main:
# writes RUN_DIR/results/error.h5 in the documented layout (docs/
# checkpoint-format.md, "Results files") from the trainer's last test error
# in metrics.h5, atomically (temp file, rename). Fails on purpose when the
# run id equals $IBX_TEST_FAIL_RUN (to test --retry-failed).
#   eval_error_standin.sh RUN_DIR
set -euo pipefail
run_dir=$1
[ "${IBX_TEST_FAIL_RUN:-}" != "$(basename "$run_dir")" ] || { echo "failing on purpose" >&2; exit 1; }
mkdir -p "$run_dir/results"
/usr/bin/python3 - "$run_dir" <<'PY'
import configparser, glob, os, sys
import h5py
run = sys.argv[1]
cfg = configparser.ConfigParser()
cfg.read(os.path.join(run, "config.ini"))
with h5py.File(os.path.join(run, "metrics.h5"), "r", swmr=True) as m:
    # percent; files without error_unit (older ibx) hold fractions
    err = float(m["epoch/test_error"][-1]) * (1.0 if "error_unit" in m.attrs else 100.0)
ds = cfg["data"]["dataset"]
n = int(cfg["data"]["test_limit"]) or 10000
tmp = os.path.join(run, "results", "error.h5.tmp.%d" % os.getpid())
with h5py.File(tmp, "w") as f:
    g = f.create_group("error/%s-test" % ds)
    g.attrs["top1_error"] = err
    g.attrs["n_samples"] = n
    g.attrs["n_correct"] = n - round(err * n / 100)
    g.attrs["dataset"] = ds
    g.attrs["split"] = "test"
    g.attrs["checkpoint"] = sorted(glob.glob(os.path.join(run, "ckpt-*.h5")))[-1]
os.replace(tmp, os.path.join(run, "results", "error.h5"))
PY
