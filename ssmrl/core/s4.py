"""S4: the structured state-space layer with a DPLR state matrix (Gu, Goel & Re, 2022, arXiv 2111.00396),
with exact episode resets.

Each of the H channels is a SISO system ``x'(t) = A x + B u``, ``y = Re(C x) + D u`` with state size N, written in
the eigenbasis of the normal part of HiPPO-LegS: ``A = diag(lam) - P P^H`` (N complex modes). The N/2 stored
modes ``lam, P, B, C`` are one of each conjugate pair; the other half is their conjugate, so the full system is the
real LegS system up to a unitary change of basis (``hippo.hippo_legs_dplr``). ``lam`` and ``P`` are shared by all
channels (one DPLR matrix), ``B``, ``C``, the step ``dt`` and ``D`` are per channel. ``Re(lam) <= -min_decay``
by construction, and ``-P P^H`` is negative semi-definite, so every eigenvalue of A has a negative real part.

Bilinear discretisation, per channel: ``A_bar = (I - dt/2 A)^{-1} (I + dt/2 A)``, ``B_bar = (I - dt/2 A)^{-1} dt B``.
Two exact evaluation modes:

* convolution (no episode starts after position 0): the kernel ``K_l = C A_bar^l B_bar`` (l < L) from the truncated
  generating function ``C (I - A_bar^L)(I - w A_bar)^{-1} B_bar`` at the L-th roots of unity, evaluated with a
  Cauchy sum and the Woodbury identity (see ``_resolvent``), then an inverse FFT and a causal FFT convolution;
  the carry-in adds its free response and the final state is formed from the state impulse responses;
* recurrence: the dense ``A_bar`` [H, N, N] per channel, as a sequential ``lax.scan`` over time (used for ``step``,
  for sequences with resets after position 0 and when every carry is requested).

``mode`` ("auto", "conv", "scan") picks between the two as in every core of ``convolutional.py``.
The carry is the full N-dimensional complex state (the conjugate half included) [B, H, N].
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core import hippo
from ssmrl.core.base import check_step_inputs
from ssmrl.core.convolutional import ConvolutionalSSM
from ssmrl.core.s4d import causal_conv

Array = jax.Array


class S4(ConvolutionalSSM):
    """Options: state_size N (complex state size per channel, even; N/2 modes stored), dt_min / dt_max (initial
    step range), min_decay (floor on -Re(lam)), mode ("auto", "conv", "scan"; "conv" requires no reset after t=0
    and is meant for tests and benchmarks)."""

    state_size: int = 16
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    min_decay: float = 1e-4

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.state_size, int) or self.state_size < 2 or self.state_size % 2:
            raise ValueError(f"state_size must be an even int >= 2, got {self.state_size!r}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}")
        if self.min_decay <= 0:
            raise ValueError(f"min_decay must be > 0, got {self.min_decay}")

    def setup(self):
        h, half, dt = self.d_model, self.state_size // 2, self.dtype
        lam, p, b, _ = hippo.hippo_legs_dplr(self.state_size)  # numpy, outside the traced graph

        def const(value):
            return lambda key, shape, dtype: jnp.asarray(np.broadcast_to(value, shape), dtype)

        def c_init(key, shape, dtype):
            return (jax.random.normal(key, shape, dtype) * np.sqrt(0.5)).astype(dtype)

        self.lam_re_log = self.param("lam_re_log", const(np.log(-lam.real)), (half,), dt)
        self.lam_im = self.param("lam_im", const(lam.imag), (half,), dt)
        self.p = self.param("P", const(np.stack([p.real, p.imag], -1)), (half, 2), dt)
        self.b = self.param("B", const(np.stack([b.real, b.imag], -1)), (h, half, 2), dt)
        self.c = self.param("C", c_init, (h, half, 2), dt)
        self.d = self.param("D", nn.initializers.normal(1.0), (h,), dt)
        self.log_step = self.param("log_step", hippo.log_step_init(self.dt_min, self.dt_max), (h,), dt)

    def dplr(self) -> tuple[Array, Array, Array, Array, Array]:
        """Continuous system over all N modes: (lam [N], P [N], B [H, N], C [H, N]) complex, dt [H] real.
        ``A = diag(lam) - P P^H``; the second half of every vector is the conjugate of the stored half."""
        lam = -jnp.maximum(jnp.exp(self.lam_re_log), self.min_decay) + 1j * self.lam_im
        full = lambda z: jnp.concatenate([z, jnp.conj(z)], axis=-1)
        b, c = hippo.complex_from_pair(self.b), hippo.complex_from_pair(self.c)
        return full(lam), full(hippo.complex_from_pair(self.p)), full(b), full(c), jnp.exp(self.log_step)

    def discrete(self) -> tuple[Array, Array, Array, Array]:
        """Bilinear discretisation: (A_bar [H, N, N], B_bar [H, N], C [H, N]) complex, D [H] real."""
        lam, p, b, c, step = self.dplr()
        a = jnp.diag(lam) - jnp.outer(p, jnp.conj(p))
        half_step = (step / 2.0)[:, None, None].astype(a.dtype)
        eye = jnp.eye(a.shape[0], dtype=a.dtype)
        # (I - dt/2 A)^{-1} = (diag(g) + dt/2 p p^H)^{-1} with g = 1 - dt/2 lam, by Sherman-Morrison (exact; also
        # keeps LAPACK out of the graph: jax 0.10's CPU runtime was seen to hang when a LAPACK solve of one layer
        # ran beside the FFT convolution of another in the same program).
        inv_g = 1.0 / (1.0 - half_step[..., 0] * lam)  # [H, N]
        u = inv_g * p  # D^{-1} p
        v = inv_g * jnp.conj(p)  # (p^H D^{-1})^T
        denom = 1.0 + half_step[..., 0, 0] * jnp.einsum("n,hn->h", jnp.conj(p), u)
        inv_lhs = jax.vmap(jnp.diag)(inv_g) - (half_step[..., 0] / denom[:, None])[..., None] * (
            u[:, :, None] * v[:, None, :])
        a_bar = inv_lhs @ (eye + half_step * a)
        b_bar = jnp.einsum("hmn,hn->hm", inv_lhs, step[:, None] * b)
        return a_bar, b_bar, c, self.d

    def kernel(self, length: int) -> Array:
        """The convolution kernel K [H, length] (real), ``K_l = C A_bar^l B_bar``, by Cauchy + Woodbury."""
        return _kernel(self.dplr(), self.discrete()[0], length)

    def initialize_carry(self, batch_size: int) -> Array:
        return jnp.zeros((batch_size, self.d_model, self.state_size), self.complex_dtype)

    def _operands(self):
        return self.dplr(), self.discrete()

    def _conv_path(self, system, carry, xs, is_first):
        return _conv_mode(*system, carry, xs, is_first)

    def _scan_path(self, system, carry, xs, is_first, return_carries):
        states, ys = _scan_mode(*system, carry, xs, is_first)
        return (states[-1], ys, states) if return_carries else (states[-1], ys)

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        x = x.astype(self.dtype)
        state, y = _recurrence(self.discrete(), carry, x, is_first)
        return state, y


def _recurrence(discrete, state, x, is_first):
    """One exact step: x_t = (1 - d_t) A_bar x_{t-1} + B_bar u_t, y_t = Re(C x_t) + D u_t."""
    a_bar, b_bar, c, d = discrete
    decayed = jnp.einsum("hmn,bhn->bhm", a_bar, state.astype(a_bar.dtype))
    state = jnp.where(is_first[:, None, None], 0.0, decayed) + b_bar * x[..., None].astype(b_bar.dtype)
    y = jnp.einsum("hn,bhn->bh", c, state).real + d * x
    return state, y.astype(x.dtype)


def _scan_mode(dplr, discrete, carry, xs, is_first):
    """Sequential exact evaluation: (states [T, B, H, N], ys [T, B, H])."""

    def body(state, inputs):
        state, y = _recurrence(discrete, state, *inputs)
        return state, (state, y)

    _, (states, ys) = jax.lax.scan(body, carry.astype(discrete[0].dtype), (xs, is_first))
    return states.astype(carry.dtype), ys


def _resolvent(dplr, length):
    """Woodbury pieces of ``M(w) = (1 - w) I - (1 + w) dt/2 A`` at the roots of unity ``w_k = exp(-2 pi i k/L)``.

    Since ``(I - w A_bar)^{-1} = M(w)^{-1} (I - dt/2 A)`` and ``(I - w A_bar)^{-1} B_bar = M(w)^{-1} dt B``, and
    ``M = diag(m) + s P P^H`` with ``m = (1 - w) - (1 + w) dt/2 lam`` and ``s = (1 + w) dt/2``, the Woodbury identity
    gives ``M^{-1} = diag(1/m) - diag(1/m) P (s / (1 + s P^H diag(1/m) P)) P^H diag(1/m)``. This form has no pole
    at ``w = -1`` (unlike the ``2/(1+w)`` form of the paper) and ``m != 0`` on the unit circle since Re(lam) < 0.
    Returns (inv_m [H, L, N], s / (1 + s k_PP) [H, L]), with ``k_PP = sum_n |P_n|^2 / m_n``.
    """
    lam, p, _, _, step = dplr
    w = jnp.exp(-2j * jnp.pi * jnp.arange(length) / length).astype(lam.dtype)
    s = (1.0 + w)[None, :] * (step[:, None] / 2.0)  # [H, L]
    inv_m = 1.0 / ((1.0 - w)[None, :, None] - s[..., None] * lam)  # [H, L, N]
    k_pp = jnp.einsum("n,hln->hl", jnp.abs(p) ** 2, inv_m)
    return inv_m, s / (1.0 + s * k_pp)


def _kernel(dplr, a_bar, length, resolvent=None, a_pow=None):
    """K [H, L] real: ``K_l = C A_bar^l B_bar`` from the truncated generating function (Cauchy + Woodbury).
    ``resolvent`` (``_resolvent``) and ``a_pow`` (A_bar^L) may be passed in when already computed."""
    _, p, b, c, step = dplr
    inv_m, coef = _resolvent(dplr, length) if resolvent is None else resolvent
    a_pow = jnp.linalg.matrix_power(a_bar, length) if a_pow is None else a_pow
    # C_tilde = C (I - A_bar^L): turns the full generating function into the truncated one at the roots of unity.
    c_tilde = c - jnp.einsum("hm,hmn->hn", c, a_pow)
    cauchy = lambda u, v: jnp.einsum("hn,hln->hl", u * v, inv_m)  # sum_n u_n v_n / m_n
    k_cb = cauchy(c_tilde, b)
    k_cp = cauchy(c_tilde, jnp.broadcast_to(p, c.shape))
    k_pb = cauchy(jnp.broadcast_to(jnp.conj(p), b.shape), b)
    spectrum = step[:, None] * (k_cb - coef * k_cp * k_pb)
    return jnp.fft.ifft(spectrum, axis=-1).real


def _conv_mode(dplr, discrete, carry, xs, is_first):
    """Convolution evaluation, exact when no episode starts after t=0: (final state [B, H, N], ys [T, B, H])."""
    lam, p, b, c, step = dplr
    a_bar, b_bar, _, d = discrete
    length = xs.shape[0]
    inv_m, coef = _resolvent(dplr, length)
    a = jnp.diag(lam) - jnp.outer(p, jnp.conj(p))
    eye = jnp.eye(a.shape[0], dtype=a.dtype)
    a_pow = jnp.linalg.matrix_power(a_bar, length)  # A_bar^L [H, N, N]
    trunc = eye - a_pow
    # Rows C A_bar^t and columns A_bar^t B_bar for t < L (vector Woodbury, inverse FFT, then the truncation factor).
    rows_f = c[:, None] * inv_m
    rows_f = rows_f - (coef * jnp.einsum("hn,hln->hl", c * p, inv_m))[..., None] * jnp.conj(p) * inv_m
    rows = jnp.einsum("htm,hmn->htn", jnp.fft.ifft(rows_f, axis=1),
                      (eye - (step / 2.0)[:, None, None] * a) @ trunc)
    cols_f = (step[:, None] * b)[:, None] * inv_m
    cols_f = cols_f - (coef * jnp.einsum("n,hln->hl", jnp.conj(p), cols_f))[..., None] * p * inv_m
    cols = jnp.einsum("hmn,htn->htm", trunc, jnp.fft.ifft(cols_f, axis=1))
    kernel = _kernel(dplr, a_bar, length, (inv_m, coef), a_pow)
    h0 = jnp.where(is_first[0][:, None, None], 0.0, carry).astype(a_bar.dtype)
    free = jnp.einsum("htn,bhn->tbh", rows, jnp.einsum("hmn,bhn->bhm", a_bar, h0)).real  # Re(C A_bar^(t+1) h0)
    ys = causal_conv(xs, kernel.astype(xs.dtype)) + free.astype(xs.dtype) + d * xs
    drive = jnp.einsum("htn,tbh->bhn", cols[:, ::-1], xs.astype(cols.dtype))  # sum_k A_bar^(T-1-k) B_bar u_k
    final = jnp.einsum("hmn,bhn->bhm", a_pow, h0) + drive
    return final.astype(carry.dtype), ys.astype(xs.dtype)
