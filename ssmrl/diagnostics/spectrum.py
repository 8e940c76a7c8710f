"""Spectra of the linear time-invariant cores: S5, LRU (``DiagonalSSM``), S4D, S4 and HOPE.

Each learned layer is turned into a discrete real-output system in standard form, on host in complex128:

    z_{t+1} = A z_t + B u_t,   y_t = C z_t + D u_t,    so  y_t = sum_k K_k u_{t-k},  K_0 = D,  K_k = C A^(k-1) B,

with ``K_k = d y_t / d u_{t-k}`` exactly the layer's input-output kernel (feedthrough included at k = 0). The cores
write ``x_t = lam x_{t-1} + B u_t, y_t = s Re(C x_t) + D u_t``; with ``z_t = x_{t-1}`` that is ``C -> C lam``,
``D -> s Re(C B) + D``, and the real part is realised by doubling the state with its conjugate
(``A -> diag(A, conj A)``, ``B -> [B; conj B]``, ``C -> s/2 [C, conj C]``), which gives the real Markov parameters
``s Re(C lam^k B)`` exactly. S5 and LRU are one MIMO system (G = 1 group, H inputs and outputs); S4D, S4 and HOPE
are H independent SISO systems (G = H groups), whose Hankel singular values are the union over channels (the
Hankel operator of a channel-diagonal system is block diagonal).

Reported per layer (``Spectrum``):

* ``eigenvalues``: of the discrete state matrix as the core stores it (S5/LRU lam [P]; S4D lam_bar [H, N/2];
  S4 eig(A_bar) [H, N]; HOPE the pole p, n-fold per channel, flattened); ``max_decay`` = max |eigenvalue|;
  ``decay_horizon`` = ceil(log(r) / log(max_decay)), the 1% lag of the slowest mode alone;
* ``kernel_norms[k]`` = ||K_k||_F (all channels) for k < lags, and its horizon by ``horizon_from_norms``; for one
  LTI core this equals the empirical G[k] of ``horizon.py`` exactly;
* ``hankel_sv``: Hankel singular values from the infinite-horizon Gramians, ``Wc = A Wc A^H + B B^H`` and
  ``Wo = A^H Wo A + C^H C`` (closed form ``Wc_ij = (B B^H)_ij / (1 - a_i conj(a_j))`` for diagonal A; a Lyapunov
  solve for S4 and HOPE), as the singular values of ``Lo^H Lc`` with ``W = L L^H`` (square-root method). They are
  exact for a stable system (not a truncated Hankel matrix) and invariant to the choice of realisation, except
  that a non-minimal realisation adds zeros (S4 already stores the conjugate half, so doubling it gives N zeros
  per channel, ~1e-16 after rounding).

HOPE has no public realisation accessor; its cascade of all-pass sections is realised here from the public
``h`` and ``pole()`` (the derivation is in ``ssmrl/core/hope.py``), and tested against ``HOPE.kernel``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ssmrl.core.base import SequenceCore
from ssmrl.core.diagonal import DiagonalSSM
from ssmrl.core.hope import HOPE
from ssmrl.core.s4 import S4
from ssmrl.core.s4d import S4D
from ssmrl.core.stack import Stack
from ssmrl.diagnostics.horizon import MemoryHorizon, horizon_from_norms
from ssmrl.diagnostics.layers import map_layers

LTI_CORES = (DiagonalSSM, S4D, S4, HOPE)


@dataclasses.dataclass(frozen=True)
class LinearSystem:
    """G groups of ``z' = A z + B u, y = C z + D u``: a [G, n] (diagonal) or [G, n, n] (dense), b [G, n, m],
    c [G, p, n], d [G, p, m] (complex128 / float64); eigenvalues [G, n_core] of the core's own state matrix."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    eigenvalues: np.ndarray

    @property
    def diagonal(self) -> bool:
        return self.a.ndim == 2


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """core: class name; eigenvalues [n] complex (flattened); max_decay; decay_horizon (inf if max_decay >= 1);
    kernel_norms [lags]; kernel_horizon (``MemoryHorizon`` of kernel_norms; None if they overflow);
    hankel_sv [n_real] descending (NaN if unstable)."""

    core: str
    eigenvalues: np.ndarray
    max_decay: float
    decay_horizon: float
    kernel_norms: np.ndarray
    kernel_horizon: MemoryHorizon | None
    hankel_sv: np.ndarray


def _np(x) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.complex128) if np.iscomplexobj(x) else x.astype(np.float64)


def _doubled(a, b, c, d, scale):
    """Realise ``y = scale Re(C lam z) + D u`` (z the previous state) with conjugate-doubled state; a [G, n] or
    [G, n, n], b [G, n, m], c [G, p, n] (the core's C, already multiplied by its state matrix), d [G, p, m]."""
    if a.ndim == 2:
        a2 = np.concatenate([a, a.conj()], axis=1)
    else:
        zero = np.zeros_like(a)
        a2 = np.concatenate([np.concatenate([a, zero], 2), np.concatenate([zero, a.conj()], 2)], 1)
    b2 = np.concatenate([b, b.conj()], axis=1)
    c2 = 0.5 * scale * np.concatenate([c, c.conj()], axis=2)
    return a2, b2, c2, d


def system_arrays(module: SequenceCore) -> tuple[Any, Any]:
    """(kind, arrays) of a bound core, traceable: the accessor outputs a realisation is built from; kind None (and
    arrays None) for a core that is not LTI."""
    if isinstance(module, DiagonalSSM):  # S5, LRU: lam [P], B [P, H], C [H, P], D [H]
        return ("diagonal", module.output_scale), module.system()
    if isinstance(module, S4D):  # lam * dt, B_bar, C [H, N/2], D [H]
        return ("s4d", None), module.system()
    if isinstance(module, S4):  # A_bar [H, N, N], B_bar [H, N], C [H, N], D [H]
        return ("s4", None), module.discrete()
    if isinstance(module, HOPE):  # h [H, n], p [H], D [H]
        return ("hope", None), (module.h, module.pole(), module.d)
    return None, None


def build_system(kind: Any, arrays: Any) -> LinearSystem | None:
    """The ``LinearSystem`` (see the module docstring) from ``system_arrays``' output, on host."""
    if kind is None:
        return None
    name, scale = kind
    arrays = tuple(_np(v) for v in arrays)
    if name == "diagonal":  # one MIMO system, y = scale Re(C x) + D u
        lam, b, c, d = arrays
        feed = scale * (c @ b).real + np.diag(d)
        a2, b2, c2, d2 = _doubled(lam[None], b[None], (c * lam)[None], feed[None], scale)
        return LinearSystem(a2, b2, c2, d2, lam[None])
    if name == "s4d":  # H SISO systems, N/2 stored modes each, y = 2 Re(C x) + D u
        lam_dt, b, c, d = arrays
        lam = np.exp(lam_dt)  # [H, N/2]
        feed = 2.0 * np.sum(c * b, axis=1).real + d
        a2, b2, c2, d2 = _doubled(lam, b[..., None], (c * lam)[:, None, :], feed[:, None, None], 2.0)
        return LinearSystem(a2, b2, c2, d2, lam)
    if name == "s4":  # H SISO systems, dense A_bar [N, N] each, y = Re(C x) + D u
        a, b, c, d = arrays
        feed = np.einsum("hn,hn->h", c, b).real + d
        ca = np.einsum("hn,hnm->hm", c, a)
        a2, b2, c2, d2 = _doubled(a, b[..., None], ca[:, None, :], feed[:, None, None], 1.0)
        return LinearSystem(a2, b2, c2, d2, np.linalg.eigvals(a))
    if name == "hope":
        return _hope_system(*arrays)
    raise ValueError(f"unknown system kind {name!r}; valid kinds: ['diagonal', 's4d', 's4', 'hope']")


def realisation(module: SequenceCore) -> LinearSystem | None:
    """The discrete system of a bound LTI core (e.g. ``core.bind(params)``; see the module docstring); None for
    any other core."""
    return build_system(*system_arrays(module))


def _hope_system(h: np.ndarray, p: np.ndarray, d: np.ndarray) -> LinearSystem:
    """HOPE's cascade, state z = r_{t-1} [n] per channel: s_j = sum_{i<=j} (-p)^(j-i) z_i + (-p)^(j+1) u
    (0-based j), y = sum_j h_j s_j + D u, z'_j = p z_j + (1 - p^2) s_{j-1} (s_{-1} = u).
    Args: h [H, n], p [H], d [H]."""
    n = h.shape[1]
    pw = (-p[:, None]) ** np.arange(n + 1)  # [H, n + 1]
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]  # j - i
    toeplitz = np.where(lag >= 0, pw[:, np.maximum(lag, 0)], 0.0)  # [H, n, n]
    shifted = np.where(lag >= 1, pw[:, np.maximum(lag - 1, 0)], 0.0)
    a = p[:, None, None] * np.eye(n) + (1.0 - p**2)[:, None, None] * shifted
    b = ((1.0 - p**2)[:, None] * pw[:, :n])[..., None]
    c = np.einsum("hj,hji->hi", h, toeplitz)[:, None, :]
    feed = (np.sum(h * pw[:, 1:], axis=1) + d)[:, None, None]
    return LinearSystem(a, b, c, feed, np.repeat(p[:, None], n, axis=1).astype(np.complex128))


def markov_parameters(system: LinearSystem, lags: int) -> np.ndarray:
    """K [lags, G, p, m] real: K_0 = D, K_k = C A^(k-1) B."""
    a, b, c = system.a, system.b, system.c
    out = [np.broadcast_to(system.d, c.shape[:2] + b.shape[2:]).astype(np.complex128)]
    if system.diagonal:
        powers = a[..., None] ** np.arange(max(lags - 1, 0))  # [G, n, lags - 1]
        out.extend(np.einsum("gpn,gnk,gnm->kgpm", c, powers, b, optimize=True))
    else:
        state = b
        for _ in range(lags - 1):
            out.append(c @ state)
            state = a @ state
    return np.stack(out[:lags]).real


def gramians(system: LinearSystem) -> tuple[np.ndarray, np.ndarray]:
    """(Wc, Wo) [G, n, n] of a stable system (see the module docstring)."""
    b, c = system.b, system.c
    bb = b @ b.conj().transpose(0, 2, 1)
    cc = c.conj().transpose(0, 2, 1) @ c
    if system.diagonal:
        a = system.a
        wc = bb / (1.0 - a[:, :, None] * a.conj()[:, None, :])
        wo = cc / (1.0 - a.conj()[:, :, None] * a[:, None, :])
        return wc, wo
    wc = np.stack([scipy.linalg.solve_discrete_lyapunov(a, q) for a, q in zip(system.a, bb, strict=True)])
    wo = np.stack([scipy.linalg.solve_discrete_lyapunov(a.conj().T, q) for a, q in zip(system.a, cc, strict=True)])
    return wc, wo


def _psd_factor(w: np.ndarray) -> np.ndarray:
    """L with L L^H = w (Hermitian part, negative eigenvalues from rounding clipped): [G, n, n]."""
    vals, vecs = np.linalg.eigh(0.5 * (w + w.conj().transpose(0, 2, 1)))
    return vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]


def hankel_singular_values(system: LinearSystem) -> np.ndarray:
    """Hankel singular values, union over groups, descending [G * n]; NaN where the system is not stable."""
    n_total = system.a.shape[0] * system.a.shape[1]
    if _max_abs_eigenvalue(system) >= 1.0:
        return np.full(n_total, np.nan)
    wc, wo = gramians(system)
    sv = np.linalg.svd(_psd_factor(wo).conj().transpose(0, 2, 1) @ _psd_factor(wc), compute_uv=False)
    return np.sort(sv.ravel())[::-1]


def _max_abs_eigenvalue(system: LinearSystem) -> float:
    a = system.a if system.diagonal else np.linalg.eigvals(system.a)
    return float(np.max(np.abs(a)))


def spectrum_of(name: str, system: LinearSystem, lags: int = 256, threshold: float = 0.01) -> Spectrum:
    """The ``Spectrum`` of a realised layer; ``lags`` kernel taps, ``threshold`` as in ``horizon_from_norms``."""
    if not isinstance(lags, int) or lags < 1:
        raise ValueError(f"lags must be an int >= 1, got {lags!r}")
    eig = system.eigenvalues.ravel()
    max_decay = float(np.max(np.abs(eig)))
    if max_decay >= 1.0:
        decay_horizon = math.inf
    elif max_decay == 0.0:
        decay_horizon = 0.0
    else:
        decay_horizon = float(math.ceil(math.log(threshold) / math.log(max_decay) - 1e-9))
    kernel = markov_parameters(system, lags)
    norms = np.sqrt(np.sum(kernel**2, axis=(1, 2, 3)))
    kernel_horizon = horizon_from_norms(norms, threshold) if np.all(np.isfinite(norms)) else None
    return Spectrum(name, eig, max_decay, decay_horizon, norms, kernel_horizon, hankel_singular_values(system))


def layer_spectra(core: SequenceCore, params: Any, lags: int = 256, threshold: float = 0.01) -> list[Spectrum | None]:
    """One entry per layer (see ``layers.py``; a plain core has one): its ``Spectrum`` if it is an LTI core
    (``LTI_CORES``), else None."""
    xs = jnp.zeros((1, 1, core.d_model), core.dtype)  # the parameters alone fix the system; any input will do

    def layer(call):
        kind, arrays = system_arrays(call.module)
        return (type(call.module).__name__, kind), arrays

    out = []
    for (name, kind), arrays in map_layers(core, params, xs, layer):
        system = build_system(kind, arrays)
        out.append(None if system is None else spectrum_of(name, system, lags, threshold))
    return out


def lti_spectrum(core: SequenceCore, params: Any, lags: int = 256, threshold: float = 0.01) -> Spectrum | None:
    """The ``Spectrum`` of an LTI core (for an SMR-wrapped one: of the wrapped SSM, which sees the replayed input);
    None for any other core and for a ``Stack`` (whose map is not LTI; see ``layer_spectra`` for its layers)."""
    if isinstance(core, Stack):
        return None
    spectra = layer_spectra(core, params, lags, threshold)
    return spectra[0] if len(spectra) == 1 else None
