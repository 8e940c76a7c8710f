"""Settings of the world-model grid: presets with ``kind: world_model`` (``configs/benchmark/wm-*.yaml``) and the
command line, and each model's world-model and core configs.

**Preset keys** (the fields of :class:`WMSettings`, of their annotated types): ``models`` (core names, or names of
``variants``), ``tasks`` (``envs.wm_memory`` names such as ``RevisitEasy``; checked by the data factory),
``variants`` ({name: {core, offline: {...}, model: {...}}}: a model that is a core with its own settings, e.g.
``rssm: {core: gru, offline: {posterior: recurrent}}``), ``model`` (d_model / n_layers / mlp / norm of every core),
``model_overrides`` ({core or model name: [model.<key>=<value>, ...]}, the RL grid's form, or {key: value}: e.g. a
core's own options), ``offline`` (:class:`ssmrl.world_model.offline.OfflineConfig` fields), ``task_kwargs`` ({task:
params fields}), ``match_params`` (N: each model's core stack sized to about N parameters by its ``d_model``,
``ssmrl.benchmark.sizing``; null: as configured), ``train_episodes`` / ``eval_episodes`` (data set sizes),
``train_steps`` (the step budget), ``val_episodes`` / ``val_every`` / ``patience`` (validation and early stopping,
below), ``sync_every`` (training steps between fetches of the metrics), ``context`` (null: each task's own,
``openloop.default_context``), ``eval_chunk`` (episodes per rollout call; null: all), ``obs_mode`` (``pixels``, the
default: the tasks' frames, MSE; ``tiles``: their tile classes, int [7, 7], per-cell logits, cross-entropy and tile
accuracy), ``imagine_latents`` (``sample``, the default: imagination samples each latent from the prior;
``mode``: the prior's most likely latent, ``openloop.openloop_rollout``), ``strip_frames``, ``diagnostics``
(true: the memory diagnostics of each trained core, ``memory_*`` columns and ``memory.png``), ``speed_lengths``
(the T of the throughput sweep), ``speed_batch`` (null:
``offline.batch_size``), ``speed_repeats``, ``seed``, ``max_cells``, ``xla_flags``, ``jax_config`` ({option: value}
for ``jax.config.update``, e.g. ``jax_threefry_partitionable: false``), ``data_cache_mb``, ``description``,
``kind``.

**Validation and early stopping**: ``val_episodes`` of the ``train_episodes`` (the last ones) are held out; every
``val_every`` training steps (and after the last) the world-model loss is evaluated on fixed windows of them (the
same windows and key at every check, and for every model of a task); a cell stops at ``train_steps`` or after
``patience`` checks in a row without a lower validation loss, and is evaluated with the parameters of its best
check. ``val_episodes: 0`` (the default) validates nothing: the last step's parameters, as before; ``patience: 0``
(the default) never stops early: the whole budget runs, the best check's parameters are evaluated.

**Command line**: ``preset=<name> out_dir=<folder>``, ``<key>=<value>`` for any key above (``models=[s5,gru]``,
``train_steps=50``), ``<model>.model.<key>=<value>`` for one model's core option as in the RL grid
(``transformer.model.window=256``; ``model_overrides.transformer.window=256`` is the same, kept as an alias), and
dotted keys into the mappings (``offline.batch_size=8``, ``model.d_model=32``, ``task_kwargs.RevisitEasy.length=64``).

**A model's configs**: the core's ``configs/model/<core>.yaml`` (the RL benchmark's defaults), then ``model``, then
``model_overrides[<core>]``, the variant's ``model`` and ``model_overrides[<name>]``; the world model's:
``OfflineConfig`` with ``offline`` and then the variant's ``offline``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ssmrl.benchmark.settings import CLI_KEYS, PRESET_DIR, _parse, read_preset, setting_keys, typed_settings
from ssmrl.benchmark.sizing import cached_match
from ssmrl.config import MODEL_FIXED, ConfigError, ModelConfig, build
from ssmrl.core import available_cores
from ssmrl.world_model.offline import OfflineConfig
from ssmrl.world_model.openloop import LATENTS

KIND_KEY = "kind"
WORLD_MODEL = "world_model"
KINDS = ("rl", WORLD_MODEL)
OBS_MODES = ("pixels", "tiles")  # the tasks' observation (envs.wm_memory's obs_mode)
POSITIVE = ("train_episodes", "eval_episodes", "train_steps", "val_every", "sync_every", "strip_frames",
            "speed_repeats")


@dataclass(frozen=True)
class WMSettings:
    """A world-model preset with the command line applied. Every field but preset and out_dir is a key a preset may
    hold (and the command line may replace), of its annotated type."""

    preset: str
    out_dir: Path
    kind: str = WORLD_MODEL                  # world_model (the RL grid's presets have no kind)
    description: str = ""                    # one line for wm_results.md
    models: tuple[str, ...] = ()             # core names or variant names
    tasks: tuple[str, ...] = ()              # envs.wm_memory task names, e.g. RevisitEasy
    variants: dict = field(default_factory=dict)         # name -> {core: <core>, offline: {...}, model: {...}}
    model: dict = field(default_factory=dict)            # d_model / n_layers / mlp / norm of every core
    model_overrides: dict = field(default_factory=dict)  # core or model name -> {key: value} of its core config
    offline: dict = field(default_factory=dict)          # OfflineConfig fields
    task_kwargs: dict = field(default_factory=dict)      # task -> params fields of the task (e.g. length)
    match_params: int | None = None          # N: each core stack's d_model set to about N parameters (null: as set)
    train_episodes: int = 64                 # training data set size (episodes)
    eval_episodes: int = 16                  # held-out episodes for the open-loop evaluation
    train_steps: int = 100                   # training steps per cell (the budget)
    val_episodes: int = 0                    # of train_episodes, held out for validation (0: none, the last step)
    val_every: int = 50                      # training steps between validation checks (and after the last)
    patience: int = 0                        # checks without a lower validation loss before stopping (0: never)
    sync_every: int = 100                    # training steps between fetches of the metrics to the host
    context: int | None = None               # observed steps before imagining (null: the task's own)
    eval_chunk: int | None = None            # episodes per rollout call (null: all at once)
    obs_mode: str = "pixels"                 # pixels (frames, MSE) or tiles (tile classes, cross-entropy)
    imagine_latents: str = "sample"          # open loop: prior samples or the prior's mode (openloop.LATENTS)
    strip_frames: int = 8                    # imagined frames kept per cell for the strip
    diagnostics: bool = True                 # memory diagnostics of each trained core (memory_* columns, PNG)
    speed_lengths: tuple[int, ...] = ()      # T of the throughput sweep (training and imagination steps/s vs T)
    speed_batch: int | None = None           # batch of the sweep (null: offline.batch_size)
    speed_repeats: int = 3                   # timed calls per point of the sweep (median)
    seed: int = 0                            # data, initialisation and sampling keys
    max_cells: int | None = None             # run at most this many cells (speed sweeps included) now
    xla_flags: str = ""                      # added to XLA_FLAGS before JAX starts
    jax_config: dict = field(default_factory=dict)       # jax.config.update(name, value) before anything runs
    data_cache_mb: int = 2048                # episodes kept in memory between models up to this size


@dataclass(frozen=True)
class ModelSpec:
    """One model of the grid: name (its label), core (the core stack's config), offline (the world model's)."""

    name: str
    core: ModelConfig
    offline: OfflineConfig

    def describe(self) -> dict:
        """The configs as plain data (saved with each cell, compared on resume)."""
        return {"core": dataclasses.asdict(self.core), "offline": dataclasses.asdict(self.offline)}


def _preset_arg(argv: Sequence[str]) -> str | None:
    values = [a.partition("=")[2].strip() for a in argv if a.partition("=")[0].strip() == "preset"]
    return values[-1] if values else None


def preset_kind(config_dir: Path, argv: Sequence[str]) -> str:
    """The ``kind`` of the preset that ``preset=<name>`` in ``argv`` names ("rl" where it has none, or where the
    preset is missing or unreadable: the RL grid then reports that); ConfigError for an unknown kind."""
    name = _preset_arg(argv)
    path = Path(config_dir) / PRESET_DIR / f"{name}.yaml"
    if not name or not path.is_file():
        return "rl"
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return "rl"
    kind = data.get(KIND_KEY, "rl") if isinstance(data, dict) else "rl"
    if kind not in KINDS:
        raise ConfigError(f"{path}: kind: unknown {kind!r}; valid: {list(KINDS)}")
    return kind


def _plain(value: Any) -> Any:
    """Hydra / OmegaConf containers -> plain dicts and lists."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _set_path(data: dict, key: str, value: Any) -> None:
    head, *path = key.split(".")
    node = data.setdefault(head, {})
    node = dict(node) if isinstance(node, dict) else {}
    data[head] = node
    for part in path[:-1]:
        child = node.get(part)
        node[part] = child = dict(child) if isinstance(child, dict) else {}
        node = child
    node[path[-1]] = value


def load_wm_settings(config_dir: Path, argv: Sequence[str]) -> WMSettings:
    """The world-model preset named by ``preset=`` with the command line applied (module docstring); ConfigError
    (one line) for a missing out_dir, an unknown or mistyped setting, an unknown model, a bad variant."""
    parsed = _parse(argv)
    cli = {o.key_or_group: o.value() for o in parsed if o.key_or_group in CLI_KEYS}
    name = str(cli.get("preset"))
    if not str(cli.get("out_dir") or "").strip():
        raise ConfigError("out_dir: missing; give out_dir=<folder> (cells go to <folder>/wm/<task>/<model>)")
    path = Path(config_dir) / PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        valid = sorted(p.stem for p in path.parent.glob("*.yaml") if preset_kind(config_dir, [f"preset={p.stem}"])
                       == WORLD_MODEL)
        raise ConfigError(f"preset: unknown world-model preset {name!r}; valid: {valid}")
    keys = setting_keys(WMSettings)
    mappings = [k for k, hint in typing.get_type_hints(WMSettings).items() if hint is dict]
    data = _with_core_options(read_preset(path, keys))
    for o in parsed:
        key = o.key_or_group
        if key in CLI_KEYS:
            continue
        head, _, rest = key.partition(".")
        scope, _, option = rest.partition(".")
        if head not in keys and scope == "model" and option:  # <model>.model.<key>=v, the RL grid's grammar
            head, key = "model_overrides", f"model_overrides.{head}.{option}"
        if head not in keys or ("." in key and head not in mappings):
            raise ConfigError(f"{o.input_line}: unknown setting {key!r}; valid: {[*CLI_KEYS, *keys]}, "
                              "<model>.model.<key> and dotted keys into offline, model, model_overrides, variants, "
                              "task_kwargs")
        value = _plain(o.value())
        if "." in key:
            _set_path(data, key, value)
        else:
            data[key] = value
    data = typed_settings(WMSettings, _with_core_options(data))
    if data.get("kind", WORLD_MODEL) != WORLD_MODEL:
        raise ConfigError(f"kind: {data['kind']!r} is not a world-model preset; valid: {WORLD_MODEL!r}")
    if data.get("obs_mode", "pixels") not in OBS_MODES:
        raise ConfigError(f"obs_mode: unknown {data['obs_mode']!r}; valid: {list(OBS_MODES)}")
    if data.get("imagine_latents", "sample") not in LATENTS:
        raise ConfigError(f"imagine_latents: unknown {data['imagine_latents']!r}; valid: {list(LATENTS)}")
    for key in ("models", "tasks"):
        if not data.get(key):
            raise ConfigError(f"{key}: empty; the preset {name!r} and the command line give none")
    for key in POSITIVE:
        if key in data and data[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {data[key]}")
    check_validation(data)
    if data.get("data_cache_mb", 0) < 0:
        raise ConfigError(f"data_cache_mb must be >= 0 (0: keep one task's episodes), got {data['data_cache_mb']}")
    for key in ("context", "eval_chunk", "speed_batch", "max_cells", "match_params"):
        if data.get(key) is not None and data[key] < 1:
            raise ConfigError(f"{key} must be >= 1 (or null), got {data[key]}")
    for key in ("models", "tasks", "speed_lengths"):
        if key in data:
            data[key] = tuple(dict.fromkeys(data[key]))
    settings = WMSettings(preset=name, out_dir=Path(str(cli["out_dir"])), **data)
    model_specs(settings, config_dir, match=False)  # every model's configs are valid (the sizing comes in plan)
    return settings


def check_validation(data: dict) -> None:
    """ConfigError (one line) for validation keys out of range: ``val_episodes`` in 0 .. train_episodes - 1 (at
    least one episode trains), ``patience`` >= 0 and, above 0, only with ``val_episodes`` >= 1."""
    fields = {f.name: f.default for f in dataclasses.fields(WMSettings)}
    get = lambda key: data.get(key, fields[key])
    if not 0 <= get("val_episodes") < get("train_episodes"):
        raise ConfigError(f"val_episodes must be in 0..{get('train_episodes') - 1} (0: no validation; fewer than "
                          f"train_episodes={get('train_episodes')}), got {get('val_episodes')}")
    if get("patience") < 0:
        raise ConfigError(f"patience must be >= 0 (0: never stop early), got {get('patience')}")
    if get("patience") and not get("val_episodes"):
        raise ConfigError(f"patience={get('patience')} needs validation episodes; set val_episodes >= 1 (or "
                          "patience=0)")


def _with_core_options(data: dict) -> dict:
    """``data`` with each ``model_overrides`` entry as {key: value} (:func:`_core_options`)."""
    if isinstance(data.get("model_overrides"), dict):
        data["model_overrides"] = {k: _core_options(k, v) for k, v in data["model_overrides"].items()}
    return data


def _core_options(owner: str, value: Any) -> Any:
    """A model's core options in a preset: the RL grid's list of overrides (``[model.window=128]``) -> {key:
    value}; a mapping (``{window: 128}``, the older form) stays as it is."""
    if not isinstance(value, list):
        return value
    options = {}
    for line in value:
        try:
            override = _parse([line])[0] if isinstance(line, str) else None
        except ConfigError:
            override = None
        key = override.key_or_group if override is not None else ""
        if not key.startswith("model.") or key.count(".") != 1:
            raise ConfigError(f"model_overrides.{owner}: {line!r}: expected model.<key>=<value> (a core option)")
        options[key.partition(".")[2]] = _plain(override.value())
    return options


def _offline(fields: dict, where: str) -> OfflineConfig:
    cfg = build(OfflineConfig, fields, where)  # the typed config path of every run config
    cfg.validate_world_model(where)
    if cfg.batch_size < 1 or cfg.seq_len < 0:
        raise ConfigError(f"{where}: batch_size must be >= 1 and seq_len >= 0 (0: whole episodes), got "
                          f"{cfg.batch_size}, {cfg.seq_len}")
    return cfg


def _core_defaults(config_dir: Path, core: str) -> dict:
    path = Path(config_dir) / "model" / f"{core}.yaml"
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    return dict(data) if isinstance(data, dict) else {"name": core}


def model_specs(settings: WMSettings, config_dir: Path, match: bool = True) -> dict[str, ModelSpec]:
    """{model name: :class:`ModelSpec`} for ``settings.models`` (module docstring); ConfigError (one line) for an
    unknown model or core, a bad variant, an unknown OfflineConfig field or a core the stack refuses."""
    cores = available_cores()
    for key, value in (("jax_config", settings.jax_config), ("model", settings.model),
                       ("model_overrides", settings.model_overrides), ("offline", settings.offline),
                       ("variants", settings.variants), ("task_kwargs", settings.task_kwargs)):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    bad = sorted(set(settings.model) - set(MODEL_FIXED[1:]))
    if bad:
        raise ConfigError(f"model: {bad} are not shared core keys; valid: {list(MODEL_FIXED[1:])} (a core's own "
                          "options go to model_overrides.<core>)")
    for name, variant in settings.variants.items():
        if name in cores:
            raise ConfigError(f"variants.{name}: a variant may not take a core's name; cores: {cores}")
        if not isinstance(variant, dict) or variant.get("core") not in cores or \
                set(variant) - {"core", "offline", "model"}:
            raise ConfigError(f"variants.{name}: expected {{core: <core>, offline: {{...}}, model: {{...}}}} with a "
                              f"core in {cores}, got {variant!r}")
    valid_models = cores + sorted(settings.variants)
    for owner, value in settings.model_overrides.items():
        if owner not in valid_models or not isinstance(value, dict):
            raise ConfigError(f"model_overrides.{owner}: expected a core or model name ({valid_models}) with a "
                              f"mapping, got {value!r}")
    specs, matches = {}, {}
    for name in settings.models:
        if name not in valid_models:
            raise ConfigError(f"models: unknown model {name!r}; valid: cores {cores} and variants "
                              f"{sorted(settings.variants)}")
        variant = settings.variants.get(name) or {"core": name}
        core = variant["core"]
        data = {**_core_defaults(config_dir, core), **settings.model, **(settings.model_overrides.get(core) or {}),
                **(variant.get("model") or {}), **((settings.model_overrides.get(name) or {}) if name != core else {}),
                "name": core}
        fixed = {k: data[k] for k in MODEL_FIXED if k in data}
        model = ModelConfig(options={k: v for k, v in data.items() if k not in MODEL_FIXED}, **fixed)
        try:
            model.make_stack()
        except (TypeError, ValueError) as err:
            raise ConfigError(f"models: {name} (core {core}): {str(err).splitlines()[0]}") from None
        if match and settings.match_params is not None:
            model = dataclasses.replace(model, d_model=cached_match(model, settings.match_params, matches).d_model)
        offline = _offline({**settings.offline, **(variant.get("offline") or {})},
                           f"variants.{name}.offline" if variant.get("offline") else "offline")
        specs[name] = ModelSpec(name, model, offline)
    return specs
