#!/usr/bin/python3
"""Writes tests/fixtures/golden_fourier.h5: the frequency filters of the AIB
interpretability score computed with torch.fft, for test_eval_fourier.c.

    /usr/bin/python3 scripts/make_golden_fourier.py [--out tests/fixtures]

The construction is Wang et al. (CVPR 2020, "High-frequency component helps
explain the generalization of CNNs"), which the AIB paper cites for its
radius: per channel, fftshift(fft2(x)); a mask that is 1 where the distance
of the (shifted) bin from the centre (h // 2, w // 2) is < r; the low-pass
image is real(ifft2(ifftshift(F * mask))), the high-pass one uses 1 - mask.
Computed in float64, stored as float32.

Groups /<case>: x [c,h,w], low [c,h,w], high [c,h,w]; attribute r.
"""
import argparse
import os

import h5py
import numpy as np
import torch


def filtered(x, r):
    c, h, w = x.shape
    yy = torch.arange(h, dtype=torch.float64).view(h, 1) - h // 2
    xx = torch.arange(w, dtype=torch.float64).view(1, w) - w // 2
    mask = ((yy * yy + xx * xx).sqrt() < r).to(torch.float64)
    spec = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
    back = lambda m: torch.fft.ifft2(torch.fft.ifftshift(spec * m, dim=(-2, -1))).real
    return back(mask), back(1.0 - mask)


CASES = [  # name, shape, r
    ("rgb32_r4", (3, 32, 32), 4.0),
    ("rgb32_r12", (3, 32, 32), 12.0),
    ("grey28_r4", (1, 28, 28), 4.0),
    ("grey28_r12", (1, 28, 28), 12.0),
    ("odd7x10_r2_5", (3, 7, 10), 2.5),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    out = os.path.join(ap.parse_args().out, "golden_fourier.h5")
    g = torch.Generator().manual_seed(20201)
    with h5py.File(out, "w") as f:
        for name, shape, r in CASES:
            x = torch.rand(shape, generator=g, dtype=torch.float64).float().double()  # as stored
            low, high = filtered(x, r)
            grp = f.create_group(name)
            grp.attrs["r"] = r
            for key, v in (("x", x), ("low", low), ("high", high)):
                grp.create_dataset(key, data=v.numpy().astype(np.float32))
    print("wrote", out)


if __name__ == "__main__":
    main()
