"""One PNG per model of its memory diagnostics (matplotlib's Agg canvas; no pyplot, no global backend change).

Panels: (a) G[k] against lag k (log y) with the threshold level and the horizon marked, and the kernel norm per
lag of each LTI layer dashed; (b) the discrete eigenvalues of each LTI layer in the complex plane with the unit
circle, or the histogram of per-step decays of each input-dependent layer; (c) the Hankel singular values of each
LTI layer, normalised by the largest (log y); (d) the carry covariance eigenvalues (log y) with the
participation ratio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ssmrl.diagnostics.memory import Diagnostics
from ssmrl.output import figure, save_figure

_TINY = 1e-300  # floor for log axes (exact zeros, e.g. the identity core's G[k > 0])
_RANK_TOL = 1e-12  # relative level below which eigenvalues / singular values are rounding and not drawn


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def _horizon_panel(ax, diag: Diagnostics) -> None:
    h = diag.horizon
    lags = np.arange(h.norms.size)
    ax.semilogy(lags, np.maximum(h.norms, _TINY), "o-", ms=3, label="G[k] (Jacobian)")
    for i, s in enumerate(diag.spectra):
        if s is not None:
            k = min(s.kernel_norms.size, h.norms.size)
            ax.semilogy(lags[:k], np.maximum(s.kernel_norms[:k], _TINY), "--", lw=1, label=f"kernel, layer {i}")
    if h.peak > 0:
        ax.axhline(h.threshold * h.peak, color="gray", lw=0.8, ls=":", label=f"{h.threshold:g} x peak")
        positive = h.norms[h.norms > 0]
        ax.set_ylim(max(positive.min(), h.threshold * h.peak) / 10, h.peak * 2)
    mark = f"horizon {h.horizon}{'+' if h.saturated else ''}"
    ax.axvline(h.horizon, color="red", lw=1, label=mark)
    ax.set(xlabel="lag k", ylabel="mean ||dy_t / dx_(t-k)||_F", title=f"memory horizon: {mark}")
    ax.legend(fontsize=7)


def _eigen_panel(ax, diag: Diagnostics) -> None:
    spectra = [(i, s) for i, s in enumerate(diag.spectra) if s is not None]
    decays = [(i, d) for i, d in enumerate(diag.decays) if d is not None]
    if spectra:
        circle = np.exp(2j * np.pi * np.linspace(0, 1, 256))
        ax.plot(circle.real, circle.imag, color="gray", lw=0.8)
        for i, s in spectra:
            ax.plot(s.eigenvalues.real, s.eigenvalues.imag, ".", ms=4, label=f"layer {i}: max|lam| {s.max_decay:.4f}")
        ax.set(xlabel="Re lam", ylabel="Im lam", title="discrete eigenvalues", aspect="equal")
        ax.legend(fontsize=7)
    elif decays:
        for i, d in decays:
            ax.hist(d, bins=50, range=(0.0, 1.0), histtype="step", label=f"layer {i}: median {np.median(d):.3f}")
        ax.set_yscale("log")
        ax.set(xlabel="per-step decay", ylabel="count", title="input-dependent decays")
        ax.legend(fontsize=7)
    else:
        ax.set_title("spectrum")
        _note(ax, "no LTI or input-dependent layer")


def _hankel_panel(ax, diag: Diagnostics) -> None:
    shown = False
    for i, s in enumerate(diag.spectra):
        if s is not None and s.hankel_sv.size and np.all(np.isfinite(s.hankel_sv)) and s.hankel_sv[0] > 0:
            sv = s.hankel_sv / s.hankel_sv[0]
            sv = sv[sv > _RANK_TOL]  # the rest is rounding (e.g. the conjugate copies of S4's doubled state)
            ax.semilogy(np.arange(1, sv.size + 1), sv, ".-", ms=3, label=f"layer {i}")
            shown = True
    ax.set(xlabel="index", ylabel="sigma_i / sigma_1", title="Hankel singular values")
    if shown:
        ax.legend(fontsize=7)
    else:
        _note(ax, "no stable LTI layer")


def _state_panel(ax, diag: Diagnostics) -> None:
    st = diag.state
    eig = st.eigenvalues[st.eigenvalues > _RANK_TOL * st.eigenvalues.max()] if st.eigenvalues.size else st.eigenvalues
    title = f"carry covariance: PR {st.participation_ratio:.2f} of {st.state_dim}"
    ax.set(xlabel="index", ylabel="eigenvalue", title=title)
    if eig.size:
        ax.semilogy(np.arange(1, eig.size + 1), eig, ".-", ms=3)
    else:
        _note(ax, "no carry variance")


def plot_diagnostics(diag: Diagnostics, path: str | Path, title: str | None = None) -> Path:
    """Write the four-panel PNG of ``diag`` to ``path`` (parent folders created); returns the path."""
    fig = figure(11, 8.5, dpi=100)
    axes = fig.subplots(2, 2)
    _horizon_panel(axes[0, 0], diag)
    _eigen_panel(axes[0, 1], diag)
    _hankel_panel(axes[1, 0], diag)
    _state_panel(axes[1, 1], diag)
    fig.suptitle(title or diag.name)
    return save_figure(fig, path)
