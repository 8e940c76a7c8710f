"""Train recurrent PPO with an SSM (or any registered core) policy.

    python scripts/ppo.py                                   # POPGym RepeatFirstEasy, S5, defaults
    python scripts/ppo.py env=popgym env.task=RepeatPreviousEasy model=gru seed=3 num_seeds=4
    python scripts/ppo.py env=gymnax env.task=CartPole-v1 algo.total_timesteps=500000
    python scripts/ppo.py experiment=debug                  # the whole pipeline in seconds
    python scripts/ppo.py run_dir=outputs/ppo/RepeatFirstEasy/s5/<time>   # resume that run

Writes under ``run_dir``: config.yaml (resolved), tb/ (tensorboard events), checkpoints/, metrics.csv,
learning_curve.png, summary.json. Pointing ``run_dir`` at an existing run resumes it from its latest checkpoint
with the configuration saved there (other overrides are ignored). Configuration mistakes print one line naming the
key and the valid values, and exit with status 2.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import envs
from ssmrl.cli import run_script
from ssmrl.ppo.config import PPOConfig
from ssmrl.ppo.train import make_train


@hydra.main(config_path="../configs", config_name="ppo", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_script(cfg, PPOConfig, make_train, envs.make, envs.available)


if __name__ == "__main__":
    main()
