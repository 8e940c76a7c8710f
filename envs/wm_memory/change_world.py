"""ChangeWorld: memory-based reasoning (the agent changes the world; later frames must keep the changes).

World: ``rooms`` square rooms in a row (:class:`envs.wm_memory.grid.RoomGrid` of one row) with random floors and
decorations as in Revisit. Every doorway holds a closed door (brown, striped), and every room a box (tan with a
dark frame) on a random column, one row above or below the middle row.

Dynamics: moving into a closed door opens it (the agent stays; the open door, dark, is passable from then on).
Moving into a box pushes it one cell onward if that cell is free room floor (else nothing moves). Doors never
close and boxes stay where pushed, so what the world looks like depends on what the agent did. No reward;
truncated at ``length`` observations.

Scripted episode (:meth:`ChangeWorld.scripted_action`), starting on the middle row of room 0:

* forward: room by room along the middle row, opening each door on the way; in room ``i`` it pushes the box one
  cell away from the middle row if ``push_plan[i]`` (drawn with probability ``push_prob``), else just passes
  below / above it. Each door is seen closed, then open; each pushed box first at its start, then moved;
* delay: random moves along the middle row of the last room until ``return_step``;
* return: from ``return_step`` along the middle row back to room 0 through the opened doors, past every box,
  then random moves along room 0's middle row. Every frame of the return must show the world as changed
  (open doors, pushed boxes), long after the changes and after seeing the doors closed and the boxes unpushed.

``return_step = length - 1 - ((rooms - 1) (room_size + 1) + room_size) - return_margin`` (return_margin 8).
Levels (rooms, length): Easy (3, 128), Medium (5, 256), Hard (8, 512); rooms are 5 x 5 floor cells.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.wm_memory.grid import (
    DOWN,
    FIRST_TASK_TILE,
    MOVES,
    NOOP,
    NUM_DECOR,
    NUM_FLOORS,
    TASK_CLASS,
    TASK_LOOKS,
    UP,
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
    paint,
    record_step,
    route_action,
    toward,
    uniform_int,
    uniform_parts,
    walker_fields,
    wander_action,
)

Array = jax.Array
ROW_MOVES = (True, False, False, True, True)  # NOOP, LEFT, RIGHT: wandering along the middle row


@struct.dataclass
class ChangeWorldParams:
    """rooms: rooms in the row (>= 2); room_size: floor cells per side (>= 5 leaves room to push a box);
    length: observations per episode (the step to observation ``length - 1`` is truncated); push_prob: chance
    that the scripted agent pushes a room's box; decor_prob: chance that a floor cell holds a decoration;
    return_margin: steps the scripted return keeps in hand (it starts that much before it would have to);
    obs_mode: "pixels" or "tiles" (the observation, :mod:`envs.wm_memory.grid`)."""

    rooms: int = struct.field(pytree_node=False, default=3)
    room_size: int = struct.field(pytree_node=False, default=5)
    length: int = struct.field(pytree_node=False, default=128)
    push_prob: float = struct.field(pytree_node=False, default=0.5)
    decor_prob: float = struct.field(pytree_node=False, default=0.1)
    return_margin: int = struct.field(pytree_node=False, default=8)
    obs_mode: str = struct.field(pytree_node=False, default="pixels")


@struct.dataclass
class ChangeWorldState(WalkerState):
    """The walker state plus floor: int32 [H, W] the tiles under doors and boxes; door_open: bool [rooms - 1]
    (door ``i`` joins rooms i and i + 1); door_open_step: int32 [rooms - 1] observation index of its opening
    (-1: closed); box_pos, box_start: int32 [rooms, 2]; box_push_step: int32 [rooms] observation index of the
    first push (-1: never); push_plan: bool [rooms] the boxes the scripted agent pushes; return_step: int32 []."""

    floor: Array
    door_open: Array
    door_open_step: Array
    box_pos: Array
    box_start: Array
    box_push_step: Array
    push_plan: Array
    return_step: Array


def return_step(params: ChangeWorldParams) -> int:
    """Observation index at which the scripted return begins."""
    pitch = params.room_size + 1
    return params.length - 1 - ((params.rooms - 1) * pitch + params.room_size) - params.return_margin


def _layout(params: ChangeWorldParams) -> RoomGrid:
    layout = RoomGrid(1, params.rooms, params.room_size)
    forward = params.room_size + (params.rooms - 1) * (layout.pitch + params.room_size + 2)
    if params.rooms < 2 or params.room_size < 5 or forward > return_step(params):
        raise ValueError(f"ChangeWorld: need rooms >= 2, room_size >= 5 and a forward walk (<= {forward} steps) "
                         f"that ends before the return at {return_step(params)}: raise length")
    return layout


class ChangeWorld(GridTask):
    """ChangeWorld{Easy, Medium, Hard}: 3 rooms / 128 steps, 5 / 256, 8 / 512."""

    def __init__(self, difficulty: str = "easy"):
        super().__init__(difficulty, {
            "easy": ChangeWorldParams(rooms=3, length=128),
            "medium": ChangeWorldParams(rooms=5, length=256),
            "hard": ChangeWorldParams(rooms=8, length=512),
        })

    @staticmethod
    def tile_ids(params: ChangeWorldParams) -> tuple[int, int, int]:
        """-> (DOOR_CLOSED, DOOR_OPEN, BOX) ids, after the floors and decorations."""
        first = FIRST_TASK_TILE + params.rooms + NUM_DECOR
        return first, first + 1, first + 2

    def compose(self, floor: Array, door_open: Array, box_pos: Array, params: ChangeWorldParams) -> Array:
        """The world's tiles: the floor with the doors (open / closed) and the boxes -> int32 [H, W]."""
        closed, opened, box = self.tile_ids(params)
        doors = _layout(params).doorways()
        grid = floor.at[doors[:, 0], doors[:, 1]].set(jnp.where(door_open, opened, closed))
        return grid.at[box_pos[:, 0], box_pos[:, 1]].set(box)

    def reset(self, key: Array, params: ChangeWorldParams) -> tuple[Array, ChangeWorldState]:
        """-> (obs, state): closed doors, boxes at random, the agent on room 0's middle row."""
        layout = _layout(params)
        rooms, middle = params.rooms, 1 + layout.mid
        u_floor, u_decor, u_box, u_start = uniform_parts(key, (NUM_FLOORS,), (2, *layout.shape), (3, rooms), ())
        own = ("door_closed", "door_open", "box")  # the ids of tile_ids, in this order
        tiles = jnp.concatenate([base_tiles(), floor_tiles(u_floor, rooms), decor_tiles(),
                                 jnp.stack([paint(*TASK_LOOKS[name]) for name in own])])
        classes = jnp.concatenate([base_classes(), floor_classes(u_floor, rooms), decor_classes(),
                                   jnp.asarray([TASK_CLASS[name] for name in own], jnp.int32)])
        floor = decorate(u_decor, jnp.asarray(layout.base_grid(FIRST_TASK_TILE)), layout.room_index() >= 0,
                         params.decor_prob, FIRST_TASK_TILE + rooms)
        first_x = 1 + layout.pitch * np.arange(rooms)
        side = jnp.where(u_box[0] < 0.5, -1, 1)
        box_x = jnp.asarray(first_x) + uniform_int(u_box[1], params.room_size)
        box_start = jnp.stack([middle + side, box_x], -1).astype(jnp.int32)
        push_plan = u_box[2] < params.push_prob
        plan = jnp.where(push_plan[:, None], box_start, jnp.stack([jnp.full(rooms, middle), box_x], -1))
        start = jnp.stack([jnp.int32(middle), 1 + uniform_int(u_start, params.room_size)]).astype(jnp.int32)
        door_open = jnp.zeros(rooms - 1, bool)
        grid = self.compose(floor, door_open, box_start, params)
        state = ChangeWorldState(
            **walker_fields(grid, tiles, classes, start, plan, params.length), floor=floor, door_open=door_open,
            door_open_step=jnp.full(rooms - 1, -1, jnp.int32), box_pos=box_start, box_start=box_start,
            box_push_step=jnp.full(rooms, -1, jnp.int32), push_plan=push_plan,
            return_step=jnp.int32(return_step(params)),
        )
        return observe(state, params.obs_mode), state

    def step(self, key: Array, state: ChangeWorldState, action: Array, params: ChangeWorldParams):
        """action int32 [] in 0-4 -> (obs, state, reward 0, terminated False, truncated, {})."""
        closed, _, box_id = self.tile_ids(params)
        layout = _layout(params)
        room_index = jnp.asarray(layout.room_index())
        blocking = jnp.asarray(blocking_table(box_id + 1, (VOID, WALL, closed, box_id)))
        limit = jnp.asarray(state.grid.shape) - 1
        delta = jnp.asarray(MOVES)[action]
        target = jnp.clip(state.pos + delta, 0, limit)
        beyond = jnp.clip(target + delta, 0, limit)
        door_hit = jnp.all(jnp.asarray(layout.doorways()) == target, -1) & ~state.door_open
        box_hit = jnp.all(state.box_pos == target, -1) & (action != NOOP)
        push = jnp.any(box_hit) & ~blocking[state.grid[beyond[0], beyond[1]]] & (room_index[beyond[0], beyond[1]] >= 0)
        moves = ~blocking[state.grid[target[0], target[1]]] | push
        new_pos = jnp.where(moves, target, state.pos)
        pushed = box_hit & push
        box_pos = jnp.where(pushed[:, None], beyond, state.box_pos)
        door_open = state.door_open | door_hit
        after = record_step(state, action, new_pos)
        after = after.replace(
            grid=self.compose(state.floor, door_open, box_pos, params), door_open=door_open, box_pos=box_pos,
            door_open_step=jnp.where(door_hit, after.time, state.door_open_step),
            box_push_step=jnp.where(pushed & (state.box_push_step < 0), after.time, state.box_push_step),
        )
        truncated = after.time >= params.length - 1
        return observe(after, params.obs_mode), after, jnp.float32(0.0), jnp.bool_(False), truncated, {}

    def scripted_action(self, key: Array, state: ChangeWorldState, params: ChangeWorldParams) -> Array:
        """Forward through the rooms (opening doors, pushing the planned boxes), wander along the last room's
        middle row until return_step, walk back to room 0 and wander along its middle row. -> action int32 []."""
        layout = _layout(params)
        middle = 1 + layout.mid
        room_index = jnp.asarray(layout.room_index())
        num = state.waypoints.shape[0]
        target = state.waypoints[jnp.minimum(state.waypoint, num - 1)]
        along_row = jnp.where(state.pos[0] != middle, toward(state.pos[0], middle, UP, DOWN),
                              wander_action(jax.random.uniform(key), room_index, state.pos, ROW_MOVES))
        forward = jnp.where(state.waypoint < num, route_action(state.pos, target, params.room_size), along_row)
        home = room_index[state.pos[0], state.pos[1]] == 0
        back = jnp.where(home, along_row, route_action(state.pos, state.trail_pos[0], params.room_size))
        return jnp.where(state.time < state.return_step, forward, back).astype(jnp.int32)

    def markers(self, state: ChangeWorldState) -> dict[str, Array]:
        """return_step; first_change_step / last_change_step: observation indices of the first and last door
        opening or box push (-1: no change)."""
        steps = jnp.concatenate([state.door_open_step, state.box_push_step])
        changed = steps >= 0
        first = jnp.where(jnp.any(changed), jnp.min(jnp.where(changed, steps, jnp.iinfo(jnp.int32).max)), -1)
        return {"return_step": state.return_step, "first_change_step": first.astype(jnp.int32),
                "last_change_step": jnp.max(jnp.where(changed, steps, -1)).astype(jnp.int32)}
