"""Dreamer on a host-side environment (Atari emulators) through the one run loop: a run killed after a checkpoint
and resumed ends bit-identical to an uninterrupted run (parameters, replay, acting state and metrics: the emulators
come back from their snapshot); without the snapshot the resume says so and still trains; the summary reports the
mean return of the training episodes of the final window. Frames are 16x16 and the model tiny, so it runs in CI."""

import csv
import json
import shutil

import jax
import numpy as np
import pytest
from rich.console import Console

from envs.atari import Atari100k
from ssmrl.algorithm import tree_param_count
from ssmrl.config import run_config_from_dict
from ssmrl.dreamer.config import DreamerConfig
from ssmrl.dreamer.train import make_train
from ssmrl.runners.loop import train, window_return

ALGO = {"total_timesteps": 2 * 8 * 6, "num_envs": 2, "num_steps": 8, "train_ratio": 1, "batch_size": 2,
        "seq_len": 8, "replay_capacity": 128, "learning_starts": 32, "latent_groups": 2, "latent_classes": 3,
        "hidden": 16, "mlp_layers": 1, "reward_bins": 15, "horizon": 3, "cnn_depth": 2, "image_scale": 255.0,
        "image_shift": 0.5}
CFG = {"algo": ALGO, "env": {"suite": "atari100k", "task": "Pong"},
       "model": {"name": "s5", "d_model": 8, "n_layers": 1, "state_size": 4},
       "logger": {"progress": False, "tensorboard": False, "plot": False},
       "runner": {"updates_per_call": 2, "checkpoint_every": 2, "eval_envs": 1, "eval_steps": 20}}


def _rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k not in ("sps", "wall_s")} for r in csv.DictReader(f)]


@pytest.mark.slow
def test_killed_and_resumed_host_run_matches_uninterrupted(tmp_path):
    cfg = run_config_from_dict(CFG, DreamerConfig)
    env = Atari100k("Pong", size=16)
    with jax.threefry_partitionable(False):
        full = train(cfg, make_train, env, None, tmp_path / "full")
        train(cfg, make_train, env, None, tmp_path / "killed", stop_after=4)  # checkpoint at 4, then "killed"
        assert sorted(p.name for p in (tmp_path / "killed" / "env_snapshots").iterdir()) == ["2.pkl", "4.pkl"]
        # The same kill, but the snapshot of update 4 is lost: a warning, fresh episodes, the run still completes.
        shutil.copytree(tmp_path / "killed", tmp_path / "lost")
        (tmp_path / "lost" / "env_snapshots" / "4.pkl").unlink()
        resumed = train(cfg, make_train, env, None, tmp_path / "killed")
        console = Console(record=True, width=300)
        lost = train(cfg, make_train, env, None, tmp_path / "lost", console=console)
    jax.tree.map(np.testing.assert_array_equal, full.state, resumed.state)
    assert _rows(tmp_path / "killed") == _rows(tmp_path / "full")
    assert float(_rows(tmp_path / "full")[-1]["grad_steps_done"]) == 5  # updates 2..6 train, 1 step each
    replay = jax.tree.map(lambda x: np.asarray(x[0]), full.state.replay)
    assert replay.obs.dtype == np.uint8 and replay.obs.shape[-3:] == (16, 16, 3)
    assert "no usable environment snapshot for update 4" in console.export_text()
    assert lost.updates == 6
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert summary["complete"] and summary["env_steps"] == 96 and summary["train_return_window"] == 10_000
    assert summary["eval_metrics"]["episodes"] in (0.0, 1.0)  # a 20-step cap rarely ends a Pong episode
    parts = make_train(cfg, env, None)  # world model, actor and critic, as the benchmark counted them from init
    shapes = jax.eval_shape(parts.init, jax.random.PRNGKey(0))
    parts.host.env.close()
    assert summary["agent_params"] == tree_param_count((shapes.wm_params, shapes.actor_params, shapes.critic_params))


def test_window_return_weights_each_update_by_its_episodes(tmp_path):
    # Updates 1..4; the window is "after update 2": update 3 ended 2 episodes of mean -3, update 4 one of 6,
    # so the mean over those 3 episodes is (2 x -3 + 1 x 6) / 3 = 0; update 1's 10 lies outside the window.
    path = tmp_path / "metrics.csv"
    path.write_text("update,episode_return,episodes\n1,10,1\n2,,0\n3,-3,2\n4,6,1\n")
    assert window_return(path, 2) == 0.0
    assert window_return(path, 4) is None  # no update after the last
    assert window_return(tmp_path / "absent.csv", 0) is None
