"""Numbers a reader can use to judge a world model's memory (host-side numpy, pure), read against a reference
predictor that has no memory (``ssmrl.world_model.references``: the "mean frame", the per-pixel mean of the
training frames):

* :func:`error_ratio`: the model's error on the memory frames (revisited / recalled / changed, ``openloop``'s
  marked frames) over the mean-frame reference's error on the same frames. 1: no better than predicting the average
  frame; below 1: the model remembers something; at most :data:`REMEMBERS_RATIO` (0.5, half the reference's error):
  it "remembers" (:func:`remembers`).
* :func:`crossing_gap`: from error-vs-gap curves (the gap: steps between seeing a frame and having to reproduce it),
  the smallest gap at which the model's error reaches the reference's: how far back its memory reaches.
"""

from __future__ import annotations

import math

import numpy as np

# A model "remembers" the memory frames when its error there is at most half the mean-frame reference's.
REMEMBERS_RATIO = 0.5


def error_ratio(model_error: float | np.ndarray, reference_error: float | np.ndarray) -> float | np.ndarray:
    """The model's error over the reference's on the same frames (float, or float arrays of one shape,
    elementwise): ``model_error / reference_error``. Below 1 the model beats the reference (with the mean-frame
    reference on the memory frames: it remembers something); at most :data:`REMEMBERS_RATIO` (0.5) it
    "remembers" (:func:`remembers`). NaN where either is NaN or the reference's error is not positive (a reference
    without error leaves nothing to beat)."""
    model = np.asarray(model_error, np.float64)
    reference = np.asarray(reference_error, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(reference > 0, model / np.where(reference > 0, reference, 1.0), np.nan)
    return float(ratio) if ratio.ndim == 0 else ratio


def remembers(ratio: float) -> bool:
    """Whether an :func:`error_ratio` (model / mean-frame reference on the memory frames) says the model
    remembers: at most :data:`REMEMBERS_RATIO` (0.5); False for NaN."""
    return bool(ratio <= REMEMBERS_RATIO)


def crossing_gap(gaps: np.ndarray, model_error: np.ndarray, reference_error: np.ndarray) -> float:
    """The smallest gap at which the model's error reaches the reference's.

    gaps float [G] (strictly increasing: steps between seeing a frame and having to reproduce it), model_error and
    reference_error float [G] (the errors measured at those gaps). Points where either error is NaN are left out.
    The model's error "reaches" the reference where ``model_error >= reference_error``; between two measured gaps
    the difference is interpolated linearly, so the crossing lies between them. Returns the first such gap (the
    first measured gap where the model is already at or above the reference there), ``math.inf`` where the model
    stays below the reference over the whole measured range (its memory reaches at least the largest measured gap;
    also for no finite points).
    """
    gaps = np.asarray(gaps, np.float64)
    model, reference = np.asarray(model_error, np.float64), np.asarray(reference_error, np.float64)
    if not gaps.shape == model.shape == reference.shape or gaps.ndim != 1:
        raise ValueError(f"gaps, model_error, reference_error must be [G] of one shape, got {gaps.shape}, "
                         f"{model.shape}, {reference.shape}")
    if np.any(np.diff(gaps) <= 0):
        raise ValueError(f"gaps must be strictly increasing, got {gaps.tolist()}")
    keep = np.isfinite(model) & np.isfinite(reference)
    gaps, diff = gaps[keep], model[keep] - reference[keep]  # >= 0: the model's error has reached the reference's
    reached = np.flatnonzero(diff >= 0)
    if reached.size == 0:
        return math.inf
    i = int(reached[0])
    if i == 0:
        return float(gaps[0])
    below, above = diff[i - 1], diff[i]  # below < 0 <= above: the line between them crosses 0
    return float(gaps[i - 1] + (gaps[i] - gaps[i - 1]) * -below / (above - below))
