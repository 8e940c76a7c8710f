"""POPGym PositionOnlyPendulum: pendulum that shows ``[cos(theta), sin(theta)]``, not the angular velocity.

Easy / Medium / Hard: episodes of 200 / 150 / 100 steps; returns in [-1, 1] at every length.
"""

from __future__ import annotations

from envs.popgym.difficulty import pick_difficulty
from envs.popgym.pendulum import PendulumVariant


class PositionOnlyPendulum(PendulumVariant):
    """Observation: float32 [2] in [-1, 1]; action: float32 [1] torque in [-2, 2]."""

    def __init__(self, difficulty: str = "easy"):
        length = pick_difficulty("PositionOnlyPendulum", difficulty, {"easy": 200, "medium": 150, "hard": 100})
        super().__init__(max_steps_in_episode=length)
