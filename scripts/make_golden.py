#!/usr/bin/python3
"""Writes the golden PyTorch fixtures the C tests compare against.

    /usr/bin/python3 scripts/make_golden.py [--out tests/fixtures]

Needs Debian's python3-torch and python3-h5py (scripts/setup.sh --dev); the
C tests themselves never need torch. Re-running rewrites the same numbers:
every case seeds its own torch.Generator.

Files (all float data stored as float32, labels and milestones as int64):

  golden_layers.h5   one group per layer and case (config in attributes):
    conv2d/<case>      x w [b] y dy dx dw [db]     (9 configurations: kernels
                       3x3 / 5x5 / 1x1 / 3x5, stride 1 and 2, pad 0..2,
                       with/without bias, batch 1 and 3, non-square maps)
    batchnorm/<case>   x gamma beta running_{mean,var}_before, running_{mean,
                       var} (after forward), save_mean save_invstd y dy dx
                       dgamma dbeta; 2-D and 1-D, train and eval, and
                       BN+ReLU (attribute relu=1, ibx's fused layer)
    activation/{relu,sigmoid,tanh}          x y dy dx
    pool/<case>        x y dy dx; max 2x2 s2 (even, odd, with ties), max 3x3
                       s2 p1, max 3x3 s1 p1 (ties), avg 2x2 s2 / 3x3 s2 p1 /
                       3x3 s1 p1 (count_include_pad), global_avg
    linear/{bias,nobias}                    x w [b] y dy dx dw [db]
    elementwise/{add,mul}_<bcast>           a b y dy da db, b of shape
                       [N,1,H,W], [N,C,1,1], [1,C,1,1], same, [N,1], [1,K]
    bilinear/<case>_ac{0,1}                 x y dy dx; up, 2x up, down, mixed
    softmax/rows                            x y dy dx
    softmax/xent, softmax/xent_scaled_large logits labels loss probs dlogits
    kl/gaussian                             mu logvar kl dmu dlogvar
  golden_optim.h5
    sgd/{momentum,nesterov,plain,dampening}, adam/{adam,adam_l2,adamw}:
                       grads [steps,n], params [steps+1,n] (initial, then
                       after each step); hyper-parameters in attributes
    schedule/{multistep,cosine,warmup_cosine,warmup_multistep}: lr[k] for
                       step k (+ milestones); ibx schedule fields as attributes
  golden_vgg3.h5     /vgg3: one training step of a 3-block VGG-like net (see
                     vgg3() below): x labels params/ grads/ buffers_initial/
                     buffers/ acts/ logits loss dx after_sgd/

Conventions
  * Inputs are drawn in float32. References are then computed by torch in
    float64 from those exact float32 values and rounded to float32 once, so a
    reference is the correctly rounded answer and a test tolerance measures
    only ibx's own float32 error (not torch's float32 error as well).
  * For a layer y = f(x; params) with upstream gradient dy, the gradients are
    torch.autograd's of L = sum(y * dy): dx = dL/dx, dw = dL/dw, ... .
    Scalar losses (cross-entropy, KL) use L = scale * loss.
  * Layer configuration travels as attributes on the case group (stride,
    pad, eps, ...), and every group has a 'description' attribute.
"""
import argparse
import warnings
import math
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

DT = torch.float64


# ---- helpers ---------------------------------------------------------------

def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(g, *shape, scale=1.0, shift=0.0):
    """float32 N(shift, scale^2) sample, returned as float64 (exact)."""
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale + shift).to(DT)


def rand(g, *shape, lo=0.0, hi=1.0):
    return (torch.rand(*shape, generator=g, dtype=torch.float32) * (hi - lo) + lo).to(DT)


def f32(t):
    return t.detach().to(torch.float32).numpy()


def put(grp, name, t):
    if isinstance(t, torch.Tensor):
        if t.dtype in (torch.int64, torch.int32):
            grp.create_dataset(name, data=t.numpy().astype(np.int64))
        else:
            grp.create_dataset(name, data=f32(t))
    else:
        grp.create_dataset(name, data=np.asarray(t, dtype=np.float32))


def case(f, path, description, **attrs):
    grp = f.require_group(path)
    grp.attrs["description"] = description
    for k, v in attrs.items():
        grp.attrs[k] = v
    return grp


def leaf(t):
    return t.clone().requires_grad_(True)


# ---- layers --------------------------------------------------------------

def conv_cases(f):
    # name, N, C, H, W, O, KH, KW, stride, pad_h, pad_w, bias
    cases = [
        ("k3_p1_s1_bias_n1", 1, 3, 7, 9, 4, 3, 3, 1, 1, 1, True),
        ("k3_p1_s1_nobias_n3", 3, 4, 6, 10, 5, 3, 3, 1, 1, 1, False),
        ("k3_p1_s1_bias_n3_odd", 3, 3, 9, 7, 6, 3, 3, 1, 1, 1, True),
        ("k5_p2_s1_bias_n3", 3, 3, 8, 11, 4, 5, 5, 1, 2, 2, True),
        ("k1_p0_s1_bias_n3", 3, 6, 5, 7, 4, 1, 1, 1, 0, 0, True),
        ("k1_p0_s2_nobias_n3", 3, 4, 8, 6, 6, 1, 1, 2, 0, 0, False),
        ("k3_p0_s2_nobias_n3", 3, 3, 11, 8, 4, 3, 3, 2, 0, 0, False),
        ("k3_p1_s2_bias_n1", 1, 2, 9, 10, 3, 3, 3, 2, 1, 1, True),
        ("k3x5_p1x2_s1_bias_n3", 3, 2, 6, 9, 3, 3, 5, 1, 1, 2, True),
    ]
    for i, (name, N, C, H, W, O, KH, KW, s, ph, pw, bias) in enumerate(cases):
        g = gen(100 + i)
        x = leaf(randn(g, N, C, H, W))
        w = leaf(randn(g, O, C, KH, KW, scale=1.0 / math.sqrt(C * KH * KW)))
        b = leaf(randn(g, O, scale=0.5)) if bias else None
        y = F.conv2d(x, w, b, stride=s, padding=(ph, pw))
        dy = randn(g, *y.shape)
        (y * dy).sum().backward()
        grp = case(f, f"conv2d/{name}",
                   f"conv2d x{list(x.shape)} w{list(w.shape)} stride {s} pad ({ph},{pw})"
                   f"{' + bias' if bias else ', no bias'}",
                   in_channels=C, out_channels=O, kernel_h=KH, kernel_w=KW, stride=s,
                   pad_h=ph, pad_w=pw, has_bias=int(bias))
        for k, v in (("x", x), ("w", w), ("y", y), ("dy", dy), ("dx", x.grad), ("dw", w.grad)):
            put(grp, k, v)
        if bias:
            put(grp, "b", b)
            put(grp, "db", b.grad)


def bn_cases(f):
    # name, shape, training, eps, momentum, fused ReLU (ibx_batchnorm_relu_*)
    cases = [
        ("bn2d_train", (4, 3, 5, 6), True, 1e-5, 0.1, False),
        ("bn2d_eval", (4, 3, 5, 6), False, 1e-5, 0.1, False),
        ("bn1d_train", (8, 5), True, 1e-3, 0.3, False),
        ("bn1d_eval", (8, 5), False, 1e-3, 0.3, False),
        ("bn2d_relu_train", (3, 4, 5, 7), True, 1e-5, 0.1, True),
        ("bn2d_relu_eval", (3, 4, 5, 7), False, 1e-5, 0.1, True),
        ("bn1d_relu_train", (8, 5), True, 1e-5, 0.1, True),
    ]
    for i, (name, shape, training, eps, mom, relu) in enumerate(cases):
        g = gen(200 + i)
        C = shape[1]
        # per-channel offsets and scales so batch statistics are far from (0, 1)
        view = (1, C) + (1,) * (len(shape) - 2)
        x0 = randn(g, *shape) * rand(g, C, lo=0.5, hi=2.0).view(view) + \
            randn(g, C, scale=2.0).view(view)
        x = leaf(x0.to(torch.float32).to(DT))  # keep inputs exactly float32
        gamma = leaf(rand(g, C, lo=0.5, hi=1.5))
        beta = leaf(randn(g, C, scale=0.5))
        rm0 = randn(g, C, scale=0.5)
        rv0 = rand(g, C, lo=0.5, hi=2.0)
        rm, rv = rm0.clone(), rv0.clone()
        y = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=mom, eps=eps)
        if relu:
            y = F.relu(y)
        dy = randn(g, *y.shape)
        (y * dy).sum().backward()
        dims = [0] + list(range(2, len(shape)))
        if training:
            mean = x.detach().mean(dim=dims)
            var = x.detach().var(dim=dims, unbiased=False)
        else:
            mean, var = rm0, rv0
        grp = case(f, f"batchnorm/{name}",
                   f"batch norm{' + ReLU (fused in ibx)' if relu else ''} x{list(shape)} "
                   f"{'training' if training else 'eval'} mode, "
                   f"eps {eps}, momentum {mom}; running_* are the values after forward; "
                   f"save_mean/save_invstd are the statistics used (batch or running)",
                   channels=C, eps=eps, momentum=mom, training=int(training), relu=int(relu))
        put(grp, "x", x)
        put(grp, "gamma", gamma)
        put(grp, "beta", beta)
        put(grp, "running_mean_before", rm0)
        put(grp, "running_var_before", rv0)
        put(grp, "running_mean", rm)
        put(grp, "running_var", rv)
        put(grp, "save_mean", mean)
        put(grp, "save_invstd", 1.0 / torch.sqrt(var + eps))
        put(grp, "y", y)
        put(grp, "dy", dy)
        put(grp, "dx", x.grad)
        put(grp, "dgamma", gamma.grad)
        put(grp, "dbeta", beta.grad)


def activation_cases(f):
    g = gen(300)
    for name, fn, scale in (("relu", torch.relu, 1.0), ("sigmoid", torch.sigmoid, 6.0),
                            ("tanh", torch.tanh, 3.0)):
        x = leaf(randn(g, 2, 3, 4, 5, scale=scale))
        y = fn(x)
        dy = randn(g, *y.shape)
        (y * dy).sum().backward()
        grp = case(f, f"activation/{name}", f"{name} on x[2,3,4,5] ~ N(0,{scale}^2)")
        put(grp, "x", x)
        put(grp, "y", y)
        put(grp, "dy", dy)
        put(grp, "dx", x.grad)


def pool_cases(f):
    # name, kind, shape, kernel, stride, pad, ties
    cases = [
        ("max_k2_s2", "max", (2, 3, 8, 10), 2, 2, 0, False),
        ("max_k3_s2_p1", "max", (2, 3, 9, 7), 3, 2, 1, False),
        ("max_k2_s2_ties", "max", (2, 2, 6, 8), 2, 2, 0, True),
        ("max_k3_s1_p1_ties", "max", (1, 2, 5, 6), 3, 1, 1, True),
        ("max_k2_s2_odd", "max", (2, 3, 7, 9), 2, 2, 0, False),
        ("max_k2_s2_odd_ties", "max", (1, 3, 5, 7), 2, 2, 0, True),
        ("avg_k2_s2", "avg", (2, 3, 8, 10), 2, 2, 0, False),
        ("avg_k3_s2_p1", "avg", (2, 3, 9, 7), 3, 2, 1, False),
        ("avg_k3_s1_p1", "avg", (1, 2, 5, 6), 3, 1, 1, False),
    ]
    for i, (name, kind, shape, k, s, p, ties) in enumerate(cases):
        g = gen(400 + i)
        if ties:  # few distinct values: windows often hold equal maxima
            x0 = torch.randint(0, 3, shape, generator=g).to(DT)
        else:
            x0 = randn(g, *shape)
        x = leaf(x0)
        if kind == "max":
            y = F.max_pool2d(x, k, s, p)
        else:
            y = F.avg_pool2d(x, k, s, p, count_include_pad=True)
        dy = randn(g, *y.shape)
        (y * dy).sum().backward()
        desc = f"{kind} pool x{list(shape)} kernel {k} stride {s} pad {p}"
        if kind == "avg":
            desc += ", count_include_pad=True"
        if ties:
            desc += "; x in {0,1,2} so windows tie: the gradient goes to the first maximum"
        grp = case(f, f"pool/{name}", desc, kernel=k, stride=s, pad=p)
        put(grp, "x", x)
        put(grp, "y", y)
        put(grp, "dy", dy)
        put(grp, "dx", x.grad)
    g = gen(450)
    x = leaf(randn(g, 3, 4, 5, 7))
    y = x.mean(dim=(2, 3))
    dy = randn(g, *y.shape)
    (y * dy).sum().backward()
    grp = case(f, "pool/global_avg", "global average pool x[3,4,5,7] -> y[3,4]")
    put(grp, "x", x)
    put(grp, "y", y)
    put(grp, "dy", dy)
    put(grp, "dx", x.grad)


def linear_cases(f):
    for i, (name, N, In, O, bias) in enumerate((("bias", 5, 7, 4, True),
                                                ("nobias", 3, 16, 10, False))):
        g = gen(500 + i)
        x = leaf(randn(g, N, In))
        w = leaf(randn(g, O, In, scale=1.0 / math.sqrt(In)))
        b = leaf(randn(g, O, scale=0.5)) if bias else None
        y = F.linear(x, w, b)
        dy = randn(g, *y.shape)
        (y * dy).sum().backward()
        grp = case(f, f"linear/{name}", f"linear x[{N},{In}] w[{O},{In}]"
                   f"{' + bias' if bias else ', no bias'}", has_bias=int(bias))
        for k, v in (("x", x), ("w", w), ("y", y), ("dy", dy), ("dx", x.grad), ("dw", w.grad)):
            put(grp, k, v)
        if bias:
            put(grp, "b", b)
            put(grp, "db", b.grad)


def elementwise_cases(f):
    shapes = (("spatial", (2, 4, 5, 6), (2, 1, 5, 6)),
              ("channel", (2, 4, 5, 6), (2, 4, 1, 1)),
              ("same", (2, 3, 4, 5), (2, 3, 4, 5)),
              ("rows2d", (4, 6), (4, 1)),
              ("batch_channel", (2, 4, 5, 6), (1, 4, 1, 1)),
              ("cols2d", (4, 6), (1, 6)))
    for i, (sname, ashape, bshape) in enumerate(shapes):
        for op in ("add", "mul"):
            g = gen(600 + 10 * i + (op == "mul"))
            a = leaf(randn(g, *ashape))
            b = leaf(randn(g, *bshape))
            y = a + b if op == "add" else a * b
            dy = randn(g, *y.shape)
            (y * dy).sum().backward()
            grp = case(f, f"elementwise/{op}_{sname}",
                       f"{op}: a{list(ashape)} {'+' if op == 'add' else '*'} b{list(bshape)} "
                       f"(b broadcast); db is reduced over the broadcast dims")
            for k, v in (("a", a), ("b", b), ("y", y), ("dy", dy), ("da", a.grad),
                         ("db", b.grad)):
                put(grp, k, v)


def bilinear_cases(f):
    cases = (("up", (2, 3, 5, 7), (11, 13)),
             ("up2x", (1, 2, 4, 6), (8, 12)),
             ("down", (2, 3, 12, 10), (5, 4)),
             ("mixed", (1, 2, 6, 5), (3, 9)))
    for i, (name, shape, size) in enumerate(cases):
        for ac in (False, True):
            g = gen(700 + 2 * i + ac)
            x = leaf(randn(g, *shape))
            y = F.interpolate(x, size=size, mode="bilinear", align_corners=ac)
            dy = randn(g, *y.shape)
            (y * dy).sum().backward()
            grp = case(f, f"bilinear/{name}_ac{int(ac)}",
                       f"bilinear x{list(shape)} -> size {list(size)}, align_corners={ac}",
                       align_corners=int(ac))
            put(grp, "x", x)
            put(grp, "y", y)
            put(grp, "dy", dy)
            put(grp, "dx", x.grad)


def softmax_cases(f):
    g = gen(800)
    x = leaf(randn(g, 4, 7, scale=2.0))
    y = torch.softmax(x, dim=1)
    dy = randn(g, *y.shape)
    (y * dy).sum().backward()
    grp = case(f, "softmax/rows", "softmax over the last dim of x[4,7]")
    put(grp, "x", x)
    put(grp, "y", y)
    put(grp, "dy", dy)
    put(grp, "dx", x.grad)

    for i, (name, N, K, scale, shift) in enumerate((("xent", 6, 10, 1.0, 0.0),
                                                    ("xent_scaled_large", 5, 7, 0.7, 40.0))):
        g = gen(810 + i)
        logits = leaf(randn(g, N, K, scale=3.0, shift=shift))
        labels = torch.randint(0, K, (N,), generator=g)
        loss = F.cross_entropy(logits, labels)  # mean over the batch
        (scale * loss).backward()
        grp = case(f, f"softmax/{name}",
                   f"softmax + cross-entropy, logits[{N},{K}] (offset {shift}), mean over the "
                   f"batch; dlogits = d(scale*loss)/dlogits with scale {scale}", scale=scale)
        put(grp, "logits", logits)
        put(grp, "labels", labels)
        put(grp, "loss", loss)
        put(grp, "probs", torch.softmax(logits.detach(), dim=1))
        put(grp, "dlogits", logits.grad)


def kl_cases(f):
    g = gen(900)
    mu = leaf(randn(g, 5, 8))
    logvar = leaf(randn(g, 5, 8, scale=0.8))
    beta = 0.3
    kl = (0.5 * (mu ** 2 + torch.exp(logvar) - 1.0 - logvar)).sum(dim=1).mean()
    (beta * kl).backward()
    grp = case(f, "kl/gaussian",
               "KL(N(mu, exp(logvar)) || N(0, I)) = mean_i sum_k 0.5 (mu^2 + exp(logvar) - 1 - "
               "logvar), mu/logvar [5,8]; dmu/dlogvar are gradients of scale*KL", scale=beta)
    put(grp, "mu", mu)
    put(grp, "logvar", logvar)
    put(grp, "kl", kl)
    put(grp, "dmu", mu.grad)
    put(grp, "dlogvar", logvar.grad)


# ---- optimisers and schedules ----------------------------------------------

def optim_cases(f, steps=4, n=37):
    g = gen(1000)
    p0 = randn(g, n)
    grads = randn(g, steps, n)

    def run(make, name, desc, **attrs):
        p = p0.clone().requires_grad_(True)
        opt = make([p])
        hist = [p.detach().clone()]
        for k in range(steps):
            p.grad = grads[k].clone()
            opt.step()
            hist.append(p.detach().clone())
        grp = case(f, name, desc + "; params[k] = after k steps (params[0] = initial), "
                   "grads[k] = gradient of step k", steps=steps, **attrs)
        put(grp, "grads", grads)
        put(grp, "params", torch.stack(hist))

    lr = 0.1
    for name, mom, nest, wd, damp in (("momentum", 0.9, False, 5e-4, 0.0),
                                       ("nesterov", 0.9, True, 5e-4, 0.0),
                                       ("plain", 0.0, False, 0.0, 0.0),
                                       ("dampening", 0.9, False, 5e-4, 0.1)):
        run(lambda ps: torch.optim.SGD(ps, lr=lr, momentum=mom, nesterov=nest,
                                       weight_decay=wd, dampening=damp),
            f"sgd/{name}", f"torch.optim.SGD lr {lr} momentum {mom} nesterov {nest} "
            f"weight_decay {wd} dampening {damp}",
            lr=lr, momentum=mom, nesterov=int(nest), weight_decay=wd, dampening=damp)

    lr = 0.01
    for name, wd, decoupled in (("adam", 0.0, False), ("adam_l2", 1e-2, False),
                                ("adamw", 1e-2, True)):
        cls = torch.optim.AdamW if decoupled else torch.optim.Adam
        run(lambda ps: cls(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd),
            f"adam/{name}", f"torch.optim.{cls.__name__} lr {lr} betas (0.9, 0.999) eps 1e-8 "
            f"weight_decay {wd}", lr=lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd,
            decoupled=int(decoupled))


def schedule_cases(f):
    def lrs(make, steps, base):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=base)
        sched = make(opt)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return torch.tensor(out, dtype=DT)

    base = 0.1
    S = torch.optim.lr_scheduler
    grp = case(f, "schedule/multistep",
               "MultiStepLR(milestones [3, 7], gamma 0.1) on base lr 0.1; lr[k] is the lr of "
               "step k; milestones dataset in steps", base_lr=base, gamma=0.1, warmup_steps=0,
               warmup_start=0.0)
    put(grp, "milestones", torch.tensor([3, 7]))
    put(grp, "lr", lrs(lambda o: S.MultiStepLR(o, [3, 7], 0.1), 12, base))

    grp = case(f, "schedule/cosine",
               "CosineAnnealingLR(T_max 10, eta_min 0.001) on base lr 0.1, steps 0..10",
               base_lr=base, total_steps=10, min_lr=0.001, warmup_steps=0, warmup_start=0.0)
    put(grp, "lr", lrs(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 11, base))

    # Warm-up: LinearLR(start_factor 0.1, total_iters 5) then the main schedule,
    # chained with SequentialLR (the main schedule restarts its count at step 5).
    grp = case(f, "schedule/warmup_cosine",
               "SequentialLR(LinearLR(start 0.1, 5 iters), CosineAnnealingLR(T_max 15, "
               "eta_min 0.001), milestones [5]) on base lr 0.1: ibx warmup_steps 5, "
               "warmup_start 0.1, total_steps 20", base_lr=base, total_steps=20, min_lr=0.001,
               warmup_steps=5, warmup_start=0.1)
    put(grp, "lr", lrs(lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5),
            S.CosineAnnealingLR(o, T_max=15, eta_min=0.001)], milestones=[5]), 21, base))

    # Hand-computed (SequentialLR + MultiStepLR re-bases milestones; the
    # closed form is clearer): linear warm-up over 4 steps from 0.25*base,
    # then base * 0.5^(number of absolute milestones [6, 9] reached).
    ws, start, ms = 4, 0.25, (6, 9)
    hand = []
    for k in range(12):
        if k < ws:
            hand.append(base * (start + (1 - start) * k / ws))
        else:
            hand.append(base * 0.5 ** sum(k >= m for m in ms))
    grp = case(f, "schedule/warmup_multistep",
               "hand-computed: linear warm-up over 4 steps from 0.25*lr, then MultiStep at "
               "absolute steps [6, 9] with gamma 0.5, base lr 0.1", base_lr=base, gamma=0.5,
               warmup_steps=ws, warmup_start=start)
    put(grp, "milestones", torch.tensor(ms))
    put(grp, "lr", torch.tensor(hand, dtype=DT))


# ---- VGG3 ------------------------------------------------------------------

def vgg3(f):
    widths = (8, 16, 16)
    N, C, H, W, K = 4, 3, 16, 16, 10
    g = gen(2000)
    params = {}
    buffers = {}
    cin = C
    idx = 0
    for wdt in widths:
        params[f"features.{idx}.weight"] = randn(g, wdt, cin, 3, 3,
                                                 scale=math.sqrt(2.0 / (cin * 9)))
        params[f"features.{idx}.bias"] = randn(g, wdt, scale=0.1)
        params[f"features.{idx + 1}.weight"] = rand(g, wdt, lo=0.5, hi=1.5)
        params[f"features.{idx + 1}.bias"] = randn(g, wdt, scale=0.1)
        buffers[f"features.{idx + 1}.running_mean"] = torch.zeros(wdt, dtype=DT)
        buffers[f"features.{idx + 1}.running_var"] = torch.ones(wdt, dtype=DT)
        cin = wdt
        idx += 4  # conv, bn, relu, pool
    feat = widths[-1] * (H // 8) * (W // 8)
    params["classifier.weight"] = randn(g, K, feat, scale=1.0 / math.sqrt(feat))
    params["classifier.bias"] = randn(g, K, scale=0.1)
    x = leaf(randn(g, N, C, H, W))
    labels = torch.randint(0, K, (N,), generator=g)

    p = {k: leaf(v) for k, v in params.items()}
    bufs = {k: v.clone() for k, v in buffers.items()}
    h = x
    acts = {}
    for blk in range(3):
        i = 4 * blk
        h = F.conv2d(h, p[f"features.{i}.weight"], p[f"features.{i}.bias"], padding=1)
        h = F.batch_norm(h, bufs[f"features.{i + 1}.running_mean"],
                         bufs[f"features.{i + 1}.running_var"], p[f"features.{i + 1}.weight"],
                         p[f"features.{i + 1}.bias"], training=True, momentum=0.1, eps=1e-5)
        h = F.relu(h)
        h = F.max_pool2d(h, 2, 2)
        acts[f"block{blk + 1}"] = h
    logits = F.linear(h.flatten(1), p["classifier.weight"], p["classifier.bias"])
    loss = F.cross_entropy(logits, labels)
    loss.backward()

    lr, mom, wd = 0.05, 0.9, 5e-4
    q = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.SGD(list(q.values()), lr=lr, momentum=mom, weight_decay=wd)
    for k in q:
        q[k].grad = p[k].grad.clone()
    opt.step()

    grp = case(f, "vgg3",
               "(conv3x3 pad1 + bias -> BN (train, eps 1e-5, momentum 0.1) -> ReLU -> "
               "maxpool 2x2) x 3 with widths 8,16,16 on x[4,3,16,16], flatten (NCHW order) -> "
               "linear 64->10 -> mean cross-entropy. params/ are the initial weights (PyTorch "
               "names), grads/ d loss/d param, buffers_initial/ and buffers/ the BN running stats "
               "before and after the forward, "
               "acts/blockN the output of block N, after_sgd/ the params after one "
               "torch.optim.SGD step (lr 0.05, momentum 0.9, weight_decay 5e-4)",
               lr=lr, momentum=mom, weight_decay=wd, widths=np.array(widths, dtype=np.int64))
    put(grp, "x", x)
    put(grp, "labels", labels)
    for k, v in params.items():
        put(grp, f"params/{k}", v)
        put(grp, f"grads/{k}", p[k].grad)
        put(grp, f"after_sgd/{k}", q[k])
    for k, v in buffers.items():
        put(grp, f"buffers_initial/{k}", v)
    for k, v in bufs.items():
        put(grp, f"buffers/{k}", v)
    for k, v in acts.items():
        put(grp, f"acts/{k}", v)
    put(grp, "logits", logits)
    put(grp, "loss", loss)
    put(grp, "dx", x.grad)


# ---- main --------------------------------------------------------------------

def write(path, fill):
    with h5py.File(path, "w") as f:
        f.attrs["generator"] = "scripts/make_golden.py"
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["precision"] = "inputs float32; references computed in float64, stored float32"
        fill(f)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "tests",
                                                                     "fixtures")))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    # SequentialLR calls the wrapped scheduler's step(epoch) internally (torch 1.13).
    warnings.filterwarnings("ignore", message="The epoch parameter")

    def layers(f):
        conv_cases(f)
        bn_cases(f)
        activation_cases(f)
        pool_cases(f)
        linear_cases(f)
        elementwise_cases(f)
        bilinear_cases(f)
        softmax_cases(f)
        kl_cases(f)

    def optim(f):
        optim_cases(f)
        schedule_cases(f)

    write(os.path.join(args.out, "golden_layers.h5"), layers)
    write(os.path.join(args.out, "golden_optim.h5"), optim)
    write(os.path.join(args.out, "golden_vgg3.h5"), vgg3)


if __name__ == "__main__":
    main()
