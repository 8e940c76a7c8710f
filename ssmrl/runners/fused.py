"""The fused runner: an algorithm's pure ``update`` looped on the device, ``vmap``ped over seeds and placed across
every local device, compiled once per run (ahead of time, so the compile time is measured on its own).

``run(state, n)`` performs ``n <= updates_per_call`` updates in one compiled call (a ``fori_loop`` with a dynamic
trip count over the seed-vmapped ``update``) and returns the metrics of every update in a buffer of
``updates_per_call`` rows, of which the first ``n`` are filled. A run of any length is full calls plus one shorter
call of the same program: no recompilation, and no update count makes every call small.

Devices: the seed axis (the leading axis of the state) is split across a 1-D ``Mesh`` of devices with a
``NamedSharding`` when there are several seeds; with one seed the environment axis of every
:class:`ssmrl.acting.ActingState` in the state is split instead (parameters are replicated). The number of devices
used is the largest one that divides the split axis. ``jit`` partitions the program by that placement (GSPMD);
the numbers do not depend on it. Many hosts: call ``jax.distributed.initialize()`` first (``runner.distributed``),
then ``jax.devices()`` spans every host.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ssmrl.acting import ActingState
from ssmrl.algorithm import Train

Array = jax.Array
AXIS = "batch"


def seed_keys(seed: int, num_seeds: int) -> Array:
    """One PRNG key per seed: key [num_seeds, 2] split from ``PRNGKey(seed)``."""
    return jax.random.split(jax.random.PRNGKey(seed), num_seeds)


def over_seeds(fn: Callable, num_seeds: int) -> Callable:
    """``fn`` mapped over a leading seed axis of every argument and output: ``vmap`` for several seeds; for one
    seed the axis is squeezed and restored instead (keeps ``lax.cond`` a real branch)."""
    if num_seeds > 1:
        return jax.vmap(fn)

    def single(*args):
        out = fn(*jax.tree.map(lambda y: y[0], args))
        return jax.tree.map(lambda y: y[None], out)

    return single


@struct.dataclass
class FusedRunner:
    """run(state, n) -> (state, metrics: dict of float32 [updates_per_call, S], first n rows filled);
    evaluate(keys [S, 2], state) -> metrics dict of [S]; compile_s: seconds spent compiling ``run``;
    updates_per_call: the most updates one call performs; devices: the devices the state is split over."""

    run: Callable = struct.field(pytree_node=False)
    evaluate: Callable = struct.field(pytree_node=False)
    compile_s: float = struct.field(pytree_node=False)
    updates_per_call: int = struct.field(pytree_node=False)
    devices: tuple = struct.field(pytree_node=False)

    def saved(self, update: int) -> None:
        """Called after each checkpoint: the whole state is in it, nothing else to save."""

    def restored(self, update: int, state: Any, warn: Callable[[str], None]) -> Any:
        """Called after a restore: the restored state is complete as it is."""
        return state


def _mesh(axis_size: int, devices: list | None) -> Mesh:
    devices = list(jax.devices() if devices is None else devices)
    used = math.gcd(axis_size, len(devices))
    return Mesh(np.array(devices[:used]), (AXIS,))


def state_sharding(state_shape: Any, num_seeds: int, mesh: Mesh) -> Any:
    """Per-leaf ``NamedSharding`` of a state with a leading seed axis: the seed axis split over ``mesh`` (several
    seeds), or the environment axis of every ``ActingState`` (one seed; axis 1 after the seed axis)."""
    replicated = NamedSharding(mesh, P())
    if num_seeds > 1:
        return jax.tree.map(lambda _: NamedSharding(mesh, P(AXIS)), state_shape)
    is_acting = lambda x: isinstance(x, ActingState)

    def place(node):
        if is_acting(node):
            return jax.tree.map(lambda _: NamedSharding(mesh, P(None, AXIS)), node)
        return jax.tree.map(lambda _: replicated, node)

    return jax.tree.map(place, state_shape, is_leaf=is_acting)


def make_fused_runner(train: Train, keys: Array, updates_per_call: int,
                      devices: list | None = None) -> tuple[FusedRunner, Any]:
    """Compile an algorithm's :class:`ssmrl.algorithm.Train` (``init`` and ``update`` now; ``evaluate``, unless
    None, at its first call) for ``keys.shape[0]`` seeds (``keys`` [S, 2]). Returns (runner, initial state with a
    leading seed axis, placed across ``devices``, default all devices).
    """
    num_seeds = keys.shape[0]
    init_all = over_seeds(train.init, num_seeds)
    state_shape = jax.eval_shape(init_all, keys)
    axis_size = num_seeds if num_seeds > 1 else _acting_batch(state_shape)
    mesh = _mesh(axis_size, devices)
    sharding = state_sharding(state_shape, num_seeds, mesh)
    replicated = NamedSharding(mesh, P())
    state = jax.jit(init_all, out_shardings=sharding)(keys)
    update_all = over_seeds(train.update, num_seeds)
    metrics_shape = jax.eval_shape(update_all, state_shape)[1]

    def run(state, n):
        buffer = jax.tree.map(lambda m: jnp.zeros((updates_per_call,) + m.shape, m.dtype), metrics_shape)

        def body(i, carry):
            state, buffer = carry
            state, metrics = update_all(state)
            return state, jax.tree.map(lambda b, m: b.at[i].set(m), buffer, metrics)

        return jax.lax.fori_loop(0, n, body, (state, buffer))

    start = time.perf_counter()
    compiled = jax.jit(run, out_shardings=(sharding, replicated)).lower(state, jnp.int32(0)).compile()
    compile_s = time.perf_counter() - start

    def run_call(state, n: int):
        if not 1 <= n <= updates_per_call:
            raise ValueError(f"n={n} must be in [1, updates_per_call={updates_per_call}]")
        return compiled(state, jnp.int32(n))

    eval_all = None
    if train.evaluate is not None:
        eval_all = jax.jit(over_seeds(train.evaluate, num_seeds), out_shardings=replicated)
    return FusedRunner(run=run_call, evaluate=eval_all, compile_s=compile_s, updates_per_call=updates_per_call,
                       devices=tuple(mesh.devices.flat)), state


def _acting_batch(state_shape: Any) -> int:
    """The environment-axis size shared by the ActingStates in a one-seed state (1 if there are none)."""
    sizes = {leaf.shape[1] for node in jax.tree.leaves(state_shape, is_leaf=lambda x: isinstance(x, ActingState))
             if isinstance(node, ActingState) for leaf in jax.tree.leaves(node)}
    return math.gcd(*sizes) if sizes else 1
