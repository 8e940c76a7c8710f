"""scripts/benchmark.py: mistakes exit with status 2 and one line; the smoke preset runs end to end (results table,
CSV, curves, summary plot, memory diagnostics) and a grid stopped after two cells resumes without redoing them.
The smoke grid is 5 cells (S5 and the four baselines); compiling them dominates this file's time."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end-to-end: each test runs a script in a process of its own

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["s5", "gru", "lstm", "transformer", "identity"]


def _run(*args, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, words", [
    (["preset=nope"], ["config error", "unknown preset 'nope'", "smoke", "quick", "popgym-hard", "popgym-all", "meta"]),
    (["preset=smoke", "algo.nokey=1"], ["config error", "algo.nokey", "valid keys in algo", "num_envs"]),
])
def test_mistakes_exit_2_with_one_line(tmp_path, args, words):
    proc = _run(*args, f"out_dir={tmp_path / 'out'}")
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2, out
    assert len(proc.stdout.strip().splitlines()) == 1 and "Traceback" not in out, out
    for word in words:
        assert word in out, out
    assert not (tmp_path / "out").exists()  # nothing written


def test_smoke_preset_end_to_end_and_resume(tmp_path):
    out = tmp_path / "bench"
    first = _run("preset=smoke", f"out_dir={out}", "max_cells=2")  # as if killed after the second cell
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0].startswith("plan: 5 cells") and "0 done, 2 to run, 3 left for later" in lines[0], lines[0]
    assert [line.split(":")[0] for line in lines[1:3]] == ["[1/2] ppo popgym/RepeatPreviousEasy s5",
                                                           "[2/2] ppo popgym/RepeatPreviousEasy gru"]
    cells = {m: out / "runs" / "ppo" / "popgym" / "RepeatPreviousEasy" / m for m in MODELS}
    stamps = {m: (cells[m] / f).stat().st_mtime_ns for m in MODELS[:2] for f in ("summary.json", "benchmark.json")}

    again = _run("preset=smoke", f"out_dir={out}", "diagnostics=false")  # (saves time: the first two have them)
    assert again.returncode == 0, again.stdout + again.stderr
    lines = again.stdout.strip().splitlines()
    assert "2 done, 3 to run" in lines[0] and len(lines) == 1 + 3 + 1, lines
    assert {m: (cells[m] / f).stat().st_mtime_ns for m in MODELS[:2] for f in ("summary.json", "benchmark.json")} \
        == stamps  # the finished cells were not touched

    for name in ("results.csv", "results.md", "summary.png", "curves_popgym_RepeatPreviousEasy.png"):
        assert (out / name).is_file(), name
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == MODELS and {r["status"] for r in rows} == {"ok"}
    for column in ("mmer", "mmer_std", "final_return", "eval_return", "wall_s", "compile_s", "sps", "core_params",
                   "agent_params"):
        assert all(r[column] != "" for r in rows), column
    assert all(int(r["agent_params"]) > int(r["core_params"]) > 0 for r in rows)
    for r in rows[:2]:  # memory diagnostics of the trained S5 and GRU stacks: a horizon >= 1 step, a state in use
        assert float(r["memory_horizon"]) >= 1 and float(r["state_use"]) >= 1, r
        assert (cells[r["model"]] / "memory.png").is_file()
    assert all(r["memory_horizon"] == "" for r in rows[2:])
    table = [line for line in (out / "results.md").read_text().splitlines() if line.startswith("| ")]
    assert table[0].startswith("| task | s5 (") and all(f"| {m} (" in table[0] for m in MODELS[1:]), table[0]
    assert table[1].startswith("| popgym/RepeatPreviousEasy | ") and table[1].count("+-") == 5, table[1]
