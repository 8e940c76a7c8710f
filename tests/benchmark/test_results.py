"""A cell's numbers from its run dir (MMER, final return, summary and benchmark.json fields), the report's table
and files, and the memory-diagnostics hook."""

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.benchmark.report import markdown, normalised_mmer, write_csv
from ssmrl.benchmark.results import cell_row, final_return, mmer, trailing_mean

# Two seeds, four updates; empty: no episode of that seed ended in the update.
METRICS = """update,env_steps,episodes,episode_return,return_seed0,return_seed1
1,100,1,-1.0,-1.0,
2,200,2,0.15,0.5,-0.2
3,300,1,0.8,,0.8
4,400,2,0.3,0.2,0.4
"""


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "metrics.csv").write_text(METRICS)
    (tmp_path / "summary.json").write_text(json.dumps({"eval_return": 0.25, "wall_s": 12.0, "compile_s": 3.0,
                                                       "sps": 1000.0, "complete": True}))
    (tmp_path / "benchmark.json").write_text(json.dumps({
        "status": "ok", "num_seeds": 2, "core_params": 1234, "agent_params": 2345, "d_model": 16, "n_layers": 1,
        "memory": {"memory_horizon": 7, "state_use": 2.5},
        "trials": {"train_trials": 2, "eval_trials": 4, "returns": [[1.0, 2.0, 3.0, None], [1.0, 2.0, 5.0, 4.0]]}}))
    return tmp_path


def test_mmer_from_hand_written_metrics(run_dir):
    # seed 0 logged -1.0, 0.5, 0.2 -> max 0.5; seed 1 logged -0.2, 0.8, 0.4 -> max 0.8
    # MMER = (0.5 + 0.8) / 2 = 0.65, std (ddof 0) = |0.8 - 0.5| / 2 = 0.15
    row = cell_row(run_dir)
    assert row["mmer"] == pytest.approx(0.65) and row["mmer_std"] == pytest.approx(0.15)
    # final: each seed's last ceil(3 / 10) = 1 logged value: 0.2 and 0.4 -> 0.3 +- 0.1
    assert row["final_return"] == pytest.approx(0.3) and row["final_return_std"] == pytest.approx(0.1)
    assert (row["eval_return"], row["wall_s"], row["compile_s"], row["sps"]) == (0.25, 12.0, 3.0, 1000.0)
    assert (row["core_params"], row["agent_params"], row["status"], row["updates"], row["env_steps"]) == (
        1234, 2345, "ok", 4, 400.0)
    assert (row["memory_horizon"], row["state_use"]) == (7.0, 2.5)
    # per trial over seeds: [1, 2, 4, 4] (seed 0's trial 4 did not finish) -> trials 1..2: 1.5, trials 3..4: 4
    assert (row["trials"], row["trial_return_seen"], row["trial_return_beyond"]) == (2, 1.5, 4.0)


def test_mmer_with_a_trailing_window(run_dir):
    # window 2, trailing means of the logged values: seed 0: -1, -0.25, 0.5, 0.2 -> max 0.5;
    # seed 1: -, -0.2, 0.3, 0.6 -> max 0.6. MMER = 0.55 +- 0.05
    row = cell_row(run_dir, mmer_window=2)
    assert row["mmer"] == pytest.approx(0.55) and row["mmer_std"] == pytest.approx(0.05)


def test_trailing_mean_and_seeds_without_episodes():
    x = np.array([[1.0, np.nan], [np.nan, np.nan], [3.0, np.nan], [5.0, np.nan]])
    # window 3: [1], [1], [1, 3] -> 2, [3, 5] -> 4
    np.testing.assert_allclose(trailing_mean(x, 3)[:, 0], [1.0, 1.0, 2.0, 4.0])
    mean, std, per_seed = mmer(x)
    assert (mean, std) == (5.0, 0.0) and math.isnan(per_seed[1])  # a seed that logged nothing is left out
    assert all(math.isnan(v) for v in final_return(np.full((3, 2), np.nan)))


def test_a_cell_that_never_started_is_pending(tmp_path):
    row = cell_row(tmp_path / "absent")
    assert row["status"] == "pending" and row["updates"] == 0 and math.isnan(row["mmer"])


def _rows():
    base = {"algo": "ppo", "mmer_std": 0.1, "core_params": 1000, "status": "ok"}
    cells = [("popgym/A", "s5", 0.9), ("popgym/A", "gru", 0.5), ("popgym/B", "s5", -1.0), ("popgym/B", "gru", 0.0)]
    return [{**base, "task": task, "model": model, "mmer": value} for task, model, value in cells]


def test_markdown_table_has_a_row_per_task_and_a_column_per_model():
    text = markdown(_rows(), "T")
    table = [line for line in text.splitlines() if line.startswith("| popgym/") and "+-" in line]
    assert text.splitlines()[0] == "# T"
    assert "| task | s5 (1000) | gru (1000) |" in text
    assert table == ["| popgym/A | 0.900 +- 0.100 | 0.500 +- 0.100 |",
                     "| popgym/B | -1.000 +- 0.100 | 0.000 +- 0.100 |"]


def test_normalised_mmer_per_task():
    # task A: s5 best (1), gru worst (0); task B: gru best, s5 worst
    assert normalised_mmer(_rows()) == {("ppo", "s5"): [1.0, 0.0], ("ppo", "gru"): [0.0, 1.0]}


def test_csv_has_one_row_per_cell(tmp_path):
    path = write_csv([{**r, "run_dir": "x", "eval_return": float("nan")} for r in _rows()], tmp_path / "r.csv")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("algo,task,model,") and "run_dir" not in lines[0] and len(lines) == 5
    assert lines[1].endswith(",")  # NaN is written as an empty cell


def test_memory_hook_on_a_memoryless_and_a_recurrent_stack():
    import jax

    from ssmrl.benchmark.results import memory_columns
    from ssmrl.core import make_stack

    xs = jax.random.normal(jax.random.PRNGKey(0), (12, 3, 8))
    for name, memoryless in (("identity", True), ("gru", False)):
        stack = make_stack(name, 8, 1)
        variables = stack.init(jax.random.PRNGKey(1), stack.initialize_carry(3), xs, jnp.zeros((12, 3), bool))
        cols = memory_columns(stack, variables, xs)
        if memoryless:  # output t depends on input t only: horizon 0; no carry: state use 0
            assert cols["memory_horizon"] == 0 and cols["state_use"] == 0
        else:
            assert cols["memory_horizon"] >= 1 and 1 <= cols["state_use"] <= 8
