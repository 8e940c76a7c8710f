"""Memory reach from the grid's files (``ssmrl.benchmark.wm_gaps``) and the summary figure, on hand-made curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssmrl.benchmark.wm_gaps import frame_errors, gap_columns, gap_curve, reach_text
from ssmrl.benchmark.wm_report import markdown, plot_summary


def test_gap_curve_pools_frames_into_equal_bins():
    # gaps 2, 4 | 6, 8 over (0, 8] in 2 bins: (0, 4] holds gaps 2, 4 (errors .1, .2), (4, 8] gaps 6, 8 (.3, .5)
    gaps = np.array([[2.0, 4.0], [6.0, 8.0], [np.nan, np.nan]])  # the last frame is not a memory frame
    errors = np.array([[0.1, 0.2], [0.3, 0.5], [9.0, 9.0]])
    gap, error = gap_curve(gaps, errors, bins=2)
    np.testing.assert_allclose(gap, [3.0, 7.0])
    np.testing.assert_allclose(error, [0.15, 0.4])
    # a bin without frames is left out: with 4 bins of width 2, (0, 2] (2, 4] (4, 6] (6, 8] all hold one gap each
    gap, error = gap_curve(np.array([[2.0, 8.0]]), np.array([[0.1, 0.5]]), bins=4)
    np.testing.assert_allclose(gap, [2.0, 8.0])
    np.testing.assert_allclose(error, [0.1, 0.5])
    assert gap_curve(np.full((2, 2), np.nan), np.ones((2, 2)))[0].size == 0


def test_gap_columns_cross_where_the_error_reaches_the_mean_frames():
    # tiles: error = 1 - accuracy. Model errors .1/.2 (gaps 2/4) and .3/.5 (gaps 6/8) -> bins (3, .15), (7, .4);
    # the mean frame's error .3 everywhere. The difference -.15 at gap 3 and +.1 at gap 7 crosses zero at
    # 3 + 4 * .15 / .25 = 5.4.
    cell = {"frame_tile_acc": 1.0 - np.array([[0.1, 0.2], [0.3, 0.5]])}
    references = {"frame_gap": np.array([[2.0, 4.0], [6.0, 8.0]]), "mean_frame_frame_tile_acc": np.full((2, 2), 0.7)}
    columns, curves = gap_columns(cell, references, bins=2)
    assert columns["crossing_gap"] == pytest.approx(5.4) and columns["gap_max"] == 8.0
    np.testing.assert_allclose(curves["model"], [0.15, 0.4])
    np.testing.assert_allclose(curves["mean_frame"], [0.3, 0.3])
    assert reach_text(columns) == "5"
    # always below the reference: its memory reaches past the largest gap
    never = {"frame_tile_acc": np.full((2, 2), 0.9)}
    columns, _ = gap_columns(never, references, bins=2)
    assert math.isinf(columns["crossing_gap"]) and reach_text(columns) == "> 8"
    # frames (MSE) are read when there are no tiles; files without per-frame scores give nothing
    np.testing.assert_array_equal(frame_errors({"frame_mse": np.ones((1, 1))}), [[1.0]])
    assert gap_columns({"mse": np.ones(2)}, references) == ({}, {}) and reach_text({}) is None


def test_reach_table_and_summary_figure(tmp_path):
    rows = [{"task": "RevisitEasy", "model": "s5", "marker": "revisited", "marked_ratio": 0.4, "crossing_gap": math.inf,
             "gap_max": 126.0},
            {"task": "RevisitEasy", "model": "gru", "marker": "revisited", "marked_ratio": 1.2, "crossing_gap": 30.2,
             "gap_max": 126.0},
            {"task": "CueRewardEasy", "model": "s5", "reward_accuracy": 0.9},
            {"task": "CueRewardEasy", "model": "gru", "reward_accuracy": 0.5}]
    text = markdown(rows, [], ["s5", "gru"], ["RevisitEasy", "CueRewardEasy"], "t")
    assert "| RevisitEasy | > 126 | 30 |" in text and "| RevisitEasy (revisited) | 0.40* | 1.20 |" in text
    path = plot_summary(rows, ["s5", "gru"], ["RevisitEasy", "CueRewardEasy"], tmp_path / "summary.png")
    assert path.stat().st_size > 0
