"""World-model backbones compared as in S4WM ("Facing Off World Model Backbones: RNNs, Transformers, and S4",
Deng, Park and Ahn, NeurIPS 2023): the world model trained offline on fixed episodes, then evaluated open-loop.

Modules: ``offline`` (jitted init / train_step on minibatches of sequences, ``fit``, training throughput and
planned memory), ``openloop`` (observe a context, imagine the rest with the true actions; MSE vs horizon, on the
marked frames, reward prediction, imagination throughput), ``references`` (the "mean frame" and "last frame"
predictors, no learning, scored as the world models) and ``report`` (table rows, MSE-curve and image-strip
PNGs). ``ssmrl`` never imports ``envs``: the caller makes the data and passes the spaces. One (model, task) cell::

    env, env_params = envs.wm_memory.make_task("RevisitEasy")
    train = generate_dataset(key_train, "RevisitEasy", 512); test = generate_dataset(key_test, "RevisitEasy", 64)
    cfg = OfflineConfig(latent_groups=16, latent_classes=16, hidden=256, image_scale=255.0, image_shift=0.5)
    cell = run_cell(cfg, ModelConfig(name="s5"), "s5", "RevisitEasy", env.observation_space(env_params),
                    env.action_space(env_params), train, test, num_steps=2000, key=key)
    rows.append(cell.row); curves[name] = cell.result.mse; preds[name] = cell.result.pred[:, 0]
    # per task: report.plot_mse_curves(curves, ...); report.plot_strip(cell.result.truth[:, 0], preds, ...)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from ssmrl.wm_bench.offline import OfflineConfig, OfflineState, fit, make_offline, train_throughput
from ssmrl.wm_bench.openloop import OpenLoopResult, evaluate, imagine_throughput, make_rollout
from ssmrl.wm_bench.report import table_row

__all__ = ["Cell", "OfflineConfig", "run_cell"]


@dataclasses.dataclass
class Cell:
    """One (model, task) result: row (``report.table_row``), result (``openloop.OpenLoopResult``),
    train_metrics ({name: float32 [num_steps]}) and the trained state."""

    row: dict
    result: OpenLoopResult
    train_metrics: dict
    state: OfflineState


def run_cell(cfg: Any, model: Any, model_name: str, task: str, obs_space: Any, action_space: Any, train_data: Any,
             eval_data: Any, num_steps: int, key: jax.Array, context: int | None = None,
             eval_chunk: int | None = None, speed: bool = False, imagine_horizons: tuple[int, ...] = (),
             keep: int = 2, jit_options: dict | None = None, **options: Any) -> Cell:
    """Train the world model of (``cfg``, ``model``) for ``num_steps`` steps on ``train_data`` ([T, N, ...]
    episodes), evaluate it open-loop on ``eval_data`` (``context`` None: the task's default), and collect the row.

    ``speed``: also time a training step on one sampled batch (``train_throughput``); ``imagine_horizons``: time
    the rollout at these K (``imagine_throughput``, batch ``cfg.batch_size``). ``jit_options`` go to the jitted
    training and rollout functions, ``options`` to the world model.
    Keys: ``split(key, 4)`` -> init, training, evaluation, the timed batch.
    """
    offline = make_offline(cfg, obs_space, action_space, model, jit_options=jit_options, **options)
    key_init, key_train, key_eval, key_batch = jax.random.split(key, 4)
    state, metrics = fit(offline, offline.init(key_init), train_data, num_steps, key_train)
    result = evaluate(offline.world_model, state.params, eval_data, key_eval, context=context, chunk=eval_chunk,
                      keep=keep, rollout=make_rollout(offline.world_model, jit_options=jit_options))
    train_speed = train_throughput(offline, state, offline.sample(key_batch, train_data)) if speed else None
    imagine_speed = imagine_throughput(offline.world_model, state.params, cfg.batch_size,
                                       list(imagine_horizons)) if imagine_horizons else None
    finite = bool(np.all(np.isfinite(metrics["loss"]))) if len(metrics["loss"]) else True
    row = table_row(model_name, task, result, metrics, train_speed, imagine_speed, posterior=cfg.posterior,
                    loss_finite=finite)
    return Cell(row, result, metrics, state)
