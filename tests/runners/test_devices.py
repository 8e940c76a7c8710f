"""Many devices: with 4 simulated CPU devices (a subprocess, since XLA fixes the device count at start-up) the fused
runner splits 4 seeds over the 4 devices, or one seed's environments, and the numbers equal a one-device run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # end-to-end: whole runs in a process with 4 simulated devices

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("devices") / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(HERE / "sharded_run.py"), str(out)], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def _columns(rows, skip=()):
    return {k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows]) for k in rows[0]
            if k not in skip}


def _same_numbers(run):
    """Episode statistics agree exactly; losses and parameters to float32 rounding: XLA vectorises a program over
    1 seed (or 2 environments) per device differently from one over 4 seeds (8 environments), which changes the
    order of float32 sums (measured: at most 1.2e-7 in any parameter after 3 updates)."""
    many, one = _columns(run["rows_many"]), _columns(run["rows_one"])
    assert many.keys() == one.keys()
    for key in one:
        if key.startswith(("episode", "return_seed", "env_steps", "update")):
            np.testing.assert_array_equal(many[key], one[key], err_msg=key)
        else:
            np.testing.assert_allclose(many[key], one[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert run["max_param_diff"] < 1e-5


def test_four_seeds_are_split_over_four_devices_with_the_same_numbers(report):
    assert report["device_count"] == 4
    seeds = report["seeds"]
    assert seeds["params_devices"] == [4] and seeds["acting_devices"] == [4]  # every leaf spans the 4 devices
    assert seeds["acting_spec"].startswith("P('batch'")          # ... split along the seed axis
    assert seeds["one_device"] == [1]
    _same_numbers(seeds)
    assert seeds["eval_many"] == seeds["eval_one"] and seeds["eval_one"] == seeds["eval_one"]  # finite


def test_one_seed_splits_its_environments(report):
    envs = report["envs"]
    assert envs["acting_devices"] == [4] and envs["acting_spec"].startswith("P(None, 'batch'")
    assert envs["params_devices"] == [4]  # replicated on every device
    _same_numbers(envs)
