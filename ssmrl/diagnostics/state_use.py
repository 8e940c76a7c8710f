"""State use of any core: the effective dimension of its carry over real episodes.

Run the core on inputs ``xs`` [T, B, H] from a fresh carry (``is_first`` at t = 0 only) with
``return_carries=True``, flatten the carry after every step into real features (every floating leaf
[T, B, ...] -> [T * B, f]; a complex leaf gives its real and imaginary parts as separate features; integer leaves,
such as the transformer's position counter, are bookkeeping and are left out), concatenate the leaves (a stack's
layers included), and take the eigenvalues ``lambda`` of the feature covariance over the T * B samples. The
effective dimension is the participation ratio

    PR = (sum_i lambda_i)^2 / sum_i lambda_i^2,

between 1 (one direction holds all the variance) and ``state_dim`` (variance spread evenly); 0 for a core without
state or a carry that never moves. ``skip`` drops the first steps of each sequence (the transient from the zero
initial carry).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core.base import SequenceCore
from ssmrl.diagnostics.layers import episode_start

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class StateUse:
    """eigenvalues: covariance eigenvalues, descending [min(samples, state_dim)] (the rest are 0);
    participation_ratio: PR; state_dim: number of real carry features."""

    eigenvalues: np.ndarray
    participation_ratio: float
    state_dim: int


def participation_ratio(eigenvalues) -> float:
    """(sum lambda)^2 / sum lambda^2 of non-negative eigenvalues [n]; 0 if they are all 0 (or n = 0)."""
    lam = np.asarray(eigenvalues, np.float64)
    if np.any(lam < 0):
        raise ValueError(f"eigenvalues must be >= 0, got {lam}")
    squares = float(np.sum(lam**2))
    return float(np.sum(lam) ** 2 / squares) if squares > 0 else 0.0


def carry_features(carries: Any, skip: int = 0) -> np.ndarray:
    """Carries with leaves [T, B, ...] -> real features [(T - skip) * B, state_dim] float64 (see the module
    docstring); state_dim may be 0."""
    columns = []
    samples = None
    for leaf in jax.tree.leaves(carries):
        leaf = np.asarray(leaf)
        if not np.issubdtype(leaf.dtype, np.inexact):
            continue
        if leaf.ndim < 2 or leaf.shape[0] <= skip:
            raise ValueError(f"carry leaves must be [T, B, ...] with T > skip = {skip}, got shape {leaf.shape}")
        flat = leaf[skip:].reshape((leaf.shape[0] - skip) * leaf.shape[1], int(np.prod(leaf.shape[2:])))
        samples = flat.shape[0]
        columns.extend([flat.real, flat.imag] if np.iscomplexobj(flat) else [flat])
    if not columns:
        return np.zeros((samples or 0, 0))
    return np.concatenate(columns, axis=1).astype(np.float64)


def covariance_eigenvalues(features: np.ndarray) -> np.ndarray:
    """Eigenvalues of the sample covariance of features [S, D] (normalised by S - 1), descending,
    [min(S, D)]; computed as squared singular values of the centred data (the remaining ones are 0)."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be [samples, dim], got shape {x.shape}")
    if x.size == 0:
        return np.zeros(0)
    centred = x - x.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    return sv**2 / max(x.shape[0] - 1, 1)


def state_use(core: SequenceCore, params: Any, xs: Array, skip: int = 0) -> StateUse:
    """Effective dimension of the carry of ``core`` over ``xs`` [T, B, H] (see the module docstring)."""
    length, batch, _ = xs.shape
    if not isinstance(skip, int) or not 0 <= skip < length:
        raise ValueError(f"skip must be an int in [0, T - 1 = {length - 1}], got {skip!r}")
    run = jax.jit(lambda p, x: core.apply(p, core.initialize_carry(batch), x, episode_start(length, batch),
                                          return_carries=True)[2])
    features = carry_features(run(params, jnp.asarray(xs)), skip)
    eig = covariance_eigenvalues(features)
    return StateUse(eig, participation_ratio(eig), features.shape[1])
