#!/usr/bin/python3
"""Writes tests/fixtures/golden_transformer.h5: PyTorch references for the
transformer layers and the transformer text classifier, read by
tests/test_golden_transformer.c.

    /usr/bin/python3 scripts/make_golden_transformer.py [--out tests/fixtures]

Needs Debian's python3-torch and python3-h5py. Groups:

  mha        nn.MultiheadAttention(batch_first=True) with a key_padding_mask
             (sample 1 has 2 padded keys): x, key_pad (uint8, 1 = padded),
             params/{in_proj_weight,in_proj_bias,out_proj.weight,
             out_proj.bias}, y, dy (the upstream gradient), dx,
             grads/<name>.
  layernorm  nn.LayerNorm(7) on rows with a large common offset (1e3):
             x, params/{weight,bias}, y, dy, dx, grads/<name>.
  gelu       nn.GELU() (erf form): x, y, dy, dx.
  model      the text classifier of include/ibx/transformer.h: BERT-style
             embeddings (token + learned position, LayerNorm), a 2-layer
             nn.TransformerEncoder of post-LN nn.TransformerEncoderLayer
             (norm_first=False, activation="gelu", batch_first=True), a tanh
             pooler on [CLS] and a linear classifier; dropout 0. ids [3,7]
             (int32, padded with 0 past each length), lengths, labels,
             params/<name> (PyTorch's names), logits, loss (mean
             cross-entropy), grads/<name> (d loss / d parameter), d_tok_emb
             (d loss / d token embeddings), cls_attention (last layer's [CLS]
             attention weights averaged over heads), hidden1 (the states
             after encoder layer 1).
  mlm        the masked-language model (cfg.mlm): the same encoder with
             BERT's LM head (mlm.dense, GELU, mlm.norm, decoder tied to
             embedding.token.weight plus mlm.decoder.bias); ids [3,7] with
             [MASK], random and kept positions, targets (-1: not predicted),
             lengths, params/<name>, loss (cross_entropy, ignore_index=-1),
             grads/<name>.

Conventions (as make_golden.py): inputs and parameters are float32 draws;
the references are computed in float64 from those exact values and rounded
to float32 once.
"""
import argparse
import os

import h5py
import numpy as np
import torch
import torch.nn as nn

DT = torch.float64


def f32(g, *shape, scale=1.0, shift=0.0):
    """float32 normal draws, returned as float64 (exactly representable)."""
    x = torch.randn(*shape, generator=g, dtype=torch.float32) * scale + shift
    return x.to(DT)


def put(grp, name, t):
    a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    grp.create_dataset(name, data=a)


def mha_case(f):
    g = torch.Generator().manual_seed(1)
    N, T, D, H = 2, 5, 8, 2
    m = nn.MultiheadAttention(D, H, batch_first=True).to(DT)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(f32(g, *p.shape, scale=0.4))
    x = f32(g, N, T, D).requires_grad_(True)
    pad = torch.zeros(N, T, dtype=torch.bool)
    pad[1, 3:] = True
    y, _ = m(x, x, x, key_padding_mask=pad, need_weights=False)
    dy = f32(g, N, T, D)
    y.backward(dy)
    grp = f.create_group("mha")
    grp.attrs["heads"] = H
    put(grp, "x", x)
    put(grp, "key_pad", pad.to(torch.uint8).numpy())
    for name, p in m.named_parameters():
        put(grp, "params/" + name, p)
        put(grp, "grads/" + name, p.grad)
    put(grp, "y", y)
    put(grp, "dy", dy)
    put(grp, "dx", x.grad)


def layernorm_case(f):
    g = torch.Generator().manual_seed(2)
    m = nn.LayerNorm(7).to(DT)
    with torch.no_grad():
        m.weight.copy_(f32(g, 7, scale=0.5, shift=1.0))
        m.bias.copy_(f32(g, 7, scale=0.5))
    x = f32(g, 4, 3, 7, shift=1e3).requires_grad_(True)
    y = m(x)
    dy = f32(g, 4, 3, 7)
    y.backward(dy)
    grp = f.create_group("layernorm")
    put(grp, "x", x)
    for name, p in m.named_parameters():
        put(grp, "params/" + name, p)
        put(grp, "grads/" + name, p.grad)
    put(grp, "y", y)
    put(grp, "dy", dy)
    put(grp, "dx", x.grad)


def gelu_case(f):
    g = torch.Generator().manual_seed(3)
    x = f32(g, 5, 9, scale=3.0).requires_grad_(True)
    y = nn.GELU()(x)
    dy = f32(g, 5, 9)
    y.backward(dy)
    grp = f.create_group("gelu")
    put(grp, "x", x)
    put(grp, "y", y)
    put(grp, "dy", dy)
    put(grp, "dx", x.grad)


class Embedding(nn.Module):
    def __init__(self, vocab, max_len, d):
        super().__init__()
        self.token = nn.Embedding(vocab, d)
        self.position = nn.Embedding(max_len, d)
        self.norm = nn.LayerNorm(d)


class TextTransformer(nn.Module):
    """The module of include/ibx/transformer.h (dropout 0 here)."""

    def __init__(self, layers, d, heads, d_ff, max_len, vocab, classes):
        super().__init__()
        self.embedding = Embedding(vocab, max_len, d)
        layer = nn.TransformerEncoderLayer(d, heads, d_ff, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.pooler = nn.Linear(d, d)
        self.classifier = nn.Linear(d, classes)

    def forward(self, ids, lengths, tok_emb=None):
        N, T = ids.shape
        pad = torch.arange(T)[None, :] >= lengths[:, None]
        if tok_emb is None:
            tok_emb = self.embedding.token(ids)
        h = self.embedding.norm(tok_emb + self.embedding.position.weight[:T][None])
        hidden = [h]
        attn = None
        for i, layer in enumerate(self.encoder.layers):
            if i == len(self.encoder.layers) - 1:
                _, attn = layer.self_attn(h, h, h, key_padding_mask=pad, need_weights=True,
                                          average_attn_weights=True)
            h = layer(h, src_key_padding_mask=pad)
            hidden.append(h)
        pooled = torch.tanh(self.pooler(h[:, 0]))
        return self.classifier(pooled), attn[:, 0, :], hidden


def model_group(f, name, cfg, m, ids, lengths):
    """The group of a whole-model case: its shape as attributes (read by the
    test's fixture_config), the parameter count, the token ids and lengths."""
    grp = f.create_group(name)
    for k, v in cfg.items():
        grp.attrs[k] = v
    grp.attrs["n_params"] = len(list(m.parameters()))
    grp.create_dataset("ids", data=ids.numpy().astype(np.int32))
    grp.create_dataset("lengths", data=lengths.numpy().astype(np.int32))
    return grp


def model_case(f):
    g = torch.Generator().manual_seed(4)
    cfg = dict(layers=2, d=8, heads=2, d_ff=12, max_len=7, vocab=11, classes=3)
    m = TextTransformer(**cfg).to(DT)
    m.train()  # dropout is 0; train mode keeps PyTorch off its inference fast path
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("norm.weight") or ".norm1.weight" in name or ".norm2.weight" in name:
                p.copy_(f32(g, *p.shape, scale=0.2, shift=1.0))
            else:
                p.copy_(f32(g, *p.shape, scale=0.3))
    lengths = torch.tensor([7, 4, 2])
    ids = torch.randint(5, cfg["vocab"], (3, 7), generator=g)
    ids[:, 0] = 2  # [CLS]
    for n, L in enumerate(lengths.tolist()):
        ids[n, L - 1] = 3  # [SEP]
        ids[n, L:] = 0  # [PAD]
    labels = torch.tensor([2, 0, 1])
    tok = m.embedding.token(ids).detach().requires_grad_(True)
    logits, attn, hidden = m(ids, lengths, tok_emb=tok)
    loss = nn.functional.cross_entropy(logits, labels)
    loss.backward()
    # the table's gradient is the token-embedding gradient scattered by id
    dtable = torch.zeros_like(m.embedding.token.weight)
    dtable.index_add_(0, ids.reshape(-1), tok.grad.reshape(-1, cfg["d"]))
    grp = model_group(f, "model", cfg, m, ids, lengths)
    grp.create_dataset("labels", data=labels.numpy().astype(np.int32))
    for name, p in m.named_parameters():
        put(grp, "params/" + name, p)
        put(grp, "grads/" + name, dtable if name == "embedding.token.weight" else p.grad)
    put(grp, "logits", logits)
    put(grp, "loss", loss.reshape(1))
    put(grp, "d_tok_emb", tok.grad)
    put(grp, "cls_attention", attn)
    put(grp, "hidden1", hidden[1])


class MLMHead(nn.Module):
    """BERT's LM head: dense + GELU + LayerNorm, decoder tied to the token
    embedding plus its own bias (include/ibx/transformer.h, cfg.mlm)."""

    def __init__(self, d, vocab):
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.decoder = nn.Module()
        self.decoder.bias = nn.Parameter(torch.zeros(vocab))


class MaskedLM(nn.Module):
    def __init__(self, layers, d, heads, d_ff, max_len, vocab):
        super().__init__()
        self.embedding = Embedding(vocab, max_len, d)
        layer = nn.TransformerEncoderLayer(d, heads, d_ff, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.mlm = MLMHead(d, vocab)

    def forward(self, ids, lengths):
        T = ids.shape[1]
        pad = torch.arange(T)[None, :] >= lengths[:, None]
        h = self.embedding.norm(self.embedding.token(ids) + self.embedding.position.weight[:T][None])
        for layer in self.encoder.layers:
            h = layer(h, src_key_padding_mask=pad)
        y = self.mlm.norm(nn.functional.gelu(self.mlm.dense(h)))
        return y @ self.embedding.token.weight.t() + self.mlm.decoder.bias


def mlm_case(f):
    g = torch.Generator().manual_seed(9)
    cfg = dict(layers=2, d=8, heads=2, d_ff=12, max_len=7, vocab=13)
    m = MaskedLM(**cfg).to(DT)
    m.train()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("norm.weight") or ".norm1.weight" in name or ".norm2.weight" in name:
                p.copy_(f32(g, *p.shape, scale=0.2, shift=1.0))
            else:
                p.copy_(f32(g, *p.shape, scale=0.3))
    lengths = torch.tensor([7, 5, 3])
    ids = torch.randint(5, cfg["vocab"], (3, 7), generator=g)
    ids[:, 0] = 2
    targets = torch.full((3, 7), -1, dtype=torch.long)
    for n, L in enumerate(lengths.tolist()):
        ids[n, L - 1] = 3
        ids[n, L:] = 0
    # masked (id 4), a random token and a kept one are all predicted
    targets[0, 1], ids[0, 1] = 9, 4
    targets[0, 3] = int(ids[0, 3])
    targets[0, 5], ids[0, 5] = 12, 6
    targets[1, 2], ids[1, 2] = 7, 4
    targets[2, 1], ids[2, 1] = 11, 4
    logits = m(ids, lengths)
    loss = nn.functional.cross_entropy(logits.reshape(-1, cfg["vocab"]), targets.reshape(-1),
                                       ignore_index=-1)
    loss.backward()
    grp = model_group(f, "mlm", cfg, m, ids, lengths)
    grp.create_dataset("targets", data=targets.numpy().astype(np.int32))
    for name, p in m.named_parameters():
        put(grp, "params/" + name, p)
        put(grp, "grads/" + name, p.grad)
    put(grp, "loss", loss.reshape(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    args = ap.parse_args()
    path = os.path.normpath(os.path.join(args.out, "golden_transformer.h5"))
    with h5py.File(path, "w") as f:
        f.attrs["torch_version"] = str(torch.__version__)
        mha_case(f)
        layernorm_case(f)
        gelu_case(f)
        model_case(f)
        mlm_case(f)
    print("wrote", path)


if __name__ == "__main__":
    main()
