"""ssmrl.runners.health: divergences named in the order an update computes its metrics and with the algorithm's
own learning rates; a policy whose entropy fell to 0 and stayed there is warned of once (through the run loop, with
the toy algorithm of test_any_algorithm.py)."""

from __future__ import annotations

import dataclasses
import io

import jax.numpy as jnp
import pytest
from rich.console import Console
from test_any_algorithm import CFG, ToyConfig, make_toy_train
from toy_env import Counter

from ssmrl.algorithm import Health
from ssmrl.config import run_config_from_dict
from ssmrl.runners.health import CollapseWatch, divergence_hint, first_non_finite
from ssmrl.runners.loop import Diverged, train

NAN = float("nan")
DREAMER = Health(lr_keys=("wm_lr", "actor_lr", "critic_lr"), metric_order=("wm_loss", "actor_loss", "critic_loss"),
                 entropy_key="policy_entropy", collapse_hint="a smaller algo.actor_lr")


def test_first_non_finite_follows_the_update_order():
    rows = [{"actor_loss": 1.0, "wm_loss": 2.0}, {"actor_loss": NAN, "episode_return": None, "wm_loss": NAN}]
    assert first_non_finite(rows, 5, DREAMER.metric_order) == (6, "wm_loss")  # computed first
    assert first_non_finite(rows, 5) == (6, "actor_loss")  # no order: the row's
    assert first_non_finite(rows[:1], 5, DREAMER.metric_order) is None


def test_divergence_hint_names_the_algorithms_learning_rates():
    assert divergence_hint(DREAMER).startswith("lower algo.wm_lr / algo.actor_lr / algo.critic_lr or check")
    assert divergence_hint(Health()).startswith("lower algo.lr or check")


def test_collapse_is_warned_once_after_the_entropy_was_positive():
    watch = CollapseWatch(DREAMER, patience=3)
    # zeros before any positive entropy (an algorithm not learning yet) do not count
    assert watch.see([{"policy_entropy": 0.0}] * 4, 1) is None
    assert watch.see([{"policy_entropy": 0.5}, {"policy_entropy": 0.0}, {"policy_entropy": None}], 5) is None
    assert watch.see([{"policy_entropy": 0.0}], 8) is None  # 2 zero updates (6 and 8)
    assert watch.see([{"policy_entropy": 1e-9}, {"policy_entropy": 0.0}], 9) == (
        "warning: the policy collapsed: policy_entropy has been 0 since update 6 (every action the same); try a "
        "smaller algo.actor_lr; the run goes on")
    assert watch.see([{"policy_entropy": 0.0}] * 5, 11) is None  # once
    assert CollapseWatch(Health()).see([{"entropy": 0.0}] * 9, 1) is None  # no entropy key: nothing to watch


def _toy_with(health, metric):
    """The toy algorithm with one more metric, ``metric(updates) -> float32 []`` after that many updates."""
    def make(cfg, env, env_params):
        toy = make_toy_train(cfg, env, env_params)

        def update(state):
            state, metrics = toy.update(state)
            return state, {**metrics, "toy_extra": metric(state.updates)}

        return dataclasses.replace(toy, update=update, health=health)
    return make


def test_the_run_loop_warns_of_a_collapse_and_goes_on(tmp_path):
    cfg = run_config_from_dict({**CFG, "num_seeds": 1, "logger": {**CFG["logger"], "tensorboard": False,
                                                                   "plot": False}}, ToyConfig)
    out = io.StringIO()
    health = Health(entropy_key="toy_extra", collapse_hint="a larger algo.ent_coef")
    entropy = lambda updates: jnp.where(updates <= 1, 0.7, 0.0).astype(jnp.float32)  # 0 from update 2
    result = train(cfg, _toy_with(health, entropy), Counter(), Counter().default_params, tmp_path / "run",
                   console=Console(file=out, width=200))
    assert result.updates == 7
    warnings = [line for line in out.getvalue().splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: the policy collapsed: toy_extra has been 0 since update 2 (every action the "
                        "same); try a larger algo.ent_coef; the run goes on"]


def test_the_run_loop_names_the_first_metric_computed(tmp_path):
    cfg = run_config_from_dict({**CFG, "num_seeds": 1, "logger": {**CFG["logger"], "tensorboard": False,
                                                                   "plot": False}}, ToyConfig)
    health = Health(lr_keys=("toy_lr",), metric_order=("toy_extra", "toy_prob_one"))
    with pytest.raises(Diverged, match=r"diverged at update 1: toy_extra is not finite; .*; lower algo.toy_lr or"):
        train(cfg, _toy_with(health, lambda updates: jnp.float32(NAN)), Counter(), Counter().default_params,
              tmp_path / "run", console=Console(file=io.StringIO()))
