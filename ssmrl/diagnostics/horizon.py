"""Empirical memory horizon of any sequence core: how far back an input still moves the output.

For inputs ``xs`` [T, B, H] (real episodes' core inputs), run the core's parallel form ``core.apply`` on the whole
sequence from a fresh carry with ``is_first`` set at ``t = 0`` only, and take the Jacobian of the outputs with
respect to the inputs by reverse mode (one ``vjp`` per output unit ``(t, i)``, all batch elements at once, since
batch elements are independent). Then

    G[k] = mean over b and over the output positions t in the last ``n_outputs`` steps with t - k >= 0 of
           || d y_t[b] / d x_{t-k}[b] ||_F                  (an [H, H] block),   k = 0..K.

With the default ``n_outputs=1`` only the last output ``t = T - 1`` is used (every lag k <= T - 1 has the same
samples). For a linear time-invariant core ``d y_t / d x_{t-k}`` is the kernel ``K_k`` for every t, so G is its
Frobenius norm per lag.

The horizon at threshold ``r`` (default 1%) is defined on the geometric (log-linear) interpolation of G between
integer lags, ``G(k + f) = G[k]^(1-f) G[k+1]^f``:

    x*      = sup { x in [0, K] : G(x) >= r * max_k G[k] }       (the continuous lag where G last crosses r * peak)
    horizon = ceil(x*)

So for a pure exponential ``G[k] = |a|^k G[0]`` the interpolation is exact and the horizon is
``ceil(log(r) / log|a|)`` (a = 0.9, r = 0.01: log(0.01)/log(0.9) = 43.71 -> 44): the first integer lag from which
G stays below ``r * peak``. Where G drops to exactly 0 after lag k the interpolant is 0 right after k, so
``x* = k``: a memoryless map (G = [G0, 0, 0, ...]) has horizon 0. If G[K] is still above the threshold,
``x* = K`` and ``saturated`` is set: the horizon is only a lower bound, use a longer window.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core.base import SequenceCore

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class MemoryHorizon:
    """norms: G[k] [K + 1]; horizon: ceil of the crossing lag; crossing: x* (float); peak: max G; threshold: r;
    saturated: G[K] >= r * peak (the horizon is a lower bound)."""

    norms: np.ndarray
    horizon: int
    crossing: float
    peak: float
    threshold: float
    saturated: bool


def horizon_from_norms(norms, threshold: float = 0.01) -> MemoryHorizon:
    """The horizon of a decay profile G [K + 1] (non-negative) at ``threshold`` times its peak; see the module
    docstring. An all-zero G has horizon 0."""
    g = np.asarray(norms, np.float64)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"norms must be a non-empty 1-d array, got shape {g.shape}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError(f"norms must be finite and >= 0, got {g}")
    peak = float(g.max())
    if peak == 0.0:
        return MemoryHorizon(g, 0, 0.0, 0.0, threshold, False)
    level = threshold * peak
    last = int(np.nonzero(g >= level)[0].max())  # the last integer lag at or above the level
    if last == g.size - 1:
        crossing = float(last)
    elif g[last + 1] == 0.0:
        crossing = float(last)  # the geometric interpolant is 0 right after ``last``
    else:  # G[last] >= level > G[last + 1] > 0: solve G[last]^(1-f) G[last+1]^f = level for f in [0, 1)
        crossing = last + math.log(g[last] / level) / math.log(g[last] / g[last + 1])
    horizon = math.ceil(crossing - 1e-9)  # tolerance: an exact integer crossing must not round up by rounding error
    return MemoryHorizon(g, horizon, crossing, peak, threshold, last == g.size - 1)


def jacobian_norms(core: SequenceCore, params: Any, xs: Array, max_lag: int | None = None, n_outputs: int = 1,
                   chunk: int = 64) -> np.ndarray:
    """G[k] for k = 0..max_lag (see the module docstring) through the parallel form.

    Args:
      core, params: a core from ``make_core`` / ``make_stack`` and its variables.
      xs: [T, B, H] inputs; ``is_first`` is set at t = 0 only and the carry-in is ``initialize_carry(B)``.
      max_lag: K, at most T - 1 (None: T - 1).
      n_outputs: how many of the last output positions to average over (1: t = T - 1 only).
      chunk: cotangents per vectorised backward pass (bounds memory: chunk * T * B * H per pass).
    Returns:
      G [K + 1] float64.
    """
    length, batch, _ = xs.shape
    max_lag = length - 1 if max_lag is None else max_lag
    if not isinstance(max_lag, int) or not 0 <= max_lag <= length - 1:
        raise ValueError(f"max_lag must be an int in [0, T - 1 = {length - 1}], got {max_lag!r}")
    if not isinstance(n_outputs, int) or not 1 <= n_outputs <= length:
        raise ValueError(f"n_outputs must be an int in [1, T = {length}], got {n_outputs!r}")
    is_first = jnp.zeros((length, batch), bool).at[0].set(True)
    carry = core.initialize_carry(batch)
    lags = jnp.arange(max_lag + 1)

    @jax.jit
    def run(params, xs):
        ys, vjp = jax.vjp(lambda x: core.apply(params, carry, x, is_first)[1], xs)
        outs = jnp.arange(length - n_outputs, length)
        t_idx, i_idx = (a.ravel() for a in jnp.meshgrid(outs, jnp.arange(ys.shape[-1]), indexing="ij"))

        def squared(ti):  # sum_j (d y_t[b, i] / d x_{t-k}[b, j])^2 for every k, b: [K + 1, B]
            t, i = ti
            (grad,) = vjp(jnp.zeros_like(ys).at[t, :, i].set(1.0))  # [T, B, H]
            rows = grad[jnp.clip(t - lags, 0, length - 1)]  # [K + 1, B, H]
            return jnp.where((t - lags >= 0)[:, None], jnp.sum(rows**2, axis=-1), 0.0)

        sq = jax.lax.map(squared, (t_idx, i_idx), batch_size=min(chunk, t_idx.size))  # [n_outputs * H, K + 1, B]
        sq = sq.reshape(n_outputs, ys.shape[-1], max_lag + 1, batch).sum(axis=1)  # [n_outputs, K + 1, B]
        valid = (outs[:, None] - lags[None, :] >= 0)[..., None]  # [n_outputs, K + 1, 1]
        total = jnp.sum(jnp.where(valid, jnp.sqrt(sq), 0.0), axis=(0, 2))
        return total / (jnp.sum(valid, axis=0)[:, 0] * batch)

    return np.asarray(run(params, xs), np.float64)


def memory_horizon(core: SequenceCore, params: Any, xs: Array, max_lag: int | None = None, threshold: float = 0.01,
                   n_outputs: int = 1, chunk: int = 64) -> MemoryHorizon:
    """G[k] by ``jacobian_norms`` and its horizon by ``horizon_from_norms`` (arguments as there)."""
    return horizon_from_norms(jacobian_norms(core, params, xs, max_lag, n_outputs, chunk), threshold)
