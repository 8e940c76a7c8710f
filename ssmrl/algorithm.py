"""What an algorithm hands the run layer: :class:`Train`, the one return type of every ``make_train(cfg, env,
env_params)`` (JAX environments and host-side ones alike), its :class:`HostParts` for host-side environments, and
:func:`tree_param_count`, the parameter count that the run layer records in ``summary.json`` and the benchmark
reports.

It imports nothing of ``ssmrl``, so the algorithms, the runners and the benchmark all import it without cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class HostParts:
    """One update on a host-side environment ``env`` (emulators stepped from Python, ``B = env.num_envs``), in
    two halves that :mod:`ssmrl.runners.host_envs` calls: ``acting, traj = act(key, params(state), state.acting)``
    on the host, then the jitted ``learn(state with acting, traj)``.

    params(state) -> what ``act`` passes to the policy.
    act(key, params, acting) -> (acting, Trajectory [T, B]): host acting (:func:`ssmrl.host_acting.make_host_act`),
      not jittable; ``acting`` is an :class:`ssmrl.acting.ActingState` (obs [B, ...], is_first [B], carry).
    learn(state, traj) -> (state, metrics: dict of float32 scalars): jittable; everything an update does after
      collecting (store, train, count).
    env: the host environment; the runner replaces the obs of ``init``'s ``state.acting`` with ``env.reset()`` and
      checkpoints the emulators with ``env.snapshot()``.
    """

    params: Callable
    act: Callable
    learn: Callable
    env: Any


@dataclass(frozen=True)
class Health:
    """What the run layer needs to name an algorithm's failures: ``lr_keys``, its ``algo.*`` learning rates (named
    when a run diverges); ``metric_order``, metric keys in the order an update computes them (the first non-finite
    one is named, not the first alphabetically; keys not listed come after, in their row order); ``entropy_key``,
    the metric of its policy's entropy (a policy whose entropy falls to 0 and stays there is warned of) and
    ``collapse_hint``, the keys to try then."""

    lr_keys: tuple[str, ...] = ("lr",)
    metric_order: tuple[str, ...] = ()
    entropy_key: str | None = None
    collapse_hint: str = ""


@dataclass(frozen=True)
class Train:
    """An algorithm's training for one seed (the runners map it over seeds), as ``make_train`` builds it.

    init(key [2]) -> state: jittable; everything training needs, as one named pytree (parameters, optimiser
      states, PRNG key ``state.key``, acting state ``state.acting``, counters).
    update(state) -> (state, metrics): jittable; one update of ``cfg.algo.steps_per_update`` environment steps;
      metrics a flat dict of float32 scalars (any keys). None on a host-side environment: ``host`` gives it in two
      halves instead.
    evaluate(key [2], state) -> metrics: dict of float32 scalars (``episode_return``, ``episode_length``,
      ``episodes``, any others), or None (no evaluation); jittable on a JAX environment, run on the host on a
      host-side one.
    agent_params(state) -> pytree: the agent's parameters (what the benchmark counts as "agent params"), from
      one seed's state or its shapes (``jax.eval_shape(init, key)``).
    host: what the host runner needs on a host-side environment (``env.host_side``); None on a JAX environment.
    health: the names the run layer uses when the run diverges or the policy collapses (:class:`Health`).
    """

    init: Callable
    update: Callable | None
    evaluate: Callable | None
    agent_params: Callable[[Any], Any]
    host: HostParts | None = None
    health: Health = field(default_factory=lambda: Health())

    def agent_param_count(self, state: Any) -> int:
        """Real parameters of the agent in one seed's ``state`` (arrays or ``jax.ShapeDtypeStruct`` leaves)."""
        return tree_param_count(self.agent_params(state))


def tree_param_count(tree: Any) -> int:
    """Real parameters in a pytree of arrays or ``jax.ShapeDtypeStruct`` (complex leaves count twice)."""
    total = 0
    for leaf in jax.tree.leaves(tree):
        size = int(np.prod(leaf.shape, dtype=np.int64))
        total += 2 * size if jnp.issubdtype(leaf.dtype, jnp.complexfloating) else size
    return total
