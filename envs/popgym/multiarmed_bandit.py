"""POPGym MultiarmedBandit: an episode of Bernoulli bandits drawn at reset.

Reference: ``popgym.envs.multiarmed_bandit``. Arm payout probabilities ~ U[0, 1) per episode. Observation:
1 if the pulled arm paid out else 0 (Discrete(2); 0 at reset); action: an arm (Discrete(num_bandits)).
A payout pays ``+1/L``, otherwise ``-1/L``; the episode is *truncated* after ``L = episode_length`` steps
(never terminated): return in ``[-1, 1]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Discrete, Environment

Array = jax.Array


@struct.dataclass
class MultiarmedBanditParams:
    num_bandits: int = struct.field(pytree_node=False, default=10)
    episode_length: int = struct.field(pytree_node=False, default=200)


@struct.dataclass
class MultiarmedBanditState:
    """bandits: float32 [num_bandits] payout probabilities; t: int32 [] steps taken."""

    bandits: Array
    t: Array


class MultiarmedBandit(Environment):
    """MultiarmedBandit{Easy, Medium, Hard}: (arms, steps) = (10, 200), (20, 400), (30, 600)."""

    def __init__(self, difficulty: str = "easy"):
        self.num_bandits, self.episode_length = pick_difficulty(
            "MultiarmedBandit", difficulty, {"easy": (10, 200), "medium": (20, 400), "hard": (30, 600)}
        )

    @property
    def default_params(self) -> MultiarmedBanditParams:
        return MultiarmedBanditParams(num_bandits=self.num_bandits, episode_length=self.episode_length)

    def reset(self, key: Array, params: MultiarmedBanditParams):
        bandits = jax.random.uniform(key, (params.num_bandits,), jnp.float32)
        return jnp.zeros((), jnp.int32), MultiarmedBanditState(bandits, jnp.zeros((), jnp.int32))

    def step(self, key: Array, state: MultiarmedBanditState, action: Array, params: MultiarmedBanditParams):
        scale = 1.0 / params.episode_length
        payout = jax.random.uniform(key, (), jnp.float32) < state.bandits[action]
        reward = jnp.where(payout, scale, -scale).astype(jnp.float32)
        truncated = state.t >= params.episode_length - 1
        state = state.replace(t=state.t + 1)
        return payout.astype(jnp.int32), state, reward, jnp.zeros((), bool), truncated, {}

    def observation_space(self, params: MultiarmedBanditParams) -> Discrete:
        return Discrete(2)

    def action_space(self, params: MultiarmedBanditParams) -> Discrete:
        return Discrete(params.num_bandits)
