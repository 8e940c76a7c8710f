"""PPO's rollout on the shared acting module (``ssmrl.acting``): the policy samples (or takes the mode of) the
actor-critic's distribution and stores its log-prob and value; truncated steps store ``V(final_obs)`` computed
with the carry from before the reset. The carry at the start of every training chunk (``chunk_len`` steps; the
rollout start when ``chunk_len`` is None) is kept so that the update can recompute each chunk in parallel.

Box actions are raw Gaussian samples (stored as such); acting clips them to the space's bounds only when handing
them to the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from ssmrl.acting import ActingState, Trajectory, init_acting, make_act
from ssmrl.env_wrappers import VecEnv

Array = jax.Array


@struct.dataclass
class Rollout:
    """One rollout. trajectory: :class:`ssmrl.acting.Trajectory` [T, B, ...] whose extras hold ``log_prob``,
    ``value`` and ``bootstrap_value`` (V(final_obs) under the pre-reset carry, used only where truncated);
    start_carries: carry before the first step of each chunk, leaves [C, B, ...] (C = T / chunk_len);
    last_value float32 [B]: V of the observation after the last step."""

    trajectory: Trajectory
    start_carries: Any
    last_value: Array


def init_rollout_state(key: Array, net, env: VecEnv, env_params: Any) -> ActingState:
    """Reset ``env.num_envs`` environments with the network's initial carry."""
    return init_acting(key, env, env_params, net.initialize_carry(env.num_envs))


def make_policy(net, greedy: bool = False):
    """The acting policy of the actor-critic ``net``: ``policy(params, carry, obs, is_first, key) -> (carry,
    action, {"log_prob", "value"})``; ``greedy`` takes the distribution's mode instead of sampling."""

    def policy(params, carry, obs, is_first, key):
        carry, dist, value = net.apply(params, carry, obs, is_first, method="step")
        action = dist.mode() if greedy else dist.sample(seed=key)
        return carry, action, {"log_prob": dist.log_prob(action), "value": value}

    return policy


def make_rollout(net, env: VecEnv, env_params: Any, num_steps: int, chunk_len: int | None = None,
                 greedy: bool = False) -> Callable:
    """Build ``rollout(key, params, state: ActingState) -> (state, Rollout)`` over ``num_steps`` steps of
    ``env.num_envs`` environments. ``chunk_len`` (dividing ``num_steps``) sets where carries are stored;
    ``greedy`` acts with the distribution's mode instead of sampling (evaluation)."""
    chunk_len = num_steps if chunk_len is None else chunk_len
    if num_steps % chunk_len:
        raise ValueError(f"chunk_len={chunk_len} must divide num_steps={num_steps}")

    policy = make_policy(net, greedy)

    def bootstrap(params, carry, final_obs):
        not_first = jnp.zeros(jax.tree.leaves(final_obs)[0].shape[:1], bool)
        return {"bootstrap_value": net.apply(params, carry, final_obs, not_first, method="step")[2]}

    act = make_act(env, env_params, policy, chunk_len, bootstrap)

    def rollout(key: Array, params: Any, state: ActingState) -> tuple[ActingState, Rollout]:
        def chunk(state, chunk_key):
            start = state.carry
            state, traj = act(chunk_key, params, state)
            return state, (start, traj)

        state, (starts, traj) = jax.lax.scan(chunk, state, jax.random.split(key, num_steps // chunk_len))
        traj = jax.tree.map(lambda x: x.reshape((num_steps,) + x.shape[2:]), traj)
        last_value = net.apply(params, state.carry, state.obs, state.is_first, method="step")[2]
        return state, Rollout(trajectory=traj, start_carries=starts, last_value=last_value)

    return rollout
