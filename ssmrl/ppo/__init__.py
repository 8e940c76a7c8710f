"""Recurrent PPO: actor-critic network, rollouts, GAE and losses, and ``make_train`` (pure init / update)."""

from ssmrl.ppo.losses import compute_gae, ppo_loss
from ssmrl.ppo.train import TrainState, make_train

__all__ = ["TrainState", "compute_gae", "make_train", "ppo_loss"]
