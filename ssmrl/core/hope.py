"""HOPE: an SSM parameterised by the Markov parameters of a Hankel operator (Yu, Mahoney & Erichson, 2024,
"HOPE for a Robust Parameterization of Long-memory State Space Models", arXiv 2405.13975,
https://arxiv.org/html/2405.13975v2), with exact episode resets.

Formulation used here. Each of the H channels has n Markov parameters ``h_1..h_n`` (the first row of its Hankel
matrix), i.e. the discrete system ``G(v) = sum_j h_j v^j`` in the delay ``v = z^{-1}``. The paper makes it a
continuous-time system with the inverse bilinear map and samples that with step ``dt``; composing the two Moebius
maps gives the transfer function of the sequence layer

    H(z) = sum_{j=1..n} h_j phi(z)^j + D,      phi(z) = (z^{-1} - p) / (1 - p z^{-1}),   p = (1 - dt) / (1 + dt),

(for ``dt = 1``, ``p = 0`` and the layer is the FIR filter with taps h: the paper's "non-decaying memory on a
window of n steps"; a smaller dt stretches that window). ``phi`` is all-pass (``|phi| = 1`` on the unit circle),
so the parameterisation is well conditioned whatever h. The paper's h are complex but its layer keeps the real
part of the output; for real inputs only ``Re h`` reaches the output, so h is stored real. What we could read of the
paper through our search tool was its abstract (Markov parameters within Hankel operators, non-uniform sampling
of the transfer function); the exact ``p`` is fixed by requiring ``dt = 1`` to give the FIR filter h (the paper's
discrete system) and equals the composition of the two bilinear maps written above.

Exact step form: a cascade of n first-order all-pass sections, ``s_0 = u`` and ``s_j = phi(q) s_{j-1}``
(q the shift), read out as ``y = sum_j h_j s_j + D u``; the carry is one state per section, [B, H, n].
Derivation of one section. ``S_j (1 - p z^{-1}) = S_{j-1} (z^{-1} - p)`` is, in time,
``s_j[t] = p s_j[t-1] + s_{j-1}[t-1] - p s_{j-1}[t]``. With the state ``r_j[t] = p s_j[t] + s_{j-1}[t]``:

    s_j[t] = r_j[t-1] - p s_{j-1}[t]                   (output: previous state plus feedthrough)
    r_j[t] = p r_j[t-1] + (1 - p^2) s_{j-1}[t]         (a first-order recurrence in r_j)

(substitute the first line into the definition of ``r_j[t]``). A reset at t zeroes every ``r_j[t-1]``, so each
section is exactly one ``reset_scan`` (decay p, input ``(1 - p^2) s_{j-1}``) followed by the masked one-step shift
of its states; n sections run one after another (``lax.scan`` over j).

Convolution mode (no episode start after t=0): the kernel from M = 2L samples of H on the unit circle, ``irfft``,
first L taps, then a zero-padded causal FFT convolution (a length-L circular FFT would wrap the future into the
past). The impulse response is infinite, so plain sampling aliases ``sum_{m>=1} K_{l+mM}`` into tap l; we remove
that exactly: in the realisation ``r_t = A r_{t-1} + b u_t``, ``y_t = c r_{t-1} + K_0 u_t`` of the cascade,
``sum_{l>=M} K_l w^l = c A^{M-1} (I - w A)^{-1} b`` at ``w^M = 1``, and ``(I - w A)^{-1} b`` has the closed form
``(1 - p^2) phi^{j-1} / (1 - p w)``. The carry-in adds its free response ``c A^t r_{-1}`` and the final state is
``A^T r_{-1} + sum_k A^{T-1-k} b u_k``, both from the same closed forms.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ssmrl.core import hippo
from ssmrl.core.base import check_step_inputs
from ssmrl.core.convolutional import ConvolutionalSSM
from ssmrl.core.s4d import causal_conv
from ssmrl.core.scan import reset_scan

Array = jax.Array


class HOPE(ConvolutionalSSM):
    """Options: state_size n (Markov parameters, i.e. all-pass sections, per channel), dt_min / dt_max (initial
    step range; p = (1 - dt) / (1 + dt), dt = 1 is the FIR filter h), mode ("auto", "conv", "scan"; "conv"
    requires no reset after t=0 and is meant for tests and benchmarks)."""

    state_size: int = 32
    dt_min: float = 1e-2
    dt_max: float = 1.0

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.state_size, int) or self.state_size < 1:
            raise ValueError(f"state_size must be a positive int, got {self.state_size!r}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}")

    def setup(self):
        h, n, dt = self.d_model, self.state_size, self.dtype
        # Random Markov parameters (the paper's point: no structured init needed); each section has unit gain, so
        # std 1/sqrt(n) keeps the output variance near the input's.
        self.h = self.param("h", nn.initializers.normal(1.0 / n**0.5), (h, n), dt)
        self.d = self.param("D", nn.initializers.normal(1.0), (h,), dt)
        self.log_step = self.param("log_step", hippo.log_step_init(self.dt_min, self.dt_max), (h,), dt)

    def pole(self) -> Array:
        """p [H] in (-1, 1): ``(1 - dt) / (1 + dt) = -tanh(log(dt) / 2)``."""
        return -jnp.tanh(self.log_step / 2.0)

    def transfer(self, z: Array) -> Array:
        """H(z) [H, F] = sum_j h_j phi(z)^j + D at complex points z [F] (the paper's form; for tests)."""
        p = self.pole()[:, None]
        phi = (1.0 / z - p) / (1.0 - p / z)
        powers = phi[..., None] ** jnp.arange(1, self.state_size + 1)
        return jnp.einsum("hn,hfn->hf", self.h.astype(powers.dtype), powers) + self.d[:, None]

    def kernel(self, length: int) -> Array:
        """The convolution kernel K [H, length] (real; K_0 excludes D) from 2 * length samples of H."""
        return _kernel(self.h, self.pole(), length)

    def initialize_carry(self, batch_size: int) -> Array:
        return jnp.zeros((batch_size, self.d_model, self.state_size), self.dtype)

    def _operands(self):
        return self.h, self.d, self.pole()

    def _conv_path(self, system, carry, xs, is_first):
        return _conv_mode(*system, carry, xs, is_first)

    def _scan_path(self, system, carry, xs, is_first, return_carries):
        return _scan_mode(*system, carry, xs, is_first, return_carries)

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        x = x.astype(self.dtype)
        p, n = self.pole(), self.state_size
        r = jnp.where(is_first[:, None, None], 0.0, carry)
        # Unrolling s_j = r_j - p s_{j-1} with s_0 = u: s_j = sum_{i<=j} (-p)^(j-i) r_i + (-p)^j u.
        pw = _neg_powers(p, n + 1)  # [H, n + 1], (-p)^k
        idx = jnp.arange(n)
        toeplitz = jnp.where(idx[:, None] >= idx[None, :], pw[:, jnp.maximum(idx[:, None] - idx[None, :], 0)], 0.0)
        s = jnp.einsum("hji,bhi->bhj", toeplitz, r) + pw[:, 1:] * x[..., None]
        s_prev = jnp.concatenate([x[..., None], s[..., :-1]], axis=-1)  # s_{j-1}, j = 1..n
        state = p[:, None] * r + (1.0 - p**2)[:, None] * s_prev
        y = jnp.einsum("hn,bhn->bh", self.h, s) + self.d * x
        return state.astype(carry.dtype), y.astype(self.dtype)


def _neg_powers(p: Array, count: int) -> Array:
    """(-p)^k for k < count: [H, count] (a cumulative product: smooth in p, also at p = 0)."""
    factors = jnp.concatenate([jnp.ones_like(p)[:, None], jnp.broadcast_to(-p[:, None], (p.shape[0], count - 1))], 1)
    return jnp.cumprod(factors, axis=1)


def _scan_mode(h, d, p, carry, xs, is_first, return_carries=False):
    """The cascade, one reset scan per section: (final state [B, H, n], ys [T, B, H]), and all states
    [T, B, H, n] third when ``return_carries`` (otherwise only the last state of each section is kept)."""
    not_first = (~is_first)[..., None].astype(xs.dtype)

    def section(inputs, params):
        s_prev, y = inputs
        h_j, r0 = params
        rs = reset_scan(p, (1.0 - p**2) * s_prev, is_first, r0)  # r_j[t], [T, B, H]
        r_before = jnp.concatenate([r0[None], rs[:-1]], axis=0) * not_first  # r_j[t-1], zeroed at resets
        s = r_before - p * s_prev
        return (s, y + h_j * s), (rs if return_carries else rs[-1:])

    r0 = jnp.moveaxis(carry, -1, 0).astype(xs.dtype)  # [n, B, H]
    (_, y), states = jax.lax.scan(section, (xs, d * xs), (h.T, r0))
    states = jnp.moveaxis(states, 0, -1).astype(carry.dtype)  # [T or 1, B, H, n]
    return (states[-1], y, states) if return_carries else (states[-1], y)


def _realisation(h, p):
    """The cascade as ``r_t = A r_{t-1} + b u_t``, ``y_t = c r_{t-1} + K_0 u_t``: (A [H, n, n], b, c [H, n])."""
    n = h.shape[1]
    pw = _neg_powers(p, n + 1)
    idx = jnp.arange(n)
    lag = idx[:, None] - idx[None, :]
    toeplitz = jnp.where(lag >= 0, pw[:, jnp.maximum(lag, 0)], 0.0)  # s = toeplitz r + (-p)^j u
    shifted = jnp.where(lag >= 1, pw[:, jnp.maximum(lag - 1, 0)], 0.0)  # s_{j-1} in terms of r
    a = p[:, None, None] * jnp.eye(n) + (1.0 - p**2)[:, None, None] * shifted
    b = (1.0 - p**2)[:, None] * pw[:, :n]
    c = jnp.einsum("hj,hji->hi", h, toeplitz)
    return a, b, c


def _spectra(h, p, samples):
    """At ``w_k = exp(-2 pi i k / M)``, k <= M/2: (phi^j [H, F, n + 1], columns (I - w A)^{-1} b [H, F, n],
    rows c (I - w A)^{-1} [H, F, n]), by the closed forms of the cascade."""
    n = h.shape[1]
    w = jnp.exp(-2j * jnp.pi * jnp.arange(samples // 2 + 1) / samples)
    pc = p.astype(w.dtype)[:, None]
    theta = jnp.angle((w - pc) / (1.0 - pc * w))  # phi is all-pass: phi^j = exp(i j theta) exactly
    powers = jnp.exp(1j * theta[..., None] * jnp.arange(n + 1))
    denom = (1.0 - pc * w)[..., None]
    cols = (1.0 - pc**2)[..., None] * powers[..., :n] / denom
    # Row i: sum_{j>=i} h_j phi^(j-i) / (1 - p w): an input at section i runs through sections i..n.
    weighted = h[:, None, :] * powers[..., 1:]
    tails = jnp.flip(jnp.cumsum(jnp.flip(weighted, -1), -1), -1)
    rows = tails * jnp.conj(powers[..., 1:]) / denom
    return powers, cols, rows


def _kernel(h, p, length, parts=None):
    """K [H, length]: H(z) - D sampled at M = 2L points, aliasing removed exactly, irfft, first L taps.
    ``parts`` = (realisation, spectra, A^(M-1)) may be passed in when already computed."""
    samples = 2 * length
    if parts is None:
        realisation = _realisation(h, p)
        parts = realisation, _spectra(h, p, samples), jnp.linalg.matrix_power(realisation[0], samples - 1)
    (_, _, c), (powers, cols, _), a_pow = parts
    spectrum = jnp.einsum("hn,hfn->hf", h.astype(powers.dtype), powers[..., 1:])
    tail_row = jnp.einsum("hi,hij->hj", c, a_pow)  # c A^(M-1)
    spectrum = spectrum - jnp.einsum("hn,hfn->hf", tail_row.astype(cols.dtype), cols)
    return jnp.fft.irfft(spectrum, n=samples, axis=-1)[:, :length].astype(h.dtype)


def _conv_mode(h, d, p, carry, xs, is_first):
    """Convolution evaluation, exact when no episode starts after t=0: (final state [B, H, n], ys [T, B, H])."""
    length, samples = xs.shape[0], 2 * xs.shape[0]
    realisation, spectra = _realisation(h, p), _spectra(h, p, samples)
    a, (_, cols_f, rows_f) = realisation[0], spectra
    a_pow = jnp.linalg.matrix_power(a, samples - 1)
    trunc = jnp.eye(h.shape[1]) - a_pow @ a  # (I - A^M): truncated generating functions
    rows = jnp.einsum("htm,hmn->htn", jnp.fft.irfft(rows_f, n=samples, axis=1)[:, :length], trunc)  # c A^t
    cols = jnp.einsum("hmn,htn->htm", trunc, jnp.fft.irfft(cols_f, n=samples, axis=1)[:, :length])  # A^t b
    r0 = jnp.where(is_first[0][:, None, None], 0.0, carry).astype(xs.dtype)
    free = jnp.einsum("htn,bhn->tbh", rows, r0)
    ys = causal_conv(xs, _kernel(h, p, length, (realisation, spectra, a_pow))) + free + d * xs
    final = jnp.einsum("hmn,bhn->bhm", jnp.linalg.matrix_power(a, length), r0)
    final = final + jnp.einsum("htn,tbh->bhn", cols[:, ::-1], xs)
    return final.astype(carry.dtype), ys.astype(xs.dtype)
