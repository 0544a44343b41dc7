#!/usr/bin/python3
"""PyTorch reference for bench/bench_transformer.c: the same text classifier
(scripts/make_golden_transformer.py's TextTransformer: BERT embeddings, post-LN
nn.TransformerEncoder with GELU, [CLS] tanh pooler, linear classifier) on the
same shapes, float32 on the CPU.

usage: torch_transformer_bench.py THREADS BATCH LEN LAYERS D HEADS FF VOCAB DROPOUT STEPS IBA [MIN_SECONDS]

Times the steady state, as bench_transformer does: at least STEPS training
steps and MIN_SECONDS (default 10) of them, then at least IBA sequences and
MIN_SECONDS of those.

Prints seconds per training step (forward, cross-entropy, backward, AdamW
step), seconds per per-sample IBA sequence (10 Adam steps at lr 1 on alpha
[L, D], batch of 10 noise draws, bottleneck after layer round(2/3 depth),
only the layers after it recomputed, as ibx does) and the peak RSS.
"""
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import make_golden_transformer as mg  # noqa: E402

(threads, B, T, layers, D, heads, ff, vocab) = (int(a) for a in sys.argv[1:9])
dropout = float(sys.argv[9])
min_steps, min_iba = int(sys.argv[10]), int(sys.argv[11])
min_s = float(sys.argv[12]) if len(sys.argv) > 12 else 10.0
torch.set_num_threads(threads)
torch.manual_seed(0)


class Model(mg.TextTransformer):
    def __init__(self):
        super().__init__(layers, D, heads, ff, T, vocab, 4)
        layer = nn.TransformerEncoderLayer(D, heads, ff, dropout=dropout, activation="gelu",
                                           batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, ids, pad):
        h = self.drop(self.embedding.norm(self.embedding.token(ids) +
                                          self.embedding.position.weight[:ids.shape[1]][None]))
        h = self.encoder(h, src_key_padding_mask=pad)
        return self.classifier(self.drop(torch.tanh(self.pooler(h[:, 0]))))


m = Model()
opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.01)
ids = torch.randint(5, vocab, (B, T))
ids[:, 0] = 2
pad = torch.zeros(B, T, dtype=torch.bool)
labels = torch.arange(B) % 4
m.train()
t_train, steps, s = 0.0, 0, -3
while True:
    s += 1
    if s >= 0 and steps >= min_steps and t_train >= min_s:
        break
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = F.cross_entropy(m(ids, pad), labels)
    loss.backward()
    opt.step()
    if s >= 0:
        t_train += time.perf_counter() - t0
        steps += 1
print(f"torch train step: {t_train / steps:.4f} s ({B * steps / t_train:.1f} sequences/s; "
      f"{steps} steps in {t_train:.1f} s)")

if min_iba > 0:
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    layer = max(1, (2 * layers + 1) // 3)
    with torch.no_grad():
        h = m.embedding.norm(m.embedding.token(ids[:16]) + m.embedding.position.weight[:T][None])
        for l in m.encoder.layers[:layer]:
            h = l(h)
        mu, sd = h.reshape(-1, D).mean(0), h.reshape(-1, D).std(0).clamp(min=0.01)
    t_iba, n_iba, s = 0.0, 0, -2
    while True:
        s += 1
        if s >= 0 and n_iba >= min_iba and t_iba >= min_s:
            break
        t0 = time.perf_counter()
        x = ids[(s + 1) % B:(s + 1) % B + 1]
        with torch.no_grad():
            R = m.embedding.norm(m.embedding.token(x) + m.embedding.position.weight[:T][None])
            for l in m.encoder.layers[:layer]:
                R = l(R)
        alpha = torch.full((T, D), 5.0, requires_grad=True)
        o = torch.optim.Adam([alpha], lr=1.0)
        rn = (R[0] - mu) / sd
        for it in range(10):
            o.zero_grad()
            lam = torch.sigmoid(alpha)
            z = lam * R + (1 - lam) * (mu + sd * torch.randn(10, T, D))
            hz = z
            for l in m.encoder.layers[layer:]:
                hz = l(hz)
            logits = m.classifier(torch.tanh(m.pooler(hz[:, 0])))
            cap = -0.5 * (1 + torch.log((1 - lam) ** 2) - (lam * rn) ** 2 - (1 - lam) ** 2)
            loss = F.cross_entropy(logits, torch.zeros(10, dtype=torch.long)) + 1e-5 * cap.mean()
            loss.backward()
            o.step()
        if s >= 0:
            t_iba += time.perf_counter() - t0
            n_iba += 1
    print(f"torch per-sample IBA: {t_iba / n_iba:.4f} s per sequence ({n_iba} sequences in {t_iba:.1f} s)")
print(f"torch peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
