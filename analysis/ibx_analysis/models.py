"""PyTorch modules of every ibx backbone and head (docs/models.md), with
ibx's parameter names, so an ibx checkpoint loads with
``load_state_dict(..., strict=True)``.

Built from ibx's C code (``src/models/*.c``); in evaluation mode (``.eval()``)
a module computes what ``ibx eval error`` computes: batch norm with the
running statistics (eps 1e-5; momentum 0.1 in training), the attention and
latent means instead of samples, the quantised map for aib-qt.  Training
mode draws its noise from ``torch.randn`` (ibx uses Philox streams, so
training-mode samples differ from ibx's; the means and batch statistics do
not).

Every module's ``forward(x)`` returns the logits and keeps the attention
maps of that forward in ``self.attention_maps`` (a list of [N, 1, h, w]
tensors, in the order of ``ibx_model_attention``; empty for plain, gap and
dvib).  ``self.extra`` holds the other named intermediates (latent mean,
log-variance, abn's attention-branch logits, ...).

Batch norm is ``IbxBatchNorm``: weight, bias, running_mean, running_var and
no ``num_batches_tracked`` (ibx does not store one; torch's BatchNorm2d
would make a strict load fail).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LOGVAR_SHIFT = -10.0
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M"]
HEADS = ("plain", "gap", "dvib", "att2", "att3", "pan", "abn", "aib", "aib-qt")
# head -> (vgg16 default attention layer, wrn default); None: head not on it
DEFAULT_LAYER = {"plain": (0, 0), "gap": (0, 0), "dvib": (0, 0), "att2": (4, None),
                 "att3": (3, None), "pan": (3, None), "abn": (None, 2), "aib": (3, 2),
                 "aib-qt": (3, 2)}


class IbxBatchNorm(nn.Module):
    """Batch norm over dim 1 of [N, C] or [N, C, H, W] as ibx computes it:
    batch statistics (biased variance) in training, updating the running
    statistics with momentum 0.1 and the unbiased variance; running
    statistics in evaluation; eps 1e-5.  No num_batches_tracked buffer."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, BN_MOMENTUM, BN_EPS)


class GlobalAvgPool(nn.Module):
    """Mean over the spatial positions: [N, C, H, W] -> [N, C]."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def vgg_widths(width):
    """VGG-16 channel widths at a width multiplier, rounded as ibx does:
    (int)(v * width) in float32, at least 1."""
    out = []
    for v in VGG16_CFG:
        if v == "M":
            out.append("M")
        else:
            out.append(max(1, int(np.float32(v) * np.float32(width))))
    return out


# ---- backbones -----------------------------------------------------------------

class VGGBackbone(nn.Module):
    """VGG-16-BN's 13 conv3x3(+bias)-BN-ReLU layers and four max-pools as
    ``features.0`` .. ``features.42`` (torchvision's vgg16_bn indices).
    Stage s (0..4) is block s+1 preceded by block s's pool; its output is
    block s+1's features before its own pool."""

    def __init__(self, in_channels, width):
        super().__init__()
        layers, cin, self.chan, bounds = [], in_channels, [], [0]
        for v in vgg_widths(width):
            if v == "M":
                self.chan.append(cin)
                bounds.append(len(layers))
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers += [nn.Conv2d(cin, v, 3, 1, 1, bias=True), IbxBatchNorm(v), nn.ReLU()]
            cin = v
        layers.pop()  # the fifth pool belongs to the head (features.43 in plain)
        self.features = nn.Sequential(*layers)
        # stage s runs layers [start[s], end[s]); the first of stages 1..4 is a pool
        self.start = bounds[:5]
        self.end = bounds[1:6]

    def stage(self, s, x):
        for i in range(self.start[s], self.end[s]):
            x = self.features[i](x)
        return x


class WRNBlock(nn.Module):
    """Pre-activation basic block: o1 = relu(bn(x)); c2 = conv(relu(bn(conv(o1))));
    out = x + c2, or shortcut(o1) + c2 when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.pre = nn.Sequential(IbxBatchNorm(cin), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                                  IbxBatchNorm(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False))
                         if cin != cout or stride != 1 else None)

    def forward(self, x):
        o1 = self.pre(x)
        c2 = self.body(o1)
        return (self.shortcut(o1) if self.shortcut is not None else x) + c2


class WRNGroup(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.layer = nn.Sequential(*[WRNBlock(cin if b == 0 else cout, cout,
                                              stride if b == 0 else 1) for b in range(n)])

    def forward(self, x):
        return self.layer(x)


class WRNBackbone(nn.Module):
    """WRN-d-k: ``conv1.0`` (stage 0) and groups ``block1..3`` (stages 1..3)."""

    def __init__(self, in_channels, depth, widen):
        super().__init__()
        n, k = (depth - 4) // 6, widen
        self.n = n
        self.chan = [16, 16 * k, 32 * k, 64 * k]
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False))
        self.block1 = WRNGroup(n, self.chan[0], self.chan[1], 1)
        self.block2 = WRNGroup(n, self.chan[1], self.chan[2], 2)
        self.block3 = WRNGroup(n, self.chan[2], self.chan[3], 2)

    def stage(self, s, x):
        return (self.conv1, self.block1, self.block2, self.block3)[s](x)


# ---- the model ------------------------------------------------------------------

class IbxModel(nn.Module):
    """One ibx model: backbone ``vgg16`` or ``wrn`` and one of HEADS.

    Arguments mirror ``ibx_model_config`` (docs/models.md): in_channels,
    num_classes, width (VGG), wrn_depth / wrn_widen, K, Q, attention_layer
    (0: the head's default).  beta, lambda_q and lambda_c weight losses only
    and are kept for ``loss()``.
    """

    def __init__(self, backbone="vgg16", head="aib", in_channels=3, num_classes=10,
                 width=1.0, wrn_depth=28, wrn_widen=10, K=256, Q=30, attention_layer=0,
                 beta=0.01, lambda_q=0.4, lambda_c=0.1, image_size=32):
        super().__init__()
        if backbone not in ("vgg16", "wrn"):
            raise ValueError(f"model.backbone: unknown backbone '{backbone}' (vgg16|wrn)")
        if head not in HEADS:
            raise ValueError(f"model.head: unknown head '{head}'")
        vgg = backbone == "vgg16"
        default = DEFAULT_LAYER[head][0 if vgg else 1]
        if default is None:
            raise ValueError(f"model.head: head '{head}' needs backbone "
                             f"{'wrn' if vgg else 'vgg16'}, not {backbone}")
        self.backbone_name, self.head = backbone, head
        self.num_classes, self.K, self.Q = num_classes, K, Q
        self.beta, self.lambda_q, self.lambda_c = beta, lambda_q, lambda_c
        self.attention_layer = attention_layer or default
        self.vgg = vgg
        self.nst = 5 if vgg else 4
        if vgg:
            bb = VGGBackbone(in_channels, width)
            self.features = bb.features
            self._bb = [bb]  # not a submodule: its parameters are registered as features
        else:
            bb = WRNBackbone(in_channels, wrn_depth, wrn_widen)
            self.conv1, self.block1, self.block2, self.block3 = (bb.conv1, bb.block1,
                                                                 bb.block2, bb.block3)
            self._bb = [bb]
        self.chan = list(bb.chan)
        # spatial size of every stage's output for this input size
        sizes, h = [], image_size
        for s in range(self.nst):
            if vgg:
                h = h if s == 0 else h // 2
            else:
                h = h if s <= 1 else (h - 1) // 2 + 1
            sizes.append(h)
        self.sizes = sizes
        self.att_stage = (self.attention_layer - 1 if vgg else self.attention_layer) \
            if self.attention_layer else -1
        getattr(self, "_build_" + head.replace("-", "_"))()
        self.attention_maps, self.extra = [], {}

    # -- helpers
    def _stage(self, s, x):
        return self._bb[0].stage(s, x)

    def _stages(self, lo, hi, x):
        for s in range(lo, hi + 1):
            x = self._stage(s, x)
        return x

    def _tail(self, out):
        """Classifier/encoder tail on the last stage: VGG max-pool, flatten,
        linear (indices 0..2); WRN BN, ReLU, global average pool, linear (0..3)."""
        C = self.chan[self.nst - 1]
        if self.vgg:
            hw = self.sizes[4] // 2
            return nn.Sequential(nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(C * hw * hw, out))
        return nn.Sequential(IbxBatchNorm(C), nn.ReLU(), GlobalAvgPool(), nn.Linear(C, out))

    def _branch_group(self):
        """WRN attention branch: a stride-1 copy of the next residual group."""
        s = self.att_stage
        return WRNGroup(self._bb[0].n, self.chan[s], self.chan[s + 1 if s < 3 else 3], 1)

    # -- builders
    def _build_plain(self):
        if self.vgg:
            tail = self._tail(self.num_classes)
            for i, m in enumerate(tail):  # features.43 pool, .44 flatten, .45 linear
                self.features.add_module(str(43 + i), m)
        else:
            self.classifier = self._tail(self.num_classes)

    def _build_gap(self):
        if self.vgg:
            self.classifier = nn.Sequential(GlobalAvgPool(), nn.Linear(self.chan[4],
                                                                       self.num_classes))
        else:
            self.classifier = self._tail(self.num_classes)

    def _build_vib(self):
        self.encoder = self._tail(2 * self.K)
        self.decoder = nn.Sequential(nn.Linear(self.K, self.K), nn.ReLU(),
                                     nn.Linear(self.K, self.num_classes))

    def _build_dvib(self):
        self._build_vib()

    def _build_aib(self, qt=False):
        C = self.chan[self.att_stage]
        if self.vgg:
            self.attention = nn.Module()
            self.attention.mu = nn.Sequential(nn.Conv2d(C, 1, 3, 1, 1, bias=True))
        else:
            self.att_block = self._branch_group()
            Cb = self.chan[self.att_stage + 1 if self.att_stage < 3 else 3]
            self.attention = nn.Module()
            self.attention.mu = nn.Sequential(
                IbxBatchNorm(Cb), nn.Conv2d(Cb, self.num_classes, 1, 1, 0, bias=False),
                IbxBatchNorm(self.num_classes), nn.ReLU(),
                nn.Conv2d(self.num_classes, 1, 3, 1, 1, bias=False), IbxBatchNorm(1))
        self.attention.logvar = nn.Sequential(nn.Conv2d(1, 1, 3, 1, 1, bias=True))
        self._build_vib()
        if qt:
            self.quantiser = nn.Module()
            self.quantiser.anchors = nn.Parameter(torch.linspace(0.0, 1.0, self.Q))

    def _build_aib_qt(self):
        self._build_aib(qt=True)

    def _build_ltpa(self, n):
        Cg = self.chan[4]
        hw = self.sizes[4] // 2
        self.dense = nn.Sequential(nn.MaxPool2d(2, 2), nn.Flatten(),
                                   nn.Linear(Cg * hw * hw, Cg))
        self.n_att = n
        for i in range(n):
            s = self.att_stage + i
            layer = s + 1
            if self.chan[s] != Cg:
                self.add_module(f"projector{layer}",
                                nn.Sequential(nn.Conv2d(self.chan[s], Cg, 1, 1, 0, bias=False)))
            self.add_module(f"attention{layer}", nn.Conv2d(Cg, 1, 1, 1, 0, bias=False))
        self.classify = nn.Sequential(nn.Linear(n * Cg, self.num_classes))

    def _build_att2(self):
        self._build_ltpa(2)

    def _build_att3(self):
        self._build_ltpa(3)

    def _build_pan(self):
        for s in range(self.att_stage, 5):
            C = self.chan[s]
            hid = max(1, C // 4)
            self.add_module(f"attention{s + 1}", nn.Sequential(
                nn.Conv2d(C, hid, 3, 1, 1, bias=True), nn.ReLU(),
                nn.Conv2d(hid, 1, 1, 1, 0, bias=True)))
        self.classify = nn.Sequential(nn.Linear(self.chan[4], self.num_classes))

    def _build_abn(self):
        self.att_block = self._branch_group()
        Cb = self.chan[self.att_stage + 1 if self.att_stage < 3 else 3]
        nc = self.num_classes
        self.attention = nn.Module()
        self.attention.branch = nn.Sequential(IbxBatchNorm(Cb), nn.Conv2d(Cb, nc, 1, 1, 0, bias=False),
                                              IbxBatchNorm(nc), nn.ReLU())
        self.attention.map = nn.Sequential(nn.Conv2d(nc, 1, 3, 1, 1, bias=False), IbxBatchNorm(1))
        self.attention.classifier = nn.Sequential(nn.Conv2d(nc, nc, 1, 1, 0, bias=False),
                                                  GlobalAvgPool())
        self.classifier = self._tail(nc)

    # -- forward
    def forward(self, x):
        self.attention_maps, self.extra = [], {}
        return getattr(self, "_fwd_" + self.head.replace("-", "_"))(x)

    def forward_with_maps(self, x):
        """(logits, attention maps) of one forward."""
        logits = self.forward(x)
        return logits, list(self.attention_maps)

    def _fwd_plain(self, x):
        h = self._stages(0, self.nst - 1, x)
        if self.vgg:
            for i in (43, 44, 45):
                h = self.features[i](h)
            return h
        return self.classifier(h)

    def _fwd_gap(self, x):
        if not self.vgg:
            return self._fwd_plain(x)
        return self.classifier(self._stages(0, 4, x))

    def _vib(self, e):
        K = self.K
        mu, lv = e[:, :K], e[:, K:] + LOGVAR_SHIFT
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * lv) if self.training else mu
        self.extra.update({"z_mean": mu, "z_logvar": lv, "z": z})
        self.extra["kl"] = (0.5 * (mu * mu + torch.exp(lv) - 1.0 - lv)).sum(1).mean()
        return self.decoder(z)

    def _fwd_dvib(self, x):
        return self._vib(self.encoder(self._stages(0, self.nst - 1, x)))

    def _fwd_aib(self, x):
        s, last = self.att_stage, self.nst - 1
        f = self._stages(0, s, x)
        t = self.attention.mu(f if self.vgg else self.att_block(f))
        mu_a = torch.sigmoid(t)
        lv_a = self.attention.logvar(mu_a) + LOGVAR_SHIFT
        a = mu_a + torch.randn_like(mu_a) * torch.exp(0.5 * lv_a) if self.training else mu_a
        use = a
        self.extra.update({"attention_mean": mu_a, "attention_logvar": lv_a, "attention": a})
        if self.head == "aib-qt":
            v = self.quantiser.anchors
            idx = (a.detach().unsqueeze(-1) - v.detach()).abs().argmin(-1)  # first minimum
            aq = v.detach()[idx]
            use = a + (aq - a).detach()  # straight-through
            self.extra["attention_q"] = aq
            self.extra["vq"] = self.lambda_q * ((a.detach() - v[idx]) ** 2).mean()
            self.extra["commit"] = self.lambda_c * ((a - aq) ** 2).mean()
        g = f * (1.0 + use)
        self.extra["g"] = g
        h = self._stages(s + 1, last, g) if s < last else g
        logits = self._vib(self.encoder(h))
        self.attention_maps = [use]
        return logits

    _fwd_aib_qt = _fwd_aib

    def _fwd_ltpa(self, x):
        outs, h = [], x
        for s in range(5):
            h = self._stage(s, h)
            outs.append(h)
        g = self.dense(h)
        self.extra["global"] = g
        glimpses = []
        for i in range(self.n_att):
            s = self.att_stage + i
            layer = s + 1
            l = outs[s]
            proj = getattr(self, f"projector{layer}", None)
            if proj is not None:
                l = proj(l)
            N, C, H, W = l.shape
            c = getattr(self, f"attention{layer}")(l + g[:, :, None, None])
            a = F.softmax(c.reshape(N, -1), dim=1)
            glimpses.append((a.reshape(N, 1, -1) * l.reshape(N, C, -1)).sum(2))
            self.extra[f"compat{i}"] = c
            self.attention_maps.append(a.reshape(N, 1, H, W))
        return self.classify(torch.cat(glimpses, 1))

    _fwd_att2 = _fwd_ltpa
    _fwd_att3 = _fwd_ltpa

    def _fwd_pan(self, x):
        h = x
        for s in range(5):
            h = self._stage(s, h)
            if s < self.att_stage:
                continue
            t = getattr(self, f"attention{s + 1}")(h)
            N, C, H, W = h.shape
            if s < 4:
                alpha = torch.sigmoid(t)
                self.attention_maps.append(alpha)
                h = h * alpha
            else:
                a = F.softmax(t.reshape(N, -1), dim=1)
                self.attention_maps.append(a.reshape(N, 1, H, W))
                G = (a.reshape(N, 1, -1) * h.reshape(N, C, -1)).sum(2)
        return self.classify(G)

    def _fwd_abn(self, x):
        s, last = self.att_stage, self.nst - 1
        f = self._stages(0, s, x)
        r = self.attention.branch(self.att_block(f))
        att = torch.sigmoid(self.attention.map(r))
        self.extra["attention_logits"] = self.attention.classifier(r)
        g = f * (1.0 + att)
        h = self._stages(s + 1, last, g) if s < last else g
        self.attention_maps = [att]
        return self.classifier(h)

    def loss(self, logits, labels):
        """The training loss of ibx's Eq. (8)/(10) from the last forward:
        CE + beta KL (+ vq + commit; + abn's attention-branch CE)."""
        total = F.cross_entropy(logits, labels)
        if "kl" in self.extra:
            total = total + self.beta * self.extra["kl"]
        for k in ("vq", "commit"):
            if k in self.extra:
                total = total + self.extra[k]
        if "attention_logits" in self.extra:
            total = total + F.cross_entropy(self.extra["attention_logits"], labels)
        return total


def model_from_config(cfg, in_channels, num_classes):
    """An IbxModel for a run's resolved config (the dict of ibx_analysis.config)
    with the dataset's channels and classes (ibx_model_config_from)."""
    m, d = cfg["model"], cfg["data"]
    return IbxModel(backbone=m["backbone"], head=m["head"], in_channels=in_channels,
                    num_classes=num_classes, width=m["width"], wrn_depth=m["wrn_depth"],
                    wrn_widen=m["wrn_widen"], K=m["K"], Q=m["Q"],
                    attention_layer=m["attention_layer"], beta=m["beta"],
                    lambda_q=m["lambda_q"], lambda_c=m["lambda_c"],
                    image_size=d["image_size"])
