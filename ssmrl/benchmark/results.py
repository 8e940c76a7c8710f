"""A cell's numbers, read back from its run directory: MMER, final return, evaluation, timing, parameter counts,
per-trial meta-RL returns and the memory-diagnostics columns.

**MMER** (max-mean episodic return, the measure of POPGym: Morad et al., "POPGym: Benchmarking Partially
Observable Reinforcement Learning", ICLR 2023): for each seed, the mean return of the episodes that ended in each
training update (``metrics.csv``'s ``return_seed<i>``; an update where no episode of that seed ended is skipped),
its maximum over training; then the mean and the standard deviation (population, ``ddof=0``) over seeds. POPGym
takes the mean per epoch (one batch of collected steps); here the batch is one update (``algo.num_envs x
algo.num_steps`` env steps). ``mmer_window`` > 1 smooths first: each update's value becomes the mean of the
logged values of the last ``mmer_window`` updates (a trailing window; updates without an episode are skipped), which
keeps a single lucky update with few episodes from setting the maximum. The default window is 1 (no smoothing).

**Final return**: per seed, the mean of its last ``ceil(U / 10)`` logged values (U = updates with an episode of
that seed), then mean and standard deviation over seeds.

The cell's other numbers come from the run layer's ``summary.json`` (greedy evaluation return, wall and compile
seconds, steps/s) and from the grid's ``benchmark.json`` (parameter counts, status, meta-RL trial returns, memory
diagnostics).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ssmrl.output import read_json
from ssmrl.plotting import read_metrics, seed_returns

CELL_FILE = "benchmark.json"
MEMORY_COLUMNS = ("memory_horizon", "state_use")
NAN = float("nan")


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """[U, S] -> [U, S]: the mean of the finite values among rows u - window + 1 .. u (NaN if none)."""
    if window < 1:
        raise ValueError(f"mmer_window must be >= 1, got {window}")
    if window == 1:
        return x.copy()
    finite = np.isfinite(x)
    values = np.cumsum(np.where(finite, x, 0.0), axis=0)
    counts = np.cumsum(finite, axis=0)
    shift = lambda a: np.concatenate([np.zeros((window,) + a.shape[1:], a.dtype), a[:-window]])[: len(a)]
    total, count = values - shift(values), counts - shift(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def mmer(returns: np.ndarray, window: int = 1) -> tuple[float, float, np.ndarray]:
    """(mean over seeds, std over seeds, per-seed MMER [S]) of per-update returns [U, S] (NaN: no episode ended);
    a seed that logged nothing is NaN and left out of the mean and std (both NaN if every seed is)."""
    returns = np.asarray(returns, np.float64)
    if returns.ndim != 2:
        raise ValueError(f"returns must be [updates, seeds], got shape {returns.shape}")
    smooth = trailing_mean(returns, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN seeds
        per_seed = np.nanmax(smooth, axis=0) if len(smooth) else np.full(returns.shape[1], np.nan)
    return (*_mean_std(per_seed), per_seed)


def final_return(returns: np.ndarray, fraction: float = 0.1) -> tuple[float, float]:
    """(mean, std) over seeds of each seed's mean over its last ``ceil(fraction * U)`` logged values."""
    per_seed = []
    for column in np.asarray(returns, np.float64).T:
        logged = column[np.isfinite(column)]
        per_seed.append(logged[-math.ceil(fraction * len(logged)):].mean() if len(logged) else np.nan)
    return _mean_std(np.asarray(per_seed))


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    return (float(finite.mean()), float(finite.std())) if len(finite) else (NAN, NAN)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else NAN


def cell_row(run_dir: str | Path, mmer_window: int = 1) -> dict[str, Any]:
    """One results row for the cell in ``run_dir``: status, seeds, updates, env_steps, mmer, mmer_std,
    final_return, final_return_std, eval_return, wall_s, compile_s, sps, core_params, agent_params, d_model,
    n_layers, the memory columns and, for meta-RL cells, trials (k), trial_return_seen (mean return per trial over
    trials 1..k of the 2k-trial evaluation) and trial_return_beyond (over trials k+1..2k). Missing values are NaN;
    status is "pending" for a cell that has not started."""
    run_dir = Path(run_dir)
    cell = read_json(run_dir / CELL_FILE)
    summary = read_json(run_dir / "summary.json")
    row: dict[str, Any] = {"status": cell.get("status", "pending")}
    try:
        metrics = read_metrics(run_dir)
    except FileNotFoundError:
        metrics = {}
    returns = seed_returns(metrics) if metrics else np.zeros((0, 1))
    row["seeds"] = cell.get("num_seeds", returns.shape[1] if metrics else NAN)
    row["updates"] = len(returns) if metrics else 0
    row["env_steps"] = float(metrics["env_steps"][-1]) if metrics else 0.0
    row["mmer"], row["mmer_std"], _ = mmer(returns, mmer_window) if metrics else (NAN, NAN, None)
    row["final_return"], row["final_return_std"] = final_return(returns) if metrics else (NAN, NAN)
    for key in ("eval_return", "wall_s", "compile_s", "sps"):
        row[key] = _number(summary.get(key))
    for key in ("core_params", "agent_params", "d_model", "n_layers"):
        row[key] = cell.get(key, NAN)
    memory = cell.get("memory") or {}
    for key in MEMORY_COLUMNS:
        row[key] = _number(memory.get(key))
    if memory.get("error"):
        row["memory_error"] = str(memory["error"])
    trials = cell.get("trials")
    if trials:
        per_trial = np.nanmean(np.asarray(trials["returns"], np.float64), axis=0)  # [2k]
        k = int(trials["train_trials"])
        row["trials"] = k
        row["trial_return_seen"], row["trial_return_beyond"] = float(per_trial[:k].mean()), float(per_trial[k:].mean())
    return row


def memory_columns(stack: Any, variables: Any, xs: Any, png_path: str | Path | None = None,
                   title: str | None = None) -> dict[str, float]:
    """HOOK for the memory diagnostics (``ssmrl.diagnostics``): the trained core stack of a cell (``stack``, the
    module; ``variables``, its ``{"params": ...}``) on the core inputs of real episodes ``xs`` [T, B, H] (one
    episode start per column, at t = 0) -> the columns ``memory_horizon`` (steps back until the Jacobian norm of the
    last output falls below 1% of its peak, through the parallel form; ``ssmrl.diagnostics.horizon``) and
    ``state_use`` (participation ratio of the carry covariance: the effective dimension of the state;
    ``ssmrl.diagnostics.state_use``), plus the rest of ``ssmrl.diagnostics.results_row`` prefixed ``memory_``;
    draws the four-panel PNG to ``png_path`` when given."""
    from ssmrl.diagnostics import diagnose, plot_diagnostics, results_row

    diag = diagnose(stack, variables, xs)
    if png_path is not None:
        plot_diagnostics(diag, png_path, title)
    row = results_row(diag)
    out = {"memory_horizon": float(row.pop("memory_horizon")), "state_use": float(row.pop("state_use"))}
    out.update({k if k.startswith("memory_") else f"memory_{k}": float(v) for k, v in row.items()})
    return out
