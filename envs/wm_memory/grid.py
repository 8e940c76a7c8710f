"""The grid world shared by the wm_memory tasks: actions, tiles and the rendered view, room layouts, routing of
the scripted policies, the walker state every task extends and the base class of the tasks.

World: a grid of cells, each holding a tile id; the episode's ``tiles`` table (uint8 [NT, 4, 4, 3]) gives each id
its 4x4-pixel image. Ids 0-2 are common to all tasks: ``VOID`` (outside the world, black), ``WALL`` (grey),
``DOORWAY`` (a gap in a wall, dark grey); each task appends its own ids from ``FIRST_TASK_TILE`` (room floors of
random colour and pattern, decorations, doors, boxes, pads...).

Observation, by the params' ``obs_mode`` (:func:`observe`), of the top-down 7 x 7-cell window centred on the agent
(north up, no rotation; cells off the grid are ``VOID``). The agent's absolute position is never shown: a model
must integrate the actions.

* ``"pixels"`` (default, :func:`render`): 4 px a cell = 28 x 28 px, inside a 2 px black margin: uint8 [32, 32, 3],
  values in [0, 255] (model it as ``obs / 255 - 0.5``). The agent is the white 2 x 2 px mark in the middle
  (pixels [15:17, 15:17]).
* ``"tiles"`` (:func:`tile_window`): the window's tile CLASSES, int32 [7, 7] in [0, NUM_TILE_CLASSES): the same
  information without pixels (the agent, always in the middle cell, is not marked). A class is one tile image
  shared by every episode and task (:data:`PALETTE` [NUM_TILE_CLASSES, 4, 4, 3]), unlike the episode's own ids
  (room ``i``'s floor looks different in every episode): ``PALETTE[class]`` is the cell's 4 x 4 px image in the
  pixel view. Each state holds ``classes`` (int32 [NT]): the class of each of its episode's ids.

Actions: ``NOOP`` 0, ``UP`` 1, ``DOWN`` 2, ``LEFT`` 3, ``RIGHT`` 4 (a task may add more). A move into a blocking
tile leaves the agent in place.

Room grid (:class:`RoomGrid`): ``rooms_y x rooms_x`` square rooms of ``size x size`` floor cells, one-cell walls,
and a doorway in the middle of every wall between two neighbouring rooms; room ``(ry, rx)`` has index
``ry * rooms_x + rx``. :func:`route_action` walks between any two floor cells of such a grid without bumping into
walls: between rooms along the rooms' middle row / column (through the doorways), inside a room first along the
row, then along the column.

Every task's state extends :class:`WalkerState` (grid, tiles, position, time, the trail of positions and
actions, and the scripted plan: waypoints drawn at reset that only the scripted policy reads).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Box, Discrete, Environment

Array = jax.Array

NOOP, UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3, 4
NUM_MOVES = 5
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], np.int32)  # (d_row, d_col) of each action
INVERSE = np.array([NOOP, DOWN, UP, RIGHT, LEFT], np.int32)  # the action that undoes each move

TILE_PX, VIEW_CELLS, MARGIN_PX = 4, 7, 2  # fixed by the observation shape below: 7 * 4 + 2 * 2 = 32
OBS_SHAPE = (32, 32, 3)
AGENT_PX = slice(15, 17)  # rows / columns of the agent's mark

VOID, WALL, DOORWAY = 0, 1, 2
FIRST_TASK_TILE = 3

# Palette: eight saturated colours (none of them white, grey or black, which the world itself uses).
COLOURS = np.array(
    [
        [220, 50, 50],  # red
        [50, 180, 70],  # green
        [60, 90, 230],  # blue
        [230, 210, 50],  # yellow
        [200, 70, 200],  # magenta
        [60, 200, 210],  # cyan
        [240, 140, 40],  # orange
        [250, 150, 180],  # pink
    ],
    np.uint8,
)
NUM_COLOURS = len(COLOURS)

_I, _J = np.meshgrid(np.arange(TILE_PX), np.arange(TILE_PX), indexing="ij")
# 4x4 foreground masks of a tile: True pixels take the colour, False ones the background.
PATTERNS = np.stack(
    [
        np.ones((TILE_PX, TILE_PX), bool),  # 0 solid
        (_I + _J) % 2 == 0,  # 1 checker
        _I % 2 == 0,  # 2 horizontal stripes
        _J % 2 == 0,  # 3 vertical stripes
        (_I == 0) | (_I == 3) | (_J == 0) | (_J == 3),  # 4 frame
        (_I >= 1) & (_I <= 2) & (_J >= 1) & (_J <= 2),  # 5 centre dot
        ((_I >= 1) & (_I <= 2)) | ((_J >= 1) & (_J <= 2)),  # 6 plus
        (_I == _J) | (_I + _J == 3),  # 7 diagonal cross
        ~(((_I == 0) | (_I == 3)) & ((_J == 0) | (_J == 3))),  # 8 plate (all but the corners)
    ]
)
SOLID, CHECKER, HSTRIPES, VSTRIPES, FRAME, DOT, PLUS, XCROSS, PLATE = range(len(PATTERNS))
FLOOR_PATTERNS = np.array([SOLID, CHECKER, HSTRIPES, VSTRIPES, FRAME], np.int32)  # floors: colour on dark colour
DECOR_PATTERNS = np.array([DOT, PLUS, XCROSS], np.int32)  # decorations: colour on black
NUM_FLOORS = NUM_COLOURS * len(FLOOR_PATTERNS)
NUM_DECOR = NUM_COLOURS * len(DECOR_PATTERNS)


OBS_MODES = ("pixels", "tiles")


def check_obs_mode(obs_mode: str) -> None:
    """ValueError naming ``obs_mode`` and the valid values unless it is one of :data:`OBS_MODES`."""
    if obs_mode not in OBS_MODES:
        raise ValueError(f"obs_mode: unknown {obs_mode!r}; valid: {list(OBS_MODES)}")


def np_paint(colour: Any, pattern: int, background: Any) -> np.ndarray:
    """:func:`paint` in numpy (for the static :data:`PALETTE`) -> uint8 [4, 4, 3]."""
    return np.where(PATTERNS[pattern][..., None], np.asarray(colour, np.uint8), np.asarray(background, np.uint8))


# Looks (colour, pattern, background) of the tiles that are the same in every episode: the common ones (VOID,
# WALL, DOORWAY: classes 0-2) and the tasks' own (classes after the floors and decorations, in this order).
BASE_LOOKS = (((0, 0, 0), SOLID, (0, 0, 0)), ((120, 120, 120), SOLID, (0, 0, 0)), ((60, 60, 60), SOLID, (0, 0, 0)))
TASK_LOOKS = {
    "corridor": ((45, 45, 45), SOLID, (0, 0, 0)),  # CueReward
    "goal_floor": ((150, 150, 150), CHECKER, (90, 90, 90)),  # CueReward
    "door_closed": ((160, 100, 40), HSTRIPES, (90, 55, 20)),  # ChangeWorld
    "door_open": ((70, 60, 50), SOLID, (0, 0, 0)),  # ChangeWorld
    "box": ((90, 60, 30), FRAME, (200, 160, 90)),  # ChangeWorld
}
# Tile classes, one per distinct tile image: 0-2 the common tiles; FLOOR_CLASS + c the room floor of (colour
# c % NUM_COLOURS, pattern FLOOR_PATTERNS[c // NUM_COLOURS]) (the draw of :func:`floor_tiles`); DECOR_CLASS + kind
# the decorations of :func:`decor_tiles`; TASK_CLASS[name] the rest. Tiles that look the same share a class:
# CueReward's cue floors (solid) are the solid room floors (c < NUM_COLOURS) and its pads (PLATE on black) the
# "plus" decorations (the PLUS and PLATE masks are the same 4 x 4 pixels): DECOR_CLASS + NUM_COLOURS + colour.
FLOOR_CLASS = len(BASE_LOOKS)
DECOR_CLASS = FLOOR_CLASS + NUM_FLOORS
TASK_CLASS = {name: DECOR_CLASS + NUM_DECOR + i for i, name in enumerate(TASK_LOOKS)}
NUM_TILE_CLASSES = DECOR_CLASS + NUM_DECOR + len(TASK_LOOKS)
PALETTE = np.stack(
    [np_paint(*look) for look in BASE_LOOKS]
    + [np_paint(COLOURS[c % NUM_COLOURS], FLOOR_PATTERNS[c // NUM_COLOURS], COLOURS[c % NUM_COLOURS] // 3)
       for c in range(NUM_FLOORS)]
    + [np_paint(COLOURS[k % NUM_COLOURS], DECOR_PATTERNS[k // NUM_COLOURS], (0, 0, 0)) for k in range(NUM_DECOR)]
    + [np_paint(*look) for look in TASK_LOOKS.values()]
)  # uint8 [NUM_TILE_CLASSES, 4, 4, 3]: the image of each class


def uniform_parts(key: Array, *shapes: tuple[int, ...]) -> list[Array]:
    """Uniforms in [0, 1) of the given shapes from ONE ``jax.random.uniform`` draw (every jax.random call
    compiles its own hash, so a function draws all its randomness at once) -> float32 arrays."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    flat = jax.random.uniform(key, (max(sum(sizes), 1),))
    offsets = np.cumsum([0] + sizes)
    return [flat[offsets[i]: offsets[i + 1]].reshape(shape) for i, shape in enumerate(shapes)]


def uniform_int(u: Array, n: Any) -> Array:
    """Integers uniform in {0, ..., n - 1} from uniforms ``u`` in [0, 1) (any shape) -> int32."""
    return jnp.minimum(jnp.floor(u * n).astype(jnp.int32), jnp.asarray(n, jnp.int32) - 1)


def paint(colour: Any, pattern: Any, background: Any) -> Array:
    """One tile: colour, background uint8 [3]; pattern: index into PATTERNS -> uint8 [4, 4, 3]."""
    mask = jnp.asarray(PATTERNS)[pattern][..., None]
    return jnp.where(mask, jnp.asarray(colour, jnp.uint8), jnp.asarray(background, jnp.uint8)).astype(jnp.uint8)


def base_tiles() -> Array:
    """The common tiles VOID, WALL, DOORWAY -> uint8 [3, 4, 4, 3]."""
    return jnp.stack([paint(*look) for look in BASE_LOOKS])


def base_classes() -> Array:
    """The classes of the common tiles VOID, WALL, DOORWAY -> int32 [3]."""
    return jnp.arange(len(BASE_LOOKS), dtype=jnp.int32)


def floor_tiles(u: Array, n: int) -> Array:
    """``n`` room floors with pairwise distinct (colour, pattern), uniformly drawn from uniforms ``u`` float32
    [NUM_FLOORS] -> uint8 [n, 4, 4, 3]."""
    if n > NUM_FLOORS:
        raise ValueError(f"at most {NUM_FLOORS} distinct room floors, asked for {n}")
    combo = jnp.argsort(u)[:n]
    colour = jnp.asarray(COLOURS)[combo % NUM_COLOURS]
    pattern = jnp.asarray(FLOOR_PATTERNS)[combo // NUM_COLOURS]
    return jax.vmap(paint)(colour, pattern, colour // 3)


def floor_classes(u: Array, n: int) -> Array:
    """The classes of :func:`floor_tiles` ``(u, n)``'s floors -> int32 [n]."""
    return (FLOOR_CLASS + jnp.argsort(u)[:n]).astype(jnp.int32)


def decor_tiles() -> Array:
    """Every decoration (a small coloured shape on black), colour-major -> uint8 [NUM_DECOR, 4, 4, 3]."""
    kind = np.arange(NUM_DECOR)
    colour = jnp.asarray(COLOURS)[kind % NUM_COLOURS]
    pattern = jnp.asarray(DECOR_PATTERNS)[kind // NUM_COLOURS]
    return jax.vmap(paint)(colour, pattern, jnp.zeros((NUM_DECOR, 3), jnp.uint8))


def decor_classes() -> Array:
    """The classes of :func:`decor_tiles`' decorations -> int32 [NUM_DECOR]."""
    return jnp.arange(DECOR_CLASS, DECOR_CLASS + NUM_DECOR, dtype=jnp.int32)


def decorate(u: Array, grid: Array, floor_mask: np.ndarray, prob: float, first_decor: int) -> Array:
    """Each cell of ``floor_mask`` (bool [H, W]) holds a uniformly random decoration with probability ``prob``.

    u: uniforms float32 [2, H, W]; grid int32 [H, W] -> int32 [H, W] with ids ``first_decor + kind`` on the
    decorated cells.
    """
    mask = (u[0] < prob) & jnp.asarray(floor_mask)
    return jnp.where(mask, first_decor + uniform_int(u[1], NUM_DECOR), grid).astype(jnp.int32)


def view_ids(grid: Array, pos: Array) -> Array:
    """The ids of the 7 x 7 cells around ``pos`` (VOID off the grid). grid int32 [H, W], pos int32 [2] -> int32
    [7, 7]."""
    radius = VIEW_CELLS // 2
    padded = jnp.pad(grid, radius, constant_values=VOID)
    return jax.lax.dynamic_slice(padded, (pos[0], pos[1]), (VIEW_CELLS, VIEW_CELLS))


def render(grid: Array, tiles: Array, pos: Array) -> Array:
    """The agent's view. grid int32 [H, W], tiles uint8 [NT, 4, 4, 3], pos int32 [2] -> uint8 [32, 32, 3]."""
    pixels = tiles[view_ids(grid, pos)].transpose(0, 2, 1, 3, 4).reshape(VIEW_CELLS * TILE_PX,
                                                                         VIEW_CELLS * TILE_PX, 3)
    image = jnp.pad(pixels, ((MARGIN_PX, MARGIN_PX), (MARGIN_PX, MARGIN_PX), (0, 0)))
    return image.at[AGENT_PX, AGENT_PX].set(255)


def draw_classes(window: Any) -> np.ndarray:
    """The pixel view of tile-class windows (host numpy, e.g. for image strips): int [..., 7, 7] -> uint8
    [..., 32, 32, 3], each cell its :data:`PALETTE` image, with the margin and the agent's mark of :func:`render`."""
    images = PALETTE[np.asarray(window)]  # [..., 7, 7, 4, 4, 3]
    n = images.ndim - 5
    pixels = np.swapaxes(images, n + 1, n + 2).reshape(*images.shape[:n], VIEW_CELLS * TILE_PX,
                                                        VIEW_CELLS * TILE_PX, 3)
    image = np.pad(pixels, [(0, 0)] * n + [(MARGIN_PX, MARGIN_PX), (MARGIN_PX, MARGIN_PX), (0, 0)])
    image[..., AGENT_PX, AGENT_PX, :] = 255
    return image


def tile_window(grid: Array, classes: Array, pos: Array) -> Array:
    """The agent's view as tile classes. grid int32 [H, W], classes int32 [NT] (of each id), pos int32 [2] ->
    int32 [7, 7]."""
    return classes[view_ids(grid, pos)].astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class RoomGrid:
    """A static layout of ``rooms_y x rooms_x`` rooms of ``size x size`` floor cells (numpy, built in Python)."""

    rooms_y: int
    rooms_x: int
    size: int

    @property
    def pitch(self) -> int:
        return self.size + 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.rooms_y * self.pitch + 1, self.rooms_x * self.pitch + 1

    @property
    def num_rooms(self) -> int:
        return self.rooms_y * self.rooms_x

    @property
    def mid(self) -> int:
        """Offset of a room's middle row / column from its first floor row / column."""
        return self.size // 2

    def room_index(self) -> np.ndarray:
        """int32 [H, W]: the room of each floor cell, -1 on walls and doorways."""
        ys, xs = np.meshgrid(np.arange(self.shape[0]), np.arange(self.shape[1]), indexing="ij")
        floor = ((ys - 1) % self.pitch < self.size) & ((xs - 1) % self.pitch < self.size)
        floor &= (ys > 0) & (xs > 0) & (ys < self.shape[0] - 1) & (xs < self.shape[1] - 1)
        return np.where(floor, (ys - 1) // self.pitch * self.rooms_x + (xs - 1) // self.pitch, -1).astype(np.int32)

    def doorways(self) -> np.ndarray:
        """int32 [D, 2]: the doorway cells; first those between left/right neighbours (row-major, so door ``i``
        of a one-row grid joins rooms ``i`` and ``i + 1``), then those between upper/lower neighbours."""
        cells = [((ry * self.pitch + 1 + self.mid), (rx + 1) * self.pitch)
                 for ry in range(self.rooms_y) for rx in range(self.rooms_x - 1)]
        cells += [((ry + 1) * self.pitch, rx * self.pitch + 1 + self.mid)
                  for ry in range(self.rooms_y - 1) for rx in range(self.rooms_x)]
        return np.array(cells, np.int32).reshape(-1, 2)

    def base_grid(self, first_floor: int) -> np.ndarray:
        """int32 [H, W]: WALL, ``first_floor + room`` on the floor of each room, DOORWAY in the doorways."""
        room = self.room_index()
        grid = np.where(room >= 0, first_floor + room, WALL).astype(np.int32)
        doors = self.doorways()
        grid[doors[:, 0], doors[:, 1]] = DOORWAY
        return grid

    def random_cells(self, u: Array, rooms: np.ndarray) -> Array:
        """One uniformly random floor cell in each of ``rooms`` (int [n]); u: uniforms [n, 2] -> int32 [n, 2]."""
        rooms = np.asarray(rooms, np.int32)
        corner = 1 + self.pitch * np.stack([rooms // self.rooms_x, rooms % self.rooms_x], -1)
        return (jnp.asarray(corner) + uniform_int(u, self.size)).astype(jnp.int32)

    def route_bound(self, num_rooms: int, per_room: int) -> int:
        """Most steps :func:`route_action` needs from a floor cell of the first room through ``per_room``
        waypoints in each of ``num_rooms`` rooms visited in a chain of neighbours (a within-room leg is at most
        ``2 (size - 1)`` steps; a leg into the next room at most ``2 mid`` steps to and from the middle line and
        ``pitch + size - 1`` across)."""
        within = 2 * (self.size - 1)
        across = 2 * self.mid + self.pitch + self.size - 1
        return within + num_rooms * (per_room - 1) * within + (num_rooms - 1) * across


def toward(a: Array, b: Array, minus: int, plus: int) -> Array:
    """int32 []: ``minus`` if b < a, ``plus`` if b > a, else NOOP."""
    return jnp.where(b < a, minus, jnp.where(b > a, plus, NOOP)).astype(jnp.int32)


def route_action(pos: Array, target: Array, size: int) -> Array:
    """The next move from ``pos`` to ``target`` (int32 [2] each) in a :class:`RoomGrid` of rooms of ``size``.

    In another room column: to the current room's middle row, then along it (through the doorways); in another
    room row: to the middle column, then along it; in the same room: along the row, then along the column (from
    a doorway in a horizontal wall, first into the room). NOOP once there. A doorway counts as the room above /
    left of it.
    """
    pitch, mid = size + 1, size // 2
    room = (pos - 1) // pitch
    target_room = (target - 1) // pitch
    middle = room * pitch + 1 + mid
    on_wall_row = (pos[0] - 1) % pitch == size
    vertical = lambda y: toward(pos[0], y, UP, DOWN)
    horizontal = lambda x: toward(pos[1], x, LEFT, RIGHT)
    other_column = jnp.where(pos[0] != middle[0], vertical(middle[0]), horizontal(target[1]))
    other_row = jnp.where(pos[1] != middle[1], horizontal(middle[1]), vertical(target[0]))
    same = jnp.where(on_wall_row | (pos[1] == target[1]), vertical(target[0]), horizontal(target[1]))
    return jnp.where(room[1] != target_room[1], other_column, jnp.where(room[0] != target_room[0], other_row, same))


def wander_action(u: Array, room_index: Array, pos: Array, allowed: Any = (True,) * NUM_MOVES) -> Array:
    """A uniformly random action among ``allowed`` (bool [5]) that keeps the agent on the floor of its room.

    u: a uniform float32 [] in [0, 1); room_index int32 [H, W] (-1 off the floors); pos int32 [2] -> int32 [].
    NOOP is always possible.
    """
    targets = jnp.clip(pos + jnp.asarray(MOVES), 0, jnp.asarray(room_index.shape) - 1)
    here = room_index[pos[0], pos[1]]
    ok = (room_index[targets[:, 0], targets[:, 1]] == here) & (here >= 0) & jnp.asarray(allowed)
    ok = ok | (jnp.arange(NUM_MOVES) == NOOP)
    rank = uniform_int(u, ok.sum())  # the rank-th allowed action
    return jnp.argmax(ok & (jnp.cumsum(ok) == rank + 1)).astype(jnp.int32)


def try_move(grid: Array, blocking: np.ndarray, pos: Array, action: Array) -> Array:
    """Position after a move action (0-4), unchanged if the target tile blocks. blocking: bool [NT] -> int32 [2]."""
    target = jnp.clip(pos + jnp.asarray(MOVES)[action], 0, jnp.asarray(grid.shape) - 1)
    return jnp.where(jnp.asarray(blocking)[grid[target[0], target[1]]], pos, target).astype(jnp.int32)


def blocking_table(num_tiles: int, blocking_ids: tuple[int, ...]) -> np.ndarray:
    """bool [num_tiles]: True for the ids in ``blocking_ids``."""
    table = np.zeros(num_tiles, bool)
    table[list(blocking_ids)] = True
    return table


@struct.dataclass
class WalkerState:
    """What every task's state holds.

    grid: int32 [H, W] tile ids of the world now; tiles: uint8 [NT, 4, 4, 3] this episode's tile images;
    classes: int32 [NT] the tile class of each id (``PALETTE[classes[i]]`` equals ``tiles[i]``);
    pos: int32 [2] (row, column); time: int32 [] index of the current observation (0 after reset);
    trail_pos: int32 [L, 2] the position at every observation index so far (L = params.length; zeros ahead);
    trail_action: int32 [L] the action taken at every observation index so far (the one leading to t + 1);
    waypoints: int32 [M, 2] the scripted plan's targets (drawn at reset); waypoint: int32 [] index of the next
    target (advanced by ``step`` when the agent reaches it; M when the plan is done). Only the scripted policy
    reads the plan.
    """

    grid: Array
    tiles: Array
    classes: Array
    pos: Array
    time: Array
    trail_pos: Array
    trail_action: Array
    waypoints: Array
    waypoint: Array


def walker_fields(grid: Array, tiles: Array, classes: Array, pos: Array, waypoints: Array, length: int
                  ) -> dict[str, Array]:
    """The :class:`WalkerState` fields at reset (as a dict, for the task's state constructor)."""
    reached = jnp.all(pos == waypoints[0])
    return dict(
        grid=jnp.asarray(grid, jnp.int32), tiles=tiles, classes=jnp.asarray(classes, jnp.int32),
        pos=pos.astype(jnp.int32), time=jnp.int32(0),
        trail_pos=jnp.zeros((length, 2), jnp.int32).at[0].set(pos), trail_action=jnp.zeros(length, jnp.int32),
        waypoints=waypoints.astype(jnp.int32), waypoint=reached.astype(jnp.int32),
    )


def record_step(state: Any, action: Array, new_pos: Array) -> Any:
    """The state after one step to ``new_pos``: time + 1, trail written, waypoint advanced if reached."""
    num = state.waypoints.shape[0]
    reached = (state.waypoint < num) & jnp.all(new_pos == state.waypoints[jnp.minimum(state.waypoint, num - 1)])
    return state.replace(
        pos=new_pos.astype(jnp.int32),
        time=state.time + 1,
        trail_pos=state.trail_pos.at[state.time + 1].set(new_pos, mode="drop"),
        trail_action=state.trail_action.at[state.time].set(action, mode="drop"),
        waypoint=state.waypoint + reached.astype(jnp.int32),
    )


def observe(state: WalkerState, obs_mode: str = "pixels") -> Array:
    """The observation of a state: ``"pixels"`` uint8 [32, 32, 3] (:func:`render`) or ``"tiles"`` int32 [7, 7]
    (:func:`tile_window`)."""
    check_obs_mode(obs_mode)
    if obs_mode == "tiles":
        return tile_window(state.grid, state.classes, state.pos)
    return render(state.grid, state.tiles, state.pos)


class GridTask(Environment):
    """Base of the wm_memory tasks: difficulty -> params, observations by ``params.obs_mode`` (pixel frames or
    tile classes, module docstring), discrete actions, and equality by type (a task object holds no state, so
    ``jax.jit`` with the task as a static argument caches across instances).

    Subclasses implement ``reset``, ``step``, ``scripted_action(key, state, params) -> int32 []`` (the
    data-collection policy, pure in the state) and ``markers(state) -> dict[str, int32 []]`` (the steps a test or
    an evaluation needs: revisit, teleport, cue, change).
    """

    num_actions: int = NUM_MOVES

    def __init__(self, difficulty: str, levels: dict[str, Any]):
        self._params = pick_difficulty(type(self).__name__, difficulty, levels)

    @property
    def default_params(self) -> Any:
        return self._params

    def observation_space(self, params: Any) -> Box | Discrete:
        """``"pixels"``: Box uint8 [32, 32, 3] in [0, 255]; ``"tiles"``: Discrete(NUM_TILE_CLASSES) of shape
        [7, 7] (int32)."""
        check_obs_mode(params.obs_mode)
        if params.obs_mode == "tiles":
            return Discrete(NUM_TILE_CLASSES, (VIEW_CELLS, VIEW_CELLS))
        return Box(low=0, high=255, shape=OBS_SHAPE, dtype=jnp.uint8)

    def action_space(self, params: Any) -> Discrete:
        return Discrete(self.num_actions)

    def scripted_action(self, key: Array, state: Any, params: Any) -> Array:
        raise NotImplementedError

    def markers(self, state: Any) -> dict[str, Array]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))
