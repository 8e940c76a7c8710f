"""POPGym LabyrinthExplore: visit every free block of a random maze.

The agent starts on an outer wall (there is no exit: the end block stays a wall). Stepping onto a block not
visited before gives ``+1 / F`` (F: number of FREE blocks, the start excluded); any other step costs
``-1 / 1024``. Visiting every non-obstacle block ends the episode (``terminated``); episodes are cut after
1023 steps (``truncated``). Returns lie in [-1, 1]. Easy / Medium / Hard: 5x5 / 7x7 / 9x9-cell mazes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.popgym.labyrinth import FREE, OBSTACLE, START, LabyrinthBase, LabyrinthParams, LabyrinthState


class LabyrinthExplore(LabyrinthBase):
    """Observation: int32 [10] (3x3 view and last action); action: Discrete(4)."""

    def __init__(self, difficulty: str = "easy"):
        super().__init__("LabyrinthExplore", difficulty)

    def _mark(self, grid: jax.Array, start: jax.Array, end: jax.Array) -> jax.Array:
        return grid.at[start[0], start[1]].set(START)

    def _outcome(self, old: LabyrinthState, new: LabyrinthState, params: LabyrinthParams):
        y, x = new.position[0], new.position[1]
        new_block = ~old.explored[y, x]
        num_free = jnp.sum(new.grid == FREE)
        reward = jnp.where(new_block, 1.0 / num_free, -1.0 / params.max_steps_in_episode)
        terminated = jnp.all(new.explored == (new.grid != OBSTACLE))
        return reward, terminated
