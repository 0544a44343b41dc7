"""One run directory (what `ibx train` and the evaluation commands write,
docs/checkpoint-format.md) as plain objects and pandas DataFrames.

Units: every error is in percent (error.h5 top1_error, metrics.h5
train_error/test_error, checkpoint best_error); metrics files and
checkpoints from before that (no error_unit attribute) hold fractions and
are converted here.
"""
import glob
import os

import h5py
import numpy as np
import pandas as pd

from .config import flatten, read_config


def _attrs(obj):
    return {k: (v.decode() if isinstance(v, bytes) else
                v.item() if isinstance(v, np.generic) else v) for k, v in obj.attrs.items()}


class Run:
    """A run directory: Run(path).config, .metrics_epochs(), .errors(), .model(), ..."""

    def __init__(self, path):
        self.dir = os.path.abspath(path)
        self.id = os.path.basename(self.dir.rstrip("/"))
        for name in ("run.ini", "config.ini"):
            if os.path.exists(os.path.join(self.dir, name)):
                self.config = read_config(os.path.join(self.dir, name))
                break
        else:
            ckpt = self.checkpoint()
            if ckpt is None:
                raise FileNotFoundError(f"{self.dir}: no run.ini, config.ini or checkpoint")
            from .checkpoint import read_checkpoint
            self.config = read_checkpoint(ckpt)[1]["cfg"]
        self.flat_config = flatten(self.config)
        self.results_dir = os.path.join(self.dir, "results")

    def __repr__(self):
        m = self.config.get("model", {})
        return f"Run({self.id}: {m.get('backbone')}/{m.get('head')})"

    # -- checkpoints
    def checkpoints(self):
        """ckpt-<step>.h5 files, oldest first."""
        return sorted(glob.glob(os.path.join(self.dir, "ckpt-*.h5")))

    def checkpoint(self):
        """The one `ibx eval` uses: the newest ckpt-<step>.h5 (else best.h5)."""
        c = self.checkpoints()
        return c[-1] if c else self.best()

    def best(self):
        """best.h5 (lowest test error so far; `ibx attribute` prefers it), else None."""
        best = os.path.join(self.dir, "best.h5")
        return best if os.path.exists(best) else None

    def model(self, checkpoint=None):
        """The run's nn.Module with the checkpoint's weights (strict), in eval mode."""
        from .checkpoint import load_ibx_checkpoint  # torch only when a model is asked for
        return load_ibx_checkpoint(checkpoint or self.checkpoint())

    def checkpoint_meta(self, checkpoint=None):
        from .checkpoint import read_checkpoint
        meta = read_checkpoint(checkpoint or self.checkpoint())[1]
        if "error_unit" not in meta:
            meta["best_error"] = 100.0 * meta["best_error"]
        return meta

    # -- metrics
    def _metrics(self, group):
        path = os.path.join(self.dir, "metrics.h5")
        with h5py.File(path, "r", swmr=True) as f:
            scale = 1.0 if "error_unit" in f.attrs else 100.0
            df = pd.DataFrame({k: f[group][k][...] for k in f[group]})
        for c in ("train_error", "test_error"):
            if c in df:
                df[c] = df[c] * scale
        return df

    def metrics_steps(self):
        """/step rows: step, epoch, loss, ce, kl, vq, commit, lr, img_per_s, grad_norm."""
        return self._metrics("step")

    def metrics_epochs(self):
        """/epoch rows: epoch, train_error, test_error (percent), loss parts, seconds."""
        return self._metrics("epoch")

    # -- results
    def _result(self, name):
        path = os.path.join(self.results_dir, name + ".h5")
        return h5py.File(path, "r") if os.path.exists(path) else None

    def errors(self):
        """One row per /error/<name>: name, top1_error (percent), n_samples,
        n_correct, dataset, split, checkpoint."""
        f = self._result("error")
        rows = []
        if f is not None:
            with f:
                for name, g in f["error"].items():
                    rows.append({"name": name, **_attrs(g)})
        return pd.DataFrame(rows)

    def interpret(self):
        """One row per /interpret/<modification>/<param>: score (percent) and counts."""
        f = self._result("interpret")
        rows = []
        if f is not None:
            with f:
                for mod, g in f["interpret"].items():
                    for param, h in g.items():
                        rows.append({"modification": mod, "param": param, **_attrs(h)})
        return pd.DataFrame(rows)

    def attribution(self):
        """One row per /attribution/<method>: degradation_8, degradation_14,
        bbox_ratio, n_images, n_bbox."""
        f = self._result("attribution")
        rows = []
        if f is not None and "attribution" in f:
            with f:
                for method, g in f["attribution"].items():
                    rows.append({"method": method, **_attrs(g)})
        return pd.DataFrame(rows)

    def degradation_curves(self):
        """Long table: method, tiles (8, 14), order (morf, lerf), fraction
        removed, value (normalised target probability)."""
        f = self._result("attribution")
        rows = []
        if f is not None and "attribution" in f:
            with f:
                for method, g in f["attribution"].items():
                    for tiles in (8, 14):
                        for order in ("morf", "lerf"):
                            v = g[f"{order}_{tiles}"][...]
                            for j, y in enumerate(v):
                                rows.append({"method": method, "tiles": tiles, "order": order,
                                             "fraction": j / (len(v) - 1), "value": float(y)})
        return pd.DataFrame(rows)

    def outputs(self, name=None):
        """Per-image outputs of `ibx eval error --save-outputs` for /error/<name>
        (default: the only or first group): (frame, logits [N, classes],
        maps [list of [N, h, w]]); frame has index, label, prediction, correct."""
        f = self._result("error")
        if f is None:
            raise FileNotFoundError(f"{self.results_dir}/error.h5: not evaluated yet")
        with f:
            name = name or sorted(f["error"])[0]
            g = f["error"][name]
            if "logits" not in g:
                raise KeyError(f"{self.results_dir}/error.h5 /error/{name}: no per-image "
                               "outputs (run `ibx eval error --save-outputs`)")
            label, pred = g["label"][...], g["prediction"][...]
            logits = g["logits"][...]
            maps = [g[f"attention_{i}"][...] for i in range(int(g.attrs["n_attention_maps"]))]
        frame = pd.DataFrame({"index": np.arange(len(label)), "label": label,
                              "prediction": pred, "correct": label == pred})
        return frame, logits, maps

    def heatmaps(self):
        """Raw heatmaps of `ibx attribute --save-heatmaps`: ({method: [N, H, W]},
        targets [N])."""
        f = self._result("attribution")
        if f is None or "heatmaps" not in f:
            raise KeyError(f"{self.results_dir}/attribution.h5: no /heatmaps (run "
                           "`ibx attribute --save-heatmaps`)")
        with f:
            g = f["heatmaps"]
            maps = {k: g[k][...] for k in g if k != "target"}
            return maps, g["target"][...]

    def inputs(self, limit=None, split="test"):
        """(x, labels) of the first `limit` images of the run's split through
        its input pipeline (ibx_analysis.data)."""
        from .data import test_inputs
        return test_inputs(self.config, limit=limit, split=split)


def load_run(path):
    return Run(path)
