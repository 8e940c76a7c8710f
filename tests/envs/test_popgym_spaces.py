"""Every registered POPGym family x level has the reference ``popgym`` env's spaces; each family runs under
``jit`` and ``vmap`` over 1024 environments (marked ``slow`` except for one family: ``pytest -m slow``).

Parametrized over ``envs.popgym.FAMILIES`` so families added later are covered automatically. Representation
rules: gym Discrete -> ``Discrete`` (int32 scalar), MultiDiscrete -> ``MultiDiscrete`` (int32 vector), a Tuple of
Discretes (Autoencode) -> ``MultiDiscrete`` of their sizes, Box -> ``Box`` with the same shape and bounds.
"""

from __future__ import annotations

import gymnasium as gym
import jax
import numpy as np
import popgym.envs as ref_envs
import pytest

import envs
from envs.popgym import FAMILIES

LEVELS = ("Easy", "Medium", "Hard")


def describe_reference(space):
    if isinstance(space, gym.spaces.Discrete):
        return ("discrete", (int(space.n),))
    if isinstance(space, gym.spaces.MultiDiscrete):
        return ("discrete", tuple(int(n) for n in np.ravel(space.nvec)))
    if isinstance(space, gym.spaces.Tuple) and all(isinstance(s, gym.spaces.Discrete) for s in space.spaces):
        return ("discrete", tuple(int(s.n) for s in space.spaces))
    if isinstance(space, gym.spaces.Box):
        return ("box", tuple(space.shape), np.asarray(space.low, np.float32), np.asarray(space.high, np.float32))
    raise AssertionError(f"no rule for reference space {space}")


def describe_ours(space):
    kind = type(space).__name__
    if kind == "Discrete":
        assert space.shape == () and np.dtype(space.dtype) == np.int32
        return ("discrete", (int(space.n),))
    if kind == "MultiDiscrete":
        return ("discrete", tuple(int(n) for n in space.nvec))
    assert kind == "Box" and np.dtype(space.dtype) == np.float32
    shape = tuple(space.shape)
    return (
        "box",
        shape,
        np.broadcast_to(np.asarray(space.low, np.float32), shape),
        np.broadcast_to(np.asarray(space.high, np.float32), shape),
    )


def assert_same(ours, theirs):
    assert ours[0] == theirs[0] and ours[1] == theirs[1], (ours, theirs)
    if ours[0] == "box":
        np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6)
        np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-6)


# The reference warns that its mazes are solvable without memory; that is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:Maze environments:DeprecationWarning")

CASES = [(family, level) for family in sorted(FAMILIES) for level in LEVELS]


@pytest.mark.parametrize("family,level", CASES, ids=[f + lv for f, lv in CASES])
def test_spaces_match_reference(family, level):
    ref = getattr(ref_envs, f"{family}{level}")()
    env, params = envs.make(f"popgym/{family}{level}")
    assert_same(describe_ours(env.observation_space(params)), describe_reference(ref.observation_space))
    assert_same(describe_ours(env.action_space(params)), describe_reference(ref.action_space))


# The sweep over every family costs a compile each (the game tests already jit our card / board games);
# RepeatPrevious stays in the default run as the one vmap-1024 check.
SWEEP = [f if f == "RepeatPrevious" else pytest.param(f, marks=pytest.mark.slow) for f in sorted(FAMILIES)]


@pytest.mark.parametrize("family", SWEEP)
def test_jit_vmap_reset_step_in_space(family):
    # One compile per family: reset + one random step, vmapped over 1024 environments, under jit.
    env, params = envs.make(f"popgym/{family}Easy")
    obs_space, act_space = env.observation_space(params), env.action_space(params)

    def reset_and_step(key):
        k1, k2, k3 = jax.random.split(key, 3)
        obs0, state = env.reset(k1, params)
        obs1, state, reward, terminated, truncated, info = env.step(k3, state, act_space.sample(k2), params)
        return obs0, obs1, reward, terminated, truncated, obs_space.contains(obs0) & obs_space.contains(obs1)

    batched = jax.jit(jax.vmap(reset_and_step))
    obs0, obs1, reward, terminated, truncated, inside = batched(jax.random.split(jax.random.key(0), 1024))
    for obs in (obs0, obs1):
        assert obs.shape == (1024, *obs_space.shape) and obs.dtype == np.dtype(obs_space.dtype)
    assert reward.shape == (1024,) and reward.dtype == np.float32
    assert terminated.dtype == np.bool_ and truncated.dtype == np.bool_
    assert bool(inside.all())
    # Different keys give different episodes.
    rows = np.concatenate([np.asarray(obs0).reshape(1024, -1), np.asarray(obs1).reshape(1024, -1)], axis=1)
    assert len(np.unique(rows, axis=0)) > 1
