"""The gymnax bridge: protocol shapes, terminated vs truncated from both step signatures, no auto-reset.

CartPole-v1 facts used (gymnax source): a pole that tilts past 12 degrees or a cart past |x| = 2.4 ends the
episode naturally (terminated); ``state.time >= max_steps_in_episode`` (500 for v1) is the time limit
(truncated). Always pushing right topples the pole within a few dozen steps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.gymnax import GymnaxEnv
from ssmrl.env import Box, Discrete

STEPS = 64


class OldSignature:
    """A gymnax env as gymnax had it before the terminated/truncated split: ``done`` includes the time limit."""

    def __init__(self, env):
        self.env = env

    def reset_env(self, key, params):
        return self.env.reset_env(key, params)

    def step_env(self, key, state, action, params):
        obs, state, reward, done, info = self.env.step_env(key, state, action, params)
        return obs, state, reward, done | (state.time >= params.max_steps_in_episode), info

    def observation_space(self, params):
        return self.env.observation_space(params)

    def action_space(self, params):
        return self.env.action_space(params)


class SixTuple(OldSignature):
    """A variant whose ``step_env`` returns (obs, state, reward, terminated, truncated, info)."""

    def step_env(self, key, state, action, params):
        obs, state, reward, done, info = self.env.step_env(key, state, action, params)
        return obs, state, reward, done, state.time >= params.max_steps_in_episode, info


def bridges():
    new = GymnaxEnv("CartPole-v1")
    old = GymnaxEnv("CartPole-v1")
    old.gymnax_env, old._done_is_natural = OldSignature(new.gymnax_env), False
    six = GymnaxEnv("CartPole-v1")
    six.gymnax_env = SixTuple(new.gymnax_env)
    return {"installed": new, "old": old, "six": six}


def run(env, params, policy):
    """STEPS steps of a fixed policy (``"right"``: always 1; ``"alternate"``: 0, 1, 0, ...) -> flags [T], time."""

    @jax.jit
    def go(key):
        _, state = env.reset(key, params)

        def body(state, t):
            action = jnp.int32(1) if policy == "right" else (t % 2).astype(jnp.int32)
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            return state, (obs, reward, terminated, truncated)

        state, out = jax.lax.scan(body, state, jnp.arange(STEPS))
        return out, state.time

    return go(jax.random.key(0))


@pytest.mark.parametrize("kind", ["installed", "old", "six"])
def test_cartpole_flags(kind):
    env = bridges()[kind]
    # Time limit: 10 steps of alternating pushes keep the pole up; the 10th step is truncated, not terminated.
    params = env.default_params.replace(max_steps_in_episode=10)
    (obs, reward, terminated, truncated), time = run(env, params, "alternate")
    assert obs.shape == (STEPS, 4) and obs.dtype == jnp.float32 and reward.dtype == jnp.float32
    assert bool(truncated[9]) and not bool(terminated[:10].any()) and not bool(truncated[:9].any())
    # No auto-reset inside the bridge: time keeps counting past the end.
    assert int(time) == STEPS
    # A pole fall: terminated (with the real 500-step limit, never truncated within 64 steps).
    (obs, reward, terminated, truncated), _ = run(env, env.default_params, "right")
    first = int(np.argmax(np.asarray(terminated)))
    assert bool(terminated[first]) and 5 < first < STEPS - 1 and not bool(truncated.any())
    assert abs(float(obs[first, 2])) > 0.2094 or abs(float(obs[first, 0])) > 2.4  # 12 degrees in radians
    assert not bool(jnp.isnan(obs).any())


def test_registry_spaces_and_minatar():
    env, params = envs.make("gymnax/CartPole-v1")
    assert isinstance(env.observation_space(params), Box) and env.observation_space(params).shape == (4,)
    assert env.action_space(params) == Discrete(2)
    assert params.max_steps_in_episode == 500
    env, params = envs.make("gymnax/Breakout-MinAtar")
    space = env.observation_space(params)
    obs, state = jax.jit(env.reset, static_argnums=1)(jax.random.key(0), params)
    assert obs.shape == space.shape == (10, 10, 4) and obs.dtype == jnp.float32
    with pytest.raises(ValueError, match="CartPole-v1"):
        GymnaxEnv("CartPole-v0")
