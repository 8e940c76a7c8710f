"""A toy environment for tests (acting, PPO, Dreamer, the run layer): a step counter with truncation and a
conditional termination."""

import jax.numpy as jnp
from flax import struct

from ssmrl.env import Box, Discrete, Environment

LIMIT = 3


@struct.dataclass
class _Params:
    limit: int = struct.field(pytree_node=False, default=LIMIT)


class Counter(Environment):
    """obs = [t / 10]; truncated when t reaches LIMIT; terminated when t reaches 2 and the action is 1."""

    @property
    def default_params(self):
        return _Params()

    def reset(self, key, params):
        return jnp.zeros((1,), jnp.float32), jnp.zeros((), jnp.int32)

    def step(self, key, state, action, params):
        t = state + 1
        terminated = (t == 2) & (action == 1)
        truncated = (t >= params.limit) & ~terminated
        return jnp.full((1,), t / 10.0, jnp.float32), t, action.astype(jnp.float32), terminated, truncated, {}

    def observation_space(self, params):
        return Box(low=0.0, high=1.0, shape=(1,))

    def action_space(self, params):
        return Discrete(2)
