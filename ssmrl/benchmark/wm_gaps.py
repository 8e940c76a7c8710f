"""How far back a world model's memory reaches, from the files of the world-model grid (host-side numpy): the
error on the memory frames against the GAP (the steps between the last showing of what a frame must reproduce
and the frame itself, ``openloop.frame_gaps``), beside the mean-frame reference's on the same frames, and the gap
where the model's error reaches the reference's (``memory_scores.crossing_gap``).

The frames are pooled into :data:`GAP_BINS` bins of equal width over (0, largest gap]; a bin's gap is the mean gap
of its frames and its error the mean error of its frames (the model's and the reference's over the same frames).
The error: the tile error rate ``1 - tile accuracy`` for tiles (as the memory ratio), else the frame MSE. Revisit
gives every gap from 2 to T - 2 in each episode (frame t > r shows the place of frame 2 r - t); Teleport one gap
per episode (its query), so its curve runs across episodes; CueReward has no memory frames.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ssmrl.output import figure, save_figure
from ssmrl.world_model.memory_scores import crossing_gap

GAP_BINS = 16  # bins of the error-vs-gap curves


def gap_curve(gaps: np.ndarray, errors: np.ndarray, bins: int = GAP_BINS, top: float | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Mean error per gap bin: gaps, errors float [K, N] (NaN gap: not a memory frame) -> (gap float [G], error
    float [G]) over the bins of equal width on (0, ``top``] (None: the largest gap) that hold frames, in order;
    empty arrays where no frame has a gap."""
    gaps, errors = np.asarray(gaps, np.float64).ravel(), np.asarray(errors, np.float64).ravel()
    if gaps.shape != errors.shape:
        raise ValueError(f"gaps and errors must have one shape, got {gaps.size} and {errors.size} values")
    keep = np.isfinite(gaps) & np.isfinite(errors)
    gaps, errors = gaps[keep], errors[keep]
    if gaps.size == 0:
        return np.zeros(0), np.zeros(0)
    top = float(gaps.max()) if top is None else float(top)
    index = np.clip(np.ceil(gaps / top * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    used = count > 0
    mean = lambda x: np.bincount(index, x, minlength=bins)[used] / count[used]
    return mean(gaps), mean(errors)


def frame_errors(arrays: dict, prefix: str = "") -> np.ndarray | None:
    """The per-frame error of a cell's ``curves.npz`` (prefix "") or of one reference in ``references.npz``
    (prefix "<name>_"): ``1 - frame_tile_acc`` for tiles, else ``frame_mse``, float [K, N]; None if absent."""
    if f"{prefix}frame_tile_acc" in arrays:
        return 1.0 - np.asarray(arrays[f"{prefix}frame_tile_acc"], np.float64)
    if f"{prefix}frame_mse" in arrays:
        return np.asarray(arrays[f"{prefix}frame_mse"], np.float64)
    return None


def gap_columns(cell: dict, references: dict, bins: int = GAP_BINS) -> tuple[dict, dict]:
    """A cell's reach (``cell``: its ``curves.npz``; ``references``: its task's ``references.npz``) -> (columns
    {``crossing_gap``: the gap where its error reaches the mean frame's (``inf``: not within the measured
    gaps), ``gap_max``: the largest measured gap}, curves {"gap", "model", "mean_frame": float [G]}); ({}, {})
    where the task has no gaps or a file lacks the per-frame scores (older runs)."""
    gaps = references.get("frame_gap")
    model, reference = frame_errors(cell), frame_errors(references, "mean_frame_")
    if gaps is None or model is None or reference is None or model.shape != np.shape(gaps):
        return {}, {}
    gap, model_curve = gap_curve(gaps, model, bins)
    _, reference_curve = gap_curve(gaps, reference, bins)
    if gap.size == 0:
        return {}, {}
    return ({"crossing_gap": crossing_gap(gap, model_curve, reference_curve), "gap_max": float(np.nanmax(gaps))},
            {"gap": gap, "model": model_curve, "mean_frame": reference_curve})


def reach_text(row: dict) -> str | None:
    """The crossing gap as a table cell: "40", "> 126" (not reached within the measured gaps), None (no gaps)."""
    value = row.get("crossing_gap")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return f"> {row['gap_max']:.0f}" if math.isinf(value) else f"{value:.0f}"


def plot_gaps(curves: dict[str, dict], path: str | Path, title: str = "", tiles: bool = False) -> Path:
    """Error on the memory frames against the gap, one line per model (``curves``: {model: the curves of
    :func:`gap_columns`}), the mean frame's (the same frames for every model: the first model's) dashed grey, each
    model's crossing marked. Saves a PNG -> the path."""
    fig = figure(7, 4.2, layout=None)
    ax = fig.subplots()
    for i, (model, curve) in enumerate(curves.items()):
        colour = f"C{i % 10}"
        ax.plot(curve["gap"], curve["model"], color=colour, marker=".", label=model)
        cross = crossing_gap(curve["gap"], curve["model"], curve["mean_frame"])
        if math.isfinite(cross):
            ax.axvline(cross, color=colour, linewidth=0.6, linestyle=":")
    if curves:
        first = next(iter(curves.values()))
        ax.plot(first["gap"], first["mean_frame"], color="0.35", linestyle="--", linewidth=1.4,
                label="mean frame (reference)")
    ax.set_xlabel("gap: steps since the frame's content was last seen")
    ax.set_ylabel("tile error rate (1 - accuracy)" if tiles else "MSE per pixel")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path)
