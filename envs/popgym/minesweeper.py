"""POPGym MineSweeper: click every clear tile of a hidden board; the observation is the clicked tile's count.

Board (rows x cols, mines): Easy 4x4 with 2, Medium 6x6 with 6, Hard 8x8 with 10. An episode lasts at most
``L = rows * cols - mines`` steps. Rewards, as in the reference:

* clicking a clear tile for the first time: ``+1 / L``;
* clicking an already viewed tile: ``-0.5 / (L - 2)``;
* clicking a mine: ``-0.5 - 1 / L`` and ``terminated``.

Viewing every clear tile ends the episode (``terminated``) with return 1; the worst episode (one view, L - 2
repeats, then a mine) returns -1. ``truncated`` after ``L`` steps unless terminated.

Observation: the number of mines in the 3x3 block centred on the clicked tile (the tile itself included, as in
the reference), an int32 scalar in Discrete(min(mines + 1, 10)); 0 after reset. Action: int32 [2] ``(row, col)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Discrete, Environment, MultiDiscrete

Array = jax.Array

CLEAR, MINE, VIEWED = 0, 1, 2  # tile codes of the hidden grid, as in the reference


@struct.dataclass
class MineSweeperState:
    """hidden: int32 [rows, cols] tile codes (CLEAR / MINE / VIEWED); counts: int32 [rows, cols]; time: int32 []."""

    hidden: Array
    counts: Array
    time: Array


@struct.dataclass
class MineSweeperParams:
    """Board shape and number of mines (static: they set array shapes)."""

    rows: int = struct.field(pytree_node=False, default=4)
    cols: int = struct.field(pytree_node=False, default=4)
    num_mines: int = struct.field(pytree_node=False, default=2)

    @property
    def max_steps_in_episode(self) -> int:
        return self.rows * self.cols - self.num_mines


def mine_counts(mines: Array) -> Array:
    """Mines in the 3x3 block around each tile, the tile included. mines: bool/int [R, C] -> int32 [R, C]."""
    rows, cols = mines.shape
    padded = jnp.pad(mines.astype(jnp.int32), 1)
    return sum(padded[i : i + rows, j : j + cols] for i in range(3) for j in range(3))


def state_from_mines(mines: Array) -> MineSweeperState:
    """A fresh board with mines at the ``True`` entries of ``mines`` bool [R, C]."""
    hidden = jnp.where(mines, MINE, CLEAR).astype(jnp.int32)
    return MineSweeperState(hidden=hidden, counts=mine_counts(mines), time=jnp.int32(0))


class MineSweeper(Environment):
    """Observation: int32 [] count; action: int32 [2] (row, col)."""

    def __init__(self, difficulty: str = "easy"):
        rows, cols, mines = pick_difficulty(
            "MineSweeper", difficulty, {"easy": (4, 4, 2), "medium": (6, 6, 6), "hard": (8, 8, 10)}
        )
        self._params = MineSweeperParams(rows=rows, cols=cols, num_mines=mines)

    @property
    def default_params(self) -> MineSweeperParams:
        return self._params

    def reset(self, key: Array, params: MineSweeperParams) -> tuple[Array, MineSweeperState]:
        """-> (obs int32 [] = 0, state) with ``num_mines`` mines placed uniformly without replacement."""
        size = params.rows * params.cols
        flat = jax.random.permutation(key, size)[: params.num_mines]
        mines = jnp.zeros((size,), bool).at[flat].set(True).reshape(params.rows, params.cols)
        return jnp.int32(0), state_from_mines(mines)

    def step(self, key: Array, state: MineSweeperState, action: Array, params: MineSweeperParams):
        """action int32 [2] -> (obs int32 [], state, reward float32 [], terminated, truncated, info)."""
        length = params.max_steps_in_episode
        row, col = action[0], action[1]
        tile = state.hidden[row, col]
        hit_mine, repeat = tile == MINE, tile == VIEWED
        reward = jnp.where(hit_mine, -0.5 - 1.0 / length, jnp.where(repeat, -0.5 / (length - 2), 1.0 / length))
        hidden = state.hidden.at[row, col].set(jnp.where(tile == CLEAR, VIEWED, tile))
        time = state.time + 1
        terminated = hit_mine | jnp.all(hidden != CLEAR)
        truncated = (time == length) & ~terminated
        obs = state.counts[row, col]
        state = state.replace(hidden=hidden, time=time)
        return obs.astype(jnp.int32), state, reward.astype(jnp.float32), terminated, truncated, {}

    def observation_space(self, params: MineSweeperParams) -> Discrete:
        return Discrete(min(params.num_mines + 1, 10))

    def action_space(self, params: MineSweeperParams) -> MultiDiscrete:
        return MultiDiscrete((params.rows, params.cols))
