"""Cart-pole dynamics and the environment shared by the POPGym cart-pole variants.

Owns the physics of gymnasium's ``CartPoleEnv`` (Euler integration, the same constants, the same
termination thresholds and the same uniform(-0.05, 0.05) initial state), POPGym's reward scaling
(``1 / max_steps`` per step, so the episodic return lies in [0, 1]) and its time limit. The variants
(position-only, velocity-only, noisy position-only) differ only in what they observe, which they supply
through :meth:`CartPoleVariant.observe` and :meth:`CartPoleVariant.observation_space`.

Differences from the reference: the reference returns ``reward = -1`` when stepped *after* termination
(undefined behaviour in gymnasium); a protocol environment is reset first, so that case does not exist here.
``truncated`` is ``False`` when ``terminated`` is ``True`` on the same step (the reference sets both), so
the two flags never overlap: a terminal step is never bootstrapped.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from ssmrl.env import Discrete, Environment

Array = jax.Array


@struct.dataclass
class CartPoleState:
    """Physical state (float32 scalars) and the step counter (int32 scalar)."""

    x: Array
    x_dot: Array
    theta: Array
    theta_dot: Array
    time: Array


@struct.dataclass
class CartPoleParams:
    """Physics constants (gymnasium's; static), the episode length and the observation noise (traced)."""

    max_steps_in_episode: int = 200
    noise_sigma: float = 0.0
    gravity: float = struct.field(pytree_node=False, default=9.8)
    masscart: float = struct.field(pytree_node=False, default=1.0)
    masspole: float = struct.field(pytree_node=False, default=0.1)
    length: float = struct.field(pytree_node=False, default=0.5)  # half the pole's length
    force_mag: float = struct.field(pytree_node=False, default=10.0)
    tau: float = struct.field(pytree_node=False, default=0.02)  # seconds between state updates
    theta_threshold_radians: float = struct.field(pytree_node=False, default=12 * 2 * math.pi / 360)
    x_threshold: float = struct.field(pytree_node=False, default=2.4)


def reset_cartpole(key: Array) -> CartPoleState:
    """Initial state: every component uniform in [-0.05, 0.05], time 0."""
    x, x_dot, theta, theta_dot = jax.random.uniform(key, (4,), jnp.float32, -0.05, 0.05)
    return CartPoleState(x=x, x_dot=x_dot, theta=theta, theta_dot=theta_dot, time=jnp.int32(0))


def step_cartpole(state: CartPoleState, action: Array, params: CartPoleParams) -> CartPoleState:
    """One Euler step of gymnasium's cart-pole. action: int32 [] in {0 (push left), 1 (push right)}."""
    force = jnp.where(action == 1, params.force_mag, -params.force_mag)
    cos, sin = jnp.cos(state.theta), jnp.sin(state.theta)
    total_mass = params.masspole + params.masscart
    polemass_length = params.masspole * params.length
    temp = (force + polemass_length * state.theta_dot**2 * sin) / total_mass
    thetaacc = (params.gravity * sin - cos * temp) / (
        params.length * (4.0 / 3.0 - params.masspole * cos**2 / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * cos / total_mass
    return CartPoleState(
        x=state.x + params.tau * state.x_dot,
        x_dot=state.x_dot + params.tau * xacc,
        theta=state.theta + params.tau * state.theta_dot,
        theta_dot=state.theta_dot + params.tau * thetaacc,
        time=state.time + 1,
    )


def cartpole_fell(state: CartPoleState, params: CartPoleParams) -> Array:
    """bool []: the cart left [-x_threshold, x_threshold] or the pole left the angle band."""
    return (jnp.abs(state.x) > params.x_threshold) | (jnp.abs(state.theta) > params.theta_threshold_radians)


class CartPoleVariant(Environment):
    """A cart-pole that shows part of its state. Subclasses define the view and the difficulty table.

    Reward: ``1 / max_steps_in_episode`` every step (the falling step included), so returns lie in [0, 1].
    ``terminated`` when the pole falls or the cart leaves the track; ``truncated`` after
    ``max_steps_in_episode`` steps.
    """

    def __init__(self, max_steps_in_episode: int, noise_sigma: float = 0.0):
        self._params = CartPoleParams(max_steps_in_episode=max_steps_in_episode, noise_sigma=noise_sigma)

    @property
    def default_params(self) -> CartPoleParams:
        return self._params

    def observe(self, state: CartPoleState, params: CartPoleParams) -> Array:
        """float32 [2]: the noise-free observation of ``state``."""
        raise NotImplementedError

    def _noisy(self, key: Array, obs: Array, params: CartPoleParams) -> Array:
        # Gaussian noise, clipped to the observation space as the reference does (sigma 0: unchanged).
        space = self.observation_space(params)
        noisy = obs + params.noise_sigma * jax.random.normal(key, obs.shape, jnp.float32)
        return jnp.clip(noisy, space.low, space.high).astype(jnp.float32)

    def reset(self, key: Array, params: CartPoleParams) -> tuple[Array, CartPoleState]:
        """-> (obs float32 [2], state)."""
        key_state, key_noise = jax.random.split(key)
        state = reset_cartpole(key_state)
        return self._noisy(key_noise, self.observe(state, params), params), state

    def step(self, key: Array, state: CartPoleState, action: Array, params: CartPoleParams):
        """action int32 [] -> (obs float32 [2], state, reward float32 [], terminated, truncated, info)."""
        state = step_cartpole(state, action, params)
        terminated = cartpole_fell(state, params)
        truncated = (state.time >= params.max_steps_in_episode) & ~terminated
        reward = jnp.float32(1.0) / params.max_steps_in_episode
        obs = self._noisy(key, self.observe(state, params), params)
        return obs, state, reward.astype(jnp.float32), terminated, truncated, {}

    def action_space(self, params: CartPoleParams) -> Discrete:
        return Discrete(2)
