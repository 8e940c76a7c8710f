"""POPGym NoisyPositionOnlyPendulum: position-only pendulum with Gaussian observation noise.

Easy / Medium / Hard: noise standard deviation 0.1 / 0.2 / 0.3; every difficulty keeps the reference's 200-step
episodes. Noisy observations are clipped to [-1, 1] like the reference's (a known bug of public JAX ports
leaves them unclipped).
"""

from __future__ import annotations

from envs.popgym.difficulty import pick_difficulty
from envs.popgym.pendulum import PendulumVariant


class NoisyPositionOnlyPendulum(PendulumVariant):
    """Observation: float32 [2] ``clip([cos, sin] + N(0, sigma^2), -1, 1)``; action: float32 [1] torque."""

    def __init__(self, difficulty: str = "easy"):
        sigma = pick_difficulty("NoisyPositionOnlyPendulum", difficulty, {"easy": 0.1, "medium": 0.2, "hard": 0.3})
        super().__init__(max_steps_in_episode=200, noise_sigma=sigma)
