"""Observation encoders: one-hot for ``Discrete`` / ``MultiDiscrete`` observations, flatten for ``Box``, then a
``Dense`` layer to the model width.

Spaces carry numpy bounds, which a flax module attribute must not hold (modules are hashed), so a space is first
reduced to a hashable *spec* with :func:`space_spec`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.env import Box, Discrete, MultiDiscrete

Array = jax.Array


def space_spec(space) -> tuple:
    """A hashable description of a space.

    Returns ``("discrete", shape, (n,))``, ``("multidiscrete", (k,), nvec)`` or ``("box", shape, ())``;
    anything else raises ``ValueError`` naming the supported spaces.
    """
    if isinstance(space, Discrete):
        return ("discrete", tuple(space.shape), (int(space.n),))
    if isinstance(space, MultiDiscrete):
        return ("multidiscrete", tuple(space.shape), tuple(int(n) for n in space.nvec))
    if isinstance(space, Box):
        return ("box", tuple(space.shape), ())
    raise ValueError(f"unsupported space {space!r}; valid: Discrete, MultiDiscrete, Box")


def space_features(spec: tuple, x: Array, dtype: Any = jnp.float32) -> Array:
    """Observations or actions x [*lead, *shape] -> ``dtype`` [*lead, F]: one-hot for Discrete, concatenated
    one-hots for MultiDiscrete, flattened values for Box. ``spec`` comes from :func:`space_spec`."""
    kind, shape, sizes = spec
    lead = x.shape[: x.ndim - len(shape)]
    if kind == "discrete":
        out = jax.nn.one_hot(x, sizes[0], dtype=dtype)
    elif kind == "multidiscrete":
        out = jnp.concatenate([jax.nn.one_hot(x[..., i], n, dtype=dtype) for i, n in enumerate(sizes)], -1)
    else:
        out = x.astype(dtype)
    return out.reshape(lead + (-1,))


class ObsEncoder(nn.Module):
    """obs [*lead, *obs_shape] -> float [*lead, d_model]. ``spec`` comes from :func:`space_spec`."""

    spec: tuple
    d_model: int

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        x = space_features(self.spec, obs)
        return nn.Dense(self.d_model, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)), name="embed")(x)
