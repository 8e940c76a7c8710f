"""The reference predictors of the open-loop evaluation (``ssmrl.world_model.references``), by hand:

* ``mean_frame``: the per-pixel mean over all steps and episodes, obs / scale;
* on two episodes of T = 4 one-pixel frames with context C = 2: the "mean frame" and "last frame" predictions,
  their per-frame errors, MSE-vs-horizon curves, means over all imagined frames and over the marked frames;
* the references read only the context: frames after C changed -> the same predictions, other (hand) MSEs; the
  last context frame changed -> another "last frame" prediction;
* tiles: the per-cell tile frequencies, and both references' tile accuracy, cross-entropy (1% uniform mixed in)
  and MSE by hand.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ssmrl.world_model.references import (
    REFERENCE_MIX,
    REFERENCES,
    evaluate_references,
    evaluate_tile_references,
    mean_frame,
    reference_predictions,
    tile_frequencies,
)

SCALE = 10.0  # frames in [0, 1] are obs / 10
C = 2


def episodes(obs_by_episode, revisit_steps=(1, 2)):
    """obs [T = 4, N = 2, 1, 1, 1] from two per-episode lists of pixel values; revisit markers: flagged frames
    t > revisit_step: episode 0 at t = 2, 3, episode 1 at t = 3."""
    obs = np.asarray(obs_by_episode, np.uint8).T[:, :, None, None, None]
    return SimpleNamespace(obs=obs, markers={"revisit_step": np.asarray(revisit_steps)})


# frames / 10: episode 0: 0.2, 0.4 | 0.6, 0.8; episode 1: 1.0, 1.0 | 0.0, 0.0 (context | imagined)
DATA = [[2, 4, 6, 8], [10, 10, 0, 0]]
MEAN = np.full((1, 1, 1), 0.5)


def test_mean_frame_is_the_per_pixel_mean_over_steps_and_episodes():
    # T = 2, N = 2 frames of 1 x 2 x 1 pixels: left pixel 0, 10, 5, 5 -> 20 / 4 / 10 = 0.5; right 2, 2, 2, 10
    # -> 16 / 4 / 10 = 0.4.
    obs = np.array([[[0, 2], [10, 2]], [[5, 2], [5, 10]]], np.uint8)[..., None].reshape(2, 2, 1, 2, 1)
    np.testing.assert_allclose(mean_frame(obs, SCALE), [[[0.5], [0.4]]])
    assert mean_frame(obs, SCALE).shape == (1, 2, 1)


def test_references_by_hand():
    out = evaluate_references(episodes(DATA), MEAN, SCALE, context=C)
    assert set(out) == set(REFERENCES)
    # mean frame: 0.5 everywhere. k = 1 (t = 2): (0.6 - 0.5)^2 = 0.01, (0 - 0.5)^2 = 0.25; k = 2 (t = 3):
    # (0.8 - 0.5)^2 = 0.09, 0.25. Curve: (0.01 + 0.25) / 2 = 0.13, (0.09 + 0.25) / 2 = 0.17; all frames: 0.6 / 4
    # = 0.15. Marked (episode 0 at k = 1, 2; episode 1 at k = 2): curve 0.01, 0.17; mean (0.01 + 0.09 + 0.25) / 3.
    ref = out["mean_frame"]
    np.testing.assert_allclose(ref.errors, [[0.01, 0.25], [0.09, 0.25]], rtol=1e-6)
    np.testing.assert_allclose(ref.mse, [0.13, 0.17], rtol=1e-6)
    np.testing.assert_allclose(ref.marked["revisited"], [0.01, 0.17], rtol=1e-6)
    assert ref.summary["mse"] == pytest.approx(0.15, rel=1e-6)
    assert ref.summary["mse_revisited"] == pytest.approx(0.35 / 3, rel=1e-6)
    # last frame: episode 0 predicts its frame 1 (0.4), episode 1 its frame 1 (1.0). k = 1: (0.6 - 0.4)^2 = 0.04,
    # (0 - 1)^2 = 1; k = 2: (0.8 - 0.4)^2 = 0.16, 1. Curve 0.52, 0.58; all frames 2.2 / 4 = 0.55; marked: curve
    # 0.04, (0.16 + 1) / 2 = 0.58; mean (0.04 + 0.16 + 1) / 3 = 0.4.
    ref = out["last_frame"]
    np.testing.assert_allclose(ref.errors, [[0.04, 1.0], [0.16, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(ref.mse, [0.52, 0.58], rtol=1e-6)
    np.testing.assert_allclose(ref.marked["revisited"], [0.04, 0.58], rtol=1e-6)
    assert ref.summary["mse"] == pytest.approx(0.55, rel=1e-6)
    assert ref.summary["mse_revisited"] == pytest.approx(0.4, rel=1e-6)
    # The default context is openloop.default_context's (Revisit: max(revisit_step) + 1 = 3): K = 1, frame 3
    # predicted by frame 2: (0.8 - 0.6)^2 = 0.04 and (0 - 0)^2 = 0.
    default = evaluate_references(episodes(DATA), MEAN, SCALE)
    np.testing.assert_allclose(default["last_frame"].errors, [[0.04, 0.0]], rtol=1e-6, atol=1e-12)


def test_references_use_only_the_context():
    frames = lambda data: np.asarray(data, np.float32).T[:, :, None, None, None] / SCALE
    # frames after C replaced: episode 0 -> 0, 0; episode 1 -> 1.0, 1.0
    later = [[2, 4, 0, 0], [10, 10, 10, 10]]
    base, moved = reference_predictions(frames(DATA), C, MEAN), reference_predictions(frames(later), C, MEAN)
    for name in REFERENCES:
        np.testing.assert_array_equal(base[name], moved[name])
        assert base[name].shape == (2, 2, 1, 1, 1)  # [K, N, H, W, C]
    np.testing.assert_allclose(base["last_frame"][:, :, 0, 0, 0], [[0.4, 1.0], [0.4, 1.0]], rtol=1e-6)
    out = evaluate_references(episodes(later), MEAN, SCALE, context=C)
    # mean frame: every error (0.5)^2 = 0.25. last frame: episode 0 (0 - 0.4)^2 = 0.16 twice, episode 1 (1 - 1)^2 = 0:
    # curve 0.08, 0.08; all frames 0.32 / 4 = 0.08; marked (0.16 + 0.16 + 0) / 3.
    np.testing.assert_allclose(out["mean_frame"].mse, [0.25, 0.25], rtol=1e-6)
    assert out["mean_frame"].summary["mse_revisited"] == pytest.approx(0.25, rel=1e-6)
    np.testing.assert_allclose(out["last_frame"].mse, [0.08, 0.08], rtol=1e-6)
    assert out["last_frame"].summary["mse"] == pytest.approx(0.08, rel=1e-6)
    assert out["last_frame"].summary["mse_revisited"] == pytest.approx(0.32 / 3, rel=1e-6)
    # the last context frame (t = C - 1 = 1) is what "last frame" copies; frame 0 is not read by either
    seen = reference_predictions(frames([[2, 7, 6, 8], [10, 10, 0, 0]]), C, MEAN)
    np.testing.assert_allclose(seen["last_frame"][:, 0, 0, 0, 0], [0.7, 0.7], rtol=1e-6)
    first = reference_predictions(frames([[9, 4, 6, 8], [0, 10, 0, 0]]), C, MEAN)
    for name in REFERENCES:
        np.testing.assert_array_equal(first[name], base[name])
    with pytest.raises(ValueError, match="context=4 must be in 1..3"):
        reference_predictions(frames(DATA), 4, MEAN)


def test_tile_frequencies_by_hand():
    # T = 2, N = 2 windows of 1 x 2 cells, 3 tiles: cell 0 shows 0, 0, 1, 2 -> (1/2, 1/4, 1/4); cell 1 shows
    # 2, 2, 2, 1 -> (0, 1/4, 3/4)
    obs = np.array([[[[0, 2]], [[0, 2]]], [[[1, 2]], [[2, 1]]]])
    np.testing.assert_allclose(tile_frequencies(obs, 3), [[[0.5, 0.25, 0.25], [0.0, 0.25, 0.75]]])


def test_tile_references_by_hand():
    # One cell, 2 tiles; episodes (context | imagined): 0: 0, 1 | 1, 0; 1: 1, 1 | 0, 0 (revisit markers as above:
    # flagged episode 0 at k = 1, 2, episode 1 at k = 2). Mixed with 1% uniform: p -> 0.99 p + 0.005.
    assert REFERENCE_MIX == 0.01
    obs = np.array([[0, 1, 1, 0], [1, 1, 0, 0]]).T[:, :, None, None]
    data = SimpleNamespace(obs=obs, markers={"revisit_step": np.array([1, 2])})
    out = evaluate_tile_references(data, np.array([[[0.75, 0.25]]]), context=C)
    # mean frame (0.75, 0.25) -> (0.7475, 0.2525), most likely tile 0: right at 3 of the 4 imagined frames (not
    # episode 0's k = 1), marked 2 of 3; cross-entropy -ln 0.2525 at that frame, -ln 0.7475 at the others
    ref = out["mean_frame"]
    np.testing.assert_allclose(ref.curves["tile_acc"], [0.5, 1.0])
    assert ref.summary["tile_acc"] == pytest.approx(0.75) and ref.summary["tile_acc_revisited"] == pytest.approx(2 / 3)
    assert ref.summary["xent"] == pytest.approx((-np.log(0.2525) - 3 * np.log(0.7475)) / 4, rel=1e-5)
    # mse of the probabilities vs the one-hot: truth 0: (0.2525^2 + 0.2525^2) / 2 = 0.2525^2; truth 1: 0.7475^2
    np.testing.assert_allclose(ref.errors, [[0.7475 ** 2, 0.2525 ** 2], [0.2525 ** 2, 0.2525 ** 2]], rtol=1e-5)
    # last frame: both episodes' frame 1 shows tile 1 -> (0.005, 0.995): right only at episode 0's k = 1;
    # cross-entropy -ln 0.995 there, -ln 0.005 at the 3 others
    ref = out["last_frame"]
    np.testing.assert_allclose(ref.curves["tile_acc"], [0.5, 0.0])
    np.testing.assert_allclose(ref.curves["tile_acc_revisited"], [1.0, 0.0])
    assert ref.summary["xent"] == pytest.approx((-np.log(0.995) - 3 * np.log(0.005)) / 4, rel=1e-5)
    assert ref.summary["xent_revisited"] == pytest.approx((-np.log(0.995) - 2 * np.log(0.005)) / 3, rel=1e-5)
    assert ref.errors[0, 0] == pytest.approx(0.005 ** 2, rel=1e-4)
