"""POPGym LabyrinthEscape / LabyrinthExplore and the maze generator against the reference ``popgym`` package.

The reference needs ``mazelib``. Lockstep tests copy the reference's maze, position and explored blocks into our
state and play the same actions in both, comparing observations, rewards and flags at every step.
"""

from __future__ import annotations

import functools
import warnings
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym.labyrinth import LabyrinthState, observe
from envs.popgym.labyrinth_escape import LabyrinthEscape
from envs.popgym.labyrinth_explore import LabyrinthExplore
from envs.popgym.maze import generate_entrances, generate_maze
from ssmrl.env import Discrete, MultiDiscrete

pytest.importorskip("mazelib")
import mazelib  # noqa: E402
from mazelib.generate.HuntAndKill import HuntAndKill  # noqa: E402
from popgym.envs import labyrinth_escape, labyrinth_explore  # noqa: E402

OURS = {"LabyrinthEscape": LabyrinthEscape, "LabyrinthExplore": LabyrinthExplore}
REFERENCE = {"LabyrinthEscape": labyrinth_escape, "LabyrinthExplore": labyrinth_explore}
DIFFICULTIES = ["easy", "medium", "hard"]
MOVES = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0)}  # LEFT, RIGHT, UP, DOWN as (dy, dx)


def reference(family: str, difficulty: str, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference warns that mazes need no memory
        ref = getattr(REFERENCE[family], family + difficulty.capitalize())()
        ref.reset(seed=seed)
    return ref


@functools.cache
def compiled(family: str, difficulty: str):
    env = OURS[family](difficulty)
    return env, jax.jit(env.step)


def state_from_reference(ref) -> LabyrinthState:
    return LabyrinthState(
        grid=jnp.asarray(ref.maze.grid, jnp.int32),
        position=jnp.asarray(ref.position, jnp.int32),
        explored=jnp.asarray(ref.explored == 1),
        time=jnp.int32(ref.curr_step),
    )


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
@pytest.mark.parametrize("family", list(OURS))
def test_spaces_sizes_and_length_match_reference(family, difficulty):
    env = OURS[family](difficulty)
    ref = reference(family, difficulty, 0)
    params = env.default_params
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert isinstance(obs_space, MultiDiscrete) and obs_space.nvec == tuple(ref.observation_space.nvec)
    assert isinstance(act_space, Discrete) and act_space.n == ref.action_space.n
    assert params.max_steps_in_episode == ref.max_episode_length
    obs, state = jax.eval_shape(env.reset, jax.random.key(0), params)  # shapes only: no compile
    assert state.grid.shape == ref.maze.grid.shape
    assert obs.shape == (10,) and obs.dtype == jnp.int32


def test_unknown_difficulty_names_valid_values():
    with pytest.raises(ValueError, match="'huge'.*easy.*medium.*hard"):
        LabyrinthEscape("huge")


def maze_stats(grid: np.ndarray) -> tuple[float, int, bool]:
    """(fraction of dead-end cells, number of passage blocks, all passages connected)."""
    height, width = grid.shape
    free = np.pad(grid != 1, 1)
    degree = sum(free[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in MOVES.values())
    dead_ends = float((degree[1::2, 1::2] == 1).mean())
    seen, todo = {(1, 1)}, deque([(1, 1)])
    while todo:
        y, x = todo.popleft()
        for dy, dx in MOVES.values():
            nxt = (y + dy, x + dx)
            if free[nxt[0] + 1, nxt[1] + 1] and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    passages = int((grid != 1).sum())
    return dead_ends, passages, len(seen) == passages


@pytest.mark.parametrize("cells", [5, 9])
def test_generator_makes_perfect_hunt_and_kill_mazes_like_mazelib(cells):
    grids = np.asarray(
        jax.jit(jax.vmap(lambda k: generate_maze(k, cells, cells)))(jax.random.split(jax.random.key(1), 100))
    )
    size = 2 * cells + 1
    assert grids.shape == (100, size, size)
    assert (grids[:, 0] == 1).all() and (grids[:, -1] == 1).all() and (grids[:, :, 0] == 1).all()
    assert (grids[:, 1::2, 1::2] == 0).all() and (grids[:, ::2, ::2] == 1).all()
    ours = [maze_stats(g) for g in grids]
    # A perfect maze (spanning tree) over n = cells^2 cells has n cells + (n - 1) carved walls, all connected.
    assert all(passages == 2 * cells**2 - 1 and connected for _, passages, connected in ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mazelib.Maze.set_seed(0)
        refs = []
        for _ in range(100):
            generator = HuntAndKill(cells, cells)
            refs.append(maze_stats(generator.generate()))
    # Same kind of maze: hunt-and-kill's dead-end fraction (about 0.17 at 5x5, 0.12 at 9x9; a Prim maze has
    # about 0.3). Each mean has a standard error near 0.003 over 100 mazes.
    assert np.mean([d for d, _, _ in ours]) == pytest.approx(np.mean([d for d, _, _ in refs]), abs=0.015)
    assert all(passages == 2 * cells**2 - 1 and connected for _, passages, connected in refs)


def test_entrances_on_opposite_outer_walls():
    starts, ends = jax.vmap(lambda k: generate_entrances(k, 7, 7))(jax.random.split(jax.random.key(2), 256))
    starts, ends = np.asarray(starts), np.asarray(ends)
    for start, end in zip(starts, ends, strict=True):
        on_rows = start[0] in (0, 14)
        assert on_rows != (start[1] in (0, 14))  # on exactly one outer wall, not in a corner
        if on_rows:
            assert end[0] == 14 - start[0] and start[1] % 2 == 1 and end[1] % 2 == 1
        else:
            assert end[1] == 14 - start[1] and start[0] % 2 == 1 and end[0] % 2 == 1
    assert len({tuple(s) for s in starts}) > 20  # all four sides and many positions occur


def play_lockstep(family, difficulty, seed, actions):
    """Plays ``actions`` (an iterable) in both envs until the episode ends. -> (steps, return, terminated)."""
    env, step = compiled(family, difficulty)
    params = env.default_params
    ref = reference(family, difficulty, seed)
    state = state_from_reference(ref)
    total = 0.0
    for t, action in enumerate(actions):
        obs, state, reward, terminated, truncated, _ = step(jax.random.key(t), state, jnp.int32(action), params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_obs, ref_reward, ref_terminated, ref_truncated, _ = ref.step(int(action))
        np.testing.assert_array_equal(obs, ref_obs)
        assert float(reward) == pytest.approx(ref_reward, abs=1e-6)
        assert bool(terminated) == ref_terminated
        assert bool(truncated) == (ref_truncated and not ref_terminated)  # never both here
        assert tuple(np.asarray(state.position)) == tuple(ref.position)
        total += float(reward)
        if ref_terminated or ref_truncated:
            return t + 1, total, ref_terminated
    raise AssertionError("the episode did not end")


def random_actions(seed):
    rng = np.random.default_rng(seed)
    return iter(lambda: int(rng.integers(4)), None)


@pytest.mark.parametrize("family", list(OURS))
def test_random_walk_lockstep_until_time_limit(family):
    # A random walk rarely escapes or explores a 9x9-cell maze in 1023 steps: the reference cuts the episode at
    # curr_step == 1024 - 1, after 1023 steps, with return >= -1023 / 1024.
    steps, total, terminal = play_lockstep(family, "hard", 3, random_actions(3))
    assert (steps, terminal) == (1023, False)
    assert -1.0 <= total <= 1.0


def first_observations_match(family, difficulty, seed):
    ref = reference(family, difficulty, seed)

    np.testing.assert_array_equal(observe(state_from_reference(ref), jnp.int32(4)), ref.get_obs(4))


def walk_to(grid, start, goal) -> list[int]:
    """Breadth-first shortest path over non-obstacle blocks, as actions."""
    parents, todo = {tuple(start): None}, deque([tuple(start)])
    while todo:
        here = todo.popleft()
        for action, (dy, dx) in MOVES.items():
            nxt = (here[0] + dy, here[1] + dx)
            inside = 0 <= nxt[0] < grid.shape[0] and 0 <= nxt[1] < grid.shape[1]
            if inside and grid[nxt] != 1 and nxt not in parents:
                parents[nxt] = (here, action)
                todo.append(nxt)
    path, node = [], tuple(goal)
    while parents[node] is not None:
        node, action = parents[node]
        path.append(action)
    return path[::-1]


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_escape_shortest_path_lockstep(difficulty):
    first_observations_match("LabyrinthEscape", difficulty, 5)
    ref = reference("LabyrinthEscape", difficulty, 5)
    path = walk_to(ref.maze.grid, ref.position, ref.maze.end)
    steps, total, terminal = play_lockstep("LabyrinthEscape", difficulty, 5, path)
    # k steps of -1/1024 and +1 on the goal: return 1 - k / 1024, terminated on arrival.
    assert terminal and steps == len(path)
    assert total == pytest.approx(1.0 - len(path) / 1024, abs=1e-5)


def depth_first_tour(grid, start) -> list[int]:
    """A walk that visits every non-obstacle block (depth-first, stepping back along the way it came)."""
    back = {0: 1, 1: 0, 2: 3, 3: 2}
    seen, actions = {tuple(start)}, []

    def visit(here):
        for action, (dy, dx) in MOVES.items():
            nxt = (here[0] + dy, here[1] + dx)
            inside = 0 <= nxt[0] < grid.shape[0] and 0 <= nxt[1] < grid.shape[1]
            if inside and grid[nxt] != 1 and nxt not in seen:
                seen.add(nxt)
                actions.append(action)
                visit(nxt)
                actions.append(back[action])

    visit(tuple(start))
    return actions


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_explore_full_tour_lockstep(difficulty):
    first_observations_match("LabyrinthExplore", difficulty, 6)
    ref = reference("LabyrinthExplore", difficulty, 6)
    tour = depth_first_tour(ref.maze.grid, ref.position)
    free = int((ref.maze.grid == 0).sum())
    steps, total, terminal = play_lockstep("LabyrinthExplore", difficulty, 6, tour)
    # Each of the F free blocks pays 1/F once (sum 1); the other steps cost 1/1024 each. Terminated when the
    # last block is first reached.
    assert terminal and steps <= len(tour)
    assert total == pytest.approx(1.0 - (steps - free) / 1024, abs=1e-5)


@pytest.mark.parametrize("family", list(OURS))
def test_vmap_1024_random_policy_returns_within_bounds(family):
    env = OURS[family]("easy")
    params = env.default_params
    length = params.max_steps_in_episode - 1  # the reference's time limit: 1023 steps

    def episode(key):
        key_reset, key_actions, key_steps = jax.random.split(key, 3)
        obs, state = env.reset(key_reset, params)
        # Actions drawn up front: random ops inside the scan body would dominate the compile time.
        actions = jax.random.randint(key_actions, (length,), 0, env.action_space(params).n)

        def body(carry, inputs):
            state, done, ret = carry
            key, action = inputs
            _, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
            return (state, done | terminated | truncated, ret + jnp.where(done, 0.0, reward)), None

        init = (state, jnp.bool_(False), jnp.float32(0.0))
        (_, done, ret), _ = jax.lax.scan(body, init, (jax.random.split(key_steps, length), actions))
        return obs, state.grid, done, ret

    obs, grids, done, returns = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(5), 1024))
    assert obs.shape == (1024, 10) and grids.shape == (1024, 11, 11)
    assert bool(jax.vmap(env.observation_space(params).contains)(obs).all())
    assert bool((jnp.sum(grids == 2, axis=(1, 2)) == 1).all())  # one START block per maze
    assert len({np.asarray(g).tobytes() for g in grids[:64]}) > 60  # mazes differ between environments
    assert bool(done.all())  # every episode ends within 1023 steps
    assert bool(((returns >= -1.0) & (returns <= 1.0)).all())
