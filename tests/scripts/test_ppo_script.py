"""scripts/ppo.py: configuration mistakes exit with status 2 and one clear line; the debug preset runs the whole
pipeline and writes every output; pointing run_dir at a finished run resumes it (nothing left to train)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end-to-end: each test runs a script in a process of its own

ROOT = Path(__file__).resolve().parents[2]


def _run(*overrides, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "ppo.py"), *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("overrides, words", [
    (["+algo.lrr=1"], ["config error", "algo.lrr", "valid keys"]),
    (["algo.num_envs=10", "algo.num_minibatches=4"], ["config error", "algo.num_minibatches=4"]),
    (["env.task=RepeatFirstEZ"], ["config error", "env.task", "RepeatFirstEasy"]),
    # a key Hydra's config lacks: the valid keys where it was looked for, not Hydra's "use +key to append"
    (["algo.nosuch=1"], ["config error: unknown key algo.nosuch; valid keys in algo: [", "'num_envs'"]),
    (["nosuchkey=1"], ["config error: unknown key nosuchkey; valid keys: [", "'algo'", "'seed'"]),
])
def test_config_errors_exit_2_without_traceback(tmp_path, overrides, words):
    proc = _run(*overrides, f"run_dir={tmp_path}")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out
    for word in words:
        assert word in " ".join(out.split()), out


@pytest.mark.optimized
def test_debug_run_writes_outputs_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    proc = _run("experiment=debug", "logger.progress=false", f"run_dir={run_dir}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("config.yaml", "metrics.csv", "learning_curve.png", "summary.json"):
        assert (run_dir / name).exists(), name
    assert list((run_dir / "tb").iterdir()) and list((run_dir / "checkpoints").iterdir())
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 1 + 8
    again = _run(f"run_dir={run_dir}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resum" in again.stdout and len((run_dir / "metrics.csv").read_text().splitlines()) == 1 + 8


def test_help_lists_the_groups_a_user_chooses():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "dreamer.py"), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    groups = proc.stdout.split("config groups (choose with group=option): ")[1].strip().split("; ")
    names = [g.split(":")[0] for g in groups]
    # the presets that dreamer.yaml selects itself (env_preset, algo_preset) and the grids' presets are not choices
    assert names == ["env", "model", "algo", "logger", "experiment"], groups
    assert "algo: dreamer" in groups and "experiment: debug" in groups
