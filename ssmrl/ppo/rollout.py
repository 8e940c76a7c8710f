"""Rollouts: a ``lax.scan`` over time of the policy's ``step`` and the vectorised, auto-resetting environment.

The rollout stores, time-major ``[T, B, ...]``: the observation the action was taken from, its ``is_first`` flag,
action, log-prob, value, reward, ``terminated``, ``truncated`` and ``V(final_obs)`` (computed with the carry from
before the reset, only when some environment truncated), plus the core carry at the start of every training chunk
(the rollout start when ``chunk_len`` is None) and the value of the observation after the last step.

Box actions are raw Gaussian samples (stored as such); they are clipped to the space's bounds only when handed to
the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from ssmrl.env_wrappers import VecEnv
from ssmrl.nets import clip_to_space
from ssmrl.types import Transition

Array = jax.Array


@struct.dataclass
class RolloutState:
    """What the rollout carries from one update to the next.

    env_state: vectorised env state (leaves [B, ...]); obs [B, *obs_shape]: the next observation to act on;
    is_first bool [B]: ``obs`` starts an episode; carry: core-stack carry (leaves [B, ...]) before ``obs``.
    """

    env_state: Any
    obs: Any
    is_first: Array
    carry: Any


@struct.dataclass
class Rollout:
    """One rollout. transitions: :class:`ssmrl.types.Transition`, fields [T, B, ...];
    start_carries: carry before the first step of each chunk, leaves [C, B, ...] (C = T / chunk_len);
    last_value float32 [B]: V of ``obs`` after the last step; episode_return float32 [T, B],
    episode_length int32 [T, B], episode_done bool [T, B]: statistics of episodes ending at each step."""

    transitions: Transition
    start_carries: Any
    last_value: Array
    episode_return: Array
    episode_length: Array
    episode_done: Array


def init_rollout_state(key: Array, net, env: VecEnv, env_params: Any) -> RolloutState:
    """Reset ``env.num_envs`` environments; every ``is_first`` is set and the carry is the initial one."""
    obs, env_state = env.reset(key, env_params)
    return RolloutState(env_state=env_state, obs=obs, is_first=jnp.ones((env.num_envs,), bool),
                        carry=net.initialize_carry(env.num_envs))


def make_rollout(net, env: VecEnv, env_params: Any, num_steps: int, chunk_len: int | None = None,
                 greedy: bool = False) -> Callable:
    """Build ``rollout(key, params, state) -> (state, Rollout)`` over ``num_steps`` steps of ``env.num_envs``
    environments. ``chunk_len`` (dividing ``num_steps``) sets where carries are stored; ``greedy`` acts with the
    distribution's mode instead of sampling (evaluation)."""
    chunk_len = num_steps if chunk_len is None else chunk_len
    if num_steps % chunk_len:
        raise ValueError(f"chunk_len={chunk_len} must divide num_steps={num_steps}")
    action_space = env.action_space(env_params)

    def one_step(params, state: RolloutState, key):
        key_act, key_env = jax.random.split(key)
        carry, dist, value = net.apply(params, state.carry, state.obs, state.is_first, method="step")
        action = dist.mode() if greedy else dist.sample(seed=key_act)
        log_prob = dist.log_prob(action)
        obs, env_state, reward, terminated, truncated, info = env.step(
            key_env, state.env_state, clip_to_space(action, action_space), env_params)

        def bootstrap():
            not_first = jnp.zeros_like(truncated)
            return net.apply(params, carry, info["final_obs"], not_first, method="step")[2]

        bootstrap_value = jax.lax.cond(jnp.any(truncated), bootstrap, lambda: jnp.zeros_like(value))
        transition = Transition(obs=state.obs, is_first=state.is_first, action=action, log_prob=log_prob,
                                value=value, reward=reward.astype(jnp.float32), terminated=terminated,
                                truncated=truncated, bootstrap_value=bootstrap_value)
        stats = (info["episode_return"], info["episode_length"], info["episode_done"])
        new_state = RolloutState(env_state=env_state, obs=obs, is_first=info["is_first"], carry=carry)
        return new_state, (transition, stats)

    def rollout(key: Array, params: Any, state: RolloutState) -> tuple[RolloutState, Rollout]:
        def chunk(state, chunk_key):
            start = state.carry
            state, out = jax.lax.scan(lambda s, k: one_step(params, s, k), state,
                                      jax.random.split(chunk_key, chunk_len))
            return state, (start, out)

        num_chunks = num_steps // chunk_len
        state, (starts, (trans, stats)) = jax.lax.scan(chunk, state, jax.random.split(key, num_chunks))
        merge = lambda x: x.reshape((num_steps,) + x.shape[2:])
        trans, stats = jax.tree.map(merge, (trans, stats))
        last_value = net.apply(params, state.carry, state.obs, state.is_first, method="step")[2]
        return state, Rollout(transitions=trans, start_carries=starts, last_value=last_value,
                              episode_return=stats[0], episode_length=stats[1], episode_done=stats[2])

    return rollout


def episode_metrics(rollout: Rollout) -> dict[str, Array]:
    """Mean return and length of the episodes that ended in this rollout (0 when none did), and their count."""
    done = rollout.episode_done.astype(jnp.float32)
    count = done.sum()
    denom = jnp.maximum(count, 1.0)
    return {
        "episode_return": (rollout.episode_return * done).sum() / denom,
        "episode_length": (rollout.episode_length.astype(jnp.float32) * done).sum() / denom,
        "episodes": count,
    }
