"""Shared pytrees and the three episode-boundary flags, defined once for the whole library.

The flags (never a bare ``done``):

* ``is_first[t]``: observation ``t`` is the first of a new episode (meta-episode in meta-RL). Every core
  replaces its carry by the initial carry *before* consuming input ``t``.
* ``terminated[t]``: the transition taken at ``t`` ended the episode in a terminal state: no bootstrap.
* ``truncated[t]``: the episode was cut (time limit): bootstrap from ``V(final_obs)``, computed with the carry
  from before the reset.

``is_first[t + 1] = terminated[t] | truncated[t]`` for ordinary environments. Arrays are time-major ``[T, B, ...]``
at every public interface.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

Array = jax.Array
PyTree = Any


class Timestep(NamedTuple):
    """What an environment step hands to the agent (one step, batched over environments).

    obs: [B, ...] the next observation (already the first of a new episode after an auto-reset)
    reward: float32 [B]
    terminated: bool [B]
    truncated: bool [B]
    is_first: bool [B] whether ``obs`` starts a new episode
    """

    obs: PyTree
    reward: Array
    terminated: Array
    truncated: Array
    is_first: Array


class Transition(NamedTuple):
    """One stored step of a rollout, time-major when stacked: every field [T, B, ...].

    obs: the observation the action was taken from; is_first: it starts an episode;
    action, log_prob, value: the policy's output at ``obs``; reward, terminated, truncated: the outcome;
    bootstrap_value: V(final_obs) under the pre-reset carry (used only where ``truncated``).
    """

    obs: PyTree
    is_first: Array
    action: Array
    log_prob: Array
    value: Array
    reward: Array
    terminated: Array
    truncated: Array
    bootstrap_value: Array
