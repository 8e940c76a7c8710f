"""POPGym CountRecall: say how often the queried card value has been dealt so far.

Reference: ``popgym.envs.count_recall``. Two independently shuffled decks of ``N = 52 * num_decks`` cards,
one dealing values, one dealing queries; the observation is ``[value, query]`` (MultiDiscrete([D, D]), ``D``
distinct values of the counted attribute: colours 2, suits 4, ranks 13). The action is a count in
``{0, .., N / D}`` (Discrete(N / D + 1): 27, 27, 17; *not* a fixed 2 as in some JAX ports). At each step the
answer is the count of the current query's value among the values dealt so far (current card included);
right pays ``+1/(N-1)``, wrong ``-1/(N-1)`` (the reference's ``error_clamp`` is unused there too). The
episode ends *terminated* after ``N - 1`` steps: return in ``[-1, 1]``.
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
class CountRecallParams:
    num_decks: int = struct.field(pytree_node=False, default=1)
    deck_type: str = struct.field(pytree_node=False, default="colors")


@struct.dataclass
class CountRecallState:
    """value_deck, query_deck: int32 [N] deal orders; t: int32 [] index of the cards on show;
    counts: int32 [D] how often each value has been dealt (cards on show included)."""

    value_deck: Array
    query_deck: Array
    t: Array
    counts: Array


class CountRecall(Environment):
    """CountRecall{Easy, Medium, Hard}: (decks, counted attribute) = (1, colors), (2, suits), (4, ranks)."""

    def __init__(self, difficulty: str = "easy"):
        self.num_decks, self.deck_type = pick_difficulty(
            "CountRecall", difficulty, {"easy": (1, "colors"), "medium": (2, "suits"), "hard": (4, "ranks")}
        )

    @property
    def default_params(self) -> CountRecallParams:
        return CountRecallParams(num_decks=self.num_decks, deck_type=self.deck_type)

    def _obs(self, state: CountRecallState, params: CountRecallParams) -> Array:
        value = cards.attribute(state.value_deck[state.t], params.deck_type)
        query = cards.attribute(state.query_deck[state.t], params.deck_type)
        return jnp.stack([value, query]).astype(jnp.int32)

    def reset(self, key: Array, params: CountRecallParams):
        n = cards.DECK_SIZE * params.num_decks
        num_values = cards.NUM_VALUES.get(params.deck_type)
        if num_values is None:
            raise ValueError(
                f"CountRecall: unknown deck_type {params.deck_type!r}; valid: {sorted(cards.NUM_VALUES)}"
            )
        key_value, key_query = jax.random.split(key)
        value_deck = cards.shuffled_deck(key_value, n)
        query_deck = cards.shuffled_deck(key_query, n)
        counts = jax.nn.one_hot(cards.attribute(value_deck[0], params.deck_type), num_values, dtype=jnp.int32)
        state = CountRecallState(value_deck, query_deck, jnp.zeros((), jnp.int32), counts)
        return self._obs(state, params), state

    def step(self, key: Array, state: CountRecallState, action: Array, params: CountRecallParams):
        n = cards.DECK_SIZE * params.num_decks
        scale = 1.0 / (n - 1)
        query = cards.attribute(state.query_deck[state.t], params.deck_type)
        answer = state.counts[query]
        reward = jnp.where(action == answer, scale, -scale).astype(jnp.float32)
        t = jnp.minimum(state.t + 1, n - 1)
        value = cards.attribute(state.value_deck[t], params.deck_type)
        counts = state.counts.at[value].add(jnp.where(state.t + 1 <= n - 1, 1, 0))
        state = state.replace(t=t, counts=counts)
        terminated = state.t >= n - 1
        return self._obs(state, params), state, reward, terminated, jnp.zeros((), bool), {}

    def observation_space(self, params: CountRecallParams) -> MultiDiscrete:
        d = cards.NUM_VALUES[params.deck_type]
        return MultiDiscrete((d, d))

    def action_space(self, params: CountRecallParams) -> Discrete:
        d = cards.NUM_VALUES[params.deck_type]
        return Discrete(cards.DECK_SIZE * params.num_decks // d + 1)
