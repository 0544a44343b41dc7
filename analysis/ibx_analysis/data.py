"""The images a run was trained and evaluated on, and ibx's input pipeline
(include/ibx/eval.h, src/data/augment.c): an image is centred on (zero-padded
or centre-cropped to) data.image_size, then x = pixel / (255 std) - mean / std
per channel, with mean and std of x / 255 over the *whole* training split
(data.train_limit does not change them), population std, in float32.

Readers: fashion-mnist, mnist (IDX files, gzipped or not), cifar10,
cifar100 (binary versions) and h5 (ibx's native files; `ibx data convert`
writes them from every other format, docs/data.md).
"""
import gzip
import os

import h5py
import numpy as np
import torch

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def _read_idx(path):
    if not os.path.exists(path) and path.endswith(".gz") and os.path.exists(path[:-3]):
        path = path[:-3]
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_split(directory, split):
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"))
    labels = _read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"))
    return images[:, None, :, :].copy(), labels.astype(np.int64)


def _cifar_split(directory, split, variant):
    if variant == 10:
        names = ([f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train"
                 else ["test_batch.bin"])
        rec, lab = 3073, 0
    else:
        names, rec, lab = ([f"{split}.bin"], 3074, 1)
    raw = np.concatenate([np.fromfile(os.path.join(directory, n), dtype=np.uint8)
                          for n in names]).reshape(-1, rec)
    return (raw[:, rec - 3072:].reshape(-1, 3, 32, 32).copy(),
            raw[:, lab].astype(np.int64))


def load_h5_dataset(path):
    """(images uint8 [N, C, H, W], labels int64 [N]) of a native ibx file."""
    with h5py.File(path, "r") as f:
        return f["images"][...], f["labels"][...].astype(np.int64)


def load_split(cfg, split):
    """(images uint8 [N, C, H, W], labels int64 [N]) of a run's data.dataset."""
    name, path = cfg["data"]["dataset"], cfg["data"].get("path", "") or ""
    if name == "fashion-mnist":
        return _idx_split(path or FASHION_MNIST_DIR, split)
    if not path:
        raise ValueError(f"dataset '{name}' needs data.path")
    if name == "mnist":
        return _idx_split(path, split)
    if name in ("cifar10", "cifar100"):
        return _cifar_split(path, split, 10 if name == "cifar10" else 100)
    if name == "h5":
        return load_h5_dataset(os.path.join(path, f"{split}.h5"))
    raise NotImplementedError(
        f"dataset '{name}': convert it with `ibx data convert --format {name} --split {split} "
        f"{path} {split}.h5` and read it with load_h5_dataset")


def channel_stats(images):
    """ibx_dataset_channel_stats: per-channel mean and population std of
    pixel / 255 over all images, as float32."""
    n, c, h, w = images.shape
    s = np.zeros(c, dtype=np.float64)
    s2 = np.zeros(c, dtype=np.float64)
    for i in range(0, n, 1024):  # exact integer sums, chunked (CIFAR: 50000 images)
        x = images[i:i + 1024].astype(np.uint64)
        s += x.sum(axis=(0, 2, 3)).astype(np.float64)
        s2 += (x * x).sum(axis=(0, 2, 3)).astype(np.float64)
    count = n * h * w
    m = s / count
    var = np.maximum(s2 / count - m * m, 0.0)
    return (m / 255.0).astype(np.float32), (np.sqrt(var) / 255.0).astype(np.float32)


def canvas(images, size):
    """Centres uint8 images [N, C, h, w] on size x size (zero padding or a
    centre crop, offsets (size - h) / 2 truncated towards zero as in C)."""
    n, c, h, w = images.shape
    out = np.zeros((n, c, size, size), dtype=np.float32)
    oy, ox = int((size - h) / 2), int((size - w) / 2)
    for y in range(size):
        sy = y - oy
        if 0 <= sy < h:
            xs = [x for x in range(size) if 0 <= x - ox < w]
            if xs:
                out[:, :, y, xs[0]:xs[-1] + 1] = images[:, :, sy, xs[0] - ox:xs[-1] - ox + 1]
    return out


def normalise(canv, mean, std):
    """x = canvas * (1 / (255 std)) + (-mean / std), per channel, float32."""
    scale = (np.float32(1.0) / (np.float32(255.0) * std)).astype(np.float32)
    bias = (-mean / std).astype(np.float32)
    return canv * scale[None, :, None, None] + bias[None, :, None, None]


class InputPipeline:
    """The test-time inputs of a run: InputPipeline(cfg)(images) -> tensor."""

    def __init__(self, cfg, train_images=None):
        if train_images is None:
            train_images, _ = load_split(cfg, "train")
        self.mean, self.std = channel_stats(train_images)
        self.size = int(cfg["data"]["image_size"])

    def __call__(self, images):
        return torch.from_numpy(normalise(canvas(images, self.size), self.mean, self.std))


def test_inputs(cfg, limit=None, split="test"):
    """(x float32 tensor [N, C, S, S], labels int64 [N]) of the first `limit`
    images of a run's split, through the run's input pipeline."""
    images, labels = load_split(cfg, split)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return InputPipeline(cfg)(images), torch.from_numpy(labels)
