"""CueReward: reward prediction with distractors (an early cue decides which later event pays).

World, one row of three parts joined by doorways on the middle row (row 3 of a 7-row grid):

* the cue room (``room_size x room_size``), whose whole floor has the episode's cue colour: one of the first
  ``num_cues`` palette colours (red, green, blue, yellow), uniformly drawn;
* a corridor 3 cells high and ``corridor_length(params)`` long (dark grey floor) where each cell holds, with
  probability ``distractor_prob``, a distractor pad of a random cue colour: stepping on one is an event that
  never pays;
* the goal room (grey checker floor) with ``num_cues`` goal pads, one of each colour, on random cells.

Reward: +1 on every step that ARRIVES on the goal pad of the cue's colour (the agent moved onto it), else 0.
The pads look the same in every room; only the cue, seen at the start of the episode, tells which goal pad
pays. Nothing terminates; truncated at ``length`` observations.

Scripted episode (:meth:`CueReward.scripted_action`): from a random cell of the cue room straight along the
middle row through the corridor (over the distractors on it) into the goal room, then to every goal pad in a
random order, then NOOP. The cue leaves the view once the agent is more than 3 cells past the cue room
(``cue_last_seen``), long before the rewarded arrival (``reward_step``).

Levels: length Easy 128, Medium 256, Hard 512, with corridors of 82, 210 and 466 cells (the corridor takes what
the rest of the walk leaves: ``length - 46`` for 5 x 5 rooms and 4 cues).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.wm_memory.grid import (
    COLOURS,
    DECOR_CLASS,
    DOORWAY,
    DOWN,
    FIRST_TASK_TILE,
    FLOOR_CLASS,
    LEFT,
    NOOP,
    NUM_COLOURS,
    PLATE,
    RIGHT,
    SOLID,
    TASK_CLASS,
    TASK_LOOKS,
    UP,
    VIEW_CELLS,
    VOID,
    WALL,
    GridTask,
    WalkerState,
    base_classes,
    base_tiles,
    blocking_table,
    observe,
    paint,
    record_step,
    toward,
    try_move,
    uniform_int,
    uniform_parts,
    walker_fields,
)

Array = jax.Array
CORRIDOR, GOAL_FLOOR, FIRST_CUE_FLOOR = FIRST_TASK_TILE, FIRST_TASK_TILE + 1, FIRST_TASK_TILE + 2


@struct.dataclass
class CueRewardParams:
    """num_cues: cue colours (<= 8); room_size: floor cells per side of the cue and goal rooms; length:
    observations per episode (the step to observation ``length - 1`` is truncated; sets the corridor length);
    distractor_prob: chance that a corridor cell holds a distractor pad; spare_steps: steps the scripted walk
    keeps in hand beyond its worst case when the corridor length is set; obs_mode: "pixels" or "tiles" (the
    observation, :mod:`envs.wm_memory.grid`)."""

    num_cues: int = struct.field(pytree_node=False, default=4)
    room_size: int = struct.field(pytree_node=False, default=5)
    length: int = struct.field(pytree_node=False, default=128)
    distractor_prob: float = struct.field(pytree_node=False, default=0.2)
    spare_steps: int = struct.field(pytree_node=False, default=4)
    obs_mode: str = struct.field(pytree_node=False, default="pixels")


@struct.dataclass
class CueRewardState(WalkerState):
    """The walker state plus cue: int32 [] the cue colour; pads: int32 [num_cues, 2] goal pad cells (pad ``i``
    has colour ``i``); cue_last_seen: int32 [] the latest observation index whose view showed cue-room floor;
    reward_step: int32 [] the first observation index that came with a reward (-1: none yet)."""

    cue: Array
    pads: Array
    cue_last_seen: Array
    reward_step: Array


@dataclasses.dataclass(frozen=True)
class CueLayout:
    """Static geometry: the grid (with cue floor 0) and where its parts lie (columns, middle row)."""

    grid: np.ndarray  # int32 [H, W]
    middle: int  # the middle row
    cue_floor: np.ndarray  # bool [H, W]
    corridor: np.ndarray  # bool [H, W] corridor floor
    goal_entry: tuple[int, int]  # first goal-room cell on the middle row
    pad_cells: np.ndarray  # int32 [P, 2] goal-room cells that may hold a pad (all but the entry)


def corridor_length(params: CueRewardParams) -> int:
    """Corridor cells: ``length - 1`` less the scripted walk's worst case outside it and ``spare_steps``."""
    size, mid = params.room_size, params.room_size // 2
    to_goal = mid + (size - 1) + 3  # to the middle row, along the cue room, both doorways and the goal entry
    # (plus the corridor itself)
    pads = params.num_cues * (2 * mid + size - 1)  # each pad: to the middle row, along it, to the pad's row
    return params.length - 1 - to_goal - pads - params.spare_steps


def cue_layout(params: CueRewardParams) -> CueLayout:
    """The static geometry of ``params`` (ValueError if the corridor would be shorter than 4 cells)."""
    size, corridor = params.room_size, corridor_length(params)
    if corridor < 4 or not 1 <= params.num_cues <= len(COLOURS):
        raise ValueError(f"CueReward: length={params.length} leaves a corridor of {corridor} cells (need >= 4) "
                         f"or num_cues={params.num_cues} is outside 1-{len(COLOURS)}")
    height, middle = size + 2, 1 + size // 2
    goal_x0 = size + 3 + corridor
    width = goal_x0 + size + 1
    grid = np.full((height, width), VOID, np.int32)
    grid[:, : size + 2] = WALL
    grid[1:-1, 1: size + 1] = FIRST_CUE_FLOOR
    grid[middle - 2: middle + 3, size + 2: goal_x0 - 1] = WALL
    grid[middle - 1: middle + 2, size + 2: goal_x0 - 1] = CORRIDOR
    grid[:, goal_x0 - 1:] = WALL
    grid[1:-1, goal_x0: goal_x0 + size] = GOAL_FLOOR
    grid[middle, size + 1] = DOORWAY
    grid[middle, goal_x0 - 1] = DOORWAY
    ys, xs = np.nonzero(grid == GOAL_FLOOR)
    keep = ~((ys == middle) & (xs == goal_x0))
    return CueLayout(grid=grid, middle=middle, cue_floor=grid == FIRST_CUE_FLOOR, corridor=grid == CORRIDOR,
                     goal_entry=(middle, goal_x0), pad_cells=np.stack([ys[keep], xs[keep]], -1).astype(np.int32))


def spine_action(pos: Array, target: Array, middle: int) -> Array:
    """Next move toward ``target`` in a one-row layout joined along row ``middle``: to another column by the
    middle row (first vertically onto it, then along it), then vertically. -> int32 []."""
    vertical = lambda y: toward(pos[0], y, UP, DOWN)
    along = jnp.where(pos[0] != middle, vertical(middle), toward(pos[1], target[1], LEFT, RIGHT))
    return jnp.where(pos[1] != target[1], along, vertical(target[0]))


class CueReward(GridTask):
    """CueReward{Easy, Medium, Hard}: 128, 256, 512 steps (corridors of 82, 210, 466 cells)."""

    def __init__(self, difficulty: str = "easy"):
        super().__init__(difficulty, {
            "easy": CueRewardParams(length=128),
            "medium": CueRewardParams(length=256),
            "hard": CueRewardParams(length=512),
        })

    @staticmethod
    def num_tiles(params: CueRewardParams) -> int:
        return FIRST_CUE_FLOOR + 2 * params.num_cues

    def reset(self, key: Array, params: CueRewardParams) -> tuple[Array, CueRewardState]:
        """-> (obs, state): a fresh cue, pads, distractors and order of the pads."""
        lay = cue_layout(params)
        n, first_pad = params.num_cues, FIRST_CUE_FLOOR + params.num_cues
        u_cue, u_pads, u_order, u_dist, u_start = uniform_parts(
            key, (), (len(lay.pad_cells),), (n,), (2, *lay.grid.shape), (2,))
        colours = jnp.asarray(COLOURS[:n])
        tiles = jnp.concatenate([
            base_tiles(),
            jnp.stack([paint(*TASK_LOOKS["corridor"]), paint(*TASK_LOOKS["goal_floor"])]),
            jax.vmap(paint, (0, None, None))(colours, SOLID, [0, 0, 0]),  # cue-room floors
            jax.vmap(paint, (0, None, None))(colours, PLATE, [0, 0, 0]),  # pads
        ])
        # their classes (grid.py): a cue floor looks like the solid room floor of its colour, a pad like the
        # "plus" decoration of its colour
        classes = jnp.concatenate([
            base_classes(), jnp.asarray([TASK_CLASS["corridor"], TASK_CLASS["goal_floor"]], jnp.int32),
            FLOOR_CLASS + jnp.arange(n, dtype=jnp.int32), DECOR_CLASS + NUM_COLOURS + jnp.arange(n, dtype=jnp.int32),
        ])
        cue = uniform_int(u_cue, n)
        pads = jnp.asarray(lay.pad_cells)[jnp.argsort(u_pads)[:n]]
        grid = jnp.where(jnp.asarray(lay.cue_floor), FIRST_CUE_FLOOR + cue, jnp.asarray(lay.grid))
        distractor = (u_dist[0] < params.distractor_prob) & jnp.asarray(lay.corridor)
        grid = jnp.where(distractor, first_pad + uniform_int(u_dist[1], n), grid)
        grid = grid.at[pads[:, 0], pads[:, 1]].set(first_pad + jnp.arange(n))
        plan = jnp.concatenate([jnp.asarray([lay.goal_entry], jnp.int32), pads[jnp.argsort(u_order)]])
        start = (1 + uniform_int(u_start, params.room_size)).astype(jnp.int32)
        state = CueRewardState(**walker_fields(grid, tiles, classes, start, plan, params.length), cue=cue, pads=pads,
                               cue_last_seen=jnp.int32(0), reward_step=jnp.int32(-1))
        return observe(state, params.obs_mode), state

    def step(self, key: Array, state: CueRewardState, action: Array, params: CueRewardParams):
        """action int32 [] in 0-4 -> (obs, state, reward float32 [] (1 on arriving at the cue's
        goal pad), terminated False, truncated, {})."""
        blocking = blocking_table(self.num_tiles(params), (VOID, WALL))
        new_pos = try_move(state.grid, blocking, state.pos, action)
        arrived = jnp.any(new_pos != state.pos) & jnp.all(new_pos == state.pads[state.cue])
        after = record_step(state, action, new_pos)
        sees_cue = new_pos[1] - VIEW_CELLS // 2 <= params.room_size  # a cue-room column is in view
        after = after.replace(
            cue_last_seen=jnp.where(sees_cue, after.time, state.cue_last_seen),
            reward_step=jnp.where(arrived & (state.reward_step < 0), after.time, state.reward_step),
        )
        truncated = after.time >= params.length - 1
        return observe(after, params.obs_mode), after, arrived.astype(jnp.float32), jnp.bool_(False), truncated, {}

    def scripted_action(self, key: Array, state: CueRewardState, params: CueRewardParams) -> Array:
        """Along the middle row into the goal room, then to each pad in the drawn order, then NOOP. -> int32 []."""
        num = state.waypoints.shape[0]
        target = state.waypoints[jnp.minimum(state.waypoint, num - 1)]
        move = spine_action(state.pos, target, cue_layout(params).middle)
        return jnp.where(state.waypoint < num, move, NOOP).astype(jnp.int32)

    def markers(self, state: CueRewardState) -> dict[str, Array]:
        """cue: the cue colour; cue_last_seen: last observation index showing the cue room; reward_step: first
        rewarded observation index (-1: none)."""
        return {"cue": state.cue, "cue_last_seen": state.cue_last_seen, "reward_step": state.reward_step}
