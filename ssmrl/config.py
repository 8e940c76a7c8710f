"""Typed schemas of the PPO configuration, derived fields, and validation with clear errors.

Hydra composes plain YAML (``configs/``); :func:`ppo_config_from_dict` turns the resolved dict into frozen
dataclasses and raises :class:`ConfigError` (a ``ValueError``) naming the offending key and the valid values
for: an unknown key, a value of the wrong type, an unknown core or core option, an inconsistent setting
(``algo.num_envs`` not divisible by ``algo.num_minibatches``, ...). Scripts catch it and print one line.
The environment task is checked by the caller (``ssmrl`` never imports ``envs``): pass ``valid_tasks``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from ssmrl.core import available_cores, make_stack

SUITES = ("popgym", "gymnax", "meta")
MODEL_FIXED = ("name", "d_model", "n_layers", "mlp", "norm")


class ConfigError(ValueError):
    """A user mistake in the configuration; the message names the key and the valid values."""


@dataclass(frozen=True)
class EnvConfig:
    suite: str = "popgym"
    task: str = "RepeatFirstEasy"

    @property
    def env_id(self) -> str:
        """The name for ``envs.make``: ``"<suite>/<task>"``."""
        return f"{self.suite}/{self.task}"


@dataclass(frozen=True)
class ModelConfig:
    name: str = "s5"
    d_model: int = 64
    n_layers: int = 2
    mlp: str = "glu"
    norm: str = "layer"
    options: dict = field(default_factory=dict)

    def make_stack(self):
        """The residual core stack this config describes (``ssmrl.core.make_stack``)."""
        return make_stack(self.name, self.d_model, self.n_layers, self.mlp, self.norm, **self.options)


@dataclass(frozen=True)
class AlgoConfig:
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

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


@dataclass(frozen=True)
class LoggerConfig:
    tensorboard: bool = True
    csv: bool = True
    progress: bool = True
    plot: bool = True


@dataclass(frozen=True)
class RunnerConfig:
    updates_per_chunk: int = 10
    checkpoint_every: int = 50
    max_checkpoints: int = 2
    eval_envs: int = 64
    eval_steps: int = 256
    eval_greedy: bool = True


@dataclass(frozen=True)
class PPOConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    seed: int = 0
    num_seeds: int = 1
    run_dir: str = "outputs/ppo/run"


def _check_type(key: str, value: Any, hint: Any) -> Any:
    args = typing.get_args(hint)
    if value is None and type(None) in args:
        return None
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base is str:
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{key}: expected {getattr(base, '__name__', base)}, got {value!r}")
    return value


def _build(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown key {where}{unknown[0]}; valid keys{' in ' + prefix if prefix else ''}: {names}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _model_config(value) if hint is ModelConfig else _build(hint, value, key)
        else:
            kwargs[name] = _check_type(key, value, hint)
    return cls(**kwargs)


def _model_config(data: dict) -> ModelConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"model: expected a mapping, got {data!r}")
    fixed = {k: data[k] for k in MODEL_FIXED if k in data}
    options = {k: v for k, v in data.items() if k not in MODEL_FIXED}
    name = fixed.get("name", "s5")
    if name not in available_cores():
        raise ConfigError(f"model.name: unknown core {name!r}; valid cores: {available_cores()}")
    for key in MODEL_FIXED[1:]:
        if key in fixed:
            fixed[key] = _check_type(f"model.{key}", fixed[key], typing.get_type_hints(ModelConfig)[key])
    model = ModelConfig(options=options, **fixed)
    try:
        model.make_stack()
    except ValueError as err:
        raise ConfigError(f"model ({name}): {err}") from None
    return model


def validate(cfg: PPOConfig, valid_tasks: list[str] | None = None) -> PPOConfig:
    """Cross-field checks; returns ``cfg`` unchanged or raises :class:`ConfigError`."""
    a = cfg.algo
    if cfg.env.suite not in SUITES:
        raise ConfigError(f"env.suite: unknown suite {cfg.env.suite!r}; valid suites: {list(SUITES)}")
    if valid_tasks is not None and cfg.env.task not in valid_tasks:
        raise ConfigError(f"env.task: unknown task {cfg.env.task!r} for suite {cfg.env.suite!r}; "
                          f"valid tasks: {sorted(valid_tasks)}")
    positive = dict(num_envs=a.num_envs, num_steps=a.num_steps, num_epochs=a.num_epochs,
                    num_minibatches=a.num_minibatches, total_timesteps=a.total_timesteps)
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"algo.{key} must be >= 1, got {value}")
    if a.num_envs % a.num_minibatches:
        raise ConfigError(f"algo.num_envs={a.num_envs} is not divisible by algo.num_minibatches="
                          f"{a.num_minibatches}; valid num_minibatches: "
                          f"{[d for d in range(1, a.num_envs + 1) if a.num_envs % d == 0]}")
    if a.chunk_len is not None and (a.chunk_len < 1 or a.num_steps % a.chunk_len):
        raise ConfigError(f"algo.chunk_len={a.chunk_len} must divide algo.num_steps={a.num_steps} (or be null)")
    if a.total_timesteps < a.steps_per_update:
        raise ConfigError(f"algo.total_timesteps={a.total_timesteps} is below one update of algo.num_envs x "
                          f"algo.num_steps = {a.steps_per_update} env steps")
    if not 0 < a.gamma <= 1 or not 0 <= a.gae_lambda <= 1:
        raise ConfigError(f"algo.gamma must be in (0, 1] and algo.gae_lambda in [0, 1], got {a.gamma}, "
                          f"{a.gae_lambda}")
    if a.lr <= 0 or a.clip_eps <= 0:
        raise ConfigError(f"algo.lr and algo.clip_eps must be > 0, got {a.lr}, {a.clip_eps}")
    if cfg.num_seeds < 1:
        raise ConfigError(f"num_seeds must be >= 1, got {cfg.num_seeds}")
    r = cfg.runner
    if r.eval_envs < 0:
        raise ConfigError(f"runner.eval_envs must be >= 0 (0: no final evaluation), got {r.eval_envs}")
    for key in ("updates_per_chunk", "checkpoint_every", "max_checkpoints", "eval_steps"):
        if getattr(r, key) < 1:
            raise ConfigError(f"runner.{key} must be >= 1, got {getattr(r, key)}")
    return cfg


def ppo_config_from_dict(data: dict, valid_tasks: list[str] | None = None) -> PPOConfig:
    """Resolved config dict (e.g. ``OmegaConf.to_container(cfg, resolve=True)``) -> validated :class:`PPOConfig`.

    Keys of Hydra's own (``hydra``) and preset selections (``experiment``) are ignored.
    """
    data = {k: v for k, v in data.items() if k not in ("hydra", "experiment")}
    return validate(_build(PPOConfig, data, ""), valid_tasks)


def ppo_config_to_dict(cfg: PPOConfig) -> dict:
    """Inverse of :func:`ppo_config_from_dict`: the model's options are flattened back into ``model``."""
    out = dataclasses.asdict(cfg)
    out["model"] = {**{k: out["model"][k] for k in MODEL_FIXED}, **out["model"]["options"]}
    return out
