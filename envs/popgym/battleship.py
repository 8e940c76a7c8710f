"""POPGym Battleship: find the ships on a hidden board from hit / miss feedback alone.

Reference: ``popgym.envs.battleship``. Ships of sizes ``(2, 3, 3, 4)`` lie on a ``B x B`` board without
overlap, each uniformly over its valid placements (the reference's rejection sampling over start, axis and
sign is uniform over segments; we sample the valid segments directly). Observation: 1 if the shot hit a
ship cell not shot before, else 0 (Discrete(2); 0 at reset). Action: a cell ``[row, col]``
(MultiDiscrete([B, B])). A hit pays ``+1/H`` (``H = 12`` ship cells), anything else ``-1/(B^2 - H)``;
*terminated* when all ship cells are hit, *truncated* after ``B^2`` steps (both may fire together, as in the
reference). Return in ``[-B^2/(B^2 - H), 1]``; shooting every cell once returns 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Discrete, Environment, MultiDiscrete

Array = jax.Array


@struct.dataclass
class BattleshipParams:
    board_size: int = struct.field(pytree_node=False, default=8)
    ship_sizes: tuple = struct.field(pytree_node=False, default=(2, 3, 3, 4))


@struct.dataclass
class BattleshipState:
    """board: bool [B, B] ship cells; guesses: bool [B, B] cells shot; hits: int32 []; t: int32 [] steps."""

    board: Array
    guesses: Array
    hits: Array
    t: Array


def place_ship(key: Array, board: Array, size: int) -> Array:
    """Add one ship of ``size`` cells to ``board`` (bool [B, B]), uniformly over the valid segments."""
    b = board.shape[0]
    padded = jnp.pad(board, ((0, size), (0, size)), constant_values=True)  # out of bounds = occupied
    down = sum(padded[i : i + b, :b] for i in range(size))  # cells covered going down from (r, c)
    right = sum(padded[:b, i : i + b] for i in range(size))  # cells covered going right from (r, c)
    free = jnp.stack([down == 0, right == 0])  # [2, B, B]
    choice = jax.random.categorical(key, jnp.where(free, 0.0, -jnp.inf).reshape(-1))
    axis, r, c = choice // (b * b), (choice // b) % b, choice % b
    rows, cols = jnp.arange(b)[:, None], jnp.arange(b)[None, :]
    vertical = (cols == c) & (rows >= r) & (rows < r + size)
    horizontal = (rows == r) & (cols >= c) & (cols < c + size)
    return board | jnp.where(axis == 0, vertical, horizontal)


class Battleship(Environment):
    """Battleship{Easy, Medium, Hard}: board 8, 10, 12."""

    def __init__(self, difficulty: str = "easy"):
        self.board_size = pick_difficulty("Battleship", difficulty, {"easy": 8, "medium": 10, "hard": 12})

    @property
    def default_params(self) -> BattleshipParams:
        return BattleshipParams(board_size=self.board_size)

    def reset(self, key: Array, params: BattleshipParams):
        b = params.board_size
        board = jnp.zeros((b, b), bool)
        for ship_key, size in zip(jax.random.split(key, len(params.ship_sizes)), params.ship_sizes, strict=True):
            board = place_ship(ship_key, board, size)
        state = BattleshipState(board, jnp.zeros((b, b), bool), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
        return jnp.zeros((), jnp.int32), state

    def step(self, key: Array, state: BattleshipState, action: Array, params: BattleshipParams):
        cells = params.board_size**2
        needed = sum(params.ship_sizes)
        row, col = action[0], action[1]
        hit = state.board[row, col] & ~state.guesses[row, col]
        hits = state.hits + hit.astype(jnp.int32)
        t = state.t + 1
        reward = jnp.where(hit, 1.0 / needed, -1.0 / (cells - needed)).astype(jnp.float32)
        state = state.replace(guesses=state.guesses.at[row, col].set(True), hits=hits, t=t)
        return hit.astype(jnp.int32), state, reward, hits == needed, t >= cells, {}

    def observation_space(self, params: BattleshipParams) -> Discrete:
        return Discrete(2)

    def action_space(self, params: BattleshipParams) -> MultiDiscrete:
        return MultiDiscrete((params.board_size, params.board_size))
