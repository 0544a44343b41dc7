#!/usr/bin/python3
"""Writes tests/fixtures/golden_models.h5: PyTorch references for the model
heads aib, aib-qt, dvib and att3 on a small VGG-16 (width 1/32, 1x32x32
inputs), read by tests/test_model_golden.c.

    /usr/bin/python3 scripts/make_golden_models.py [--out tests/fixtures]
    /usr/bin/python3 scripts/make_golden_models.py --counts

Needs Debian's python3-torch and python3-h5py. --counts prints PyTorch's
parameter counts of VGG-16-BN (10 classes, 3x32x32) and WRN-28-10 / WRN-16-4
(what tests/test_model_api.c asserts) and exits.

The modules are written here from the papers (Lai et al. IJCAI 2021 Eqs.
8-10; Alemi et al. ICLR 2017; Jetley et al. ICLR 2018) in functional form,
with the parameter names ibx uses, following docs/models.md:

  backbone  VGG-16-BN: conv3x3(+bias)-BN-ReLU blocks 2,2,3,3,3 with max-pools;
            names as torchvision's vgg16_bn ("features.<i>."); batch norm in
            training mode (eps 1e-5, momentum 0.1).
  aib       f = block-3 output (before its pool); mu_a = sigmoid(conv3x3(f));
            logvar_a = conv3x3(mu_a) - 10; a = mu_a + eps_a exp(logvar_a/2);
            g = f (1 + a); blocks 4, 5 on g; e = linear(flatten(maxpool(.)));
            mu_z = e[:, :K], logvar_z = e[:, K:] - 10; z = mu_z + eps_z
            exp(logvar_z/2); logits = linear(relu(linear(z)));
            loss = CE + beta KL(N(mu_z, var_z) || N(0, I)).
  aib-qt    aib with a_q = nearest of Q anchors (straight-through:
            a + (a_q - a).detach()) modulating f, plus
            vq = lambda_q mean((a.detach() - a_q)^2) and
            commit = lambda_c mean((a - a_q.detach())^2).
  dvib      the same encoder/bottleneck/decoder on the backbone's pooled
            output (no attention).
  att3      Learn To Pay Attention (VGG-att3)-concat-pc: g = dense(flatten(
            maxpool(block 5))); local features of blocks 3, 4, 5 (block 3
            projected by a 1x1 conv to g's width); c = <u, l + g>; a =
            softmax over positions; g_i = sum_p a_p l_p; logits =
            linear(concat g_i).

Every group holds: attributes (configuration), x, labels, eps_attention /
eps_z (the reparameterisation noise, N(0,1) float32), params/<name>,
buffers_initial/<name> and buffers/<name> (batch-norm running statistics
before and after the forward), logits, loss/{total,ce,kl,vq,commit},
intermediates (named as ibx_model_test_tensor), grads/<name> (d total /
d parameter) and dx (d total / d x).

Conventions (as make_golden.py): inputs and parameters are float32 draws;
the references are computed in float64 from those exact values and rounded
to float32 once.
"""
import argparse
import math
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

DT = torch.float64
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
LOGVAR_SHIFT = -10.0


def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(g, *shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale + shift).to(DT)


def rand(g, *shape, lo=0.0, hi=1.0):
    return (torch.rand(*shape, generator=g, dtype=torch.float32) * (hi - lo) + lo).to(DT)


def f32(t):
    return t.detach().to(torch.float32).numpy()


# ---- parameters --------------------------------------------------------------

class Net:
    """Parameters (float64 leaves holding float32 values) and BN buffers."""

    def __init__(self, seed):
        self.g = gen(seed)
        self.P = {}
        self.B = {}

    def conv(self, name, cout, cin, k, bias=True, bias_shift=0.0):
        fan = cin * k * k
        self.P[name + ".weight"] = randn(self.g, cout, cin, k, k, scale=1.0 / math.sqrt(fan))
        if bias:
            self.P[name + ".bias"] = randn(self.g, cout, scale=0.1, shift=bias_shift)

    def bn(self, name, c):
        self.P[name + ".weight"] = rand(self.g, c, lo=0.6, hi=1.4)
        self.P[name + ".bias"] = randn(self.g, c, scale=0.3)
        self.B[name + ".running_mean"] = randn(self.g, c, scale=0.2)
        self.B[name + ".running_var"] = rand(self.g, c, lo=0.5, hi=1.5)

    def linear(self, name, out, inp, bias_shift=None):
        self.P[name + ".weight"] = randn(self.g, out, inp, scale=1.0 / math.sqrt(inp))
        b = randn(self.g, out, scale=0.1)
        if bias_shift is not None:
            b = b + bias_shift
        self.P[name + ".bias"] = b.to(torch.float32).to(DT)

    def leaves(self):
        for k in self.P:
            self.P[k] = self.P[k].clone().requires_grad_(True)
        self.B0 = {k: v.clone() for k, v in self.B.items()}


def widths(width):
    return [v if v == "M" else max(1, int(v * width)) for v in CFG]


def declare_vgg(net, cin, width):
    li = 0
    for v in widths(width):
        if v == "M":
            li += 1
            continue
        net.conv(f"features.{li}", v, cin, 3)
        net.bn(f"features.{li + 1}", v)
        cin = v
        li += 3


def vgg_stage(net, s, h, width):
    """Stage s (0..4): [max-pool of block s] + block s+1's conv-BN-ReLUs."""
    if s > 0:
        h = F.max_pool2d(h, 2, 2)
    li, stage = 0, 0
    for v in widths(width):
        if v == "M":
            stage += 1
            li += 1
            if stage > s:
                break
            continue
        if stage == s:
            P, B = net.P, net.B
            h = F.conv2d(h, P[f"features.{li}.weight"], P[f"features.{li}.bias"], padding=1)
            h = F.batch_norm(h, B[f"features.{li + 1}.running_mean"],
                             B[f"features.{li + 1}.running_var"], P[f"features.{li + 1}.weight"],
                             P[f"features.{li + 1}.bias"], training=True, momentum=0.1, eps=1e-5)
            h = F.relu(h)
        li += 3
    return h


def stage_channels(width):
    out, c = [], None
    for v in widths(width):
        if v == "M":
            out.append(c)
        else:
            c = v
    return out


def vib(net, e, K, eps_z, beta):
    mu = e[:, :K]
    lv = e[:, K:] + LOGVAR_SHIFT
    z = mu + eps_z * torch.exp(0.5 * lv)
    h = F.relu(F.linear(z, net.P["decoder.0.weight"], net.P["decoder.0.bias"]))
    logits = F.linear(h, net.P["decoder.2.weight"], net.P["decoder.2.bias"])
    kl = (0.5 * (mu * mu + torch.exp(lv) - 1.0 - lv)).sum(1).mean()
    return logits, beta * kl, {"z_mean": mu, "z_logvar": lv, "z": z}


def encoder_tail(net, h):
    h = F.max_pool2d(h, 2, 2).flatten(1)
    return F.linear(h, net.P["encoder.2.weight"], net.P["encoder.2.bias"])


# ---- heads -------------------------------------------------------------------

def build(head, seed, c):
    net = Net(seed)
    declare_vgg(net, c["in_channels"], c["width"])
    chans = stage_channels(c["width"])
    K, classes = c["K"], c["classes"]
    C5 = chans[4]
    flat = C5  # 32x32 input: 1x1 after the fifth pool
    if head in ("aib", "aib-qt"):
        Cf = chans[c["attention_layer"] - 1]
        net.conv("attention.mu.0", 1, Cf, 3)
        # logvar bias ~ +8: logvar_a ~ -2, so the noise path matters
        net.conv("attention.logvar.0", 1, 1, 3, bias_shift=8.0)
    if head in ("aib", "aib-qt", "dvib"):
        shift = torch.cat([torch.zeros(K), torch.full((K,), 9.0)]).to(DT)
        net.linear("encoder.2", 2 * K, flat, bias_shift=shift)
        net.linear("decoder.0", K, K)
        net.linear("decoder.2", classes, K)
    if head == "aib-qt":
        Q = c["Q"]
        anchors = torch.linspace(0.0, 1.0, Q, dtype=DT) + randn(net.g, Q, scale=0.02)
        net.P["quantiser.anchors"] = anchors.to(torch.float32).to(DT)
    if head == "att3":
        net.linear("dense.2", C5, flat)
        for layer in (3, 4, 5):
            if chans[layer - 1] != C5:
                net.conv(f"projector{layer}.0", C5, chans[layer - 1], 1, bias=False)
            net.P[f"attention{layer}.weight"] = randn(net.g, 1, C5, 1, 1,
                                                      scale=1.0 / math.sqrt(C5))
        net.linear("classify.0", classes, 3 * C5)
    net.leaves()
    return net


def forward(head, net, c, x, labels, eps_a, eps_z):
    K, beta = c["K"], c["beta"]
    inter = {}
    loss = {"kl": torch.zeros((), dtype=DT), "vq": torch.zeros((), dtype=DT),
            "commit": torch.zeros((), dtype=DT)}
    P = net.P
    if head in ("aib", "aib-qt"):
        s = c["attention_layer"] - 1
        h = x
        for k in range(s + 1):
            h = vgg_stage(net, k, h, c["width"])
        f = h
        mu_a = torch.sigmoid(F.conv2d(f, P["attention.mu.0.weight"], P["attention.mu.0.bias"],
                                      padding=1))
        lv_a = F.conv2d(mu_a, P["attention.logvar.0.weight"], P["attention.logvar.0.bias"],
                        padding=1) + LOGVAR_SHIFT
        a = mu_a + eps_a * torch.exp(0.5 * lv_a)
        use = a
        inter.update({"attention_mean": mu_a, "attention_logvar": lv_a, "attention": a})
        if head == "aib-qt":
            v = P["quantiser.anchors"]
            d = (a.detach().unsqueeze(-1) - v.detach()).abs()
            idx = d.argmin(-1)
            srt = torch.sort(d, -1).values
            margin = (srt[..., 1] - srt[..., 0]).min().item()
            assert margin > 1e-4, f"a score is within {margin} of a quantisation boundary"
            aq = v[idx]
            use = a + (aq - a).detach()
            loss["vq"] = c["lambda_q"] * ((a.detach() - aq) ** 2).mean()
            loss["commit"] = c["lambda_c"] * ((a - aq.detach()) ** 2).mean()
            inter["attention_q"] = aq
        g = f * (1.0 + use)
        inter["g"] = g
        h = g
        for k in range(s + 1, 5):
            h = vgg_stage(net, k, h, c["width"])
        e = encoder_tail(net, h)
        logits, loss["kl"], zi = vib(net, e, K, eps_z, beta)
        inter.update(zi)
    elif head == "dvib":
        h = x
        for k in range(5):
            h = vgg_stage(net, k, h, c["width"])
        logits, loss["kl"], zi = vib(net, encoder_tail(net, h), K, eps_z, beta)
        inter.update(zi)
    elif head == "att3":
        outs, h = [], x
        for k in range(5):
            h = vgg_stage(net, k, h, c["width"])
            outs.append(h)
        gl = F.linear(F.max_pool2d(h, 2, 2).flatten(1), P["dense.2.weight"], P["dense.2.bias"])
        glimpses = []
        for i, layer in enumerate((3, 4, 5)):
            l = outs[layer - 1]
            if f"projector{layer}.0.weight" in P:
                l = F.conv2d(l, P[f"projector{layer}.0.weight"])
            N, C, H, W = l.shape
            comp = F.conv2d(l + gl[:, :, None, None], P[f"attention{layer}.weight"])
            att = F.softmax(comp.view(N, -1), dim=1)
            glimpses.append((att.view(N, 1, -1) * l.view(N, C, -1)).sum(2))
            inter[f"compat{i}"] = comp
        logits = F.linear(torch.cat(glimpses, 1), P["classify.0.weight"], P["classify.0.bias"])
        inter["global"] = gl
    loss["ce"] = F.cross_entropy(logits, labels)
    loss["total"] = loss["ce"] + loss["kl"] + loss["vq"] + loss["commit"]
    return logits, loss, inter


def put(grp, name, data):
    data = np.asarray(data)
    if data.size > 8192:  # only the few large arrays (chunking costs the small ones)
        grp.create_dataset(name, data=data, compression="gzip", shuffle=True)
    else:
        grp.create_dataset(name, data=data)


def case(f, head, seed, c):
    net = build(head, seed, c)
    g = gen(seed + 1000)
    N = c["batch"]
    x = randn(g, N, c["in_channels"], 32, 32).requires_grad_(True)
    labels = torch.randint(0, c["classes"], (N,), generator=g)
    s = c["attention_layer"] - 1
    hw = 32 >> s  # block s+1's resolution before its pool
    eps_a = randn(g, N, 1, hw, hw)
    eps_z = randn(g, N, c["K"])
    logits, loss, inter = forward(head, net, c, x, labels, eps_a, eps_z)
    loss["total"].backward()
    grp = f.require_group(head.replace("-", "_"))
    grp.attrs["description"] = (f"one training-mode forward/backward of vgg16/{head} "
                                f"(width {c['width']}, {c['in_channels']}x32x32, "
                                f"batch {N}, K {c['K']}, Q {c['Q']})")
    for k, v in c.items():
        grp.attrs[k] = v
    grp.attrs["n_params"] = len(net.P)
    grp.attrs["n_buffers"] = len(net.B)
    put(grp, "x", f32(x))
    grp.create_dataset("labels", data=labels.numpy().astype(np.int64))
    put(grp, "eps_attention", f32(eps_a))
    put(grp, "eps_z", f32(eps_z))
    put(grp, "logits", f32(logits))
    put(grp, "dx", f32(x.grad))
    for k, v in loss.items():
        grp.create_dataset(f"loss/{k}", data=np.float32(v.item()))
    for k, v in inter.items():
        put(grp, f"inter/{k}", f32(v))
    for k, v in net.P.items():
        put(grp, f"params/{k}", f32(v))
        gr = v.grad if v.grad is not None else torch.zeros_like(v)
        put(grp, f"grads/{k}", f32(gr))
    for k, v in net.B0.items():
        grp.create_dataset(f"buffers_initial/{k}", data=f32(v))
    for k, v in net.B.items():
        grp.create_dataset(f"buffers/{k}", data=f32(v))


def counts():
    import torch.nn as nn

    def vgg16_bn(classes=10, cin=3):
        layers = []
        for v in CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                cin = v
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, classes))

    class Block(nn.Module):  # pre-activation basic block (Zagoruyko & Komodakis)
        def __init__(self, i, o, st):
            super().__init__()
            self.bn1, self.bn2 = nn.BatchNorm2d(i), nn.BatchNorm2d(o)
            self.conv1 = nn.Conv2d(i, o, 3, st, 1, bias=False)
            self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
            self.shortcut = nn.Conv2d(i, o, 1, st, 0, bias=False) if i != o else None

    def wrn(d, k, classes=10):
        n, ch = (d - 4) // 6, [16, 16 * k, 32 * k, 64 * k]
        mods = [nn.Conv2d(3, 16, 3, 1, 1, bias=False)]
        for gi in range(3):
            for b in range(n):
                mods.append(Block(ch[gi] if b == 0 else ch[gi + 1], ch[gi + 1],
                                  (1 if gi == 0 else 2) if b == 0 else 1))
        mods += [nn.BatchNorm2d(ch[3]), nn.Linear(ch[3], classes)]
        return nn.ModuleList(mods)

    def n(m):
        return sum(p.numel() for p in m.parameters())

    print(f"vgg16_bn (10 classes, 3x32x32): {n(vgg16_bn())}")
    print(f"wrn-28-10 (10 classes): {n(wrn(28, 10))}")
    print(f"wrn-16-4 (10 classes): {n(wrn(16, 4))}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    ap.add_argument("--counts", action="store_true")
    args = ap.parse_args()
    if args.counts:
        counts()
        return
    torch.use_deterministic_algorithms(True)
    base = {"width": 1.0 / 32, "in_channels": 1, "batch": 3, "classes": 5, "K": 8, "Q": 6,
            "beta": 0.05, "lambda_q": 0.4, "lambda_c": 0.1, "attention_layer": 3}
    path = os.path.normpath(os.path.join(args.out, "golden_models.h5"))
    with h5py.File(path, "w") as f:
        f.attrs["description"] = ("PyTorch references for ibx's model heads; written by "
                                  "scripts/make_golden_models.py")
        case(f, "aib", 11, dict(base))
        case(f, "aib-qt", 12, dict(base))
        case(f, "dvib", 13, dict(base))
        case(f, "att3", 14, dict(base))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
