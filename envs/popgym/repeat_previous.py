"""POPGym RepeatPrevious: output the suit of the card shown ``k - 1`` steps ago.

Reference: ``popgym.envs.repeat_previous``. Observation: the suit of the card on show (Discrete(4)); action:
a suit (Discrete(4)). ``N = 52 * num_decks`` cards; the episode ends *terminated* after ``N - 1`` steps. At
step ``s`` (1-based, before the new card is dealt ``s`` cards have been shown) the target is the card at
deal position ``s - k`` (``k = 1`` is the card on show when the action is taken); steps with ``s < k`` pay 0,
the ``N - k`` others ``+-1/(N-k)``, so the episodic return lies in ``[-1, 1]``.
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
class RepeatPreviousParams:
    num_decks: int = struct.field(pytree_node=False, default=1)
    k: int = struct.field(pytree_node=False, default=4)


@struct.dataclass
class RepeatPreviousState:
    """deck: int32 [N] card ids in deal order; t: int32 [] index of the card on show."""

    deck: Array
    t: Array


class RepeatPrevious(Environment):
    """RepeatPrevious{Easy, Medium, Hard}: (decks, k) = (1, 4), (2, 32), (3, 64)."""

    def __init__(self, difficulty: str = "easy"):
        self.num_decks, self.k = pick_difficulty(
            "RepeatPrevious", difficulty, {"easy": (1, 4), "medium": (2, 32), "hard": (3, 64)}
        )

    @property
    def default_params(self) -> RepeatPreviousParams:
        return RepeatPreviousParams(num_decks=self.num_decks, k=self.k)

    def reset(self, key: Array, params: RepeatPreviousParams):
        n = cards.DECK_SIZE * params.num_decks
        if not 0 < params.k < n:
            raise ValueError(f"RepeatPrevious: k={params.k} must lie in [1, {n - 1}] for {n} cards")
        deck = cards.shuffled_deck(key, n)
        return cards.suit(deck[0]), RepeatPreviousState(deck=deck, t=jnp.zeros((), jnp.int32))

    def step(self, key: Array, state: RepeatPreviousState, action: Array, params: RepeatPreviousParams):
        n, k = cards.DECK_SIZE * params.num_decks, params.k
        scale = 1.0 / (n - k)
        shown = state.t + 1  # cards shown so far
        target = cards.suit(state.deck[jnp.maximum(shown - k, 0)])
        reward = jnp.where(shown >= k, jnp.where(action == target, scale, -scale), 0.0).astype(jnp.float32)
        t = state.t + 1
        terminated = t >= n - 1
        obs = cards.suit(state.deck[jnp.minimum(t, n - 1)])
        return obs, state.replace(t=t), reward, terminated, jnp.zeros((), bool), {}

    def observation_space(self, params: RepeatPreviousParams) -> Discrete:
        return Discrete(cards.NUM_SUITS)

    def action_space(self, params: RepeatPreviousParams) -> Discrete:
        return Discrete(cards.NUM_SUITS)
