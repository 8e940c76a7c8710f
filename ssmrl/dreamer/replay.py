"""Device-resident sequence replay of the world model: per-environment ring buffers as one named pytree.

Stored step layout (what the world model trains on), per environment, in time order::

    obs[t]         the observation
    action[t]      the action taken BEFORE obs t (the previous action; zeros where is_first)
    reward[t]      the reward received on arriving at obs t (0 where is_first)
    is_first[t]    obs t starts an episode
    terminated[t]  obs t is terminal (continue target 0)
    truncated[t]   obs t is the last of an episode cut by a time limit (continue target 1)

An episode's final observation is stored as its own step, so an environment step writes one replay step
(its observation) or two (its observation and, where the episode ended, the final observation).

:class:`Replay` holds, for ``E = num_envs`` environments, ring buffers ``[E, C, ...]`` with
``C = capacity // num_envs``, the next write position ``pos`` and the number of valid steps ``count`` (at most C)
of each ring, and each environment's ``last_action`` / ``last_reward`` (the previous action and reward of the
next observation to be added). Every field is an array, so the replay can live inside a jitted training state
and be saved by orbax. All functions are pure and jittable (``replay_sample`` with ``batch`` and ``length``
static).

Sampling draws ``batch`` windows of ``length`` consecutive steps uniformly over all (environment, start) pairs
whose window lies inside the written data of one ring, never across its write head. Each sampled sequence has
``is_first[0] = True`` (the model starts from the initial carry there, as at an episode start) and zero
action and reward wherever ``is_first`` is set; ``terminated`` / ``truncated`` are kept as stored (a window may
start on a final observation).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ssmrl.world_model.batch import ReplayBatch

Array = jax.Array
PyTree = Any


@struct.dataclass
class Replay:
    """The replay state. obs, action: [E, C, ...] (dtypes of the examples; arrays or pytrees of arrays);
    reward float32 [E, C]; is_first, terminated, truncated bool [E, C]; pos, count int32 [E];
    last_action [E, ...]; last_reward float32 [E]."""

    obs: PyTree
    action: PyTree
    reward: Array
    is_first: Array
    terminated: Array
    truncated: Array
    pos: Array
    count: Array
    last_action: PyTree
    last_reward: Array


def replay_init(capacity: int, num_envs: int, obs_example: PyTree, action_example: PyTree) -> Replay:
    """Empty replay holding ``num_envs * (capacity // num_envs)`` steps.

    obs_example: one observation [*obs_shape] (its dtype is kept, e.g. uint8 images); action_example: one action
    [*action_shape] (e.g. an int32 [] index or a float32 [D] vector). Raises ValueError if
    ``capacity < num_envs`` or ``num_envs < 1``.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if capacity < num_envs:
        raise ValueError(f"capacity must be >= num_envs = {num_envs}, got capacity={capacity}")
    per_env = capacity // num_envs

    def buffer(leaf, lead):
        leaf = jnp.asarray(leaf)
        return jnp.zeros(lead + leaf.shape, leaf.dtype)

    ring = (num_envs, per_env)
    return Replay(
        obs=jax.tree.map(lambda x: buffer(x, ring), obs_example),
        action=jax.tree.map(lambda x: buffer(x, ring), action_example),
        reward=jnp.zeros(ring, jnp.float32),
        is_first=jnp.zeros(ring, bool),
        terminated=jnp.zeros(ring, bool),
        truncated=jnp.zeros(ring, bool),
        pos=jnp.zeros((num_envs,), jnp.int32),
        count=jnp.zeros((num_envs,), jnp.int32),
        last_action=jax.tree.map(lambda x: buffer(x, (num_envs,)), action_example),
        last_reward=jnp.zeros((num_envs,), jnp.float32),
    )


def _capacity_per_env(replay: Replay) -> int:
    return replay.reward.shape[1]


def _zero_where(mask: Array, x: Array) -> Array:
    """x [T, ...] with the rows where mask [T] is set replaced by zeros."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), jnp.zeros_like(x), x)


def _add_one_env(replay: Replay, obs, action, reward, is_first, terminated, truncated, final_obs) -> Replay:
    """replay_add for one environment: replay fields without the env axis, data [T, ...]."""
    cap = replay.reward.shape[0]
    done = jnp.logical_or(terminated, truncated)
    n_writes = 1 + done.astype(jnp.int32)
    first_k = jnp.cumsum(n_writes) - n_writes  # sequence number of obs[t]'s step within this add
    total = jnp.sum(n_writes)
    # Only the last `cap` writes survive; dropping the older ones keeps every scatter index unique.
    oldest_kept = total - cap

    def slot(k, valid):
        return jnp.where(valid & (k >= oldest_kept), (replay.pos + k) % cap, cap)  # cap: dropped

    obs_slot = slot(first_k, jnp.ones_like(done))
    final_slot = slot(first_k + 1, done)

    prev_action = jax.tree.map(lambda last, a: _zero_where(is_first, jnp.concatenate([last[None], a[:-1]])),
                               replay.last_action, action)
    prev_reward = jnp.where(is_first, 0.0, jnp.concatenate([replay.last_reward[None], reward[:-1]]))
    no = jnp.zeros_like(done)

    def write(buf, at_obs, at_final):
        buf = buf.at[obs_slot].set(at_obs.astype(buf.dtype), mode="drop")
        return buf.at[final_slot].set(at_final.astype(buf.dtype), mode="drop")

    return Replay(
        obs=jax.tree.map(write, replay.obs, obs, final_obs),
        action=jax.tree.map(write, replay.action, prev_action, action),
        reward=write(replay.reward, prev_reward, reward),
        is_first=write(replay.is_first, is_first, no),
        terminated=write(replay.terminated, no, terminated),
        truncated=write(replay.truncated, no, truncated),
        pos=((replay.pos + total) % cap).astype(jnp.int32),
        count=jnp.minimum(replay.count + total, cap).astype(jnp.int32),
        last_action=jax.tree.map(lambda buf, a: a[-1].astype(buf.dtype), replay.last_action, action),
        last_reward=reward[-1].astype(jnp.float32),
    )


def replay_add(replay: Replay, obs: PyTree, action: PyTree, reward: Array, is_first: Array, terminated: Array,
               truncated: Array, final_obs: PyTree) -> Replay:
    """Append environment transitions, as the acting loop returns them, time-major [T, B = num_envs, ...].

    At env step t the agent saw ``obs[t]`` (``is_first[t]``: it starts an episode), took ``action[t]``, got
    ``reward[t]``; the step ended the episode if ``terminated[t] | truncated[t]``; ``final_obs[t]`` is the
    observation the step produced before any auto-reset. Writes, per environment and step:

    * the step of ``obs[t]``: previous action / reward = ``action[t-1]`` / ``reward[t-1]`` (``last_action`` /
      ``last_reward`` at t = 0), zeros where ``is_first[t]``; its ``is_first[t]``; not terminated, not truncated;
    * where the episode ended, the step of ``final_obs[t]``: previous action ``action[t]``, reward ``reward[t]``,
      is_first False, ``terminated[t]``, ``truncated[t]``.

    Older steps of a full ring are overwritten in order (if one call writes more than C steps to an env, only its
    last C survive). reward float [T, B]; flags bool [T, B].
    """
    t_len, n_env = reward.shape
    if n_env != replay.reward.shape[0]:
        raise ValueError(f"reward must be [T, num_envs = {replay.reward.shape[0]}], got {reward.shape}")
    for name, x in (("is_first", is_first), ("terminated", terminated), ("truncated", truncated)):
        if x.shape != reward.shape:
            raise ValueError(f"{name} must have reward's shape [T, B] = {reward.shape}, got {x.shape}")
    for name, tree, ref in (("obs", obs, replay.obs), ("final_obs", final_obs, replay.obs),
                            ("action", action, replay.action)):
        for x, buf in zip(jax.tree.leaves(tree), jax.tree.leaves(ref), strict=True):
            if x.shape != (t_len, n_env) + buf.shape[2:]:
                raise ValueError(f"{name} must be [T, B, ...] = {(t_len, n_env) + buf.shape[2:]}, got {x.shape}")
    env_major = lambda tree: jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)
    return jax.vmap(_add_one_env)(replay, *env_major((obs, action, reward.astype(jnp.float32),
                                                      is_first.astype(bool), terminated.astype(bool),
                                                      truncated.astype(bool), final_obs)))


def replay_num_windows(replay: Replay, length: int) -> Array:
    """Number of (environment, start) windows of ``length`` steps available to sample, int32 []."""
    return jnp.sum(jnp.maximum(replay.count - length + 1, 0)).astype(jnp.int32)


def replay_sample(key: Array, replay: Replay, batch: int, length: int, episode_starts: bool = False) -> ReplayBatch:
    """``batch`` sequences of ``length`` steps, drawn uniformly over all valid (environment, start) windows.

    A window is valid when its ``length`` steps are all written and lie in logical (time) order in one ring,
    i.e. it never crosses the write head. With ``episode_starts`` the draw is uniform over the valid windows that
    begin on an episode's first step (stored ``is_first``), so the model sees every sampled episode from its start
    (what a task with a cue at the start needs: a window started mid-episode cannot know the cue); while no such
    window exists, over all valid windows. Returns :class:`ReplayBatch` [length, batch, ...] with
    ``is_first[0] = True`` and zero action / reward where is_first. Call only when
    ``replay_num_windows(replay, length) > 0`` (otherwise the content is arbitrary stored data). Raises
    ValueError if ``capacity // num_envs < length`` or ``batch`` / ``length`` < 1.
    """
    cap = _capacity_per_env(replay)
    if length < 1 or batch < 1:
        raise ValueError(f"batch and length must be >= 1, got batch={batch}, length={length}")
    if cap < length:
        raise ValueError(f"capacity // num_envs = {cap} must be >= length = {length}")
    windows = jnp.maximum(replay.count - length + 1, 0)  # [E]
    oldest_all = (replay.pos - replay.count) % cap  # [E]
    if episode_starts:
        # start p (logical, 0 = oldest) of env e is valid when p < windows[e]; weight it by is_first there
        logical = jnp.arange(cap)[None, :]
        starts_first = replay.is_first[jnp.arange(windows.shape[0])[:, None], (oldest_all[:, None] + logical) % cap]
        weight = ((logical < windows[:, None]) & starts_first).reshape(-1)  # [E * cap]
        any_first = weight.any()
        flat = jax.random.categorical(key, jnp.where(weight, 0.0, -jnp.inf), shape=(batch,))
        key = jax.random.fold_in(key, 1)
    ends = jnp.cumsum(windows)
    u = jax.random.randint(key, (batch,), 0, jnp.maximum(ends[-1], 1))
    env = jnp.minimum(jnp.searchsorted(ends, u, side="right"), windows.shape[0] - 1)
    start_in_env = u - (ends[env] - windows[env])
    if episode_starts:
        env = jnp.where(any_first, flat // cap, env)
        start_in_env = jnp.where(any_first, flat % cap, start_in_env)
    oldest = oldest_all[env]
    index = (oldest[None, :] + start_in_env[None, :] + jnp.arange(length)[:, None]) % cap  # [L, B]
    take = lambda buf: buf[env[None, :], index]
    is_first = take(replay.is_first).at[0].set(True)
    return ReplayBatch(
        obs=jax.tree.map(take, replay.obs),
        action=jax.tree.map(lambda buf: _zero_where(is_first, take(buf)), replay.action),
        reward=jnp.where(is_first, 0.0, take(replay.reward)),
        is_first=is_first,
        terminated=take(replay.terminated),
        truncated=take(replay.truncated),
    )


def replay_size(replay: Replay) -> Array:
    """Steps stored over all environments, int32 []."""
    return jnp.sum(replay.count).astype(jnp.int32)


def replay_bytes(replay: Replay) -> int:
    """Bytes held by all the replay's arrays (a Python int; from shapes and dtypes, so also under jit)."""
    return int(sum(int(np.prod(x.shape)) * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(replay)))
