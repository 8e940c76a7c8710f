"""Offline training of the world model on a fixed data set of episodes (S4WM's protocol: the world model alone,
trained on pre-collected sequences), and the cost of one training step (throughput, planned memory).

Data: any pytree with the fields of ``envs.wm_memory.WMEpisodes`` (obs [T, N, *obs_shape], action [T, N, ...]
the previous action, reward float32 [T, N], is_first / terminated / truncated bool [T, N]); the episodes all have
the same length T. ``ssmrl.world_model.batch.sample_batch`` draws ``batch_size`` windows of ``seq_len``
consecutive steps, each inside one episode, time-major ``[seq_len, batch_size, ...]`` (a ``ReplayBatch``); a
window that starts after step 0 gets ``is_first[0] = True`` and zero action and reward there, as the replay does.

One training step (``Offline.train_step``): the world model's step (``ssmrl.world_model.step``: its loss with the
posterior sampled by a key split from the state's, the gradient, a clipped Adam step). The settings come from an
:class:`OfflineConfig` (or any ``ssmrl.world_model.WorldModelConfig`` with ``batch_size`` and ``seq_len``, e.g. a
``ssmrl.dreamer.config.DreamerConfig``); the sequence core from a ``ssmrl.config.ModelConfig``, a core name or a
built stack. :func:`fit` runs many steps (the compiled step called once per step) and returns every step's metrics
and the speed.

Validation and early stopping (:func:`fit_validated`): :func:`split_validation` holds out the last episodes of a
data set; :func:`validation_batches` cuts them into fixed windows once; every ``every`` steps (and after the last)
the training step's loss is evaluated on those windows without the gradient, with one fixed sampling key, so the
checks are comparable. :func:`select_checkpoint` (pure: validation losses -> the best check, the check that stops)
decides when to stop (``patience`` checks without a lower loss; 0: never early) and which parameters to keep (a
host copy of those of the best check).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from ssmrl.world_model.batch import ReplayBatch, as_arrays, sample_batch, window_batch
from ssmrl.world_model.build import build_world_model
from ssmrl.world_model.config import WorldModelConfig
from ssmrl.world_model.model import WorldModel, init_world_model
from ssmrl.world_model.step import make_world_model_objective, make_world_model_step
from ssmrl.xla_memory import compiled_memory

Array = jax.Array
METRIC_KEYS = ("loss", "recon_loss", "reward_loss", "cont_loss", "dyn_kl", "rep_kl", "post_entropy",
               "prior_entropy", "grad_norm")
VAL_KEYS = METRIC_KEYS[:-1]  # a validation check's metrics: the loss's, no gradient
BUDGET, PLATEAU = "budget", "plateau"  # why training stopped: the steps ran out / the validation loss stopped falling


@dataclasses.dataclass(frozen=True)
class OfflineConfig(WorldModelConfig):
    """Offline world-model training: the world model's settings (:class:`WorldModelConfig`, the defaults Dreamer
    uses) and the batches: ``batch_size`` windows of ``seq_len`` steps (0: whole episodes). uint8 frames need
    ``image_scale=255, image_shift=0.5``."""

    batch_size: int = 16
    seq_len: int = 0


@struct.dataclass
class OfflineState:
    """params: the world model's variables; opt_state: Adam's; key: the sampling key of the next step;
    step: int32 [] steps taken."""

    params: Any
    opt_state: Any
    key: Array
    step: Array


class Offline(NamedTuple):
    """What :func:`make_offline` returns.

    world_model: the :class:`WorldModel`; cfg: the config it was built from;
    init(key) -> OfflineState; train_step(state, batch [L, B, ...]) -> (state, metrics {METRIC_KEYS: float32 []});
    sample(key, episodes [T, N, ...]) -> ReplayBatch [seq_len, batch_size, ...] (seq_len 0: T);
    val_loss(params, batch [L, B, ...], key) -> metrics {VAL_KEYS: float32 []} (the step's loss, no gradient). All
    are pure and jitted (``sample`` first takes the fields of ``ssmrl.world_model.batch.as_arrays``); :func:`fit`
    loops them.
    """

    world_model: WorldModel
    cfg: Any
    init: Callable
    train_step: Callable
    sample: Callable
    val_loss: Callable


def make_offline(cfg: Any, obs_space: Any, action_space: Any, model: Any, jit_options: dict | None = None,
                 **options: Any) -> Offline:
    """Offline training of the world model ``build_world_model(cfg, obs_space, action_space, model, **options)``;
    see :class:`Offline` and the module docstring. ``jit_options`` go to every ``jax.jit`` (e.g.
    ``compiler_options={"xla_backend_optimization_level": 0}``: faster compiles for tiny test models)."""
    world_model = build_world_model(cfg, obs_space, action_space, model, where="offline", **options)
    tx, step = make_world_model_step(cfg, world_model)

    def init(key: Array) -> OfflineState:
        key_params, key_state = jax.random.split(key)
        params = init_world_model(key_params, world_model)
        return OfflineState(params, tx.init(params), key_state, jnp.zeros((), jnp.int32))

    def train_step(state: OfflineState, batch: Any) -> tuple[OfflineState, dict[str, Array]]:
        key, key_loss = jax.random.split(state.key)
        params, opt_state, aux, grads = step(state.params, state.opt_state, batch, key_loss)
        metrics = {**aux.metrics, "grad_norm": optax.tree.norm(grads).astype(jnp.float32)}
        return OfflineState(params, opt_state, key, state.step + 1), metrics

    objective = make_world_model_objective(cfg, world_model)
    val_loss = lambda params, batch, key: objective(params, batch, key)[1].metrics
    sample = lambda key, episodes: sample_batch(key, episodes, cfg.batch_size, cfg.seq_len)
    jit = lambda fn: jax.jit(fn, **(jit_options or {}))
    sample_jit = jit(sample)
    sample_any = lambda key, episodes: sample_jit(key, as_arrays(episodes))
    return Offline(world_model, cfg, jit(init), jit(train_step), sample_any, jit(val_loss))


def fit(offline: Offline, state: OfflineState, episodes: Any, num_steps: int, key: Array,
        sync_every: int = 100) -> tuple[OfflineState, dict[str, np.ndarray], dict[str, Any]]:
    """``num_steps`` training steps on batches sampled from ``episodes`` ([T, N, ...]), step i sampling with
    ``jax.random.split(key, num_steps)[i]``: the training step is compiled first, then called once per step (on a
    CPU this runs several times faster than the same steps under one ``lax.scan``); the metrics come to the host
    every ``sync_every`` steps.

    Returns (state, metrics {METRIC_KEYS: float32 [num_steps]}, speed {"T", "B", "steps_per_s" (B x T replayed
    steps per second over the steps, sampling included), "run_s", "compile_s", "memory" (:func:`compiled_memory`
    of the step), "peak_bytes" (:func:`device_peak_bytes`)}): :func:`train_throughput`'s keys.
    """
    return fit_validated(offline, state, episodes, num_steps, key, None, sync_every)[:3]


class Selection(NamedTuple):
    """What :func:`select_checkpoint` returns: best, the index of the best check; stop, the index of the check
    at which training stops (None: it goes on)."""

    best: int
    stop: int | None


def select_checkpoint(losses: Sequence[float], patience: int) -> Selection:
    """Early stopping on a sequence of validation losses (one per check, in order; pure).

    The best check is the first with the lowest loss: a later check must be strictly lower to replace it, and a
    non-finite loss counts as +inf (never an improvement; a diverged run keeps its last good check). Training stops
    at the first check that is ``patience`` checks after the best one (patience checks in a row without a lower
    loss); ``patience=0`` never stops early (the whole step budget runs; the best check is still chosen). The
    losses after the stopping check are not read.
    """
    if patience < 0:
        raise ValueError(f"patience must be >= 0 (0: never stop early), got {patience}")
    best, best_loss = 0, math.inf
    for i, loss in enumerate(losses):
        value = float(loss)
        if math.isfinite(value) and value < best_loss:
            best, best_loss = i, value
        elif patience and i - best >= patience:
            return Selection(best, i)
    return Selection(best, None)


def split_validation(episodes: Any, num_val: int) -> tuple[ReplayBatch, ReplayBatch]:
    """episodes with fields [T, N, ...] -> (training [T, N - num_val, ...], validation [T, num_val, ...]) as
    :func:`~ssmrl.world_model.batch.as_arrays` pytrees: the validation episodes are the last ``num_val``
    (episodes are drawn independently, so any fixed split is a fair one)."""
    num = episodes.is_first.shape[1]
    if not 1 <= num_val < num:
        raise ValueError(f"num_val={num_val} must be in 1..{num - 1} (a split of {num} episodes)")
    arrays = as_arrays(episodes)
    return jax.tree.map(lambda x: x[:, :-num_val], arrays), jax.tree.map(lambda x: x[:, -num_val:], arrays)


def validation_batches(episodes: Any, batch_size: int, seq_len: int, key: Array) -> list[ReplayBatch]:
    """Fixed validation windows: about every frame of ``episodes`` ([T, N, ...]) once, as batches of the training
    shape -> ReplayBatch [L, batch_size, ...] each (L = ``seq_len``, 0: T; one compiled loss for all).

    Window j (of ``ceil(N * (T // L) / batch_size) * batch_size``) is in episode ``j % N`` and starts at a step drawn
    with ``key`` (whole episodes: step 0): each episode gets T // L windows (one more for some, to fill the last
    batch)."""
    length, num = episodes.is_first.shape
    seq_len = seq_len or length
    if not 1 <= seq_len <= length or batch_size < 1:
        raise ValueError(f"seq_len={seq_len} must be in 1..{length} and batch_size={batch_size} >= 1")
    count = -(-num * (length // seq_len) // batch_size) * batch_size
    index = jnp.arange(count) % num
    start = jax.random.randint(key, (count,), 0, length - seq_len + 1)
    arrays = as_arrays(episodes)
    return [window_batch(arrays, index[lo:lo + batch_size], start[lo:lo + batch_size], seq_len)
            for lo in range(0, count, batch_size)]


class Validation(NamedTuple):
    """How :func:`fit_validated` validates: batches, the fixed validation batches [L, B, ...]
    (:func:`validation_batches`); key, the loss's sampling key (the same at every check); every, training steps
    between checks (>= 1; the last step is checked too); patience, :func:`select_checkpoint`'s (0: the whole
    budget)."""

    batches: list
    key: Array
    every: int
    patience: int


class Validated(NamedTuple):
    """What the checks found (:func:`fit_validated`): steps int [C] (training steps taken before each check);
    metrics {VAL_KEYS: float32 [C]} (each the mean over the validation batches); best (index of the best check),
    best_step, best_loss; stop_reason (:data:`PLATEAU`: ``patience`` checks without a lower loss, else
    :data:`BUDGET`); params: a host (numpy) copy of the parameters at the best check."""

    steps: np.ndarray
    metrics: dict
    best: int
    best_step: int
    best_loss: float
    stop_reason: str
    params: Any


def fit_validated(offline: Offline, state: OfflineState, episodes: Any, num_steps: int, key: Array,
                  validation: Validation | None = None, sync_every: int = 100
                  ) -> tuple[OfflineState, dict[str, np.ndarray], dict[str, Any], Validated | None]:
    """:func:`fit` with validation checks (module docstring): up to ``num_steps`` steps, as :func:`fit` takes them
    (the same steps, bit for bit), with a check every ``validation.every`` steps and after the last; training stops
    early where :func:`select_checkpoint` says so.

    Returns (state after the last step taken, metrics {METRIC_KEYS: float32 [steps taken]}, speed (:func:`fit`'s,
    over the steps taken; "run_s" without the checks, plus "val_s" their time and "val_compile_s"), validated
    (:class:`Validated`; None without ``validation``)).
    """
    if num_steps < 0 or sync_every < 1:
        raise ValueError(f"num_steps must be >= 0 and sync_every >= 1, got {num_steps}, {sync_every}")
    if validation is not None and (num_steps < 1 or validation.every < 1 or not validation.batches):
        raise ValueError(f"validation needs num_steps >= 1, every >= 1 and batches, got {num_steps}, "
                         f"{validation.every}, {len(validation.batches)} batches")
    keys = jax.random.split(key, max(num_steps, 1))[:num_steps]
    episodes = as_arrays(episodes)  # on the device once
    batch = offline.sample(keys[0] if num_steps else key, episodes)
    start = time.perf_counter()
    step = offline.train_step.lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    val_compile_s = val_s = 0.0
    if validation is not None:
        start = time.perf_counter()
        val_loss = offline.val_loss.lower(state.params, validation.batches[0], validation.key).compile()
        val_compile_s = time.perf_counter() - start
    parts, pending, checks, steps, selection, best_params = [], [], [], [], None, None
    start = time.perf_counter()
    for i in range(num_steps):
        state, metrics = step(state, offline.sample(keys[i], episodes))
        pending.append(metrics)
        check = validation is not None and ((i + 1) % validation.every == 0 or i == num_steps - 1)
        if len(pending) == sync_every or i == num_steps - 1 or check:
            parts += jax.device_get(pending)
            pending = []
        if check:
            jax.block_until_ready(state)  # the steps' time stays out of the check's
            check_start = time.perf_counter()
            results = jax.device_get([val_loss(state.params, b, validation.key) for b in validation.batches])
            checks.append({k: float(np.mean([r[k] for r in results])) for k in VAL_KEYS})
            steps.append(i + 1)
            selection = select_checkpoint([c["loss"] for c in checks], validation.patience)
            if selection.best == len(checks) - 1:
                best_params = jax.device_get(state.params)  # a host copy: no device memory, no disk
            val_s += time.perf_counter() - check_start
            if selection.stop is not None:
                break
    jax.block_until_ready(state)
    run_s = time.perf_counter() - start - val_s
    length, batch_size = batch.is_first.shape
    metrics = {k: np.asarray([p[k] for p in parts], np.float32) for k in METRIC_KEYS}
    speed = {"T": int(length), "B": int(batch_size), "steps_per_s": len(parts) * length * batch_size / max(run_s, 1e-9),
             "run_s": run_s, "compile_s": compile_s, "memory": compiled_memory(step), "peak_bytes": device_peak_bytes(),
             "val_s": val_s, "val_compile_s": val_compile_s}
    if validation is None:
        return state, metrics, speed, None
    best = selection.best
    validated = Validated(
        steps=np.asarray(steps, np.int64), metrics={k: np.asarray([c[k] for c in checks], np.float32)
                                                    for k in VAL_KEYS},
        best=best, best_step=steps[best], best_loss=checks[best]["loss"],
        stop_reason=BUDGET if selection.stop is None else PLATEAU, params=best_params)
    return state, metrics, speed, validated


def device_peak_bytes() -> int | None:
    """The measured peak of bytes in use on the default device since the process started (``memory_stats``'s
    ``peak_bytes_in_use``; GPU / TPU), None where the backend does not report it (CPU)."""
    stats = jax.devices()[0].memory_stats() or {}
    return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None


def time_compiled(fn: Callable, args: tuple, repeats: int = 3, feed: Callable | None = None) -> dict[str, Any]:
    """Compile ``fn`` (``jax.jit(fn)`` unless already jitted) for ``args``, call it once (warm-up), then
    ``repeats`` timed calls -> {"compile_s", "run_s" (median), "memory" (:func:`compiled_memory`), "out" (the
    last output)}.
    ``feed(args, out) -> args`` makes the next call's arguments from the last output (e.g. a training state)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    start = time.perf_counter()
    compiled = (fn if hasattr(fn, "lower") else jax.jit(fn)).lower(*args).compile()
    compile_s = time.perf_counter() - start
    out = jax.block_until_ready(compiled(*args))
    runs = []
    for _ in range(repeats):
        args = feed(args, out) if feed else args
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return {"compile_s": compile_s, "run_s": statistics.median(runs), "memory": compiled_memory(compiled),
            "out": out}


def train_throughput(offline: Offline, state: OfflineState, batch: Any, repeats: int = 3) -> dict[str, Any]:
    """Speed of one training step on ``batch`` [T, B, ...] (the state fed back as in training) ->
    {"T", "B", "steps_per_s" (B x T replayed steps per second, median of ``repeats``), "run_ms", "compile_s",
    "memory" (:func:`compiled_memory` of the step: XLA's plan), "peak_bytes" (:func:`device_peak_bytes`: the
    device's measured peak so far, None on CPU)}."""
    length, batch_size = batch.is_first.shape
    timing = time_compiled(offline.train_step, (state, batch), repeats, feed=lambda args, out: (out[0], args[1]))
    return {"T": length, "B": batch_size, "steps_per_s": length * batch_size / timing["run_s"],
            "run_ms": 1e3 * timing["run_s"], "compile_s": timing["compile_s"], "memory": timing["memory"],
            "peak_bytes": device_peak_bytes()}
