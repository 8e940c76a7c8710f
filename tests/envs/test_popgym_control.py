"""POPGym cart-pole and pendulum families against the reference ``popgym`` package.

Lockstep tests copy the reference env's physical state into ours before every step, play the same action in
both and compare the noise-free observation, reward and flags. Rollout tests run our env under ``jit`` with
``lax.scan`` and check episode lengths and return bounds.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym.cartpole import CartPoleState
from envs.popgym.noisy_position_only_cartpole import NoisyPositionOnlyCartPole
from envs.popgym.noisy_position_only_pendulum import NoisyPositionOnlyPendulum
from envs.popgym.pendulum import PendulumState
from envs.popgym.position_only_cartpole import PositionOnlyCartPole
from envs.popgym.position_only_pendulum import PositionOnlyPendulum
from envs.popgym.velocity_only_cartpole import VelocityOnlyCartPole
from ssmrl.env import Box, Discrete

popgym_envs = pytest.importorskip("popgym.envs")

OURS = {
    "PositionOnlyCartPole": PositionOnlyCartPole,
    "VelocityOnlyCartPole": VelocityOnlyCartPole,
    "NoisyPositionOnlyCartPole": NoisyPositionOnlyCartPole,
    "PositionOnlyPendulum": PositionOnlyPendulum,
    "NoisyPositionOnlyPendulum": NoisyPositionOnlyPendulum,
}
CARTPOLES = ["PositionOnlyCartPole", "VelocityOnlyCartPole", "NoisyPositionOnlyCartPole"]
PENDULUMS = ["PositionOnlyPendulum", "NoisyPositionOnlyPendulum"]
DIFFICULTIES = ["easy", "medium", "hard"]


def reference(family: str, difficulty: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(popgym_envs, family + difficulty.capitalize())()


@functools.cache
def compiled(family: str):
    """One env instance per family; its jitted reset / step serve every difficulty (params are traced)."""
    env = OURS[family]("easy")
    return env, jax.jit(env.reset), jax.jit(env.step)


def assert_same_space(ours, ref):
    if isinstance(ours, Discrete):
        assert ours.n == ref.n and ours.shape == ref.shape
        return
    assert isinstance(ours, Box)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(np.broadcast_to(ours.low, ours.shape), ref.low, rtol=1e-7)
    np.testing.assert_allclose(np.broadcast_to(ours.high, ours.shape), ref.high, rtol=1e-7)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
@pytest.mark.parametrize("family", CARTPOLES + PENDULUMS)
def test_spaces_length_and_noise_match_reference(family, difficulty):
    env, ref = OURS[family](difficulty), reference(family, difficulty)
    params = env.default_params
    assert_same_space(env.observation_space(params), ref.observation_space)
    assert_same_space(env.action_space(params), ref.action_space)
    assert params.max_steps_in_episode == ref.max_episode_length
    expected_sigma = float(ref.noise_sigma[0]) if hasattr(ref, "noise_sigma") else 0.0
    assert params.noise_sigma == pytest.approx(expected_sigma)


@pytest.mark.parametrize("family", CARTPOLES + PENDULUMS)
def test_unknown_difficulty_names_valid_values(family):
    with pytest.raises(ValueError, match="'insane'.*easy.*medium.*hard"):
        OURS[family]("insane")


def clean_cartpole_obs(family, ref, ref_obs):
    """The reference's observation before noise: its state projected as the family projects it."""
    if family == "NoisyPositionOnlyCartPole":
        return np.array([ref.state[0], ref.state[2]], np.float32)
    return ref_obs


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
@pytest.mark.parametrize("family", CARTPOLES)
def test_cartpole_lockstep_with_reference(family, difficulty):
    env, _, step = compiled(family)
    params = OURS[family](difficulty).default_params.replace(noise_sigma=0.0)
    length = params.max_steps_in_episode
    rng = np.random.default_rng(0)
    # Episode 1: random actions until the pole falls. Episode 2: a balancing controller (full state) until the
    # time limit, so both termination and truncation are compared.
    for episode, seed in enumerate([3, 4]):
        ref = reference(family, difficulty)
        ref.reset(seed=seed)
        for t in range(length + 1):
            x, x_dot, theta, theta_dot = ref.state
            if episode == 0:
                action = int(rng.integers(2))
            else:
                action = int(0.1 * x + 0.5 * x_dot + 10 * theta + 2 * theta_dot > 0)
            state = CartPoleState(*(jnp.float32(v) for v in ref.state), time=jnp.int32(t))
            obs, _, reward, terminated, truncated, _ = step(jax.random.key(t), state, jnp.int32(action), params)
            ref_obs, ref_reward, ref_terminated, ref_truncated, _ = ref.step(action)
            np.testing.assert_allclose(obs, clean_cartpole_obs(family, ref, ref_obs), atol=1e-5)
            assert float(reward) == pytest.approx(ref_reward, rel=1e-6)
            assert bool(terminated) == ref_terminated
            # Ours never sets truncated on a terminal step; otherwise the time limits agree.
            assert bool(truncated) == (ref_truncated and not ref_terminated)
            if ref_terminated or ref_truncated:
                break
        if episode == 0:
            assert ref_terminated and t < 100
        else:
            assert ref_truncated and not ref_terminated and t == length - 1


@pytest.mark.parametrize("family", PENDULUMS)
def test_pendulum_lockstep_with_reference(family):
    env, _, step = compiled(family)
    params = OURS[family]("medium").default_params.replace(noise_sigma=0.0)
    ref = reference(family, "medium")
    ref.reset(seed=7)
    rng = np.random.default_rng(1)
    for t in range(params.max_steps_in_episode):
        action = rng.uniform(-3.0, 3.0, size=(1,)).astype(np.float32)  # beyond +-2: both clip the torque
        theta, theta_dot = ref.state
        state = PendulumState(theta=jnp.float32(theta), theta_dot=jnp.float32(theta_dot), time=jnp.int32(t))
        obs, _, reward, terminated, truncated, _ = step(jax.random.key(t), state, jnp.asarray(action), params)
        ref_obs, ref_reward, ref_terminated, ref_truncated, _ = ref.step(action)
        clean = np.array([np.cos(ref.state[0]), np.sin(ref.state[0])], np.float32)
        np.testing.assert_allclose(obs, clean, atol=1e-5)
        if family == "PositionOnlyPendulum":
            np.testing.assert_allclose(obs, ref_obs, atol=1e-5)
        assert float(reward) == pytest.approx(ref_reward, abs=1e-6)
        assert not bool(terminated) and not ref_terminated
        assert bool(truncated) == ref_truncated == (t == params.max_steps_in_episode - 1)


def rollout(env, policy: str, num_steps: int):
    """jit(key, params) -> (rewards float32 [T, B], done bool [T, B], terminated, truncated) over B = 32 envs."""

    def act(key, state, params):
        space = env.action_space(params)
        if policy == "controller":  # cart-pole only: a linear feedback on the full state
            return (0.1 * state.x + 0.5 * state.x_dot + 10 * state.theta + 2 * state.theta_dot > 0).astype(jnp.int32)
        return space.sample(key)

    def one_env(key, params):
        key, key_reset = jax.random.split(key)
        _, state = env.reset(key_reset, params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            action = act(key_act, state, params)
            _, state, reward, terminated, truncated, _ = env.step(key_step, state, action, params)
            return state, (reward, terminated, truncated)

        _, (rewards, terminated, truncated) = jax.lax.scan(body, state, jax.random.split(key, num_steps))
        return rewards, terminated, truncated

    return jax.jit(jax.vmap(one_env, in_axes=(0, None), out_axes=1))


def first_episode(rewards, terminated, truncated):
    """-> (length int [B], return float [B], terminated_at_end bool [B]) of each env's first episode."""
    done = np.asarray(terminated | truncated)
    assert done.any(axis=0).all(), "every env must finish its first episode within the rollout"
    last = done.argmax(axis=0)
    mask = np.arange(done.shape[0])[:, None] <= last[None, :]
    returns = (np.asarray(rewards) * mask).sum(axis=0)
    batch = np.arange(done.shape[1])
    return last + 1, returns, np.asarray(terminated)[last, batch]


@functools.cache
def compiled_rollout(family: str, policy: str):
    env = OURS[family]("easy")
    return rollout(env, policy, num_steps=601)


@pytest.mark.parametrize("family", CARTPOLES)
def test_cartpole_balanced_reaches_time_limit_with_return_one(family):
    run = compiled_rollout(family, "controller")
    for difficulty in DIFFICULTIES:
        params = OURS[family](difficulty).default_params
        length, returns, terminated = first_episode(*run(jax.random.split(jax.random.key(0), 32), params))
        # Reward 1 / L per step for L steps: return 1, cut by the time limit, never terminal.
        np.testing.assert_array_equal(length, params.max_steps_in_episode)
        np.testing.assert_allclose(returns, 1.0, rtol=1e-5)
        assert not terminated.any()


@pytest.mark.parametrize("family", CARTPOLES + PENDULUMS)
def test_random_policy_returns_within_bounds(family):
    run = compiled_rollout(family, "random")
    params = OURS[family]("hard").default_params
    rewards, terminated, truncated = run(jax.random.split(jax.random.key(1), 32), params)
    length, returns, ended_terminal = first_episode(rewards, terminated, truncated)
    if family in CARTPOLES:
        # Random pushes drop the pole within a few dozen steps: terminal, return = length / L in (0, 1).
        assert ended_terminal.all() and (length < params.max_steps_in_episode).all()
        np.testing.assert_allclose(returns, length / params.max_steps_in_episode, rtol=1e-5)
        assert ((returns > 0) & (returns < 1)).all()
    else:
        # The pendulum never terminates: exactly L steps, each reward in [-1/L, 1/L].
        assert not ended_terminal.any()
        np.testing.assert_array_equal(length, params.max_steps_in_episode)
        assert (np.abs(np.asarray(rewards)) <= 1.0 / params.max_steps_in_episode + 1e-7).all()
        assert ((returns >= -1) & (returns <= 1)).all()


def test_vmap_1024_noisy_observations_clipped_with_reference_sigma():
    env = NoisyPositionOnlyPendulum("hard")
    params = env.default_params
    keys = jax.random.split(jax.random.key(2), 1024)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    actions = jnp.zeros((1024, 1), jnp.float32)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    obs, state, reward, terminated, truncated, _ = step(keys, state, actions, params)
    assert obs.shape == (1024, 2) and obs.dtype == jnp.float32
    assert reward.shape == terminated.shape == truncated.shape == (1024,)
    # sigma 0.3 on values in [-1, 1]: many samples cross the bounds and must be clipped onto them.
    assert bool(jnp.all(jnp.abs(obs) <= 1.0))
    assert int(jnp.sum(jnp.abs(obs) == 1.0)) > 50
    clean = jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta)], axis=-1)
    inside = jnp.abs(obs) < 1.0
    # Away from the bounds the deviation is N(0, sigma^2): its std is sigma to within a few percent.
    deviation = np.asarray((obs - clean)[inside & (jnp.abs(clean) < 0.1)])
    assert deviation.std() == pytest.approx(0.3, rel=0.15)
