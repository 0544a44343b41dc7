#!/usr/bin/python3
"""Markdown tables of `ibx eval interpret` / `ibx eval error` results of
several runs, in the layout of the AIB paper's Table 2 (docs/results.md).

    /usr/bin/python3 scripts/interpret_table.py RUN_DIR [RUN_DIR ...]

Reads RUN_DIR/results/interpret.h5 and error.h5 (docs/checkpoint-format.md,
"Results files"). The score at other thresholds comes from the stored
cosines: 100 * mean(cosine >= t) over the prediction-consistent samples.
"""
import os
import sys

import h5py
import numpy as np

SPATIAL = [("color_block", "colour block"), ("patch", "patch")]
WINDOWS = [4, 8, 12, 16]
FREQ = [("high_pass", "r4", "r >= 4"), ("low_pass", "r12", "r < 12")]


def head_of(run):
    with h5py.File(os.path.join(run, "results", "interpret.h5"), "r") as f:
        ckpt = f["interpret/color_block/p4"].attrs["checkpoint"]
    with h5py.File(ckpt, "r") as c:
        for line in c.attrs["config"].splitlines():
            if line.replace(" ", "").startswith("head="):
                return line.split("=", 1)[1].strip()
    return os.path.basename(run)


def main(runs):
    names = [head_of(r) for r in runs]
    files = [h5py.File(os.path.join(r, "results", "interpret.h5"), "r") for r in runs]
    print("| model | top-1 error (%) | modification | " +
          " | ".join("p=%d" % p for p in WINDOWS) + " | frequency | score |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in WINDOWS) + " | --- | --- |")
    for name, run, f in zip(names, runs, files):
        err = "-"
        path = os.path.join(run, "results", "error.h5")
        if os.path.exists(path):
            with h5py.File(path, "r") as e:
                if "error/fashion-mnist-test" in e:
                    err = "%.2f" % e["error/fashion-mnist-test"].attrs["top1_error"]
        for row, ((mod, label), (fk, fr, flabel)) in enumerate(zip(SPATIAL, FREQ)):
            cells = ["%.2f" % f["interpret/%s/p%d" % (mod, p)].attrs["score"] for p in WINDOWS]
            freq = "%.2f" % f["interpret/%s/%s" % (fk, fr)].attrs["score"]
            print("| %s | %s | %s | %s | %s | %s |" % (name if row == 0 else "",
                  err if row == 0 else "", label, " | ".join(cells), flabel, freq))
    print()
    print("prediction-consistent samples of %d:" % files[0]["interpret/color_block/p4"].attrs["n_total"])
    print()
    print("| model | " + " | ".join("%s p=%d" % (m, p) for m, _ in SPATIAL for p in WINDOWS) +
          " | high r4 | low r12 |")
    print("| --- | " + " | ".join("---" for _ in range(10)) + " |")
    groups = ["interpret/%s/p%d" % (m, p) for m, _ in SPATIAL for p in WINDOWS] + \
             ["interpret/high_pass/r4", "interpret/low_pass/r12"]
    for name, f in zip(names, files):
        print("| %s | %s |" % (name, " | ".join(str(f[g].attrs["n_prediction_consistent"])
                                                for g in groups)))
    print()
    print("threshold sensitivity (colour block p=8 / patch p=8 / high r4 / low r12):")
    print()
    print("| model | t = 0.8 | t = 0.9 | t = 0.95 |")
    print("| --- | --- | --- | --- |")
    for name, f in zip(names, files):
        cells = []
        for t in (0.8, 0.9, 0.95):
            vals = []
            for g in ("interpret/color_block/p8", "interpret/patch/p8", "interpret/high_pass/r4",
                      "interpret/low_pass/r12"):
                c = f[g]["cosine"][...]
                vals.append("%.1f" % (100.0 * np.mean(c >= t)) if len(c) else "-")
            cells.append(" / ".join(vals))
        print("| %s | %s |" % (name, " | ".join(cells)))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
