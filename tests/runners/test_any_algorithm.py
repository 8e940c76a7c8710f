"""The run layer serves any algorithm: a toy REINFORCE learner defined only in this file goes through the same
run loop as PPO. Its own metric keys reach metrics.csv and tensorboard, it checkpoints, resumes bit-exactly,
evaluates and draws its curve, and the run layer needed no change for it."""

import csv
import json
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from toy_env import Counter

from ssmrl.acting import ActingState, episode_metrics, init_acting, make_act
from ssmrl.algorithm import Train
from ssmrl.config import CollectConfig, ConfigError, run_config_from_dict
from ssmrl.env_wrappers import EpisodeStats, VecEnv
from ssmrl.runners.loop import train


@dataclass(frozen=True)
class ToyConfig(CollectConfig):
    num_envs: int = 4
    num_steps: int = 6
    total_timesteps: int = 4 * 6 * 7  # 7 updates: calls of 3, 3 and 1 with runner.updates_per_call = 3
    lr: float = 0.5

    def validate(self) -> None:
        self.validate_collection()
        if self.lr <= 0:
            raise ConfigError(f"algo.lr must be > 0, got {self.lr}")


@struct.dataclass
class ToyState:
    logits: jax.Array
    key: jax.Array
    acting: ActingState
    updates: jax.Array


def make_toy_train(cfg, env, env_params):
    """A state-less softmax policy over the Counter's two actions, trained by REINFORCE on per-step rewards."""
    algo = cfg.algo
    vec = VecEnv(EpisodeStats(env), algo.num_envs)

    def policy(logits, carry, obs, is_first, key):
        return carry, jax.random.categorical(key, logits, shape=(algo.num_envs,)), {}

    act = make_act(vec, env_params, policy, algo.num_steps)

    def init(key):
        key, key_env = jax.random.split(key)
        acting = init_acting(key_env, vec, env_params, jnp.zeros((algo.num_envs,)))
        return ToyState(logits=jnp.zeros(2), key=key, acting=acting, updates=jnp.zeros((), jnp.int32))

    def update(state):
        key, key_act = jax.random.split(state.key)
        acting, traj = act(key_act, state.logits, state.acting)
        probs = jax.nn.softmax(state.logits)
        grad = (traj.reward[..., None] * (jax.nn.one_hot(traj.action, 2) - probs)).mean((0, 1))
        updates = state.updates + 1
        metrics = {**episode_metrics(traj), "toy_prob_one": probs[1], "toy_reward": traj.reward.mean(),
                   "env_steps": (updates * algo.steps_per_update).astype(jnp.float32)}
        return (ToyState(logits=state.logits + algo.lr * grad, key=key, acting=acting, updates=updates),
                jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), metrics))

    def evaluate(key, state):
        return {"toy_eval_prob_one": jax.nn.softmax(state.logits)[1]}

    return Train(init=init, update=update, evaluate=evaluate, agent_params=lambda state: state.logits)


CFG = {"model": {"name": "identity", "d_model": 4, "n_layers": 1},
       "logger": {"progress": False, "tensorboard": True, "plot": True},
       "runner": {"updates_per_call": 3, "checkpoint_every": 3, "eval_envs": 1}, "num_seeds": 2}


def _rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k not in ("sps", "wall_s")} for r in csv.DictReader(f)]


@pytest.mark.slow
def test_toy_algorithm_logs_checkpoints_resumes_and_plots(tmp_path):
    cfg = run_config_from_dict(CFG, ToyConfig)
    env = Counter()
    full = train(cfg, make_toy_train, env, env.default_params, tmp_path / "full")
    assert full.updates == 7
    rows = _rows(tmp_path / "full")
    assert [r["update"] for r in rows] == [str(i) for i in range(1, 8)]
    for key in ("toy_prob_one", "toy_reward", "episode_return", "episode_return_std", "return_seed0",
                "return_seed1", "env_steps"):
        assert key in rows[0], key
    # Action 1 pays 1 per step against 0: REINFORCE raises its probability from 0.5.
    assert float(rows[0]["toy_prob_one"]) == 0.5 and float(rows[-1]["toy_prob_one"]) > 0.6
    events = b"".join(p.read_bytes() for p in (tmp_path / "full" / "tb").iterdir())
    assert b"train/toy_prob_one" in events and b"eval/toy_eval_prob_one" in events
    assert (tmp_path / "full" / "learning_curve.png").stat().st_size > 0
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert summary["updates"] == 7 and summary["eval_metrics"]["toy_eval_prob_one"] > 0.6
    assert summary["agent_params"] == 2  # one seed's logits

    # Killed after update 3 (checkpoint at 3), resumed: bit-identical state and metrics.
    killed = train(cfg, make_toy_train, env, env.default_params, tmp_path / "killed", stop_after=3)
    assert killed.updates == 3 and killed.eval_metrics == {}
    resumed = train(cfg, make_toy_train, env, env.default_params, tmp_path / "killed")
    assert resumed.updates == 7
    jax.tree.map(np.testing.assert_array_equal, full.state, resumed.state)
    assert _rows(tmp_path / "killed") == rows
    assert resumed.eval_metrics == full.eval_metrics
    again = train(cfg, make_toy_train, env, env.default_params, tmp_path / "full")  # complete: read back, not run
    assert again.state is None and again.agent_params == 2


def _with(**changes):
    """CFG with ``changes`` ({"algo": {...}, "runner": {...}}) merged into its sections."""
    return run_config_from_dict({**CFG, **{k: {**CFG.get(k, {}), **v} for k, v in changes.items()}}, ToyConfig)


@pytest.mark.slow
def test_a_resume_with_another_config_is_refused_naming_the_key(tmp_path):
    env = Counter()
    train(_with(), make_toy_train, env, env.default_params, tmp_path / "run", stop_after=3)  # checkpoint at 3
    before = (tmp_path / "run" / "metrics.csv").read_text()
    with pytest.raises(ConfigError) as err:  # another learning rate would continue this run as another run
        train(_with(algo={"lr": 0.25}), make_toy_train, env, env.default_params, tmp_path / "run")
    assert str(err.value).startswith(f"algo.lr is 0.25 in this config but 0.5 in the checkpoint of update 3 in "
                                     f"{tmp_path / 'run'}: ")
    assert "set algo.lr back to 0.5 to resume it, or train in a new run_dir" in str(err.value)
    assert (tmp_path / "run" / "metrics.csv").read_text() == before  # nothing written
    # The budget and the runner's settings may change: 9 updates instead of 7, checkpoints every 6.
    longer = train(_with(algo={"total_timesteps": 4 * 6 * 9}, runner={"checkpoint_every": 6}), make_toy_train, env,
                   env.default_params, tmp_path / "run")
    assert longer.updates == 9 and [r["update"] for r in _rows(tmp_path / "run")] == [str(i) for i in range(1, 10)]


@pytest.mark.slow
def test_damaged_digests_json_resumes_from_the_newest_checkpoint_that_reads_back(tmp_path):
    from rich.console import Console

    env = Counter()
    full = train(_with(), make_toy_train, env, env.default_params, tmp_path / "full")
    train(_with(), make_toy_train, env, env.default_params, tmp_path / "killed", stop_after=6)  # checkpoints 3, 6
    digests = tmp_path / "killed" / "checkpoints" / "digests.json"
    digests.write_text("{garbage")
    console = Console(record=True, width=400)
    resumed = train(_with(), make_toy_train, env, env.default_params, tmp_path / "killed", console=console)
    text = console.export_text()
    assert f"warning: {digests} is damaged (not JSON: " in text, text
    assert "checkpoint 6 was checked by reading it" in text and "resumed from checkpoint at update 6" in text, text
    jax.tree.map(np.testing.assert_array_equal, full.state, resumed.state)
    assert set(json.loads(digests.read_text())) == {"7"}  # written anew by the final save
