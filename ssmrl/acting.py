"""Acting: steps vectorised, auto-resetting environments with a policy callback and returns the time-major data
every algorithm needs. PPO's rollout and the world model's data collection are both built on it.

``act(key, params, state) -> (state, Trajectory)`` is a ``lax.scan`` over ``num_steps`` steps. At each step the
key splits into ``(key_policy, key_env)``; the policy maps ``(params, carry, obs, is_first, key_policy)`` to
``(carry, action, extras)``; the environment steps with ``action`` clipped to a Box space's bounds (the stored
action is the policy's own); after the step, where some episode was truncated, the optional ``bootstrap``
callback sees the post-step carry (before any reset) and the final observations (e.g. PPO's ``V(final_obs)``).

Episode statistics are reduced here and only here (:func:`episode_metrics`): the mean return and length of the
episodes that ended in a trajectory, NaN when none did, and their count. :func:`make_evaluate_episodes` runs
fresh environments until each has finished one episode (an evaluation that never stops mid-episode).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from ssmrl.env_wrappers import VecEnv
from ssmrl.nets import clip_to_space

Array = jax.Array

# policy(params, carry, obs [B, ...], is_first bool [B], key) -> (carry, action [B, ...], extras: dict of [B, ...])
Policy = Callable[..., tuple[Any, Array, dict]]
# bootstrap(params, carry, final_obs [B, ...]) -> dict of [B, ...], evaluated only on steps where some env truncated
Bootstrap = Callable[..., dict]


@struct.dataclass
class ActingState:
    """What acting carries from one call to the next; every leaf has the environment axis first.

    env_state: vectorised env state [B, ...]; obs [B, *obs_shape]: the next observation to act on;
    is_first bool [B]: ``obs`` starts an episode; carry: the policy's core carry (leaves [B, ...]) before ``obs``.
    """

    env_state: Any
    obs: Any
    is_first: Array
    carry: Any


@struct.dataclass
class Trajectory:
    """``num_steps`` steps of ``B`` environments; every field is time-major [T, B, ...].

    obs: the observation acted on at t; is_first bool: it starts an episode; action: the policy's action;
    reward float32; terminated, truncated bool: the step ended the episode (terminal state / time limit);
    final_obs: the observation the step produced, before any auto-reset (equal to the next ``obs`` unless the
    episode ended); extras: the policy's and the bootstrap's outputs (dict of [T, B, ...]);
    episode_return float32, episode_length int32, episode_done bool: the episode that ended at t (0 elsewhere).
    """

    obs: Any
    is_first: Array
    action: Array
    reward: Array
    terminated: Array
    truncated: Array
    final_obs: Any
    extras: dict
    episode_return: Array
    episode_length: Array
    episode_done: Array


def init_acting(key: Array, env: VecEnv, env_params: Any, carry: Any) -> ActingState:
    """Reset ``env.num_envs`` environments (``env`` must report episode statistics: wrap the raw env in
    ``EpisodeStats`` before ``VecEnv``); every ``is_first`` is set and the policy carry is ``carry``."""
    obs, env_state = env.reset(key, env_params)
    return ActingState(env_state=env_state, obs=obs, is_first=jnp.ones((env.num_envs,), bool), carry=carry)


def make_act(env: VecEnv, env_params: Any, policy: Policy, num_steps: int,
             bootstrap: Bootstrap | None = None) -> Callable:
    """Build ``act(key, params, state: ActingState) -> (ActingState, Trajectory [num_steps, B])``.

    ``bootstrap`` outputs are zeros on steps where no environment truncated (it is not evaluated there).
    """
    action_space = env.action_space(env_params)

    def one_step(params, state: ActingState, key):
        key_policy, key_env = jax.random.split(key)
        carry, action, extras = policy(params, state.carry, state.obs, state.is_first, key_policy)
        obs, env_state, reward, terminated, truncated, info = env.step(
            key_env, state.env_state, clip_to_space(action, action_space), env_params)
        extras = dict(extras)
        if bootstrap is not None:
            run = lambda: bootstrap(params, carry, info["final_obs"])
            zeros = lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(run))
            extras.update(jax.lax.cond(jnp.any(truncated), run, zeros))
        step = Trajectory(obs=state.obs, is_first=state.is_first, action=action, reward=reward.astype(jnp.float32),
                          terminated=terminated, truncated=truncated, final_obs=info["final_obs"], extras=extras,
                          episode_return=info["episode_return"], episode_length=info["episode_length"],
                          episode_done=info["episode_done"])
        return ActingState(env_state=env_state, obs=obs, is_first=info["is_first"], carry=carry), step

    def act(key: Array, params: Any, state: ActingState) -> tuple[ActingState, Trajectory]:
        return jax.lax.scan(lambda s, k: one_step(params, s, k), state, jax.random.split(key, num_steps))

    return act


def episode_metrics(traj: Trajectory) -> dict[str, Array]:
    """Statistics of the episodes that ended in ``traj`` (float32 scalars): ``episode_return`` and
    ``episode_length`` (means; NaN when no episode ended) and ``episodes`` (their count)."""
    done = traj.episode_done.astype(jnp.float32)
    count = done.sum()
    denom = jnp.maximum(count, 1.0)
    mean = lambda x: jnp.where(count > 0, (x.astype(jnp.float32) * done).sum() / denom, jnp.nan)
    return {"episode_return": mean(traj.episode_return), "episode_length": mean(traj.episode_length),
            "episodes": count}


def make_evaluate_episodes(env: VecEnv, env_params: Any, policy: Policy, initial_carry: Callable[[int], Any],
                           max_steps: int, block: int = 32) -> Callable:
    """Build ``evaluate(key, params) -> metrics``: reset ``env.num_envs`` environments and act in blocks of
    ``block`` steps until every environment has finished its first episode, or ``max_steps`` steps (rounded up to
    whole blocks) have passed. Metrics (float32 scalars): ``episode_return`` and ``episode_length``, means over the
    environments' first episodes (NaN if none finished), and ``episodes``, the number that finished."""
    act = make_act(env, env_params, policy, block)
    num_blocks = -(-max_steps // block)
    num_envs = env.num_envs

    def evaluate(key: Array, params: Any) -> dict[str, Array]:
        key_reset, key_run = jax.random.split(key)
        state = init_acting(key_reset, env, env_params, initial_carry(num_envs))
        zeros = jnp.zeros((num_envs,), jnp.float32)

        def cond(loop):
            return (loop[0] < num_blocks) & ~jnp.all(loop[3])

        def body(loop):
            i, state, key, finished, ret, length = loop
            key, key_block = jax.random.split(key)
            state, traj = act(key_block, params, state)
            done = traj.episode_done
            first = done & (jnp.cumsum(done, axis=0) == 1) & ~finished[None]
            ret = ret + jnp.where(first, traj.episode_return, 0.0).sum(0)
            length = length + jnp.where(first, traj.episode_length, 0).sum(0).astype(jnp.float32)
            return i + 1, state, key, finished | done.any(0), ret, length

        _, _, _, finished, ret, length = jax.lax.while_loop(
            cond, body, (jnp.int32(0), state, key_run, jnp.zeros((num_envs,), bool), zeros, zeros))
        count = finished.sum().astype(jnp.float32)
        mean = lambda x: jnp.where(count > 0, jnp.where(finished, x, 0.0).sum() / jnp.maximum(count, 1.0), jnp.nan)
        return {"episode_return": mean(ret), "episode_length": mean(length), "episodes": count}

    return evaluate
