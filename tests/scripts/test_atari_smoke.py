"""The Atari 100k smoke run of the README, as CI runs it: ``python scripts/dreamer.py env=atari100k env.task=Pong
experiment=debug`` collects from the emulators, trains, checkpoints, evaluates and summarises; a second call on
the same run directory finds it complete. (Killing and resuming a host-side run bit for bit is
tests/runners/test_host_envs_resume.py.)"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

# End-to-end: a script in a process of its own, executing long enough (emulators, 128 gradient steps) to pay for
# XLA's optimisations.
pytestmark = [pytest.mark.slow, pytest.mark.optimized]

ROOT = Path(__file__).resolve().parents[2]


def _dreamer(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "dreamer.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


def test_atari_debug_run_trains_checkpoints_evaluates_and_resumes(tmp_path):
    run_dir = tmp_path / "pong"
    proc = _dreamer("env=atari100k", "env.task=Pong", "experiment=debug", "logger.progress=false",
                    f"run_dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    # experiment=debug: 8 updates of 8 emulators x 16 agent steps.
    assert summary["complete"] and summary["updates"] == 8 and summary["env_steps"] == 1024
    assert summary["eval_metrics"]["episodes"] >= 1 and -21 <= summary["eval_return"] <= 21
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()) == ["4", "8"]
    assert sorted(p.name for p in (run_dir / "env_snapshots").iterdir()) == ["4.pkl", "8.pkl"]
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    trained = [float(r["recon_loss"]) for r in rows if float(r["grad_steps_done"]) > 0]
    assert len(trained) >= 4 and trained[-1] < trained[0]  # the world model learns the frames
    again = _dreamer(f"resume={run_dir}", cwd=tmp_path)
    assert again.returncode == 0 and "already complete" in again.stdout, again.stdout + again.stderr
