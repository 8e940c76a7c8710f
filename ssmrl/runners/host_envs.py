"""The host runner: an algorithm's :class:`ssmrl.algorithm.Train` with host parts (``train.host``, a
:class:`ssmrl.algorithm.HostParts`) on a host-side environment (emulators stepped from Python), with the same
interface as the fused runner so the one run loop (``runners.loop.train``) drives both.

One update: the policy steps under ``jit`` and the environment on the host for ``num_steps`` steps
(``HostParts.act``), then the compiled ``HostParts.learn`` stores the trajectory and trains at the configured
ratio. ``run(state, n)`` does ``n`` updates. The state keeps the leading seed axis of the fused runner's (one seed:
host environments are not vmapped; run seeds as separate runs).

Exact resume: the emulators are outside the JAX state, so after each checkpoint the runner pickles
``env.snapshot()`` to ``<snapshot_dir>/<update>.pkl`` (:meth:`HostRunner.saved`); on restore it loads the snapshot
of the restored update (:meth:`HostRunner.restored`). A missing or unreadable snapshot is reported and the
environments restart with fresh episodes (training continues correctly, but not bit for bit).

compile_s: compiling the policy step and ``learn``, measured on one acting pass of ``num_steps`` steps whose
environment steps are undone (snapshot before, restore after), so a run's data does not depend on it.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from ssmrl.algorithm import Train
from ssmrl.host_acting import host_acting

Array = jax.Array
_first = lambda tree: jax.tree.map(lambda x: x[0], tree)
_batch = lambda tree: jax.tree.map(lambda x: jnp.asarray(x)[None], tree)


@dataclass
class HostRunner:
    """run(state, n) -> (state, metrics: dict of float32 [updates_per_call, 1], first n rows filled);
    evaluate(keys [1, 2], state) -> metrics dict of [1]; compile_s; updates_per_call; devices;
    saved(update) / restored(update, state, warn) -> state: the environment snapshot beside each checkpoint;
    train: the algorithm's :class:`Train` (``train.host`` set); learn: ``train.host.learn`` compiled."""

    train: Train
    learn: Callable
    compile_s: float
    updates_per_call: int
    snapshot_dir: Path
    max_snapshots: int
    devices: tuple = field(default_factory=lambda: tuple(jax.devices()[:1]))

    def _update(self, state: Any) -> tuple[Any, dict]:
        key, key_act = jax.random.split(state.key)
        host = self.train.host
        acting, traj = host.act(key_act, host.params(state), state.acting)
        return self.learn(state.replace(acting=acting, key=key), traj)

    def run(self, state: Any, n: int) -> tuple[Any, dict[str, Array]]:
        if not 1 <= n <= self.updates_per_call:
            raise ValueError(f"n={n} must be in [1, updates_per_call={self.updates_per_call}]")
        state, rows = _first(state), []
        for _ in range(n):
            state, metrics = self._update(state)
            rows.append(metrics)
        rows += [jax.tree.map(jnp.zeros_like, rows[0])] * (self.updates_per_call - n)
        metrics = jax.tree.map(lambda *xs: jnp.stack(xs)[:, None], *rows)
        return _batch(state), metrics

    def evaluate(self, keys: Array, state: Any) -> dict[str, Array]:
        return _batch(self.train.evaluate(keys[0], _first(state)))

    def saved(self, update: int) -> None:
        """Pickle the environment's snapshot for the checkpoint of ``update``; keep the newest ``max_snapshots``."""
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.snapshot_dir / f"{update}.pkl"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps({"update": update, "env": self.train.host.env.snapshot()}))
        tmp.replace(path)
        steps = sorted(int(p.stem) for p in self.snapshot_dir.glob("*.pkl") if p.stem.isdigit())
        for old in steps[:-self.max_snapshots]:
            (self.snapshot_dir / f"{old}.pkl").unlink(missing_ok=True)

    def restored(self, update: int, state: Any, warn: Callable[[str], None]) -> Any:
        """Put the environment back as it was at the checkpoint of ``update`` (``state`` is that checkpoint's);
        without a usable snapshot, reset the environments and mark every observation first."""
        path = self.snapshot_dir / f"{update}.pkl"
        try:
            data = pickle.loads(path.read_bytes())
            if data.get("update") != update:
                raise ValueError(f"it holds update {data.get('update')}")
            self.train.host.env.restore(data["env"])
            return state
        except Exception as err:  # missing, truncated or foreign: any failure means the same fallback
            warn(f"warning: no usable environment snapshot for update {update} ({path.name}: "
                 f"{type(err).__name__}: {err}); the environments restart with fresh episodes, so this resume is "
                 "not bit-exact")
        single = _first(state)
        acting = host_acting(self.train.host.env, single.acting.carry)
        return _batch(single.replace(acting=acting))


def make_host_runner(train: Train, keys: Array, updates_per_call: int, snapshot_dir: str | Path,
                     max_snapshots: int = 2) -> tuple[HostRunner, Any]:
    """Initialise ``train`` (``train.host`` set) for one seed (``keys`` [1, 2]), reset its environment and
    compile. Returns (runner, initial state with a leading seed axis of 1)."""
    if keys.shape[0] != 1:
        raise ValueError(f"a host-side environment trains one seed per run, got {keys.shape[0]} keys")
    host = train.host
    if host is None:
        raise ValueError("make_host_runner needs a Train with host parts (train.host); this one has none")
    start = time.perf_counter()
    state = jax.jit(train.init)(keys[0])
    state = state.replace(acting=host_acting(host.env, state.acting.carry))
    learn = jax.jit(host.learn)
    before = host.env.snapshot()
    _, traj = host.act(jax.random.PRNGKey(0), host.params(state), state.acting)
    learn = learn.lower(state, traj).compile()
    host.env.restore(before)
    runner = HostRunner(train=train, learn=learn, compile_s=time.perf_counter() - start,
                        updates_per_call=updates_per_call, snapshot_dir=Path(snapshot_dir),
                        max_snapshots=max_snapshots)
    return runner, _batch(state)
