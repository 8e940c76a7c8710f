"""Meta-RL evaluation of the benchmark grid: the greedy return per trial index of a meta-RL cell's trained agents.

A meta-RL task (``meta/...``) trains with ``num_trials = meta_trials`` (k) trials per meta-episode; its cell is
evaluated greedily on 2k trials, one return per trial index (:func:`trial_returns`), with the algorithm's own
``evaluate`` on :class:`TrialReward`, which keeps the reward of one trial only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ssmrl.config import RunConfig
from ssmrl.env import Environment


@struct.dataclass
class TrialParams:
    """inner: the meta-environment's params; target: int32 [], the trial whose rewards are kept."""

    inner: Any
    target: jax.Array


class TrialReward(Environment):
    """A meta-RL environment (``info["trial"]``: the trial a step was taken in) whose reward is kept only in trial
    ``params.target``: the return of an episode is then that trial's return. Observations (which hold the true
    previous reward) and everything else are unchanged, so the agent acts exactly as on the wrapped environment."""

    def __init__(self, env: Environment):
        self.env = env

    @property
    def default_params(self) -> TrialParams:
        return TrialParams(self.env.default_params, jnp.int32(0))

    def reset(self, key, params: TrialParams):
        return self.env.reset(key, params.inner)

    def step(self, key, state, action, params: TrialParams):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params.inner)
        reward = jnp.where(info["trial"] == params.target, reward, jnp.zeros_like(reward))
        return obs, state, reward, terminated, truncated, info

    def observation_space(self, params: TrialParams):
        return self.env.observation_space(params.inner)

    def action_space(self, params: TrialParams):
        return self.env.action_space(params.inner)

    @property
    def name(self) -> str:
        return self.env.name


def trial_returns(make_train: Callable, cfg: RunConfig, env: Environment, env_params: Any, state: Any,
                  num_trials: int) -> np.ndarray:
    """Greedy (``runner.eval_greedy``) return per trial of the trained agents ``state`` (leading seed axis S) on
    ``env`` with ``env_params`` of ``num_trials`` trials: float [S, num_trials], the mean over ``runner.eval_envs``
    fresh meta-episodes (NaN where none finished within ``2 x runner.eval_steps`` steps).

    One compiled program: the algorithm's own ``evaluate`` on :class:`TrialReward` for every target trial (vmapped;
    the same key for every target, so each target sees the same episodes)."""
    cfg = dataclasses.replace(cfg, runner=dataclasses.replace(cfg.runner, eval_steps=2 * cfg.runner.eval_steps))
    wrapped = TrialReward(env)

    def one(target, key, seed_state):
        evaluate = make_train(cfg, wrapped, TrialParams(env_params, target)).evaluate
        return evaluate(key, seed_state)["episode_return"]

    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 2), cfg.num_seeds)
    per_seed = jax.vmap(one, in_axes=(0, None, None))
    out = jax.jit(jax.vmap(per_seed, in_axes=(None, 0, 0)))(jnp.arange(num_trials, dtype=jnp.int32), keys, state)
    return np.asarray(jax.device_get(out), np.float64)
