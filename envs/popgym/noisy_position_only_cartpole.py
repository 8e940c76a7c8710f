"""POPGym NoisyPositionOnlyCartPole: position-only cart-pole with Gaussian observation noise.

Easy / Medium / Hard: noise standard deviation 0.1 / 0.2 / 0.3. Every difficulty keeps the reference's
200-step episodes (its noisy subclasses do not pass an episode length). Noisy observations are clipped to the
observation space, as in the reference.
"""

from __future__ import annotations

from envs.popgym.cartpole import CartPoleVariant
from envs.popgym.difficulty import pick_difficulty
from envs.popgym.position_only_cartpole import PositionOnlyCartPole


class NoisyPositionOnlyCartPole(PositionOnlyCartPole):
    """Observation: float32 [2] ``clip([x, theta] + N(0, sigma^2))``; action: Discrete(2)."""

    def __init__(self, difficulty: str = "easy"):
        sigma = pick_difficulty("NoisyPositionOnlyCartPole", difficulty, {"easy": 0.1, "medium": 0.2, "hard": 0.3})
        CartPoleVariant.__init__(self, max_steps_in_episode=200, noise_sigma=sigma)
