"""Settings of the benchmark grid: a preset (``configs/benchmark/<name>.yaml``) with the command line applied.

A preset is a mapping of the keys of :class:`Settings` (their types are the fields' annotations, checked by the
typed config path of every run config); the command line (``key=value``, Hydra's override grammar) replaces any of
them (``models=[s5,gru]``, ``tasks=[...]``, ``match_params=20000``) and adds: ``preset=<name>``,
``out_dir=<folder>`` (both required); ``<algo>.<key>=v`` / ``<model>.<key>=v``: an override of the cells of that
algorithm / core only (``ppo.algo.lr=1e-3``, ``s5.model.state_size=16``); anything else is an override of every
cell's Hydra config (``algo.lr=1e-3``, ``model.d_model=32``, ``num_seeds=3``, ``experiment=debug``). The grid
chooses ``model=``, ``env=``, ``env.task`` and ``run_dir`` itself (:data:`RESERVED`). GRU, LSTM, Transformer and
the memoryless ``identity`` core are always in the grid (:data:`BASELINES`, added when missing). ``xla_flags`` is
applied by :func:`apply_xla_flags` before JAX starts.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ssmrl.config import ConfigError, check_value
from ssmrl.core import available_cores

BASELINES = ("gru", "lstm", "transformer", "identity")
PRESET_DIR = "benchmark"
CLI_KEYS = ("preset", "out_dir")
RESERVED = ("model", "env", "run_dir", "resume", "hydra")
NOT_SETTINGS = ("preset", "out_dir", "added")  # fields of a settings class that a preset cannot hold


@dataclass(frozen=True)
class Settings:
    """An RL preset with the command line applied; ``added``: baselines the grid added to ``models``. Every other
    field is a key a preset may hold (and the command line may replace), of its annotated type."""

    preset: str
    out_dir: Path
    description: str = ""                   # one line for results.md
    algos: tuple[str, ...] = ("ppo",)       # algorithms, e.g. [ppo] or [ppo, dreamer]
    models: tuple[str, ...] = ()            # cores (configs/model/<name>.yaml); the BASELINES are added
    tasks: tuple[str, ...] = ()             # environment names: popgym/<Task>, gymnax/<id>, meta/<inner name>, ...
    overrides: tuple[str, ...] = ()         # Hydra overrides of every cell
    algo_overrides: dict = field(default_factory=dict)   # algorithm -> overrides of its cells
    model_overrides: dict = field(default_factory=dict)  # core -> overrides of its cells
    task_overrides: dict = field(default_factory=dict)   # task -> overrides of its cells
    env_kwargs: dict = field(default_factory=dict)       # task -> keyword arguments of the environment factory
    match_params: int | None = None         # N: size each core stack to about N parameters (null: as configured)
    meta_trials: int = 2                    # k: trials per meta-episode in training (evaluation: 2k)
    mmer_window: int = 1                    # trailing window (updates) of the MMER's smoothing (1: none)
    diagnostics: bool = True                # memory diagnostics per cell (where the algorithm provides core inputs)
    diagnostics_steps: int = 64             # length of the real episodes the diagnostics run on
    max_cells: int | None = None            # run at most this many cells now (0: only the report; null: all)
    xla_flags: str = ""                     # added to XLA_FLAGS before JAX starts (e.g. faster, unoptimised compiles)
    added: tuple = ()


def setting_keys(cls: type) -> list[str]:
    """The keys a preset of the settings class ``cls`` may hold: its fields but :data:`NOT_SETTINGS`."""
    return [f.name for f in dataclasses.fields(cls) if f.name not in NOT_SETTINGS]


def typed_settings(cls: type, data: dict) -> dict:
    """``data`` (a preset's keys with the command line applied) checked against the annotated types of ``cls``'s
    fields by the typed config path of every run config (:func:`ssmrl.config.check_value`); a single name where a
    list is expected is a list of one (``models=s5`` is ``models=[s5]``); ConfigError (one line) otherwise."""
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in data.items():
        listed = (typing.get_origin(hints[key]) or hints[key]) in (list, tuple)
        if listed and isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        out[key] = check_value(key, value, hints[key])
    return out


def list_presets(config_dir: Path) -> list[str]:
    return sorted(p.stem for p in (Path(config_dir) / PRESET_DIR).glob("*.yaml"))


def read_preset(path: Path, keys: Collection[str]) -> dict:
    """The settings of the preset file ``path``; ConfigError (one line) if it is not a mapping or holds a key not in
    ``keys``."""
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings; valid keys: {list(keys)}")
    for key in data:
        if key not in keys:
            raise ConfigError(f"{path}: unknown setting {key!r}; valid: {list(keys)}")
    return data


def _parse(argv: Sequence[str]) -> list:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = []
    for arg in argv:
        try:
            override = parser.parse_overrides([arg])[0]
        except Exception:  # the grammar's own exception types vary between Hydra versions
            raise ConfigError(f"{arg}: not a key=value override (lists: models=[s5,gru])") from None
        if override.is_sweep_override():
            raise ConfigError(f"{arg}: a sweep; give a list instead, e.g. {override.key_or_group}=[a,b]")
        parsed.append(override)
    return parsed


def load_settings(config_dir: Path, argv: Sequence[str], algo_names: Sequence[str]) -> Settings:
    """The preset named by ``preset=`` with the command line applied (see the module docstring); ConfigError (one
    line) for an unknown preset or setting, a wrong type, an unknown algorithm or core, a reserved override."""
    parsed = _parse(argv)
    cli = {o.key_or_group: o.value() for o in parsed if o.key_or_group in CLI_KEYS}
    presets = list_presets(config_dir)
    name = cli.get("preset")
    if name is None:
        raise ConfigError(f"preset: missing; give preset=<name>; valid presets: {presets}")
    if str(name) not in presets:
        raise ConfigError(f"preset: unknown preset {name!r}; valid presets: {presets}")
    if not str(cli.get("out_dir") or "").strip():
        raise ConfigError("out_dir: missing; give out_dir=<folder> (cells go to <folder>/runs/<algo>/<task>/<model>)")
    path = Path(config_dir) / PRESET_DIR / f"{name}.yaml"
    data = read_preset(path, setting_keys(Settings))
    data = {k: list(v) if isinstance(v, list) else v for k, v in data.items()}
    cores = available_cores()
    scoped = {"algo_overrides": list(algo_names), "model_overrides": cores}
    for o in parsed:
        key = o.key_or_group
        head, _, rest = key.partition(".")
        if key in CLI_KEYS:
            continue
        if key in setting_keys(Settings):
            data[key] = o.value()
        elif rest and (head in algo_names or head in cores):  # <algo>.<key>=v or <model>.<key>=v
            group = "algo_overrides" if head in algo_names else "model_overrides"
            line = o.input_line
            prefix = line[: len(line) - len(line.lstrip("+~"))]
            table = dict(data.get(group) or {})
            table[head] = list(table.get(head) or []) + [prefix + line.lstrip("+~")[len(head) + 1:]]
            data[group] = table
        else:
            data["overrides"] = list(data.get("overrides") or []) + [o.input_line]
    data = typed_settings(Settings, data)
    _check_cell_overrides(data.get("overrides") or [], "overrides")
    for group, valid in (*scoped.items(), ("task_overrides", None), ("env_kwargs", None)):
        for owner, value in (data.get(group) or {}).items():
            if valid is not None and owner not in valid:
                raise ConfigError(f"{group}: unknown {group.split('_')[0]} {owner!r}; valid: {sorted(valid)}")
            if group == "env_kwargs":
                if not isinstance(value, dict):
                    raise ConfigError(f"env_kwargs.{owner}: expected a mapping of params fields, got {value!r}")
            else:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"{group}.{owner}: expected a list of overrides, got {value!r}")
                _check_cell_overrides(value, f"{group}.{owner}")
    for key in ("algos", "models", "tasks"):
        if not data.get(key):
            raise ConfigError(f"{key}: empty; the preset {name!r} and the command line give none")
    for algo in data["algos"]:
        if algo not in algo_names:
            raise ConfigError(f"algos: unknown algorithm {algo!r}; valid: {list(algo_names)}")
    for model in data["models"]:
        if model not in cores:
            raise ConfigError(f"models: unknown core {model!r}; valid cores: {cores}")
    for key in ("meta_trials", "mmer_window", "diagnostics_steps"):
        if key in data and data[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {data[key]}")
    if data.get("match_params") is not None and data["match_params"] < 1:
        raise ConfigError(f"match_params must be >= 1 (or null), got {data['match_params']}")
    if data.get("max_cells") is not None and data["max_cells"] < 0:
        raise ConfigError(f"max_cells must be >= 0 (0: only write the report; null: every cell), "
                          f"got {data['max_cells']}")
    models = list(dict.fromkeys(data["models"]))
    added = tuple(b for b in BASELINES if b not in models)
    data.update(models=tuple(models + list(added)), algos=tuple(dict.fromkeys(data["algos"])),
                tasks=tuple(dict.fromkeys(data["tasks"])), overrides=tuple(data.get("overrides") or ()))
    return Settings(preset=str(name), out_dir=Path(str(cli["out_dir"])), added=added, **data)


def _check_cell_overrides(overrides: Sequence[str], where: str) -> None:
    for line in overrides:
        key = line.lstrip("+~").partition("=")[0].strip()
        head = key.split(".")[0]
        if key in RESERVED or head in ("env", "hydra"):  # model.<option> is fine; model=<core> is not
            hint = {"model": "models=[...]", "env": "tasks=[...] (and env_kwargs)"}.get(head, "out_dir=<folder>")
            raise ConfigError(f"{where}: {line}: the grid sets {key} itself; use {hint}")



def with_grid_settings(message: str) -> str:
    """A config error about an unknown top-level key (``valid keys: [...]``) with the grid's own settings added."""
    if not message.startswith("unknown key ") or " in " in message.partition(";")[2].partition(":")[0]:
        return message
    settings = [k for k in (*CLI_KEYS, *setting_keys(Settings)) if k != "description"]
    return f"{message}; grid settings: {settings}"


def apply_xla_flags(flags: str) -> bool:
    """Add ``flags`` to ``XLA_FLAGS`` unless JAX has already started in this process (XLA reads them once, when
    its first backend starts); returns whether they are in effect."""
    if not flags.strip() or flags in os.environ.get("XLA_FLAGS", ""):
        return True
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        return False
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    return True
