"""What every training script shares: turn Hydra's composed config into a validated :class:`ssmrl.config.RunConfig`
for one algorithm, build the environment, and hand both to the host loop; configuration mistakes become one line
``config error: ...`` and exit status 2.

``ssmrl`` never imports ``envs``: a script passes the environment factory (``envs.make``) and the list of
environment names (``envs.available``) in.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from ssmrl.config import ConfigError, RunConfig, run_config_from_dict, run_config_to_dict


def load_config(cfg: DictConfig, algo: type, available: Callable[[], list[str]], console: Console) -> RunConfig:
    """The validated config; an existing ``run_dir/config.yaml`` (a run to resume) wins over the composed one."""
    data = OmegaConf.to_container(cfg, resolve=True)
    saved = Path(str(data.get("run_dir") or "")) / "config.yaml"
    if data.get("run_dir") and saved.exists():
        console.print(f"resuming {saved.parent} with its saved config (other overrides are ignored)", highlight=False)
        data = {**OmegaConf.to_container(OmegaConf.load(saved)), "run_dir": data["run_dir"]}
    suite = (data.get("env") or {}).get("suite")
    tasks = [n.split("/", 1)[1] for n in available() if n.startswith(f"{suite}/")] if suite != "meta" else None
    return run_config_from_dict(data, algo, valid_tasks=tasks or None)


def run_script(cfg: DictConfig, algo: type, make_train: Callable, make_env: Callable[[str], tuple[Any, Any]],
               available: Callable[[], list[str]]) -> None:
    """The body of ``scripts/<algorithm>.py``: config -> env -> ``ssmrl.runners.host.train``."""
    console = Console(soft_wrap=True)
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax reports every checkpoint step at INFO
    try:
        run_cfg = load_config(cfg, algo, available, console)
        try:
            env, env_params = make_env(run_cfg.env.env_id)
        except ValueError as err:
            raise ConfigError(f"env.task: {err}") from None
    except ConfigError as err:
        console.print(f"[red]config error:[/red] {err}", highlight=False)
        sys.exit(2)
    if run_cfg.runner.distributed:
        import jax

        jax.distributed.initialize()  # reads the cluster from the environment (SLURM, Open MPI, TPU, ...)
    from ssmrl.runners.host import train

    run_dir = Path(run_cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(run_config_to_dict(run_cfg)), run_dir / "config.yaml")
    train(run_cfg, make_train, env, env_params, run_dir, console=console)
