#!/usr/bin/python3
"""AIB Figure 4: top-1 error (%) against beta, K and Q (those the sweep
varies), mean and standard deviation over seeds.

    /usr/bin/python3 analysis/scripts/fig4_ablation.py --sweep results/fig4a_beta --out fig4a \
        [--keys model.beta,model.K,model.Q] [--error-set cifar10-test]

Writes OUT.png and OUT.pdf and prints the table behind them.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ibx_analysis as ia  # noqa: E402
from ibx_analysis import figures  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--sweep", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--keys", default="model.beta,model.K,model.Q")
ap.add_argument("--error-set", default=None, help="an /error/<name> (default: all)")
a = ap.parse_args()
keys = a.keys.split(",")
frame = ia.load_sweep(a.sweep)
for k in keys:
    if k in frame.columns:
        print(figures.ablation_table(frame, k, a.error_set)[0].to_string(index=False))
print("\n".join(figures.fig4_ablation(a.sweep, a.out, keys=keys, error_name=a.error_set)))
