"""The environment protocol (gymnax-shaped, with terminated / truncated) and its spaces.

An environment is a pure, jittable object with:

* ``default_params`` -> a params dataclass (static configuration plus task parameters)
* ``reset(key, params) -> (obs, state)``
* ``step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)``
  for one unbatched environment. ``reward`` is float32 [], the flags bool []. ``info`` is a dict of arrays.
* ``observation_space(params)``, ``action_space(params)`` -> :class:`Discrete` or :class:`Box`.

Raw environments do *not* auto-reset; :func:`AutoReset` (in ``ssmrl.env_wrappers``) adds that and stores
``info["final_obs"]``. Vectorisation is ``jax.vmap`` over keys, states and actions.
``ssmrl`` never imports ``envs``: suites implement this protocol, scripts join the two.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

Array = jax.Array


@struct.dataclass
class Discrete:
    """Integer actions or observations in ``{0, ..., n - 1}``."""

    n: int = struct.field(pytree_node=False)
    shape: tuple = struct.field(pytree_node=False, default=())
    dtype: Any = struct.field(pytree_node=False, default=jnp.int32)

    def sample(self, key: Array) -> Array:
        return jax.random.randint(key, self.shape, 0, self.n, dtype=self.dtype)

    def contains(self, x: Array) -> Array:
        x = jnp.asarray(x)
        return jnp.all((x >= 0) & (x < self.n))


@struct.dataclass
class MultiDiscrete:
    """A vector of independent discrete variables, entry ``i`` in ``{0, ..., nvec[i] - 1}``."""

    nvec: tuple = struct.field(pytree_node=False)
    dtype: Any = struct.field(pytree_node=False, default=jnp.int32)

    @property
    def shape(self) -> tuple:
        return (len(self.nvec),)

    def sample(self, key: Array) -> Array:
        high = jnp.asarray(self.nvec, dtype=self.dtype)
        return jax.random.randint(key, self.shape, 0, high, dtype=self.dtype)

    def contains(self, x: Array) -> Array:
        x = jnp.asarray(x)
        return jnp.all((x >= 0) & (x < jnp.asarray(self.nvec)))


@struct.dataclass
class Box:
    """Real-valued arrays of a fixed ``shape`` with element-wise bounds ``low`` and ``high``."""

    low: Any = struct.field(pytree_node=False)
    high: Any = struct.field(pytree_node=False)
    shape: tuple = struct.field(pytree_node=False)
    dtype: Any = struct.field(pytree_node=False, default=jnp.float32)

    def sample(self, key: Array) -> Array:
        if jnp.issubdtype(self.dtype, jnp.integer):  # e.g. uint8 images: uniform over [low, high]
            return jax.random.randint(key, self.shape, self.low, jnp.asarray(self.high, jnp.int32) + 1,
                                      jnp.int32).astype(self.dtype)
        low = jnp.broadcast_to(jnp.asarray(self.low, dtype=self.dtype), self.shape)
        high = jnp.broadcast_to(jnp.asarray(self.high, dtype=self.dtype), self.shape)
        # Unbounded dimensions sample from a standard normal.
        finite = jnp.isfinite(low) & jnp.isfinite(high)
        u = jax.random.uniform(key, self.shape, dtype=self.dtype)
        n = jax.random.normal(key, self.shape, dtype=self.dtype)
        return jnp.where(finite, low + u * (jnp.where(finite, high, 1.0) - jnp.where(finite, low, 0.0)), n)

    def contains(self, x: Array) -> Array:
        x = jnp.asarray(x)
        return jnp.all((x >= np.asarray(self.low)) & (x <= np.asarray(self.high)))


Space = Discrete | MultiDiscrete | Box


class Environment:
    """Base of every environment of the protocol. Subclasses implement the five methods below.

    Keep subclasses free of mutable Python state: everything that changes lives in the ``state`` pytree,
    everything configurable in the params dataclass.
    """

    @property
    def default_params(self) -> Any:
        raise NotImplementedError

    def reset(self, key: Array, params: Any) -> tuple[Array, Any]:
        raise NotImplementedError

    def step(self, key: Array, state: Any, action: Array, params: Any):
        """-> (obs, state, reward float32 [], terminated bool [], truncated bool [], info dict)."""
        raise NotImplementedError

    def observation_space(self, params: Any) -> Space:
        raise NotImplementedError

    def action_space(self, params: Any) -> Space:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__
