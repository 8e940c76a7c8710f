"""The one run loop for every algorithm: compile, progress, logging, checkpoints, exact resume, final
evaluation, learning curve and ``summary.json``.

An algorithm hands the loop ``make_train(cfg, env, env_params) -> Train`` (:class:`ssmrl.algorithm.Train`): pure
functions with ``init(key) -> state``, ``update(state) -> (state, metrics)`` (metrics: a flat dict of float32
scalars), ``evaluate(key, state) -> metrics`` and ``agent_params(state)``; ``cfg.algo`` gives ``num_updates`` and
``steps_per_update``. The loop knows nothing else of the algorithm. On a host-side environment (``env.host_side``,
e.g. Atari) the ``Train`` has host parts (``train.host``) instead of ``update``, which
:mod:`ssmrl.runners.host_envs` drives with the same calls (the fused runner loops ``update`` on the device; the
host runner steps the emulators between jitted calls). ``summary.json`` records ``agent_params``: the number of
real parameters in one seed's ``agent_params(state)``.
Every metric key becomes a ``metrics.csv`` column and a tensorboard scalar. The episode statistics of the shared
acting module (``episode_return``, ``episode_length``, ``episodes``) are also
reduced over seeds here: a seed counts for an update only if one of its episodes ended in it.

Resume: call :func:`train` again on the same ``run_dir`` with the same config; it restores the newest intact
checkpoint (falling back past damaged ones, with a warning) and continues with bit-identical results to an
uninterrupted run (``update`` is the same compiled program and the state holds every PRNG key, env state and
carry). A run that is already complete is left as it is.

Failures end the loop with an exception whose message is one line, and lose nothing saved: :class:`Diverged` at
the first update with a non-finite metric or state (its rows are logged, written as ``nan``; no checkpoint of it
is saved, so the newest checkpoint is the last finite one); :class:`Interrupted` on Ctrl-C or SIGTERM (inside
:func:`ssmrl.runners.signals.sigterm_as_interrupt`), after saving the state of the last completed call.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from rich.console import Console

from ssmrl.algorithm import Train
from ssmrl.checkpoint import Checkpointer, CheckpointError, NonFiniteState
from ssmrl.config import ABSENT, MAY_CHANGE_ON_RESUME, ConfigError, RunConfig, config_changes, config_record
from ssmrl.output import number_text, write_json
from ssmrl.plotting import plot_runs
from ssmrl.run_log import RunLogger
from ssmrl.runners.fused import make_fused_runner, seed_keys
from ssmrl.runners.health import CollapseWatch, divergence_hint, first_non_finite
from ssmrl.runners.host_envs import make_host_runner
from ssmrl.runners.progress import ProgressReporter
from ssmrl.runners.signals import interruptible, stop_word, terminated

EPISODE_KEYS = ("episode_return", "episode_length")


class Diverged(RuntimeError):
    """A metric or the state became non-finite; ``update`` is the first update where it did."""

    def __init__(self, message: str, update: int):
        super().__init__(message)
        self.update = update


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (``terminated``; :mod:`ssmrl.runners.signals`), after saving; ``update`` is the last
    update whose state was saved (0: nothing)."""

    def __init__(self, message: str, update: int, terminated: bool = False):
        super().__init__(message)
        self.update = update
        self.terminated = terminated


@dataclass
class RunResult:
    """state: final state with a leading seed axis; final_return: mean over seeds of the last logged return;
    eval_return: mean evaluation return (None if not evaluated); eval_metrics: every evaluation metric (means over
    seeds); wall_s: seconds over the whole run (all sessions); compile_s; sps: env steps/s (all seeds) of the
    updates done in this call; updates: updates done when the call returned; agent_params: real parameters of one
    seed's agent (:meth:`ssmrl.algorithm.Train.agent_param_count`; None for a run completed before it was
    recorded)."""

    state: Any
    final_return: float
    eval_return: float | None
    eval_metrics: dict
    wall_s: float
    compile_s: float
    sps: float
    updates: int
    agent_params: int | None = None


def rows_from_metrics(metrics: dict[str, np.ndarray], sps: float) -> list[dict[str, float | None]]:
    """Metrics of n updates x S seeds (dict of [n, S]) -> n rows: each key's mean over seeds; for the episode keys
    the mean over the seeds where an episode ended (None if none did), the spread of returns over those seeds
    (``episode_return_std``) and each seed's return (``return_seed<i>``, None where none ended)."""
    count = metrics.get("episodes")
    rows = []
    for i in range(next(iter(metrics.values())).shape[0]):
        row: dict[str, float | None] = {k: float(np.mean(v[i])) for k, v in metrics.items() if k not in EPISODE_KEYS}
        ended = count[i] > 0 if count is not None else ~np.isnan(metrics.get("episode_return", np.zeros((1, 1)))[i])
        for key in EPISODE_KEYS:
            if key in metrics:
                row[key] = float(metrics[key][i][ended].mean()) if ended.any() else None
        if "episode_return" in metrics:
            returns = metrics["episode_return"][i]
            row["episode_return_std"] = float(returns[ended].std()) if ended.any() else None
            row.update({f"return_seed{s}": float(r) if ended[s] else None for s, r in enumerate(returns)})
        row["sps"] = sps
        rows.append(row)
    return rows


def state_size(state: Any, num_seeds: int) -> str:
    """"state <MB> per seed (<largest fields>)": what the training state holds on the device."""
    mb = lambda tree: sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree)) / num_seeds / 2**20
    fields = getattr(state, "__dataclass_fields__", {})
    parts = sorted(((mb(getattr(state, f)), f) for f in fields), reverse=True)[:3]
    detail = ", ".join(f"{name} {size:.1f}" for size, name in parts if size >= 0.05)
    return f"state {mb(state):.1f} MB per seed" + (f" ({detail})" if detail else "")


def one_seed_shapes(state: Any) -> Any:
    """The shapes (``jax.ShapeDtypeStruct``) of one seed's state in ``state`` (leading seed axis); nothing is
    computed or copied."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state)


def _mean_over_seeds(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """Evaluation metrics (dict of [S]) -> means; episode keys over the seeds where an episode ended (NaN if none)."""
    ended = metrics["episodes"] > 0 if "episodes" in metrics else np.ones_like(next(iter(metrics.values())), bool)
    out = {}
    for key, value in metrics.items():
        if key in EPISODE_KEYS:
            out[key] = float(np.mean(value[ended])) if ended.any() else float("nan")
        else:
            out[key] = float(np.mean(value))
    return out


def train(cfg: RunConfig, make_train: Callable, env: Any, env_params: Any, run_dir: str | Path,
          stop_after: int | None = None, console: Console | None = None, devices: list | None = None) -> RunResult:
    """Train (or resume) ``cfg.num_seeds`` seeds of the algorithm ``make_train`` in ``run_dir``; see the module
    docstring. stop_after: return once this many updates are done (at a call boundary), as if the process were
    killed there (used by tests of exact resume). devices: where to place the state (default: every device)."""
    console = console or Console()
    start_time = time.perf_counter()
    run_dir = Path(run_dir)
    algo = cfg.algo
    num_updates, steps = algo.num_updates, algo.steps_per_update
    per_call = max(1, min(cfg.runner.updates_per_call, num_updates))
    ckpt_every = -(-cfg.runner.checkpoint_every // per_call) * per_call
    eval_every = -(-cfg.runner.eval_every // per_call) * per_call  # 0: no evaluation during training
    ckpt = Checkpointer(run_dir / "checkpoints", cfg.runner.max_checkpoints)
    record = config_record(cfg)
    _check_same_config(ckpt, cfg, record, run_dir)
    saved_step = ckpt.latest_step() or 0
    if saved_step > num_updates:
        raise CheckpointError(f"{run_dir} holds a checkpoint at update {saved_step}, beyond this config's "
                              f"{num_updates} updates: it belongs to another configuration; use a new run_dir")
    if saved_step == num_updates and (run_dir / "summary.json").exists():
        ckpt.close()
        return _completed(run_dir, num_updates, console)
    parts: Train = make_train(cfg, env, env_params)
    console.print(f"compiling {cfg.model.name} on {cfg.env.env_id}: up to {per_call} updates x {cfg.num_seeds} "
                  "seed(s) per call ...", highlight=False)
    if parts.host is not None:
        runner, state = make_host_runner(parts, seed_keys(cfg.seed, cfg.num_seeds), per_call,
                                         run_dir / "env_snapshots", cfg.runner.max_checkpoints)
    else:
        runner, state = make_fused_runner(parts, seed_keys(cfg.seed, cfg.num_seeds), per_call, devices)
    agent_params = parts.agent_param_count(one_seed_shapes(state))
    console.print(f"compiled in {runner.compile_s:.1f} s; {num_updates} updates of {steps} env steps per seed"
                  f"{f' on {len(runner.devices)} devices' if len(runner.devices) > 1 else ''}; "
                  f"{state_size(state, cfg.num_seeds)}", highlight=False)
    done = 0
    restored = ckpt.restore_latest(state, warn=lambda msg: console.print(msg, highlight=False))
    if restored is not None:
        done, state = restored
        state = runner.restored(done, state, lambda msg: console.print(msg, highlight=False))
        console.print(f"resumed from checkpoint at update {done} in {run_dir}", highlight=False)
    start_done = saved = done
    collapse = CollapseWatch(parts.health)
    logger = RunLogger(run_dir, cfg.logger, start_update=done)
    gap = logger.history_gap(done)
    if gap:
        console.print(gap, highlight=False)
    wall_before = logger.last_logged("wall_s")
    wall_before = 0.0 if np.isnan(wall_before) else wall_before
    logger.log_scalar("perf/compile_s", runner.compile_s, done * steps)
    last_return, sps, train_s = logger.last_logged("episode_return"), 0.0, 0.0
    try:
        try:
            with ProgressReporter(cfg.logger.progress, console, f"{cfg.model.name} {cfg.env.task}", num_updates,
                                  steps) as progress:
                progress.update(done, sps, last_return)
                while done < num_updates and (stop_after is None or done < stop_after):
                    n = min(per_call, num_updates - done)
                    t0 = time.perf_counter()
                    with interruptible():  # a SIGTERM stops here (a held one as the call starts), like Ctrl-C
                        new_state, metrics = runner.run(state, n)
                        metrics = {k: v[:n] for k, v in jax.device_get(metrics).items()}
                    dt = time.perf_counter() - t0
                    train_s += dt
                    sps = n * steps * cfg.num_seeds / dt
                    rows = rows_from_metrics(metrics, sps)
                    if eval_every and cfg.runner.eval_envs > 0 and runner.evaluate is not None:
                        for row in rows:
                            row["eval_return"] = None
                        if (done + n) % eval_every == 0:
                            rows[-1]["eval_return"] = _evaluate_during(cfg, runner, new_state, done + n)
                            logger.log_scalar("eval/episode_return", rows[-1]["eval_return"], (done + n) * steps)
                    for i, row in enumerate(rows):
                        row["wall_s"] = wall_before + time.perf_counter() - start_time
                        logger.log(done + i + 1, row)
                        last_return = row["episode_return"] if row.get("episode_return") is not None else last_return
                    logger.flush()
                    bad = first_non_finite(rows, done + 1, parts.health.metric_order)
                    if bad is not None:
                        raise Diverged(f"diverged at update {bad[0]}: {bad[1]} is not finite; {_kept(saved)}; "
                                       f"{divergence_hint(parts.health)}", bad[0])
                    warning = collapse.see(rows, done + 1)
                    if warning is not None:
                        console.print(warning, highlight=False, markup=False)
                    state, done = new_state, done + n
                    if done % ckpt_every == 0 or done == num_updates:
                        try:
                            ckpt.save(done, state, record)
                        except NonFiniteState as err:
                            raise Diverged(f"diverged by update {done}: {err}; {_kept(saved)}", done) from None
                        runner.saved(done)
                        saved = done
                    progress.update(done, sps, last_return)
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as Terminated (ssmrl.runners.signals)
            if done > saved:
                try:
                    ckpt.save(done, state, record)
                    runner.saved(done)
                    saved = done
                except (CheckpointError, OSError):
                    pass
            raise Interrupted(f"{stop_word(stop)} at update {done}/{num_updates}; saved up to update {saved}",
                              saved, terminated(stop)) from None
    except BaseException:
        logger.close()
        ckpt.close()
        raise
    try:
        return _finish(cfg, runner, state, logger, ckpt, run_dir, console, done, start_done, last_return, train_s,
                       wall_before, start_time, agent_params)
    except KeyboardInterrupt as stop:
        logger.close()
        ckpt.close()
        raise Interrupted(f"{stop_word(stop)} after update {done}/{num_updates}, while evaluating; saved up to "
                          f"update {saved}", saved, terminated(stop)) from None


def _evaluate_during(cfg, runner, state, update: int) -> float:
    """The mean greedy-evaluation return over seeds after ``update`` (``runner.eval_every``); its key depends only
    on the seed and the update, so a resumed run logs the same values."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 2), update)
    metrics = _mean_over_seeds(jax.device_get(runner.evaluate(jax.random.split(key, cfg.num_seeds), state)))
    return float(metrics["episode_return"])


def _finish(cfg, runner, state, logger, ckpt, run_dir, console, done, start_done, last_return, train_s, wall_before,
            start_time, agent_params) -> RunResult:
    """Final evaluation, curve and summary of a run that stopped at update ``done``."""
    num_updates, steps = cfg.algo.num_updates, cfg.algo.steps_per_update
    eval_metrics: dict = {}
    if done == num_updates and cfg.runner.eval_envs > 0 and runner.evaluate is not None:
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1), cfg.num_seeds)
        eval_metrics = _mean_over_seeds(jax.device_get(runner.evaluate(keys, state)))
        for key, value in eval_metrics.items():
            logger.log_scalar(f"eval/{key}", value, num_updates * steps)
    logger.close()
    ckpt.close()
    if cfg.logger.plot and cfg.logger.csv and done:
        plot_runs([run_dir], run_dir / "learning_curve.png", labels=[f"{cfg.model.name} {cfg.env.env_id}"])
    eval_return = eval_metrics.get("episode_return")
    result = RunResult(state=state, final_return=float(last_return), eval_return=eval_return,
                       eval_metrics=eval_metrics, wall_s=wall_before + time.perf_counter() - start_time,
                       compile_s=runner.compile_s,
                       sps=((done - start_done) * steps * cfg.num_seeds / train_s) if train_s else 0.0, updates=done,
                       agent_params=agent_params)
    summary = {k: v for k, v in result.__dict__.items() if k != "state"}
    window = cfg.runner.final_window
    summary.update(env_steps=done * steps, complete=done == num_updates, train_return_window=window,
                   train_return_last=window_return(logger.csv_path, done - -(-window // steps)) if cfg.logger.csv
                   else None)
    write_json(run_dir / "summary.json", summary)  # NaN (e.g. no episode ended) as null: valid JSON
    console.print(f"done: {done}/{num_updates} updates, return {number_text(result.final_return, '.3f')}, eval "
                  f"{number_text(eval_return, '.3f')}, {result.sps:,.0f} steps/s, "
                  f"wall {result.wall_s:.0f} s -> {run_dir}", highlight=False)
    return result


def window_return(csv_path: Path, after_update: int) -> float | None:
    """Mean return of the episodes that ended after update ``after_update`` (rows of ``metrics.csv``, each row's
    ``episode_return`` weighted by its ``episodes`` count); None if none ended there or the file is unreadable."""
    total = count = 0.0
    try:
        with open(csv_path, newline="") as f:
            for row in csv.DictReader(f):
                value, n = row.get("episode_return") or "", row.get("episodes") or "1"
                if int(float(row["update"])) > after_update and value not in ("", "nan"):
                    total, count = total + float(value) * float(n), count + float(n)
    except (OSError, ValueError, KeyError):
        return None
    return total / count if count else None


def _check_same_config(ckpt: Checkpointer, cfg: RunConfig, record: dict, run_dir: Path) -> None:
    """ConfigError if the config recorded with the newest checkpoint differs from ``record`` (this session's
    ``cfg``) in a key that must not change between sessions (:data:`ssmrl.config.MAY_CHANGE_ON_RESUME`), naming
    the first such key, both values and what to do."""
    recorded = ckpt.recorded_config()
    changes = config_changes(recorded[1], record, cfg=cfg) if recorded is not None else []
    if not changes:
        return
    ckpt.close()
    key, before, now = changes[0]
    more = f" (also {', '.join(k for k, _, _ in changes[1:])})" if len(changes) > 1 else ""
    allowed = ", ".join(MAY_CHANGE_ON_RESUME)
    raise ConfigError(f"{key} is {_text(now)} in this config but {_text(before)} in the checkpoint of update "
                      f"{recorded[0]} in {run_dir}{more}: resuming would continue that run as another (was "
                      f"config.yaml edited?); set {key} back to {_text(before)} to resume it, or train in a new "
                      f"run_dir; between sessions only {allowed} may change")


def _text(value: Any) -> str:
    """A config value in JSON ("RepeatFirstEasy" with quotes, null, 0.001), or ``absent``."""
    return "absent" if value is ABSENT else json.dumps(value)


def _kept(saved: int) -> str:
    return (f"the newest checkpoint is the last finite one (update {saved})" if saved else
            "no checkpoint was saved before it")


def _completed(run_dir: Path, num_updates: int, console: Console) -> RunResult:
    """A run whose last update is saved and summarised: report it, touch nothing."""
    summary = json.loads((run_dir / "summary.json").read_text())
    console.print(f"run in {run_dir} is already complete ({num_updates} updates); nothing to do", highlight=False)
    final_return = summary.get("final_return")
    return RunResult(state=None, final_return=float("nan") if final_return is None else final_return,
                     eval_return=summary.get("eval_return"), eval_metrics=summary.get("eval_metrics", {}),
                     wall_s=summary.get("wall_s", 0.0), compile_s=summary.get("compile_s", 0.0),
                     sps=summary.get("sps", 0.0), updates=num_updates, agent_params=summary.get("agent_params"))
