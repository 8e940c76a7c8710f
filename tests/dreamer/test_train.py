"""Dreamer through the shared run layer: same seed -> identical metrics; killed after a checkpoint and resumed ->
bit-identical parameters and replay; its own metrics in metrics.csv; config mistakes name the key; on an image env
(MinAtar) the world-model loss falls."""

import csv

import jax
import numpy as np
import pytest
from toy_env import Counter

import envs
from ssmrl.algorithm import tree_param_count
from ssmrl.config import ConfigError, run_config_from_dict
from ssmrl.dreamer.config import DreamerConfig
from ssmrl.dreamer.train import make_train
from ssmrl.runners.loop import train

TINY = {"total_timesteps": 4 * 8 * 6, "num_envs": 4, "num_steps": 8, "train_ratio": 1, "batch_size": 2,
        "seq_len": 8, "replay_capacity": 256, "learning_starts": 32, "latent_groups": 2, "latent_classes": 3,
        "hidden": 16, "mlp_layers": 1, "reward_bins": 15, "horizon": 3}
CFG = {"algo": TINY, "model": {"name": "s5", "d_model": 8, "n_layers": 1, "state_size": 4},
       "logger": {"progress": False, "tensorboard": False, "plot": False},
       "runner": {"updates_per_call": 2, "checkpoint_every": 2, "eval_envs": 2, "eval_steps": 32}}


def _rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k not in ("sps", "wall_s")} for r in csv.DictReader(f)]


@pytest.mark.slow
def test_same_seed_identical_metrics_and_exact_resume(tmp_path):
    cfg = run_config_from_dict(CFG, DreamerConfig)
    assert cfg.algo.grad_steps == 2  # 1 x 32 collected / (2 x 8) replayed
    env = Counter()
    with jax.threefry_partitionable(False):  # same numbers in every run here; its sampling compiles ~7x faster
        full = train(cfg, make_train, env, env.default_params, tmp_path / "full")
        # Killed at update 4 (checkpoint at 4), resumed in a new compiled program: the same seed gives the same
        # metrics, and parameters, optimisers, replay and acting state end bit-identical.
        train(cfg, make_train, env, env.default_params, tmp_path / "killed", stop_after=4)
        resumed = train(cfg, make_train, env, env.default_params, tmp_path / "killed")
    rows = _rows(tmp_path / "full")
    for key in ("wm_loss", "recon_loss", "reward_loss", "cont_loss", "dyn_kl", "rep_kl", "actor_loss",
                "critic_loss", "imagined_return", "return_scale", "replay_steps", "episode_return"):
        assert key in rows[0], key
    # Training starts once 32 env steps are stored: update 1 (32 collected) is the first that trains.
    assert float(rows[0]["grad_steps_done"]) == 2 and float(rows[-1]["grad_steps_done"]) == 12
    jax.tree.map(np.testing.assert_array_equal, full.state, resumed.state)
    assert _rows(tmp_path / "killed") == rows
    # The replay holds final observations as steps: Counter ends episodes by termination and by truncation.
    replay = jax.tree.map(lambda x: np.asarray(x[0]), full.state.replay)
    assert replay.terminated.any() and replay.truncated.any()
    assert np.isfinite(full.eval_return)
    # World model, actor and critic of one seed, as the benchmark counted them from the shapes of init.
    shapes = jax.eval_shape(make_train(cfg, env, env.default_params).init, jax.random.PRNGKey(0))
    assert full.agent_params == resumed.agent_params == tree_param_count(
        (shapes.wm_params, shapes.actor_params, shapes.critic_params)) > 0


@pytest.mark.parametrize("algo, words", [
    ({"seq_len": 80, "replay_capacity": 256, "num_envs": 4}, ["algo.seq_len=80", "algo.replay_capacity"]),
    ({"train_ratio": 0.01}, ["algo.train_ratio=0.01", "gradient steps", "valid"]),
    ({"posterior": "rssm"}, ["algo.posterior", "s4wm", "recurrent"]),
    ({"gamma": 2.0}, ["algo.gamma"]),
    ({"batch_sise": 2}, ["algo.batch_sise", "batch_size"]),
])
def test_config_errors_name_the_key(algo, words):
    with pytest.raises(ConfigError) as err:
        run_config_from_dict({"algo": algo}, DreamerConfig)
    for word in words:
        assert word in str(err.value)


@pytest.mark.slow
@pytest.mark.optimized  # 12 updates of 32 gradient steps on images
def test_world_model_loss_falls_on_minatar(tmp_path):
    env, env_params = envs.make("gymnax/Breakout-MinAtar")
    algo = {**TINY, "total_timesteps": 8 * 16 * 12, "num_envs": 8, "num_steps": 16, "train_ratio": 32,
            "batch_size": 4, "seq_len": 16, "replay_capacity": 2048, "learning_starts": 128, "hidden": 32,
            "latent_groups": 4, "latent_classes": 4, "cnn_depth": 4}
    cfg = run_config_from_dict({**CFG, "algo": algo, "runner": {**CFG["runner"], "eval_envs": 0}}, DreamerConfig)
    with jax.threefry_partitionable(False):
        train(cfg, make_train, env, env_params, tmp_path)
    rows = _rows(tmp_path)
    wm = [float(r["wm_loss"]) for r in rows if float(r["grad_steps_done"]) > 0]
    recon = [float(r["recon_loss"]) for r in rows if float(r["grad_steps_done"]) > 0]
    print("wm_loss", [round(x, 2) for x in wm])
    assert len(wm) == 12 and wm[-1] < 0.7 * wm[0] and recon[-1] < 0.7 * recon[0]


@pytest.mark.slow
def test_reward_multiplier_scales_replayed_rewards_only():
    # One update of 4 envs x 8 steps on Counter, before training starts (learning_starts=64 > 32 collected): with
    # algo.reward_multiplier=3 the replay holds exactly 3x the rewards of the run with 1, and the episode
    # statistics (in the environment's units) are the same.
    env = Counter()
    out = {}
    for mult in (1.0, 3.0):
        cfg = run_config_from_dict({**CFG, "algo": {**TINY, "learning_starts": 64, "reward_multiplier": mult}},
                                   DreamerConfig)
        parts = make_train(cfg, env, env.default_params)
        state, metrics = jax.jit(parts.update)(parts.init(jax.random.key(0)))
        out[mult] = (np.asarray(state.replay.reward), {k: float(v) for k, v in metrics.items()})
    rewards, scaled = out[1.0][0], out[3.0][0]
    assert np.abs(rewards).sum() > 0
    np.testing.assert_allclose(scaled, 3.0 * rewards, rtol=1e-6)
    assert out[1.0][1]["episode_return"] == out[3.0][1]["episode_return"]
    with pytest.raises(ConfigError, match="algo.reward_multiplier"):
        run_config_from_dict({"algo": {"reward_multiplier": 0.0}}, DreamerConfig)
