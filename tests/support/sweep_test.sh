# Shared by the sweep CLI tests (tests/cli_sweep_local.sh, cli_sweep_slurm.sh):
# source it after setting $here (the tests/ folder). Defines:
#   sweep_test_set TRAIN_LIMIT EPOCHS [EXTRA_LINES]
#       the [set] block of a tiny Fashion-MNIST sweep (width 1/8, batch 64)
#   write_tiny_sweep FILE RESULTS GRID SLURM TRAIN_FLAGS COLLECT_EXTRA
#       the sweep "tiny" both tests run: train, an eval stage per run (the
#       stand-in that writes results/error.h5), collect per sweep after eval.
#       GRID and SLURM are the bodies of [grid] and [slurm]; TRAIN_FLAGS is
#       appended to the train and resume commands; COLLECT_EXTRA (lines,
#       each ending in a newline) goes into [stage collect].
#   check_table_equals_error_files SWEEP_DIR NRUNS NROWS RUNS_PER_ROW
#       collect's tables/aib_table1.csv holds exactly the mean and std of the
#       runs' results/error.h5 numbers, every run in exactly one row.

sweep_test_set() {
  printf '[set]\ndata.train_limit = %s\ndata.test_limit = 200\ntrain.epochs = %s\n' "$1" "$2"
  printf 'train.warmup_epochs = 0\ntrain.batch_size = 64\n'
  [ -z "${3:-}" ] || printf '%s\n' "$3"
  printf 'model.width = 0.125\n'
}

write_tiny_sweep() {
  local file=$1 results=$2 grid=$3 slurm=$4 train_flags=$5 collect_extra=$6
  cat > "$file" <<INI
[sweep]
name = tiny
base = $here/../jobs/fmnist_plain.ini
results = $results
$(sweep_test_set 256 1)
[grid]
$grid
[slurm]
$slurm
[stage train]
command = train {config}$train_flags
resume = train --resume {run_dir}$train_flags
outputs = metrics.h5
[stage eval]
after = train
tasks = 1
exec = bash $here/support/eval_error_standin.sh {run_dir}
outputs = results/error.h5
[stage collect]
per = sweep
after = eval
${collect_extra}command = collect {sweep_dir}
INI
}

check_table_equals_error_files() {
  /usr/bin/python3 - "$@" <<'PY'
import csv, glob, sys, h5py, statistics
d, nruns, nrows, per_row = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runs = {}
for f in glob.glob(d + "/*/results/error.h5"):
    with h5py.File(f, "r") as h:
        runs[f.split("/")[-3]] = h["error/fashion-mnist-test"].attrs["top1_error"]
assert len(runs) == nruns, runs
rows = list(csv.DictReader(open(d + "/tables/aib_table1.csv")))
assert len(rows) == nrows, rows
seen = []
for r in rows:
    ids = r["runs"].split()
    assert len(ids) == per_row and int(r["n"]) == per_row, r
    xs = [runs[i] for i in ids]
    assert abs(float(r["mean"]) - statistics.mean(xs)) < 1e-9, (r, xs)
    assert abs(float(r["std"]) - statistics.stdev(xs)) < 1e-9, (r, xs)
    seen += ids
assert sorted(seen) == sorted(runs), (seen, runs)
print("collect: table = error files:", [(r["model"], r["mean"], r["runs"]) for r in rows])
PY
}
