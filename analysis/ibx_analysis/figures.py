"""The papers' figures from ibx results, with matplotlib (Agg), each saved as
PNG and PDF:

* fig3_attention: AIB Figure 3, attention maps of one or more runs over the
  same test images (the maps ibx stored with `eval error --save-outputs`,
  or, if absent, those of the PyTorch model on the rebuilt inputs);
* fig4_ablation: AIB Figure 4, top-1 error (percent) against beta, K or Q,
  one line per head (and any other varied key), mean and sample standard
  deviation over seeds as error bars;
* iba_degradation: the IBA paper's degradation curves, MoRF and LeRF of
  every attribution method (averaged over the sweep's runs), 8x8 and 14x14
  tiles.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .sweep import load_sweep, sweep_runs, varied_keys  # noqa: E402


def save(fig, out_base):
    """Writes out_base.png and out_base.pdf; returns both paths."""
    paths = [out_base + ".png", out_base + ".pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _label(run, keys):
    m = run.config["model"]
    parts = [f"{m['backbone']}/{m['head']}"]
    for k in keys:
        if k in ("model.backbone", "model.head", "train.seed"):
            continue
        parts.append(f"{k.split('.', 1)[1]}={run.flat_config[k]}")
    return " ".join(parts)


def _upsample(m, size):
    """Bilinear resize of a [h, w] map to size x size (align_corners false)."""
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


def run_maps(run, n, map_index=0):
    """(images [n, H, W] in pixel units, labels, predictions, maps [n, h, w])
    of the first n test images; maps from error.h5 when saved, else from
    the PyTorch model."""
    from .data import canvas, load_split
    images, labels = load_split(run.config, "test")
    size = int(run.config["data"]["image_size"])
    pics = canvas(images[:n], size).mean(axis=1)
    try:
        frame, _, maps = run.outputs()
        if len(frame) < n or not maps:
            raise KeyError
        return pics, labels[:n], frame["prediction"].values[:n], maps[map_index][:n]
    except (KeyError, FileNotFoundError):
        import torch
        model = run.model()
        x, _ = run.inputs(limit=n)
        with torch.no_grad():
            logits, maps = model.forward_with_maps(x)
        if not maps:
            raise ValueError(f"{run.dir}: head {model.head} has no attention map")
        return pics, labels[:n], logits.argmax(1).numpy(), maps[map_index][:, 0].numpy()


def fig3_attention(runs, out_base, n=6, map_index=0, seeds=None):
    """Input row, then one row per run: its attention map (bilinear to the
    input size, per-image min-max) over the image; titles give label and
    prediction.  runs: Run objects (e.g. sweep_runs(...)[0])."""
    runs = [r for r in runs if seeds is None or r.flat_config.get("train.seed") in seeds]
    keys = varied_keys(runs) if len(runs) > 1 else []
    rows = [run_maps(r, n, map_index) for r in runs]
    pics = rows[0][0]
    fig, axes = plt.subplots(len(runs) + 1, n, figsize=(1.6 * n, 1.7 * (len(runs) + 1)),
                             squeeze=False)
    for j in range(n):
        axes[0, j].imshow(pics[j], cmap="gray")
        axes[0, j].set_title(f"label {rows[0][1][j]}", fontsize=7)
    for i, (r, (_, _, pred, maps)) in enumerate(zip(runs, rows), start=1):
        for j in range(n):
            m = _upsample(maps[j], pics.shape[-1])
            lo, hi = float(m.min()), float(m.max())
            axes[i, j].imshow(pics[j], cmap="gray")
            axes[i, j].imshow((m - lo) / (hi - lo) if hi > lo else m * 0, cmap="jet",
                              alpha=0.5, vmin=0, vmax=1)
            axes[i, j].set_title(f"pred {pred[j]}", fontsize=7)
        axes[i, 0].set_ylabel(_label(r, keys) + f"\nseed {r.flat_config.get('train.seed')}",
                              fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_ylabel("input", fontsize=7)
    fig.suptitle("Attention maps (AIB Figure 3)", fontsize=9)
    return save(fig, out_base)


def ablation_table(frame, key, error_name=None):
    """Mean, std and count over seeds of top1_error (percent) per value of
    key and per setting of the other varied keys."""
    e = frame[(frame["kind"] == "error") & (frame["metric"] == "top1_error")]
    if error_name:
        e = e[e["name"] == error_name]
    others = [c for c in frame.columns
              if c not in ("run_id", "kind", "name", "metric", "value", "source", key,
                           "train.seed")]
    g = e.groupby(others + ["name", key], dropna=False)["value"]
    return g.agg(["mean", "std", "count"]).reset_index(), others


def fig4_ablation(sweep_dir, out_base, keys=("model.beta", "model.K", "model.Q"),
                  error_name=None):
    """One panel per key of `keys` the sweep varies: top-1 error against it,
    one line per other setting (head, ...), error bars = sample std over
    seeds (0 with one seed)."""
    frame = load_sweep(sweep_dir)
    keys = [k for k in keys if k in frame.columns]
    if not keys:
        raise ValueError(f"{sweep_dir}: the sweep varies none of beta, K, Q")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        table, others = ablation_table(frame, key, error_name)
        for setting, t in table.groupby(others + ["name"], dropna=False):
            t = t.sort_values(key)
            label = " ".join(str(s) for s in (setting if isinstance(setting, tuple)
                                              else (setting,)))
            ax.errorbar(t[key].astype(float), t["mean"], yerr=t["std"].fillna(0.0),
                        marker="o", capsize=3, label=label)
        vals = table[key].astype(float)
        if key == "model.beta" and (vals > 0).all() and vals.max() / vals.min() >= 10:
            ax.set_xscale("log")
        ax.set_xlabel(key.split(".", 1)[1])
        ax.set_ylabel("top-1 error (%)")
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
    fig.suptitle("Ablations (AIB Figure 4): mean and std over seeds", fontsize=9)
    return save(fig, out_base)


def degradation_frame(runs):
    """Degradation curves of all runs, long format with run_id."""
    parts = []
    for r in runs:
        c = r.degradation_curves()
        if not c.empty:
            parts.append(c.assign(run_id=r.id))
    if not parts:
        raise ValueError("no run has results/attribution.h5")
    return pd.concat(parts, ignore_index=True)


def iba_degradation(sweep_dir, out_base):
    """MoRF (solid) and LeRF (dashed) of every method, averaged over the
    sweep's runs; one panel per tile size; legend with the mean area
    between the curves (the degradation score)."""
    runs, _ = sweep_runs(sweep_dir)
    curves = degradation_frame(runs)
    mean = curves.groupby(["method", "tiles", "order", "fraction"])["value"].mean().reset_index()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), squeeze=False)
    methods = sorted(mean["method"].unique())
    colours = plt.cm.tab20(np.linspace(0, 1, max(len(methods), 2)))
    for ax, tiles in zip(axes[0], (8, 14)):
        for m, col in zip(methods, colours):
            t = mean[(mean["method"] == m) & (mean["tiles"] == tiles)]
            mo = t[t["order"] == "morf"].sort_values("fraction")
            le = t[t["order"] == "lerf"].sort_values("fraction")
            area = float(np.trapz(le["value"].values - mo["value"].values, mo["fraction"].values))
            ax.plot(mo["fraction"], mo["value"], color=col, label=f"{m} ({area:.3f})")
            ax.plot(le["fraction"], le["value"], color=col, linestyle="--")
        ax.set_xlabel("fraction of tiles removed")
        ax.set_ylabel("normalised target probability")
        ax.set_title(f"{tiles}x{tiles}-equivalent tiles: MoRF solid, LeRF dashed", fontsize=8)
        ax.legend(fontsize=5)
        ax.grid(alpha=0.3)
    n = curves["run_id"].nunique()
    fig.suptitle(f"IBA degradation curves ({n} run{'s' if n > 1 else ''})", fontsize=9)
    return save(fig, out_base)
