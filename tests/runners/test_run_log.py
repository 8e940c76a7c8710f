"""ssmrl.run_log.RunLogger on resume: the rows up to the resumed update are kept, the rest dropped, and a history
that lacks rows (a deleted or edited metrics.csv, a run with no checkpoint to resume from) is said in one line."""

from __future__ import annotations

import pytest

from ssmrl.config import LoggerConfig
from ssmrl.run_log import RunLogger

CSV_ONLY = LoggerConfig(tensorboard=False, progress=False, plot=False)


def _write_rows(run_dir, updates):
    (run_dir / "metrics.csv").write_text("update,loss\n" + "".join(f"{u},{u / 10}\n" for u in updates))


def _gap(run_dir, start_update, cfg=CSV_ONLY):
    logger = RunLogger(run_dir, cfg, start_update=start_update)
    try:
        return logger.history_gap(start_update), [int(r["update"]) for r in logger.kept_rows]
    finally:
        logger.close()


def test_whole_history_keeps_its_rows_and_says_nothing(tmp_path):
    _write_rows(tmp_path, range(1, 9))
    assert _gap(tmp_path, 6) == (None, [1, 2, 3, 4, 5, 6])
    assert (tmp_path / "metrics.csv").read_text().splitlines()[-1] == "6,0.6"  # rows after the resume dropped


@pytest.mark.parametrize("updates, start, words", [
    (None, 8, "has no rows before update 8 (deleted?); the curves start at 8 and wall_s counts only from this "
              "session"),
    ([], 8, "has no rows before update 8 (deleted?)"),  # header only
    ([1, 2, 6, 7, 8], 8, "lacks 3 of the 8 rows before this resume, from update 3 (deleted?); the curves have a gap "
                         "there"),
    ([1, 2, 3], 0, "no checkpoint to resume from, so the run starts over at update 0; the 3 rows of"),
])
def test_missing_history_is_one_warning_line(tmp_path, updates, start, words):
    if updates is not None:
        _write_rows(tmp_path, updates)
    gap, _ = _gap(tmp_path, start)
    assert gap.startswith("warning: ") and words in gap and "\n" not in gap


def test_no_warning_for_a_new_run_or_without_csv(tmp_path):
    assert _gap(tmp_path / "new", 0) == (None, [])
    _write_rows(tmp_path, [1, 2])
    assert _gap(tmp_path, 8, LoggerConfig(tensorboard=False, csv=False))[0] is None  # metrics.csv is not written
