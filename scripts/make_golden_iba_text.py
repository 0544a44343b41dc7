#!/usr/bin/python3
"""Writes tests/fixtures/golden_iba_text.h5: a PyTorch reference for the
per-sample information bottleneck on the transformer text classifier, read
by tests/test_iba_text.c.

    /usr/bin/python3 scripts/make_golden_iba_text.py [--out tests/fixtures]

Written from the paper (Schulz et al., ICLR 2020, Sec. 3.1, "Restricting the
flow") as the text-IBA work applies it to BERT's hidden states, with the
choices ibx documents (docs/attribution.md, "Text"): the bottleneck sits on
the hidden states R [L, D] after encoder layer `layer` of the module of
scripts/make_golden_transformer.py (same parameter names as ibx);
lambda = sigmoid(alpha), alpha [L, D] initialised to 5 (no smoothing);
Z = lambda R + (1 - lambda) eps, eps = mu + sigma n with the fixture's noise
n [iterations, batch, L, D]; C = -1/2 [1 + ln (1-lambda)^2 - (lambda r~)^2 -
(1-lambda)^2], r~ = (R - mu)/sigma; loss = mean cross-entropy of the target
over the batch + beta * mean(C); torch.optim.Adam(lr 1) on alpha for 10
steps; the heatmap is C of the last step's forward summed over the hidden
dimensions, in bits, then min-max normalised. mu and sigma [D] are the
population mean and standard deviation of the hidden states after `layer`
at the non-padding positions of the fixture's `stats_ids` (floored at
0.01), which ibx estimates with Welford.

Cases: beta1e-5 (the text-IBA code's default) and beta10 (where the
capacity term matters). Everything in float64 from float32 draws.
"""
import argparse
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden_transformer import DT, TextTransformer, f32, put  # noqa: E402

CFG = dict(layers=3, d=8, heads=2, d_ff=12, max_len=9, vocab=13, classes=3)
LAYER = 2  # round(2/3 of 3 layers), ibx's default
ITER, BATCH, LR, INIT_ALPHA, STD_FLOOR = 10, 10, 1.0, 5.0, 0.01


def hidden_states(m, ids, lengths):
    """States after each layer (index 0: the embedding output)."""
    _, _, hidden = m(ids, lengths)
    return hidden


def forward_from(m, layer, z):
    h = z
    for l in m.encoder.layers[layer:]:
        h = l(h)
    return m.classifier(torch.tanh(m.pooler(h[:, 0])))


def iba(m, R, mu, sd, target, noise, beta):
    L, D = R.shape
    alpha = torch.full((L, D), INIT_ALPHA, dtype=DT, requires_grad=True)
    opt = torch.optim.Adam([alpha], lr=LR, betas=(0.9, 0.999), eps=1e-8)
    rn = (R - mu) / sd
    cap = None
    for step in range(ITER):
        opt.zero_grad()
        lam = torch.sigmoid(alpha)
        eps = mu + sd * noise[step]
        z = lam * R + (1 - lam) * eps
        logits = forward_from(m, LAYER, z)
        ce = F.cross_entropy(logits, torch.full((BATCH,), target))
        c = -0.5 * (1 + torch.log((1 - lam) ** 2) - (lam * rn) ** 2 - (1 - lam) ** 2)
        loss = ce + beta * c.mean()
        loss.backward()
        cap = c.detach()
        opt.step()
    bits = cap.sum(-1) / math.log(2.0)
    heat = (bits - bits.min()) / (bits.max() - bits.min())
    return bits, heat


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    args = ap.parse_args()
    g = torch.Generator().manual_seed(11)
    m = TextTransformer(**CFG).to(DT)
    m.train()  # dropout is 0; keeps PyTorch off its inference fast path
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(f32(g, *p.shape, scale=0.2, shift=1.0))
            else:
                p.copy_(f32(g, *p.shape, scale=0.5))
    V, T = CFG["vocab"], CFG["max_len"]
    stats_len = torch.tensor([9, 6, 4, 7, 9])
    stats_ids = torch.randint(5, V, (5, T), generator=g)
    stats_ids[:, 0] = 2
    for n, L in enumerate(stats_len.tolist()):
        stats_ids[n, L - 1] = 3
        stats_ids[n, L:] = 0
    with torch.no_grad():
        hs = hidden_states(m, stats_ids, stats_len)[LAYER]
        rows = torch.cat([hs[n, :L] for n, L in enumerate(stats_len.tolist())])
        mu = rows.mean(0)
        sd = rows.std(0, unbiased=False).clamp(min=STD_FLOOR)
    L = 7
    ids = torch.randint(5, V, (1, L), generator=g)
    ids[0, 0], ids[0, L - 1] = 2, 3
    with torch.no_grad():
        R = hidden_states(m, ids, torch.tensor([L]))[LAYER][0]
        logits = forward_from(m, LAYER, R[None])
    target = int(logits.argmax())
    noise = f32(g, ITER, BATCH, L, CFG["d"])
    path = os.path.normpath(os.path.join(args.out, "golden_iba_text.h5"))
    with h5py.File(path, "w") as f:
        f.attrs["torch_version"] = str(torch.__version__)
        for k, v in CFG.items():
            f.attrs[k] = v
        f.attrs["layer"] = LAYER
        f.attrs["target"] = target
        f.attrs["n_params"] = len(list(m.parameters()))
        for name, p in m.named_parameters():
            put(f, "params/" + name, p)
        f.create_dataset("stats_ids", data=stats_ids.numpy().astype(np.int32))
        f.create_dataset("stats_lengths", data=stats_len.numpy().astype(np.int32))
        put(f, "mean", mu)
        put(f, "std", sd)
        f.create_dataset("ids", data=ids[0].numpy().astype(np.int32))
        put(f, "noise", noise)
        for beta, name in ((1e-5, "beta1e-5"), (10.0, "beta10")):
            bits, heat = iba(m, R, mu, sd, target, noise, beta)
            grp = f.create_group(name)
            grp.attrs["beta"] = beta
            put(grp, "capacity_bits", bits)
            put(grp, "heat", heat)
    print("wrote", path)


if __name__ == "__main__":
    main()
