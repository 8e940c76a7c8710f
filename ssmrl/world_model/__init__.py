"""The world model, one home: S4WM-style categorical latents on any sequence core with DreamerV3's heads.

Modules: ``config`` (WorldModelConfig, POSTERIORS), ``model`` (the model and its loss), ``build`` (config -> model),
``step`` (one training step: loss, gradient, clipped Adam), ``batch`` (ReplayBatch, sampling windows of fixed
episodes), ``offline`` (offline training: OfflineConfig, make_offline, fit, validation and early stopping, throughput),
``openloop`` (observe a context, imagine the rest with the true actions), ``references`` (the mean-frame and
last-frame predictors), ``memory_scores`` (the error ratio to the mean frame, the crossing gap) and ``tiles``
(observations that are windows of tile classes: per-cell cross-entropy, tile scores).
Dreamer (``ssmrl.dreamer``) and the world-model grid (``ssmrl.benchmark.wm_grid``) build and train it through these.
"""

from ssmrl.world_model.build import build_world_model
from ssmrl.world_model.config import POSTERIORS, WorldModelConfig
from ssmrl.world_model.model import WorldModel, init_world_model, world_model_loss
from ssmrl.world_model.step import make_world_model_step

__all__ = ["POSTERIORS", "WorldModel", "WorldModelConfig", "build_world_model", "init_world_model",
           "make_world_model_step", "world_model_loss"]
