"""The world-model grid's report, from the files its cells and sweeps left (``ssmrl.benchmark.wm_grid``):

* ``wm_results.csv``: one row per finished cell (:func:`table_row` plus the grid's columns, then
  the task's references: ``ref_<name>_mse`` and ``ref_<name>_marked_mse``, name ``mean_frame`` / ``last_frame``;
  tiles, ``obs_mode=tiles``: also ``ref_<name>_<metric>`` / ``ref_<name>_marked_<metric>`` of xent and tile_acc);
  then ``ratio_<kind>`` for each memory-frame kind of :data:`MEMORY_KINDS`: the marked frames' error over the
  mean frame's there (MSE; tiles: the tile error rate), ``ssmrl.world_model.memory_scores.error_ratio``, empty but
  for the task's own kind);
  ``wm_speed.csv``: one row per model and sweep length T; in both an empty cell where a value is missing or not
  finite (``ssmrl.output.write_csv``);
* ``wm_results.md``: tables tasks x models of the MSE over all imagined frames, the MSE on the task's marked frames
  (both followed by the two reference predictors of ``ssmrl.world_model.references``, "mean frame" and "last frame",
  from each task's ``references.json``), the marked frames' error ratio to the mean frame (starred where it
  "remembers": at most ``REMEMBERS_RATIO``), with tiles the tile accuracy (all and marked frames) and the
  cross-entropy (with the references too), the reward accuracy (tasks with rewards: CueReward), the step of the
  best validation check and why training stopped (budget / plateau), training steps/s,
  imagination steps/s and XLA's planned memory of a training step; then the sweep (models x T);
* ``wm_mse_<task>.png``: MSE vs imagination horizon, one line per model (dashed: over the marked frames), the
  references' curves over all imagined frames as dashed grey lines;
  ``wm_strip_<task>.png``: the true frames of the first held-out episode above, each model's imagination below;
  ``wm_val_<task>.png`` (cells with validation): the validation loss against the training step, one line per
  model, its best check circled;
  ``wm_speed.png``: training steps/s, imagination steps/s and planned MB against T, one line per model;
  ``wm_gap_<task>.png`` (tasks with memory frames and per-frame scores): the error on the memory frames against the
  gap, one line per model, the mean frame's dashed (:mod:`ssmrl.benchmark.wm_gaps`, whose ``crossing_gap`` and
  ``gap_max`` columns the csv and the reach table carry); ``wm_summary.png``: models x tasks, the memory ratio
  (and CueReward's reward accuracy), the README's picture. The tables also carry the memory diagnostics of each
  trained core (``memory_horizon``, ``state_use``; the csv every ``memory_*`` column).

Host-side numpy and matplotlib (Agg) only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssmrl.benchmark.wm_gaps import gap_columns, plot_gaps, reach_text
from ssmrl.output import count_text, figure, number_text, read_json, save_figure, slug, write_csv
from ssmrl.world_model.memory_scores import REMEMBERS_RATIO, error_ratio, remembers
from ssmrl.world_model.openloop import OpenLoopResult
from ssmrl.world_model.references import LABELS, REFERENCES
from ssmrl.xla_memory import planned_mb

ROW_FILE, CURVES_FILE, STRIP_FILE, SPEED_FILE = "row.json", "curves.npz", "strip.npz", "speed.json"
# a task's reference predictors, in its folder <out_dir>/wm/<task>/ (next to its models' cell folders)
REFERENCE_FILE, REFERENCE_CURVES_FILE = "references.json", "references.npz"
# the tables that get the references' columns (their value: the key of the references' summary; marked_<metric>:
# <metric>_<marker>)
REFERENCE_TABLES = ("mse", "marked_mse", "tile_acc", "marked_tile_acc", "xent")
# the kinds of memory frames (openloop.marker_frames' names): a csv column ratio_<kind> each
MEMORY_KINDS = ("revisited", "recalled", "changed")
# (column, title, number format) of the tables tasks x models in wm_results.md
TABLES = (
    ("mse", "MSE of the imagined frames (per pixel, frames in [0, 1]; mean over all imagined frames)", ".4f"),
    ("marked_mse", "MSE on the marked frames (the task's memory test: revisited / recalled / changed)", ".4f"),
    ("marked_ratio", "Memory: error on the marked frames / the mean frame's there (frames: MSE; tiles: the tile "
     f"error rate, 1 - accuracy; below 1: remembers something; * at most {REMEMBERS_RATIO}: remembers)", "ratio"),
    ("crossing_gap", "Memory reach: the gap (steps between the last sight of what a memory frame shows and the "
     "frame) at which the error on the memory frames reaches the mean frame's (> N: not within the measured gaps "
     "up to N; wm_gap_<task>.png)", "text"),
    ("tile_acc", "Tile accuracy of the imagined frames (tiles: fraction of cells whose most likely tile is right)",
     ".3f"),
    ("marked_tile_acc", "Tile accuracy on the marked frames (tiles: revisited / recalled / changed)", ".3f"),
    ("xent", "Cross-entropy of the true tiles (tiles: nats per cell, mean over all imagined frames)", ".3f"),
    ("reward_accuracy", "Reward prediction over the imagined steps (balanced accuracy; 0.5 is chance)", ".3f"),
    ("best_step", "Training: the step of the best validation check, whose parameters are evaluated, of the steps "
     "taken (budget: the steps ran out; plateau: patience checks without a lower validation loss)", "text"),
    ("train_steps_per_s", "Training: replayed steps per second (L x B per step; the cell's own batch)", "count"),
    ("imagine_steps_per_s", "Imagination: imagined steps per second (B x K per rollout, first evaluation chunk)",
     "count"),
    ("train_planned_mb", "Planned memory of a training step (MB; XLA's buffer plan, not a measured peak)", ".1f"),
    ("memory_horizon", "Memory diagnostics of the trained core: horizon (steps back until the Jacobian of the last "
     "output falls below 1% of its peak, held-out episodes; ssmrl.diagnostics)", ".0f"),
    ("state_use", "Memory diagnostics of the trained core: state use (participation ratio of the state covariance, "
     "the effective number of state dimensions in use)", ".1f"),
)


def _read(path: Path) -> dict:
    """The JSON object in ``path`` if it says ``"status": "ok"`` (a finished cell, sweep or reference), else {}."""
    return record if (record := read_json(path)).get("status") == "ok" else {}


def _cell(value: Any, fmt: str) -> str:
    """A table cell: fmt "count" (:func:`count_text`), "text" (as it is), "ratio" (2 decimals, starred where it
    :func:`remembers`) or a number format."""
    if fmt == "ratio":
        return number_text(value, ".2f") + ("*" if number_text(value) != "-" and remembers(value) else "")
    if fmt == "text":
        return "-" if value is None else str(value)
    return count_text(value) if fmt == "count" else number_text(value, fmt)


def _table_value(row: dict, column: str) -> Any:
    """A row's value in the table of ``column``; ``best_step``: "<best step> of <steps taken> (<stop reason>)"."""
    if column == "crossing_gap":
        return reach_text(row)
    if column == "best_step" and "best_step" in row:
        return f"{row['best_step']} of {row.get('train_steps', '?')} ({row.get('stop_reason', '?')})"
    return row.get(column)


def cell_rows(cells: Sequence[Any]) -> list[dict]:
    """The rows of the finished cells (objects with task, model, dir), task and model first, plus ``cell_dir``."""
    out = []
    for cell in cells:
        row = _read(cell.dir / ROW_FILE).get("row")
        if row:
            out.append({"task": cell.task, "model": cell.model, **row, "cell_dir": str(cell.dir)})
    return out


def reference_records(cells: Sequence[Any]) -> dict[str, dict]:
    """The tasks' finished references (``references.json`` in the folder of each task's cells): {task: {"context",
    "horizon", "marker", "summary": {name: {"mse", "mse_<marker>"}}, ...}}."""
    out = {}
    for cell in cells:
        if cell.task not in out:
            record = _read(Path(cell.dir).parent / REFERENCE_FILE)
            if record:
                out[cell.task] = record
    return out


def reference_columns(record: dict) -> dict[str, float]:
    """A task's references as the csv's columns: ``ref_<name>_mse`` and ``ref_<name>_marked_mse`` (NaN: no
    marker); tiles: also ``ref_<name>_<metric>`` and ``ref_<name>_marked_<metric>`` for xent and tile_acc."""
    summary, marker = record.get("summary") or {}, record.get("marker") or ""
    out = {}
    for name in REFERENCES:
        values = summary.get(name) or {}
        for metric in ("mse", *(m for m in ("xent", "tile_acc") if m in values)):
            out[f"ref_{name}_{metric}"] = values.get(metric, math.nan)
            out[f"ref_{name}_marked_{metric}"] = values.get(f"{metric}_{marker}", math.nan) if marker else math.nan
    return out


def memory_ratio_columns(row: dict, record: dict) -> dict[str, float]:
    """A row's error ratio to its task's mean-frame reference on the marked frames (``record``: the task's
    references, :func:`reference_records`): ``marked_ratio`` (:func:`~ssmrl.world_model.memory_scores.error_ratio`
    of the row's error on the marked frames to the mean frame's) and ``ratio_<kind>`` for each of
    :data:`MEMORY_KINDS` (the ratio for the row's own marker, NaN for the others); {} for a task without a marker
    (CueReward). The error: the MSE for frames; for tiles (rows with ``marked_tile_acc``) the tile error rate
    ``1 - tile accuracy``, which asks what the memory question asks (which tile is where). Their MSE, the Brier
    score of the predicted tile probabilities, also charges confidence, and a model that remembers most tiles but
    is sure of its wrong ones scores little better than the mean frame's spread-out frequencies."""
    marker = row.get("marker") or ""
    if not marker:
        return {}
    mean_frame = (record.get("summary") or {}).get("mean_frame") or {}
    if "marked_tile_acc" in row:
        ratio = error_ratio(1.0 - row["marked_tile_acc"], 1.0 - mean_frame.get(f"tile_acc_{marker}", math.nan))
    else:
        ratio = error_ratio(row.get("marked_mse", math.nan), mean_frame.get(f"mse_{marker}", math.nan))
    return {"marked_ratio": ratio, **{f"ratio_{kind}": ratio if kind == marker else math.nan
                                      for kind in MEMORY_KINDS}}


def speed_records(speeds: Sequence[Any]) -> list[dict]:
    """The finished sweeps' records ({model, points: [{T, B, train_steps_per_s, ...}]})."""
    return [r for r in (_read(s.dir / SPEED_FILE) for s in speeds) if r]


def markdown(rows: Sequence[dict], speeds: Sequence[dict], models: Sequence[str], tasks: Sequence[str],
             title: str, notes: Sequence[str] = (), references: dict[str, dict] | None = None) -> str:
    """The tables of :data:`TABLES` (rows tasks, columns models; a table appears when any cell has its column;
    the marked-frames and reward tables keep only the tasks that have them), then the sweep (rows models,
    columns T: "train / imagine steps/s, planned MB"). With ``references`` ({task: record of
    :func:`reference_records`}), the tables of :data:`REFERENCE_TABLES` (MSE; tiles: accuracy, cross-entropy)
    end with a column per reference predictor ("mean frame", "last frame"; "-" for a task without one)."""
    by = {(r["task"], r["model"]): r for r in rows}
    references = references or {}
    params = {m: next((r["wm_params"] for r in rows if r["model"] == m and "wm_params" in r), None) for m in models}
    names = [f"{m} ({count_text(params[m])})" if params[m] else m for m in models]
    lines = [f"# {title}", ""] + [f"- {n}" for n in notes] + [""]
    for column, text, fmt in TABLES:
        present = [t for t in tasks if any(column in by.get((t, m), {}) for m in models)]
        if column.startswith("marked_"):
            present = [t for t in present if any(by.get((t, m), {}).get("marker") for m in models)]
        if not present:
            continue
        refs = list(REFERENCES) if references and column in REFERENCE_TABLES else []
        heads = names + [LABELS[name] for name in refs]
        lines += [f"## {text}", "", "| task | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
        for task in present:
            marker = next((by[(task, m)].get("marker") for m in models if (task, m) in by), "")
            label = f"{task} ({marker})" if column.startswith("marked_") and marker else task
            key = f"{column.removeprefix('marked_')}_{marker}" if column.startswith("marked_") else column
            summary = (references.get(task) or {}).get("summary") or {}
            values = [_table_value(by.get((task, m), {}), column) for m in models]
            values += [(summary.get(name) or {}).get(key) for name in refs]
            lines.append(f"| {label} | " + " | ".join(_cell(v, fmt) for v in values) + " |")
        lines.append("")
    if speeds:
        lengths = sorted({p["T"] for r in speeds for p in r["points"]})
        batch = sorted({p["B"] for r in speeds for p in r["points"]})
        lines += [f"## Throughput vs T (B={'/'.join(map(str, batch))}): training / imagination steps per second, "
                  "planned MB of a training step", "", "| model | " + " | ".join(f"T={t}" for t in lengths) + " |",
                  "|---" * (len(lengths) + 1) + "|"]
        for record in speeds:
            points = {p["T"]: p for p in record["points"]}
            text = lambda p: "error" if "error" in p else (
                f"{_cell(p.get('train_steps_per_s'), 'count')} / {_cell(p.get('imagine_steps_per_s'), 'count')}, "
                f"{_cell(p.get('train_planned_mb'), '.0f')} MB")
            lines.append(f"| {record['model']} | " + " | ".join(text(points[t]) if t in points else "-"
                                                                for t in lengths) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_speed(records: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Three panels against T (log scales): training steps/s, imagination steps/s (K = T), planned MB of a
    training step; one line per model (points that failed are left out). Saves a PNG -> the path."""
    panels = (("train_steps_per_s", "training steps/s (T x B per step)"),
              ("imagine_steps_per_s", "imagination steps/s (K = T)"),
              ("train_planned_mb", "planned MB, training step"))
    fig = figure(13, 4, layout=None)
    axes = fig.subplots(1, 3)
    for i, record in enumerate(records):
        for ax, (key, _) in zip(axes, panels, strict=True):
            points = [(p["T"], p[key]) for p in record["points"] if math.isfinite(p.get(key, math.nan))]
            if points:
                x, y = zip(*points, strict=True)
                ax.plot(x, y, marker="o", color=f"C{i % 10}", label=record["model"])
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def _load(path: Path) -> dict:
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError):
        return {}


def plot_task(task: str, cells: Sequence[Any], out_dir: Path) -> None:
    """``wm_mse_<task>.png`` (with the task's references, if computed) and ``wm_strip_<task>.png`` from the task's
    finished cells (none: no files)."""
    curves, marked, preds, truth, steps, context, checks = {}, {}, {}, None, None, None, {}
    for cell in cells:
        record = _read(cell.dir / ROW_FILE)
        if not record:
            continue
        if record.get("validation"):
            checks[cell.model] = record["validation"]
        arrays, strip = _load(cell.dir / CURVES_FILE), _load(cell.dir / STRIP_FILE)
        if "mse" in arrays:
            curves[cell.model] = arrays["mse"]
            names = [k for k in arrays if k.startswith("marked_")]
            if names:
                marked[cell.model] = arrays[names[0]]
        if "pred" in strip:
            preds[cell.model], truth, steps = strip["pred"], strip["truth"], strip["steps"]
        context = record["row"].get("context")
    references = {}
    if cells and _read(Path(cells[0].dir).parent / REFERENCE_FILE):
        arrays = _load(Path(cells[0].dir).parent / REFERENCE_CURVES_FILE)
        references = {LABELS[name]: arrays[f"{name}_mse"] for name in REFERENCES if f"{name}_mse" in arrays}
    if curves:
        plot_mse_curves(curves, out_dir / f"wm_mse_{slug(task)}.png", f"{task}: open-loop MSE", marked or None,
                        context, references=references or None)
    if preds:
        plot_frame_rows({"truth": truth, **preds}, steps, out_dir / f"wm_strip_{slug(task)}.png",
                        f"{task}: truth (top) and imagination after {context} observed steps")
    if checks:
        plot_validation(checks, out_dir / f"wm_val_{slug(task)}.png", f"{task}: validation loss")


def plot_validation(checks: dict[str, dict], path: str | Path, title: str = "") -> Path:
    """The validation loss against the training step, one line per model (``checks``: {model: a row.json's
    ``validation``, {"step": [C], "loss": [C], ...}}), the best check (the first lowest loss) circled; log y.
    Saves a PNG -> the path."""
    fig = figure(7, 4.2, layout=None)
    ax = fig.subplots()
    for i, (model, check) in enumerate(checks.items()):
        step, loss = np.asarray(check["step"]), np.asarray(check["loss"], np.float64)
        colour = f"C{i % 10}"
        ax.plot(step, loss, color=colour, marker=".", label=model)
        finite = np.isfinite(loss)
        if finite.any():
            best = int(np.flatnonzero(finite)[np.argmin(loss[finite])])
            ax.plot(step[best], loss[best], marker="o", markersize=10, fillstyle="none", color=colour)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss (world-model loss, held-out episodes)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def _budget(settings: Any) -> str:
    """The training steps of the notes: "N steps", "up to N steps" where training may stop early."""
    early = getattr(settings, "val_episodes", 0) and getattr(settings, "patience", 0)
    return ("up to " if early else "") + f"{settings.train_steps} steps"


def _training_set(settings: Any) -> str:
    """The training episodes of the notes: "N", "N (+ V held out for validation)"."""
    held = getattr(settings, "val_episodes", 0)
    return f"{settings.train_episodes - held} (+ {held} held out for validation)" if held else \
        f"{settings.train_episodes}"


def write_wm_report(settings: Any, cells: Sequence[Any], speeds: Sequence[Any], plots: bool = True) -> list[dict]:
    """``wm_results.csv``, ``wm_results.md`` and ``wm_speed.csv`` in ``settings.out_dir`` (with ``plots`` the
    PNGs too); returns the cell rows."""
    out = Path(settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, records, references = cell_rows(cells), speed_records(speeds), reference_records(cells)
    rows = [{**row, **reference_columns(references[row["task"]]), **memory_ratio_columns(row, references[row["task"]])}
            if row["task"] in references else row for row in rows]
    reach = reach_curves(rows)
    rows = [{**row, **reach.get((row["task"], row["model"]), ({}, {}))[0]} for row in rows]
    write_csv(rows, out / "wm_results.csv", drop=["marked_ratio"])  # ratio_<kind> holds it
    if records:
        write_csv([{"model": r["model"], **p} for r in records for p in r["points"]], out / "wm_speed.csv")
    notes = [settings.description] if settings.description else []
    notes += [f"preset `{settings.preset}`: {len(rows)}/{len(cells)} cells finished; cell files in "
              "`wm/<task>/<model>/` (row.json, curves.npz, strip.npz)",
              f"offline world-model training: {_budget(settings)} on {_training_set(settings)} scripted "
              f"episodes per task; open-loop evaluation on {settings.eval_episodes} held-out episodes: the context "
              "observed (" + ("each task's own: the memory test is left to imagination" if settings.context is None
                              else f"{settings.context} steps") + "), the rest imagined with the true actions",
              "marked frames: revisited (Revisit), recalled (Teleport), changed (ChangeWorld); CueReward is judged "
              "on the reward"]
    if getattr(settings, "obs_mode", "pixels") == "tiles":
        notes.append("obs_mode tiles: the tasks' 7 x 7 windows of tile classes; the world model decodes per-cell "
                     "logits (cross-entropy loss); MSE is that of the predicted per-cell tile probabilities against "
                     "the one-hot tiles (mean over cells and classes); the references' tile distributions are mixed "
                     "with 1% uniform (finite cross-entropy)")
    if references:
        notes.append("references (no learning; the same held-out episodes, context and frames): \"mean frame\" "
                     "predicts every imagined frame as the per-pixel mean of the task's training episodes' frames "
                     "(all steps), \"last frame\" as the episode's own last context frame C-1 (copy-last)")
    if getattr(settings, "val_episodes", 0):
        patience = settings.patience
        notes.append(f"validation: {settings.val_episodes} of the training episodes held out; the world-model loss "
                     f"on fixed windows of them every {settings.val_every} steps; training stops after "
                     + (f"{patience} check{'s' if patience > 1 else ''} in a row without a lower validation loss or "
                        if patience else "") + f"{settings.train_steps} steps; the open-loop evaluation takes the "
                     "parameters of the best check")
    if references:
        error = "tile error rate (1 - tile accuracy)" if settings.obs_mode == "tiles" else "MSE"
        notes.append(f"memory ratio: the {error} on the marked frames over the mean frame's there (1: no better than "
                     f"the average frame; at most {REMEMBERS_RATIO}: remembers)")
    if getattr(settings, "imagine_latents", "sample") == "mode":
        notes.append("imagination: the prior's most likely latent at each step (imagine_latents=mode), not a sample")
    if any("crossing_gap" in r for r in rows):
        notes.append("memory reach: the memory frames' errors pooled by gap (the steps since what a frame shows was "
                     "last seen) into equal bins; the gap where the model's error reaches the mean frame's, "
                     "interpolated between bins (wm_gap_<task>.png)")
    notes += ["throughput on this machine's backend; planned memory is XLA's buffer plan of the compiled step"]
    title = f"World-model backbones: {settings.preset}"
    (out / "wm_results.md").write_text(markdown(rows, records, list(settings.models), list(settings.tasks), title,
                                                notes, references))
    if plots:
        for task in settings.tasks:
            plot_task(task, [c for c in cells if c.task == task], out)
        if records:
            plot_speed(records, out / "wm_speed.png", f"{settings.preset}: throughput vs T")
        tiles = getattr(settings, "obs_mode", "pixels") == "tiles"
        for task in settings.tasks:
            curves = {m: reach[(task, m)][1] for m in settings.models if (task, m) in reach}
            if curves:
                plot_gaps(curves, out / f"wm_gap_{slug(task)}.png", f"{task}: error on the memory frames vs gap",
                          tiles)
        if any(math.isfinite(r.get("marked_ratio", math.nan)) or "reward_accuracy" in r for r in rows):
            plot_summary(rows, list(settings.models), list(settings.tasks), out / "wm_summary.png",
                         f"{settings.preset}: memory of each backbone")
    return rows


def reach_curves(rows: Sequence[dict]) -> dict[tuple[str, str], tuple[dict, dict]]:
    """{(task, model): (gap columns, gap curves)} of ``wm_gaps.gap_columns`` for the rows whose cell and task
    folders hold per-frame scores and gaps."""
    out, references = {}, {}
    for row in rows:
        folder = Path(row["cell_dir"]).parent
        if folder not in references:
            references[folder] = _load(folder / REFERENCE_CURVES_FILE)
        columns, curves = gap_columns(_load(Path(row["cell_dir"]) / CURVES_FILE), references[folder])
        if columns:
            out[(row["task"], row["model"])] = (columns, curves)
    return out


def plot_summary(rows: Sequence[dict], models: Sequence[str], tasks: Sequence[str], path: str | Path,
                 title: str = "") -> Path:
    """The README's picture: a heatmap models x tasks of the memory ratio (the marked frames' error over the mean
    frame's: green below 1, red above; annotated, starred where it remembers) and, for tasks judged on the reward
    (CueReward), a second of the balanced reward accuracy (0.5: chance). Saves a PNG -> the path."""
    from matplotlib.colors import TwoSlopeNorm

    by = {(r["task"], r["model"]): r for r in rows}
    ratio_tasks = [t for t in tasks if any(math.isfinite(by.get((t, m), {}).get("marked_ratio", math.nan))
                                           for m in models)]
    reward_tasks = [t for t in tasks if t not in ratio_tasks and any("reward_accuracy" in by.get((t, m), {})
                                                                      for m in models)]
    panels = [(ratio_tasks, "marked_ratio", "memory ratio (error / mean frame's)", "RdYlGn_r",
               TwoSlopeNorm(vcenter=1.0, vmin=0.0, vmax=2.0), "ratio"),
              (reward_tasks, "reward_accuracy", "reward accuracy (balanced)", "RdYlGn",
               TwoSlopeNorm(vcenter=0.5, vmin=0.0, vmax=1.0), ".2f")]
    panels = [p for p in panels if p[0]]
    widths = [max(len(p[0]), 1) for p in panels]
    fig = figure(1.2 * sum(widths) + 2.6, 0.42 * len(models) + 1.6, layout=None)
    axes = fig.subplots(1, len(panels), squeeze=False, gridspec_kw={"width_ratios": widths})[0]
    for ax, (columns, key, label, cmap, norm, fmt) in zip(axes, panels, strict=True):
        values = np.array([[by.get((t, m), {}).get(key, math.nan) for t in columns] for m in models], np.float64)
        ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
        for i in range(len(models)):
            for j in range(len(columns)):
                ax.text(j, i, _cell(values[i, j], fmt), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(models)), models, fontsize=7)
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


# ------------------------------------------------------------------------- one cell: its row and figures

def table_row(model: str, task: str, result: OpenLoopResult, train_metrics: dict | None = None,
              train_speed: dict | None = None, imagine_speed: list[dict] | None = None, **extra: Any) -> dict:
    """One flat row (str / int / float values) for (model, task):

    model, task, context, horizon; every ``result.summary`` entry (mse, mse_<marker>, reward_*); mse at the
    first, middle and last horizon (``mse_k1``, ``mse_kmid``, ``mse_klast``); from ``train_metrics`` ({name:
    [steps]}, as ``offline.fit`` returns) ``train_steps`` and the final ``train_loss`` / ``train_recon_loss``
    (mean of the last 10 steps); from ``train_speed`` (``offline.train_throughput``) ``train_T``, ``train_B``,
    ``train_steps_per_s``, ``train_compile_s``, ``train_planned_mb`` (XLA's plan) and ``train_peak_mb`` (the
    device's measured peak; NaN on CPU); from ``imagine_speed`` (``openloop.imagine_throughput``)
    ``imagine_steps_per_s_K<K>`` per horizon; then ``extra`` as given.
    """
    k = result.horizon
    row: dict[str, Any] = {"model": model, "task": task, "context": result.context, "horizon": k}
    row.update({name: float(v) for name, v in result.summary.items()})
    row.update(mse_k1=float(result.mse[0]), mse_kmid=float(result.mse[(k - 1) // 2]),
               mse_klast=float(result.mse[-1]))
    if train_metrics:
        tail = lambda name: float(np.mean(np.asarray(train_metrics[name])[-10:]))
        row.update(train_steps=int(len(train_metrics["loss"])), train_loss=tail("loss"),
                   train_recon_loss=tail("recon_loss"))
    if train_speed:
        peak = train_speed["peak_bytes"]
        row.update(train_T=train_speed["T"], train_B=train_speed["B"],
                   train_steps_per_s=float(train_speed["steps_per_s"]), train_compile_s=float(train_speed["compile_s"]),
                   train_planned_mb=planned_mb(train_speed["memory"]),
                   train_peak_mb=math.nan if peak is None else peak / 2**20)
    for speed in imagine_speed or []:
        row[f"imagine_steps_per_s_K{speed['K']}"] = float(speed["steps_per_s"])
    row.update(extra)
    return row


def plot_mse_curves(curves: dict[str, np.ndarray], path: str | Path, title: str = "",
                    marked: dict[str, np.ndarray] | None = None, context: int | None = None,
                    references: dict[str, np.ndarray] | None = None) -> Path:
    """MSE vs horizon k = 1 .. K, one solid line per model (``curves``: {model: float [K]}); ``marked``
    ({model: float [K]}, e.g. the curve over revisited frames) adds a dashed line per model in the same colour;
    ``references`` ({label: float [K]}, e.g. ``references.py``'s predictors) a dashed grey line each (darker to
    lighter grey in their order). ``context`` goes into the x label. Saves a PNG -> the path."""
    fig = figure(7, 4.2, layout=None)
    ax = fig.subplots()
    for i, (model, curve) in enumerate(curves.items()):
        colour = f"C{i % 10}"
        ax.plot(np.arange(1, len(curve) + 1), curve, color=colour, label=model)
        if marked and model in marked:
            ax.plot(np.arange(1, len(marked[model]) + 1), marked[model], color=colour, linestyle="--",
                    label=f"{model} (marked frames)")
    for i, (label, curve) in enumerate((references or {}).items()):
        ax.plot(np.arange(1, len(curve) + 1), curve, color=str(0.25 + 0.3 * (i % 2)), linestyle="--",
                linewidth=1.2, label=f"{label} (reference)")
    ax.set_xlabel("imagination horizon k" + (f" (after {context} context steps)" if context else ""))
    ax.set_ylabel("MSE per pixel, images in [0, 1]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def strip_columns(horizon: int, frames: int = 10) -> np.ndarray:
    """The horizons (0-based, int [F], F = min(frames, K)) a strip shows: evenly spaced from the first to the
    last imagined step."""
    return np.unique(np.linspace(0, horizon - 1, min(frames, horizon)).round().astype(int))


def plot_strip(truth: np.ndarray, preds: dict[str, np.ndarray], path: str | Path, frames: int = 10,
               title: str = "", context: int = 0) -> Path:
    """An image strip: the true frames (uint8 [K, H, W, C] in 0-255 or float in [0, 1]) in the top row, each
    model's imagined frames (``preds``: {model: float [K, H, W, C] in [0, 1]}) in a row below, at
    :func:`strip_columns` horizons, each column titled with its step ``context + k``. Saves a PNG -> the path."""
    columns = strip_columns(len(truth), frames)
    rows = {"truth": np.asarray(truth)[columns], **{name: np.asarray(p)[columns] for name, p in preds.items()}}
    return plot_frame_rows(rows, context + columns, path, title)


def plot_frame_rows(rows: dict[str, np.ndarray], steps: np.ndarray, path: str | Path, title: str = "") -> Path:
    """One row of frames per entry of ``rows`` ({label: uint8 [F, H, W, C] in 0-255 or float in [0, 1]}), one
    column per step (int [F], titled ``t=<step>``). Saves a PNG (parent folders created) -> the path."""
    fig = figure(1.1 * len(steps) + 0.9, 1.2 * len(rows) + 0.4, layout=None)
    axes = fig.subplots(len(rows), len(steps), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        images = np.asarray(images)
        images = images / 255.0 if images.dtype == np.uint8 else np.clip(images.astype(np.float32), 0.0, 1.0)
        for c, step in enumerate(steps):
            ax = axes[r, c]
            ax.imshow(images[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={int(step)}", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
