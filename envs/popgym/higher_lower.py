"""POPGym HigherLower: guess whether the next card's rank is higher or lower than the one on show.

Reference: ``popgym.envs.higher_lower``. Observation: the rank on show (Discrete(13)); action 0 = "higher",
1 = "lower" (Discrete(2)). ``N = 52 * num_decks``; a right guess pays ``+1/N``, a wrong one ``-1/N``, equal
ranks 0. The episode ends *terminated* after ``N - 1`` steps: return in ``[-(N-1)/N, (N-1)/N]``.
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
class HigherLowerParams:
    num_decks: int = struct.field(pytree_node=False, default=1)


@struct.dataclass
class HigherLowerState:
    """deck: int32 [N] card ids in deal order; t: int32 [] index of the card on show."""

    deck: Array
    t: Array


class HigherLower(Environment):
    """HigherLower{Easy, Medium, Hard}: 1, 2, 3 decks."""

    def __init__(self, difficulty: str = "easy"):
        self.num_decks = pick_difficulty("HigherLower", difficulty, {"easy": 1, "medium": 2, "hard": 3})

    @property
    def default_params(self) -> HigherLowerParams:
        return HigherLowerParams(num_decks=self.num_decks)

    def reset(self, key: Array, params: HigherLowerParams):
        deck = cards.shuffled_deck(key, cards.DECK_SIZE * params.num_decks)
        return cards.rank(deck[0]), HigherLowerState(deck=deck, t=jnp.zeros((), jnp.int32))

    def step(self, key: Array, state: HigherLowerState, action: Array, params: HigherLowerParams):
        n = cards.DECK_SIZE * params.num_decks
        t = jnp.minimum(state.t + 1, n - 1)
        current, nxt = cards.rank(state.deck[state.t]), cards.rank(state.deck[t])
        right = (nxt > current) == (action == 0)
        reward = jnp.where(nxt == current, 0.0, jnp.where(right, 1.0 / n, -1.0 / n)).astype(jnp.float32)
        terminated = state.t + 1 >= n - 1
        return nxt, state.replace(t=t), reward, terminated, jnp.zeros((), bool), {}

    def observation_space(self, params: HigherLowerParams) -> Discrete:
        return Discrete(cards.NUM_RANKS)

    def action_space(self, params: HigherLowerParams) -> Discrete:
        return Discrete(2)
