"""Memory diagnostics of any sequence core, or a ``Stack`` of them, through the shared core interface.

``diagnose(core, params, xs)`` gathers, for inputs ``xs`` [T, B, H] (real episodes' core inputs, one episode
window per batch column starting at t = 0):

* the empirical memory horizon of the whole input-to-output map (``horizon.py``: G[k] = mean ||dy_t/dx_{t-k}||_F
  through the parallel form, horizon = ceil of the lag where G last crosses 1% of its peak; in a residual stack
  the skip path makes G[0] large, and the level is relative to that peak);
* state use (``state_use.py``: participation ratio of the carry covariance; a stack's carries concatenated);
* per layer, the LTI spectrum (``spectrum.py``: max |eigenvalue|, kernel norm per lag, Hankel singular values) for
  S5, LRU, S4D, S4 and HOPE layers, and the per-step decays (``decays.py``) for Mamba, GRU and LSTM layers.

``results_row`` flattens it for a results table; ``plot.py`` draws it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from ssmrl.core.base import SequenceCore
from ssmrl.core.smr import SMR
from ssmrl.core.stack import Stack
from ssmrl.diagnostics.decays import layer_decays
from ssmrl.diagnostics.horizon import MemoryHorizon, memory_horizon
from ssmrl.diagnostics.spectrum import Spectrum, layer_spectra
from ssmrl.diagnostics.state_use import StateUse, state_use

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Diagnostics:
    """name; horizon (of the whole map); state (of all carries); spectra and decays: one entry per layer
    (None where not applicable)."""

    name: str
    horizon: MemoryHorizon
    state: StateUse
    spectra: list[Spectrum | None]
    decays: list[np.ndarray | None]


def core_name(core: SequenceCore) -> str:
    """A short label: the registry-style class name, ``smr:<inner>`` or ``stack:<layer core>``."""
    if isinstance(core, Stack):
        smr = dict(core.core_options).get("smr", False)
        return f"stack{core.n_layers}:{'smr:' if smr else ''}{core.core}"
    if isinstance(core, SMR):
        return f"smr:{core_name(core.inner)}"
    return type(core).__name__.lower()


def diagnose(core: SequenceCore, params: Any, xs: Array, max_lag: int | None = None, name: str | None = None,
             threshold: float = 0.01, n_outputs: int = 1, lags: int = 256, skip: int = 0) -> Diagnostics:
    """All diagnostics of ``core`` with ``params`` over ``xs`` [T, B, H].

    Args: max_lag / n_outputs: of ``memory_horizon`` (K <= T - 1); threshold: the horizon level (fraction of the
    peak); lags: kernel taps of each LTI layer's spectrum; skip: initial steps left out of the state covariance.
    """
    return Diagnostics(
        name=name or core_name(core),
        horizon=memory_horizon(core, params, xs, max_lag, threshold, n_outputs),
        state=state_use(core, params, xs, skip),
        spectra=layer_spectra(core, params, lags, threshold),
        decays=layer_decays(core, params, xs),
    )


def _hankel_order(sv: np.ndarray, energy: float = 0.99) -> int:
    """Number of leading Hankel singular values holding ``energy`` of their sum."""
    total = float(np.sum(sv))
    return int(np.searchsorted(np.cumsum(sv) / total, energy - 1e-12) + 1) if total > 0 else 0


def results_row(diag: Diagnostics) -> dict[str, Any]:
    """A flat dict of scalars for a results table. Spectrum entries take the maximum over LTI layers and decay
    entries pool every input-dependent layer; NaN where no layer applies.

    Keys: memory_horizon (int), memory_crossing, memory_peak, memory_saturated (bool), state_use (participation
    ratio), state_dim (int), n_layers (int), max_decay, decay_horizon, kernel_horizon, hankel_sv_max,
    hankel_order_99 (leading Hankel singular values holding 99% of their sum), decay_mean, decay_median,
    decay_p10 (10th percentile: the fast-forgetting tail).
    """
    nan = float("nan")
    spectra = [s for s in diag.spectra if s is not None]
    decays = [d for d in diag.decays if d is not None]
    pooled = np.concatenate(decays) if decays else None
    pick = lambda values: float(max(values)) if values else nan
    stable = [s for s in spectra if np.all(np.isfinite(s.hankel_sv))]
    return {
        "memory_horizon": int(diag.horizon.horizon),
        "memory_crossing": float(diag.horizon.crossing),
        "memory_peak": float(diag.horizon.peak),
        "memory_saturated": bool(diag.horizon.saturated),
        "state_use": float(diag.state.participation_ratio),
        "state_dim": int(diag.state.state_dim),
        "n_layers": len(diag.spectra),
        "max_decay": pick([s.max_decay for s in spectra]),
        "decay_horizon": pick([s.decay_horizon for s in spectra]),
        "kernel_horizon": pick([s.kernel_horizon.horizon for s in spectra if s.kernel_horizon is not None]),
        "hankel_sv_max": pick([s.hankel_sv[0] for s in stable if s.hankel_sv.size]),
        "hankel_order_99": pick([_hankel_order(s.hankel_sv) for s in stable]),
        "decay_mean": float(np.mean(pooled)) if pooled is not None else nan,
        "decay_median": float(np.median(pooled)) if pooled is not None else nan,
        "decay_p10": float(np.percentile(pooled, 10)) if pooled is not None else nan,
    }
