"""Policy and value heads on top of the core's output features.

* ``Discrete`` actions: ``distrax.Categorical`` over ``n`` logits.
* ``MultiDiscrete`` actions: independent categoricals (logits padded to ``max(nvec)`` with ``-inf``).
* ``Box`` actions: a diagonal Gaussian (no tanh) with a learned state-independent log-std. Samples are *not*
  squashed: the stored action and its log-prob are the raw Gaussian sample, and :func:`clip_to_space` clips it to
  the bounds only when it is handed to the environment.
"""

from __future__ import annotations

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


class PolicyHead(nn.Module):
    """features [*lead, H] -> a distrax distribution with batch shape ``lead``.

    spec: ``space_spec(action_space)``; log_std_init: initial log-std of the Gaussian (Box only).
    """

    spec: tuple
    log_std_init: float = -0.5

    @nn.compact
    def __call__(self, h: Array) -> distrax.Distribution:
        kind, shape, sizes = self.spec
        dense = lambda n: nn.Dense(n, kernel_init=nn.initializers.orthogonal(0.01), name="logits")
        if kind == "discrete":
            if shape:
                raise ValueError(f"Discrete actions with shape {shape} are not supported; use MultiDiscrete")
            return distrax.Categorical(logits=dense(sizes[0])(h).astype(jnp.float32))
        if kind == "multidiscrete":
            width = max(sizes)
            logits = dense(len(sizes) * width)(h).astype(jnp.float32).reshape(h.shape[:-1] + (len(sizes), width))
            valid = np.arange(width)[None, :] < np.asarray(sizes)[:, None]
            logits = jnp.where(valid, logits, -1e9)
            return distrax.Independent(distrax.Categorical(logits=logits), 1)
        dim = int(np.prod(shape))
        if len(shape) != 1:
            raise ValueError(f"Box actions must be 1-D, got shape {shape}")
        mean = nn.Dense(dim, kernel_init=nn.initializers.orthogonal(0.01), name="mean")(h).astype(jnp.float32)
        log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), (dim,), jnp.float32)
        return distrax.MultivariateNormalDiag(mean, jnp.broadcast_to(jnp.exp(log_std), mean.shape))


class ValueHead(nn.Module):
    """features [*lead, H] -> value float32 [*lead]."""

    @nn.compact
    def __call__(self, h: Array) -> Array:
        v = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), name="value")(h)
        return v[..., 0].astype(jnp.float32)


def clip_to_space(action: Array, space) -> Array:
    """Clip a raw Gaussian action [B, D] to the bounds of a ``Box`` space; other spaces pass through."""
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    if low is None or high is None:
        return action
    return jnp.clip(action, jnp.asarray(low, action.dtype), jnp.asarray(high, action.dtype))
