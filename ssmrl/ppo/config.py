"""PPO's own typed schema: every ``algo.*`` key of ``configs/algo/ppo.yaml``, its derived sizes and its checks.

Build a whole run with ``ssmrl.config.run_config_from_dict(data, PPOConfig)`` (or :func:`ppo_run_config`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ssmrl.config import CollectConfig, ConfigError, RunConfig, check_bounds, run_config_from_dict


@dataclass(frozen=True)
class PPOConfig(CollectConfig):
    total_timesteps: int = 1_000_000
    num_envs: int = 32
    num_steps: int = 64
    chunk_len: int | None = None
    num_epochs: int = 4
    num_minibatches: int = 4
    lr: float = 3e-3
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    clip_value: bool = True
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    norm_adv: bool = True
    log_std_init: float = -0.5

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the ``algo.*`` key and its valid values."""
        self.validate_collection()
        check_bounds(self, "algo", ">= 1", "num_epochs", "num_minibatches")
        if self.num_envs % self.num_minibatches:
            raise ConfigError(f"algo.num_envs={self.num_envs} is not divisible by algo.num_minibatches="
                              f"{self.num_minibatches}; valid num_minibatches: "
                              f"{[d for d in range(1, self.num_envs + 1) if self.num_envs % d == 0]}")
        if self.chunk_len is not None and (self.chunk_len < 1 or self.num_steps % self.chunk_len):
            raise ConfigError(f"algo.chunk_len={self.chunk_len} must divide algo.num_steps={self.num_steps} "
                              "(or be null)")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ConfigError(f"algo.gamma must be in (0, 1] and algo.gae_lambda in [0, 1], got {self.gamma}, "
                              f"{self.gae_lambda}")
        check_bounds(self, "algo", "> 0", "lr", "clip_eps", "max_grad_norm")
        check_bounds(self, "algo", ">= 0", "vf_coef", "ent_coef")


def ppo_run_config(data: dict, valid_tasks: list[str] | None = None) -> RunConfig:
    """A validated run config whose ``algo`` is a :class:`PPOConfig` (see ``ssmrl.config.run_config_from_dict``)."""
    return run_config_from_dict(data, PPOConfig, valid_tasks)
