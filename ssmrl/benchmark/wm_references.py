"""The world-model grid's reference predictors (one set per task, no learning; ``ssmrl.world_model.references``): on
the same held-out episodes and context as the task's cells, "mean frame" predicts every imagined frame as the
per-pixel mean of the task's training frames and "last frame" as the episode's last context frame. Written to the
task's folder (the parent of its cells' folders): ``references.npz`` (<name>_mse [K], <name>_marked_<marker> [K],
<name>_frame_mse [K, N] per held-out frame, frame_gap [K, N] (``openloop.frame_gaps``); tiles: also <name>_<curve>
for the xent / tile_acc curves and <name>_frame_xent / <name>_frame_tile_acc [K, N]) and, last,
``references.json`` (settings, context, summaries). With tiles (``obs_mode=tiles``) "mean frame" is the per-cell
tile frequencies of the training frames and both are scored as the cells are
(``references.evaluate_tile_references``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ssmrl.benchmark.wm_report import REFERENCE_CURVES_FILE, REFERENCE_FILE, ROW_FILE, STRIP_FILE
from ssmrl.benchmark.wm_settings import WMSettings
from ssmrl.output import number_text, read_json, write_json
from ssmrl.world_model.openloop import frame_gaps
from ssmrl.world_model.references import (
    LABELS,
    evaluate_references,
    evaluate_tile_references,
    mean_frame,
    tile_frequencies,
)

REFERENCE_FILES_VERSION = 2  # 2: per-frame scores and gaps


def reference_describe(settings: WMSettings, task: str, scale: float) -> dict:
    """Everything a task's references depend on (the data and the context; ``scale``: the frames' image_scale;
    ``files``: the version of what ``references.npz`` holds, so that older ones are redone)."""
    return {"task": task, "files": REFERENCE_FILES_VERSION, "task_kwargs": settings.task_kwargs.get(task) or {},
            "train_episodes": settings.train_episodes, "eval_episodes": settings.eval_episodes,
            "context": settings.context, "seed": settings.seed, "jax_config": settings.jax_config,
            "image_scale": scale, **({} if settings.obs_mode == "pixels" else {"obs_mode": settings.obs_mode})}


def run_references(task: str, cells: Sequence[Any], train: Any, test: Any, settings: WMSettings,
                   num_tiles: int | None = None) -> dict:
    """A task's references on ``test`` with the mean frame of ``train`` (``cells``: the task's grid cells, with
    ``dir`` and ``spec``; ``num_tiles``: the tile classes, for ``obs_mode=tiles``); writes its files and returns
    the record (+ "mismatch": the finished cells whose strip or context differ from these episodes)."""
    scale = cells[0].spec.offline.image_scale
    if settings.obs_mode == "tiles":
        results = evaluate_tile_references(test, tile_frequencies(train.obs, num_tiles), context=settings.context)
    else:
        results = evaluate_references(test, mean_frame(train.obs, scale), scale, context=settings.context)
    length = test.is_first.shape[0]
    horizon = next(iter(results.values())).mse.shape[0]
    context = length - horizon
    marker = next(iter(next(iter(results.values())).marked), "")
    folder = cells[0].dir.parent
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / REFERENCE_CURVES_FILE, **{f"{name}_mse": r.mse for name, r in results.items()},
             **{f"{name}_marked_{m}": v for name, r in results.items() for m, v in r.marked.items()},
             **{f"{name}_{curve}": v for name, r in results.items() for curve, v in r.curves.items()},
             **{f"{name}_frame_mse": r.errors for name, r in results.items()},
             **{f"{name}_frame_{m}": v for name, r in results.items() for m, v in r.frame_scores.items()},
             frame_gap=frame_gaps({k: np.asarray(v) for k, v in (getattr(test, "markers", None) or {}).items()},
                                  length, context))
    record = {"spec": reference_describe(settings, task, scale), "status": "ok", "task": task, "context": context,
              "horizon": horizon, "marker": marker, "summary": {name: r.summary for name, r in results.items()}}
    write_json(folder / REFERENCE_FILE, record)
    obs = np.asarray(test.obs)
    mismatch = []
    for cell in cells:
        row = read_json(cell.dir / ROW_FILE)
        if row.get("status") != "ok":
            continue
        try:
            with np.load(cell.dir / STRIP_FILE) as strip:
                truth = strip["truth_obs"] if "truth_obs" in strip.files else strip["truth"]  # tiles: the ids
                same = np.array_equal(obs[strip["steps"], 0], truth)
        except (OSError, ValueError, KeyError, IndexError):
            same = False
        if not same or (row.get("row") or {}).get("context") != context:
            mismatch.append(cell.model)
    return {**record, "mismatch": mismatch}


def reference_line(record: dict) -> str:
    """The progress line of a task's finished references."""
    marker = record["marker"]
    parts = [f"{LABELS[name]} mse {number_text(s['mse'])}"
             + (f" ({marker} {number_text(s.get(f'mse_{marker}'))})" if marker else "")
             + (f", tile accuracy {number_text(s['tile_acc'], '.3f')}" if "tile_acc" in s else "")
             for name, s in record["summary"].items()]
    warn = (f" [held-out frames or context differ from the cells of {', '.join(record['mismatch'])}: regenerated "
            "episodes are not theirs]") if record["mismatch"] else ""
    return f"references {record['task']} (C={record['context']}, K={record['horizon']}): " + ", ".join(parts) + warn
