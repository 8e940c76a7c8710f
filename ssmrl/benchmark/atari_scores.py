"""Atari 100k score data: random and human reference scores, human-normalised scores (HNS), their aggregates, and
reference aggregates of DreamerV3, STORM, IRIS and DIAMOND.

Random and human scores of the 26 games: DeepMind's dqn_zoo, ``dqn_zoo/atari_data.py``
(github.com/google-deepmind/dqn_zoo, commit 45061f4); IRIS normalises with the same numbers
(``results/data/RANDOM.json`` and ``HUMAN.json`` of github.com/eloialonso/iris). Their episodes start after 1 to 30
no-ops and are capped at 108,000 frames. ``HNS = (score - random) / (human - random)``: 0 is the random agent, 1 the
human tester.

Aggregates (:func:`aggregate_hns`) follow the rliable point estimates of IRIS's ``results/results_iris.ipynb``:
mean and median over games of each game's mean over runs, and the interquartile mean (IQM) of all (run, game)
scores pooled, the lowest and highest 25% dropped (``scipy.stats.trim_mean(x, 0.25)``).

:data:`REFERENCE_AGGREGATES` holds each method's numbers with their source; ``recomputed=True`` marks a number
computed here from the authors' released per-run scores with :func:`aggregate_hns`, where the paper's text could
not be read; a number that could be neither read nor recomputed is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# game: (random, human), from dqn_zoo/atari_data.py (keys there are snake_case ROM names: "ms_pacman", ...).
RANDOM_HUMAN: dict[str, tuple[float, float]] = {
    "Alien": (227.8, 7127.7),
    "Amidar": (5.8, 1719.5),
    "Assault": (222.4, 742.0),
    "Asterix": (210.0, 8503.3),
    "BankHeist": (14.2, 753.1),
    "BattleZone": (2360.0, 37187.5),
    "Boxing": (0.1, 12.1),
    "Breakout": (1.7, 30.5),
    "ChopperCommand": (811.0, 7387.8),
    "CrazyClimber": (10780.5, 35829.4),
    "DemonAttack": (152.1, 1971.0),
    "Freeway": (0.0, 29.6),
    "Frostbite": (65.2, 4334.7),
    "Gopher": (257.6, 2412.5),
    "Hero": (1027.0, 30826.4),
    "Jamesbond": (29.0, 302.8),
    "Kangaroo": (52.0, 3035.0),
    "Krull": (1598.0, 2665.5),
    "KungFuMaster": (258.5, 22736.3),
    "MsPacman": (307.3, 6951.6),
    "Pong": (-20.7, 14.6),
    "PrivateEye": (24.9, 69571.3),
    "Qbert": (163.9, 13455.0),
    "RoadRunner": (11.5, 7845.0),
    "Seaquest": (68.4, 42054.7),
    "UpNDown": (533.4, 11693.2),
}


def human_normalized_score(game: str, score: float | np.ndarray) -> float | np.ndarray:
    """(score - random) / (human - random) for an Atari 100k ``game``; ``score``: a raw game score, float or
    array of any shape (returned with the same shape, float64). An unknown game is a ``ValueError`` listing the 26."""
    if game not in RANDOM_HUMAN:
        raise ValueError(f"no reference scores for {game!r}; valid: {', '.join(RANDOM_HUMAN)}")
    random, human = RANDOM_HUMAN[game]
    hns = (np.asarray(score, np.float64) - random) / (human - random)
    return float(hns) if hns.ndim == 0 else hns


def aggregate_hns(scores: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """scores: game -> raw scores of each run, float [R_game] -> {"mean", "median", "iqm"} of the HNS.

    mean / median: over games of each game's mean HNS over its runs; iqm: the mean of the middle half of all
    (run, game) HNS pooled, ``floor(0.25 n)`` dropped at each end (rliable's IQM when every game has the same
    number of runs). Any subset of the 26 games; each game needs at least one run.
    """
    if not scores:
        raise ValueError("aggregate_hns needs scores of at least one game")
    per_game, pooled = [], []
    for game, runs in scores.items():
        hns = np.atleast_1d(human_normalized_score(game, np.asarray(runs, np.float64)))
        if hns.ndim != 1 or hns.size == 0:
            raise ValueError(f"{game}: scores must be a non-empty 1-D sequence of run scores, got shape {hns.shape}")
        per_game.append(hns.mean())
        pooled.append(hns)
    pooled = np.sort(np.concatenate(pooled))
    cut = int(0.25 * pooled.size)
    return {"mean": float(np.mean(per_game)), "median": float(np.median(per_game)),
            "iqm": float(pooled[cut:pooled.size - cut].mean())}


@dataclass(frozen=True)
class ReferenceAggregate:
    """One aggregate HNS of a method on Atari 100k (26 games, 100k agent steps).

    metric: "mean", "median" or "iqm"; value: the HNS (1.0 = human); source: where the number comes from;
    recomputed: computed here with :func:`aggregate_hns` from the authors' released per-run scores (not read
    from the paper).
    """

    method: str
    metric: str
    value: float
    source: str
    recomputed: bool = False


_DREAMERV3 = ("Hafner et al. 2023, Mastering Diverse Domains through World Models, arXiv:2301.04104v1, "
              "Atari 100k table, as listed in Papers with Code's 'Results from the Paper'")
_STORM = "Zhang et al., STORM, NeurIPS 2023 (arXiv:2310.09615)"
_IRIS = "Micheli et al., Transformers are Sample-Efficient World Models (IRIS), ICLR 2023 (arXiv:2209.00588)"
_IRIS_DATA = ("eloialonso/iris results/data/IRIS.json (5 runs x 26 games), the data of the paper's table and of "
              "its results/results_iris.ipynb; the same computation gives the abstract's mean 1.046")
_DIAMOND = "Alonso et al., Diffusion for World Modeling: Visual Details Matter in Atari (DIAMOND), NeurIPS 2024"
_DIAMOND_DATA = ("eloialonso/diamond results/data/DIAMOND.json (5 runs x 26 games); the same computation gives "
                 "mean 1.459, the abstract's 1.46")

# STORM's released results/storm.json (weipu-zhang/STORM) gives mean 1.222, median 0.425 and IQM 0.561 under
# aggregate_hns, not the paper's 1.267 / 0.584, so no STORM number is recomputed here.
REFERENCE_AGGREGATES: tuple[ReferenceAggregate, ...] = (
    ReferenceAggregate("DreamerV3", "mean", 1.12, _DREAMERV3),
    ReferenceAggregate("DreamerV3", "median", 0.49, _DREAMERV3),
    ReferenceAggregate("STORM", "mean", 1.267, f"{_STORM}, abstract: '126.7% mean human performance'"),
    ReferenceAggregate("STORM", "median", 0.584,
                       f"{_STORM}, Atari 100k table, as listed in Papers with Code's 'Results from the Paper'"),
    ReferenceAggregate("IRIS", "mean", 1.046, f"{_IRIS}, abstract: 'mean human normalized score of 1.046'"),
    ReferenceAggregate("IRIS", "median", 0.289, f"{_IRIS}; recomputed from {_IRIS_DATA}", recomputed=True),
    ReferenceAggregate("IRIS", "iqm", 0.501, f"{_IRIS}; recomputed from {_IRIS_DATA}", recomputed=True),
    ReferenceAggregate("DIAMOND", "mean", 1.46, f"{_DIAMOND}, abstract: 'mean human normalized score of 1.46'"),
    ReferenceAggregate("DIAMOND", "median", 0.373, f"{_DIAMOND}; recomputed from {_DIAMOND_DATA}", recomputed=True),
    ReferenceAggregate("DIAMOND", "iqm", 0.641, f"{_DIAMOND}; recomputed from {_DIAMOND_DATA}", recomputed=True),
)


def reference_aggregates(method: str | None = None) -> dict[str, dict[str, float]]:
    """method -> {metric: HNS} from :data:`REFERENCE_AGGREGATES` (only ``method`` when given: a ``ValueError``
    lists the methods if it has none)."""
    table: dict[str, dict[str, float]] = {}
    for ref in REFERENCE_AGGREGATES:
        table.setdefault(ref.method, {})[ref.metric] = ref.value
    if method is None:
        return table
    if method not in table:
        raise ValueError(f"no reference aggregates for {method!r}; valid: {', '.join(table)}")
    return {method: table[method]}
