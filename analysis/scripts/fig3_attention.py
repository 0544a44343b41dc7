#!/usr/bin/python3
"""AIB Figure 3: attention maps of a sweep's (or given runs') models.

    /usr/bin/python3 analysis/scripts/fig3_attention.py --sweep results/fmnist_demo \
        --out fig3 [--n 6] [--seed 0] [--map 0]
    /usr/bin/python3 analysis/scripts/fig3_attention.py --run RUN_DIR [--run ...] --out fig3

Writes fig3.png and fig3.pdf.  Runs whose head has no attention map are left out.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ibx_analysis as ia  # noqa: E402
from ibx_analysis import figures  # noqa: E402

ATTENTION_HEADS = ("att2", "att3", "pan", "abn", "aib", "aib-qt")

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--sweep")
ap.add_argument("--run", action="append", default=[])
ap.add_argument("--out", required=True)
ap.add_argument("--n", type=int, default=6)
ap.add_argument("--seed", type=int, default=0, help="runs with this train.seed (sweeps)")
ap.add_argument("--map", type=int, default=0)
a = ap.parse_args()
runs = [ia.load_run(r) for r in a.run]
if a.sweep:
    runs += [r for r in ia.sweep_runs(a.sweep)[0] if r.flat_config.get("train.seed") == a.seed]
runs = [r for r in runs if r.config["model"]["head"] in ATTENTION_HEADS]
if not runs:
    sys.exit("fig3_attention: no run with an attention head")
print("\n".join(figures.fig3_attention(runs, a.out, n=a.n, map_index=a.map)))
