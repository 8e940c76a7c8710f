"""Atari 100k report: per-run score files, human-normalised scores (HNS), their aggregates with stratified bootstrap
confidence intervals, a Markdown table beside published agents and an interval plot.

One score file per (game, seed), written from a run's ``summary.json`` by :func:`score_record`::

    {"game": "Pong", "seed": 0, "agent_steps": 100000, "eval_return": 3.5, "eval_episodes": 10,
     "train_return_last10k": -2.0, "train_return_window": 10000, "random": -20.7, "human": 14.6,
     "hns_eval": 0.686, "hns_train": 0.530, "wall_s": 5400.0, "run_dir": "sweep/runs/Pong/seed0"}

The aggregates follow rliable (Agarwal et al., Deep RL at the Edge of the Statistical Precipice, NeurIPS 2021;
github.com/google-research/rliable, ``rliable/metrics.py``): mean and median over games of each game's mean HNS
over its runs; IQM, the mean of the middle half of all (run, game) HNS pooled (``scipy.stats.trim_mean(x, 0.25)``:
``floor(0.25 n)`` dropped at each end); optimality gap, the mean over all (run, game) of ``max(0, 1 - HNS)``.
Mean, median and IQM are those of :func:`ssmrl.benchmark.atari_scores.aggregate_hns`.

Confidence intervals: rliable's ``get_interval_estimates`` with its default ``StratifiedBootstrap`` (runs resampled
with replacement within each game, games kept) and percentile intervals (``np.percentile`` of the bootstrap
distribution, linear interpolation, as arch's ``conf_int(method="percentile")``), reimplemented here in numpy:
rliable 1.2.0 pins ``arch<8``, and arch 7.2 fails to import with pandas 3 (``deprecate_kwarg()`` changed), so
rliable cannot be imported next to this project's pandas. Unlike rliable, games may hold different numbers of runs
(a failed cell), and the bootstrap is seeded through its own ``numpy.random.Generator`` (rliable draws from the
global ``np.random`` state), so a report is reproducible from its seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssmrl.benchmark.atari_scores import RANDOM_HUMAN, REFERENCE_AGGREGATES, human_normalized_score
from ssmrl.output import figure, save_figure

SCORE_FIELDS = {"eval": "eval_return", "train": "train_return_last10k"}
METRICS = ("mean", "median", "iqm", "optimality_gap")
METRIC_TITLES = {"mean": "Mean", "median": "Median", "iqm": "IQM", "optimality_gap": "Optimality gap"}
RECORD_KEYS = ("game", "seed", "agent_steps", "eval_return", "eval_episodes", "train_return_last10k", "random",
               "human", "hns_eval", "hns_train", "wall_s", "run_dir")
NUM_GAMES = len(RANDOM_HUMAN)


class ReportError(ValueError):
    """Score files that cannot be aggregated; the message names the file or value and what would work."""


# --- score files ---------------------------------------------------------------------------------------------

def _hns_or_none(game: str, score: float | None) -> float | None:
    return None if score is None else float(human_normalized_score(game, float(score)))


def score_record(game: str, seed: int, summary: Mapping, run_dir: str | Path) -> dict:
    """The score file of one (game, seed) run from its ``summary.json`` contents ``summary`` (keys "env_steps",
    "eval_return", "eval_metrics" {"episodes", ...}, "train_return_last", "train_return_window", "wall_s")."""
    if game not in RANDOM_HUMAN:
        human_normalized_score(game, 0.0)  # raises, listing the 26 games
    random, human = RANDOM_HUMAN[game]
    eval_return, train_return = summary.get("eval_return"), summary.get("train_return_last")
    episodes = (summary.get("eval_metrics") or {}).get("episodes", 0)
    return {
        "game": game, "seed": int(seed), "agent_steps": int(summary.get("env_steps", 0)),
        "eval_return": None if eval_return is None else float(eval_return),
        "eval_episodes": int(round(float(episodes))),
        "train_return_last10k": None if train_return is None else float(train_return),
        "train_return_window": int(summary.get("train_return_window", 10_000)),
        "random": random, "human": human,
        "hns_eval": _hns_or_none(game, eval_return), "hns_train": _hns_or_none(game, train_return),
        "wall_s": float(summary.get("wall_s", 0.0)), "run_dir": str(run_dir),
    }


def load_records(scores_dir: str | Path) -> list[dict]:
    """Every score file ``<scores_dir>/**/*.json``, sorted by (game, seed). A file that is not a score file, an
    unknown game or a (game, seed) twice is a :class:`ReportError`; no file at all is one too."""
    scores_dir = Path(scores_dir)
    paths = sorted(scores_dir.rglob("*.json")) if scores_dir.is_dir() else []
    if not paths:
        raise ReportError(f"no score files (*.json) under {scores_dir}; run the sweep first")
    records, seen = [], {}
    for path in paths:
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ReportError(f"score file {path} cannot be read: {err}") from None
        missing = [k for k in RECORD_KEYS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ReportError(f"score file {path} lacks {', '.join(missing)}; expected keys: {', '.join(RECORD_KEYS)}")
        if record["game"] not in RANDOM_HUMAN:
            raise ReportError(f"score file {path}: unknown game {record['game']!r}; valid: {', '.join(RANDOM_HUMAN)}")
        key = (record["game"], record["seed"])
        if key in seen:
            raise ReportError(f"score files {seen[key]} and {path} both hold {key[0]} seed {key[1]}; remove one")
        seen[key] = path
        records.append(record)
    return sorted(records, key=lambda r: (list(RANDOM_HUMAN).index(r["game"]), r["seed"]))


def hns_by_game(records: Sequence[Mapping], score: str = "eval") -> tuple[dict[str, np.ndarray], list[Mapping]]:
    """(game -> HNS of its runs float64 [R_game] in the order of the 26 games, records left out because their
    ``score`` field is null). score: "eval" (final greedy evaluation) or "train" (training episodes of the last
    10k steps). HNS is recomputed from the raw score with
    :func:`ssmrl.benchmark.atari_scores.human_normalized_score`."""
    if score not in SCORE_FIELDS:
        raise ReportError(f"score={score!r}; valid: {', '.join(SCORE_FIELDS)}")
    field = SCORE_FIELDS[score]
    runs: dict[str, list[float]] = {}
    skipped = []
    for record in records:
        if record[field] is None:
            skipped.append(record)
            continue
        value = record[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ReportError(f"{record['game']} seed {record['seed']}: {field}={value!r} is not a finite number")
        runs.setdefault(record["game"], []).append(float(human_normalized_score(record["game"], value)))
    return {g: np.asarray(runs[g], np.float64) for g in RANDOM_HUMAN if g in runs}, skipped


# --- aggregates ----------------------------------------------------------------------------------------------

def _aggregates(per_game: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """per_game: HNS of each game float [K, R_game] (K samples, e.g. bootstrap replicates) -> metric -> [K]."""
    game_means = np.stack([runs.mean(axis=1) for runs in per_game], axis=1)  # [K, G]
    pooled = np.sort(np.concatenate(per_game, axis=1), axis=1)  # [K, N]
    cut = int(0.25 * pooled.shape[1])
    return {
        "mean": game_means.mean(axis=1),
        "median": np.median(game_means, axis=1),
        "iqm": pooled[:, cut:pooled.shape[1] - cut].mean(axis=1),
        "optimality_gap": np.maximum(0.0, 1.0 - pooled).mean(axis=1),
    }


def point_estimates(hns: Mapping[str, np.ndarray]) -> dict[str, float]:
    """hns: game -> HNS of its runs [R_game] -> {"mean", "median", "iqm", "optimality_gap"} (module docstring)."""
    if not hns or any(np.asarray(h).size == 0 for h in hns.values()):
        raise ReportError("the aggregate needs at least one game, each with at least one run")
    return {k: float(v[0]) for k, v in _aggregates([np.asarray(h, np.float64)[None] for h in hns.values()]).items()}


def stratified_bootstrap(hns: Mapping[str, np.ndarray], reps: int, seed: int) -> dict[str, np.ndarray]:
    """The bootstrap distribution of each metric, float [reps]: each replicate draws, for every game separately,
    as many runs as it has, with replacement, from its runs (rliable's ``StratifiedBootstrap``); seeded by ``seed``."""
    if reps < 1:
        raise ReportError(f"reps={reps}: the bootstrap needs at least 1 replicate")
    point_estimates(hns)  # validates
    rng = np.random.default_rng(seed)
    samples = []
    for runs in hns.values():
        runs = np.asarray(runs, np.float64)
        samples.append(runs[rng.integers(0, runs.size, size=(reps, runs.size))])  # [reps, R_game]
    return _aggregates(samples)


@dataclass(frozen=True)
class Aggregate:
    """Aggregate HNS of one agent: ``point[m]`` and its interval ``low[m]``, ``high[m]`` for m in :data:`METRICS`;
    games: the games aggregated (of the 26); runs: (run, game) scores in all; reps, seed, confidence: the bootstrap."""

    point: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    games: tuple[str, ...]
    runs: int
    reps: int
    seed: int
    confidence: float


def aggregate(hns: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0, confidence: float = 0.95) -> Aggregate:
    """Point estimates and ``confidence`` stratified bootstrap percentile intervals of the four metrics."""
    if not 0.0 < confidence < 1.0:
        raise ReportError(f"confidence={confidence}: must lie strictly between 0 and 1")
    point = point_estimates(hns)
    boot = stratified_bootstrap(hns, reps, seed)
    alpha = 100 * (1.0 - confidence) / 2
    bounds = {m: np.percentile(boot[m], [alpha, 100 - alpha]) for m in METRICS}
    return Aggregate(point=point, low={m: float(b[0]) for m, b in bounds.items()},
                     high={m: float(b[1]) for m, b in bounds.items()}, games=tuple(hns),
                     runs=int(sum(np.asarray(h).size for h in hns.values())), reps=reps, seed=seed,
                     confidence=confidence)


# --- Markdown and PNG ------------------------------------------------------------------------------------------

def _references() -> tuple[dict[str, dict[str, tuple[float, bool, int]]], list[str]]:
    """(method -> metric -> (value, recomputed, note number), notes in order)."""
    notes: list[str] = []
    table: dict[str, dict[str, tuple[float, bool, int]]] = {}
    for ref in REFERENCE_AGGREGATES:
        if ref.source not in notes:
            notes.append(ref.source)
        table.setdefault(ref.method, {})[ref.metric] = (ref.value, ref.recomputed, notes.index(ref.source) + 1)
    return table, notes


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _runs_phrase(records: Sequence[Mapping], hns: Mapping[str, np.ndarray]) -> str:
    counts = sorted({np.asarray(h).size for h in hns.values()})
    per_game = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    steps = sorted({int(r["agent_steps"]) for r in records})
    steps_text = f"{steps[0]:,}" if len(steps) == 1 else f"{steps[0]:,} to {steps[-1]:,}"
    if steps != [100_000]:
        steps_text += ", not the 100,000 of Atari 100k"
    return f"{per_game} run(s) per game; agent steps per run: {steps_text}"


def markdown_report(records: Sequence[Mapping], agg: Aggregate, hns: Mapping[str, np.ndarray], score: str = "eval",
                    label: str = "ssmrl Dreamer", skipped: Sequence[Mapping] = ()) -> str:
    """The report: what was aggregated, the aggregate table (our agent with intervals, then the published agents
    of :data:`ssmrl.benchmark.atari_scores.REFERENCE_AGGREGATES` with numbered sources) and the per-game table."""
    n = len(agg.games)
    what = ("final greedy evaluation return (mean over its episodes)" if score == "eval" else
            "mean return of the training episodes that ended in the last 10k agent steps")
    lines = [f"# Atari 100k: {label}", "",
             f"- **{n} of {NUM_GAMES} games**, {agg.runs} runs ({_runs_phrase(records, hns)}).",
             f"- Score: {what} (`--score {score}`); HNS = (score - random) / (human - random), random and human "
             "scores from DeepMind's dqn_zoo `atari_data.py`.",
             f"- Intervals: {round(100 * agg.confidence)}% stratified bootstrap percentile intervals over runs "
             f"within each game (rliable's method), {agg.reps} replicates, seed {agg.seed}."]
    missing = [g for g in RANDOM_HUMAN if g not in agg.games]
    if missing:
        lines.append(f"- Missing games ({len(missing)}): {', '.join(missing)}. Our aggregate is over the {n} games "
                     f"present; the published agents' are over all {NUM_GAMES}, so the rows are not like for like.")
    if skipped:
        cells = ", ".join(f"{r['game']} seed {r['seed']}" for r in skipped)
        lines.append(f"- Left out ({len(skipped)}, no `{SCORE_FIELDS[score]}`): {cells}.")
    refs, notes = _references()
    header = ["Agent", *(METRIC_TITLES[m] for m in METRICS), "Source"]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(METRICS) + ["---"]) + "|"]
    ours = [f"{_fmt(agg.point[m])} ({_fmt(agg.low[m])} to {_fmt(agg.high[m])})" for m in METRICS]
    lines.append(f"| {label} ({n} of {NUM_GAMES} games) | " + " | ".join(ours) + " | this report |")
    for method, values in refs.items():
        cells = [(_fmt(values[m][0]) + ("*" if values[m][1] else "")) if m in values else "-" for m in METRICS]
        sources = sorted({v[2] for v in values.values()})
        lines.append(f"| {method} ({NUM_GAMES} games) | " + " | ".join(cells) + " | "
                     + ", ".join(f"[{s}]" for s in sources) + " |")
    lines += ["", "Lower is better for the optimality gap (mean of max(0, 1 - HNS)); higher for the others. "
              "Published agents: point values only. * recomputed from the authors' released per-run scores.", ""]
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    field = SCORE_FIELDS[score]
    lines += ["", "## Per game", "", "| Game | Runs | Score (mean over runs) | Random | Human | HNS (mean over runs) |",
              "|---|---:|---:|---:|---:|---:|"]
    for game, runs in hns.items():
        raw = [float(r[field]) for r in records if r["game"] == game and r[field] is not None]
        random, human = RANDOM_HUMAN[game]
        lines.append(f"| {game} | {len(raw)} | {np.mean(raw):.1f} | {random:g} | {human:g} | "
                     f"{_fmt(float(np.mean(runs)))} |")
    return "\n".join(lines) + "\n"


def plot_aggregates(agg: Aggregate, path: str | Path, label: str = "ssmrl Dreamer") -> Path:
    """Write a PNG: one panel per metric, our point estimate with its interval bar beside the published agents'
    point values (Agg canvas, no pyplot state)."""
    refs, _ = _references()
    agents = [label, *refs]
    fig = figure(3.2 * len(METRICS), 0.45 * len(agents) + 1.4, dpi=120)
    axes = fig.subplots(1, len(METRICS), sharey=True)
    ys = np.arange(len(agents))[::-1]
    for ax, metric in zip(axes, METRICS, strict=True):
        point = agg.point[metric]
        ax.errorbar([point], [ys[0]], xerr=[[point - agg.low[metric]], [agg.high[metric] - point]], fmt="o",
                    color="C0", capsize=4, lw=2)
        for y, method in zip(ys[1:], refs, strict=True):
            if metric in refs[method]:
                ax.plot([refs[method][metric][0]], [y], "D", color="C1")
        ax.set_title(METRIC_TITLES[metric])
        ax.set_xlabel("1 - HNS, clipped at 0 (lower is better)" if metric == "optimality_gap" else "HNS")
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.7, len(agents) - 0.3)
    axes[0].set_yticks(ys, agents)
    fig.suptitle(f"Atari 100k: {len(agg.games)} of {NUM_GAMES} games, {agg.runs} runs "
                 f"({round(100 * agg.confidence)}% bootstrap CIs); published agents: 26 games, points")
    return save_figure(fig, path)


def write_report(out_dir: str | Path, score: str = "eval", reps: int = 2000, seed: int = 0,
                 label: str = "ssmrl Dreamer") -> tuple[str, Path, Path]:
    """Aggregate ``<out_dir>/scores/**/*.json`` into ``<out_dir>/aggregate.md`` and ``aggregate.png``;
    returns (Markdown text, its path, PNG path)."""
    out_dir = Path(out_dir)
    records = load_records(out_dir / "scores")
    hns, skipped = hns_by_game(records, score)
    if not hns:
        raise ReportError(f"none of the {len(records)} score files under {out_dir / 'scores'} has a "
                          f"{SCORE_FIELDS[score]}; try the other --score")
    agg = aggregate(hns, reps=reps, seed=seed)
    text = markdown_report(records, agg, hns, score=score, label=label, skipped=skipped)
    md_path = out_dir / "aggregate.md"
    md_path.write_text(text)
    return text, md_path, plot_aggregates(agg, out_dir / "aggregate.png", label=label)
