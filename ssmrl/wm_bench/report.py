"""The benchmark's outputs: one flat table row per (model, task), MSE-vs-horizon curves (one PNG per task, one
line per model) and image strips (truth above, imagination below). Host-side numpy and matplotlib (Agg) only."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ssmrl.wm_bench.openloop import OpenLoopResult


def table_row(model: str, task: str, result: OpenLoopResult, train_metrics: dict | None = None,
              train_speed: dict | None = None, imagine_speed: list[dict] | None = None, **extra: Any) -> dict:
    """One flat row (str / int / float values) for (model, task):

    model, task, context, horizon; every ``result.summary`` entry (mse, mse_<marker>, reward_*); mse at the
    first, middle and last horizon (``mse_k1``, ``mse_kmid``, ``mse_klast``); from ``train_metrics`` ({name:
    [steps]}, as ``offline.fit`` returns) ``train_steps`` and the final ``train_loss`` / ``train_recon_loss``
    (mean of the last 10 steps); from ``train_speed`` (``offline.train_throughput``) ``train_T``, ``train_B``,
    ``train_steps_per_s``, ``train_compile_s``, ``train_planned_mb`` (XLA's plan) and ``train_peak_mb`` (the
    device's measured peak; NaN on CPU); from ``imagine_speed`` (``openloop.imagine_throughput``)
    ``imagine_steps_per_s_K<K>`` per horizon; then ``extra`` as given.
    """
    k = result.horizon
    row: dict[str, Any] = {"model": model, "task": task, "context": result.context, "horizon": k}
    row.update({name: float(v) for name, v in result.summary.items()})
    row.update(mse_k1=float(result.mse[0]), mse_kmid=float(result.mse[(k - 1) // 2]),
               mse_klast=float(result.mse[-1]))
    if train_metrics:
        tail = lambda name: float(np.mean(np.asarray(train_metrics[name])[-10:]))
        row.update(train_steps=int(len(train_metrics["loss"])), train_loss=tail("loss"),
                   train_recon_loss=tail("recon_loss"))
    if train_speed:
        mb = lambda b: float("nan") if b is None else b / 2**20
        row.update(train_T=train_speed["T"], train_B=train_speed["B"],
                   train_steps_per_s=float(train_speed["steps_per_s"]), train_compile_s=float(train_speed["compile_s"]),
                   train_planned_mb=mb((train_speed["memory"] or {}).get("total")),
                   train_peak_mb=mb(train_speed["peak_bytes"]))
    for speed in imagine_speed or []:
        row[f"imagine_steps_per_s_K{speed['K']}"] = float(speed["steps_per_s"])
    row.update(extra)
    return row


def write_rows(rows: list[dict], path: str | Path) -> Path:
    """Write the rows as CSV (``.csv``: the union of their keys, in first-seen order; blanks where a row lacks
    one) or JSON (any other suffix, a list of objects) -> the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        keys = list(dict.fromkeys(k for row in rows for k in row))
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, keys)
            writer.writeheader()
            writer.writerows(rows)
    else:
        clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v
        path.write_text(json.dumps([{k: clean(v) for k, v in row.items()} for row in rows], indent=2) + "\n")
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_mse_curves(curves: dict[str, np.ndarray], path: str | Path, title: str = "",
                    marked: dict[str, np.ndarray] | None = None, context: int | None = None,
                    references: dict[str, np.ndarray] | None = None) -> Path:
    """MSE vs horizon k = 1 .. K, one solid line per model (``curves``: {model: float [K]}); ``marked``
    ({model: float [K]}, e.g. the curve over revisited frames) adds a dashed line per model in the same colour;
    ``references`` ({label: float [K]}, e.g. ``references.py``'s predictors) a dashed grey line each (darker to
    lighter grey in their order). ``context`` goes into the x label. Saves a PNG -> the path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for i, (model, curve) in enumerate(curves.items()):
        colour = f"C{i % 10}"
        ax.plot(np.arange(1, len(curve) + 1), curve, color=colour, label=model)
        if marked and model in marked:
            ax.plot(np.arange(1, len(marked[model]) + 1), marked[model], color=colour, linestyle="--",
                    label=f"{model} (marked frames)")
    for i, (label, curve) in enumerate((references or {}).items()):
        ax.plot(np.arange(1, len(curve) + 1), curve, color=str(0.25 + 0.3 * (i % 2)), linestyle="--",
                linewidth=1.2, label=f"{label} (reference)")
    ax.set_xlabel("imagination horizon k" + (f" (after {context} context steps)" if context else ""))
    ax.set_ylabel("MSE per pixel, images in [0, 1]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def strip_columns(horizon: int, frames: int = 10) -> np.ndarray:
    """The horizons (0-based, int [F], F = min(frames, K)) a strip shows: evenly spaced from the first to the
    last imagined step."""
    return np.unique(np.linspace(0, horizon - 1, min(frames, horizon)).round().astype(int))


def plot_strip(truth: np.ndarray, preds: dict[str, np.ndarray], path: str | Path, frames: int = 10,
               title: str = "", context: int = 0) -> Path:
    """An image strip: the true frames (uint8 [K, H, W, C] in 0-255 or float in [0, 1]) in the top row, each
    model's imagined frames (``preds``: {model: float [K, H, W, C] in [0, 1]}) in a row below, at
    :func:`strip_columns` horizons, each column titled with its step ``context + k``. Saves a PNG -> the path."""
    columns = strip_columns(len(truth), frames)
    rows = {"truth": np.asarray(truth)[columns], **{name: np.asarray(p)[columns] for name, p in preds.items()}}
    return plot_frame_rows(rows, context + columns, path, title)


def plot_frame_rows(rows: dict[str, np.ndarray], steps: np.ndarray, path: str | Path, title: str = "") -> Path:
    """One row of frames per entry of ``rows`` ({label: uint8 [F, H, W, C] in 0-255 or float in [0, 1]}), one
    column per step (int [F], titled ``t=<step>``). Saves a PNG (parent folders created) -> the path."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), len(steps), figsize=(1.1 * len(steps) + 0.9, 1.2 * len(rows) + 0.4),
                             dpi=110, squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        images = np.asarray(images)
        images = images / 255.0 if images.dtype == np.uint8 else np.clip(images.astype(np.float32), 0.0, 1.0)
        for c, step in enumerate(steps):
            ax = axes[r, c]
            ax.imshow(images[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={int(step)}", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
