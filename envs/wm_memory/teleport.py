"""Teleport: context-dependent recall (the agent is moved back to an earlier place after a context phase).

World: a ``rooms_y x rooms_x`` grid of square rooms (:class:`envs.wm_memory.grid.RoomGrid`) with doorways in the
middle of every shared wall; every episode draws distinct (colour, pattern) floors and random decorations, so
each place must be remembered from the episode itself. No reward; truncated at ``length`` observations.

Actions: the five moves of :mod:`envs.wm_memory.grid` and ``TELEPORT`` (5): the agent jumps to the position it
held at a uniformly random earlier observation index ``s`` in ``[0, max(t - query_steps, 0)]`` (t: the current
index), recorded as ``teleport_source``; the observation after the jump is the first of the query phase and the
only hint where the agent now is.

Scripted episode (:meth:`Teleport.scripted_action`), with ``context = length - 1 - query_steps``:

* context, observations ``0 .. context``: the agent visits one random cell of every room (rooms in boustrophedon
  order, each next to the previous one), then wanders at random inside the last room;
* at observation ``context`` it teleports: observation ``teleport_step = context + 1`` is at the position of
  observation ``teleport_source`` (at most ``context - query_steps``);
* query, observations ``teleport_step .. length - 1`` (``query_steps`` of them): it replays the moves it made
  from ``teleport_source`` on, so observation ``teleport_step + k`` equals observation ``teleport_source + k``:
  each view of the query phase was seen at least ``query_steps + 1`` steps earlier, and only the context says
  what comes next.

Levels (rooms, length, query_steps): Easy (2 x 2, 128, 32), Medium (3 x 3, 256, 64), Hard (4 x 4, 512, 128);
rooms are 5 x 5 floor cells.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.wm_memory.grid import (
    FIRST_TASK_TILE,
    NOOP,
    NUM_DECOR,
    NUM_FLOORS,
    NUM_MOVES,
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
    uniform_int,
    uniform_parts,
    walker_fields,
    wander_action,
)

Array = jax.Array
TELEPORT = NUM_MOVES  # action 5


@struct.dataclass
class TeleportParams:
    """rooms_y, rooms_x: the room grid; room_size: floor cells per side; length: observations per episode (the
    step to observation ``length - 1`` is truncated); query_steps: length of the query phase, and the least
    age of a teleport's destination; decor_prob: chance that a floor cell holds a decoration; obs_mode: "pixels"
    or "tiles" (the observation, :mod:`envs.wm_memory.grid`)."""

    rooms_y: int = struct.field(pytree_node=False, default=2)
    rooms_x: int = struct.field(pytree_node=False, default=2)
    room_size: int = struct.field(pytree_node=False, default=5)
    length: int = struct.field(pytree_node=False, default=128)
    query_steps: int = struct.field(pytree_node=False, default=32)
    decor_prob: float = struct.field(pytree_node=False, default=0.15)
    obs_mode: str = struct.field(pytree_node=False, default="pixels")


@struct.dataclass
class TeleportState(WalkerState):
    """The walker state plus teleported: bool [] (a TELEPORT happened); teleport_step: int32 [] the observation
    index right after the latest teleport (-1: none); teleport_source: int32 [] the index whose position it
    jumped to (-1: none)."""

    teleported: Array
    teleport_step: Array
    teleport_source: Array


def context_steps(params: TeleportParams) -> int:
    """The observation index at which the scripted agent teleports: ``length - 1 - query_steps``."""
    return params.length - 1 - params.query_steps


def snake_rooms(rooms_y: int, rooms_x: int) -> np.ndarray:
    """Room indices in boustrophedon order (row 0 left to right, row 1 right to left, ...) -> int32 [R]."""
    rows = [np.arange(rooms_x)[:: 1 if ry % 2 == 0 else -1] + ry * rooms_x for ry in range(rooms_y)]
    return np.concatenate(rows).astype(np.int32)


def _layout(params: TeleportParams) -> RoomGrid:
    layout = RoomGrid(params.rooms_y, params.rooms_x, params.room_size)
    context = context_steps(params)
    if params.query_steps < 1 or context - params.query_steps < 0:
        raise ValueError(f"Teleport: query_steps={params.query_steps} must be >= 1 and fit twice in length - 1")
    if layout.route_bound(layout.num_rooms, 1) > context:
        raise ValueError(
            f"Teleport: visiting {layout.num_rooms} rooms may need {layout.route_bound(layout.num_rooms, 1)} "
            f"steps, more than the context's {context}: raise length or lower query_steps / the rooms"
        )
    return layout


class Teleport(GridTask):
    """Teleport{Easy, Medium, Hard}: 2 x 2 rooms / 128 steps, 3 x 3 / 256, 4 x 4 / 512."""

    num_actions = NUM_MOVES + 1

    def __init__(self, difficulty: str = "easy"):
        super().__init__(difficulty, {
            "easy": TeleportParams(rooms_y=2, rooms_x=2, length=128, query_steps=32),
            "medium": TeleportParams(rooms_y=3, rooms_x=3, length=256, query_steps=64),
            "hard": TeleportParams(rooms_y=4, rooms_x=4, length=512, query_steps=128),
        })

    @staticmethod
    def num_tiles(params: TeleportParams) -> int:
        return FIRST_TASK_TILE + params.rooms_y * params.rooms_x + NUM_DECOR

    def reset(self, key: Array, params: TeleportParams) -> tuple[Array, TeleportState]:
        """-> (obs, state): fresh room appearances and plan, the agent in room 0."""
        layout = _layout(params)
        rooms = layout.num_rooms
        u_floor, u_decor, u_start, u_plan = uniform_parts(key, (NUM_FLOORS,), (2, *layout.shape), (1, 2), (rooms, 2))
        tiles = jnp.concatenate([base_tiles(), floor_tiles(u_floor, rooms), decor_tiles()])
        classes = jnp.concatenate([base_classes(), floor_classes(u_floor, rooms), decor_classes()])
        grid = decorate(u_decor, jnp.asarray(layout.base_grid(FIRST_TASK_TILE)), layout.room_index() >= 0,
                        params.decor_prob, FIRST_TASK_TILE + rooms)
        plan = layout.random_cells(u_plan, snake_rooms(params.rooms_y, params.rooms_x))
        start = layout.random_cells(u_start, np.zeros(1, np.int32))[0]
        state = TeleportState(**walker_fields(grid, tiles, classes, start, plan, params.length),
                              teleported=jnp.bool_(False), teleport_step=jnp.int32(-1),
                              teleport_source=jnp.int32(-1))
        return observe(state, params.obs_mode), state

    def step(self, key: Array, state: TeleportState, action: Array, params: TeleportParams):
        """action int32 [] in 0-5 -> (obs, state, reward 0, terminated False, truncated, {})."""
        blocking = blocking_table(self.num_tiles(params), (VOID, WALL))
        teleport = action == TELEPORT
        moved = try_move(state.grid, blocking, state.pos, jnp.where(teleport, NOOP, action))
        source = uniform_int(jax.random.uniform(key), jnp.maximum(state.time - params.query_steps, 0) + 1)
        new_pos = jnp.where(teleport, state.trail_pos[source], moved)
        after = record_step(state, action, new_pos)
        after = after.replace(
            teleported=state.teleported | teleport,
            teleport_step=jnp.where(teleport, after.time, state.teleport_step),
            teleport_source=jnp.where(teleport, source, state.teleport_source),
        )
        truncated = after.time >= params.length - 1
        return observe(after, params.obs_mode), after, jnp.float32(0.0), jnp.bool_(False), truncated, {}

    def scripted_action(self, key: Array, state: TeleportState, params: TeleportParams) -> Array:
        """Visit the rooms (then wander) until ``context``, TELEPORT there, then replay the moves made from
        ``teleport_source`` on: at t > context the action taken at ``teleport_source + t - context - 1``.
        -> action int32 []."""
        layout = _layout(params)
        context = context_steps(params)
        num = state.waypoints.shape[0]
        target = state.waypoints[jnp.minimum(state.waypoint, num - 1)]
        explore = jnp.where(state.waypoint < num, route_action(state.pos, target, params.room_size),
                            wander_action(jax.random.uniform(key), jnp.asarray(layout.room_index()), state.pos))
        replay = state.trail_action[jnp.clip(state.teleport_source + state.time - context - 1, 0, params.length - 1)]
        return jnp.where(state.time < context, explore, jnp.where(state.time == context, TELEPORT, replay)).astype(
            jnp.int32)

    def markers(self, state: TeleportState) -> dict[str, Array]:
        """teleport_step: first observation index after the teleport; teleport_source: the earlier index whose
        view (and the following ones) the query phase repeats."""
        return {"teleport_step": state.teleport_step, "teleport_source": state.teleport_source}
