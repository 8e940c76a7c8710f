"""What every training script shares: Hydra's composed config -> a validated :class:`ssmrl.config.RunConfig` for one
algorithm -> the environment -> the run loop, in a run directory that is new (absent or empty) or holds the run to
resume, locked against a second writer.

Every user-facing failure is one unwrapped line and an exit status, never a traceback, and loses nothing saved:
``config error: ...`` (2) for the configuration or a saved config that cannot be used; ``error: ...`` (2) for the
run directory, damaged checkpoints, divergence or a disk that refuses writes; ``interrupted ...`` with the command
that resumes (130) on Ctrl-C, ``terminated (SIGTERM) ...`` (143) on SIGTERM (``timeout``, ``docker stop``, a
scheduler's preemption), which saves the same way (:mod:`ssmrl.runners.signals`).

``ssmrl`` never imports ``envs``: a script passes the environment factory (``envs.make``) and the names of one
suite's environments (``envs.available(suite)``) in.
"""

from __future__ import annotations

import logging
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape

from ssmrl.checkpoint import CheckpointError, SaveFailed
from ssmrl.config import SUITES, ConfigError, RunConfig, run_config_from_dict, run_config_to_dict
from ssmrl.runners.rundir import CONFIG_FILE, RunDirError, RunLock, resolve_mode
from ssmrl.runners.signals import interrupt_status, sigterm_as_interrupt, stop_word

RUN_KEYS = ("algo", "env", "model", "runner")  # a run's saved config.yaml has these (``run_config_to_dict``)


def _saved_config(run_dir: Path) -> dict:
    """The config a run saved; ConfigError if it is empty, not YAML or not a mapping."""
    path = run_dir / CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}; restore it or start a new run") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path} is {'empty' if not data else 'not a mapping of config keys'}; restore it or "
                          "start a new run")
    missing = [key for key in RUN_KEYS if key not in data]
    if missing:
        raise ConfigError(f"{path} is not a run's config (no {', '.join(missing)}); {run_dir} holds no run: give "
                          "the run_dir of a run to resume it, or an absent or empty directory for a new run")
    return data


def _one_line(message: str) -> str:
    """A Hydra error message on one line: option lists joined by commas, search-path details dropped."""
    parts: list[str] = []
    listing = False
    for line in message.splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith(("Config search path", "See https://")):
            break
        if listing and line.startswith(("\t", " ")):
            parts[-1] += (" " if parts[-1].endswith(":") else ", ") + text
            continue
        listing = text.endswith(":")
        parts.append(text)
    return "; ".join(parts)


def compose_config(config_dir: Path, config_name: str, overrides: list[str]) -> DictConfig:
    """Hydra's composition of ``config_dir/<config_name>.yaml`` with command-line ``overrides``; every Hydra
    error (unknown group option, unknown key, bad syntax, a group set to null) becomes one :class:`ConfigError`."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    groups = sorted(p.name for p in config_dir.iterdir() if p.is_dir())
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key in groups and value.strip().lower() in ("", "null", "none"):
            options = sorted(p.stem for p in (config_dir / key).glob("*.yaml"))
            raise ConfigError(f"{override}: the group {key!r} needs one of its options; valid: {options}")
        if key in groups and value.strip().startswith("["):
            options = sorted(p.stem for p in (config_dir / key).glob("*.yaml"))
            grid = {"model": " (to compare cores: scripts/benchmark.py models=[...])",
                    "env": " (to compare tasks: scripts/benchmark.py tasks=[...])"}.get(key, "")
            raise ConfigError(f"{override}: one option of the group {key!r} per run{grid}; valid: {options}")
    try:
        with initialize_config_dir(config_dir=str(config_dir.absolute()), version_base="1.3"):
            return compose(config_name, overrides=overrides)
    except (HydraException, ValueError) as err:
        message = _unknown_key(str(err), config_dir, config_name, [o for o in overrides if o.partition("=")[0] in
                                                                    groups])
        raise ConfigError(message or f"{_bad_override(overrides)}{_one_line(str(err))}") from None


def _unknown_key(message: str, config_dir: Path, config_name: str, choices: list[str]) -> str:
    """For Hydra's "Could not override 'a.b'" (a key the config does not have): ``unknown key a.b; valid keys in
    a: [...]``, the keys of ``a`` in the config composed with the group ``choices`` only; "" for other errors."""
    match = re.search(r"Could not override '([^']+)'", message)
    if not match:
        return ""
    key = match.group(1)
    parent = key.rpartition(".")[0]
    node: Any = OmegaConf.to_container(compose_config(config_dir, config_name, choices))
    for part in parent.split(".") if parent else []:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return ""
    return f"unknown key {key}; valid keys{f' in {parent}' if parent else ''}: {sorted(node)}"


def _bad_override(overrides: list[str]) -> str:
    """``"<override>: "`` for the first override Hydra's grammar rejects on its own, else ``""``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except Exception:  # the grammar's own exception types vary between Hydra versions
            return f"{override}: "
    return ""


def load_config(cfg: DictConfig, algo: type, available: Callable[[str], list[str]], console: Console
                ) -> tuple[RunConfig, bool]:
    """(validated config, resuming?). A directory that holds a run (``run_dir=`` pointing at it, or ``resume=``)
    is resumed with the config saved there; other overrides are ignored."""
    data = OmegaConf.to_container(cfg, resolve=True)
    resume = data.pop("resume", None)
    run_dir, resuming = resolve_mode(str(data.get("run_dir") or ""), None if resume is None else str(resume))
    if resuming:
        data = {**_saved_config(run_dir), "run_dir": str(run_dir)}
        console.print(escape(f"resuming {run_dir} with its saved config (other overrides are ignored)"),
                      highlight=False)
    suite = (data.get("env") or {}).get("suite") if isinstance(data.get("env"), dict) else None
    # Only the chosen suite is listed (listing gymnax imports it); an unknown suite is named by the config check.
    names = available(suite) if suite in SUITES and suite != "meta" else []
    tasks = [n.split("/", 1)[1] for n in names]
    return run_config_from_dict(data, algo, valid_tasks=tasks or None), resuming


def _remove_unused(run_dir: Path) -> None:
    """Undo what starting a new run created before anything trained (config.yaml, empty checkpoints/, the lock):
    a run refused for its configuration leaves no directory behind. Anything else there is kept."""
    for name in (CONFIG_FILE, ".lock"):
        (run_dir / name).unlink(missing_ok=True)
    for sub in ("checkpoints", ""):
        path = run_dir / sub
        try:
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        except OSError:
            pass


def resume_command(run_dir: str | Path) -> str:
    """The command line that resumes ``run_dir`` with the script that is running."""
    return f"python {shlex.quote(sys.argv[0])} resume={shlex.quote(str(run_dir))}"


def choosable_groups(config_dir: Path, config_name: str) -> dict[str, list[str]]:
    """{group: its options} for the groups a user chooses in ``<config_name>.yaml`` (the plain ``group: option``
    entries of its defaults list; not the presets it selects itself); ``algo`` offers only the script's own."""
    data = yaml.safe_load((config_dir / f"{config_name}.yaml").read_text()) or {}
    names = [next(iter(entry)) for entry in data.get("defaults") or [] if isinstance(entry, dict)]
    return {name: [config_name] if name == "algo" else sorted(p.stem for p in (config_dir / name).glob("*.yaml"))
            for name in names if "@" not in name and not name.startswith("optional ")}


def run_script(config_dir: Path, config_name: str, algo: type, make_train: Callable,
               make_env: Callable[[str], tuple[Any, Any]], available: Callable[[str], list[str]],
               argv: list[str] | None = None, usage: str = "") -> None:
    """The body of ``scripts/<algorithm>.py``: Hydra overrides (``argv``, default ``sys.argv[1:]``) -> config ->
    env -> ``ssmrl.runners.loop.train``; exits with a one-line message on failure."""
    from ssmrl.runners.loop import Diverged, Interrupted, train

    argv = sys.argv[1:] if argv is None else argv
    console = Console(soft_wrap=True)
    if any(a in ("-h", "--help") for a in argv):
        groups = choosable_groups(config_dir, config_name)
        console.print(escape(usage.strip() + "\n\nconfig groups (choose with group=option): " +
                             "; ".join(f"{g}: {', '.join(o)}" for g, o in groups.items())), highlight=False)
        return
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax reports every checkpoint step at INFO
    run_dir, resuming = None, False
    with sigterm_as_interrupt():  # SIGTERM (timeout, docker stop, preemption) stops like Ctrl-C
        try:
            try:
                cfg = compose_config(config_dir, config_name, argv)
                run_cfg, resuming = load_config(cfg, algo, available, console)
                env, env_params = make_env(run_cfg.env.env_id)
            except ConfigError as err:
                console.print(f"[red]config error:[/red] {escape(str(err))}", highlight=False)
                sys.exit(2)
            except ValueError as err:  # the env factory rejects a task
                console.print(f"[red]config error:[/red] env.task: {escape(str(err))}", highlight=False)
                sys.exit(2)
            if run_cfg.runner.distributed:
                import jax

                jax.distributed.initialize()  # reads the cluster from the environment (SLURM, Open MPI, TPU, ...)
            run_dir = Path(run_cfg.run_dir)
            if hasattr(run_cfg.algo, "describe"):
                console.print(run_cfg.algo.describe(), highlight=False)
            with RunLock(run_dir):
                if not resuming:
                    console.print(escape(f"new run in {run_dir}"), highlight=False)
                    OmegaConf.save(OmegaConf.create(run_config_to_dict(run_cfg)), run_dir / CONFIG_FILE)
                train(run_cfg, make_train, env, env_params, run_dir, console=console)
        except ConfigError as err:  # raised by make_train when the environment does not fit the algorithm's settings
            if run_dir is not None and not resuming:
                _remove_unused(run_dir)
            console.print(f"[red]config error:[/red] {escape(str(err))}", highlight=False)
            sys.exit(2)
        except SaveFailed as err:  # a full disk: the older checkpoints are intact and resume from the newest
            text = f"{err}; free space, then resume with: {resume_command(run_dir)}"
            console.print(f"[red]error:[/red] {escape(text)}", highlight=False)
            sys.exit(2)
        except (RunDirError, CheckpointError, Diverged) as err:
            console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False)
            sys.exit(2)
        except OSError as err:
            where = f" {err.filename}" if err.filename else (f" in {run_dir}" if run_dir else "")
            text = f"cannot write{where}: {err.strerror or err}; nothing saved before was changed"
            console.print(f"[red]error:[/red] {escape(text)}", highlight=False)
            sys.exit(2)
        except Interrupted as err:
            hint = f"; resume with: {resume_command(run_dir)}" if err.update else "; nothing was saved"
            console.print(escape(f"{err}{hint}"), highlight=False)
            sys.exit(interrupt_status(err))
        except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM (Terminated) before the loop started
            saved = run_dir is not None and (run_dir / CONFIG_FILE).exists()
            hint = f"; resume with: {resume_command(run_dir)}" if saved else ""
            console.print(escape(f"{stop_word(err)} before training started{hint}"), highlight=False)
            sys.exit(interrupt_status(err))
