"""Offline world-model training (``ssmrl.world_model.offline``): windows sampled from numbered episodes are
consecutive steps of one episode with the replay's start convention; the config and core pass through; a tiny
world model's loss falls within 30 steps on a tiny data set; the step's throughput and planned memory.

Tiny sizes throughout (GRU width 16, latents 4 x 4, hidden 16, cnn_depth 4, 16-step episodes), jitted with LLVM at
-O0 and the non-partitionable threefry, as ``tests/dreamer/test_world_model.py`` does: compile-bound tests.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.config import ModelConfig
from ssmrl.core import make_stack
from ssmrl.dreamer.config import DreamerConfig
from ssmrl.env import Box, Discrete
from ssmrl.world_model.batch import sample_batch
from ssmrl.world_model.offline import OfflineConfig, fit, make_offline, train_throughput

OBS_SPACE, ACTION_SPACE = Box(0, 255, (32, 32, 3), jnp.uint8), Discrete(5)
TINY = OfflineConfig(batch_size=4, seq_len=8, latent_groups=4, latent_classes=4, hidden=16, mlp_layers=1,
                     cnn_depth=4, reward_bins=15, image_scale=255.0, image_shift=0.5)
FAST_JIT = {"compiler_options": {"xla_backend_optimization_level": 0}}
TINY_CORE = ModelConfig(name="gru", d_model=16, n_layers=1)


class Episodes:
    """The fields of ``envs.wm_memory.WMEpisodes`` ([T, N, ...]) without importing envs."""

    def __init__(self, obs, action, reward):
        length, num = action.shape
        self.obs, self.action, self.reward = obs, action, reward
        self.is_first = np.repeat((np.arange(length) == 0)[:, None], num, 1)
        self.terminated = np.zeros((length, num), bool)
        self.truncated = np.repeat((np.arange(length) == length - 1)[:, None], num, 1)
        self.markers = {}


def numbered_episodes(length: int, num: int) -> Episodes:
    """obs[t, n] filled with 20 n + t, action[t, n] = (t + n) % 5 (0 at t = 0), reward[t, n] = t + 100 n."""
    t, n = np.meshgrid(np.arange(length), np.arange(num), indexing="ij")
    obs = np.broadcast_to((20 * n + t).astype(np.uint8)[..., None, None, None], (length, num, 32, 32, 3))
    action = np.where(t == 0, 0, (t + n) % 5).astype(np.int32)
    return Episodes(np.ascontiguousarray(obs), action, np.where(t == 0, 0, t + 100 * n).astype(np.float32))


def bar_episodes(length: int, num: int, seed: int = 0) -> Episodes:
    """A learnable toy world: a bright 4-px column on a dark frame that LEFT (3) / RIGHT (4) move by 4 px
    (wrapping), other actions leave; random actions, random start column."""
    rng = np.random.default_rng(seed)
    action = rng.integers(0, 5, (length, num)).astype(np.int32)
    action[0] = 0
    step = np.where(action == 4, 1, np.where(action == 3, -1, 0))
    column = (rng.integers(0, 8, num)[None] + np.cumsum(step, 0)) % 8
    obs = np.full((length, num, 32, 32, 3), 20, np.uint8)
    for t in range(length):
        for n in range(num):
            obs[t, n, :, 4 * column[t, n]: 4 * column[t, n] + 4] = 230
    return Episodes(obs, action, np.zeros((length, num), np.float32))


def test_sample_batch_windows_are_consecutive_steps_of_one_episode():
    length, num, batch, seq = 12, 3, 64, 5
    data = numbered_episodes(length, num)
    out = jax.device_get(sample_batch(jax.random.key(0), data, batch, seq))
    assert out.obs.shape == (seq, batch, 32, 32, 3) and out.is_first.shape == (seq, batch)
    value = out.obs[:, :, 0, 0, 0].astype(int)  # [L, B]: 20 n + t
    n, t = value // 20, value % 20
    assert np.all(n == n[0]) and np.all(t == t[0] + np.arange(seq)[:, None])  # one episode, consecutive
    assert set(t[0]) == set(range(length - seq + 1)) and set(n[0]) == set(range(num))  # all starts, episodes
    assert np.all(out.is_first[0]) and not np.any(out.is_first[1:])
    # Step 0 of a window starts from the initial carry: no previous action or reward; later steps as stored.
    assert np.all(out.action[0] == 0) and np.all(out.reward[0] == 0)
    np.testing.assert_array_equal(out.action[1:], (t[1:] + n[1:]) % 5)
    np.testing.assert_array_equal(out.reward[1:], t[1:] + 100 * n[1:])
    np.testing.assert_array_equal(out.truncated, t == length - 1)
    whole = sample_batch(jax.random.key(1), data, 2, 0)  # seq_len 0: whole episodes, from t = 0
    np.testing.assert_array_equal(np.asarray(whole.obs[:, :, 0, 0, 0]) % 20, np.arange(length)[:, None] + [0, 0])
    with pytest.raises(ValueError, match="seq_len=13 must be in 1..12"):
        sample_batch(jax.random.key(0), data, 2, 13)


def test_config_core_and_posterior_pass_through():
    recurrent = make_offline(dataclasses.replace(TINY, posterior="recurrent"), OBS_SPACE, ACTION_SPACE, "gru")
    recurrent = recurrent.world_model
    assert recurrent.posterior == "recurrent" and recurrent.stack.core == "gru" and recurrent.stack.d_model == 64
    s4 = make_offline(TINY, OBS_SPACE, ACTION_SPACE, ModelConfig(name="s4", d_model=8, n_layers=3)).world_model
    assert (s4.posterior, s4.stack.core, s4.stack.d_model, s4.stack.n_layers) == ("s4wm", "s4", 8, 3)
    built = make_offline(TINY, OBS_SPACE, ACTION_SPACE, make_stack("s5", 12, n_layers=1)).world_model
    assert built.stack.core == "s5" and (built.groups, built.classes, built.cnn_depth) == (4, 4, 4)
    dreamer = DreamerConfig(image_scale=255.0, image_shift=0.5, hidden=24)  # a DreamerConfig works as the cfg
    assert make_offline(dreamer, OBS_SPACE, ACTION_SPACE, "s5").world_model.hidden == 24
    with pytest.raises(ValueError, match=r"posterior: unknown 'rssm'; valid: \['s4wm', 'recurrent'\]"):
        make_offline(OfflineConfig(posterior="rssm"), OBS_SPACE, ACTION_SPACE, "gru")
    with pytest.raises(ValueError, match="image_scale=1 with uint8"):
        make_offline(DreamerConfig(), OBS_SPACE, ACTION_SPACE, "gru")
    with pytest.raises(ValueError, match="model must be a ModelConfig, a core name or a built stack"):
        make_offline(TINY, OBS_SPACE, ACTION_SPACE, 3)


@pytest.mark.slow
def test_training_reduces_the_loss():
    cfg = dataclasses.replace(TINY, batch_size=2, wm_lr=3e-3)  # a tiny model learns fast at a larger step
    with jax.threefry_partitionable(False):
        offline = make_offline(cfg, OBS_SPACE, ACTION_SPACE, TINY_CORE, jit_options=FAST_JIT)
        state, metrics, _ = fit(offline, offline.init(jax.random.key(0, impl="rbg")), bar_episodes(16, 8), 30,
                                jax.random.key(1))
    assert int(state.step) == 30 and all(v.shape == (30,) for v in metrics.values())
    assert np.all(np.isfinite(metrics["loss"]))
    # Reconstruction dominates: the untrained decoder is off by ~0.5 per pixel on 3072 pixels (loss ~750); the
    # bar world is easy, and 30 Adam steps at 3e-3 must at least halve the mean loss of the last 5 steps (about
    # 250 when written) against the first 5 (about 670).
    first, last = metrics["loss"][:5].mean(), metrics["loss"][-5:].mean()
    assert last < 0.5 * first, (first, last)


def test_fit_takes_the_steps_of_a_plain_loop_and_times_them():
    """``fit``'s 3 steps (sampling with ``split(key, 3)[i]``, metrics fetched every 2 steps) equal a plain loop of
    ``sample`` and ``train_step`` with those keys, bit for bit: the same compiled step on the same batches."""
    with jax.threefry_partitionable(False):  # (compiles faster)
        offline = make_offline(TINY, OBS_SPACE, ACTION_SPACE, TINY_CORE, jit_options=FAST_JIT)
        state = offline.init(jax.random.key(0))
        data = bar_episodes(12, 3)
        out_state, out, speed = fit(offline, state, data, 3, jax.random.key(1), sync_every=2)
        ref_state, ref = state, []
        for key in jax.random.split(jax.random.key(1), 3):
            ref_state, metrics = offline.train_step(ref_state, offline.sample(key, data))
            ref.append(jax.device_get(metrics))
    for name in out:
        np.testing.assert_array_equal(out[name], [m[name] for m in ref], err_msg=name)
    jax.tree.map(np.testing.assert_array_equal, (out_state.params, out_state.opt_state, out_state.step),
                 (ref_state.params, ref_state.opt_state, ref_state.step))
    assert (speed["T"], speed["B"]) == (8, 4)  # windows of 8 steps, batch 4
    assert speed["steps_per_s"] == pytest.approx(3 * 8 * 4 / speed["run_s"])
    with pytest.raises(ValueError, match="sync_every >= 1, got 3, 0"):
        fit(offline, state, data, 3, jax.random.key(1), sync_every=0)


@pytest.mark.slow
def test_train_throughput_and_planned_memory():
    vector = Box(-1.0, 1.0, (6,))  # a vector world model: the cost accounting, without the CNN's compile time
    cfg = dataclasses.replace(TINY, batch_size=3, seq_len=5, image_scale=1.0, image_shift=0.0)
    with jax.threefry_partitionable(False):
        offline = make_offline(cfg, vector, ACTION_SPACE, TINY_CORE, jit_options=FAST_JIT)
        state = offline.init(jax.random.key(0, impl="rbg"))
        data = Episodes(np.random.default_rng(0).uniform(-1, 1, (7, 2, 6)).astype(np.float32),
                        np.ones((7, 2), np.int32), np.zeros((7, 2), np.float32))
        speed = train_throughput(offline, state, offline.sample(jax.random.key(2), data), repeats=2)
    assert (speed["T"], speed["B"]) == (5, 3)
    assert speed["steps_per_s"] == pytest.approx(5 * 3 / (speed["run_ms"] / 1e3))
    assert speed["peak_bytes"] is None or speed["peak_bytes"] > 0
    memory = speed["memory"]
    if memory is not None:  # XLA's plan; the arguments hold at least the parameters and the batch's observations
        assert memory["total"] == memory["temp"] + memory["argument"] + memory["output"]
        params = sum(x.nbytes for x in jax.tree.leaves(state.params))
        assert memory["argument"] >= params + 5 * 3 * 6 * 4
