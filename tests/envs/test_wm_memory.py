"""The wm_memory tasks: registry names and spaces, the three flags, determinism, jit + vmap, what each scripted
episode must reach (checked on the state), hand-worked routing / rendering / door-and-box mechanics, the
dataset generator, and the tiles observation (``obs_mode="tiles"``): drawn with the palette it is the pixel frame.

Each task's Easy episodes are compiled once (``_episodes``) and shared by the tests of that task.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.wm_memory import TASKS, generate_dataset, make_task, scripted_episodes, task_names
from envs.wm_memory.cue_reward import cue_layout
from envs.wm_memory.grid import (
    COLOURS,
    DOWN,
    NOOP,
    NUM_TILE_CLASSES,
    PALETTE,
    RIGHT,
    UP,
    WALL,
    RoomGrid,
    draw_classes,
    render,
    route_action,
    try_move,
)
from ssmrl.env import Box, Discrete
from ssmrl.env_wrappers import VecEnv

KEY = jax.random.key(0)
NUM = 3  # episodes per task
T = 128  # every Easy task's length


@functools.cache
def _episodes(task: str):
    """-> (env, params, episodes as numpy (time-major), final states as numpy) of NUM Easy episodes."""
    env, params = make_task(f"{task}Easy")
    episodes, final = scripted_episodes(KEY, env, params, NUM)
    return env, params, jax.tree.map(np.asarray, episodes), jax.tree.map(np.asarray, final)


# ---------------------------------------------------------------- registry, spaces, names


@pytest.mark.parametrize("task", list(TASKS))
def test_registry_makes_every_level_with_image_spaces(task):
    lengths = []
    for level in ("Easy", "Medium", "Hard"):
        env, params = envs.make(f"wm_memory/{task}{level}")
        assert f"wm_memory/{task}{level}" in envs.available()
        space = env.observation_space(params)
        assert isinstance(space, Box) and space.shape == (32, 32, 3) and space.dtype == jnp.uint8
        assert (space.low, space.high) == (0, 255)
        assert env.action_space(params) == Discrete(6 if task == "Teleport" else 5)
        lengths.append(params.length)
    assert lengths == [128, 256, 512]


@pytest.mark.parametrize("name", ["wm_memory/RevisitExtreme", "wm_memory/Nope", "wm_memory/"])
def test_unknown_names_list_the_valid_ones(name):
    with pytest.raises(ValueError, match="valid") as error:
        envs.make(name)
    assert name in str(error.value) and "wm_memory/CueRewardHard" in str(error.value)
    with pytest.raises(ValueError, match="TeleportMedium"):
        generate_dataset(KEY, name, 1)


def test_bad_overrides_and_too_short_lengths_are_value_errors():
    with pytest.raises(ValueError, match=r"unknown params field.*'length'"):
        make_task("RevisitEasy", lenght=64)
    assert task_names()[:3] == ["RevisitEasy", "RevisitMedium", "RevisitHard"]
    with pytest.raises(ValueError, match="easy"):
        TASKS["Revisit"]("extreme")
    # Revisit Easy: 2 rooms x 3 waypoints may need 8 + 2*2*8 + 14 = 54 steps (RoomGrid.route_bound); length 64
    # leaves 32 for the exploration.
    for name, short in [("RevisitEasy", 64), ("TeleportEasy", 64), ("CueRewardEasy", 48), ("ChangeWorldEasy", 40)]:
        env, params = make_task(name, length=short)
        with pytest.raises(ValueError, match="length"):
            env.reset(KEY, params)


# ---------------------------------------------------------------- flags, shapes, determinism


@pytest.mark.parametrize("task", list(TASKS))
def test_scripted_episodes_flags_shapes_and_ranges(task):
    env, params, ep, _ = _episodes(task)
    assert ep.obs.shape == (T, NUM, 32, 32, 3) and ep.obs.dtype == np.uint8
    assert ep.action.shape == ep.reward.shape == ep.is_first.shape == (T, NUM)
    assert ep.action.dtype == np.int32 and ep.reward.dtype == np.float32
    assert ep.is_first.dtype == ep.terminated.dtype == ep.truncated.dtype == np.bool_
    np.testing.assert_array_equal(ep.is_first, np.arange(T)[:, None].repeat(NUM, 1) == 0)  # one episode a column
    np.testing.assert_array_equal(ep.truncated, np.arange(T)[:, None].repeat(NUM, 1) == T - 1)  # cut at the length
    assert not ep.terminated.any()
    assert (ep.action[0] == 0).all() and (ep.reward[0] == 0).all()
    assert ((ep.action >= 0) & (ep.action < env.action_space(params).n)).all()
    assert (ep.obs[:, :, 15:17, 15:17] == 255).all()  # the agent's mark
    assert (ep.obs[:, :, :2] == 0).all() and (ep.obs[:, :, :, -2:] == 0).all()  # the black margin
    assert len(np.unique(ep.obs.reshape(T * NUM, -1), axis=0)) > T // 4  # the views change
    for name, value in ep.markers.items():
        assert value.shape == (NUM,) and value.dtype == np.int32, name


@pytest.mark.parametrize("task", list(TASKS))
def test_same_seed_same_data_other_seed_other_data(task):
    _, _, ep, _ = _episodes(task)
    again = generate_dataset(KEY, f"wm_memory/{task}Easy", NUM)  # same compiled program (cache hit)
    for field in ("obs", "action", "reward", "is_first", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(again, field), getattr(ep, field))
    other = generate_dataset(jax.random.key(1), f"{task}Easy", NUM)
    assert not np.array_equal(other.obs, ep.obs)
    assert not np.array_equal(ep.obs[:, 0], ep.obs[:, 1])  # episodes of one call differ too


# ---------------------------------------------------------------- what each scripted episode reaches


def test_revisit_returns_along_its_own_path():
    _, params, ep, final = _episodes("Revisit")
    revisit = 64  # length // 2
    np.testing.assert_array_equal(ep.markers["revisit_step"], revisit)
    pos = final.trail_pos  # [N, T, 2]
    layout = RoomGrid(1, params.rooms, params.room_size)
    rooms = layout.room_index()
    for k in range(T - revisit):  # position revisit + k == position revisit - k, and so the view
        np.testing.assert_array_equal(pos[:, revisit + k], pos[:, revisit - k])
        np.testing.assert_array_equal(ep.obs[revisit + k], ep.obs[revisit - k])
    for n in range(NUM):
        seen = set(rooms[pos[n, : revisit + 1, 0], pos[n, : revisit + 1, 1]].tolist()) - {-1}
        assert seen == set(range(params.rooms))  # the exploration went through every room
        assert rooms[pos[n, -1, 0], pos[n, -1, 1]] == 0  # and the return ends in room 0
    assert (np.abs(np.diff(pos, axis=1)).sum(-1) <= 1).all()  # one cell per step at most


def test_teleport_jumps_back_and_replays_the_context():
    _, params, ep, final = _episodes("Teleport")
    context = 95  # length - 1 - query_steps = 128 - 1 - 32
    assert final.teleported.all()
    np.testing.assert_array_equal(ep.markers["teleport_step"], context + 1)
    np.testing.assert_array_equal(ep.action[context + 1], 5)  # the TELEPORT action led to obs context + 1
    source = ep.markers["teleport_source"]
    assert ((source >= 0) & (source <= context - params.query_steps)).all()
    rooms = RoomGrid(2, 2, params.room_size).room_index()
    for n in range(NUM):
        s, pos = source[n], final.trail_pos[n]
        for k in range(params.query_steps):  # the query phase repeats the context from the source on
            np.testing.assert_array_equal(pos[context + 1 + k], pos[s + k])
            np.testing.assert_array_equal(ep.obs[context + 1 + k, n], ep.obs[s + k, n])
        assert set(rooms[pos[: context + 1, 0], pos[: context + 1, 1]].tolist()) - {-1} == {0, 1, 2, 3}


def test_cue_reward_pays_only_on_arriving_at_the_cue_pad():
    _, params, ep, final = _episodes("CueReward")
    lay = cue_layout(params)
    first_pad = 5 + params.num_cues  # ids: VOID, WALL, DOORWAY, CORRIDOR, GOAL, cue floors, then pads
    for n in range(NUM):
        cue, pads, pos = final.cue[n], final.pads[n], final.trail_pos[n]
        expected = [0.0] + [float((pos[t] != pos[t - 1]).any() and (pos[t] == pads[cue]).all()) for t in range(1, T)]
        np.testing.assert_array_equal(ep.reward[:, n], expected)  # slow reference loop over the trail
        assert ep.reward[:, n].sum() >= 1  # the scripted walk reaches the cue's pad
        for pad in pads:  # ... and every other pad (events that do not pay)
            assert (pos == pad).all(-1).any()
        on = final.grid[n][pos[:, 0], pos[:, 1]]
        assert ((on >= first_pad) & lay.corridor[pos[:, 0], pos[:, 1]]).any()  # distractors stepped on
        np.testing.assert_array_equal(ep.obs[0, n, 14, 14], COLOURS[cue])  # the cue is the start room's floor
        assert ep.markers["reward_step"][n] == np.flatnonzero(ep.reward[:, n])[0]
        assert ep.markers["reward_step"][n] > ep.markers["cue_last_seen"][n] + 82  # the corridor lies between


def test_cue_reward_corridor_lengths():
    # length - 1 - (walk to the goal room outside the corridor: 2 + 4 + 3) - (4 pads x (2 + 4 + 2)) - 4 spare
    # = length - 46.
    assert [cue_layout(envs.make(f"wm_memory/CueReward{lv}")[1]).corridor.sum() // 3 for lv in ("Easy", "Hard")] \
        == [82, 466]


def test_change_world_keeps_open_doors_and_pushed_boxes():
    env, params, ep, final = _episodes("ChangeWorld")
    closed, opened, box = env.tile_ids(params)
    doors = RoomGrid(1, params.rooms, params.room_size).doorways()
    rooms = RoomGrid(1, params.rooms, params.room_size).room_index()
    back = 102  # length - 1 - ((rooms - 1) * 6 + 5) - 8 = 127 - 17 - 8
    np.testing.assert_array_equal(ep.markers["return_step"], back)
    assert final.door_open.all() and ((final.door_open_step > 0) & (final.door_open_step < back)).all()
    side = final.box_start[..., 0] - 3  # -1 above the middle row, +1 below
    moved = final.box_start + np.stack([side, 0 * side], -1)
    plan = final.push_plan[..., None]
    np.testing.assert_array_equal(final.box_pos, np.where(plan, moved, final.box_start))
    np.testing.assert_array_equal(final.box_push_step >= 0, final.push_plan)
    assert (ep.markers["last_change_step"] < back).all() and (ep.markers["first_change_step"] > 0).all()
    for n in range(NUM):
        grid, pos = final.grid[n], final.trail_pos[n]
        np.testing.assert_array_equal(grid[doors[:, 0], doors[:, 1]], opened)
        np.testing.assert_array_equal(grid[final.box_pos[n, :, 0], final.box_pos[n, :, 1]], box)
        assert rooms[pos[-1, 0], pos[-1, 1]] == 0
        for door in doors:  # the return walks through every door; its frames show it open (dark) under the agent
            t = back + np.flatnonzero((pos[back:] == door).all(-1))[0]
            np.testing.assert_array_equal(ep.obs[t, n, 14, 14], [70, 60, 50])
        for opened_at in final.door_open_step[n]:  # seen closed (brown stripe) from the cell left of the door,
            # view cell (3, 4) = pixels from (14, 18), then open (dark) one step later
            np.testing.assert_array_equal(ep.obs[opened_at - 1, n, 14, 18], [160, 100, 40])
            np.testing.assert_array_equal(ep.obs[opened_at, n, 14, 18], [70, 60, 50])


# ---------------------------------------------------------------- hand-worked mechanics


def test_route_action_hand_cases():
    # 2 x 2 rooms of 5: pitch 6, room (ry, rx) floors rows 1+6ry..5+6ry, cols 1+6rx..5+6rx; middles 3 and 9;
    # doorways (3, 6), (9, 6), (6, 3), (6, 9).
    cases = [
        ((1, 1), (7, 9), DOWN),  # other room column: first to the middle row 3
        ((3, 1), (7, 9), RIGHT),  # then along it
        ((3, 7), (7, 9), RIGHT),  # in the right column, other room row: to the middle column 9
        ((3, 9), (7, 9), DOWN),  # then down it
        ((6, 9), (7, 9), DOWN),  # the doorway counts as the upper room
        ((6, 9), (5, 10), UP),  # same room seen from a doorway in a horizontal wall: into the room first
        ((7, 7), (10, 10), RIGHT),  # same room: along the row first
        ((7, 10), (10, 10), DOWN),
        ((10, 10), (10, 10), NOOP),
    ]
    pos, target, expected = (np.array(column) for column in zip(*cases, strict=True))
    np.testing.assert_array_equal(jax.jit(jax.vmap(route_action, (0, 0, None)), static_argnums=2)(pos, target, 5),
                                  expected)


def test_route_reaches_every_target():
    layout = RoomGrid(2, 3, 5)  # any two floor cells, also rooms that are not neighbours
    grid = jnp.asarray(layout.base_grid(3))
    blocking = np.array([True, True] + [False] * 7)  # VOID, WALL block; DOORWAY and floors do not
    cells = np.argwhere(layout.room_index() >= 0)
    rng = np.random.default_rng(0)

    @jax.jit
    def walk(pos, target):
        def one(p, _):
            return try_move(grid, blocking, p, route_action(p, target, 5)), None
        return jax.lax.scan(one, pos, None, length=2 * sum(layout.shape))[0]  # any route is shorter

    for _ in range(40):
        pos, target = cells[rng.integers(len(cells), size=2)]
        np.testing.assert_array_equal(walk(jnp.asarray(pos), jnp.asarray(target)), target)


def test_render_one_wall_cell():
    tiles = jnp.stack([jnp.zeros((4, 4, 3), jnp.uint8), jnp.full((4, 4, 3), 120, jnp.uint8)])
    image = np.asarray(render(jnp.array([[WALL]]), tiles, jnp.array([0, 0])))
    expected = np.zeros((32, 32, 3), np.uint8)  # margin 2 px, then 7 x 7 cells of 4 px; only the middle is grey
    expected[14:18, 14:18] = 120  # cell (3, 3) of the view: pixels 2 + 12 = 14 to 17
    expected[15:17, 15:17] = 255  # the agent's mark
    np.testing.assert_array_equal(image, expected)


def test_change_world_door_and_box_mechanics_by_hand():
    env, params = make_task("ChangeWorldEasy")
    _, state = jax.jit(env.reset, static_argnums=1)(jax.random.key(3), params)
    step = jax.jit(env.step, static_argnums=3)
    # Door 0 joins rooms 0 and 1 at (3, 6). From (3, 5), RIGHT opens it and the agent stays; RIGHT again enters.
    state = state.replace(pos=jnp.array([3, 5]))
    _, state, *_ = step(KEY, state, jnp.int32(RIGHT), params)
    assert bool(state.door_open[0]) and int(state.door_open_step[0]) == 1 and state.pos.tolist() == [3, 5]
    assert int(state.grid[3, 6]) == env.tile_ids(params)[1]
    _, state, *_ = step(KEY, state, jnp.int32(RIGHT), params)
    assert state.pos.tolist() == [3, 6]
    # Box of room 0 at (3 + s, x): from (3, x) a move toward it pushes it to (3 + 2s, x); then the wall stops it.
    bx, s = int(state.box_pos[0, 1]), int(state.box_pos[0, 0]) - 3
    toward_box = DOWN if s > 0 else UP
    state = state.replace(pos=jnp.array([3, bx]))
    _, state, *_ = step(KEY, state, jnp.int32(toward_box), params)
    assert state.box_pos[0].tolist() == [3 + 2 * s, bx] and state.pos.tolist() == [3 + s, bx]
    assert int(state.box_push_step[0]) == 3
    _, state, *_ = step(KEY, state, jnp.int32(toward_box), params)  # (3 + 3s, x) is the outer wall
    assert state.box_pos[0].tolist() == [3 + 2 * s, bx] and state.pos.tolist() == [3 + s, bx]


# ---------------------------------------------------------------- jit + vmap through the library's wrappers


def test_vecenv_auto_resets_at_the_length_under_jit():
    env, params = envs.make("wm_memory/TeleportEasy")
    vec = VecEnv(env, 4)

    @jax.jit
    def run(key):
        obs, state = vec.reset(key, params)

        def one(carry, k):
            state = carry
            action = vec.sample_action(k, params)  # includes TELEPORT (5)
            obs, state, reward, terminated, truncated, info = vec.step(k, state, action, params)
            return state, (obs, truncated, info["is_first"], state.time, state.teleported)

        return obs, jax.lax.scan(one, state, jax.random.split(key, T + 2))[1]

    obs0, (obs, truncated, is_first, time, teleported) = jax.tree.map(np.asarray, run(KEY))
    assert obs0.shape == (4, 32, 32, 3) and obs.shape == (T + 2, 4, 32, 32, 3) and obs.dtype == np.uint8
    np.testing.assert_array_equal(truncated, (np.arange(T + 2) == T - 2)[:, None].repeat(4, 1))  # step 127 of 128
    np.testing.assert_array_equal(is_first, truncated)
    np.testing.assert_array_equal(time[:, 0], [t + 1 if t < T - 2 else t - (T - 2) for t in range(T + 2)])
    assert teleported[T - 3].all()  # random actions teleported every copy at least once before the reset


# ---------------------------------------------------------------- the tiles observation


@pytest.mark.parametrize("task", list(TASKS))
def test_tiles_drawn_with_the_palette_are_the_pixel_frames(task):
    """The same key in tiles mode: the same episodes (actions, rewards, markers), and every observation, each cell
    drawn with its class's palette image (plus the margin and the agent's mark), is the pixel frame."""
    _, _, pixels, _ = _episodes(task)
    env, params = make_task(f"{task}Easy", obs_mode="tiles")
    episodes, final = scripted_episodes(KEY, env, params, NUM)
    tiles = np.asarray(episodes.obs)
    assert env.observation_space(params) == Discrete(NUM_TILE_CLASSES, (7, 7))
    assert tiles.shape == (T, NUM, 7, 7) and tiles.dtype == np.int32
    assert tiles.min() >= 0 and tiles.max() < NUM_TILE_CLASSES
    np.testing.assert_array_equal(draw_classes(tiles), pixels.obs)
    np.testing.assert_array_equal(np.asarray(episodes.action), pixels.action)
    np.testing.assert_array_equal(np.asarray(episodes.reward), pixels.reward)
    for name, value in pixels.markers.items():
        np.testing.assert_array_equal(np.asarray(episodes.markers[name]), value)
    # the episode's table: the class of every id shows that id's image
    np.testing.assert_array_equal(PALETTE[np.asarray(final.classes)], np.asarray(final.tiles))
    assert len(np.unique(tiles)) > 5  # the windows show several kinds of tile


def test_palette_has_one_class_per_distinct_tile_and_obs_mode_is_checked():
    assert PALETTE.shape == (NUM_TILE_CLASSES, 4, 4, 3) and PALETTE.dtype == np.uint8
    assert len(np.unique(PALETTE.reshape(NUM_TILE_CLASSES, -1), axis=0)) == NUM_TILE_CLASSES
    # draw_classes by hand: a window of WALL (class 1, grey 120) has grey cells, the black margin and the mark
    frame = draw_classes(np.full((7, 7), WALL))
    assert frame.shape == (32, 32, 3) and frame[2, 2].tolist() == [120, 120, 120] and frame[0, 0].tolist() == [0] * 3
    assert frame[15, 15].tolist() == [255] * 3
    with pytest.raises(ValueError, match=r"obs_mode: unknown 'rgb'; valid: \['pixels', 'tiles'\]"):
        make_task("RevisitEasy", obs_mode="rgb")
