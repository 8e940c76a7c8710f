"""POPGym Autoencode: watch a deck of cards, then recite their suits in reverse order.

Reference: ``popgym.envs.autoencode``. The reference observation ``Tuple(Discrete(2), Discrete(4))`` is a
MultiDiscrete([2, 4]) vector ``[mode, suit]`` here. ``N = 52 * num_decks`` cards. Reset shows card 0 with
mode 1 (watch); watch steps ``1 .. N - 1`` show cards ``1 .. N - 1`` (the card is *shown* while watching,
unlike some JAX ports), the last one with mode 0, which says that play starts next. Play steps
``N .. 2N - 1`` each pay ``+-1/N`` for naming the suit of the next card in reverse deal order and show
``[0, 0]``. Watch steps pay 0. The episode ends *terminated* after ``2N - 1`` steps: return in ``[-1, 1]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.popgym import cards
from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Discrete, Environment, MultiDiscrete

Array = jax.Array


@struct.dataclass
class AutoencodeParams:
    num_decks: int = struct.field(pytree_node=False, default=1)


@struct.dataclass
class AutoencodeState:
    """deck: int32 [N] card ids in deal order; t: int32 [] steps taken since reset."""

    deck: Array
    t: Array


class Autoencode(Environment):
    """Autoencode{Easy, Medium, Hard}: 1, 2, 3 decks."""

    def __init__(self, difficulty: str = "easy"):
        self.num_decks = pick_difficulty("Autoencode", difficulty, {"easy": 1, "medium": 2, "hard": 3})

    @property
    def default_params(self) -> AutoencodeParams:
        return AutoencodeParams(num_decks=self.num_decks)

    def reset(self, key: Array, params: AutoencodeParams):
        deck = cards.shuffled_deck(key, cards.DECK_SIZE * params.num_decks)
        obs = jnp.stack([jnp.int32(1), cards.suit(deck[0])])
        return obs, AutoencodeState(deck=deck, t=jnp.zeros((), jnp.int32))

    def step(self, key: Array, state: AutoencodeState, action: Array, params: AutoencodeParams):
        n = cards.DECK_SIZE * params.num_decks
        t = state.t + 1
        watching = t <= n - 1
        # Watch step t shows card t; mode turns to 0 (play) with the last card.
        shown = cards.suit(state.deck[jnp.clip(t, 0, n - 1)])
        watch_obs = jnp.stack([jnp.where(t < n - 1, 1, 0), shown]).astype(jnp.int32)
        # Play step t recites card 2N - 1 - t (reverse deal order).
        correct = cards.suit(state.deck[jnp.clip(2 * n - 1 - t, 0, n - 1)])
        play_reward = jnp.where(action == correct, 1.0 / n, -1.0 / n)
        obs = jnp.where(watching, watch_obs, jnp.zeros((2,), jnp.int32))
        reward = jnp.where(watching, 0.0, play_reward).astype(jnp.float32)
        terminated = t >= 2 * n - 1
        return obs, state.replace(t=t), reward, terminated, jnp.zeros((), bool), {}

    def observation_space(self, params: AutoencodeParams) -> MultiDiscrete:
        return MultiDiscrete((2, cards.NUM_SUITS))

    def action_space(self, params: AutoencodeParams) -> Discrete:
        return Discrete(cards.NUM_SUITS)
