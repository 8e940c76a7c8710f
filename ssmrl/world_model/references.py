"""Reference predictors of the open-loop evaluation (no learning): what the backbones' MSE is to be read against,
scored on the same held-out episodes, context and frames as :func:`ssmrl.world_model.openloop.evaluate`.

For episodes [T, N, ...] and a context C (1 <= C < T), horizon k = 1 .. K = T - C predicts frame ``C + k - 1``:

* ``mean_frame``: every imagined frame is ``mean``, a fixed frame [H, W, Ch] given by the caller; the world-model
  grid (``ssmrl.benchmark.wm_grid``) passes :func:`mean_frame` of the task's TRAINING episodes: the per-pixel mean
  over all T steps of all training episodes (what a model that learned only the data's average frame predicts;
  nothing of the held-out episodes enters);
* ``last_frame``: every imagined frame of an episode is its own last observed frame ``C - 1`` (copy-last: a world
  that stands still).

Frames in [0, 1] (``obs / scale``, ``scale`` the world model's ``image_scale``: 255 for uint8 frames), per-frame
MSE over the H x W x Ch pixels, the curves and means as the backbones' (``openloop.error_curves``): mse [K] over
the episodes, the marked curves and ``mse_<marker>`` over :func:`~ssmrl.world_model.openloop.marker_frames`' flagged
frames. Host-side numpy only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ssmrl.world_model.openloop import default_context, error_curves

REFERENCES = ("mean_frame", "last_frame")
LABELS = {"mean_frame": "mean frame", "last_frame": "last frame"}


def mean_frame(obs: Any, scale: float) -> np.ndarray:
    """The per-pixel mean frame: obs [T, N, H, W, Ch] (e.g. uint8 0-255) -> float64 [H, W, Ch] in [0, 1], the mean
    of ``obs / scale`` over all T x N frames (integer frames are summed exactly, without a float copy)."""
    obs = np.asarray(obs)
    total = obs.sum(axis=(0, 1), dtype=np.int64 if obs.dtype.kind in "iub" else np.float64)
    return total / (obs.shape[0] * obs.shape[1] * float(scale))


def reference_predictions(frames: np.ndarray, context: int, mean: np.ndarray) -> dict[str, np.ndarray]:
    """The references' imagined frames: frames float [T, N, H, W, Ch] in [0, 1] (only ``frames[:context]`` is
    read), mean float [H, W, Ch] -> {``mean_frame``: ``mean`` at every [k - 1, n]; ``last_frame``:
    ``frames[context - 1, n]`` at every [k - 1, n]}, each float [K, N, H, W, Ch], K = T - context (read-only
    broadcast views)."""
    length = frames.shape[0]
    if not 1 <= context < length:
        raise ValueError(f"context={context} must be in 1..{length - 1} (episodes of T={length})")
    shape = (length - context, *frames.shape[1:])
    return {"mean_frame": np.broadcast_to(np.asarray(mean), shape),
            "last_frame": np.broadcast_to(frames[context - 1], shape)}


@dataclasses.dataclass
class ReferenceResult:
    """One reference's scores (:class:`~ssmrl.world_model.openloop.OpenLoopResult`'s fields of the same names):
    errors float64 [K, N] per-frame MSE, mse float64 [K], marked {name: float64 [K]}, summary {``mse``,
    ``mse_<name>``}."""

    errors: np.ndarray
    mse: np.ndarray
    marked: dict
    summary: dict


def evaluate_references(episodes: Any, mean: np.ndarray, scale: float, context: int | None = None
                        ) -> dict[str, ReferenceResult]:
    """The references on ``episodes`` (obs [T, N, H, W, Ch], ``markers`` {name: int [N]}; as ``openloop.evaluate``
    takes them): mean float [H, W, Ch] in [0, 1] (the ``mean_frame`` prediction), scale: obs / scale is in [0, 1],
    context: C (None: ``openloop.default_context`` of the markers, as ``evaluate``) -> {name:
    :class:`ReferenceResult`} for each name of :data:`REFERENCES`."""
    obs = np.asarray(episodes.obs)
    markers = getattr(episodes, "markers", None) or {}
    length = obs.shape[0]
    context = default_context(markers, length) if context is None else int(context)
    frames = obs.astype(np.float32) / np.float32(scale)
    truth = frames[context:]
    out = {}
    for name, pred in reference_predictions(frames, context, mean).items():
        errors = np.mean(np.square(pred - truth, dtype=np.float64), axis=(-3, -2, -1))
        out[name] = ReferenceResult(errors, *error_curves(errors, markers, context))
    return out
