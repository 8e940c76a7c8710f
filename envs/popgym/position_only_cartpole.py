"""POPGym PositionOnlyCartPole: cart-pole that shows the cart position and pole angle, not the velocities.

Easy / Medium / Hard: episodes of at most 200 / 400 / 600 steps (reward ``1 / length`` per step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.popgym.cartpole import CartPoleParams, CartPoleState, CartPoleVariant
from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Box


def position_space(params: CartPoleParams) -> Box:
    """The reference's Box for ``[x, theta]``: bounds at twice the termination thresholds."""
    high = np.array([params.x_threshold * 2, params.theta_threshold_radians * 2], dtype=np.float32)
    return Box(low=-high, high=high, shape=(2,))


class PositionOnlyCartPole(CartPoleVariant):
    """Observation: float32 [2] ``[x, theta]``; action: Discrete(2)."""

    def __init__(self, difficulty: str = "easy"):
        length = pick_difficulty("PositionOnlyCartPole", difficulty, {"easy": 200, "medium": 400, "hard": 600})
        super().__init__(max_steps_in_episode=length)

    def observe(self, state: CartPoleState, params: CartPoleParams) -> jax.Array:
        return jnp.stack([state.x, state.theta]).astype(jnp.float32)

    def observation_space(self, params: CartPoleParams) -> Box:
        return position_space(params)
