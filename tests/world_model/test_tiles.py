"""Tile observations in the world model (``ssmrl.world_model.tiles``, ``obs_mode=tiles`` of the wm_memory tasks):

* the per-cell cross-entropy and the per-frame scores (mse of the probabilities, xent, tile accuracy): hand cases;
* a tiles world model decodes per-cell logits [..., H, W, n] and its reconstruction loss is the per-cell
  cross-entropy summed over the cells: a decoder set by hand to fixed logits gives the hand value;
* open-loop evaluation of tiles with a fake rollout of fixed log-probabilities: per-frame scores, the tile
  accuracy per horizon step and on the marked frames, the kept most likely tiles (hand values).

No compiling beyond a one-step init of a tiny model.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_offline import TINY, TINY_CORE, Episodes

from ssmrl.config import ModelConfig
from ssmrl.env import Discrete
from ssmrl.world_model.model import init_world_model, make_world_model, obs_kind
from ssmrl.world_model.offline import make_offline
from ssmrl.world_model.openloop import Imagined, evaluate
from ssmrl.world_model.tiles import cell_cross_entropy, tile_scores

LN2 = math.log(2.0)
# A window of 1 x 2 cells of 3 tiles: cell 0 predicts (1/4, 1/2, 1/4), cell 1 (1/4, 1/4, 1/2).
PROBS = np.array([[[0.25, 0.5, 0.25], [0.25, 0.25, 0.5]]])  # [H = 1, W = 2, n = 3]
LOGITS = np.log(PROBS).astype(np.float32)
TILES = Discrete(3, (1, 2))


def test_cell_cross_entropy_by_hand():
    # -log p(label): cell 0 label 1: -log 1/2 = ln 2; cell 1 label 0: -log 1/4 = 2 ln 2. Logits shifted by a
    # constant per cell (unnormalised) give the same.
    xent = cell_cross_entropy(jnp.asarray(LOGITS + np.array([[[3.0], [-1.0]]])), jnp.asarray([[1, 0]]))
    np.testing.assert_allclose(xent, [[LN2, 2 * LN2]], rtol=1e-6)


def test_tile_scores_by_hand():
    # truth (1, 0): xent (ln 2 + 2 ln 2) / 2 = 1.5 ln 2; the most likely tiles are (1, 2): accuracy 1/2;
    # squared error of the probabilities against the one-hots (0, 1, 0) and (1, 0, 0): cell 0 1/16 + 1/4 + 1/16
    # = 3/8, cell 1 9/16 + 1/16 + 1/4 = 7/8, mean over the 2 x 3 values (3/8 + 7/8) / 6 = 5/24.
    scores = tile_scores(jnp.asarray(LOGITS)[None, None], jnp.asarray([[1, 0]])[None, None])
    assert {k: v.shape for k, v in scores.items()} == {"mse": (1, 1), "xent": (1, 1), "tile_acc": (1, 1)}
    assert float(scores["xent"][0, 0]) == pytest.approx(1.5 * LN2, rel=1e-6)
    assert float(scores["tile_acc"][0, 0]) == 0.5
    assert float(scores["mse"][0, 0]) == pytest.approx(5 / 24, rel=1e-6)


def test_tiles_world_model_decodes_cells_and_its_loss_is_the_summed_cell_cross_entropy():
    stack = ModelConfig(name="gru", d_model=8, n_layers=1).make_stack()
    model = make_world_model(TILES, Discrete(2), stack, groups=2, classes=2, hidden=8, mlp_layers=0, reward_bins=5)
    assert obs_kind(model.obs_spec) == "tiles" and obs_kind(make_world_model(Discrete(3), Discrete(2), stack)
                                                             .obs_spec) == "discrete"
    params = init_world_model(jax.random.key(0), model)
    out = params["params"]["decoder"]["out"]  # mlp_layers=0: the decoder is one dense layer; set to LOGITS
    fixed = {"kernel": jnp.zeros_like(out["kernel"]), "bias": jnp.asarray(LOGITS).ravel()}
    params = {**params, "params": {**params["params"], "decoder": {"out": fixed}}}
    feat = jax.random.normal(jax.random.key(1), (2, 8 + 2 * 2))  # any features: the decoder gives its bias
    logits = model.apply(params, feat, method="decode")
    assert logits.shape == (2, 1, 2, 3)
    np.testing.assert_allclose(logits[1], LOGITS, rtol=1e-6)
    # tiles (1, 0): ln 2 + 2 ln 2 = 3 ln 2; tiles (1, 2): ln 2 + ln 2 = 2 ln 2 (summed over the cells)
    loss = model.apply(params, feat, jnp.asarray([[[1, 0]], [[1, 2]]]), method="recon_loss")
    np.testing.assert_allclose(loss, [3 * LN2, 2 * LN2], rtol=1e-6)


def test_openloop_tile_scores_per_horizon_and_on_marked_frames():
    world_model = make_offline(TINY, TILES, Discrete(5), TINY_CORE).world_model  # built only; the rollout is fake
    # T = 4, N = 2, C = 2: true tiles at t = 2, 3: episode 0 (1, 0), (1, 2); episode 1 (0, 0), (1, 2)
    obs = np.zeros((4, 2, 1, 2), np.int32)
    obs[2:, 0, 0] = [[1, 0], [1, 2]]
    obs[2:, 1, 0] = [[0, 0], [1, 2]]
    data = Episodes(obs, np.zeros((4, 2), np.int32), np.zeros((4, 2), np.float32))
    data.markers = {"revisit_step": np.array([1, 2])}  # flagged t > r: episode 0 at k = 1, 2, episode 1 at k = 2

    def fake_rollout(params, key, obs, action, is_first):  # PROBS at every imagined step
        return Imagined(jnp.broadcast_to(jnp.asarray(LOGITS), (2, obs.shape[1], 1, 2, 3)), jnp.zeros((2, 2)))

    result = evaluate(world_model, None, data, jax.random.key(0), context=2, keep=2, rollout=fake_rollout)
    # accuracy: episode 0 k = 1 half (cell 0 right), k = 2 all; episode 1 k = 1 none, k = 2 all -> curve
    # (0.25, 1), mean 2.5 / 4; marked (episode 0 at both k, episode 1 at k = 2): curve (0.5, 1), mean 2.5 / 3
    np.testing.assert_allclose(result.curves["tile_acc"], [0.25, 1.0])
    np.testing.assert_allclose(result.curves["tile_acc_revisited"], [0.5, 1.0])
    assert result.summary["tile_acc"] == pytest.approx(0.625)
    assert result.summary["tile_acc_revisited"] == pytest.approx(2.5 / 3)
    # xent per frame: 1.5 ln 2, ln 2 | 2 ln 2, ln 2 -> mean 5.5 ln 2 / 4
    np.testing.assert_allclose(result.curves["xent"], [1.75 * LN2, LN2], rtol=1e-6)
    assert result.summary["xent"] == pytest.approx(1.375 * LN2, rel=1e-6)
    # mse per frame (test_tile_scores_by_hand's per-cell sums: truth 1 at cell 0 3/8, 0 at cell 0 7/8, 0 at
    # cell 1 7/8, 2 at cell 1 3/8): (3/8 + 7/8) / 6, (3/8 + 3/8) / 6 | (7/8 + 7/8) / 6, (3/8 + 3/8) / 6
    np.testing.assert_allclose(result.errors, np.array([[1.25, 1.75], [0.75, 0.75]]) / 6, rtol=1e-6)
    assert result.summary["mse"] == pytest.approx(4.5 / 24, rel=1e-6)
    # the kept predictions are the most likely tiles (1, 2); the truth the true tiles
    assert result.pred.shape == (2, 2, 1, 2) and (result.pred == [1, 2]).all()
    np.testing.assert_array_equal(result.truth, obs[2:])
