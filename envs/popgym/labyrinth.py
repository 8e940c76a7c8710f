"""The maze-walking environment shared by LabyrinthEscape and LabyrinthExplore.

Owns the state (grid, position, explored blocks, time), reset (a maze from :mod:`envs.popgym.maze`, the agent on
the start block), movement and the observation, all as in the reference's ``popgym.core.maze.MazeEnv``:

* grid codes: FREE 0, OBSTACLE 1, START 2, GOAL 3 (HIDDEN 4 exists only in the space); sizes Easy / Medium /
  Hard = 10 / 14 / 18 blocks per side in the reference's terms, i.e. 5 / 7 / 9 cells, 11 / 15 / 19 grid rows;
* actions LEFT 0, RIGHT 1, UP 2, DOWN 3 (Discrete(4)); a move into an obstacle or off the grid stays put;
* observation int32 [10]: the 3x3 blocks around the agent (row-major) and the last action (NONE = 4 at reset),
  MultiDiscrete([5] * 10). Like the reference, the window starts at ``max(y - 1, 0)`` / ``max(x - 1, 0)`` and
  pads with obstacles at its far end, so on the top row or left column the view is shifted by one block;
* episodes end by time after ``max_steps_in_episode - 1`` steps (``curr_step == max_episode_length - 1``).

Subclasses decide the marks on the grid, the reward and termination.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.popgym.difficulty import pick_difficulty
from envs.popgym.maze import generate_entrances, generate_maze
from ssmrl.env import Discrete, Environment, MultiDiscrete

Array = jax.Array

FREE, OBSTACLE, START, GOAL, HIDDEN = 0, 1, 2, 3, 4  # grid codes, as the reference's Cell
NUM_CELL_CODES, NO_ACTION = 5, 4


@struct.dataclass
class LabyrinthState:
    """grid: int32 [H, W] codes; position: int32 [2] (y, x); explored: bool [H, W]; time: int32 []."""

    grid: Array
    position: Array
    explored: Array
    time: Array


@struct.dataclass
class LabyrinthParams:
    """Maze size in cells (static: it sets shapes) and the episode length."""

    rows: int = struct.field(pytree_node=False, default=5)
    cols: int = struct.field(pytree_node=False, default=5)
    max_steps_in_episode: int = 1024


def local_view(grid: Array, position: Array) -> Array:
    """The reference's 3x3 window. grid int32 [H, W], position int32 [2] -> int32 [3, 3]."""
    height, width = grid.shape
    y, x = position[0], position[1]
    ys = jnp.maximum(y - 1, 0) + jnp.arange(3)
    xs = jnp.maximum(x - 1, 0) + jnp.arange(3)
    valid = (ys <= jnp.minimum(y + 1, height - 1))[:, None] & (xs <= jnp.minimum(x + 1, width - 1))[None, :]
    blocks = grid[jnp.clip(ys, 0, height - 1)[:, None], jnp.clip(xs, 0, width - 1)[None, :]]
    return jnp.where(valid, blocks, OBSTACLE)


def move(grid: Array, position: Array, action: Array) -> Array:
    """Position after ``action`` (LEFT, RIGHT, UP, DOWN), clamped to the grid; obstacles block. -> int32 [2]."""
    dy = jnp.array([0, 0, -1, 1])[action]
    dx = jnp.array([-1, 1, 0, 0])[action]
    height, width = grid.shape
    target = jnp.stack([jnp.clip(position[0] + dy, 0, height - 1), jnp.clip(position[1] + dx, 0, width - 1)])
    return jnp.where(grid[target[0], target[1]] == OBSTACLE, position, target).astype(jnp.int32)


def observe(state: LabyrinthState, action: Array) -> Array:
    """int32 [10]: the local view (row-major) and the last action."""
    return jnp.concatenate([local_view(state.grid, state.position).reshape(9), jnp.reshape(action, (1,))]).astype(
        jnp.int32
    )


class LabyrinthBase(Environment):
    """A hunt-and-kill maze walked one block per step. Subclasses implement ``_mark`` and ``_outcome``."""

    def __init__(self, family: str, difficulty: str):
        cells = pick_difficulty(family, difficulty, {"easy": 5, "medium": 7, "hard": 9})
        self._params = LabyrinthParams(rows=cells, cols=cells, max_steps_in_episode=1024)

    @property
    def default_params(self) -> LabyrinthParams:
        return self._params

    def _mark(self, grid: Array, start: Array, end: Array) -> Array:
        """The grid with the family's marks on the start / end blocks."""
        raise NotImplementedError

    def _outcome(self, old: LabyrinthState, new: LabyrinthState, params: LabyrinthParams) -> tuple[Array, Array]:
        """-> (reward float32 [], terminated bool []) of the move from ``old`` to ``new``."""
        raise NotImplementedError

    def reset(self, key: Array, params: LabyrinthParams) -> tuple[Array, LabyrinthState]:
        """-> (obs int32 [10], state) with a fresh maze and the agent on the start block."""
        key_maze, key_doors = jax.random.split(key)
        grid = generate_maze(key_maze, params.rows, params.cols)
        start, end = generate_entrances(key_doors, params.rows, params.cols)
        grid = self._mark(grid, start, end)
        explored = jnp.zeros(grid.shape, bool).at[start[0], start[1]].set(True)
        state = LabyrinthState(grid=grid, position=start, explored=explored, time=jnp.int32(0))
        return observe(state, jnp.int32(NO_ACTION)), state

    def step(self, key: Array, state: LabyrinthState, action: Array, params: LabyrinthParams):
        """action int32 [] -> (obs int32 [10], state, reward float32 [], terminated, truncated, info)."""
        position = move(state.grid, state.position, action)
        new = state.replace(
            position=position,
            explored=state.explored.at[position[0], position[1]].set(True),
            time=state.time + 1,
        )
        reward, terminated = self._outcome(state, new, params)
        truncated = (new.time == params.max_steps_in_episode - 1) & ~terminated
        return observe(new, action), new, reward.astype(jnp.float32), terminated, truncated, {}

    def observation_space(self, params: LabyrinthParams) -> MultiDiscrete:
        return MultiDiscrete((NUM_CELL_CODES,) * 9 + (NO_ACTION + 1,))

    def action_space(self, params: LabyrinthParams) -> Discrete:
        return Discrete(4)
