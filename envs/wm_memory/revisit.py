"""Revisit: long-term imagination (S4WM's Two Rooms / Four Rooms / Ten Rooms kind of task).

World: ``rooms`` square rooms in a row (:class:`envs.wm_memory.grid.RoomGrid` of one row), joined by doorways in
the middle of their shared walls. Each episode draws every room's floor from distinct (colour, pattern) pairs
and scatters random decorations on the floors (each floor cell with probability ``decor_prob``), so what a
place looks like must be remembered, not learnt. The agent starts on a random cell of room 0. No reward; the
episode is truncated at ``length`` observations.

Scripted episode (:meth:`Revisit.scripted_action`), with ``revisit_step = length // 2``:

* exploration, observations ``0 .. revisit_step``: the agent walks through ``waypoints_per_room`` random cells of
  every room in order (room 0, 1, ...), then wanders at random inside the last room;
* return, from ``revisit_step`` on: it retraces its own path backwards, undoing its moves one by one, so that
  position (and, the world being static, observation) ``revisit_step + k`` equals position ``revisit_step - k``.
  The place shown at step ``revisit_step + k`` was last seen ``2 k`` steps before; the episode ends back near
  the start, in front of the views of its first steps, ``length - 2`` steps earlier.

Levels (rooms, length): Easy (2, 128), Medium (4, 256), Hard (8, 512); rooms are 5 x 5 floor cells.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.wm_memory.grid import (
    FIRST_TASK_TILE,
    INVERSE,
    NUM_DECOR,
    NUM_FLOORS,
    VOID,
    WALL,
    GridTask,
    RoomGrid,
    WalkerState,
    base_classes,
    base_tiles,
    blocking_table,
    decor_classes,
    decor_tiles,
    decorate,
    floor_classes,
    floor_tiles,
    observe,
    record_step,
    route_action,
    try_move,
    uniform_parts,
    walker_fields,
    wander_action,
)

Array = jax.Array


@struct.dataclass
class RevisitParams:
    """rooms: rooms in the row; room_size: floor cells per side; length: observations per episode (the step to
    observation ``length - 1`` is truncated); waypoints_per_room: random cells the exploration visits in each
    room; decor_prob: chance that a floor cell holds a decoration; obs_mode: "pixels" or "tiles" (the
    observation, :mod:`envs.wm_memory.grid`)."""

    rooms: int = struct.field(pytree_node=False, default=2)
    room_size: int = struct.field(pytree_node=False, default=5)
    length: int = struct.field(pytree_node=False, default=128)
    waypoints_per_room: int = struct.field(pytree_node=False, default=3)
    decor_prob: float = struct.field(pytree_node=False, default=0.15)
    obs_mode: str = struct.field(pytree_node=False, default="pixels")


@struct.dataclass
class RevisitState(WalkerState):
    """The walker state plus revisit_step: int32 [], the observation index where the return begins."""

    revisit_step: Array


def _layout(params: RevisitParams) -> RoomGrid:
    layout = RoomGrid(1, params.rooms, params.room_size)
    explore = params.length // 2
    if params.rooms < 1 or layout.route_bound(params.rooms, params.waypoints_per_room) > explore:
        raise ValueError(
            f"Revisit: {params.rooms} rooms x {params.waypoints_per_room} waypoints may need "
            f"{layout.route_bound(params.rooms, params.waypoints_per_room)} steps, more than the exploration's "
            f"{explore} (length // 2): raise length or lower rooms / waypoints_per_room"
        )
    return layout


class Revisit(GridTask):
    """Revisit{Easy, Medium, Hard}: 2 rooms / 128 steps, 4 / 256, 8 / 512."""

    def __init__(self, difficulty: str = "easy"):
        super().__init__(difficulty, {
            "easy": RevisitParams(rooms=2, length=128),
            "medium": RevisitParams(rooms=4, length=256),
            "hard": RevisitParams(rooms=8, length=512),
        })

    @staticmethod
    def num_tiles(params: RevisitParams) -> int:
        return FIRST_TASK_TILE + params.rooms + NUM_DECOR

    def reset(self, key: Array, params: RevisitParams) -> tuple[Array, RevisitState]:
        """-> (obs, state): fresh room appearances and plan, the agent in room 0."""
        layout = _layout(params)
        num_plan = params.rooms * params.waypoints_per_room
        u_floor, u_decor, u_start, u_plan = uniform_parts(key, (NUM_FLOORS,), (2, *layout.shape), (1, 2),
                                                          (num_plan, 2))
        tiles = jnp.concatenate([base_tiles(), floor_tiles(u_floor, params.rooms), decor_tiles()])
        classes = jnp.concatenate([base_classes(), floor_classes(u_floor, params.rooms), decor_classes()])
        grid = decorate(u_decor, jnp.asarray(layout.base_grid(FIRST_TASK_TILE)), layout.room_index() >= 0,
                        params.decor_prob, FIRST_TASK_TILE + params.rooms)
        plan = layout.random_cells(u_plan, np.repeat(np.arange(params.rooms), params.waypoints_per_room))
        start = layout.random_cells(u_start, np.zeros(1, np.int32))[0]
        state = RevisitState(**walker_fields(grid, tiles, classes, start, plan, params.length),
                             revisit_step=jnp.int32(params.length // 2))
        return observe(state, params.obs_mode), state

    def step(self, key: Array, state: RevisitState, action: Array, params: RevisitParams):
        """action int32 [] in 0-4 -> (obs, state, reward 0, terminated False, truncated, {})."""
        blocking = blocking_table(self.num_tiles(params), (VOID, WALL))
        state = record_step(state, action, try_move(state.grid, blocking, state.pos, action))
        truncated = state.time >= params.length - 1
        return observe(state, params.obs_mode), state, jnp.float32(0.0), jnp.bool_(False), truncated, {}

    def scripted_action(self, key: Array, state: RevisitState, params: RevisitParams) -> Array:
        """Explore (waypoints, then random moves in the last room) until revisit_step, then undo the moves in
        reverse order: at time t >= revisit_step the inverse of the action taken at ``2 revisit_step - 1 - t``.
        -> action int32 []."""
        layout = _layout(params)
        num = state.waypoints.shape[0]
        target = state.waypoints[jnp.minimum(state.waypoint, num - 1)]
        explore = jnp.where(state.waypoint < num, route_action(state.pos, target, params.room_size),
                            wander_action(jax.random.uniform(key), jnp.asarray(layout.room_index()), state.pos))
        mirror = jnp.clip(2 * state.revisit_step - 1 - state.time, 0, params.length - 1)
        back = jnp.asarray(INVERSE)[state.trail_action[mirror]]
        return jnp.where(state.time < state.revisit_step, explore, back).astype(jnp.int32)

    def markers(self, state: RevisitState) -> dict[str, Array]:
        """revisit_step: the observation index where the return begins."""
        return {"revisit_step": state.revisit_step}
