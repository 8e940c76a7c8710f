"""Difficulty selection shared by the POPGym families: one checked lookup from a name to its settings."""

from __future__ import annotations

from typing import Any

DIFFICULTIES = ("easy", "medium", "hard")


def pick_difficulty(family: str, difficulty: str, table: dict[str, Any]) -> Any:
    """Return ``table[difficulty]``; a name outside ``{"easy", "medium", "hard"}`` is a ``ValueError``.

    family: the family's name, only used in the error message.
    """
    if difficulty not in table:
        raise ValueError(f"{family}: unknown difficulty {difficulty!r}; valid values are {list(table)}")
    return table[difficulty]
