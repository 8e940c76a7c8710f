"""POPGym VelocityOnlyCartPole: cart-pole that shows the cart and pole velocities, not the positions.

Easy / Medium / Hard: episodes of at most 200 / 400 / 600 steps (reward ``1 / length`` per step).

Difference from the reference: its ``reset`` returns ``[x, theta]`` (a slip: ``step`` returns
``[x_dot, theta_dot]``); here both show the velocities. All four initial components are drawn from the same
uniform(-0.05, 0.05), so the first observation has the same distribution either way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.popgym.cartpole import CartPoleParams, CartPoleState, CartPoleVariant
from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Box


class VelocityOnlyCartPole(CartPoleVariant):
    """Observation: float32 [2] ``[x_dot, theta_dot]`` (unbounded); action: Discrete(2)."""

    def __init__(self, difficulty: str = "easy"):
        length = pick_difficulty("VelocityOnlyCartPole", difficulty, {"easy": 200, "medium": 400, "hard": 600})
        super().__init__(max_steps_in_episode=length)

    def observe(self, state: CartPoleState, params: CartPoleParams) -> jax.Array:
        return jnp.stack([state.x_dot, state.theta_dot]).astype(jnp.float32)

    def observation_space(self, params: CartPoleParams) -> Box:
        high = np.full((2,), np.inf, dtype=np.float32)
        return Box(low=-high, high=high, shape=(2,))
