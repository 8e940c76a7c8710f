"""The world model, one home: S4WM-style categorical latents on any sequence core with DreamerV3's heads
(``model``), its settings (``config``), building it (``build``) and its training step (``step``).

Dreamer (``ssmrl.dreamer``) and offline training (``ssmrl.wm_bench``) both build and train it through these.
"""

from ssmrl.world_model.build import build_world_model
from ssmrl.world_model.config import POSTERIORS, WorldModelConfig
from ssmrl.world_model.model import WorldModel, init_world_model, world_model_loss
from ssmrl.world_model.step import make_world_model_step

__all__ = ["POSTERIORS", "WorldModel", "WorldModelConfig", "build_world_model", "init_world_model",
           "make_world_model_step", "world_model_loss"]
