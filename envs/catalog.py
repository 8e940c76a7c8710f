"""Names -> environments: ``make("suite/Name", **overrides) -> (env, params)`` and ``available(suite=None)``.

Suites:

* ``popgym/<Family><Easy|Medium|Hard>``: ``FAMILIES[family](difficulty=...)`` from :mod:`envs.popgym`.
* ``wm_memory/<Task><Easy|Medium|Hard>``: ``TASKS[task](difficulty=...)`` from :mod:`envs.wm_memory` (pixel
  memory tasks for world models: Revisit, Teleport, CueReward, ChangeWorld).
* ``gymnax/<gymnax id>``: any environment of the installed gymnax through :class:`envs.gymnax.GymnaxEnv`.
* ``atari100k/<Game>``: one of the 26 Atari 100k games (``envs.atari.ATARI100K_GAMES``) as an
  :class:`envs.atari.Atari100k` handle: a host-side environment (emulators stepped from Python, not jittable);
  overrides are its protocol settings (``frame_skip``, ``noop_max``, ``max_frames``, ``size``), params ``None``.
* ``meta/<inner name>``: :class:`envs.meta.MetaEnv` over any of the above, e.g.
  ``meta/popgym/MultiarmedBanditEasy`` or ``meta/gymnax/CartPole-v1``.

Keyword overrides replace fields of the params dataclass (``make("popgym/RepeatPreviousEasy", k=8)``); for
``meta/`` they set :class:`envs.meta.MetaParams` fields (``num_trials``, ``obs_dim``, ``fixed_inner_reset``)
and ``inner`` (a dict of overrides for the inner params). An unknown name or field is a ``ValueError`` that
lists the valid ones. The returned environments are raw (no auto-reset): wrap them with
``ssmrl.env_wrappers.AutoReset`` / ``VecEnv``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from envs.atari import ATARI100K_GAMES, Atari100k
from envs.gymnax import GymnaxEnv, gymnax_ids
from envs.meta import MetaEnv
from envs.popgym import FAMILIES
from envs.wm_memory import TASKS
from ssmrl.config import SUITES  # defined once: the run config checks env.suite against them
from ssmrl.env import Environment

LEVELS = ("Easy", "Medium", "Hard")


def popgym_names() -> list[str]:
    """``popgym/<Family><Level>`` for every registered family and level."""
    return [f"popgym/{family}{level}" for family in sorted(FAMILIES) for level in LEVELS]


def wm_memory_names() -> list[str]:
    """``wm_memory/<Task><Level>`` for every world-model memory task and level."""
    return [f"wm_memory/{task}{level}" for task in TASKS for level in LEVELS]


def gymnax_names() -> list[str]:
    """``gymnax/<id>`` for every environment of the installed gymnax."""
    return [f"gymnax/{env_id}" for env_id in gymnax_ids()]


def atari100k_names() -> list[str]:
    """``atari100k/<Game>`` for the 26 Atari 100k games."""
    return [f"atari100k/{game}" for game in ATARI100K_GAMES]


def available(suite: str | None = None) -> list[str]:
    """Every name ``make`` accepts, or those of one ``suite`` (one of ``SUITES``); ``meta/<name>`` is valid for each
    JAX one (listed once as a pattern). Listing one suite imports only what that suite needs."""
    listers = {"popgym": popgym_names, "wm_memory": wm_memory_names, "gymnax": gymnax_names,
               "atari100k": atari100k_names, "meta": lambda: ["meta/<any popgym/... or gymnax/... name>"]}
    if suite is None:
        return [name for lister in listers.values() for name in lister()]
    if suite not in listers:
        raise ValueError(f"unknown environment suite {suite!r}; valid: {', '.join(SUITES)}")
    return listers[suite]()


def _unknown(name: str, valid: list[str]) -> ValueError:
    return ValueError(f"unknown environment {name!r}; valid names: {', '.join(valid)}")


def _with_overrides(params: Any, overrides: dict[str, Any], where: str) -> Any:
    if not overrides:
        return params
    fields = [f.name for f in dataclasses.fields(params)]
    bad = sorted(set(overrides) - set(fields))
    if bad:
        raise ValueError(f"{where}: unknown params field(s) {bad}; valid: {fields}")
    return params.replace(**overrides)


def _make_base(name: str) -> Environment:
    suite, _, rest = name.partition("/")
    if suite == "popgym":
        for level in LEVELS:
            family = rest[: -len(level)]
            if rest.endswith(level) and family in FAMILIES:
                return FAMILIES[family](difficulty=level.lower())
        raise _unknown(name, popgym_names())
    if suite == "wm_memory":
        for level in LEVELS:
            task = rest[: -len(level)]
            if rest.endswith(level) and task in TASKS:
                return TASKS[task](difficulty=level.lower())
        raise _unknown(name, wm_memory_names())
    if suite == "gymnax":
        if rest not in gymnax_ids():
            raise _unknown(name, gymnax_names())
        return GymnaxEnv(rest)
    raise _unknown(name, available())


def make(name: str, **overrides: Any) -> tuple[Environment, Any]:
    """-> (env, params) for ``name`` (see the module docstring), params with ``overrides`` applied."""
    if not isinstance(name, str):
        raise ValueError(f"environment name must be a str, got {name!r}")
    if name.startswith("atari100k/"):
        game = name[len("atari100k/"):]
        if game not in ATARI100K_GAMES:
            raise _unknown(name, atari100k_names())
        return Atari100k(game, **overrides), None
    if name.startswith("meta/"):
        inner_env, inner_params = make(name[len("meta/") :], **dict(overrides.pop("inner", None) or {}))
        if getattr(inner_env, "host_side", False):
            raise ValueError(f"{name}: meta/ wraps jittable JAX environments only, not the host-side "
                             f"{inner_env.name}")
        env = MetaEnv(inner_env)
        params = _with_overrides(env.default_params.replace(inner=inner_params), overrides, name)
        env._check(params)
        return env, params
    env = _make_base(name)
    return env, _with_overrides(env.default_params, overrides, name)
