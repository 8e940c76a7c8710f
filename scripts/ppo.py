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

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

import envs
from ssmrl.config import ConfigError, PPOConfig, ppo_config_from_dict, ppo_config_to_dict


def load_config(cfg: DictConfig, console: Console) -> PPOConfig:
    """The validated config; an existing ``run_dir/config.yaml`` (a run to resume) wins over the composed one."""
    data = OmegaConf.to_container(cfg, resolve=True)
    saved = Path(data["run_dir"]) / "config.yaml"
    if saved.exists():
        console.print(f"resuming {saved.parent} with its saved config (other overrides are ignored)")
        data = {**OmegaConf.to_container(OmegaConf.load(saved)), "run_dir": data["run_dir"]}
    suite = (data.get("env") or {}).get("suite")
    tasks = [n.split("/", 1)[1] for n in envs.available() if n.startswith(f"{suite}/")] if suite != "meta" else None
    return ppo_config_from_dict(data, valid_tasks=tasks or None)


@hydra.main(config_path="../configs", config_name="ppo", version_base="1.3")
def main(cfg: DictConfig) -> None:
    console = Console()
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax reports every checkpoint step at INFO
    try:
        ppo_cfg = load_config(cfg, console)
        try:
            env, env_params = envs.make(ppo_cfg.env.env_id)
        except ValueError as err:
            raise ConfigError(f"env.task: {err}") from None
    except ConfigError as err:
        console.print(f"[red]config error:[/red] {err}", highlight=False)
        sys.exit(2)
    from ssmrl.runners.host import run_ppo

    run_dir = Path(ppo_cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(ppo_config_to_dict(ppo_cfg)), run_dir / "config.yaml")
    run_ppo(ppo_cfg, env, env_params, run_dir, console=console)


if __name__ == "__main__":
    main()
