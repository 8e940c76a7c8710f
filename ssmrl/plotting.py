"""Learning curves from ``metrics.csv``: mean episodic return over seeds against env steps, with the spread over
seeds (min to max) shaded, and the greedy evaluations (``eval_return``) as dotted markers where the run made any;
one colour per run directory."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from ssmrl.output import figure, save_figure


def read_metrics(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Columns of ``<run_dir>/metrics.csv`` as float arrays (empty cells -> NaN)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        raise FileNotFoundError(f"no metrics.csv in {run_dir}")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    to_float = lambda v: float(v) if v not in ("", None) else np.nan
    return {k: np.array([to_float(r[k]) for r in rows]) for k in rows[0]}


def seed_returns(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """Per-seed returns [num_logged, num_seeds], NaN where no episode ended."""
    cols = sorted((k for k in metrics if k.startswith("return_seed")), key=lambda k: int(k[len("return_seed"):]))
    if not cols:
        return metrics["episode_return"][:, None]
    return np.stack([metrics[k] for k in cols], axis=1)


def _fill_forward(x: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward along axis 0 (updates where no episode ended)."""
    x = x.copy()
    for i in range(1, len(x)):
        x[i] = np.where(np.isnan(x[i]), x[i - 1], x[i])
    return x


def eval_points(metrics: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(env_steps [E], eval_return [E]) of the rows that hold a greedy evaluation (empty arrays if none)."""
    values = metrics.get("eval_return")
    if values is None:
        return np.zeros(0), np.zeros(0)
    keep = np.isfinite(values)
    return metrics["env_steps"][keep], values[keep]


def plot_runs(run_dirs: list[str | Path], out_path: str | Path, labels: list[str] | None = None,
              title: str | None = None) -> Path:
    """Draw mean return (line), min-max over seeds (band) and the greedy evaluations (markers on a dotted line)
    against env steps for each run; save a PNG (parent folders created) -> its path."""
    fig = figure(7, 4.2, layout=None)
    ax = fig.subplots()
    for i, run_dir in enumerate(run_dirs):
        metrics = read_metrics(run_dir)
        if not metrics:
            continue
        returns = _fill_forward(seed_returns(metrics))
        steps = metrics["env_steps"]
        with warnings.catch_warnings():  # all-NaN rows (no episode ended yet) stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(returns, axis=1)
            low, high = np.nanmin(returns, axis=1), np.nanmax(returns, axis=1)
        label = labels[i] if labels else Path(run_dir).name
        (line,) = ax.plot(steps, mean, label=f"{label} ({returns.shape[1]} seed{'s' if returns.shape[1] > 1 else ''})")
        if returns.shape[1] > 1:
            ax.fill_between(steps, low, high, alpha=0.2, color=line.get_color(), linewidth=0)
        eval_steps, eval_returns = eval_points(metrics)
        if len(eval_steps):
            ax.plot(eval_steps, eval_returns, ":", marker="o", markersize=3, color=line.get_color(),
                    label=f"{label}, greedy evaluation")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episodic return")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, out_path)
