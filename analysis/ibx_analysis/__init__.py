"""ibx results and checkpoints in Python (docs/python.md).

    import sys; sys.path.insert(0, "analysis")
    import ibx_analysis as ia
    df = ia.load_sweep("results/fmnist_demo")              # tidy pandas DataFrame
    model = ia.load_ibx_checkpoint("results/run/best.h5")  # torch.nn.Module, eval mode

Modules: config (INI), checkpoint (load_ibx_checkpoint), models (nn.Modules
of every backbone and head), data (datasets and the input pipeline), run
(one run directory), sweep (a whole sweep), figures (the papers' figures).
Debian packages only: python3-h5py, -numpy, -torch, -pandas, -matplotlib.
"""
from .attribution import iba_authors_scale  # noqa: F401
from .config import flatten, parse_config, read_config  # noqa: F401
from .run import Run, load_run  # noqa: F401
from .sweep import load_sweep, runs_frame, seed_stats, sweep_runs, varied_keys  # noqa: F401

__all__ = ["Run", "load_run", "load_sweep", "runs_frame", "seed_stats", "sweep_runs",
           "varied_keys", "flatten", "parse_config", "read_config", "iba_authors_scale",
           "load_ibx_checkpoint", "read_checkpoint", "IbxModel", "model_from_config"]


def __getattr__(name):
    # torch is imported only when a model is asked for
    if name in ("load_ibx_checkpoint", "read_checkpoint"):
        from . import checkpoint
        return getattr(checkpoint, name)
    if name in ("IbxModel", "model_from_config"):
        from . import models
        return getattr(models, name)
    raise AttributeError(name)
