"""A run killed after a checkpoint and resumed ends with exactly the parameters of an uninterrupted run."""

import csv
import json

import jax
import numpy as np
import pytest

import envs
from ssmrl.algorithm import tree_param_count
from ssmrl.ppo.config import ppo_run_config
from ssmrl.ppo.train import make_train
from ssmrl.runners.loop import train

pytestmark = pytest.mark.slow  # end-to-end: whole runs, killed and resumed

# 8 updates in chunks of 2, checkpoints every 4 updates (and at the end); greedy evaluations during training every
# 3 updates, rounded up to whole calls: after updates 4 and 8.
CFG = {
    "algo": {"num_envs": 4, "num_steps": 8, "num_minibatches": 2, "num_epochs": 2, "total_timesteps": 8 * 32},
    "model": {"name": "s5", "d_model": 8, "n_layers": 1, "state_size": 4},
    "logger": {"progress": False, "tensorboard": True, "plot": False},
    "runner": {"updates_per_call": 2, "checkpoint_every": 4, "eval_envs": 2, "eval_steps": 64,
               "eval_every": 3},
    "num_seeds": 2,
}


def _rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k not in ("sps", "wall_s")} for r in csv.DictReader(f)]


def test_killed_and_resumed_run_matches_uninterrupted(tmp_path):
    cfg = ppo_run_config(CFG)
    env, env_params = envs.make("popgym/RepeatFirstEasy")
    full = train(cfg, make_train, env, env_params, tmp_path / "full")
    # "Kill" after update 6: the checkpoint at 4 exists, updates 5-6 are lost with the process.
    killed = train(cfg, make_train, env, env_params, tmp_path / "killed", stop_after=6)
    assert killed.updates == 6 and killed.eval_return is None
    resumed = train(cfg, make_train, env, env_params, tmp_path / "killed")
    assert full.updates == resumed.updates == 8
    jax.tree.map(np.testing.assert_array_equal, full.state.params, resumed.state.params)
    jax.tree.map(np.testing.assert_array_equal, full.state.opt_state, resumed.state.opt_state)
    jax.tree.map(np.testing.assert_array_equal, full.state.acting, resumed.state.acting)
    # metrics.csv keeps one row per update, identical to the uninterrupted run's.
    assert [r["update"] for r in _rows(tmp_path / "killed")] == [str(i) for i in range(1, 9)]
    assert _rows(tmp_path / "killed") == _rows(tmp_path / "full")
    assert full.eval_return == resumed.eval_return
    # The evaluations during training (same values after the resume, checked above) sit in the rows of updates 4
    # and 8; RepeatFirstEasy's episode returns lie in [-1, 1].
    evals = {r["update"]: r["eval_return"] for r in _rows(tmp_path / "full")}
    assert [u for u, v in evals.items() if v != ""] == ["4", "8"]
    assert all(-1 <= float(evals[u]) <= 1 for u in ("4", "8"))
    assert (tmp_path / "full" / "summary.json").exists() and list((tmp_path / "full" / "tb").iterdir())
    # One seed's actor-critic parameters, as the benchmark counted them from the shapes of init.
    shapes = jax.eval_shape(make_train(cfg, env, env_params).init, jax.random.PRNGKey(0))
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert summary["agent_params"] == full.agent_params == tree_param_count(shapes.params) > 0


def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    from rich.console import Console

    cfg = ppo_run_config({**CFG, "runner": {**CFG["runner"], "checkpoint_every": 2}, "num_seeds": 1})
    env, env_params = envs.make("popgym/RepeatFirstEasy")
    full = train(cfg, make_train, env, env_params, tmp_path / "full")
    train(cfg, make_train, env, env_params, tmp_path / "killed", stop_after=6)  # checkpoints 4 and 6 kept
    # Flip one byte in the largest data file of checkpoint 6.
    files = [p for p in (tmp_path / "killed" / "checkpoints" / "6").rglob("*") if p.is_file() and p.parent.name == "d"]
    victim = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    console = Console(record=True, width=200)
    resumed = train(cfg, make_train, env, env_params, tmp_path / "killed", console=console)
    text = console.export_text()
    assert "skipped checkpoint 6" in text and "damaged" in text and "resumed from checkpoint at update 4" in text
    jax.tree.map(np.testing.assert_array_equal, full.state, resumed.state)
    assert _rows(tmp_path / "killed") == _rows(tmp_path / "full")
