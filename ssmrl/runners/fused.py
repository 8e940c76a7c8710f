"""The fused runner: everything under one ``jit``. A ``lax.scan`` of PPO's ``update`` over a chunk of updates,
``vmap`` over seeds, compiled once per run (ahead of time, so the compile time is measured on its own).

The host loop (``ssmrl.runners.host``) calls the compiled chunk repeatedly and logs / checkpoints in between;
every chunk has the same length (a divisor of the number of updates), so nothing recompiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
from flax import struct

Array = jax.Array


def chunk_length(num_updates: int, requested: int) -> int:
    """The largest divisor of ``num_updates`` that is <= ``requested`` (so all chunks have one length)."""
    requested = max(1, min(requested, num_updates))
    return next(c for c in range(requested, 0, -1) if num_updates % c == 0)


def seed_keys(seed: int, num_seeds: int) -> Array:
    """One PRNG key per seed: key [num_seeds, 2] split from ``PRNGKey(seed)``."""
    return jax.random.split(jax.random.PRNGKey(seed), num_seeds)


@struct.dataclass
class FusedRunner:
    """init(keys [S, 2]) -> state with a leading seed axis; run_chunk(state) -> (state, metrics: dict of
    float32 [chunk, S]); compile_s: seconds spent compiling ``run_chunk``; chunk: updates per call."""

    init: Callable = struct.field(pytree_node=False)
    run_chunk: Callable = struct.field(pytree_node=False)
    compile_s: float = struct.field(pytree_node=False)
    chunk: int = struct.field(pytree_node=False)


def _over_seeds(fn: Callable, num_seeds: int) -> Callable:
    """vmap over a leading seed axis; with one seed, squeeze it instead (keeps ``lax.cond`` a real branch)."""
    if num_seeds > 1:
        return jax.vmap(fn)

    def single(x):
        out = fn(jax.tree.map(lambda y: y[0], x))
        return jax.tree.map(lambda y: y[None], out)

    return single


def make_fused_runner(init: Callable, update: Callable, keys: Array, chunk: int) -> tuple[FusedRunner, Any]:
    """Compile PPO's ``init`` / ``update`` for ``keys.shape[0]`` seeds and ``chunk`` updates per call.

    Returns (runner, initial state with a leading seed axis).
    """
    num_seeds = keys.shape[0]

    def scan_updates(state):
        state, metrics = jax.lax.scan(lambda s, _: update(s), state, None, length=chunk)
        return state, metrics

    init_all = jax.jit(_over_seeds(init, num_seeds))
    state = init_all(keys)
    over_seeds = _over_seeds(scan_updates, num_seeds)

    def run_chunk(s):
        s, metrics = over_seeds(s)
        return s, jax.tree.map(lambda m: m.swapaxes(0, 1), metrics)  # [S, chunk] -> [chunk, S]

    start = time.perf_counter()
    compiled = jax.jit(run_chunk).lower(state).compile()
    compile_s = time.perf_counter() - start
    return FusedRunner(init=init_all, run_chunk=compiled, compile_s=compile_s, chunk=chunk), state
