"""POPGym MineSweeper against the reference ``popgym`` package: spaces, counts, lockstep play, return bounds."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym.minesweeper import MineSweeper, mine_counts, state_from_mines
from ssmrl.env import Discrete, MultiDiscrete

reference_module = pytest.importorskip("popgym.envs.minesweeper")

DIFFICULTIES = ["easy", "medium", "hard"]


def reference(difficulty: str, seed: int):
    ref = reference_module.MineSweeper(difficulty)
    ref.reset(seed=seed)
    return ref


@functools.cache
def compiled_step():
    # One jitted step per board shape: shapes are static, so each difficulty compiles once.
    return jax.jit(MineSweeper("easy").step)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_spaces_and_length_match_reference(difficulty):
    env, ref = MineSweeper(difficulty), reference(difficulty, 0)
    params = env.default_params
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert isinstance(obs_space, Discrete) and obs_space.n == ref.observation_space.n
    assert isinstance(act_space, MultiDiscrete) and act_space.nvec == tuple(ref.action_space.nvec)
    assert params.max_steps_in_episode == ref.max_episode_length


def test_unknown_difficulty_names_valid_values():
    with pytest.raises(ValueError, match="'expert'.*easy.*medium.*hard"):
        MineSweeper("expert")


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_counts_match_reference_and_hand_example(difficulty):
    for seed in range(5):
        ref = reference(difficulty, seed)
        np.testing.assert_array_equal(mine_counts(jnp.asarray(ref.hidden_grid == 1)), ref.neighbor_grid)
    # Hand example (mines at (0, 0) and (1, 1)): each tile counts the mines in its 3x3 block, itself included;
    # corner tiles see only their in-board neighbours.
    mines = np.zeros((4, 4), bool)
    mines[0, 0] = mines[1, 1] = True
    expected = [[2, 2, 1, 0], [2, 2, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(mine_counts(jnp.asarray(mines)), expected)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_reset_places_the_mines(difficulty):
    env = MineSweeper(difficulty)
    params = env.default_params
    obs, state = jax.jit(env.reset)(jax.random.key(3), params)
    assert int(obs) == 0 and obs.dtype == jnp.int32
    assert int(jnp.sum(state.hidden == 1)) == params.num_mines
    np.testing.assert_array_equal(state.counts, mine_counts(state.hidden == 1))


def play_lockstep(difficulty, seed, choose):
    """Plays ``choose(ref, rng) -> (row, col)`` in both envs until the episode ends; compares every step."""
    env, ref = MineSweeper(difficulty), reference(difficulty, seed)
    params, step = env.default_params, compiled_step()
    state = state_from_mines(jnp.asarray(ref.hidden_grid == 1))
    rng = np.random.default_rng(seed)
    total = 0.0
    for t in range(params.max_steps_in_episode):
        action = choose(ref, rng)
        obs, state, reward, terminated, truncated, _ = step(jax.random.key(t), state, jnp.asarray(action), params)
        ref_obs, ref_reward, ref_terminated, ref_truncated, _ = ref.step(np.asarray(action))
        assert int(obs) == ref_obs
        assert float(reward) == pytest.approx(ref_reward, abs=1e-6)
        assert (bool(terminated), bool(truncated)) == (ref_terminated, ref_truncated)
        np.testing.assert_array_equal(state.hidden, ref.hidden_grid)
        total += float(reward)
        if ref_terminated or ref_truncated:
            return t + 1, total, ref_terminated
    raise AssertionError("the reference episode did not end within its length")


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_random_clicks_lockstep_with_reference(difficulty):
    # Uniform clicks: mines, repeats and new views all occur.
    for seed in range(4):
        play_lockstep(difficulty, seed, lambda ref, rng: rng.integers(0, ref.dims))


def test_mine_avoiding_clicks_hit_the_time_limit_like_reference():
    # Clicking only clear tiles, with repeats, on the easy board (L = 14) mostly runs out of time.
    def safe(ref, rng):
        clear = np.argwhere(ref.hidden_grid != 1)
        return clear[rng.integers(len(clear))]

    outcomes = [play_lockstep("easy", seed, safe) for seed in range(4)]
    assert any(not terminal and length == 14 for length, _, terminal in outcomes)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_known_board_reaches_max_return_and_worst_case_is_minus_one(difficulty):
    def in_order(ref, rng):
        return np.argwhere(ref.hidden_grid == 0)[0]  # the first clear tile not yet viewed

    length, total, terminal = play_lockstep(difficulty, 11, in_order)
    # L views of +1/L each: return exactly 1, terminated on the L-th click.
    assert terminal and length == MineSweeper(difficulty).default_params.max_steps_in_episode
    assert total == pytest.approx(1.0, abs=1e-5)

    board = reference(difficulty, 12).hidden_grid
    first_clear, mine = np.argwhere(board == 0)[0], np.argwhere(board == 1)[0]
    schedule = iter([first_clear] * (length - 1) + [mine])
    worst_length, worst, terminal = play_lockstep(difficulty, 12, lambda ref, rng: next(schedule))
    # 1/L - (L - 2) * 0.5 / (L - 2) - 0.5 - 1/L = -1, terminated on the L-th click.
    assert terminal and worst_length == length
    assert worst == pytest.approx(-1.0, abs=1e-5)


def test_vmap_1024_random_policy_returns_within_bounds():
    env = MineSweeper("medium")
    params = env.default_params
    length = params.max_steps_in_episode

    def episode(key):
        key, key_reset = jax.random.split(key)
        _, state = env.reset(key_reset, params)

        def body(carry, key):
            state, done, ret, steps = carry
            key_act, key_step = jax.random.split(key)
            action = env.action_space(params).sample(key_act)
            _, state, reward, terminated, truncated, _ = env.step(key_step, state, action, params)
            ret = ret + jnp.where(done, 0.0, reward)
            steps = steps + (~done).astype(jnp.int32)
            return (state, done | terminated | truncated, ret, steps), None

        init = (state, jnp.bool_(False), jnp.float32(0.0), jnp.int32(0))
        (_, done, ret, steps), _ = jax.lax.scan(body, init, jax.random.split(key, length))
        return done, ret, steps

    done, returns, steps = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(5), 1024))
    assert done.shape == (1024,) and bool(done.all())  # every episode ends within L steps
    assert bool(jnp.all((returns >= -1.0 - 1e-5) & (returns <= 1.0 + 1e-5)))
    assert bool(jnp.all((steps >= 1) & (steps <= length)))
