"""ibx checkpoints (docs/checkpoint-format.md) into PyTorch."""
import h5py
import numpy as np
import torch

from .config import parse_config
from .models import model_from_config

# the layer that holds the number of classes, per head and backbone
_CLASS_KEYS = ("features.45.weight", "decoder.2.weight", "classify.0.weight",
               "classifier.3.weight", "classifier.1.weight")


def _attr(v):
    return v.decode() if isinstance(v, bytes) else v


def read_checkpoint(path):
    """(state, meta): state maps every /model tensor name to a torch tensor
    (float32), meta holds the root attributes (epoch, step, seed, best_error,
    config text, ...) with 'config' also parsed as meta['cfg']."""
    with h5py.File(path, "r") as f:
        if _attr(f.attrs.get("format", "")) != "ibx-checkpoint":
            raise ValueError(f"{path}: not an ibx checkpoint (no format attribute)")
        state = {}
        f["model"].visititems(lambda name, obj: state.__setitem__(
            name, torch.from_numpy(np.asarray(obj[...], dtype=np.float32)))
            if isinstance(obj, h5py.Dataset) else None)
        meta = {k: _attr(v) for k, v in f.attrs.items()}
    meta["cfg"] = parse_config(meta["config"])
    return state, meta


def infer_io(state):
    """(in_channels, num_classes) from a checkpoint's tensors."""
    first = state.get("features.0.weight", state.get("conv1.0.weight"))
    if first is None:
        raise ValueError("no features.0.weight or conv1.0.weight: not an ibx vgg16/wrn model")
    for k in _CLASS_KEYS:
        if k in state:
            return int(first.shape[1]), int(state[k].shape[0])
    raise ValueError("cannot find the classifier's weight in the checkpoint")


def load_ibx_checkpoint(path, strict=True, eval_mode=True):
    """The nn.Module (ibx_analysis.models.IbxModel) of an ibx checkpoint, with
    its weights and batch-norm statistics loaded strictly (every name and
    shape must match, nothing left over), in evaluation mode.  The parsed
    config is model.ibx_config, the root attributes model.ibx_meta."""
    state, meta = read_checkpoint(path)
    cin, classes = infer_io(state)
    model = model_from_config(meta["cfg"], cin, classes)
    model.load_state_dict(state, strict=strict)
    model.ibx_config, model.ibx_meta = meta["cfg"], meta
    return model.eval() if eval_mode else model
