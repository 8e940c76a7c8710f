"""ssmrl.benchmark.engine: planning from the units' statuses, running with failures that do not stop the grid, and
the one map from errors to exit codes."""

from __future__ import annotations

import json

import pytest

from ssmrl.benchmark.engine import (
    ABSENT,
    DONE,
    FAILED,
    INTERRUPTED,
    MARKER,
    OK,
    PARTIAL,
    TERMINATED,
    USAGE,
    UnitFailed,
    claim_out_dir,
    exit_status,
    plan,
    run_units,
    written_line,
)
from ssmrl.checkpoint import CheckpointError
from ssmrl.config import ConfigError
from ssmrl.runners.loop import Interrupted
from ssmrl.runners.signals import Terminated


class Name(str):
    """A unit: a name that is its own label."""

    @property
    def label(self):
        return str(self)


class Fake:
    """A kind whose units are :class:`Name`s; ``status`` from a dict, ``run`` appends to ``ran`` or fails on ``bad``."""

    def __init__(self, status, bad=()):
        self.statuses, self.bad, self.ran = status, bad, []

    def status(self, unit):
        if self.statuses[unit] == "other":
            raise ConfigError(f"{unit} holds a result of other settings")
        return self.statuses[unit]

    def run(self, unit):
        if unit in self.bad:
            raise UnitFailed("exit status 1: broke")
        self.ran.append(unit)
        return {"name": unit}

    def line(self, index, total, unit, record):
        return f"[{index}/{total}] {record['name']}"


def test_plan_counts_done_resuming_and_left_for_later():
    kind = Fake({"a": DONE, "b": PARTIAL, "c": ABSENT, "d": ABSENT})
    the_plan = plan(["a", "b", "c", "d"], kind, max_units=2)
    assert the_plan.todo == ["b", "c"] and the_plan.done == 1 and the_plan.later == 1
    assert the_plan.counts() == "1 done, 2 to run (1 resuming), 1 left for later (max_cells=2)"
    assert plan(["a", "c"], kind).counts() == "1 done, 1 to run"
    assert plan(["a", "b"], kind, max_units=0).counts() == "1 done, 0 to run, 1 left for later (max_cells=0)"


def test_a_record_of_other_settings_stops_before_anything_runs():
    kind = Fake({"a": ABSENT, "b": "other"})
    with pytest.raises(ConfigError, match="b holds a result of other settings"):
        plan(["a", "b"], kind)
    assert kind.ran == []


def test_failed_units_are_reported_and_the_rest_run():
    kind = Fake({"a": ABSENT, "b": ABSENT, "c": DONE, "d": PARTIAL}, bad=("b",))
    lines, after = [], []
    outcome = run_units(plan([Name(n) for n in "abcd"], kind), kind, lines.append, after.append)
    assert lines == ["[1/3] a", "[2/3] FAILED b: exit status 1: broke", "[3/3] d"]
    assert kind.ran == ["a", "d"] and after == ["a", "d"]  # after_each only after units that finished
    assert outcome.records == {"a": {"name": "a"}, "d": {"name": "d"}}
    assert outcome.failed == [("b", "exit status 1: broke")]


def _raises(error):
    def body():
        raise error
    return body


@pytest.mark.parametrize("body, status, line", [
    (lambda: None, OK, None),
    (lambda: FAILED, FAILED, None),
    (_raises(ConfigError("tasks: 'x' is not <suite>/<name>")), USAGE,
     "config error: tasks: 'x' is not <suite>/<name>"),
    (_raises(ValueError("no score files in s/scores")), USAGE, "error: no score files in s/scores"),
    (_raises(CheckpointError("no checkpoint")), USAGE, "error: no checkpoint"),
    (_raises(PermissionError(13, "Permission denied", "out/results.csv")), USAGE,
     "error: cannot write out/results.csv: Permission denied; finished cells are kept"),
    (_raises(KeyboardInterrupt()), INTERRUPTED, "interrupted; finished cells are kept; the same command resumes"),
    (_raises(Interrupted("interrupted at update 3/8; saved up to update 2", 2)), INTERRUPTED,
     "interrupted at update 3/8; saved up to update 2; finished cells are kept; the same command resumes"),
    (_raises(Terminated("terminated (SIGTERM) during Pong seed 0; its run saved what it could")), TERMINATED,
     "terminated (SIGTERM) during Pong seed 0; its run saved what it could; finished cells are kept; the same "
     "command resumes"),
    (_raises(Interrupted("terminated (SIGTERM) at update 3/8; saved up to update 3", 3, terminated=True)),
     TERMINATED, "terminated (SIGTERM) at update 3/8; saved up to update 3; finished cells are kept; the same "
     "command resumes"),
])
def test_exit_status_maps_each_error_to_one_line(body, status, line):
    said = []
    assert exit_status(body, said.append) == status
    assert said == ([] if line is None else [line])


def test_claim_out_dir_marks_new_and_empty_folders_and_refuses_foreign_ones(tmp_path):
    claim_out_dir(tmp_path / "new", "rl", "runs/**/benchmark.json")  # absent: created and marked
    assert json.loads((tmp_path / "new" / MARKER).read_text()) == {"grid": "rl"}
    claim_out_dir(tmp_path / "new", "rl", "runs/**/benchmark.json")  # ours: fine
    with pytest.raises(ConfigError, match=r"belongs to another kind of grid \('rl', this is 'world_model'\)"):
        claim_out_dir(tmp_path / "new", "world_model", "wm/**/row.json")
    (tmp_path / "mine").mkdir()
    for name in ("a.txt", "b", "c", "d", "e", "f"):
        (tmp_path / "mine" / name).write_text("x")
    with pytest.raises(ConfigError, match=r"holds files that no rl grid wrote \(a.txt, b, c, d, e, \.\.\.\)"):
        claim_out_dir(tmp_path / "mine", "rl", "runs/**/benchmark.json")
    assert not (tmp_path / "mine" / MARKER).exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file; give a folder"):
        claim_out_dir(tmp_path / "file", "rl", "runs/**/benchmark.json")


def test_written_line_names_the_files_that_exist(tmp_path):
    assert written_line(tmp_path, ["results.md", "curves_*.png"]) == f"results: none written yet in {tmp_path}"
    for name in ("results.md", "curves_b.png", "curves_a.png"):
        (tmp_path / name).write_text("x")
    assert written_line(tmp_path, ["results.md", "results.csv", "curves_*.png"]) == (
        f"results: {tmp_path / 'results.md'} (and curves_a.png, curves_b.png)")
