"""Signs that a run went wrong, named in the algorithm's own words (:class:`ssmrl.algorithm.Health`): the first
non-finite metric of an update in the order the update computes them, and a policy whose entropy fell to zero and
stayed there (a collapse: the run goes on, with one warning line)."""

from __future__ import annotations

import math

from ssmrl.algorithm import Health

COLLAPSE_UPDATES = 5  # updates of zero entropy, after it was positive, that make a collapse
ZERO_ENTROPY = 1e-6


def first_non_finite(rows: list[dict], first_update: int, order: tuple[str, ...] = ()) -> tuple[int, str] | None:
    """(update, key) of the first non-finite value in logged rows, keys taken in ``order`` first (None means
    "nothing to report", not NaN); rows [n] of {key: float or None}, the first at update ``first_update``."""
    rank = {key: index for index, key in enumerate(order)}
    for i, row in enumerate(rows):
        for key in sorted(row, key=lambda k: rank.get(k, len(rank))):
            value = row[key]
            if value is not None and not math.isfinite(value):
                return first_update + i, key
    return None


def divergence_hint(health: Health) -> str:
    """What to try after a divergence: the algorithm's learning rates."""
    rates = " / ".join(f"algo.{key}" for key in health.lr_keys)
    return f"lower {rates or 'the learning rate'} or check the environment's rewards, then start a new run"


class CollapseWatch:
    """Counts the updates whose ``health.entropy_key`` is below :data:`ZERO_ENTROPY` after it was once above
    (an algorithm that logs 0 before it starts learning is not warned of); :meth:`see` returns the warning line
    once, at the :data:`COLLAPSE_UPDATES`-th such update in a row."""

    def __init__(self, health: Health, patience: int = COLLAPSE_UPDATES):
        self.health, self.patience = health, patience
        self.positive, self.zeros, self.since, self.warned = False, 0, 0, False

    def see(self, rows: list[dict], first_update: int) -> str | None:
        key = self.health.entropy_key
        if key is None or self.warned:
            return None
        for i, row in enumerate(rows):
            value = row.get(key)
            if value is None or not math.isfinite(value):
                continue
            if value > ZERO_ENTROPY:
                self.positive, self.zeros = True, 0
            elif self.positive:
                self.zeros += 1
                self.since = first_update + i if self.zeros == 1 else self.since
                if self.zeros == self.patience:
                    self.warned = True
                    hint = f"; try {self.health.collapse_hint}" if self.health.collapse_hint else ""
                    return (f"warning: the policy collapsed: {key} has been 0 since update {self.since} (every action "
                            f"the same){hint}; the run goes on")
        return None
