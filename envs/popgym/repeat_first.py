"""POPGym RepeatFirst: output the suit of the first card of the episode at every step.

Reference: ``popgym.envs.repeat_first``. Observation: the suit of the card on show (Discrete(4)); action: a
suit (Discrete(4)). An episode deals ``N - 1`` further cards (``N = 52 * num_decks``) and ends *terminated*
after ``N - 1`` steps; each step pays ``+1/(N-1)`` if the action is the first card's suit, else ``-1/(N-1)``,
so the episodic return lies in ``[-1, 1]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.popgym import cards
from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Discrete, Environment

Array = jax.Array


@struct.dataclass
class RepeatFirstParams:
    num_decks: int = struct.field(pytree_node=False, default=1)


@struct.dataclass
class RepeatFirstState:
    """deck: int32 [N] card ids in deal order; t: int32 [] index of the card on show."""

    deck: Array
    t: Array


class RepeatFirst(Environment):
    """RepeatFirst{Easy, Medium, Hard}: 1, 8, 16 decks."""

    def __init__(self, difficulty: str = "easy"):
        self.num_decks = pick_difficulty("RepeatFirst", difficulty, {"easy": 1, "medium": 8, "hard": 16})

    @property
    def default_params(self) -> RepeatFirstParams:
        return RepeatFirstParams(num_decks=self.num_decks)

    def reset(self, key: Array, params: RepeatFirstParams):
        deck = cards.shuffled_deck(key, cards.DECK_SIZE * params.num_decks)
        state = RepeatFirstState(deck=deck, t=jnp.zeros((), jnp.int32))
        return cards.suit(deck[0]), state

    def step(self, key: Array, state: RepeatFirstState, action: Array, params: RepeatFirstParams):
        n = cards.DECK_SIZE * params.num_decks
        scale = 1.0 / (n - 1)
        reward = jnp.where(action == cards.suit(state.deck[0]), scale, -scale).astype(jnp.float32)
        t = state.t + 1
        terminated = t >= n - 1
        obs = cards.suit(state.deck[jnp.minimum(t, n - 1)])
        return obs, state.replace(t=t), reward, terminated, jnp.zeros((), bool), {}

    def observation_space(self, params: RepeatFirstParams) -> Discrete:
        return Discrete(cards.NUM_SUITS)

    def action_space(self, params: RepeatFirstParams) -> Discrete:
        return Discrete(cards.NUM_SUITS)
