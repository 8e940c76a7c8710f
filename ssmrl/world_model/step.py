"""One training step of the world model: its loss on a replayed batch, the gradient, a clipped Adam step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from ssmrl.world_model.config import WorldModelConfig
from ssmrl.world_model.model import LossAux, WorldModel, world_model_loss

Array = jax.Array


def clipped_adam(lr: float, clip: float) -> optax.GradientTransformation:
    """Adam (``lr``, eps 1e-8) after clipping the global gradient norm at ``clip``: the optimiser of the world
    model's step and of Dreamer's actor and critic."""
    return optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr, eps=1e-8))


def make_world_model_objective(cfg: WorldModelConfig, world_model: WorldModel) -> Callable:
    """``objective(params, batch, key) -> (loss float32 [], LossAux)``: :func:`world_model_loss` on ``batch``
    ([T, B, ...]) with the KL settings of ``cfg`` and the posterior sampled by ``key``: what the step
    differentiates, and what a validation check evaluates without the gradient. Pure and jittable."""
    return lambda params, batch, key: world_model_loss(key, params, batch, model=world_model,
                                                       dyn_scale=cfg.dyn_scale, rep_scale=cfg.rep_scale,
                                                       free_bits=cfg.free_bits)


def make_world_model_step(cfg: WorldModelConfig, world_model: WorldModel
                          ) -> tuple[optax.GradientTransformation, Callable]:
    """-> (tx, step). tx: Adam (``cfg.wm_lr``, eps 1e-8) after clipping the global gradient norm at
    ``cfg.wm_grad_clip`` (``tx.init(params)`` is the optimiser state). ``step(params, opt_state, batch, key) ->
    (params, opt_state, aux, grads)``: :func:`world_model_loss` on ``batch`` ([T, B, ...], a
    ``ssmrl.world_model.batch.ReplayBatch``) with the posterior sampled by ``key``, its gradient ``grads`` (the
    parameters' tree) and one step of ``tx``; ``aux``: the loss's :class:`LossAux` (metrics and imagination
    starts). Pure and jittable."""
    tx = clipped_adam(cfg.wm_lr, cfg.wm_grad_clip)
    objective = make_world_model_objective(cfg, world_model)

    def step(params: Any, opt_state: Any, batch: Any, key: Array) -> tuple[Any, Any, LossAux, Any]:
        (_, aux), grads = jax.value_and_grad(lambda p: objective(p, batch, key), has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, aux, grads

    return tx, step
