"""Scripted episodes of the wm_memory tasks in the world model's replay layout, generated on the fly from a seed.

Layout (as ``ssmrl.world_model.batch``), one episode = ``T = params.length`` observations, time-major:

    obs[t]         uint8 [32, 32, 3] (obs_mode "tiles": int32 [7, 7]): observation t (obs 0 from reset)
    action[t]      int32: the action taken BEFORE obs t (0 where is_first, i.e. at t = 0)
    reward[t]      float32: the reward received on arriving at obs t (0 at t = 0)
    is_first[t]    True at t = 0 only
    terminated[t]  always False (no task terminates)
    truncated[t]   True at t = T - 1 only (the episode is cut at its length)

:class:`WMEpisodes` holds these ``[T, N, ...]`` plus ``markers``: the task's per-episode step indices
(``revisit_step``, ``teleport_step`` / ``teleport_source``, ``cue`` / ``cue_last_seen`` / ``reward_step``,
``return_step`` / ``first_change_step`` / ``last_change_step``), int32 [N]. Its fields match what
``ssmrl.world_model.model.world_model_loss`` reads from a batch.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs.wm_memory.grid import GridTask

Array = jax.Array


@struct.dataclass
class WMEpisodes:
    """obs uint8 [T, N, 32, 32, 3]; action int32 [T, N] (previous action); reward float32 [T, N]; is_first,
    terminated, truncated bool [T, N]; markers: dict of int32 [N] (see the module docstring)."""

    obs: Array
    action: Array
    reward: Array
    is_first: Array
    terminated: Array
    truncated: Array
    markers: dict


def scripted_episode(key: Array, env: GridTask, params: Any) -> tuple[WMEpisodes, Any]:
    """One scripted episode -> (:class:`WMEpisodes` with leaves [T, ...] and markers [], the final state).

    The reset uses ``split(key)[0]``; step ``t`` draws the policy's and the environment's keys from
    ``split(split(key)[1], (T - 1, 2))[t]``.
    """
    key_reset, key_run = jax.random.split(key)
    obs0, state0 = env.reset(key_reset, params)
    keys = jax.random.split(key_run, (params.length - 1, 2))

    def one_step(state, step_keys):
        action = env.scripted_action(step_keys[0], state, params)
        obs, state, reward, terminated, truncated, _ = env.step(step_keys[1], state, action, params)
        return state, (obs, action, reward, terminated, truncated)

    final, (obs, action, reward, terminated, truncated) = jax.lax.scan(one_step, state0, keys)
    first = lambda x0, xs: jnp.concatenate([jnp.asarray(x0, xs.dtype)[None], xs])
    episode = WMEpisodes(
        obs=first(obs0, obs), action=first(0, action), reward=first(0.0, reward),
        is_first=jnp.arange(params.length) == 0, terminated=first(False, terminated), truncated=first(False, truncated),
        markers=env.markers(final),
    )
    return episode, final


@functools.partial(jax.jit, static_argnames=("env", "params", "num_episodes"))
def scripted_episodes(key: Array, env: GridTask, params: Any, num_episodes: int) -> tuple[WMEpisodes, Any]:
    """``num_episodes`` scripted episodes, episode ``i`` from ``split(key, num_episodes)[i]`` -> (time-major
    :class:`WMEpisodes` [T, N, ...] with markers [N], the final states [N, ...]). Compiled once per task type,
    params and N."""
    episodes, final = jax.vmap(scripted_episode, in_axes=(0, None, None))(
        jax.random.split(key, num_episodes), env, params)
    time_major = lambda x: jnp.swapaxes(x, 0, 1)
    episodes = episodes.replace(**{name: time_major(getattr(episodes, name)) for name in
                                   ("obs", "action", "reward", "is_first", "terminated", "truncated")})
    return episodes, final
