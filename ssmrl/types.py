"""The three episode-boundary flags, defined once for the whole library, and shared type names.

The flags (never a bare ``done``):

* ``is_first[t]``: observation ``t`` is the first of a new episode (meta-episode in meta-RL). Every core
  replaces its carry by the initial carry *before* consuming input ``t``.
* ``terminated[t]``: the transition taken at ``t`` ended the episode in a terminal state: no bootstrap.
* ``truncated[t]``: the episode was cut (time limit): bootstrap from ``V(final_obs)``, computed with the carry
  from before the reset.

``is_first[t + 1] = terminated[t] | truncated[t]`` for ordinary environments. Arrays are time-major ``[T, B, ...]``
at every public interface; ``ssmrl.acting.Trajectory`` is the time-major record of acting that every algorithm
stores.
"""

from __future__ import annotations

from typing import Any

import jax

Array = jax.Array
PyTree = Any
