"""Open-loop evaluation (``ssmrl.world_model.openloop``) and a cell's row and figures (``ssmrl.benchmark.wm_report``).

* the imagination reads only the context: frames after C replaced with noise give identical imagined frames;
  horizon k follows the true action of step C + k - 1 and nothing later; the context's last frame matters;
* MSE vs horizon compares prediction k with frame C + k - 1: a fake rollout predicting black frames against
  frames filled with 0.2 t gives MSE(k) = (0.2 k)^2 (hand values below), and the marked curves average only
  the flagged episodes;
* markers -> flagged frames and default contexts, reward metrics: hand cases;
* the report: rows, CSV / JSON, the PNGs; the imagination throughput.

The world model is tiny (GRU width 16, latents 4 x 4, hidden 16, cnn_depth 4), untrained (the properties hold for
any parameters), jitted with LLVM at -O0 and the non-partitionable threefry (compile-bound tests).
"""

from __future__ import annotations

import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_offline import FAST_JIT, TINY, TINY_CORE, Episodes, bar_episodes

from ssmrl.benchmark.wm_report import plot_mse_curves, plot_strip, strip_columns, table_row
from ssmrl.env import Box, Discrete
from ssmrl.output import write_csv
from ssmrl.world_model.offline import make_offline
from ssmrl.world_model.openloop import (
    Imagined,
    default_context,
    evaluate,
    frame_gaps,
    imagine_throughput,
    make_rollout,
    marker_frames,
    mse_curve,
    reward_metrics,
)

T, N, C = 12, 3, 5
OBS_SPACE = Box(0, 255, (32, 32, 3), jnp.uint8)
SHAPE_ONLY = make_offline(TINY, OBS_SPACE, Discrete(5), TINY_CORE).world_model  # image_scale 255; never applied


@pytest.fixture(scope="module")
def tiny():
    """(world model, params, rollout): untrained, compiled once for [C, N] contexts of T-step episodes."""
    with jax.threefry_partitionable(False):
        offline = make_offline(TINY, OBS_SPACE, Discrete(5), TINY_CORE, jit_options=FAST_JIT)
        state = offline.init(jax.random.key(0, impl="rbg"))
        yield offline.world_model, state.params, make_rollout(offline.world_model, jit_options=FAST_JIT)


def test_imagination_uses_only_the_context(tiny):
    world_model, params, rollout = tiny
    data = bar_episodes(T, N)
    noisy = bar_episodes(T, N)
    noisy.obs[C:] = np.random.default_rng(1).integers(0, 256, noisy.obs[C:].shape, np.uint8)
    with jax.threefry_partitionable(False):
        clean = evaluate(world_model, params, data, jax.random.key(2), context=C, keep=N, rollout=rollout)
        dirty = evaluate(world_model, params, noisy, jax.random.key(2), context=C, keep=N, rollout=rollout)
    assert (clean.context, clean.horizon, clean.pred.shape) == (C, T - C, (T - C, N, 32, 32, 3))
    np.testing.assert_array_equal(clean.pred, dirty.pred)  # identical imagination ...
    assert np.all(np.abs(clean.errors - dirty.errors) > 1e-3)  # ... scored against different truths
    np.testing.assert_array_equal(clean.truth, data.obs[C:])
    assert np.all((clean.pred >= 0) & (clean.pred <= 1))


def test_horizon_k_follows_the_true_action_of_step_c_plus_k_minus_1(tiny):
    world_model, params, rollout = tiny
    data = bar_episodes(T, N)
    run = lambda obs, action: np.asarray(rollout(params, jax.random.key(3), obs[:C], action, data.is_first[:C])
                                         .frames)
    with jax.threefry_partitionable(False):
        base = run(data.obs, data.action)
        later = data.action.copy()
        later[C + 2] = (later[C + 2] + 1) % 5  # the action before frame C + 2, i.e. horizon k = 3
        moved = run(data.obs, later)
        # Inverted context frames: the posterior samples (same key) flip where their logits' argmax does, and
        # over C steps x 4 groups some do in every episode, so the carry and frame 1 differ.
        seen = run(255 - data.obs, data.action)
    np.testing.assert_array_equal(base[:2], moved[:2])  # horizons 1, 2 come before that action
    assert np.all(np.abs(base[2] - moved[2]).max(axis=(1, 2, 3)) > 0)  # horizon 3 uses it
    assert np.all(np.abs(base[0] - seen[0]).max(axis=(1, 2, 3)) > 0)


def fake_rollout(params, key, obs, action, is_first):
    """Black frames (0 in [0, 1]) and rewards 0.9 at horizon 2, for K = T - C steps."""
    horizon, batch = action.shape[0] - obs.shape[0], obs.shape[1]
    assert is_first.shape == obs.shape[:2]
    reward = jnp.zeros((horizon, batch)).at[1].set(0.9)
    return Imagined(jnp.zeros((horizon, batch) + obs.shape[2:]), reward)


def filled_episodes(length: int) -> Episodes:
    """Episode 0: frame t filled with 51 t (0.2 t in [0, 1]); episode 1: black; rewarded (1) at t = 2 in
    episode 0 and t = 4 in episode 1."""
    obs = np.zeros((length, 2, 32, 32, 3), np.uint8)
    obs[:, 0] = (51 * np.arange(length)).astype(np.uint8)[:, None, None, None]
    reward = np.zeros((length, 2), np.float32)
    reward[2, 0] = reward[4, 1] = 1.0
    return Episodes(obs, np.zeros((length, 2), np.int32), reward)


def test_mse_vs_horizon_compares_prediction_k_with_frame_c_plus_k_minus_1():
    data = filled_episodes(6)
    data.markers = {"revisit_step": np.array([2, 10])}  # episode 0 revisits from t = 3 on, episode 1 never
    result = evaluate(SHAPE_ONLY, None, data, jax.random.key(0), context=1, rollout=fake_rollout)
    # Horizon k predicts frame 1 + k - 1 = k: episode 0's squared error (0.2 k)^2, episode 1's 0.
    k = np.arange(1, 6)
    np.testing.assert_allclose(result.errors, np.stack([(0.2 * k) ** 2, 0 * k], 1), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result.mse, (0.2 * k) ** 2 / 2, rtol=1e-6)
    # Flagged frames t > 2 exist only in episode 0 at k = 3, 4, 5: its own errors there, NaN before.
    np.testing.assert_allclose(result.marked["revisited"], [np.nan, np.nan, 0.36, 0.64, 1.0], rtol=1e-6)
    assert result.summary["mse"] == pytest.approx((0.04 + 0.16 + 0.36 + 0.64 + 1.0) / 10, rel=1e-6)
    assert result.summary["mse_revisited"] == pytest.approx((0.36 + 0.64 + 1.0) / 3, rel=1e-6)
    # Rewards at t = 2 (k = 2, predicted 0.9: a hit, timing right) and t = 4 (k = 4, predicted 0: a miss; its
    # largest prediction is at k = 2: timing wrong); the 8 other steps: one false alarm (episode 1, k = 2).
    assert result.summary["reward_hit_rate"] == 0.5 and result.summary["reward_false_rate"] == 1 / 8
    assert result.summary["reward_step_accuracy"] == 0.5
    assert result.summary["reward_accuracy"] == pytest.approx((0.5 + 7 / 8) / 2)
    with pytest.raises(ValueError, match="context=6 must be in 1..5"):
        evaluate(SHAPE_ONLY, None, data, jax.random.key(0), context=6, rollout=fake_rollout)


def test_mse_curve_masks():
    errors = np.array([[1.0, 3.0], [2.0, 4.0]])
    np.testing.assert_array_equal(mse_curve(errors), [2.0, 3.0])
    np.testing.assert_array_equal(mse_curve(errors, np.array([[True, False], [False, False]])), [1.0, np.nan])


def test_marker_frames_and_default_contexts():
    revisit = {"revisit_step": np.array([3, 4])}
    flagged = marker_frames(revisit, 6)["revisited"]
    np.testing.assert_array_equal(flagged.T, [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1]])
    assert default_context(revisit, 6) == 5  # max revisit step + 1
    teleport = {"teleport_step": np.array([4, -1]), "teleport_source": np.array([1, -1])}
    np.testing.assert_array_equal(marker_frames(teleport, 6)["recalled"].T, [[0, 0, 0, 0, 1, 1], [0] * 6])
    assert default_context(teleport, 6) == 5
    change = {"return_step": np.array([3, 3]), "first_change_step": np.array([1, -1]),
              "last_change_step": np.array([2, -1])}
    np.testing.assert_array_equal(marker_frames(change, 5)["changed"].T, [[0, 0, 0, 1, 1], [0] * 5])
    assert default_context(change, 5) == 3  # the return is imagined from its first step
    cue = {"cue": np.array([0, 1]), "cue_last_seen": np.array([2, 6]), "reward_step": np.array([8, 9])}
    assert marker_frames(cue, 10) == {} and default_context(cue, 10) == 7
    assert default_context({}, 10) == 5 and default_context({"revisit_step": np.array([20])}, 10) == 9


def test_frame_gaps_hand_cases():
    # T = 8, C = 4: frames t = 4 .. 7. Revisit r = 3: frame t shows frame 2r - t = 2, 1, 0, -1's place -> gap 2(t - r)
    gaps = frame_gaps({"revisit_step": np.array([3, 5])}, 8, 4)
    np.testing.assert_array_equal(gaps.T, [[2, 4, 6, 8], [np.nan, np.nan, 2, 4]])  # r = 5: t = 6, 7 only
    # Teleport s = 5, p = 1: frames t >= 5 repeat frame 1 + (t - 5): gap s - p = 4; no teleport (-1): none
    gaps = frame_gaps({"teleport_step": np.array([5, -1]), "teleport_source": np.array([1, -1])}, 8, 4)
    np.testing.assert_array_equal(gaps.T, [[np.nan, 4, 4, 4], [np.nan] * 4])
    # ChangeWorld r = 5, last change c = 2: frames t >= 5 show the world as of step 2: gap t - 2; no change: none
    change = {"return_step": np.array([5, 5]), "first_change_step": np.array([1, -1]),
              "last_change_step": np.array([2, -1])}
    np.testing.assert_array_equal(frame_gaps(change, 8, 4).T, [[np.nan, 3, 4, 5], [np.nan] * 4])
    cue = {"cue": np.array([0]), "cue_last_seen": np.array([2]), "reward_step": np.array([6])}
    assert np.all(np.isnan(frame_gaps(cue, 8, 4))) and frame_gaps(cue, 8, 4).shape == (4, 1)


def test_mode_latents_are_the_priors_argmax_whatever_the_key(tiny):
    world_model, params, _ = tiny
    carry = world_model.initialize_carry(N)
    z = jax.nn.one_hot(jnp.arange(N * 4).reshape(N, 4) % 4, 4)
    action = jnp.arange(N) % 5
    step = lambda key, mode: world_model.apply(params, jax.random.key(key, impl="rbg"), carry, z, action, mode,
                                               method="imagine_step")
    with jax.threefry_partitionable(False):
        (_, h1, z1), (_, h2, z2), (_, _, s1), (_, _, s2) = step(1, True), step(2, True), step(1, False), step(2, False)
        best = jnp.argmax(world_model.apply(params, h1, method="prior_logits"), -1)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(z1, z2)  # no sampling: the key does not matter
    np.testing.assert_array_equal(z1, jax.nn.one_hot(best, 4))
    assert np.any(np.asarray(s1) != np.asarray(s2))  # samples do depend on it (untrained: spread-out priors)
    with pytest.raises(ValueError, match=r"latents must be one of \['sample', 'mode'\], got 'argmax'"):
        make_rollout(world_model, latents="argmax")


def test_core_inputs_are_what_observe_feeds_the_stack(tiny):
    world_model, params, _ = tiny
    data = bar_episodes(T, N)
    obs, action, is_first = (jnp.asarray(x) for x in (data.obs, data.action, data.is_first))
    key = jax.random.key(4, impl="rbg")
    with jax.threefry_partitionable(False):
        xs = world_model.apply(params, key, obs, action, is_first, method="core_inputs")
        observed = world_model.apply(params, key, world_model.initialize_carry(N), obs, action, is_first,
                                     method="observe")
        h = world_model.stack.apply({"params": params["params"]["stack"]}, world_model.initialize_carry(N).core,
                                    xs, is_first)[1]
    assert xs.shape == (T, N, world_model.stack.d_model)
    np.testing.assert_allclose(h, observed.h, rtol=1e-6, atol=1e-6)


def test_reward_metrics_hand_case():
    # K = 4 steps x 3 episodes: episode 0 rewarded at step 1, episode 1 at step 2, episode 2 never.
    true = np.zeros((4, 3))
    true[1, 0] = true[2, 1] = 1.0
    pred = np.array([[0.0, 0.7, 0.0], [0.9, 0.2, 0.0], [0.1, 0.3, 0.6], [0.0, 0.0, 0.0]])
    out = reward_metrics(pred, true)
    # Hits: episode 0 (0.9); miss: episode 1 (0.3). False alarms: 0.7 (ep 1, step 0) and 0.6 (ep 2) of 10.
    assert out["reward_hit_rate"] == 0.5 and out["reward_false_rate"] == 0.2
    assert out["reward_accuracy"] == pytest.approx(0.65)
    assert out["reward_step_accuracy"] == 0.5  # episode 0's argmax is step 1; episode 1's is step 0, not 2
    # Squared errors: ep 0: 0.01 + 0.01, ep 1: 0.49 + 0.04 + 0.49, ep 2: 0.36 -> 1.40 / 12.
    assert out["reward_mse"] == pytest.approx(1.4 / 12)
    empty = reward_metrics(np.zeros((2, 1)), np.zeros((2, 1)))
    assert np.isnan(empty["reward_hit_rate"]) and empty["reward_false_rate"] == 0.0


def test_report_rows_and_pngs(tmp_path):
    data = filled_episodes(6)
    data.markers = {"revisit_step": np.array([2, 10])}
    result = evaluate(SHAPE_ONLY, None, data, jax.random.key(0), context=1, rollout=fake_rollout, keep=1)
    train = {"loss": np.arange(20.0), "recon_loss": np.arange(20.0) / 2}
    speed = {"T": 8, "B": 4, "steps_per_s": 100.0, "compile_s": 1.0, "run_ms": 320.0,
             "memory": {"total": 2**21}, "peak_bytes": None}
    row = table_row("gru", "RevisitEasy", result, train, speed, [{"K": 5, "steps_per_s": 7.0}], seed=3)
    assert (row["model"], row["task"], row["context"], row["horizon"], row["seed"]) == ("gru", "RevisitEasy", 1, 5, 3)
    assert row["mse_k1"] == pytest.approx(0.04 / 2) and row["mse_kmid"] == pytest.approx(0.36 / 2)
    assert row["mse_klast"] == pytest.approx(1.0 / 2) and row["mse_revisited"] == pytest.approx(2.0 / 3)
    assert row["train_loss"] == 14.5 and row["train_recon_loss"] == 7.25  # means of steps 10..19
    assert row["train_planned_mb"] == 2.0 and np.isnan(row["train_peak_mb"]) and row["imagine_steps_per_s_K5"] == 7
    with open(write_csv([row, {"model": "s5", "extra": 1}], tmp_path / "rows.csv")) as f:
        read = list(csv.DictReader(f))
    assert read[0]["task"] == "RevisitEasy" and read[1]["extra"] == "1" and read[1]["task"] == ""
    assert read[0]["train_peak_mb"] == "" and float(read[0]["mse_k1"]) == pytest.approx(0.02)  # NaN: empty cell
    np.testing.assert_array_equal(strip_columns(5), np.arange(5))
    np.testing.assert_array_equal(strip_columns(100), 11 * np.arange(10))  # linspace(0, 99, 10)
    curves = plot_mse_curves({"gru": result.mse, "s5": result.mse / 2}, tmp_path / "mse.png", "RevisitEasy",
                             marked={"gru": result.marked["revisited"]}, context=result.context,
                             references={"mean frame": result.mse * 3, "last frame": result.mse * 2})
    strip = plot_strip(result.truth[:, 0], {"gru": result.pred[:, 0], "s5": result.pred[:, 0]},
                       tmp_path / "strip.png", context=result.context)
    for path in (curves, strip):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_imagine_throughput(tiny):
    world_model, params, _ = tiny
    with jax.threefry_partitionable(False):
        speeds = imagine_throughput(world_model, params, batch_size=2, horizons=[3], decode=False, repeats=1)
    (speed,) = speeds
    assert (speed["K"], speed["B"], speed["decode"]) == (3, 2, False)
    assert speed["steps_per_s"] == pytest.approx(3 * 2 / (speed["run_ms"] / 1e3))


@pytest.mark.slow
def test_one_cell_end_to_end_on_a_wm_memory_task(tmp_path):
    """A cell's path (what ``ssmrl.benchmark.wm_grid.run_cell`` does) on scripted CueReward episodes (64 steps, 2
    cues): train offline (``fit``), evaluate open-loop on held-out episodes, the row, the task's PNGs; at toy size
    (a few training steps, no claim on the numbers)."""
    from envs.wm_memory import generate_dataset, make_task
    from ssmrl.world_model.offline import fit

    overrides = {"length": 64, "num_cues": 2}
    env, env_params = make_task("CueRewardEasy", **overrides)
    train = generate_dataset(jax.random.key(0), "CueRewardEasy", 4, **overrides)
    test = generate_dataset(jax.random.key(1), "CueRewardEasy", 2, **overrides)
    with jax.threefry_partitionable(False):
        offline = make_offline(TINY, env.observation_space(env_params), env.action_space(env_params), TINY_CORE,
                               jit_options=FAST_JIT)
        key_init, key_train, key_eval = jax.random.split(jax.random.key(2, impl="rbg"), 3)
        state, metrics, speed = fit(offline, offline.init(key_init), train, 3, key_train)
        result = evaluate(offline.world_model, state.params, test, key_eval,
                          rollout=make_rollout(offline.world_model, jit_options=FAST_JIT))
    context = int(np.max(test.markers["cue_last_seen"])) + 1  # the cue seen, the rest imagined
    assert (result.context, result.horizon) == (context, 64 - context)
    row = table_row("gru", "CueRewardEasy", result, metrics, speed, posterior=TINY.posterior,
                    loss_finite=bool(np.all(np.isfinite(metrics["loss"]))))
    assert row["train_steps"] == 3 and row["loss_finite"] and row["posterior"] == "s4wm"
    assert 0 <= row["reward_accuracy"] <= 1 and row["mse"] > 0 and row["train_steps_per_s"] > 0
    plot_mse_curves({"gru": result.mse}, tmp_path / "CueRewardEasy_mse.png", "CueRewardEasy")
    plot_strip(result.truth[:, 0], {"gru": result.pred[:, 0]}, tmp_path / "CueRewardEasy_strip.png",
               context=result.context)
    assert (tmp_path / "CueRewardEasy_strip.png").stat().st_size > 0
