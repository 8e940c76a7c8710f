"""S4D: per-channel diagonal state-space layer (Gu, Gupta, Goel & Re, 2022), with exact episode resets.

Each of the H channels is an independent SISO system with N/2 stored complex modes (conjugate pairs):
``x_t = lam_bar * x_{t-1} + B_bar u_t``, ``y_t = 2 Re(C x_t) + D u_t``; ZOH with one learned step per channel;
S4D-Lin or S4D-Inv initialisation. Two exact evaluation modes:

* convolution: the Vandermonde kernel ``K_l = 2 Re(sum_n C_n B_bar_n lam_bar_n^l)`` applied by a causal FFT
  (zero-padded to 2L), plus the free response of the carry-in; valid when no episode starts after position 0;
* scan: the shared reset scan of ``core/scan.py`` over [T, B, H, N/2] states, used whenever a reset happens
  after position 0, or when every carry is requested.

``mode`` ("auto", "conv", "scan") picks between the two as in every core of ``convolutional.py``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core import hippo
from ssmrl.core.base import check_step_inputs
from ssmrl.core.convolutional import ConvolutionalSSM
from ssmrl.core.scan import reset_scan, reset_step

Array = jax.Array

INITS = {"lin": hippo.s4d_lin, "inv": hippo.s4d_inv}


def causal_conv(u: Array, kernel: Array) -> Array:
    """Causal convolution along time by FFT: ``y_t = sum_{k<=t} K_k u_{t-k}``.

    Args: u [T, B, H] real; kernel [H, T] real. Returns y [T, B, H].
    """
    length = u.shape[0]
    n = 2 * length  # zero padding to 2L: a length-L circular FFT would wrap the future into the past
    u_f = jnp.fft.rfft(u, n=n, axis=0)
    k_f = jnp.fft.rfft(kernel.T, n=n, axis=0)[:, None, :]
    return jnp.fft.irfft(u_f * k_f, n=n, axis=0)[:length].astype(u.dtype)


class S4D(ConvolutionalSSM):
    """Options: state_size N (real state size per channel; N/2 complex modes stored), init_scheme ("lin" or "inv"),
    dt_min / dt_max (initial step range), mode ("auto", "conv", "scan"; "conv" requires no reset after t=0 and
    is meant for tests and benchmarks), scan_segment (segment length of the associative reset scan, bounding its
    memory on long sequences; None = one scan)."""

    state_size: int = 16
    init_scheme: str = "lin"
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    min_decay: float = 1e-4
    scan_segment: int | None = None

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.state_size, int) or self.state_size < 2 or self.state_size % 2:
            raise ValueError(f"state_size must be an even int >= 2, got {self.state_size!r}")
        if self.init_scheme not in INITS:
            raise ValueError(f"init_scheme must be one of {sorted(INITS)}, got {self.init_scheme!r}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}")

    @property
    def half(self) -> int:
        return self.state_size // 2

    def setup(self):
        h, n, dt = self.d_model, self.half, self.dtype
        lam = np.broadcast_to(INITS[self.init_scheme](n), (h, n))

        def c_init(key, shape, dtype):
            return (jax.random.normal(key, shape, dtype) * np.sqrt(0.5)).astype(dtype)

        self.lam_re_log = self.param("lam_re_log", lambda k, s, d: jnp.asarray(np.log(-lam.real), d), (h, n), dt)
        self.lam_im = self.param("lam_im", lambda k, s, d: jnp.asarray(lam.imag, d), (h, n), dt)
        self.b = self.param("B", lambda k, s, d: jnp.zeros(s, d).at[..., 0].set(1.0), (h, n, 2), dt)
        self.c = self.param("C", c_init, (h, n, 2), dt)
        self.d = self.param("D", nn.initializers.normal(1.0), (h,), dt)
        self.log_step = self.param("log_step", hippo.log_step_init(self.dt_min, self.dt_max), (h,), dt)

    def system(self) -> tuple[Array, Array, Array, Array]:
        """(lam * dt [H, N/2], B_bar [H, N/2], C [H, N/2]) complex, D [H] real; lam_bar = exp(lam * dt)."""
        lam = -jnp.maximum(jnp.exp(self.lam_re_log), self.min_decay) + 1j * self.lam_im
        lam_dt = lam * jnp.exp(self.log_step)[:, None]
        b_bar = (jnp.exp(lam_dt) - 1.0) / lam * hippo.complex_from_pair(self.b)
        return lam_dt, b_bar, hippo.complex_from_pair(self.c), self.d

    def kernel(self, length: int) -> Array:
        """The convolution kernel K [H, length] (real): K_l = 2 Re(sum_n C_n B_bar_n lam_bar_n^l)."""
        lam_dt, b_bar, c, _ = self.system()
        return 2.0 * jnp.einsum("hn,hnl->hl", c * b_bar, _powers(lam_dt, length)).real

    def initialize_carry(self, batch_size: int) -> Array:
        return jnp.zeros((batch_size, self.d_model, self.half), self.complex_dtype)

    def _operands(self):
        return self.system()

    def _conv_path(self, system, carry, xs, is_first):
        return _conv_mode(system, carry, xs, is_first)

    def _scan_path(self, system, carry, xs, is_first, return_carries):
        states, ys = _scan_mode(system, carry, xs, is_first, self.scan_segment)
        return (states[-1], ys, states) if return_carries else (states[-1], ys)

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        x = x.astype(self.dtype)
        lam_dt, b_bar, c, d = self.system()
        state = reset_step(jnp.exp(lam_dt), b_bar * x[..., None].astype(b_bar.dtype), is_first, carry)
        y = 2.0 * jnp.einsum("hn,bhn->bh", c, state).real + d * x
        return state, y.astype(self.dtype)


def _scan_mode(system, carry, xs, is_first, segment):
    """Reset-scan evaluation: (states [T, B, H, N/2], ys [T, B, H])."""
    lam_dt, b_bar, c, d = system
    states = reset_scan(jnp.exp(lam_dt), b_bar * xs[..., None].astype(b_bar.dtype), is_first, carry, segment)
    ys = 2.0 * jnp.einsum("hn,tbhn->tbh", c, states).real + d * xs
    return states, ys.astype(xs.dtype)


def _conv_mode(system, carry, xs, is_first):
    """Convolution evaluation, exact when no episode starts after t=0: (final state [B, H, N/2], ys)."""
    lam_dt, b_bar, c, d = system
    length = xs.shape[0]
    powers = _powers(lam_dt, length)  # lam_bar^t, [H, N/2, T]
    lam_bar = jnp.exp(lam_dt)
    h0 = jnp.where(is_first[0][:, None, None], 0.0, carry).astype(b_bar.dtype)
    free = 2.0 * jnp.einsum("hn,bhn,hnt->tbh", c * lam_bar, h0, powers).real  # response to the carry-in
    kernel = 2.0 * jnp.einsum("hn,hnl->hl", c * b_bar, powers).real
    ys = causal_conv(xs, kernel.astype(xs.dtype)) + free + d * xs
    # Final state: sum_k lam_bar^(T-1-k) B_bar u_k + lam_bar^T h0.
    drive = jnp.einsum("hnt,tbh->bhn", powers[..., ::-1], xs.astype(b_bar.dtype))
    final = b_bar * drive + powers[..., -1] * lam_bar * h0
    return final.astype(carry.dtype), ys.astype(xs.dtype)


def _powers(lam_dt: Array, length: int) -> Array:
    """lam_bar^l = exp(l * lam * dt) for l < length: [H, N/2, length] (stable even where lam_bar underflows)."""
    return jnp.exp(lam_dt[..., None] * jnp.arange(length))
