"""Symlog transform and the two-hot categorical regression used for rewards and values (DreamerV3).

A scalar is predicted as a softmax over ``num_bins`` logits whose bins are uniformly spaced in symlog space
(``symlog_bins``). Targets are encoded as two-hot vectors: the weight is split between the two bins that bracket
``symlog(target)`` by linear interpolation, so the bin-weighted mean of the encoding is exactly ``symlog(target)``
inside the range; a value outside ``[bins[0], bins[-1]]`` puts all its weight on the nearer edge bin.
The decoded value is ``symexp`` of the softmax-weighted bin mean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def symlog(x: Array) -> Array:
    """sign(x) * log(1 + |x|), elementwise (any shape)."""
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(x: Array) -> Array:
    """sign(x) * (exp(|x|) - 1), the inverse of :func:`symlog`, elementwise (any shape)."""
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


def symlog_bins(num_bins: int = 255, low: float = -20.0, high: float = 20.0) -> Array:
    """Bin centres float32 [num_bins], uniform in symlog space from ``low`` to ``high`` (both included)."""
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}")
    if not low < high:
        raise ValueError(f"low must be < high, got low={low}, high={high}")
    return jnp.linspace(low, high, num_bins, dtype=jnp.float32)


def twohot(x: Array, bins: Array) -> Array:
    """Two-hot encoding of ``x`` (already in symlog space).

    Args:
      x: float [...]; bins: float32 [num_bins], increasing.
    Returns:
      float32 [..., num_bins] summing to 1: weights ``(bins[k+1] - x) / (bins[k+1] - bins[k])`` on bin ``k`` and
      the rest on bin ``k+1`` for ``bins[k] <= x < bins[k+1]``; all weight on one bin when ``x`` equals it or lies
      outside the range (edge bin). No gradient flows to ``x``.
    """
    x = jax.lax.stop_gradient(jnp.asarray(x, jnp.float32))[..., None]
    bins = jnp.asarray(bins, jnp.float32)
    n = bins.shape[-1]
    below = jnp.clip(jnp.sum(bins <= x, axis=-1) - 1, 0, n - 1)
    above = jnp.clip(n - jnp.sum(bins > x, axis=-1), 0, n - 1)
    x = x[..., 0]
    b_lo, b_hi = bins[below], bins[above]
    span = b_hi - b_lo
    same = below == above
    w_lo = jnp.where(same, 1.0, (b_hi - x) / jnp.where(same, 1.0, span))
    w_hi = jnp.where(same, 0.0, 1.0 - w_lo)
    return (jax.nn.one_hot(below, n, dtype=jnp.float32) * w_lo[..., None]
            + jax.nn.one_hot(above, n, dtype=jnp.float32) * w_hi[..., None])


def twohot_mean(logits: Array, bins: Array) -> Array:
    """Decoded value in real space: ``symexp(sum_k softmax(logits)_k * bins_k)``.

    logits: float [..., num_bins]; bins: float32 [num_bins]. Returns float32 [...].
    """
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    return symexp(jnp.sum(probs * jnp.asarray(bins, jnp.float32), axis=-1))


def twohot_loss(logits: Array, target: Array, bins: Array) -> Array:
    """Cross-entropy of ``logits`` against ``twohot(symlog(target), bins)``.

    logits: float [..., num_bins]; target: float [...] in real space (no gradient flows to it);
    bins: float32 [num_bins]. Returns float32 [...].
    """
    encoded = twohot(symlog(jnp.asarray(target, jnp.float32)), bins)
    return -jnp.sum(encoded * jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1), axis=-1)
