#!/usr/bin/python3
"""Writes tests/fixtures/golden_iba.h5: a PyTorch per-sample bottleneck
(IBA, Schulz et al. ICLR 2020), written here from the paper, on a small
VGG-16-BN (width 1/32, plain head, 1x32x32 input, evaluation-mode batch
norm), read by tests/test_iba_golden.c.

    /usr/bin/python3 scripts/make_golden_iba.py [--out tests/fixtures]
    /usr/bin/python3 scripts/make_golden_iba.py --bench [--width 0.25] [--channels 3] [--reps 5]
      (float32 timing of the same bottleneck for bench/iba_vs_torch.sh)

Needs Debian's python3-torch and python3-h5py.

The bottleneck (docs/attribution.md): at layer L (the ReLU output named
features.<L>), R -> Z = lam * R + (1 - lam) * (mu + std * n), n ~ N(0,1)
fixed draws [iterations, batch, C, h, w] stored in the fixture;
lam = blur(sigmoid(alpha)) with a 5x5 Gaussian (sigma 1, separable weights
normalised to 1, reflection padding) per channel; alpha starts at 5;
capacity = -0.5 (1 + log((1-lam)^2) - (lam r~)^2 - (1-lam)^2),
r~ = (R - mu) / std; loss = mean CE(target) over the batch + beta *
capacity.mean(); torch.optim.Adam(lr=1) for `iterations` steps; the heatmap
is the last forward's capacity summed over channels / ln 2, bilinearly
resized to 32x32 (align_corners=False).

Groups: /iba_<case> with attributes width, classes, layer, layer_index,
beta, iterations, batch, lr, init_alpha, target; datasets x, params/<name>,
buffers/<name>, mean, std, noise, capacity [h*w] (bits), heat [32*32];
/stats: inputs xs [20,1,32,32] and the population mean/std (floor 0.01) of
layer features.22 over them (Welford check).

Like make_golden.py: draws are float32, the reference runs in float64 from
those exact values and is rounded to float32 once.
"""
import argparse
import math
import os
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

DT = torch.float64
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(g, *shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale + shift).to(DT)


def rand(g, *shape, lo=0.0, hi=1.0):
    return (torch.rand(*shape, generator=g, dtype=torch.float32) * (hi - lo) + lo).to(DT)


def layers(width):
    """VGG-16-BN as (index, kind, channels) with torchvision's numbering."""
    out, li = [], 0
    for v in CFG:
        if v == "M":
            out.append((li, "pool", 0))
            li += 1
        else:
            c = max(1, int(v * width))
            out += [(li, "conv", c), (li + 1, "bn", c), (li + 2, "relu", c)]
            li += 3
    return out  # the last pool is features.43; the classifier is features.45


def make_params(g, cin, width, classes):
    P, B = {}, {}
    for li, kind, c in layers(width):
        if kind == "conv":
            P[f"features.{li}.weight"] = randn(g, c, cin, 3, 3, scale=math.sqrt(2.0 / (cin * 9)))
            P[f"features.{li}.bias"] = randn(g, c, scale=0.1)
            cin = c
        elif kind == "bn":
            P[f"features.{li}.weight"] = rand(g, c, lo=0.6, hi=1.4)
            P[f"features.{li}.bias"] = randn(g, c, scale=0.3)
            B[f"features.{li}.running_mean"] = randn(g, c, scale=0.2)
            B[f"features.{li}.running_var"] = rand(g, c, lo=0.5, hi=1.5)
    P["features.45.weight"] = randn(g, classes, cin, scale=1.0 / math.sqrt(cin))
    P["features.45.bias"] = randn(g, classes, scale=0.1)
    return P, B


def forward(P, B, x, width, hook_at=None, hook=None):
    h = x
    for li, kind, c in layers(width):
        if kind == "conv":
            h = F.conv2d(h, P[f"features.{li}.weight"], P[f"features.{li}.bias"], padding=1)
        elif kind == "bn":
            h = F.batch_norm(h, B[f"features.{li}.running_mean"], B[f"features.{li}.running_var"],
                             P[f"features.{li}.weight"], P[f"features.{li}.bias"], False, 0.1, 1e-5)
        elif kind == "relu":
            h = F.relu(h)
        else:
            h = F.max_pool2d(h, 2, 2)
        if li == hook_at:
            h = hook(h)
    return F.linear(h.flatten(1), P["features.45.weight"], P["features.45.bias"])


def gauss_blur(lam, kernel=5, sigma=1.0):
    c = lam.shape[1]
    d = torch.arange(kernel, dtype=lam.dtype) - (kernel - 1) / 2.0
    g1 = torch.exp(-d * d / (2 * sigma * sigma))
    g1 = g1 / g1.sum()
    k2 = torch.outer(g1, g1).expand(c, 1, kernel, kernel)
    p = kernel // 2
    return F.conv2d(F.pad(lam, (p, p, p, p), mode="reflect"), k2, groups=c)


def capacity(lam, r_norm):
    return -0.5 * (1 + torch.log((1 - lam) ** 2) - (lam * r_norm) ** 2 - (1 - lam) ** 2)


def iba(P, B, x, width, layer, mean, std, noise, target, beta, iterations, batch, lr, init_alpha,
        out_hw):
    """Per-sample bottleneck; returns (capacity map in bits [h,w], heat [H,W])."""
    shape = mean.shape
    alpha = torch.full((1,) + tuple(shape), init_alpha, dtype=x.dtype, requires_grad=True)
    opt = torch.optim.Adam([alpha], lr=lr)
    xb = x.expand(batch, *x.shape[1:])
    tgt = torch.full((batch,), target, dtype=torch.long)
    last = {}
    for step in range(iterations):
        lam = gauss_blur(torch.sigmoid(alpha))
        eps = mean + std * noise[step]

        def hook(r):
            last["cap"] = capacity(lam, (r[:1] - mean) / std)
            return lam * r + (1 - lam) * eps

        opt.zero_grad()
        logits = forward(P, B, xb, width, layer, hook)
        loss = F.cross_entropy(logits, tgt) + beta * last["cap"].mean()
        loss.backward()
        opt.step()
    cap = last["cap"].detach().sum(1, keepdim=True) / math.log(2.0)
    heat = F.interpolate(cap, size=out_hw, mode="bilinear", align_corners=False)
    return cap[0, 0], heat[0, 0]


def f32(t):
    return t.detach().to(torch.float32).numpy()


def iba_case(f, name, seed, layer, beta, width=1.0 / 32, classes=10, iterations=10, batch=10):
    g = gen(seed)
    P, B = make_params(g, 1, width, classes)
    x = rand(g, 1, 1, 32, 32, lo=-1.0, hi=2.0)
    with torch.no_grad():
        feats = {}
        forward(P, B, x, width, layer, lambda r: feats.setdefault("r", r))
        r = feats["r"][0]
    # plausible statistics: around the sample's own activations
    mean = (r.to(torch.float32).to(DT) * 0.5 + randn(g, *r.shape, scale=0.1)).to(torch.float32).to(DT)
    std = rand(g, *r.shape, lo=0.2, hi=1.0)
    noise = randn(g, iterations, batch, *r.shape)
    with torch.no_grad():
        target = int(forward(P, B, x, width).argmax())
    cap, heat = iba(P, B, x, width, layer, mean, std, noise, target, beta, iterations, batch,
                    1.0, 5.0, (32, 32))
    grp = f.create_group(name)
    for k, v in dict(width=width, classes=classes, layer_index=layer, beta=beta,
                     iterations=iterations, batch=batch, lr=1.0, init_alpha=5.0,
                     target=target).items():
        grp.attrs[k] = v
    grp.attrs["layer"] = f"features.{layer}"
    grp.attrs["description"] = "per-sample IBA on a width-1/32 VGG-16-BN (eval-mode BN)"
    grp["x"] = f32(x)
    for k, v in P.items():
        grp[f"params/{k}"] = f32(v)
    for k, v in B.items():
        grp[f"buffers/{k}"] = f32(v)
    grp["mean"], grp["std"] = f32(mean), f32(std)
    grp["noise"] = f32(noise).reshape(iterations, batch, -1)
    grp["capacity"], grp["heat"] = f32(cap.flatten()), f32(heat.flatten())
    return P, B


def stats_case(f, P, B, width, layer=22, n=20):
    g = gen(77)
    xs = rand(g, n, 1, 32, 32, lo=-1.0, hi=2.0)
    feats = {}
    with torch.no_grad():
        forward(P, B, xs, width, layer, lambda r: feats.setdefault("r", r))
    r = feats["r"]
    mean = r.mean(0)
    std = r.var(0, unbiased=False).sqrt().clamp(min=0.01)
    grp = f.create_group("stats")
    grp.attrs["layer"] = f"features.{layer}"
    grp.attrs["description"] = "population mean/std (floor 0.01) of iba_b3's layer over xs"
    grp["xs"], grp["mean"], grp["std"] = f32(xs), f32(mean.flatten()), f32(std.flatten())


def bench(width, reps, layer, channels):
    """Seconds per image of per-sample IBA (10 x 10) in float32, as ibx runs it."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    g = gen(5)
    P, B = make_params(g, channels, width, 10)
    P = {k: v.float() for k, v in P.items()}
    B = {k: v.float() for k, v in B.items()}
    x = rand(g, 1, channels, 32, 32).float()
    feats = {}
    with torch.no_grad():
        forward(P, B, x, width, layer, lambda r: feats.setdefault("r", r))
    shape = feats["r"].shape[1:]
    mean, std = torch.zeros(shape), torch.ones(shape)
    times, rep = [], -1
    while rep < reps or sum(times) < 10.0:  # steady state: >= reps images and >= 10 s
        rep += 1
        t0 = time.perf_counter()
        noise = torch.randn(10, 10, *shape)  # drawn per image, as ibx does
        iba(P, B, x, width, layer, mean, std, noise, 0, 10.0, 10, 10, 1.0, 5.0, (32, 32))
        if rep:
            times.append(time.perf_counter() - t0)
    times.sort()
    print(f"pytorch iba width={width} channels={channels} layer=features.{layer} "
          f"threads={torch.get_num_threads()} median_ms={times[len(times) // 2] * 1e3:.1f} "
          f"min_ms={times[0] * 1e3:.1f} images={len(times)} seconds={sum(times):.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--layer", type=int, default=22)
    ap.add_argument("--channels", type=int, default=3)
    a = ap.parse_args()
    if a.bench:
        bench(a.width, a.reps, a.layer, a.channels)
        return
    path = os.path.join(a.out, "golden_iba.h5")
    with h5py.File(path, "w") as f:
        P, B = iba_case(f, "iba_b3", 11, 22, 10.0)
        iba_case(f, "iba_b4_beta100", 12, 32, 100.0)
        stats_case(f, P, B, 1.0 / 32)
    print("wrote", path)


if __name__ == "__main__":
    main()
