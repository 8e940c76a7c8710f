"""Learning curves: the greedy evaluations are read from the rows that hold one, and drawn beside the returns."""

import numpy as np

from ssmrl.plotting import eval_points, plot_runs, read_metrics

CSV = """update,env_steps,episode_return,return_seed0,return_seed1,eval_return
1,128,,,,
2,256,-0.5,-0.4,-0.6,-0.25
3,384,0.1,0.2,0.0,
4,512,0.3,0.3,0.3,0.75
"""


def test_eval_points_keep_only_rows_with_an_evaluation(tmp_path):
    (tmp_path / "metrics.csv").write_text(CSV)
    steps, returns = eval_points(read_metrics(tmp_path))
    np.testing.assert_array_equal(steps, [256, 512])
    np.testing.assert_array_equal(returns, [-0.25, 0.75])
    assert [len(x) for x in eval_points({"env_steps": np.arange(3.0)})] == [0, 0]  # a run without evaluations


def test_plot_runs_draws_returns_and_evaluations(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    (tmp_path / "metrics.csv").write_text(CSV)
    seen = {}
    savefig = plt.Figure.savefig

    def keep(fig, path, *args, **kwargs):  # read the drawn lines before the figure is closed
        seen["lines"] = {line.get_label(): line.get_ydata() for line in fig.axes[0].lines}
        return savefig(fig, path, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", keep)
    out = plot_runs([tmp_path], tmp_path / "curve.png", labels=["s5"])
    assert out.is_file() and out.stat().st_size > 0
    lines = seen["lines"]
    # mean over the two seeds, NaN until an episode ended: (-0.4 - 0.6) / 2 = -0.5, (0.2 + 0.0) / 2 = 0.1, 0.3
    np.testing.assert_allclose(lines["s5 (2 seeds)"], [np.nan, -0.5, 0.1, 0.3])
    np.testing.assert_allclose(lines["s5, greedy evaluation"], [-0.25, 0.75])
