"""Batches of the world model: :class:`ReplayBatch`, the time-major sequences it trains on, in the replay layout
(step ``t`` holds ``obs[t]``, the previous action ``action[t]`` (zeros where is_first), the reward received on
arriving at obs ``t`` and the flags); :func:`sample_batch` draws them from fixed episodes [T, N, ...] and
:func:`as_arrays` takes those fields from any object that has them. Dreamer's device replay
(``ssmrl.dreamer.replay``) samples the same :class:`ReplayBatch` from what it collected.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array
PyTree = Any


@struct.dataclass
class ReplayBatch:
    """Sampled sequences, time-major: obs, action [L, B, ...]; reward float32 [L, B];
    is_first, terminated, truncated bool [L, B] (is_first[0] is True)."""

    obs: PyTree
    action: PyTree
    reward: Array
    is_first: Array
    terminated: Array
    truncated: Array


def sample_batch(key: Array, episodes: Any, batch_size: int, seq_len: int = 0) -> ReplayBatch:
    """``batch_size`` windows of ``seq_len`` steps (0: the whole episode), each at a uniformly random episode and
    start inside it, from episodes with fields [T, N, ...] -> ReplayBatch [seq_len, batch_size, ...].

    is_first[0] is set and action / reward zeroed wherever is_first (a window starting mid-episode begins from
    the initial carry). Jittable (batch_size, seq_len static).
    """
    length, num = episodes.is_first.shape
    seq_len = seq_len or length
    if not 1 <= seq_len <= length:
        raise ValueError(f"seq_len={seq_len} must be in 1..{length} (the episodes' length; 0: whole episodes)")
    key_ep, key_start = jax.random.split(key)
    index = jax.random.randint(key_ep, (batch_size,), 0, num)
    start = jax.random.randint(key_start, (batch_size,), 0, length - seq_len + 1)
    return window_batch(episodes, index, start, seq_len)


def window_batch(episodes: Any, index: Array, start: Array, seq_len: int) -> ReplayBatch:
    """The windows ``episodes[start[b] : start[b] + seq_len, index[b]]`` (index, start int [B]) of episodes with
    fields [T, N, ...] -> ReplayBatch [seq_len, B, ...], with the replay's start convention (:func:`sample_batch`).
    Jittable (seq_len static)."""

    def window(x):  # [T, N, ...] -> [seq_len, B, ...]
        x = jnp.asarray(x)
        one = lambda i, s: jax.lax.dynamic_slice_in_dim(x[:, i], s, seq_len, axis=0)
        return jax.vmap(one, out_axes=1)(index, start)

    is_first = window(episodes.is_first).at[0].set(True)
    keep = lambda x: jnp.where(is_first.reshape(is_first.shape + (1,) * (x.ndim - 2)), jnp.zeros_like(x), x)
    return ReplayBatch(obs=window(episodes.obs), action=keep(window(episodes.action)),
                       reward=keep(window(episodes.reward)), is_first=is_first,
                       terminated=window(episodes.terminated), truncated=window(episodes.truncated))


def as_arrays(episodes: Any) -> ReplayBatch:
    """The fields training reads (obs, action, reward, is_first, terminated, truncated) of any object that has
    them, e.g. ``WMEpisodes`` (its markers dropped), as a :class:`ReplayBatch` pytree of device arrays [T, N, ...]."""
    return ReplayBatch(*(jnp.asarray(getattr(episodes, name)) for name in
                         ("obs", "action", "reward", "is_first", "terminated", "truncated")))
