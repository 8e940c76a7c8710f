"""The world-model grid (``scripts/benchmark.py preset=wm-backbones-smoke out_dir=...``): model x task cells of
OFFLINE world-model training and open-loop evaluation (S4WM's protocol, ``ssmrl.world_model``), plus one throughput
sweep per model; resumable; then ``wm_results.csv`` / ``.md`` and the PNGs (:mod:`ssmrl.benchmark.wm_report`).

**Data.** ``ssmrl`` never imports ``envs``: the script passes ``wm_data(task, obs_mode=..., **task_kwargs) ->
TaskData`` (the spaces, the episode length T, ``generate(key, num_episodes)`` -> episodes [T, N, ...] with markers,
e.g. ``envs.wm_memory.generate_dataset``, and for tiles ``render``, which draws tile windows for the strips).
``obs_mode`` (a setting) picks the tasks' observation: ``pixels`` frames or ``tiles`` (tile classes: the world
model decodes per-cell logits, trains on their cross-entropy and the evaluation adds ``xent`` and ``tile_acc``).
A task's training set comes from ``fold_in(k, 0)`` and its held-out set from
``fold_in(k, 1)``, ``k = fold_in(key(seed), crc32(task))``: the same for every model and unchanged when the grid
changes.

**A cell** (task, model): the world model of the model's :class:`~ssmrl.benchmark.wm_settings.ModelSpec` trained for
up to ``train_steps`` steps on minibatches sampled from the training episodes (``offline.fit_validated``: step i
samples with ``split(key_train, train_steps)[i]``, then ``train_step``), then evaluated open-loop
on the held-out episodes (``openloop.evaluate``). Its keys: ``split(k_cell, 3)`` -> init, training, evaluation,
``k_cell = fold_in(fold_in(key(seed), crc32(task)), crc32(model))``. With ``val_episodes`` (validation and early
stopping, :mod:`ssmrl.benchmark.wm_settings`), the last ``val_episodes`` training episodes are held out for the
validation checks (windows drawn with ``fold_in(k_val, 0)``, the loss sampled with ``fold_in(k_val, 1)``, ``k_val
= fold_in(task key, 2)``: the same for every model of the task), training stops at the budget ("budget") or after
``patience`` checks without a lower validation loss ("plateau"), and the evaluation takes the parameters of the
best check. Measured on the way: training steps/s (L x B
replayed steps per second over the timed steps, sampling included, the training step compiled beforehand), its
compile time and XLA's planned memory of the step, imagination steps/s (one more rollout call on the first
evaluation chunk: B x K imagined steps per second, the context's observation included).

**A speed sweep** (one per model, :mod:`ssmrl.benchmark.wm_speed`) on the world model of the model's first task,
and **references** (one set per task, no learning, :mod:`ssmrl.benchmark.wm_references`) on the same held-out
episodes and context as the task's cells, computed after the cells (from the episodes in memory, or regenerated
from the seed) and redone when missing or of other settings; their held-out frames are checked against the
finished cells' ``strip.npz``.

**Order and caching.** Model-major (every task of a model, then its sweep): a model's world model is built and
compiled once per observation / action spaces and reused by its cells (same shapes: no recompiling); caches are
cleared between models. The episodes of the tasks stay in memory between models while they total at most
``data_cache_mb`` (beyond that each model regenerates them: the same keys give the same episodes).

**Resuming.** A finished cell writes ``<out_dir>/wm/<task>/<model>/``: ``curves.npz`` (mse [K], marked_<name> [K],
train_loss / train_recon_loss [steps taken], val_step / val_loss [checks], reward_true / reward_pred [K] of episode
0, frame_mse [K, N] per held-out frame; tiles: also xent / tile_acc [K], their <metric>_<name> and frame_xent /
frame_tile_acc [K, N]), ``memory.png`` (the trained core's memory diagnostics, with ``diagnostics``),
``strip.npz`` (steps [F], truth uint8 [F, 32, 32,
3], pred uint8 [F, 32, 32, 3]; tiles: the drawn tiles and truth_obs int [F, 7, 7]) and, last, ``row.json`` (its
settings, status, table row and, with validation, ``validation``: each check's step and loss metrics); a sweep
writes ``<out_dir>/wm/speed/<model>/speed.json``. Rerunning skips those whose file exists; one with other settings
is an error naming the key (use another out_dir or delete that folder). A cell killed before its ``row.json``
restarts from scratch (no checkpoints: a cell is minutes on a CPU at the quick sizes).
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.benchmark.engine import ABSENT, DONE, claim_out_dir, run_units, say_line, written_line
from ssmrl.benchmark.engine import plan as plan_units
from ssmrl.benchmark.results import memory_columns
from ssmrl.benchmark.settings import apply_xla_flags
from ssmrl.benchmark.sizing import stack_param_count, tree_param_count
from ssmrl.benchmark.wm_references import reference_describe, reference_line, run_references
from ssmrl.benchmark.wm_report import (
    CURVES_FILE,
    REFERENCE_FILE,
    ROW_FILE,
    SPEED_FILE,
    STRIP_FILE,
    strip_columns,
    table_row,
    write_wm_report,
)
from ssmrl.benchmark.wm_settings import ModelSpec, WMSettings, load_wm_settings, model_specs
from ssmrl.benchmark.wm_speed import SpeedUnit, run_speed, speed_describe, speed_line
from ssmrl.config import ConfigError, config_changes
from ssmrl.output import count_text, number_text, read_json, slug, write_json
from ssmrl.world_model.offline import (
    BUDGET,
    VAL_KEYS,
    Offline,
    Validated,
    Validation,
    fit_validated,
    make_offline,
    split_validation,
    validation_batches,
)
from ssmrl.world_model.openloop import TILE_METRICS, evaluate, make_rollout

WM_DIR = "wm"
MEMORY_PNG = "memory.png"        # a cell's memory diagnostics (ssmrl.diagnostics.plot_diagnostics)
DIAGNOSTIC_EPISODES = 4          # held-out episodes the diagnostics run on


class TaskData(NamedTuple):
    """What the data factory returns for one task: obs_space, action_space, length (T of every episode),
    ``generate(key, num_episodes)`` -> episodes with fields [T, N, ...] and ``markers`` ({name: int [N]}) and
    ``render(obs [F, ...]) -> uint8 [F, H, W, 3]``: observations that are not frames (tiles) as pictures for the
    strips (None: the observations are the frames)."""

    obs_space: Any
    action_space: Any
    length: int
    generate: Callable[[jax.Array, int], Any]
    render: Callable[[np.ndarray], np.ndarray] | None = None


def mode_describe(settings: WMSettings) -> dict:
    """The observation mode and the imagination's latents as a unit's settings: only those off their defaults
    (pixels, sample), so that older results stay valid: {"obs_mode": ..., "imagine_latents": ...} or less."""
    return ({} if settings.obs_mode == "pixels" else {"obs_mode": settings.obs_mode}) | (
        {} if settings.imagine_latents == "sample" else {"imagine_latents": settings.imagine_latents})


@dataclass(frozen=True, eq=False)
class WMCell:
    """One (task, model) cell; dir: ``<out_dir>/wm/<task>/<model>``."""

    task: str
    model: str
    spec: ModelSpec
    dir: Path

    @property
    def label(self) -> str:
        return f"{self.task} {self.model}"


def _crc(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def task_key(seed: int, task: str) -> jax.Array:
    return jax.random.fold_in(jax.random.key(seed), _crc(task))


def cell_key(seed: int, task: str, model: str) -> jax.Array:
    return jax.random.fold_in(task_key(seed, task), _crc(model))


def cell_describe(settings: WMSettings, task: str, spec: ModelSpec) -> dict:
    """Everything a cell's numbers depend on (saved in its row.json, compared on resume)."""
    return {"task": task, "model": spec.name, **spec.describe(), "task_kwargs": settings.task_kwargs.get(task) or {},
            "train_episodes": settings.train_episodes, "eval_episodes": settings.eval_episodes,
            "train_steps": settings.train_steps, "context": settings.context, "eval_chunk": settings.eval_chunk,
            "strip_frames": settings.strip_frames, "seed": settings.seed, "jax_config": settings.jax_config,
            **mode_describe(settings), **validation_describe(settings)}


def validation_describe(settings: WMSettings) -> dict:
    """The validation keys as a cell's settings: {} without validation (older results stay valid), else
    val_episodes, val_every and patience."""
    if not settings.val_episodes:
        return {}
    return {"val_episodes": settings.val_episodes, "val_every": settings.val_every, "patience": settings.patience}


# ---------------------------------------------------------------------------------------------- planning


def plan(settings: WMSettings, config_dir: Path, wm_data: Callable[..., TaskData]
         ) -> tuple[list[WMCell], list[SpeedUnit], dict[str, TaskData]]:
    """The cells (model-major, tasks in preset order) and the speed sweeps (none without ``speed_lengths``), and
    every task's :class:`TaskData`; ConfigError (one line) for an unknown task or params field, a training window
    or context longer than a task's episodes."""
    specs = model_specs(settings, config_dir)
    for task in settings.task_kwargs:
        if task not in settings.tasks:
            raise ConfigError(f"task_kwargs: {task!r} is not in tasks {list(settings.tasks)}")
    data = {}
    for task in settings.tasks:
        kwargs = settings.task_kwargs.get(task) or {}
        if not isinstance(kwargs, dict):
            raise ConfigError(f"task_kwargs.{task}: expected a mapping of params fields, got {kwargs!r}")
        if "obs_mode" in kwargs:
            raise ConfigError(f"task_kwargs.{task}.obs_mode: the observation is the grid's obs_mode setting "
                              f"(obs_mode=tiles), for every task")
        try:
            data[task] = wm_data(task, obs_mode=settings.obs_mode, **kwargs)
        except ValueError as err:
            raise ConfigError(f"tasks: {str(err).splitlines()[0]}") from None
        length = data[task].length
        for spec in specs.values():
            if spec.offline.seq_len > length:
                raise ConfigError(f"offline.seq_len={spec.offline.seq_len} ({spec.name}) is longer than {task}'s "
                                  f"episodes of T={length}; valid: 0 (whole episodes) .. {length}")
        if settings.context is not None and settings.context >= length:
            raise ConfigError(f"context={settings.context} must be < {task}'s episode length T={length}")
    root = settings.out_dir / WM_DIR
    cells = [WMCell(task, name, spec, root / slug(task) / name) for name, spec in specs.items()
             for task in settings.tasks]
    speeds = [SpeedUnit(name, spec, settings.tasks[0], root / "speed" / name) for name, spec in specs.items()
              ] if settings.speed_lengths else []
    return cells, speeds, data


# ---------------------------------------------------------------------------------------------- state on disk


def unit_status(path: Path, spec: dict) -> str:
    """"done" when ``path`` (a row.json / speed.json) holds a finished unit of these settings, else "absent" (a
    cell killed before its record restarts from scratch);
    ConfigError when it holds one of other settings (naming the first key that differs)."""
    saved = read_json(path)
    if saved.get("status") != "ok":
        return ABSENT
    for key, there, here in config_changes(saved.get("spec") or {}, json.loads(json.dumps(spec)), may_change=(),
                                           cfg=object())[:1]:  # every key counts, one the saved spec lacks too
        raise ConfigError(f"{path.parent} holds a result of other settings ({key}: {there!r} there, {here!r} "
                          "here); use another out_dir, or delete that folder to rerun it")
    return DONE


# ---------------------------------------------------------------------------------------------- running


class Built(NamedTuple):
    """A model's world model for one pair of spaces: the Offline, its jitted rollout, its parameter count."""

    offline: Offline
    rollout: Callable
    params: int


def build(spec: ModelSpec, task_data: TaskData, cache: dict, jit_options: dict | None = None,
          latents: str = "sample") -> Built:
    """The model's :class:`Built` for these spaces (made once per spaces and kept in ``cache``); ``latents``: of
    its open-loop rollout (``openloop.LATENTS``)."""
    key = repr((task_data.obs_space, task_data.action_space, latents))
    if key not in cache:
        offline = make_offline(spec.offline, task_data.obs_space, task_data.action_space, spec.core,
                               jit_options=jit_options)
        shapes = jax.eval_shape(offline.init, jax.random.key(0))
        cache[key] = Built(offline, make_rollout(offline.world_model, jit_options=jit_options, latents=latents),
                           tree_param_count(shapes.params))
    return cache[key]


def cell_validation(cell: WMCell, train: Any, settings: WMSettings) -> tuple[Any, Validation | None]:
    """(the episodes the cell trains on, its :class:`Validation`): without ``val_episodes`` all of ``train`` and
    None; else the first ``train_episodes - val_episodes`` and the checks on fixed windows of the rest (module
    docstring), in the cell's training batch shape."""
    if not settings.val_episodes:
        return train, None
    fit_set, val_set = split_validation(train, settings.val_episodes)
    key_val = jax.random.fold_in(task_key(settings.seed, cell.task), 2)
    batches = validation_batches(val_set, cell.spec.offline.batch_size, cell.spec.offline.seq_len,
                                 jax.random.fold_in(key_val, 0))
    return fit_set, Validation(batches, jax.random.fold_in(key_val, 1), settings.val_every, settings.patience)


def validation_columns(validated: Validated | None, steps: int) -> dict:
    """The table row's training-outcome columns: ``stop_reason`` ("budget" / "plateau"), ``best_step`` (the step
    whose parameters are evaluated; without validation the last of ``steps`` taken), ``best_val_loss`` (NaN without
    validation) and ``val_checks``."""
    if validated is None:
        return {"stop_reason": BUDGET, "best_step": steps, "best_val_loss": math.nan, "val_checks": 0}
    return {"stop_reason": validated.stop_reason, "best_step": int(validated.best_step),
            "best_val_loss": float(validated.best_loss), "val_checks": len(validated.steps)}


def run_cell(cell: WMCell, built: Built, train: Any, test: Any, settings: WMSettings,
             render: Callable | None = None) -> dict:
    """Train and evaluate one cell (module docstring), write its files; returns its row.json record. ``render``:
    the task's (:class:`TaskData`), for strips of tiles."""
    start = time.perf_counter()
    offline = built.offline
    key_init, key_train, key_eval = jax.random.split(cell_key(settings.seed, cell.task, cell.model), 3)
    state = offline.init(key_init)
    fit_set, validation = cell_validation(cell, train, settings)
    state, metrics, train_speed, validated = fit_validated(offline, state, fit_set, settings.train_steps, key_train,
                                                           validation, settings.sync_every)
    params = state.params if validated is None else validated.params  # the best check's (a host copy)
    eval_start = time.perf_counter()
    result = evaluate(offline.world_model, params, test, key_eval, context=settings.context,
                      chunk=settings.eval_chunk, keep=1, rollout=built.rollout)
    eval_s = time.perf_counter() - eval_start
    memory = cell_memory(cell, offline.world_model, params, test, key_eval) if settings.diagnostics else {}
    chunk = min(settings.eval_chunk or test.is_first.shape[1], test.is_first.shape[1])
    c = result.context
    args = (params, key_eval, jnp.asarray(test.obs[:c, :chunk]), jnp.asarray(test.action[:, :chunk]),
            jnp.asarray(test.is_first[:c, :chunk]))
    imagine_start = time.perf_counter()
    jax.block_until_ready(built.rollout(*args))  # compiled by evaluate (same shapes)
    imagine_s = time.perf_counter() - imagine_start
    marker = next(iter(result.marked), "")
    marked = {f"marked_{metric}": float(result.summary.get(f"{metric}_{marker}", math.nan))
              for metric in ("mse", *(m for m in TILE_METRICS if m in result.summary))}
    row = table_row(cell.model, cell.task, result, metrics, train_speed, None, core=cell.spec.core.name,
                    posterior=cell.spec.offline.posterior, loss_finite=bool(np.all(np.isfinite(metrics["loss"]))),
                    marker=marker, **marked,
                    imagine_steps_per_s=chunk * result.horizon / max(imagine_s, 1e-9), imagine_B=chunk,
                    wm_params=built.params, core_params=stack_param_count(cell.spec.core),
                    train_run_s=train_speed["run_s"], eval_s=eval_s, train_budget=settings.train_steps,
                    **validation_columns(validated, len(metrics["loss"])), val_s=train_speed["val_s"],
                    **{k: v for k, v in memory.items() if k != "error"},
                    **({"memory_error": memory["error"]} if "error" in memory else {}),
                    wall_s=time.perf_counter() - start)
    columns = strip_columns(result.horizon, settings.strip_frames)
    cell.dir.mkdir(parents=True, exist_ok=True)
    np.savez(cell.dir / CURVES_FILE, mse=result.mse, train_loss=metrics["loss"],
             train_recon_loss=metrics["recon_loss"], reward_true=result.reward_true[:, 0],
             reward_pred=result.reward_pred[:, 0], **{f"marked_{k}": v for k, v in result.marked.items()},
             frame_mse=result.errors, **{f"frame_{k}": v for k, v in result.frame_scores.items()},
             **result.curves,
             **({} if validated is None else {"val_step": validated.steps, "val_loss": validated.metrics["loss"]}))
    truth, pred = result.truth[columns, 0], result.pred[columns, 0]
    if settings.obs_mode == "tiles":  # the true and most likely tiles, drawn (truth_obs: for the references' check)
        images = dict(truth=render(truth), pred=render(pred)) if render is not None else {}
        np.savez(cell.dir / STRIP_FILE, steps=c + columns, truth_obs=truth, **images)
    else:
        np.savez(cell.dir / STRIP_FILE, steps=c + columns, truth=truth,
                 pred=np.round(np.clip(pred, 0, 1) * 255).astype(np.uint8))
    record = {"spec": cell_describe(settings, cell.task, cell.spec), "status": "ok", "row": row}
    if validated is not None:  # the validation curve: one point per check
        record["validation"] = {"step": validated.steps.tolist(),
                                **{k: validated.metrics[k].tolist() for k in VAL_KEYS}}
    write_json(cell.dir / ROW_FILE, record)  # last: its presence marks the cell finished
    return record


def cell_memory(cell: WMCell, world_model: Any, params: Any, episodes: Any, key: jax.Array,
                num: int = DIAGNOSTIC_EPISODES) -> dict:
    """The memory diagnostics of the cell's trained core stack (``ssmrl.benchmark.results.memory_columns``:
    memory_horizon, state_use and the other ``memory_*`` columns; its PNG to ``<cell dir>/memory.png``) on the core
    inputs u_t of the first ``num`` held-out episodes [T, num, H], whole episodes from t = 0 (one start per column),
    as the world model feeds them while observing (``WorldModel.core_inputs``, posterior samples with ``key``).
    A failure is returned as {"error": ...}: the diagnostics are an add-on and must not stop a long grid."""
    try:
        num = min(num, episodes.is_first.shape[1])
        xs = world_model.apply(params, key, jnp.asarray(episodes.obs[:, :num]),
                               jnp.asarray(episodes.action[:, :num]), jnp.asarray(episodes.is_first[:, :num]),
                               method="core_inputs")
        cell.dir.mkdir(parents=True, exist_ok=True)
        return memory_columns(world_model.stack, {"params": params["params"]["stack"]}, xs,
                              cell.dir / MEMORY_PNG, cell.label)
    except Exception as err:  # noqa: BLE001 - recorded in the row, reported by the table
        return {"error": f"{type(err).__name__}: {err}"}


def cell_line(index: int, total: int, cell: WMCell, row: dict) -> str:
    marked = f" ({row['marker']} {number_text(row['marked_mse'])})" if row.get("marker") else ""
    reward = f", reward accuracy {number_text(row['reward_accuracy'], '.2f')}" if "reward_accuracy" in row else ""
    if "tile_acc" in row:
        tiles = f" ({row['marker']} {number_text(row['marked_tile_acc'], '.3f')})" if row.get("marker") else ""
        reward = f", tile accuracy {number_text(row['tile_acc'], '.3f')}{tiles}" + reward
    stop = (f", best val loss {number_text(row['best_val_loss'])} at step {row['best_step']} of "
            f"{row['train_steps']} ({row['stop_reason']})") if row.get("val_checks") else ""
    return (f"[{index}/{total}] {cell.label}: mse {number_text(row['mse'])}{marked}{reward}{stop}, train "
            f"{count_text(row['train_steps_per_s'])} steps/s (L {row['train_T']} x B {row['train_B']}, compile "
            f"{number_text(row['train_compile_s'], '.0f')} s, {number_text(row['train_planned_mb'], '.0f')} MB "
            "planned), imagine "
            f"{count_text(row['imagine_steps_per_s'])} steps/s, params {count_text(row['wm_params'])}, "
            f"{number_text(row['wall_s'], '.0f')} s" + ("" if row.get("loss_finite", True) else " [loss not finite]"))


def _megabytes(tree: Any) -> float:
    return sum(getattr(leaf, "nbytes", 0) for leaf in jax.tree.leaves(tree)) / 2**20


def apply_jax_config(options: dict) -> None:
    """``jax.config.update`` for each item (e.g. ``jax_threefry_partitionable: false``); ConfigError (one line)
    for an option JAX does not know."""
    for name, value in options.items():
        try:
            jax.config.update(name, value)
        except (AttributeError, ValueError, TypeError) as err:
            raise ConfigError(f"jax_config.{name}: {str(err).splitlines()[0]}") from None


class WMUnits:
    """The world-model grid's kinds of unit for the engine (:mod:`ssmrl.benchmark.engine`): cells and speed sweeps.
    Holds what they share: the tasks' data, each model's built world model (kept while the model's units run) and
    the episodes (kept while they fit in ``data_cache_mb``)."""

    def __init__(self, settings: WMSettings, data: dict[str, TaskData], jit_options: dict | None = None):
        self.settings, self.data, self.jit_options = settings, data, jit_options
        self.model: str | None = None
        self.built: dict = {}
        self.datasets: dict[str, tuple] = {}

    def status(self, unit: WMCell | SpeedUnit) -> str:
        if isinstance(unit, SpeedUnit):
            return unit_status(unit.dir / SPEED_FILE, speed_describe(self.settings, unit))
        return unit_status(unit.dir / ROW_FILE, cell_describe(self.settings, unit.task, unit.spec))

    def episodes(self, task: str) -> tuple:
        """(training, held-out) episodes of the task, kept while they fit in ``data_cache_mb``."""
        if task not in self.datasets:
            key = task_key(self.settings.seed, task)
            episodes = (self.data[task].generate(jax.random.fold_in(key, 0), self.settings.train_episodes),
                        self.data[task].generate(jax.random.fold_in(key, 1), self.settings.eval_episodes))
            if _megabytes([*self.datasets.values(), episodes]) > self.settings.data_cache_mb:
                self.datasets.clear()  # over the budget: only this task's episodes stay
            self.datasets[task] = episodes
        return self.datasets[task]

    def run(self, unit: WMCell | SpeedUnit) -> dict:
        if unit.model != self.model:
            self.model, self.built = unit.model, {}
            jax.clear_caches()  # one model's programs at a time
        task_data = self.data[unit.task]
        built = build(unit.spec, task_data, self.built, self.jit_options, self.settings.imagine_latents)
        if isinstance(unit, SpeedUnit):
            return run_speed(unit, built.offline, task_data.obs_space, self.settings,
                             cell_key(self.settings.seed, "speed", unit.model))
        return run_cell(unit, built, *self.episodes(unit.task), self.settings, render=task_data.render)

    def line(self, index: int, total: int, unit: WMCell | SpeedUnit, record: dict) -> str:
        if isinstance(unit, SpeedUnit):
            return speed_line(index, total, unit, record)
        return cell_line(index, total, unit, record["row"])


def run_wm_grid(settings: WMSettings, cells: Sequence[WMCell], speeds: Sequence[SpeedUnit],
                data: dict[str, TaskData], say: Callable[[str], None] = say_line,
                jit_options: dict | None = None) -> list[dict]:
    """Check every finished unit against its settings, print the plan, run what is left (at most ``max_cells``
    units, model-major), a line each, then the references and the report; returns the table rows."""
    kind = WMUnits(settings, data, jit_options)
    units = [u for name in dict.fromkeys(c.model for c in cells)
             for u in [*[c for c in cells if c.model == name], *[s for s in speeds if s.model == name]]]
    the_plan = plan_units(units, kind, settings.max_cells)
    claim_out_dir(settings.out_dir, "world_model", f"{WM_DIR}/**/{ROW_FILE}")
    sweep = f" + {len(speeds)} speed sweeps (T={','.join(map(str, settings.speed_lengths))})" if speeds else ""
    say(f"plan: {len(cells)} cells ({len(settings.models)} models x {len(settings.tasks)} tasks){sweep}: "
        f"{the_plan.counts()} -> {settings.out_dir}")
    run_units(the_plan, kind, say, lambda unit: write_wm_report(settings, cells, speeds, plots=False))
    for task in settings.tasks:  # the references: from the episodes in memory, else regenerated (no training)
        ours = [c for c in cells if c.task == task]
        spec = reference_describe(settings, task, ours[0].spec.offline.image_scale)
        saved = read_json(ours[0].dir.parent / REFERENCE_FILE)
        if saved.get("status") != "ok" or saved.get("spec") != json.loads(json.dumps(spec)):
            num_tiles = data[task].obs_space.n if settings.obs_mode == "tiles" else None
            say(reference_line(run_references(task, ours, *kind.episodes(task), settings, num_tiles=num_tiles)))
    rows = write_wm_report(settings, cells, speeds)
    say(written_line(settings.out_dir, ["wm_results.md", "wm_results.csv", "wm_speed.csv", "wm_mse_*.png",
                                        "wm_strip_*.png", "wm_speed.png"]))
    return rows


def run_preset(argv: Sequence[str], config_dir: Path, wm_data: Callable[..., TaskData] | None,
               say: Callable[[str], None] = say_line) -> None:
    """Settings -> cells -> run -> report for a world-model preset; raises what
    :func:`ssmrl.benchmark.engine.exit_status` maps to exit codes."""
    if wm_data is None:
        raise ConfigError("this preset is a world-model grid, and no data factory was given (wm_data)")
    settings = load_wm_settings(config_dir, argv)
    if not apply_xla_flags(settings.xla_flags):
        say(f"note: xla_flags={settings.xla_flags!r} not applied: JAX had already started in this process")
    apply_jax_config(settings.jax_config)
    cells, speeds, data = plan(settings, config_dir, wm_data)
    run_wm_grid(settings, cells, speeds, data, say)
