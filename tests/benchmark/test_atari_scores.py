"""Atari 100k reference scores, human-normalised scores and their aggregates, with hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from envs.atari import ATARI100K_GAMES
from ssmrl.benchmark.atari_scores import (
    RANDOM_HUMAN,
    REFERENCE_AGGREGATES,
    aggregate_hns,
    human_normalized_score,
    reference_aggregates,
)


def test_table_covers_the_26_games_with_human_above_random():
    assert tuple(RANDOM_HUMAN) == ATARI100K_GAMES
    assert all(human > random for random, human in RANDOM_HUMAN.values())


def test_human_normalized_score_worked_values():
    # Pong: random -20.7, human 14.6, so human - random = 35.3.
    #   score 14.6 -> 35.3 / 35.3 = 1;  score -20.7 -> 0;  score 0 -> 20.7 / 35.3 = 0.58640...
    assert human_normalized_score("Pong", 14.6) == pytest.approx(1.0)
    assert human_normalized_score("Pong", -20.7) == pytest.approx(0.0)
    assert human_normalized_score("Pong", 0.0) == pytest.approx(20.7 / 35.3)
    assert human_normalized_score("Pong", 0.0) == pytest.approx(0.5864022662889518)
    # Breakout: random 1.7, human 30.5: (16.1 - 1.7) / (30.5 - 1.7) = 14.4 / 28.8 = 0.5.
    assert human_normalized_score("Breakout", 16.1) == pytest.approx(0.5)
    # Freeway: random 0, human 29.6: 59.2 / 29.6 = 2.
    assert human_normalized_score("Freeway", 59.2) == pytest.approx(2.0)
    # Arrays keep their shape; Boxing: random 0.1, human 12.1 -> (x - 0.1) / 12.
    np.testing.assert_allclose(human_normalized_score("Boxing", np.array([[0.1, 12.1], [6.1, -5.9]])),
                               [[0.0, 1.0], [0.5, -0.5]], atol=1e-12)


def test_unknown_game_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"no reference scores for 'Pitfall'; valid: Alien, .*UpNDown"):
        human_normalized_score("Pitfall", 0.0)


def test_aggregate_worked_example():
    # Two runs of four games, chosen so each HNS is a round number (HNS = (score - random) / (human - random)):
    #   Freeway  (0, 29.6):     scores 0, 29.6     -> HNS 0.0, 1.0  -> game mean 0.5
    #   Breakout (1.7, 30.5):   scores 1.7, 59.3   -> HNS 0.0, 2.0  -> game mean 1.0
    #   Boxing   (0.1, 12.1):   scores 24.1, 36.1  -> HNS 2.0, 3.0  -> game mean 2.5
    #   Pong     (-20.7, 14.6): scores -20.7, 14.6 -> HNS 0.0, 1.0  -> game mean 0.5
    # mean over games = (0.5 + 1 + 2.5 + 0.5) / 4 = 1.125; median of (0.5, 0.5, 1, 2.5) = (0.5 + 1) / 2 = 0.75.
    # IQM: the 8 pooled HNS sorted are 0, 0, 0, 1, 1, 2, 2, 3; drop floor(0.25 * 8) = 2 at each end ->
    #   mean(0, 1, 1, 2) = 1.0.
    scores = {"Freeway": [0.0, 29.6], "Breakout": [1.7, 59.3], "Boxing": [24.1, 36.1], "Pong": [-20.7, 14.6]}
    agg = aggregate_hns(scores)
    assert agg == pytest.approx({"mean": 1.125, "median": 0.75, "iqm": 1.0})
    # One run per game: the IQM of 4 values drops 1 at each end. HNS Freeway 0, Breakout 2, Boxing 6
    # ((72.1 - 0.1) / 12), Pong 1 -> mean 9 / 4 = 2.25, median (1 + 2) / 2 = 1.5, IQM mean(1, 2) = 1.5.
    agg = aggregate_hns({"Freeway": [0.0], "Breakout": [59.3], "Boxing": [72.1], "Pong": [14.6]})
    assert agg == pytest.approx({"mean": 2.25, "median": 1.5, "iqm": 1.5})
    with pytest.raises(ValueError, match="at least one game"):
        aggregate_hns({})
    with pytest.raises(ValueError, match="Pong: scores must be a non-empty 1-D"):
        aggregate_hns({"Pong": []})


def test_reference_aggregates_name_their_sources():
    methods = {ref.method for ref in REFERENCE_AGGREGATES}
    assert methods == {"DreamerV3", "STORM", "IRIS", "DIAMOND"}
    for ref in REFERENCE_AGGREGATES:
        assert ref.metric in ("mean", "median", "iqm") and 0.0 < ref.value < 3.0 and ref.source
        assert ("recomputed" in ref.source) == ref.recomputed
    pairs = [(ref.method, ref.metric) for ref in REFERENCE_AGGREGATES]
    assert len(pairs) == len(set(pairs))  # one number per method and metric
    assert reference_aggregates("IRIS") == {"IRIS": {"mean": 1.046, "median": 0.289, "iqm": 0.501}}
    assert set(reference_aggregates()) == methods
    with pytest.raises(ValueError, match="valid: DreamerV3, STORM, IRIS, DIAMOND"):
        reference_aggregates("SimPLe")
