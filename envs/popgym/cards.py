"""Playing-card arithmetic shared by the POPGym card games, matching ``popgym.core.deck.Deck``.

A deck of ``num_decks * 52`` cards is represented by card ids ``0 .. N - 1``. The reference lays its cards
out so that card ``i`` has suit ``i % 4``, rank ``(i // 4) % 13`` and colour ``i % 2``. The reference deals
from the *end* of its shuffled index array; we store decks in *deal order* (``deck[0]`` is dealt first),
so a reference deck ``Deck.idx`` corresponds to ``idx[::-1]`` here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

DECK_SIZE = 52
NUM_SUITS = 4
NUM_RANKS = 13
NUM_COLORS = 2
# Number of distinct values of each card attribute the games count or match on.
NUM_VALUES = {"colors": NUM_COLORS, "suits": NUM_SUITS, "ranks": NUM_RANKS}


def shuffled_deck(key: Array, num_cards: int) -> Array:
    """A uniformly random deal order: int32 [num_cards], a permutation of ``0 .. num_cards - 1``."""
    return jax.random.permutation(key, jnp.arange(num_cards, dtype=jnp.int32))


def suit(card: Array) -> Array:
    """Suit index in {0..3} of card ids (any shape, int32)."""
    return card % NUM_SUITS


def rank(card: Array) -> Array:
    """Rank index in {0..12} of card ids (any shape, int32)."""
    return (card // NUM_SUITS) % NUM_RANKS


def color(card: Array) -> Array:
    """Colour index in {0, 1} of card ids (any shape, int32)."""
    return card % NUM_COLORS


def attribute(card: Array, kind: str) -> Array:
    """``colors`` / ``suits`` / ``ranks`` index of card ids (any shape)."""
    if kind == "colors":
        return color(card)
    if kind == "suits":
        return suit(card)
    if kind == "ranks":
        return rank(card)
    raise ValueError(f"unknown card attribute {kind!r}; valid: {sorted(NUM_VALUES)}")
