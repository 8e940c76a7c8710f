"""Reset-masked short causal depthwise convolutions: Mamba's conv1d and SMR's input memory share this.

A kernel of length K at time t reads ``x_t, x_{t-1}, ..., x_{t-K+1}``; inputs from before the episode start of
``t`` (the last ``is_first`` at or before t) are replaced by zeros, so no information crosses a reset. The carry is
a buffer of the last K-1 inputs, most recent first, with pre-episode entries already zeroed; ``step`` zeroes the
buffer where ``is_first`` is set before reading it. ``windows`` and ``window_step`` give identical windows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def windows(buffer: Array, xs: Array, is_first: Array) -> Array:
    """Every causal window of the sequence, reset-masked.

    Args:
      buffer: carry-in, [B, K-1, C]; ``buffer[:, j]`` is the input j+1 steps before ``xs[0]``.
      xs: [T, B, C]; is_first: bool [T, B].
    Returns:
      [T, B, K, C]: entry ``[t, :, i]`` is ``x_{t-i}``, or zero where that input precedes the episode start of t.
      ``result[t, :, :K-1]`` is the buffer after consuming ``xs[t]``.
    """
    length, batch = is_first.shape
    k = buffer.shape[1] + 1
    history = jnp.swapaxes(buffer[:, ::-1], 0, 1).astype(xs.dtype)  # [K-1, B, C], oldest first
    ext = jnp.concatenate([history, xs], axis=0)
    flags = jnp.concatenate([jnp.zeros((k - 1, batch), bool), is_first], axis=0)
    episode = jnp.cumsum(flags.astype(jnp.int32), axis=0)  # episode counter, [K-1+T, B]
    now = episode[k - 1 :]
    cols = []
    for lag in range(k):
        start = k - 1 - lag
        same = (episode[start : start + length] == now)[..., None]
        cols.append(jnp.where(same, ext[start : start + length], jnp.zeros((), xs.dtype)))
    return jnp.stack(cols, axis=2)


def window_step(buffer: Array, x: Array, is_first: Array) -> Array:
    """One step of ``windows``: buffer [B, K-1, C], x [B, C], is_first bool [B] -> window [B, K, C]
    (lag 0 first); ``window[:, :K-1]`` is the new buffer."""
    buffer = jnp.where(is_first[:, None, None], jnp.zeros((), x.dtype), buffer.astype(x.dtype))
    return jnp.concatenate([x[:, None], buffer], axis=1)


def depthwise(window: Array, weight: Array, bias: Array) -> Array:
    """Per-channel filter: ``sum_i weight[i] * window[..., i, :] + bias``; window [..., K, C], weight [K, C],
    bias [C] -> [..., C]."""
    return jnp.einsum("...kc,kc->...c", window, weight) + bias
