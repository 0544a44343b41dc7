#!/usr/bin/python3
"""IBA degradation curves (MoRF, LeRF) of every attribution method in a
sweep's results/attribution.h5 files, averaged over runs.

    /usr/bin/python3 analysis/scripts/iba_degradation.py --sweep results/fmnist_iba_table1 --out iba

Writes OUT.png and OUT.pdf.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ibx_analysis import figures  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--sweep", required=True)
ap.add_argument("--out", required=True)
a = ap.parse_args()
print("\n".join(figures.iba_degradation(a.sweep, a.out)))
