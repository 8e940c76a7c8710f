"""POPGym LabyrinthEscape: find the exit of a random maze.

The agent starts on an outer wall; the goal is on the opposite wall. Every step costs ``-1 / 1024``;
stepping onto the goal adds ``+1`` and ends the episode (``terminated``). Episodes are cut after 1023 steps
(``truncated``). Returns lie in [-1, 1]. Easy / Medium / Hard: 5x5 / 7x7 / 9x9-cell mazes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.popgym.labyrinth import GOAL, START, LabyrinthBase, LabyrinthParams, LabyrinthState


class LabyrinthEscape(LabyrinthBase):
    """Observation: int32 [10] (3x3 view and last action); action: Discrete(4)."""

    def __init__(self, difficulty: str = "easy"):
        super().__init__("LabyrinthEscape", difficulty)

    def _mark(self, grid: jax.Array, start: jax.Array, end: jax.Array) -> jax.Array:
        return grid.at[start[0], start[1]].set(START).at[end[0], end[1]].set(GOAL)

    def _outcome(self, old: LabyrinthState, new: LabyrinthState, params: LabyrinthParams):
        at_goal = new.grid[new.position[0], new.position[1]] == GOAL
        reward = jnp.where(at_goal, 1.0, 0.0) - 1.0 / params.max_steps_in_episode
        return reward, at_goal
