"""The world model that a :class:`ssmrl.world_model.config.WorldModelConfig` describes, on any sequence core."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from ssmrl.config import ConfigError, ModelConfig
from ssmrl.nets.encoders import space_spec
from ssmrl.world_model.config import WorldModelConfig
from ssmrl.world_model.model import WorldModel, make_world_model, obs_kind


def _stack(model: Any):
    """A ModelConfig, a core name (ModelConfig's defaults) or an already built stack -> the stack."""
    if isinstance(model, str):
        model = ModelConfig(name=model)
    if isinstance(model, ModelConfig):
        return model.make_stack()
    if not hasattr(model, "d_model") or not hasattr(model, "step"):
        raise ValueError(f"model must be a ModelConfig, a core name or a built stack, got {model!r}")
    return model


def build_world_model(cfg: WorldModelConfig, obs_space: Any, action_space: Any, model: Any, where: str = "algo",
                      **options: Any) -> WorldModel:
    """The world model of ``cfg`` for these spaces on the core ``model`` (a ``ssmrl.config.ModelConfig``, a core
    name or a built stack); ``options`` override :class:`WorldModel` attributes (e.g. ``dtype``). Raises
    :class:`ConfigError` naming ``<where>.<key>`` for settings that cannot work (checked first:
    ``cfg.validate_world_model``), e.g. uint8 frames without ``image_scale=255``."""
    cfg.validate_world_model(where)
    if (obs_kind(space_spec(obs_space)) == "image" and cfg.image_scale == 1.0
            and jnp.dtype(obs_space.dtype) == jnp.uint8):
        raise ConfigError(f"{where}.image_scale=1 with uint8 image observations; valid: 255 (with "
                          f"{where}.image_shift=0.5)")
    kwargs = dict(groups=cfg.latent_groups, classes=cfg.latent_classes, hidden=cfg.hidden,
                  mlp_layers=cfg.mlp_layers, reward_bins=cfg.reward_bins, unimix=cfg.unimix,
                  posterior=cfg.posterior, cnn_depth=cfg.cnn_depth, image_scale=cfg.image_scale,
                  image_shift=cfg.image_shift)
    return make_world_model(obs_space, action_space, _stack(model), **{**kwargs, **options})
