"""Atari 100k report: score files, hand-worked aggregates of human-normalised scores (HNS), the stratified bootstrap
and the Markdown/PNG report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssmrl.benchmark.atari_report import (
    RECORD_KEYS,
    ReportError,
    aggregate,
    hns_by_game,
    load_records,
    markdown_report,
    point_estimates,
    score_record,
    stratified_bootstrap,
    write_report,
)
from ssmrl.benchmark.atari_scores import aggregate_hns

# 3 games x 2 seeds, raw evaluation returns chosen so each HNS = (score - random) / (human - random) is round:
#   Freeway  (random 0,   human 29.6): 0.0, 14.8  -> HNS 0.0,  0.5  -> game mean 0.25
#   Breakout (random 1.7, human 30.5): 59.3, 88.1 -> HNS 2.0,  3.0  -> game mean 2.5   (57.6 / 28.8, 86.4 / 28.8)
#   Boxing   (random 0.1, human 12.1): 9.1, 12.1  -> HNS 0.75, 1.0  -> game mean 0.875 (9 / 12, 12 / 12)
EVAL = {"Freeway": (0.0, 14.8), "Breakout": (59.3, 88.1), "Boxing": (9.1, 12.1)}
# mean over games   = (0.25 + 2.5 + 0.875) / 3 = 3.625 / 3 = 1.2083333
# median over games = median(0.25, 0.875, 2.5) = 0.875
# IQM: pooled sorted (0, 0.5, 0.75, 1, 2, 3), n = 6, floor(0.25 * 6) = 1 dropped at each end
#      -> mean(0.5, 0.75, 1, 2) = 4.25 / 4 = 1.0625
# optimality gap: max(0, 1 - x) = (1, 0.5, 0.25, 0, 0, 0) -> 1.75 / 6 = 0.2916667
HAND = {"mean": 3.625 / 3, "median": 0.875, "iqm": 1.0625, "optimality_gap": 1.75 / 6}


def _summary(eval_return, train_return=None, env_steps=100_000):
    return {"updates": 10, "wall_s": 12.5, "eval_return": eval_return, "eval_metrics": {"episodes": 4.0,
            "episode_return": eval_return}, "train_return_last": train_return, "train_return_window": 10_000,
            "env_steps": env_steps, "complete": True}


def _records(train_return=None):
    return [score_record(game, seed, _summary(score, train_return), f"runs/{game}/seed{seed}")
            for game, scores in EVAL.items() for seed, score in enumerate(scores)]


def _write(scores_dir, records):
    for r in records:
        path = scores_dir / r["game"] / f"seed{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))


def test_score_record_from_a_summary():
    # Breakout: eval 59.3 -> HNS 2.0; train 1.7 (= random) -> HNS 0.
    record = score_record("Breakout", 3, _summary(59.3, 1.7, env_steps=99_996), "runs/Breakout/seed3")
    assert set(RECORD_KEYS) <= set(record)
    assert record["game"] == "Breakout" and record["seed"] == 3 and record["agent_steps"] == 99_996
    assert record["eval_episodes"] == 4 and record["wall_s"] == 12.5 and record["run_dir"] == "runs/Breakout/seed3"
    assert (record["random"], record["human"]) == (1.7, 30.5)
    assert record["hns_eval"] == pytest.approx(2.0) and record["hns_train"] == pytest.approx(0.0)
    assert record["train_return_last10k"] == 1.7
    empty = score_record("Pong", 0, _summary(None, None), "r")
    assert empty["eval_return"] is None and empty["hns_eval"] is None and empty["hns_train"] is None
    with pytest.raises(ValueError, match="Pitfall.*valid: Alien"):
        score_record("Pitfall", 0, _summary(1.0), "r")


def test_point_estimates_match_the_hand_calculation():
    hns, skipped = hns_by_game(_records(), "eval")
    assert list(hns) == ["Boxing", "Breakout", "Freeway"] and skipped == []  # the order of the 26 games
    np.testing.assert_allclose(hns["Breakout"], [2.0, 3.0])
    point = point_estimates(hns)
    for metric, value in HAND.items():
        assert point[metric] == pytest.approx(value, abs=1e-12), metric
    # mean, median and IQM agree with ssmrl.benchmark.atari_scores.aggregate_hns on the raw scores
    assert aggregate_hns(EVAL) == pytest.approx({k: HAND[k] for k in ("mean", "median", "iqm")})


def test_ragged_runs_hand_worked():
    # Pong 1 run (HNS 1), Breakout 3 runs (HNS 0, 0, 3): game means 1 and 1 -> mean 1, median 1;
    # pooled (0, 0, 1, 3), floor(0.25 * 4) = 1 dropped each end -> IQM mean(0, 1) = 0.5;
    # optimality gap (1, 1, 0, 0) / 4 = 0.5.
    hns = {"Pong": np.array([1.0]), "Breakout": np.array([0.0, 0.0, 3.0])}
    assert point_estimates(hns) == pytest.approx({"mean": 1.0, "median": 1.0, "iqm": 0.5, "optimality_gap": 0.5})


def test_intervals_bracket_the_point_and_reproduce_from_the_seed():
    hns, _ = hns_by_game(_records(), "eval")
    first, again = aggregate(hns, reps=200, seed=7), aggregate(hns, reps=200, seed=7)
    assert first == again
    replicates = [stratified_bootstrap(hns, reps=200, seed=s)["mean"] for s in (7, 7, 8)]
    np.testing.assert_array_equal(replicates[0], replicates[1])
    assert not np.array_equal(replicates[0], replicates[2])
    # A replicate's mean lies between all-low runs (0 + 2 + 0.75) / 3 = 0.9167 and all-high (0.5 + 3 + 1) / 3 = 1.5.
    assert 2.75 / 3 - 1e-12 <= first.low["mean"] and first.high["mean"] <= 1.5 + 1e-12
    for metric in HAND:
        assert first.low[metric] <= first.point[metric] <= first.high[metric], metric
    assert first.low["mean"] < first.high["mean"]  # two distinct runs per game: the mean does vary
    assert first.games == ("Boxing", "Breakout", "Freeway") and first.runs == 6 and first.reps == 200


def test_bootstrap_distribution_of_two_runs():
    # One game, runs with HNS 0 and 1: a replicate draws 2 runs with replacement, so its mean is 0, 0.5 or 1 with
    # probabilities 1/4, 1/2, 1/4; the 95% percentile interval (2.5th, 97.5th percentile) is [0, 1].
    boot = stratified_bootstrap({"Pong": np.array([0.0, 1.0])}, reps=2000, seed=0)["mean"]
    assert set(np.unique(boot)) == {0.0, 0.5, 1.0}
    assert np.mean(boot == 0.5) == pytest.approx(0.5, abs=0.05)
    agg = aggregate({"Pong": np.array([0.0, 1.0])}, reps=2000, seed=0)
    assert (agg.low["mean"], agg.high["mean"]) == (0.0, 1.0)


def test_bootstrap_resamples_within_each_game():
    # Game A's runs are all 0, game B's all 1: resampling runs inside each game leaves every replicate at
    # mean 0.5 (median of (0, 1) = 0.5; IQM of (0, 0, 1, 1) = 0.5; gap (1, 1, 0, 0) / 4 = 0.5). A bootstrap that
    # pooled the games' runs would move them.
    boot = stratified_bootstrap({"Pong": np.zeros(2), "Boxing": np.full(2, 1.0)}, reps=200, seed=0)
    for metric, values in boot.items():
        np.testing.assert_array_equal(values, np.full(200, 0.5), err_msg=metric)


def test_train_score_and_null_scores():
    records = _records(train_return=None)
    records[0]["train_return_last10k"] = 0.0  # Freeway seed 0 = random -> HNS 0; the other five are null
    hns, skipped = hns_by_game(records, "train")
    assert list(hns) == ["Freeway"] and len(skipped) == 5
    assert point_estimates(hns) == pytest.approx({"mean": 0.0, "median": 0.0, "iqm": 0.0, "optimality_gap": 1.0})
    with pytest.raises(ReportError, match="score='best'; valid: eval, train"):
        hns_by_game(records, "best")
    records[1]["eval_return"] = float("nan")
    with pytest.raises(ReportError, match="Freeway seed 1: eval_return=nan"):
        hns_by_game(records, "eval")


def test_markdown_table_rows_and_columns():
    records = _records()
    hns, _ = hns_by_game(records, "eval")
    text = markdown_report(records, aggregate(hns, reps=200, seed=0), hns, label="s5 Dreamer")
    assert "**3 of 26 games**, 6 runs (2 run(s) per game; agent steps per run: 100,000" in text
    assert "Missing games (23): Alien, Amidar," in text
    table = [ln for ln in text.splitlines() if ln.startswith("| ") and "Game" not in ln and "|---" not in ln]
    header, ours, *refs = table[:6]
    assert header == "| Agent | Mean | Median | IQM | Optimality gap | Source |"
    assert ours.startswith("| s5 Dreamer (3 of 26 games) | 1.208 (") and "| 0.875 (" in ours
    assert "| 1.062 (" in ours or "| 1.063 (" in ours
    assert [r.split(" |")[0] for r in refs] == ["| DreamerV3 (26 games)", "| STORM (26 games)",
                                                "| IRIS (26 games)", "| DIAMOND (26 games)"]
    assert refs[0].startswith("| DreamerV3 (26 games) | 1.120 | 0.490 | - | - | [1] |")
    assert "| 1.046 | 0.289* | 0.501* | - |" in refs[2]
    assert "[1] Hafner et al. 2023" in text
    # per game: raw mean over seeds, random, human, HNS mean
    assert "| Freeway | 2 | 7.4 | 0 | 29.6 | 0.250 |" in text
    assert "| Breakout | 2 | 73.7 | 1.7 | 30.5 | 2.500 |" in text
    records[0]["agent_steps"] = 1024  # a shortened run says so
    text = markdown_report(records, aggregate(hns, reps=20, seed=0), hns)
    assert "agent steps per run: 1,024 to 100,000, not the 100,000 of Atari 100k)" in text


def test_write_report_and_bad_score_files(tmp_path):
    with pytest.raises(ReportError, match="no score files"):
        load_records(tmp_path / "scores")
    _write(tmp_path / "scores", _records())
    text, md, png = write_report(tmp_path, reps=50)
    assert md.read_text() == text and "3 of 26 games" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "scores" / "Pong").mkdir()
    (tmp_path / "scores" / "Pong" / "copy.json").write_text((tmp_path / "scores" / "Boxing" / "seed0.json").read_text())
    with pytest.raises(ReportError, match="both hold Boxing seed 0"):
        load_records(tmp_path / "scores")
    (tmp_path / "scores" / "Pong" / "copy.json").write_text(json.dumps({"game": "Pong"}))
    with pytest.raises(ReportError, match="lacks seed, agent_steps"):
        load_records(tmp_path / "scores")
    (tmp_path / "scores" / "Pong" / "copy.json").write_text("{")
    with pytest.raises(ReportError, match="cannot be read"):
        load_records(tmp_path / "scores")
