"""Offline world-model training (``ssmrl.world_model.offline``): windows sampled from numbered episodes are
consecutive steps of one episode with the replay's start convention; the config and core pass through; a tiny
world model's loss falls within 30 steps on a tiny data set; the step's throughput and planned memory.
Validation and early stopping: the stopping rule on a worked sequence of losses; the validation split and its
fixed windows; ``fit_validated`` with a stand-in trainer whose validation loss is known at every step (it stops
and keeps the parameters where the rule says); with a tiny real world model, the same steps as ``fit`` and the
validation loss equal to the training step's loss on the same batch and key.

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
from ssmrl.world_model.offline import (
    METRIC_KEYS,
    VAL_KEYS,
    Offline,
    OfflineConfig,
    OfflineState,
    Validation,
    fit,
    fit_validated,
    make_offline,
    select_checkpoint,
    split_validation,
    train_throughput,
    validation_batches,
)

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
        # the validated run: the same 3 steps, a check after each on fixed windows of 2 held-out episodes
        batches = validation_batches(bar_episodes(12, 2, seed=1), 4, 8, jax.random.key(5))
        val = Validation(batches, jax.random.key(6), every=1, patience=0)
        val_state, val_metrics, _, validated = fit_validated(offline, state, data, 3, jax.random.key(1), val)
        # the validation loss is the training step's loss, no update: at the state of step 0 with its loss key
        batch, key_loss = offline.sample(jax.random.key(3), data), jax.random.split(state.key)[1]
        step_metrics = jax.device_get(offline.train_step(state, batch)[1])
        check_metrics = jax.device_get(offline.val_loss(state.params, batch, key_loss))
        # the kept parameters are those after the best check's step: a plain loop of that many steps
        best_state = state
        for key in jax.random.split(jax.random.key(1), 3)[:validated.best_step]:
            best_state = offline.train_step(best_state, offline.sample(key, data))[0]
    for name in out:
        np.testing.assert_array_equal(out[name], [m[name] for m in ref], err_msg=name)
    jax.tree.map(np.testing.assert_array_equal, (out_state.params, out_state.opt_state, out_state.step),
                 (ref_state.params, ref_state.opt_state, ref_state.step))
    assert (speed["T"], speed["B"]) == (8, 4)  # windows of 8 steps, batch 4
    assert speed["steps_per_s"] == pytest.approx(3 * 8 * 4 / speed["run_s"])
    with pytest.raises(ValueError, match="sync_every >= 1, got 3, 0"):
        fit(offline, state, data, 3, jax.random.key(1), sync_every=0)
    for name in out:  # checks do not change the steps
        np.testing.assert_array_equal(val_metrics[name], out[name], err_msg=name)
    jax.tree.map(np.testing.assert_array_equal, val_state.params, out_state.params)
    assert list(validated.steps) == [1, 2, 3] and validated.stop_reason == "budget"
    losses = validated.metrics["loss"]
    assert validated.best == int(np.argmin(losses)) and validated.best_loss == losses[validated.best]
    jax.tree.map(np.testing.assert_array_equal, validated.params, jax.device_get(best_state.params))
    for name in VAL_KEYS:
        assert check_metrics[name] == pytest.approx(step_metrics[name], rel=1e-5), name


def test_select_checkpoint_on_a_worked_sequence():
    losses = [5.0, 4.0, 4.5, 3.0, 3.2, 3.0, 3.1, 2.0]
    # patience 3: check 1 (4.0) beats check 0; check 3 (3.0) is the best so far; checks 4 (3.2), 5 (3.0: equal,
    # not lower) and 6 (3.1) do not beat it, so check 6 is the third in a row without a lower loss: training stops
    # there and keeps check 3; the 2.0 of check 7 is never seen.
    assert select_checkpoint(losses, 3) == (3, 6)
    assert select_checkpoint(losses[:6], 3) == (3, None)  # after check 5: two checks without, it goes on
    assert select_checkpoint(losses, 0) == (7, None)  # patience 0: the whole budget, the lowest loss
    assert select_checkpoint(losses, 4) == (7, None)  # check 7 comes before a fourth miss
    assert select_checkpoint(losses, 1) == (1, 2)  # check 2 (4.5) is the first miss
    # a non-finite loss never improves: [2.0, nan, 1.5] stops at the NaN with patience 1, recovers with 2
    assert select_checkpoint([2.0, float("nan"), 1.5], 1) == (0, 1)
    assert select_checkpoint([2.0, float("nan"), 1.5], 2) == (2, None)
    assert select_checkpoint([float("inf"), 3.0], 5) == (1, None)
    with pytest.raises(ValueError, match="patience must be >= 0"):
        select_checkpoint(losses, -1)


def test_split_validation_and_fixed_windows():
    data = numbered_episodes(12, 5)
    train, val = split_validation(data, 2)
    assert train.obs.shape[:2] == (12, 3) and val.obs.shape[:2] == (12, 2)
    np.testing.assert_array_equal(np.asarray(val.obs[0, :, 0, 0, 0]) // 20, [3, 4])  # the last two episodes
    with pytest.raises(ValueError, match="num_val=5 must be in 1..4"):
        split_validation(data, 5)
    # 3 episodes of T = 12 in windows of 5: 12 // 5 = 2 windows each, 6 windows -> 2 batches of 4 (8 windows);
    # window j is in episode j % 3
    batches = validation_batches(numbered_episodes(12, 3), 4, 5, jax.random.key(0))
    assert [b.obs.shape[:2] for b in batches] == [(5, 4), (5, 4)]
    value = np.concatenate([np.asarray(b.obs[:, :, 0, 0, 0]) for b in batches], axis=1).astype(int)  # [5, 8]
    np.testing.assert_array_equal(value[0] // 20, [0, 1, 2, 0, 1, 2, 0, 1])
    assert np.all(value % 20 == value[0] % 20 + np.arange(5)[:, None])  # consecutive steps
    assert all(np.all(b.is_first[0]) and not np.any(b.is_first[1:]) for b in batches)
    again = validation_batches(numbered_episodes(12, 3), 4, 5, jax.random.key(0))  # fixed: the same windows
    jax.tree.map(np.testing.assert_array_equal, batches, again)
    whole = validation_batches(numbered_episodes(12, 3), 4, 0, jax.random.key(0))  # whole episodes from t = 0
    assert len(whole) == 1 and np.all(np.asarray(whole[0].obs[:, :, 0, 0, 0]) % 20 == np.arange(12)[:, None])


def counting_offline() -> Offline:
    """A stand-in trainer: the parameters are one number p, each step adds 1 (p = steps taken) and the validation
    loss is (p - 3)^2 (lowest after step 3); the training metrics are p."""
    def train_step(state, batch):
        params = state.params + 1.0
        return OfflineState(params, state.opt_state, state.key, state.step + 1), {k: params for k in METRIC_KEYS}

    def val_loss(params, batch, key):
        return {k: jnp.square(params - 3.0) + 0.0 * batch.reward.mean() for k in VAL_KEYS}

    sample = jax.jit(lambda key, episodes: sample_batch(key, episodes, 2, 4))
    return Offline(None, None, None, jax.jit(train_step), sample, jax.jit(val_loss))


def test_fit_validated_stops_and_keeps_the_best_check():
    offline, data = counting_offline(), numbered_episodes(8, 3)
    state = OfflineState(jnp.zeros((), jnp.float32), (), jax.random.key(0), jnp.zeros((), jnp.int32))
    batches = validation_batches(data, 2, 4, jax.random.key(1))
    # a check after every step: losses 4, 1, 0, 1, 4 after steps 1 .. 5; patience 2: check 4 (step 5) is the second
    # without a lower loss than check 2 (step 3): stop there (of a budget of 10), keep p = 3
    final, metrics, speed, out = fit_validated(offline, state, data, 10, jax.random.key(2),
                                               Validation(batches, jax.random.key(3), every=1, patience=2))
    assert list(out.steps) == [1, 2, 3, 4, 5] and list(out.metrics["loss"]) == [4, 1, 0, 1, 4]
    assert (out.best, out.best_step, out.best_loss, out.stop_reason) == (2, 3, 0.0, "plateau")
    assert float(out.params) == 3.0 and float(final.params) == 5.0 and int(final.step) == 5
    assert list(metrics["loss"]) == [1, 2, 3, 4, 5] and speed["val_s"] > 0
    # every 2 steps and after the last of 7: steps 2, 4, 6, 7 (losses 1, 1, 9, 16); patience 0 runs the budget;
    # the equal loss of step 4 does not replace step 2
    final, metrics, _, out = fit_validated(offline, state, data, 7, jax.random.key(2),
                                           Validation(batches, jax.random.key(3), every=2, patience=0))
    assert list(out.steps) == [2, 4, 6, 7] and list(out.metrics["loss"]) == [1, 1, 9, 16]
    assert (out.best_step, out.stop_reason, float(out.params), int(final.step)) == (2, "budget", 2.0, 7)
    assert fit_validated(offline, state, data, 3, jax.random.key(2))[3] is None  # no validation: none


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
