"""A whole sweep (results/<sweep>/<run id>/...) as one tidy DataFrame, from
the same files `ibx collect` reads (src/sweep/collect_read.c): every run
directory with run.ini or config.ini (only those listed in runs.txt when
the sweep wrote one), and their results/error.h5 (top1_error, percent),
interpret.h5 (score, percent) and attribution.h5 (degradation_8,
degradation_14, bbox_ratio); a run without error.h5 contributes the
trainer's last test error from metrics.h5 as '<data.dataset>-test'
(source 'metrics').
"""
import math
import os

import pandas as pd

from .run import Run


def sweep_runs(sweep_dir):
    """The sweep's Run objects (sorted by directory) and the run directories
    left out because runs.txt does not list them."""
    listed = None
    rt = os.path.join(sweep_dir, "runs.txt")
    if os.path.exists(rt):
        with open(rt) as f:
            listed = {line.strip() for line in f if line.strip()}
    runs, left_out = [], []
    for name in sorted(os.listdir(sweep_dir)):
        d = os.path.join(sweep_dir, name)
        if name.startswith(".") or not any(os.path.exists(os.path.join(d, c))
                                           for c in ("run.ini", "config.ini")):
            continue
        if listed is not None and name not in listed:
            left_out.append(name)
            continue
        runs.append(Run(d))
    return runs, left_out


def varied_keys(runs):
    """'section.key' names whose value differs between runs (output.* excepted)."""
    keys = sorted({k for r in runs for k in r.flat_config})
    out = []
    for k in keys:
        if k.startswith("output."):
            continue
        if len({repr(r.flat_config.get(k)) for r in runs}) > 1:
            out.append(k)
    return out


def runs_frame(sweep_dir):
    """One row per run: run_id, run_dir and every config key ('section.key')."""
    runs, _ = sweep_runs(sweep_dir)
    return pd.DataFrame([{"run_id": r.id, "run_dir": r.dir, **r.flat_config} for r in runs])


def _values(run):
    rows = []
    err = run.errors()
    for _, e in err.iterrows():
        rows.append(("error", e["name"], "top1_error", e["top1_error"], "error.h5"))
    if err.empty and os.path.exists(os.path.join(run.dir, "metrics.h5")):
        ep = run.metrics_epochs()
        v = ep["test_error"].dropna() if "test_error" in ep else []
        if len(v):
            rows.append(("error", f"{run.config['data']['dataset']}-test", "top1_error",
                         float(v.iloc[-1]), "metrics.h5"))
    for _, s in run.interpret().iterrows():
        rows.append(("interpret", f"{s['modification']} {s['param']}", "score", s["score"],
                     "interpret.h5"))
    for _, a in run.attribution().iterrows():
        for m in ("degradation_8", "degradation_14", "bbox_ratio"):
            rows.append(("attribution", a["method"], m, a[m], "attribution.h5"))
    return rows


def load_sweep(sweep_dir, keys=None):
    """Tidy DataFrame of a sweep: one row per number, columns run_id,
    model.backbone, model.head, every varied config key (or `keys`), kind
    (error | interpret | attribution), name (evaluation set, modification
    and parameter, or attribution method), metric, value, source."""
    runs, _ = sweep_runs(sweep_dir)
    cols = list(keys) if keys is not None else varied_keys(runs)
    for k in ("model.head", "model.backbone"):
        if k not in cols:
            cols.insert(0, k)
    rows = []
    for r in runs:
        base = {"run_id": r.id, **{k: r.flat_config.get(k) for k in cols}}
        for kind, name, metric, value, source in _values(r):
            rows.append({**base, "kind": kind, "name": name, "metric": metric,
                         "value": float(value) if value is not None else math.nan,
                         "source": source})
    return pd.DataFrame(rows, columns=["run_id", *cols, "kind", "name", "metric", "value",
                                       "source"])


def seed_stats(frame, by, value="value"):
    """Mean, sample standard deviation and count over seeds (train.seed) for
    each group of `by` (as ibx collect's mean +- std cells)."""
    g = frame.groupby(by, dropna=False)[value]
    return g.agg(["mean", "std", "count"]).reset_index()
