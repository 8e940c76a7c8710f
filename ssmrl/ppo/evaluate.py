"""Evaluation: a fresh batch of environments run for a fixed number of steps with the policy (greedy by default),
reporting the mean return of the episodes that finished."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from ssmrl.config import PPOConfig
from ssmrl.env_wrappers import EpisodeStats, VecEnv
from ssmrl.ppo.networks import make_actor_critic
from ssmrl.ppo.rollout import episode_metrics, init_rollout_state, make_rollout

Array = jax.Array


def make_evaluate(cfg: PPOConfig, env: Any, env_params: Any) -> Callable:
    """Build ``evaluate(key, params) -> dict`` (episode_return, episode_length, episodes: float32 scalars) over
    ``cfg.runner.eval_envs`` environments and ``cfg.runner.eval_steps`` steps; greedy if ``runner.eval_greedy``."""
    vec = VecEnv(EpisodeStats(env), cfg.runner.eval_envs)
    net = make_actor_critic(cfg.model, vec.observation_space(env_params), vec.action_space(env_params),
                            cfg.algo.log_std_init)
    rollout = make_rollout(net, vec, env_params, cfg.runner.eval_steps, greedy=cfg.runner.eval_greedy)

    def evaluate(key: Array, params: Any) -> dict[str, Array]:
        key_reset, key_run = jax.random.split(key)
        state = init_rollout_state(key_reset, net, vec, env_params)
        _, ro = rollout(key_run, params, state)
        return episode_metrics(ro)

    return evaluate
