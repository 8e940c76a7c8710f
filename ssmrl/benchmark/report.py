"""The benchmark's outputs from its rows (one dict per cell, :func:`ssmrl.benchmark.results.cell_row` plus
``algo``, ``task``, ``model`` and ``run_dir``): ``results.csv``, ``results.md`` (per algorithm a table tasks x
models of MMER +- std with each model's core-stack parameter count in the header, then a row per cell with the other
numbers), ``curves_<task>.png`` (mean return and min-max band over seeds per model against env steps),
``summary.png`` (MMER normalised per task, per model) and, for meta-RL tasks, ``trials_<task>.png`` (mean return per
trial index of the 2k-trial evaluation per model, the training horizon k marked).

Normalisation in ``summary.png``: within a task (and algorithm), ``(MMER - min) / (max - min)`` over the grid's
models, so 0 is the worst and 1 the best model on that task (0.5 for all when they tie); the bar is the mean over
tasks, the dots the tasks.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssmrl import output
from ssmrl.output import count_text, figure, number_text, save_figure
from ssmrl.plotting import plot_runs

KEY_COLUMNS = ("algo", "task", "model")


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _fixed(value: Any, digits: int) -> str:
    return number_text(value, f".{digits}f")


def write_csv(rows: Sequence[dict], path: str | Path) -> Path:
    """``results.csv``: one line per cell; the columns are algo, task, model, then the rest of the rows' keys in
    first-seen order (``run_dir`` left out); empty cells where a row lacks a column or holds NaN / inf."""
    return output.write_csv(rows, path, first=KEY_COLUMNS, drop=("run_dir",))


def _ordered(values) -> list:
    return list(dict.fromkeys(values))


def markdown(rows: Sequence[dict], title: str = "Benchmark", notes: Sequence[str] = ()) -> str:
    """``results.md``: per algorithm the MMER table (rows: tasks; columns: models, headed by the core stack's
    parameter count; cells: MMER +- std over seeds, "-" until the cell has results) and the per-cell details."""
    lines = [f"# {title}", ""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    for algo in _ordered(r["algo"] for r in rows):
        sub = [r for r in rows if r["algo"] == algo]
        tasks, models = _ordered(r["task"] for r in sub), _ordered(r["model"] for r in sub)
        by_key = {(r["task"], r["model"]): r for r in sub}
        header = []
        for m in models:
            counts = _ordered(count_text(r.get("core_params")) for r in sub if r["model"] == m)
            header.append(f"{m} ({'/'.join(counts)})")
        lines += [f"## {algo}: MMER +- std over seeds (core-stack parameters in brackets)", "",
                  "| task | " + " | ".join(header) + " |", "|---|" + "---|" * len(models)]
        for task in tasks:
            cells = []
            for m in models:
                r = by_key.get((task, m), {})
                value = r.get("mmer", float("nan"))
                cells.append("-" if not math.isfinite(value) else f"{value:.3f} +- {r.get('mmer_std', 0.0):.3f}")
            lines.append(f"| {task} | " + " | ".join(cells) + " |")
        memory = any(math.isfinite(r.get("memory_horizon", float("nan"))) for r in sub)
        trials = any("trials" in r for r in sub)
        cols = ["task", "model", "status", "seeds", "env steps", "MMER", "final", "eval", "core params",
                "agent params", "d_model", "wall s", "compile s", "steps/s"]
        cols += ["memory horizon", "state use"] if memory else []
        cols += ["return/trial 1..k", "return/trial k+1..2k"] if trials else []
        lines += ["", f"### {algo}: every cell", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in sub:
            vals = [r["task"], r["model"], r.get("status", ""), _fmt(r.get("seeds", "")),
                    count_text(r.get("env_steps")), _fixed(r.get("mmer"), 3), _fixed(r.get("final_return"), 3),
                    _fixed(r.get("eval_return"), 3), count_text(r.get("core_params")),
                    count_text(r.get("agent_params")), _fmt(r.get("d_model", "")), _fixed(r.get("wall_s"), 0),
                    _fixed(r.get("compile_s"), 1), count_text(r.get("sps"))]
            vals += [_fixed(r.get("memory_horizon"), 0), _fixed(r.get("state_use"), 2)] if memory else []
            vals += [_fixed(r.get("trial_return_seen"), 3), _fixed(r.get("trial_return_beyond"), 3)] if trials else []
            lines.append("| " + " | ".join(str(v) for v in vals) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def plot_curves(task: str, rows: Sequence[dict], path: str | Path) -> Path | None:
    """``curves_<task>.png``: one line (mean over seeds) and band (min-max) per cell of ``task`` that logged
    anything; labelled by model (and algorithm when several). None if no cell has a curve yet."""
    sub = [r for r in rows if r["task"] == task and (Path(r["run_dir"]) / "metrics.csv").is_file()
           and r.get("updates", 0)]
    if not sub:
        return None
    several = len({r["algo"] for r in sub}) > 1
    labels = [f"{r['algo']} {r['model']}" if several else r["model"] for r in sub]
    return plot_runs([r["run_dir"] for r in sub], path, labels=labels, title=task)


def normalised_mmer(rows: Sequence[dict]) -> dict[tuple[str, str], list[float]]:
    """(algo, model) -> the model's normalised MMER on each task with a finite MMER (see the module docstring)."""
    out: dict[tuple[str, str], list[float]] = {}
    for algo in _ordered(r["algo"] for r in rows):
        for task in _ordered(r["task"] for r in rows if r["algo"] == algo):
            sub = [r for r in rows if r["algo"] == algo and r["task"] == task and math.isfinite(r.get("mmer", np.nan))]
            if not sub:
                continue
            values = np.array([r["mmer"] for r in sub])
            span = values.max() - values.min()
            for r, v in zip(sub, values, strict=True):
                out.setdefault((algo, r["model"]), []).append(float((v - values.min()) / span) if span > 0 else 0.5)
    return out


def plot_summary(rows: Sequence[dict], path: str | Path) -> Path | None:
    """``summary.png``: per (algorithm,) model the mean normalised MMER over tasks (bar) and each task (dots)."""
    norm = normalised_mmer(rows)
    if not norm:
        return None
    several = len({a for a, _ in norm}) > 1
    fig = figure(max(5.0, 0.9 * len(norm) + 2), 4.0)
    ax = fig.subplots()
    for i, values in enumerate(norm.values()):
        ax.bar(i, np.mean(values), color=f"C{i % 10}", alpha=0.7)
        ax.plot(np.full(len(values), i) + np.linspace(-0.15, 0.15, len(values)), values, "k.", ms=4)
    ax.set_xticks(range(len(norm)), [f"{a}\n{m}" if several else m for a, m in norm])
    ax.set_ylim(-0.05, 1.05)
    tasks = len(_ordered(r["task"] for r in rows))
    ax.set_ylabel("MMER normalised per task (0 worst, 1 best)")
    ax.set_title(f"mean over {tasks} task{'s' if tasks > 1 else ''} (dots: tasks)")
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)


def plot_trials(task: str, entries: Sequence[tuple[str, np.ndarray, int]], path: str | Path) -> Path | None:
    """``trials_<task>.png``: per model (label, returns [S, 2k] per seed and trial, k) the mean over seeds of the
    return per trial index 1..2k with the min-max band over seeds; a dashed line after trial k, the training
    horizon. None without entries."""
    if not entries:
        return None
    fig = figure()
    ax = fig.subplots()
    k = entries[0][2]
    for label, returns, _ in entries:
        returns = np.asarray(returns, np.float64)
        index = np.arange(1, returns.shape[1] + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = np.nanmean(returns, 0), np.nanmin(returns, 0), np.nanmax(returns, 0)
        (line,) = ax.plot(index, mean, "o-", ms=3, label=label)
        if returns.shape[0] > 1:
            ax.fill_between(index, low, high, alpha=0.2, color=line.get_color(), linewidth=0)
    ax.axvline(k + 0.5, color="k", ls="--", lw=1, label=f"trained on {k} trials")
    ax.set_xlabel("trial in the meta-episode")
    ax.set_ylabel("return (greedy evaluation)")
    ax.set_title(task)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return save_figure(fig, path)
