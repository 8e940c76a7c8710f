"""The host loop around the fused runner: progress bar, tensorboard / CSV logging per update, orbax checkpoints
of the whole training state every ``runner.checkpoint_every`` updates, exact resume from the latest checkpoint
in the run directory, final evaluation, learning-curve PNG and ``summary.json``.

Resume: call :func:`run_ppo` again on the same ``run_dir`` with the same config; it restores the latest
checkpoint and continues with bit-identical results to an uninterrupted run (the update function is the same
compiled program and the checkpoint holds every PRNG key, env state and carry).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ssmrl.checkpoint import Checkpointer
from ssmrl.config import PPOConfig
from ssmrl.logging import RunLogger
from ssmrl.plotting import plot_runs
from ssmrl.ppo.evaluate import make_evaluate
from ssmrl.ppo.train import make_train
from ssmrl.runners.fused import chunk_length, make_fused_runner, seed_keys


@dataclass
class RunResult:
    """state: final TrainState with a leading seed axis; final_return: mean over seeds of the last logged return;
    eval_return: mean greedy-evaluation return (None if disabled); wall_s, compile_s, sps: timings;
    updates: updates done when the call returned."""

    state: Any
    final_return: float
    eval_return: float | None
    wall_s: float
    compile_s: float
    sps: float
    updates: int


def _rows(metrics: dict[str, np.ndarray], sps: float) -> list[dict[str, float]]:
    """[chunk, S] metric arrays -> one CSV/tensorboard row per update (means over seeds)."""
    done = metrics["episodes"] > 0
    returns = np.where(done, metrics["episode_return"], np.nan)
    rows = []
    for i in range(returns.shape[0]):
        finite = returns[i][~np.isnan(returns[i])]
        row = {k: float(np.mean(v[i])) for k, v in metrics.items() if k not in ("episodes", "episode_return")}
        row["episode_return"] = float(finite.mean()) if finite.size else np.nan
        row["episode_return_std"] = float(finite.std()) if finite.size else np.nan
        row["episode_length"] = float(np.mean(metrics["episode_length"][i][done[i]])) if done[i].any() else np.nan
        row["sps"] = sps
        row.update({f"return_seed{s}": float(r) for s, r in enumerate(returns[i])})
        rows.append(row)
    return rows


def _progress(enabled: bool, console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                    TextColumn("{task.fields[steps]} steps"), TextColumn("{task.fields[sps]} steps/s"),
                    TextColumn("return {task.fields[ret]}"), TimeElapsedColumn(),
                    console=console, disable=not enabled)


def run_ppo(cfg: PPOConfig, env: Any, env_params: Any, run_dir: str | Path, stop_after: int | None = None,
            console: Console | None = None) -> RunResult:
    """Train (or resume) PPO for ``cfg.num_seeds`` seeds in ``run_dir``; see the module docstring.

    stop_after: return once this many updates are done (at a chunk end), as if the process were killed there
    (used by tests of exact resume).
    """
    console = console or Console()
    start_time = time.perf_counter()
    run_dir = Path(run_dir)
    num_updates = cfg.algo.num_updates
    chunk = chunk_length(num_updates, cfg.runner.updates_per_chunk)
    ckpt_every = -(-cfg.runner.checkpoint_every // chunk) * chunk
    init, update = make_train(cfg, env, env_params)
    runner, state = make_fused_runner(init, update, seed_keys(cfg.seed, cfg.num_seeds), chunk)
    console.print(f"[dim]compiled {chunk} updates x {cfg.num_seeds} seed(s) in {runner.compile_s:.1f} s; "
                  f"{num_updates} updates of {cfg.algo.steps_per_update} env steps[/dim]")
    ckpt = Checkpointer(run_dir / "checkpoints", cfg.runner.max_checkpoints)
    done = ckpt.latest_step() or 0
    if done > num_updates:
        raise ValueError(f"{run_dir} holds a checkpoint at update {done}, beyond this config's {num_updates} "
                         "updates: it belongs to another configuration; use a new run_dir")
    if done:
        state = ckpt.restore(done, state)
        console.print(f"resumed from checkpoint at update {done} in {run_dir}")
    logger = RunLogger(run_dir, cfg.logger, cfg.num_seeds, start_update=done)
    logger.log_scalar("perf/compile_s", runner.compile_s, done * cfg.algo.steps_per_update)
    last_return, sps, train_s = logger.last_logged("episode_return"), 0.0, 0.0
    with _progress(cfg.logger.progress, console) as progress:
        task = progress.add_task(f"{cfg.model.name} {cfg.env.task}", total=num_updates, completed=done,
                                 steps=done * cfg.algo.steps_per_update, sps="-", ret="-")
        while done < num_updates and (stop_after is None or done < stop_after):
            t0 = time.perf_counter()
            state, metrics = runner.run_chunk(state)
            metrics = jax.device_get(metrics)
            dt = time.perf_counter() - t0
            train_s += dt
            sps = chunk * cfg.algo.steps_per_update * cfg.num_seeds / dt
            for i, row in enumerate(_rows(metrics, sps)):
                row["wall_s"] = time.perf_counter() - start_time
                logger.log(done + i + 1, row)
                last_return = row["episode_return"] if not np.isnan(row["episode_return"]) else last_return
            done += chunk
            logger.flush()
            if done % ckpt_every == 0 or done == num_updates:
                ckpt.save(done, state)
            progress.update(task, completed=done, steps=f"{done * cfg.algo.steps_per_update:,}",
                            sps=f"{sps:,.0f}", ret=f"{last_return:.3f}")
    eval_return = None
    if done == num_updates and cfg.runner.eval_envs > 0:
        evaluate = jax.jit(jax.vmap(make_evaluate(cfg, env, env_params)))
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1), cfg.num_seeds)
        eval_metrics = jax.device_get(evaluate(keys, state.params))
        finished = eval_metrics["episodes"] > 0
        eval_return = float(np.mean(eval_metrics["episode_return"][finished])) if finished.any() else float("nan")
        logger.log_scalar("eval/episode_return", eval_return, num_updates * cfg.algo.steps_per_update)
    logger.close()
    ckpt.close()
    if cfg.logger.plot and cfg.logger.csv and done:
        plot_runs([run_dir], run_dir / "learning_curve.png", labels=[f"{cfg.model.name} {cfg.env.env_id}"])
    result = RunResult(state=state, final_return=float(last_return), eval_return=eval_return,
                       wall_s=time.perf_counter() - start_time, compile_s=runner.compile_s,
                       sps=(done * cfg.algo.steps_per_update * cfg.num_seeds / train_s) if train_s else 0.0,
                       updates=done)
    summary = {k: v for k, v in result.__dict__.items() if k != "state"}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"done: {done}/{num_updates} updates, return {result.final_return:.3f}, eval "
                  f"{'-' if eval_return is None else f'{eval_return:.3f}'}, {result.sps:,.0f} steps/s, "
                  f"wall {result.wall_s:.0f} s -> {run_dir}")
    return result
