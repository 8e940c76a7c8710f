"""The benchmark grid: algorithm x model x task cells (all seeds of a cell in one program), planned from the
settings (:mod:`ssmrl.benchmark.settings`: a preset and command-line overrides), run one after the other in this
process and resumable, and reported.

**A cell** is one call of ``ssmrl.runners.loop.train`` on the config that Hydra composes from
``configs/<algo>.yaml`` with, in order: ``model=<model> env=<suite>``, the preset's and the command line's cell
overrides (every cell, then the algorithm's, the model's and the task's own), ``env.task`` and ``run_dir =
<out_dir>/runs/<algo>/<task>/<model>``. With ``match_params=N`` the cell's ``model.d_model`` is then set so that
its core stack has about N parameters (:mod:`ssmrl.benchmark.sizing`). Meta-RL tasks (``meta/...``) train with
``num_trials = meta_trials`` (k) trials per meta-episode and are evaluated greedily on 2k trials, one return per
trial index (:func:`ssmrl.benchmark.trials.trial_returns`). The run layer's console output goes to
``<run_dir>/train.log``.

**Extras** (``benchmark.json``): the parameter counts of the core stack and of the whole agent (the run's
``summary.json``), the per-trial returns of meta-RL cells, and the memory diagnostics of seed 0's trained stack
on greedy episodes (``ssmrl.diagnostics`` through :func:`ssmrl.benchmark.results.memory_columns`; its PNG is
``<run_dir>/memory.png``) where the algorithm provides the stack's inputs (``Algorithm.memory_inputs``). A failure
of the diagnostics is recorded in the cell, not raised: they must not stop a long grid.

**Resuming.** Each cell writes ``config.yaml`` (as ``scripts/<algo>.py`` does) and ``benchmark.json`` (the cell,
its status and its extra numbers) in its run dir. A cell whose ``summary.json`` is complete is not trained again
(if its ``benchmark.json`` is missing its extras are computed from the final checkpoint); a cell killed while
training resumes from its newest checkpoint (``train`` does that with the same run dir and config); a cell that
diverged stays as it is (its status says so). A run dir that holds a run of another config is an error before
anything runs, naming the key that differs. ``Ctrl-C`` keeps what is saved; the same command resumes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
import yaml
from omegaconf import OmegaConf
from rich.console import Console

from ssmrl.benchmark.engine import (
    ABSENT,
    DONE,
    PARTIAL,
    Plan,
    claim_out_dir,
    exit_status,
    run_units,
    say_line,
    written_line,
)
from ssmrl.benchmark.engine import plan as plan_units
from ssmrl.benchmark.report import markdown, plot_curves, plot_summary, plot_trials, write_csv
from ssmrl.benchmark.results import CELL_FILE, cell_row, memory_columns
from ssmrl.benchmark.settings import Settings, apply_xla_flags, load_settings, with_grid_settings
from ssmrl.benchmark.sizing import Match, cached_match, stack_param_count
from ssmrl.benchmark.trials import trial_returns
from ssmrl.checkpoint import Checkpointer, CheckpointError
from ssmrl.cli import compose_config
from ssmrl.config import ConfigError, RunConfig, config_changes, flatten, run_config_from_dict, run_config_to_dict
from ssmrl.output import count_text, read_json, slug, write_json
from ssmrl.runners.fused import seed_keys
from ssmrl.runners.loop import Diverged, train
from ssmrl.runners.rundir import CONFIG_FILE, RunLock

CELL_LOG = "train.log"
MEMORY_PNG = "memory.png"


@dataclass(frozen=True)
class Algorithm:
    """What the grid needs of an algorithm (the script builds it; ``ssmrl.benchmark`` imports no algorithm).

    schema: its ``algo.*`` dataclass; make_train: ``make_train(cfg, env, env_params) -> ssmrl.algorithm.Train``;
    memory_inputs(cfg, env, env_params, state, key, steps) -> (stack module, stack variables, core inputs xs
    [T, B, H], is_first [T, B]) of real episodes played by one seed's trained agent, or None if the algorithm
    offers no diagnostics.
    """

    name: str
    schema: type
    make_train: Callable
    memory_inputs: Callable | None = None



@dataclass(frozen=True, eq=False)
class Cell:
    """One run: ``cfg`` is its validated config (``cfg.run_dir`` = ``run_dir``); env_kwargs: the environment
    factory's keyword arguments for training; eval_trials: 2k for a meta-RL task (None otherwise); match: the
    ``match_params`` sizing (None without)."""

    algo: str
    task: str
    model: str
    run_dir: Path
    cfg: RunConfig
    env_kwargs: dict
    eval_trials: int | None = None
    match: Match | None = None

    @property
    def label(self) -> str:
        return f"{self.algo} {self.task} {self.model}"

    def describe(self) -> dict:
        """What identifies the cell beyond its config.yaml (checked on resume)."""
        return {"algo": self.algo, "task": self.task, "model": self.model, "env_kwargs": self.env_kwargs,
                "eval_trials": self.eval_trials, "match_params": None if self.match is None else self.match.target}



# ---------------------------------------------------------------------------------------------- planning


def plan(settings: Settings, config_dir: Path, algorithms: dict[str, Algorithm],
         make_env: Callable[..., tuple[Any, Any]]) -> list[Cell]:
    """Every cell of the grid (algorithm-major, then task, then model), each config composed and validated;
    ConfigError (one line) for a bad override, an unknown task or an invalid setting."""
    env_groups = sorted(p.stem for p in (Path(config_dir) / "env").glob("*.yaml"))
    env_cache: dict[str, dict] = {}
    for task in settings.tasks:
        suite = task.partition("/")[0]
        if "/" not in task or suite not in env_groups:
            raise ConfigError(f"tasks: {task!r} is not <suite>/<name>; valid suites: {env_groups}")
        kwargs = dict(settings.env_kwargs.get(task) or {})
        if suite == "meta":
            kwargs.setdefault("num_trials", settings.meta_trials)
        env_cache[task] = kwargs
    composed: dict[tuple, dict] = {}
    matches: dict[str, Match] = {}
    cells = []
    for algo in settings.algos:
        schema = algorithms[algo].schema
        for task in settings.tasks:
            suite, _, name = task.partition("/")
            for model in settings.models:
                extra = (*settings.overrides, *(settings.algo_overrides.get(algo) or ()),
                         *(settings.model_overrides.get(model) or ()), *(settings.task_overrides.get(task) or ()))
                key = (algo, suite, model, extra)
                if key not in composed:
                    base = [f"model={model}", f"env={suite}"]
                    try:
                        cfg = compose_config(Path(config_dir), algo, [*base, *extra])
                    except ConfigError as err:
                        raise ConfigError(with_grid_settings(str(err))) from None
                    composed[key] = OmegaConf.to_container(cfg, resolve=True)
                data = json.loads(json.dumps(composed[key]))  # a deep copy
                data.pop("resume", None)
                run_dir = settings.out_dir / "runs" / algo / task / model
                data["env"]["task"], data["run_dir"] = name, str(run_dir)
                match = None
                if settings.match_params is not None:
                    match = cached_match(run_config_from_dict(data, schema).model, settings.match_params, matches)
                    data["model"]["d_model"] = match.d_model
                cfg = run_config_from_dict(data, schema)
                cells.append(Cell(algo, task, model, run_dir, cfg, env_cache[task],
                                  2 * env_cache[task]["num_trials"] if suite == "meta" else None, match))
    for task, kwargs in env_cache.items():  # last: the environment package is slow to import
        try:
            make_env(task, **kwargs)
        except ValueError as err:
            raise ConfigError(f"tasks: {task}: {err}") from None
    return cells


# ---------------------------------------------------------------------------------------------- cell state


def cell_status(cell: Cell) -> str:
    """"done" (trained and its extras recorded, or diverged), "finish" (trained; extras missing), "resume" (a
    run was started) or "new"."""
    info = read_json(cell.run_dir / CELL_FILE)
    complete = bool(read_json(cell.run_dir / "summary.json").get("complete"))
    status = str(info.get("status", ""))
    if (status == "ok" and complete) or status.startswith("diverged"):
        return "done"
    if complete:
        return "finish"
    return "resume" if (cell.run_dir / CONFIG_FILE).is_file() else "new"


def check_saved(cell: Cell) -> None:
    """ConfigError if the cell's run dir holds a run of another config (run_dir and logger keys aside)."""
    path = cell.run_dir / CONFIG_FILE
    if not path.is_file():
        return
    try:
        saved = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        saved = None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} is damaged; delete the cell's folder {cell.run_dir} to rerun it")
    ours, theirs = flatten(run_config_to_dict(cell.cfg)), flatten(saved)
    cell_info = (read_json(cell.run_dir / CELL_FILE).get("cell") or {})
    ours.update({f"cell.{k}": v for k, v in flatten(cell.describe()).items()})
    theirs.update({f"cell.{k}": v for k, v in flatten(cell_info).items()} if cell_info else
                  {k: v for k, v in ours.items() if k.startswith("cell.")})
    # A setting added after that run was saved, at its default, is the same run (config_changes' cfg).
    for key, there, here in config_changes(theirs, ours, may_change=("run_dir", "logger.*"), cfg=cell.cfg)[:1]:
        raise ConfigError(f"{cell.run_dir} holds a run of another config ({key}: {there!r} there, {here!r} here); "
                          "use another out_dir, or delete that cell's folder to rerun it")


# ---------------------------------------------------------------------------------------------- running


def restore_state(cfg: RunConfig, init: Callable, run_dir: Path) -> Any:
    """The newest intact checkpoint's training state (leading seed axis), restored against ``init``'s shapes."""
    like = jax.eval_shape(jax.vmap(init), seed_keys(cfg.seed, cfg.num_seeds))
    ckpt = Checkpointer(run_dir / "checkpoints", cfg.runner.max_checkpoints)
    try:
        restored = ckpt.restore_latest(like, warn=lambda msg: None)
    finally:
        ckpt.close()
    if restored is None:
        raise CheckpointError(f"{run_dir}: summary.json says complete but there is no checkpoint to evaluate; "
                              "delete the cell's folder to rerun it")
    return restored[1]


def cell_memory(cell: Cell, algorithm: Algorithm, env: Any, env_params: Any, state: Any, steps: int) -> dict:
    """The memory-diagnostics columns of the cell (seed 0's trained stack on ``steps`` steps of greedy episodes
    from fresh resets, cut before the first later episode start so each column is one episode from t = 0); its PNG
    goes to ``<run_dir>/memory.png``. {} when the algorithm provides no core inputs or the episodes are too short."""
    if algorithm.memory_inputs is None:
        return {}
    seed0 = jax.tree.map(lambda x: x[0], state)
    key = jax.random.fold_in(jax.random.PRNGKey(cell.cfg.seed), 3)
    try:
        stack, variables, xs, is_first = algorithm.memory_inputs(cell.cfg, env, env_params, seed0, key, steps)
        later = np.nonzero(np.asarray(is_first)[1:].any(axis=1))[0]
        length = int(later[0]) + 1 if len(later) else int(xs.shape[0])
        if length < 2:
            return {"error": f"episodes of {length} step(s): too short for the diagnostics"}
        return memory_columns(stack, variables, xs[:length], cell.run_dir / MEMORY_PNG, cell.label)
    except Exception as err:  # the diagnostics are an add-on: a failure there must not stop a long grid
        return {"error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}


def run_cell(cell: Cell, algorithm: Algorithm, make_env: Callable, settings: Settings,
             train_fn: Callable = train) -> dict:
    """Train (or resume, or only finish) one cell and write its ``benchmark.json``; returns that record. The
    run layer's output goes to ``<run_dir>/train.log``. Diverged is recorded as the cell's status, not raised."""
    cfg, run_dir = cell.cfg, cell.run_dir
    env, env_params = make_env(cell.task, **cell.env_kwargs)
    with RunLock(run_dir):
        if not (run_dir / CONFIG_FILE).is_file():
            OmegaConf.save(OmegaConf.create(run_config_to_dict(cfg)), run_dir / CONFIG_FILE)
        info: dict[str, Any] = {"cell": cell.describe(), "status": "running", "num_seeds": cfg.num_seeds,
                                "d_model": cfg.model.d_model, "n_layers": cfg.model.n_layers,
                                "core_params": stack_param_count(cfg.model)}
        write_json(run_dir / CELL_FILE, info)
        with open(run_dir / CELL_LOG, "a") as log:
            console = Console(file=log, soft_wrap=True, width=120)
            try:
                result = train_fn(cfg, algorithm.make_train, env, env_params, run_dir, console=console)
            except Diverged as err:
                info["status"] = f"diverged: {err}"
                write_json(run_dir / CELL_FILE, info)
                return info
        info["agent_params"] = read_json(run_dir / "summary.json").get("agent_params")  # the run layer's count
        state = getattr(result, "state", None)
        wants_memory = settings.diagnostics and algorithm.memory_inputs is not None
        restore = state is None and (cell.eval_trials or wants_memory)
        if info["agent_params"] is None or restore:
            built = algorithm.make_train(cfg, env, env_params)
            if info["agent_params"] is None:  # a run summarised before the run layer recorded the count
                info["agent_params"] = built.agent_param_count(jax.eval_shape(built.init, jax.random.PRNGKey(0)))
            if restore:
                state = restore_state(cfg, built.init, run_dir)
        if cell.eval_trials:
            eval_env, eval_params = make_env(cell.task, **{**cell.env_kwargs, "num_trials": cell.eval_trials})
            returns = trial_returns(algorithm.make_train, cfg, eval_env, eval_params, state, cell.eval_trials)
            info["trials"] = {"train_trials": cell.env_kwargs["num_trials"], "eval_trials": cell.eval_trials,
                              "returns": [[v if math.isfinite(v) else None for v in r] for r in returns.tolist()]}
        if wants_memory:
            info["memory"] = cell_memory(cell, algorithm, env, env_params, state, settings.diagnostics_steps)
        info["status"] = "ok"
        write_json(run_dir / CELL_FILE, info)
    return info


def rows(settings: Settings, cells: Sequence[Cell]) -> list[dict]:
    return [{"algo": c.algo, "task": c.task, "model": c.model, **cell_row(c.run_dir, settings.mmer_window),
             "run_dir": str(c.run_dir)} for c in cells]


def write_report(settings: Settings, cells: Sequence[Cell], plots: bool = True) -> list[dict]:
    """``results.csv`` and ``results.md`` in ``out_dir`` (and with ``plots`` the PNGs); returns the rows."""
    table = rows(settings, cells)
    out = settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_csv(table, out / "results.csv")
    seeds = sorted({c.cfg.num_seeds for c in cells})
    notes = [settings.description] if settings.description else []
    notes += [f"preset `{settings.preset}`: {len(cells)} cells, {'/'.join(map(str, seeds))} seed(s) each; cell run "
              "dirs: `runs/<algo>/<task>/<model>`",
              "MMER: per seed the maximum over training updates of the mean return of the episodes that ended in "
              "the update" + (f" (trailing mean over {settings.mmer_window} updates)" if settings.mmer_window > 1
                              else " (no smoothing)") + ", then mean +- std over seeds; final: mean of each seed's "
              "last 10% of logged updates; eval: greedy evaluation at the end (summary.json)"]
    if settings.added:
        notes.append(f"baselines added to the preset's models: {', '.join(settings.added)}")
    if settings.match_params is not None:
        notes.append(f"match_params={settings.match_params}: d_model chosen per model so that the core stack has "
                     "about that many parameters (achieved counts in the headers)")
    if any(c.eval_trials for c in cells):
        notes.append("meta-RL tasks: trained on k trials per meta-episode, evaluated greedily on 2k; "
                     "`trials_<task>.png` shows the return per trial index")
    if any(math.isfinite(r.get("memory_horizon", float("nan"))) for r in table):
        notes.append("memory horizon / state use: seed 0's trained core stack on greedy episodes "
                     "(ssmrl.diagnostics); each cell's `memory.png` is in its run dir")
    (out / "results.md").write_text(markdown(table, f"Benchmark: {settings.preset}", notes))
    if plots:
        for task in settings.tasks:
            plot_curves(task, table, out / f"curves_{slug(task)}.png")
        plot_summary(table, out / "summary.png")
        for task in settings.tasks:
            entries = []
            for c in cells:
                trials = read_json(c.run_dir / CELL_FILE).get("trials") if c.task == task else None
                if trials:
                    returns = np.array([[np.nan if v is None else v for v in r] for r in trials["returns"]])
                    label = f"{c.algo} {c.model}" if len(settings.algos) > 1 else c.model
                    entries.append((label, returns, int(trials["train_trials"])))
            plot_trials(task, entries, out / f"trials_{slug(task)}.png")
    return table


def plan_line(settings: Settings, cells: Sequence[Cell], the_plan: Plan) -> str:
    seeds = sorted({c.cfg.num_seeds for c in cells})
    text = (f"plan: {len(cells)} cells ({len(settings.algos)} algo x {len(settings.models)} models x "
            f"{len(settings.tasks)} tasks; {'/'.join(map(str, seeds))} seed(s) each): {the_plan.counts()}")
    if settings.added:
        text += f"; baselines added: {', '.join(settings.added)}"
    if settings.xla_flags:
        text += f"; XLA_FLAGS {os.environ.get('XLA_FLAGS', '')!r}"
    if settings.match_params is not None:
        sizes = {c.model: c.match for c in cells if c.match is not None}
        text += f"; match_params={settings.match_params}: " + ", ".join(
            f"{m} d_model={x.d_model} ({count_text(x.params)})" for m, x in sizes.items())
    return text + f" -> {settings.out_dir}"


def cell_line(index: int, total: int, cell: Cell, row: dict) -> str:
    f = lambda v, spec=".3f": "-" if not isinstance(v, (int, float)) or not math.isfinite(v) else format(v, spec)
    status = row.get("status", "")
    text = (f"[{index}/{total}] {cell.label}: MMER {f(row['mmer'])} +- {f(row['mmer_std'])}, final "
            f"{f(row['final_return'])}, eval {f(row['eval_return'])}, {f(row['wall_s'], '.0f')} s (compile "
            f"{f(row['compile_s'], '.0f')} s), {count_text(row['sps'])} steps/s, params core "
            f"{count_text(row['core_params'])} / agent {count_text(row['agent_params'])}")
    if "trial_return_seen" in row:
        text += f", return per trial {f(row['trial_return_seen'])} (1..k) / {f(row['trial_return_beyond'])} (k+1..2k)"
    if math.isfinite(row.get("memory_horizon", float("nan"))):
        text += f", memory horizon {f(row['memory_horizon'], '.0f')}, state use {f(row['state_use'], '.2f')}"
    if row.get("memory_error"):
        text += f", memory diagnostics failed ({row['memory_error']})"
    return text + ("" if status == "ok" else f" [{status}]")


@dataclass
class RLCells:
    """The RL grid's kind of unit for the engine (:mod:`ssmrl.benchmark.engine`): its cells' status, run and line."""

    settings: Settings
    algorithms: dict[str, Algorithm]
    make_env: Callable
    train_fn: Callable = train

    def status(self, cell: Cell) -> str:
        status = cell_status(cell)
        if status != "new":
            check_saved(cell)
        return {"done": DONE, "new": ABSENT}.get(status, PARTIAL)

    def run(self, cell: Cell) -> dict:
        run_cell(cell, self.algorithms[cell.algo], self.make_env, self.settings, self.train_fn)
        return {"algo": cell.algo, "task": cell.task, "model": cell.model,
                **cell_row(cell.run_dir, self.settings.mmer_window)}

    def line(self, index: int, total: int, cell: Cell, row: dict) -> str:
        return cell_line(index, total, cell, row)


def run_grid(settings: Settings, cells: Sequence[Cell], algorithms: dict[str, Algorithm], make_env: Callable,
             train_fn: Callable = train, say: Callable[[str], None] = say_line) -> list[dict]:
    """Check every existing cell against its config, print the plan, run the cells still to do (at most
    ``max_cells``), a line each, then write the report; returns its rows."""
    kind = RLCells(settings, algorithms, make_env, train_fn)
    the_plan = plan_units(cells, kind, settings.max_cells)
    claim_out_dir(settings.out_dir, "rl", "runs/**/" + CELL_FILE)
    say(plan_line(settings, cells, the_plan))

    def after_each(cell: Cell) -> None:
        write_report(settings, cells, plots=False)
        jax.clear_caches()  # each cell compiles its own programs; do not keep them all

    run_units(the_plan, kind, say, after_each)
    table = write_report(settings, cells)
    say(written_line(settings.out_dir, ["results.md", "results.csv", "curves_*.png", "summary.png", "trials_*.png"]))
    return table


def run_preset(argv: Sequence[str], config_dir: Path, algorithms: dict[str, Callable[[], Algorithm]],
               make_env: Callable[..., tuple[Any, Any]], train_fn: Callable = train,
               say: Callable[[str], None] = say_line) -> None:
    """Settings -> cells -> run -> report for an RL preset; raises what :func:`ssmrl.benchmark.engine.exit_status`
    maps to exit codes."""
    settings = load_settings(config_dir, argv, list(algorithms))
    if not apply_xla_flags(settings.xla_flags):
        say(f"note: xla_flags={settings.xla_flags!r} not applied: JAX had already started in this process")
    loaded = {name: algorithms[name]() for name in settings.algos}
    cells = plan(settings, config_dir, loaded, make_env)
    run_grid(settings, cells, loaded, make_env, train_fn, say)


def main(argv: Sequence[str], config_dir: Path, algorithms: dict[str, Callable[[], Algorithm]],
         make_env: Callable[..., tuple[Any, Any]], train_fn: Callable = train,
         say: Callable[[str], None] = say_line, wm_data: Callable | None = None) -> int:
    """The body of ``scripts/benchmark.py``: settings -> cells -> run -> report. ``algorithms`` maps a name to a
    loader of its :class:`Algorithm` (only the algorithms of the grid are loaded). A preset with ``kind:
    world_model`` goes to :func:`ssmrl.benchmark.wm_grid.run_preset` with the data factory ``wm_data`` instead.
    Returns the engine's exit status (:func:`ssmrl.benchmark.engine.exit_status`): 0; 2 after a one-line ``config
    error: ...`` or ``error: ...`` (nothing finished is touched); 130 on Ctrl-C."""
    from ssmrl.benchmark.wm_settings import WORLD_MODEL, preset_kind

    def body() -> None:
        if preset_kind(config_dir, argv) == WORLD_MODEL:
            from ssmrl.benchmark.wm_grid import run_preset as run_wm_preset

            return run_wm_preset(argv, config_dir, wm_data, say)
        return run_preset(argv, config_dir, algorithms, make_env, train_fn, say)

    return exit_status(body, say)
