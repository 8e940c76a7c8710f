"""scripts/bench_dreamer.py: the S5 / GRU ratio and the random batch's layout by hand; one tiny setting through
``main`` writes a JSON record with every figure present and positive (no speed is asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from ssmrl.env import Box

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("bench_dreamer", ROOT / "scripts" / "bench_dreamer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load()


def test_s5_over_gru_only_where_both_ran():
    # T=64: 300 / 200 = 1.5; T=256: 50 / 100 = 0.5; T=1024 has no GRU record, so no ratio.
    records = [{"core": "s5", "T": 64, "wm_steps_per_s": 300.0}, {"core": "gru", "T": 64, "wm_steps_per_s": 200.0},
               {"core": "gru", "T": 256, "wm_steps_per_s": 100.0}, {"core": "s5", "T": 256, "wm_steps_per_s": 50.0},
               {"core": "lru", "T": 64, "wm_steps_per_s": 999.0}, {"core": "s5", "T": 1024, "wm_steps_per_s": 7.0}]
    assert bench.s5_gru_ratios(records) == {"64": 1.5, "256": 0.5}


def test_batch_layout():
    """Starts at t = 0 and wherever drawn; the step before a later start is terminal; previous action and reward are
    zero at starts; nothing truncated."""
    b = bench._batch(0, Box(-np.inf, np.inf, (8,)), 200, 3, 0.05)
    is_first, terminated = np.asarray(b.is_first), np.asarray(b.terminated)
    assert b.obs.shape == (200, 3, 8) and b.action.shape == (200, 3) and b.reward.shape == (200, 3)
    assert is_first[0].all() and is_first[1:].any()
    np.testing.assert_array_equal(terminated[:-1], is_first[1:])
    assert not terminated[-1].any() and not np.asarray(b.truncated).any()
    assert (np.asarray(b.action)[is_first] == 0).all() and (np.asarray(b.reward)[is_first] == 0).all()
    image = bench._batch(0, Box(0, 255, (64, 64, 3), np.uint8), 2, 1, 0.0)
    assert image.obs.dtype == np.uint8 and image.obs.shape == (2, 1, 64, 64, 3)


@pytest.mark.slow
def test_main_writes_a_record_of_positive_figures(tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = bench.main(["--cores", "gru", "--lengths", "8", "--batch", "2", "--width", "8", "--hidden", "8",
                         "--groups", "4", "--classes", "4", "--repeats", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert {"device_kind", "cpu_count", "load_average", "jax", "total_s"} <= set(result["meta"])
    assert result["s5_over_gru_wm_steps_per_s"] == {}
    (rec,) = result["results"]
    assert (rec["core"], rec["T"], rec["B"], rec["width"], rec["latent"]) == ("gru", 8, 2, 8, "4x4")
    for key in ("wm_steps_per_s", "wm_run_ms", "wm_compile_s", "imagine_states_per_s", "imagine_run_ms",
                "imagine_compile_s", "wall_s"):
        assert rec[key] > 0, key
    # The two throughputs are the same kind of figure: B x T (x horizon) over the median call time.
    assert rec["wm_steps_per_s"] == pytest.approx(8 * 2 / (rec["wm_run_ms"] / 1e3))
    assert rec["imagine_states_per_s"] == pytest.approx(8 * 2 * 15 / (rec["imagine_run_ms"] / 1e3))
    memory = rec["wm_planned_memory_bytes"]  # the CPU backend reports its plan
    assert memory["total"] == memory["temp"] + memory["argument"] + memory["output"] > 0
    assert np.isfinite(rec["wm_loss"])
    assert len(rec["load_before"]) == len(rec["load_after"]) == 3
    assert "S5 / GRU" not in capsys.readouterr().out
