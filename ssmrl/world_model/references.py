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

Tiles (observations int [H, W] of n tile classes, ``ssmrl.world_model.tiles``): a prediction is a distribution
over the n tiles per cell: ``mean_frame`` the per-cell tile frequencies of the training episodes
(:func:`tile_frequencies`; the one-hot frames' mean, as the mean frame is the pixels'), ``last_frame`` the last
context frame's tiles. Each is mixed with :data:`REFERENCE_MIX` of the uniform distribution, so that its
cross-entropy is finite, and scored as the world model's prediction is (``tiles.tile_scores``: mse, xent,
tile_acc; :func:`evaluate_tile_references`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ssmrl.world_model.openloop import default_context, error_curves, score_curves
from ssmrl.world_model.tiles import tile_scores

REFERENCES = ("mean_frame", "last_frame")
LABELS = {"mean_frame": "mean frame", "last_frame": "last frame"}
REFERENCE_MIX = 0.01  # tiles: a reference's distribution is mixed with this much uniform (finite cross-entropy)


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
    ``mse_<name>``; tiles: also ``xent``, ``tile_acc`` and their ``_<name>``}, curves (tiles: {``xent``,
    ``tile_acc``, ``<metric>_<name>``: float64 [K]}, else empty), frame_scores (tiles: {``xent``, ``tile_acc``:
    float64 [K, N]} per frame, else empty)."""

    errors: np.ndarray
    mse: np.ndarray
    marked: dict
    summary: dict
    curves: dict = dataclasses.field(default_factory=dict)
    frame_scores: dict = dataclasses.field(default_factory=dict)


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


def tile_frequencies(obs: Any, num_tiles: int) -> np.ndarray:
    """The per-cell tile frequencies: obs int [T, N, H, W] in [0, num_tiles) -> float64 [H, W, num_tiles], the
    fraction of the T x N frames showing each tile in each cell (the mean of the one-hot frames)."""
    obs = np.asarray(obs)
    cells = int(np.prod(obs.shape[2:]))
    flat = obs.reshape(-1, cells).astype(np.int64) + num_tiles * np.arange(cells)  # cell-major bins
    counts = np.bincount(flat.ravel(), minlength=cells * num_tiles)
    return (counts / (obs.shape[0] * obs.shape[1])).reshape(*obs.shape[2:], num_tiles)


def tile_reference_logits(obs: np.ndarray, context: int, freq: np.ndarray) -> dict[str, np.ndarray]:
    """The references' imagined tile distributions as log-probabilities: obs int [T, N, H, W] (only
    ``obs[:context]`` is read), freq float [H, W, n] (the ``mean_frame`` prediction) -> {``mean_frame``,
    ``last_frame``: float32 [K, N, H, W, n]} (read-only broadcast views), each distribution mixed with
    :data:`REFERENCE_MIX` of the uniform one."""
    length, n = obs.shape[0], freq.shape[-1]
    if not 1 <= context < length:
        raise ValueError(f"context={context} must be in 1..{length - 1} (episodes of T={length})")
    mix = lambda p: np.log((1.0 - REFERENCE_MIX) * p + REFERENCE_MIX / n).astype(np.float32)
    shape = (length - context, *obs.shape[1:], n)
    last = np.eye(n)[np.asarray(obs[context - 1])]  # [N, H, W, n] one-hot
    return {"mean_frame": np.broadcast_to(mix(np.asarray(freq)), shape),
            "last_frame": np.broadcast_to(mix(last), shape)}


def evaluate_tile_references(episodes: Any, freq: np.ndarray, context: int | None = None
                             ) -> dict[str, ReferenceResult]:
    """The references on tile ``episodes`` (obs int [T, N, H, W], ``markers``; as ``openloop.evaluate`` takes
    them): freq float [H, W, n] (:func:`tile_frequencies` of the training episodes), context: C (None: the
    markers' default, as ``evaluate``) -> {name: :class:`ReferenceResult`} for each name of :data:`REFERENCES`,
    scored with ``tiles.tile_scores`` as the world model's imagination is."""
    obs = np.asarray(episodes.obs)
    markers = getattr(episodes, "markers", None) or {}
    length = obs.shape[0]
    context = default_context(markers, length) if context is None else int(context)
    out = {}
    for name, logits in tile_reference_logits(obs, context, freq).items():
        scores = {k: np.asarray(v, np.float64) for k, v in tile_scores(logits, obs[context:]).items()}
        errors = scores.pop("mse")
        mse, marked, summary = error_curves(errors, markers, context)
        curves, tile_summary = score_curves(scores, markers, context)
        out[name] = ReferenceResult(errors, mse, marked, {**summary, **tile_summary}, curves, scores)
    return out
