"""World-model memory tasks in JAX: the four memory capabilities of S4WM ("Facing Off World Model Backbones: RNNs,
Transformers, and S4", Deng, Park and Ahn, NeurIPS 2023), whose environments were never released, rebuilt as
small pixel grid worlds (uint8 [32, 32, 3] top-down partial views, or with ``obs_mode="tiles"`` the same views
as int32 [7, 7] tile classes; discrete actions; see :mod:`envs.wm_memory.grid`), each with Easy / Medium / Hard
lengths and a scripted data-collection policy:

* ``Revisit`` (:mod:`~envs.wm_memory.revisit`): long-term imagination; rooms explored, then revisited in reverse;
* ``Teleport`` (:mod:`~envs.wm_memory.teleport`): context-dependent recall; after a context phase the agent
  jumps back to an earlier place and retraces its earlier path from there;
* ``CueReward`` (:mod:`~envs.wm_memory.cue_reward`): reward prediction with distractors; an early colour cue
  decides which of the later goal pads pays;
* ``ChangeWorld`` (:mod:`~envs.wm_memory.change_world`): memory-based reasoning; the agent opens doors and
  pushes boxes, and the frames of its late return must show the changes.

``TASKS`` maps a task name to its environment class (``TASKS["Revisit"](difficulty="hard")``); the registry
serves them as ``wm_memory/<Task><Easy|Medium|Hard>``. :func:`generate_dataset` makes vmapped scripted
episodes in the world model's replay layout (:mod:`envs.wm_memory.dataset`).
"""

from __future__ import annotations

from typing import Any

import jax

from envs.wm_memory.change_world import ChangeWorld
from envs.wm_memory.cue_reward import CueReward
from envs.wm_memory.dataset import WMEpisodes, scripted_episode, scripted_episodes
from envs.wm_memory.grid import GridTask, check_obs_mode
from envs.wm_memory.revisit import Revisit
from envs.wm_memory.teleport import Teleport

TASKS: dict[str, type] = {
    "Revisit": Revisit,
    "Teleport": Teleport,
    "CueReward": CueReward,
    "ChangeWorld": ChangeWorld,
}
LEVELS = ("Easy", "Medium", "Hard")

__all__ = ["LEVELS", "TASKS", "WMEpisodes", "generate_dataset", "make_task", "scripted_episode",
           "scripted_episodes", "task_names"]


def task_names() -> list[str]:
    """``<Task><Level>`` for every task and level."""
    return [f"{task}{level}" for task in TASKS for level in LEVELS]


def make_task(name: str, **overrides: Any) -> tuple[GridTask, Any]:
    """``"RevisitEasy"`` (or ``"wm_memory/RevisitEasy"``) -> (env, params with ``overrides`` applied).

    An unknown name, params field or ``obs_mode`` is a ``ValueError`` that lists the valid ones.
    """
    rest = name.removeprefix("wm_memory/")
    for level in LEVELS:
        task = rest[: -len(level)]
        if rest.endswith(level) and task in TASKS:
            env = TASKS[task](difficulty=level.lower())
            params = env.default_params
            fields = list(params.__dataclass_fields__)
            bad = sorted(set(overrides) - set(fields))
            if bad:
                raise ValueError(f"{name}: unknown params field(s) {bad}; valid: {fields}")
            params = params.replace(**overrides)
            check_obs_mode(params.obs_mode)
            return env, params
    raise ValueError(f"unknown wm_memory task {name!r}; valid names: {', '.join(task_names())}")


def generate_dataset(key: jax.Array, task_name: str, num_episodes: int, **overrides: Any) -> WMEpisodes:
    """``num_episodes`` scripted episodes of ``task_name`` (e.g. ``"TeleportMedium"``; params ``overrides`` as
    in :func:`make_task`), generated from ``key`` alone.

    Returns :class:`WMEpisodes`: obs uint8 [T, N, 32, 32, 3] (``obs_mode="tiles"``: int32 [T, N, 7, 7]), action
    int32 [T, N] (the previous action, 0 where is_first), reward float32 [T, N], is_first / terminated /
    truncated bool [T, N] (is_first at t = 0, truncated at t = T - 1, T = the task's length) and markers {name:
    int32 [N]}. Episode ``i`` is ``scripted_episode(split(key, num_episodes)[i], ...)``: the same key gives the
    same data.
    """
    if not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be a positive int, got {num_episodes!r}")
    env, params = make_task(task_name, **overrides)
    episodes, _ = scripted_episodes(key, env, params, num_episodes)
    return episodes
