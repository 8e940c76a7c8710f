"""Pendulum dynamics and the position-only pendulum shared by the POPGym pendulum variants.

Owns the physics of gymnasium's ``PendulumEnv`` (g = 10, m = l = 1, dt = 0.05, |theta_dot| <= 8,
|torque| <= 2, initial theta ~ U(-pi, pi), theta_dot ~ U(-1, 1)), POPGym's reward scaling and time limit, and
the observation ``[cos(theta), sin(theta)]`` (the angular velocity is hidden), optionally with Gaussian noise
clipped to the observation space [-1, 1]^2 as in the reference.

Reward: gymnasium's ``-cost`` with ``cost = angle_normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2`` in
[0, 16.2736044] (taken at the pre-step state), mapped linearly from [-16.2736044, 0] to [-1, 1] and divided by
the episode length, so the episodic return lies in [-1, 1]. The pendulum never terminates; ``truncated`` after
``max_steps_in_episode`` steps.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ssmrl.env import Box, Environment

Array = jax.Array


@struct.dataclass
class PendulumState:
    """Angle and angular velocity (float32 scalars) and the step counter (int32 scalar)."""

    theta: Array
    theta_dot: Array
    time: Array


@struct.dataclass
class PendulumParams:
    """Physics constants (gymnasium's; static), the episode length and the observation noise (traced)."""

    max_steps_in_episode: int = 200
    noise_sigma: float = 0.0
    max_speed: float = struct.field(pytree_node=False, default=8.0)
    max_torque: float = struct.field(pytree_node=False, default=2.0)
    dt: float = struct.field(pytree_node=False, default=0.05)
    g: float = struct.field(pytree_node=False, default=10.0)
    m: float = struct.field(pytree_node=False, default=1.0)
    l: float = struct.field(pytree_node=False, default=1.0)  # noqa: E741
    # -(pi^2 + 0.1 * 8^2 + 0.001 * 2^2): minus the largest cost.
    min_reward: float = struct.field(pytree_node=False, default=-16.2736044)


def angle_normalize(theta: Array) -> Array:
    """Wrap angles to [-pi, pi)."""
    return ((theta + jnp.pi) % (2 * jnp.pi)) - jnp.pi


def reset_pendulum(key: Array) -> PendulumState:
    """Initial state: theta ~ U(-pi, pi), theta_dot ~ U(-1, 1), time 0."""
    theta, theta_dot = jax.random.uniform(
        key, (2,), jnp.float32, jnp.array([-math.pi, -1.0]), jnp.array([math.pi, 1.0])
    )
    return PendulumState(theta=theta, theta_dot=theta_dot, time=jnp.int32(0))


def step_pendulum(state: PendulumState, action: Array, params: PendulumParams) -> tuple[PendulumState, Array]:
    """One step of gymnasium's pendulum. action: float32 [1] torque -> (next state, gymnasium reward float32 [])."""
    u = jnp.clip(jnp.reshape(action, (-1,))[0], -params.max_torque, params.max_torque)
    cost = angle_normalize(state.theta) ** 2 + 0.1 * state.theta_dot**2 + 0.001 * u**2
    theta_dot = (
        state.theta_dot
        + (3 * params.g / (2 * params.l) * jnp.sin(state.theta) + 3.0 / (params.m * params.l**2) * u) * params.dt
    )
    theta_dot = jnp.clip(theta_dot, -params.max_speed, params.max_speed)
    theta = state.theta + theta_dot * params.dt
    next_state = PendulumState(theta=theta, theta_dot=theta_dot, time=state.time + 1)
    return next_state, (-cost).astype(jnp.float32)


def scale_reward(reward: Array, params: PendulumParams) -> Array:
    """POPGym's map of a gymnasium reward in [min_reward, 0] to [-1, 1] / max_steps_in_episode."""
    half = -params.min_reward / 2
    return ((reward + half) / half / params.max_steps_in_episode).astype(jnp.float32)


class PendulumVariant(Environment):
    """Pendulum observed through ``[cos(theta), sin(theta)]`` (plus noise if ``noise_sigma > 0``).

    Observation: float32 [2] in [-1, 1]; action: Box(-2, 2, (1,)) float32 torque.
    """

    def __init__(self, max_steps_in_episode: int, noise_sigma: float = 0.0):
        self._params = PendulumParams(max_steps_in_episode=max_steps_in_episode, noise_sigma=noise_sigma)

    @property
    def default_params(self) -> PendulumParams:
        return self._params

    def observe(self, key: Array, state: PendulumState, params: PendulumParams) -> Array:
        """float32 [2]: ``clip([cos, sin] + N(0, sigma^2), -1, 1)`` (exact when ``noise_sigma == 0``)."""
        obs = jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta)]).astype(jnp.float32)
        noise = params.noise_sigma * jax.random.normal(key, (2,), jnp.float32)
        return jnp.clip(obs + noise, -1.0, 1.0).astype(jnp.float32)

    def reset(self, key: Array, params: PendulumParams) -> tuple[Array, PendulumState]:
        """-> (obs float32 [2], state)."""
        key_state, key_noise = jax.random.split(key)
        state = reset_pendulum(key_state)
        return self.observe(key_noise, state, params), state

    def step(self, key: Array, state: PendulumState, action: Array, params: PendulumParams):
        """action float32 [1] -> (obs float32 [2], state, reward float32 [], terminated, truncated, info)."""
        state, reward = step_pendulum(state, action, params)
        truncated = state.time >= params.max_steps_in_episode
        obs = self.observe(key, state, params)
        return obs, state, scale_reward(reward, params), jnp.bool_(False), truncated, {}

    def observation_space(self, params: PendulumParams) -> Box:
        high = np.ones((2,), dtype=np.float32)
        return Box(low=-high, high=high, shape=(2,))

    def action_space(self, params: PendulumParams) -> Box:
        high = np.full((1,), params.max_torque, dtype=np.float32)
        return Box(low=-high, high=high, shape=(1,))
