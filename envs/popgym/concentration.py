"""POPGym Concentration: flip face-down cards two at a time to find matching pairs.

Reference: ``popgym.envs.concentration``. ``N = 52 * num_decks`` cards lie face down at positions
``0 .. N - 1``; a card's value is its colour (2 values) or rank (13). Observation: MultiDiscrete([D + 1] * N),
the value of each face-up or in-play card and ``D`` ("face down") elsewhere. Action: a position
(Discrete(N)). Turns take two flips. A matching pair (same value, two different positions) pays
``+1/(N/2)`` and stays face up; a mismatch pays ``-2/E`` and both cards turn back; flipping a card that is
already face up pays ``-1/E`` per card in play and ends the turn. ``E = ceil(2N - N/(2N-1))`` (104, 208,
104): the episode is *truncated* after ``E`` steps, *terminated* once every card is face up. Return in
``[-1, 1]``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from envs.popgym import cards
from envs.popgym.difficulty import pick_difficulty
from ssmrl.env import Discrete, Environment, MultiDiscrete

Array = jax.Array


@struct.dataclass
class ConcentrationParams:
    num_decks: int = struct.field(pytree_node=False, default=1)
    deck_type: str = struct.field(pytree_node=False, default="colors")


@struct.dataclass
class ConcentrationState:
    """values: int32 [N] value of the card at each position; face_up: bool [N] matched cards;
    first: int32 [] position of the card flipped first this turn, -1 if none; t: int32 [] steps taken."""

    values: Array
    face_up: Array
    first: Array
    t: Array


def episode_length(num_cards: int) -> int:
    """Step limit of the reference: ``ceil(2n - n / (2n - 1))``."""
    return math.ceil(2 * num_cards - num_cards / (2 * num_cards - 1))


class Concentration(Environment):
    """Concentration{Easy, Medium, Hard}: (decks, matched on) = (1, colors), (2, colors), (1, ranks)."""

    def __init__(self, difficulty: str = "easy"):
        self.num_decks, self.deck_type = pick_difficulty(
            "Concentration",
            difficulty,
            {"easy": (1, "colors"), "medium": (2, "colors"), "hard": (1, "ranks")},
        )

    @property
    def default_params(self) -> ConcentrationParams:
        return ConcentrationParams(num_decks=self.num_decks, deck_type=self.deck_type)

    def reset(self, key: Array, params: ConcentrationParams):
        if params.deck_type not in ("colors", "ranks"):
            raise ValueError(
                f"Concentration: deck_type {params.deck_type!r} invalid; valid: ['colors', 'ranks']"
            )
        n = cards.DECK_SIZE * params.num_decks
        values = cards.attribute(cards.shuffled_deck(key, n), params.deck_type)
        state = ConcentrationState(
            values=values,
            face_up=jnp.zeros((n,), bool),
            first=jnp.full((), -1, jnp.int32),
            t=jnp.zeros((), jnp.int32),
        )
        facedown = cards.NUM_VALUES[params.deck_type]
        return jnp.full((n,), facedown, jnp.int32), state

    def step(self, key: Array, state: ConcentrationState, action: Array, params: ConcentrationParams):
        n = cards.DECK_SIZE * params.num_decks
        limit = episode_length(n)
        success, failure = 1.0 / (n // 2), -1.0 / limit
        facedown = cards.NUM_VALUES[params.deck_type]
        positions = jnp.arange(n)
        has_first = state.first >= 0
        in_play = (positions == action) | (has_first & (positions == state.first))
        obs = jnp.where(state.face_up | in_play, state.values, facedown).astype(jnp.int32)

        # A card already face up ends the turn with a penalty per card in play (the first card of a
        # turn is never face up: that would have ended its turn).
        already_up = state.face_up[action]
        match = has_first & (state.values[state.first] == state.values[action]) & (state.first != action)
        reward = jnp.where(
            already_up,
            failure * jnp.where(has_first, 2.0, 1.0),
            jnp.where(has_first, jnp.where(match, success, 2.0 * failure), 0.0),
        ).astype(jnp.float32)
        matched_now = ~already_up & match
        face_up = jnp.where(matched_now, state.face_up | in_play, state.face_up)
        first = jnp.where(~already_up & ~has_first, action, -1).astype(jnp.int32)
        terminated = matched_now & jnp.all(face_up)
        truncated = state.t >= limit - 1
        state = state.replace(face_up=face_up, first=first, t=state.t + 1)
        return obs, state, reward, terminated, truncated, {}

    def observation_space(self, params: ConcentrationParams) -> MultiDiscrete:
        n = cards.DECK_SIZE * params.num_decks
        return MultiDiscrete((cards.NUM_VALUES[params.deck_type] + 1,) * n)

    def action_space(self, params: ConcentrationParams) -> Discrete:
        return Discrete(cards.DECK_SIZE * params.num_decks)
