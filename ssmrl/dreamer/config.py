"""The Dreamer algorithm's own typed schema: every ``algo.*`` key of ``configs/algo/dreamer.yaml``, the sizes
derived from them, and their checks.

One ratio, defined here and only here: ``train_ratio`` = replayed env steps per collected env step (DreamerV3's
``train_ratio``). Each update collects ``num_envs x num_steps`` env steps, then takes
``train_ratio x steps_per_update / (batch_size x seq_len)`` gradient steps (:attr:`DreamerConfig.grad_steps`),
each of which imagines ``horizon`` steps from every one of the ``batch_size x seq_len`` replayed posterior states.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssmrl.config import CollectConfig, ConfigError, check_bounds
from ssmrl.world_model.config import WorldModelConfig


@dataclass(frozen=True)
class DreamerConfig(CollectConfig, WorldModelConfig):
    """Collection (``CollectConfig``), the world model (``WorldModelConfig``: latents, heads, KL balance, its
    optimiser, image scaling) and Dreamer's own keys: replay, ratio, imagination and the actor-critic."""

    total_timesteps: int = 100_000
    num_envs: int = 8
    num_steps: int = 16
    train_ratio: float = 32.0
    batch_size: int = 16
    seq_len: int = 64
    replay_capacity: int = 100_000
    learning_starts: int = 2_000
    actor_lr: float = 1e-4
    critic_lr: float = 1e-3
    ac_grad_clip: float = 100.0
    horizon: int = 15
    gamma: float = 0.99
    lam: float = 0.95
    ent_coef: float = 3e-3
    slow_critic_decay: float = 0.98
    slow_critic_reg: float = 1.0
    replay_critic: float = 0.3
    return_norm_decay: float = 0.99
    reward_multiplier: float = 1.0
    replay_episode_starts: bool = False

    @property
    def replayed_per_grad_step(self) -> int:
        """Env steps one gradient step replays: batch_size x seq_len."""
        return self.batch_size * self.seq_len

    @property
    def grad_steps(self) -> int:
        """Gradient steps per update: train_ratio x steps_per_update / (batch_size x seq_len), rounded."""
        return round(self.train_ratio * self.steps_per_update / self.replayed_per_grad_step)

    def describe(self) -> str:
        """What the ratio implies, for the start of a run."""
        imagined = self.replayed_per_grad_step * self.horizon
        return (f"train_ratio {self.train_ratio:g} replayed env steps per collected step: {self.grad_steps} gradient "
                f"step(s) of {self.batch_size} x {self.seq_len} replayed steps per update of "
                f"{self.steps_per_update} collected steps; {imagined:,} imagined states per gradient step; "
                f"training starts after {self.learning_starts:,} env steps")

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the ``algo.*`` key and its valid values."""
        self.validate_collection()
        self.validate_world_model("algo")
        check_bounds(self, "algo", ">= 1", "batch_size", "seq_len", "replay_capacity", "horizon")
        per_env = self.replay_capacity // self.num_envs
        if per_env < self.seq_len:
            raise ConfigError(f"algo.seq_len={self.seq_len} is longer than the replay holds per environment "
                              f"(algo.replay_capacity // algo.num_envs = {per_env}); valid: algo.seq_len <= "
                              f"{per_env} or algo.replay_capacity >= {self.seq_len * self.num_envs}")
        if self.train_ratio <= 0 or self.grad_steps < 1:
            least = self.replayed_per_grad_step / (2 * self.steps_per_update)
            raise ConfigError(f"algo.train_ratio={self.train_ratio:g} gives {self.grad_steps} gradient steps per "
                              f"update (train_ratio x {self.steps_per_update} collected / {self.batch_size} x "
                              f"{self.seq_len} replayed); valid: algo.train_ratio >= {least:g}")
        check_bounds(self, "algo", "> 0", "actor_lr", "critic_lr", "ac_grad_clip", "reward_multiplier")
        check_bounds(self, "algo", ">= 0", "learning_starts", "ent_coef", "slow_critic_reg", "replay_critic")
        check_bounds(self, "algo", "in [0, 1]", "gamma", "lam", "slow_critic_decay", "return_norm_decay")
