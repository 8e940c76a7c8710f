"""Run-level typed configuration shared by every algorithm, and the validation machinery that turns a resolved
Hydra dict into frozen dataclasses with clear errors.

A run is ``RunConfig``: the environment, the sequence model, the runner, the logger, seeds and the run directory,
plus ``algo``: the algorithm's own schema (``ssmrl.ppo.config.PPOConfig``, ``ssmrl.dreamer.config.DreamerConfig``),
a frozen dataclass that owns its keys and implements the :class:`AlgoSchema` protocol. Every algorithm's schema is
built by the same :func:`build`, so every algorithm gets the same errors: :class:`ConfigError` (a ``ValueError``)
naming the offending key and the valid values for an unknown key, a value of the wrong type, an unknown core or
core option, or an inconsistent setting. Scripts catch it and print one line. The environment task is checked by
the caller (``ssmrl`` never imports ``envs``): pass ``valid_tasks``.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, Protocol

from ssmrl.core import available_cores, make_stack

SUITES = ("popgym", "gymnax", "meta", "wm_memory", "atari100k")
MODEL_FIXED = ("name", "d_model", "n_layers", "mlp", "norm")


class ConfigError(ValueError):
    """A user mistake in the configuration; the message names the key and the valid values."""


BOUNDS = {">= 1": lambda v: v >= 1, ">= 0": lambda v: v >= 0, "> 0": lambda v: v > 0,
          "in [0, 1]": lambda v: 0 <= v <= 1, "in [0, 1)": lambda v: 0 <= v < 1}


def check_bounds(cfg: Any, where: str, bound: str, *keys: str) -> None:
    """ConfigError ``<where>.<key> must be <bound>, got <value>`` for the first of ``keys`` whose value on ``cfg``
    is outside ``bound`` (a key of :data:`BOUNDS`)."""
    for key in keys:
        value = getattr(cfg, key)
        if not BOUNDS[bound](value):
            raise ConfigError(f"{where}.{key} must be {bound}, got {value}")


class AlgoSchema(Protocol):
    """What the run layer needs of an algorithm's config: how many updates a run has, how many env steps (per
    seed) one update collects, and a ``validate`` that raises :class:`ConfigError` with ``algo.``-prefixed keys."""

    @property
    def num_updates(self) -> int: ...

    @property
    def steps_per_update(self) -> int: ...

    def validate(self) -> None: ...


@dataclass(frozen=True)
class CollectConfig:
    """What every online algorithm's schema starts with: the run's budget and how an update collects data.
    A schema subclasses it (redeclaring a field changes its default) and calls :meth:`validate_collection`."""

    total_timesteps: int = 1_000_000
    num_envs: int = 32
    num_steps: int = 64

    @property
    def steps_per_update(self) -> int:
        """Env steps one update collects (per seed): num_envs x num_steps."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    def validate_collection(self) -> None:
        check_bounds(self, "algo", ">= 1", "total_timesteps", "num_envs", "num_steps")
        if self.total_timesteps < self.steps_per_update:
            raise ConfigError(f"algo.total_timesteps={self.total_timesteps} is below one update of algo.num_envs x "
                              f"algo.num_steps = {self.steps_per_update} env steps")


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
class LoggerConfig:
    tensorboard: bool = True
    csv: bool = True
    progress: bool = True
    plot: bool = True


@dataclass(frozen=True)
class RunnerConfig:
    updates_per_call: int = 10
    checkpoint_every: int = 50
    max_checkpoints: int = 2
    eval_envs: int = 64
    eval_steps: int = 5000
    eval_greedy: bool = True
    final_window: int = 10_000
    eval_every: int = 0
    distributed: bool = False

    def validate(self) -> None:
        if self.eval_envs < 0:
            raise ConfigError(f"runner.eval_envs must be >= 0 (0: no final evaluation), got {self.eval_envs}")
        if self.eval_every < 0:
            raise ConfigError(f"runner.eval_every must be >= 0 (0: only the final evaluation), got {self.eval_every}")
        check_bounds(self, "runner", ">= 1", "updates_per_call", "checkpoint_every", "max_checkpoints", "eval_steps",
                     "final_window")


@dataclass(frozen=True)
class RunConfig:
    algo: Any
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    seed: int = 0
    num_seeds: int = 1
    run_dir: str = "outputs/run"


def _type_name(hint: Any) -> str:
    args = typing.get_args(hint)
    if type(None) in args:
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    base = typing.get_origin(hint) or hint
    if base in (list, tuple):
        item = args[0] if args else None
        return f"a list of {_type_name(item)}" if item not in (None, Any) else "a list"
    return "a mapping" if base is dict else getattr(base, "__name__", str(base))


def check_value(key: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the type ``hint`` of the setting ``key`` (bool, int, float, str, ``X | None``,
    ``list`` / ``tuple`` (of one item type: ``tuple[str, ...]``), ``dict``; anything else passes) -> the value
    (an int for a float becomes a float, a list for a tuple a tuple); ConfigError naming the key, the expected type
    and the value otherwise."""
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        inner = next(a for a in args if a is not type(None))  # X of X | None
        try:
            return check_value(key, value, inner)
        except ConfigError:
            raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}") from None
    base = typing.get_origin(hint) or hint
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base is str:
        ok = isinstance(value, str)
    elif base in (list, tuple):
        ok = isinstance(value, (list, tuple))
        if ok and args and args[0] is not Any:
            try:
                value = [check_value(key, v, args[0]) for v in value]
            except ConfigError:
                ok = False
        value = base(value) if ok else value
    elif base is dict:
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    return value


def build(cls: type, data: Any, prefix: str) -> Any:
    """A frozen dataclass ``cls`` from the mapping ``data`` (keys under ``prefix`` in error messages): unknown keys
    and wrong types raise :class:`ConfigError`; nested dataclass fields are built recursively."""
    if data is None:
        data = {}
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
        if hint is ModelConfig:
            kwargs[name] = _model_config(value)
        elif dataclasses.is_dataclass(hint):
            kwargs[name] = build(hint, value, key)
        else:
            kwargs[name] = check_value(key, value, hint)
    return cls(**kwargs)


def _model_config(data: Any) -> ModelConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"model: expected a mapping of core options, got {data!r}; valid cores: "
                          f"{available_cores()}")
    fixed = {k: data[k] for k in MODEL_FIXED if k in data}
    options = {k: v for k, v in data.items() if k not in MODEL_FIXED}
    name = fixed.get("name", "s5")
    if name not in available_cores():
        raise ConfigError(f"model.name: unknown core {name!r}; valid cores: {available_cores()}")
    for key in MODEL_FIXED[1:]:
        if key in fixed:
            fixed[key] = check_value(f"model.{key}", fixed[key], typing.get_type_hints(ModelConfig)[key])
    model = ModelConfig(options=options, **fixed)
    try:
        model.make_stack()
    except ValueError as err:
        raise ConfigError(f"model ({name}): {err}") from None
    return model


def validate(cfg: RunConfig, valid_tasks: list[str] | None = None) -> RunConfig:
    """Run-level checks, then the algorithm's own ``validate``; returns ``cfg`` or raises :class:`ConfigError`."""
    if cfg.env.suite not in SUITES:
        raise ConfigError(f"env.suite: unknown suite {cfg.env.suite!r}; valid suites: {list(SUITES)}")
    if valid_tasks is not None and cfg.env.task not in valid_tasks:
        raise ConfigError(f"env.task: unknown task {cfg.env.task!r} for suite {cfg.env.suite!r}; "
                          f"valid tasks: {sorted(valid_tasks)}")
    if cfg.num_seeds < 1:
        raise ConfigError(f"num_seeds must be >= 1, got {cfg.num_seeds}")
    if not cfg.run_dir.strip():
        raise ConfigError("run_dir: empty; give a directory for the run's outputs (absent or empty for a new run)")
    cfg.runner.validate()
    cfg.algo.validate()
    return cfg


def run_config_from_dict(data: dict, algo: type, valid_tasks: list[str] | None = None) -> RunConfig:
    """Resolved config dict (e.g. ``OmegaConf.to_container(cfg, resolve=True)``) -> validated :class:`RunConfig`
    whose ``algo`` field is built with the algorithm schema ``algo`` (a frozen dataclass, :class:`AlgoSchema`).

    Keys of Hydra's own (``hydra``) and preset selections (``experiment``) are ignored.
    """
    data = {k: v for k, v in data.items() if k not in ("hydra", "experiment")}
    algo_data = data.pop("algo", None)
    run = build(RunConfig, {**data, "algo": None}, "")
    return validate(dataclasses.replace(run, algo=build(algo, algo_data, "algo")), valid_tasks)


def run_config_to_dict(cfg: RunConfig) -> dict:
    """Inverse of :func:`run_config_from_dict`: the model's options are flattened back into ``model``."""
    out = dataclasses.asdict(cfg)
    out["model"] = {**{k: out["model"][k] for k in MODEL_FIXED}, **out["model"]["options"]}
    return out


# What a run may change between its sessions without changing what its checkpoints hold or how they continue: its
# budget (a longer or shorter run), how the runner drives and evaluates it, what it writes, and where it lives.
# Anything else (task, core, sizes, learning rates, seed, ...) would resume one run as another.
MAY_CHANGE_ON_RESUME = ("algo.total_timesteps", "runner.*", "logger.*", "run_dir")


def config_record(cfg: RunConfig) -> dict:
    """The resolved config as plain JSON values (tuples as lists), the form recorded with each checkpoint."""
    return json.loads(json.dumps(run_config_to_dict(cfg)))


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> {"a.b.c": leaf} (an empty mapping is a leaf)."""
    if not isinstance(data, dict) or (not data and prefix):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def schema_default(cfg: Any, key: str) -> Any:
    """The schema's default of the dotted config key ``key`` (e.g. ``runner.eval_every``) on the config dataclass
    ``cfg``, or a value no setting equals where the key has none (not a dataclass field, or no default)."""
    *path, name = key.split(".")
    obj = cfg
    for part in path:
        obj = getattr(obj, part, None)
    fields = {f.name: f for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}
    found = fields.get(name)
    if found is None or found.default is dataclasses.MISSING:
        return object()
    return found.default


class _Absent:
    """The value of a key a config does not have, in :func:`config_changes`; shown as ``<absent>``."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


def _may_change(key: str, may_change: tuple[str, ...]) -> bool:
    return any(key == k or (k.endswith(".*") and key.startswith(k[:-1])) for k in may_change)


def config_changes(saved: dict, now: dict, may_change: tuple[str, ...] = MAY_CHANGE_ON_RESUME,
                   cfg: Any = None) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in ``saved``, value in ``now``; :data:`ABSENT` where absent) for every key outside
    ``may_change`` (keys, or ``section.*``) whose value differs between two configs (nested or dotted mappings of
    plain values), in sorted key order. A key ``saved`` lacks (a setting newer than what was saved) is no change
    where ``now`` holds its default on the config dataclass ``cfg`` (:func:`schema_default`; any value when ``cfg``
    is None)."""
    before, after = flatten(saved), flatten(now)
    changes = []
    for key in sorted(set(before) | set(after)):
        if _may_change(key, may_change) or before.get(key, ABSENT) == after.get(key, ABSENT):
            continue
        if key not in before and (cfg is None or after[key] == schema_default(cfg, key)):
            continue
        changes.append((key, before.get(key, ABSENT), after.get(key, ABSENT)))
    return changes

