"""Mamba: the selective state-space layer S6 (Gu & Dao, 2023, arXiv 2312.00752), with exact episode resets.

One layer, input u [T, B, H], inner width E = expand * H, N states per inner channel:

    x, z   = split(W_in u)                                  # [T, B, E] each
    x      = silu(conv1d(x) + b)                            # causal depthwise, kernel K, reset-masked
    dt     = softplus(W_dt (W_x^dt x) + b_dt)               # [T, B, E]; low-rank (dt_rank) projection
    B, C   = W_x^B x, W_x^C x                               # [T, B, N] each, input-dependent
    h_t    = exp(dt_t * A) * h_{t-1} + dt_t * B_t * x_t     # [B, E, N]; A = -exp(A_log), S4D-real init
    y      = (C_t . h_t + D * x) * silu(z)
    out    = W_out y                                        # [T, B, H]

The recurrence runs on the shared reset scan (``core/scan.py``) with the time-varying decay ``exp(dt_t A)``; the
conv1d is the reset-masked short convolution of ``core/shortconv.py`` (no input from before the episode start
reaches the conv output). Carry: ``MambaCarry(conv [B, K-1, E], ssm [B, E, N])``. The parallel form is a
``jax.lax.associative_scan`` (no hardware-aware kernel); ``scan_segment`` bounds its memory on long sequences.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core import shortconv
from ssmrl.core.base import SequenceCore, check_sequence_inputs, check_step_inputs
from ssmrl.core.scan import reset_scan, reset_step

Array = jax.Array


class MambaCarry(NamedTuple):
    conv: Array  # [B, K-1, E] the last K-1 conv inputs of the episode, most recent first (zeros before it)
    ssm: Array  # [B, E, N] the selective SSM state


class Mamba(SequenceCore):
    """Options: state_size N (states per inner channel), expand (inner width E = expand * d_model), conv_kernel K
    (causal conv length), dt_rank (rank of the dt projection; None = ceil(d_model / 16)), dt_min / dt_max
    (initial step range), scan_segment (segmented reset scan for long sequences; None = one associative scan)."""

    state_size: int = 16
    expand: int = 2
    conv_kernel: int = 4
    dt_rank: int | None = None
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    scan_segment: int | None = None

    def validate(self) -> None:
        super().validate()
        for name in ("state_size", "expand", "conv_kernel"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.dt_rank is not None and (not isinstance(self.dt_rank, int) or self.dt_rank < 1):
            raise ValueError(f"dt_rank must be None (auto) or an int >= 1, got {self.dt_rank!r}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}")
        if self.scan_segment is not None and (not isinstance(self.scan_segment, int) or self.scan_segment < 1):
            raise ValueError(f"scan_segment must be None or an int >= 1, got {self.scan_segment!r}")

    @property
    def inner(self) -> int:
        return self.expand * self.d_model

    @property
    def rank(self) -> int:
        return self.dt_rank if self.dt_rank is not None else math.ceil(self.d_model / 16)

    def setup(self):
        e, n, k, r, dt = self.inner, self.state_size, self.conv_kernel, self.rank, self.dtype
        dense = lambda width, name, **kw: nn.Dense(width, dtype=dt, param_dtype=dt, name=name, **kw)

        def dt_bias_init(key, shape, dtype):
            # dt uniform in log space on [dt_min, dt_max]; store softplus^-1(dt) so softplus(bias) = dt.
            u = jax.random.uniform(key, shape, dtype)
            step = jnp.exp(u * (np.log(self.dt_max) - np.log(self.dt_min)) + np.log(self.dt_min))
            return step + jnp.log(-jnp.expm1(-step))

        conv_bound = 1.0 / np.sqrt(k)
        uniform = lambda bound: lambda key, s, d: jax.random.uniform(key, s, d, -bound, bound)
        self.in_proj = dense(2 * e, "in_proj", use_bias=False)
        self.conv_w = self.param("conv_w", uniform(conv_bound), (k, e), dt)
        self.conv_b = self.param("conv_b", uniform(conv_bound), (e,), dt)
        self.x_proj = dense(r + 2 * n, "x_proj", use_bias=False)
        self.dt_proj = dense(e, "dt_proj", kernel_init=uniform(r**-0.5), bias_init=dt_bias_init)
        a_init = lambda key, s, d: jnp.log(jnp.broadcast_to(jnp.arange(1, n + 1, dtype=d), s))  # S4D-real
        self.a_log = self.param("A_log", a_init, (e, n), dt)
        self.d = self.param("D", nn.initializers.ones, (e,), dt)
        self.out_proj = dense(self.d_model, "out_proj", use_bias=False)

    def initialize_carry(self, batch_size: int) -> MambaCarry:
        return MambaCarry(jnp.zeros((batch_size, self.conv_kernel - 1, self.inner), self.dtype),
                          jnp.zeros((batch_size, self.inner, self.state_size), self.dtype))

    def _selective(self, x: Array) -> tuple[Array, Array, Array, Array]:
        """Post-conv activations x [..., E] -> (decay exp(dt A) [..., E, N], drive dt B x [..., E, N],
        C [..., N], x)."""
        r, n = self.rank, self.state_size
        proj = self.x_proj(x)
        step = nn.softplus(self.dt_proj(proj[..., :r]))
        b, c = proj[..., r : r + n], proj[..., r + n :]
        a = -jnp.exp(self.a_log)
        decay = jnp.exp(step[..., None] * a)
        drive = (step * x)[..., None] * b[..., None, :]
        return decay, drive, c, x

    def _output(self, states: Array, c: Array, x: Array, z: Array) -> Array:
        y = jnp.einsum("...en,...n->...e", states, c) + self.d * x
        return self.out_proj(y * nn.silu(z))

    def __call__(self, carry, xs, is_first, return_carries=False):
        check_sequence_inputs(xs, is_first, self.d_model)
        xz = self.in_proj(xs.astype(self.dtype))
        x, z = jnp.split(xz, 2, axis=-1)
        win = shortconv.windows(carry.conv, x, is_first)  # [T, B, K, E]
        x = nn.silu(shortconv.depthwise(win, self.conv_w, self.conv_b))
        decay, drive, c, x = self._selective(x)
        states = reset_scan(decay, drive, is_first, carry.ssm.astype(self.dtype), self.scan_segment)
        ys = self._output(states, c, x, z).astype(self.dtype)
        carry_out = MambaCarry(win[-1, :, :-1], states[-1])
        if return_carries:
            return carry_out, ys, MambaCarry(win[:, :, :-1], states)
        return carry_out, ys

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        xz = self.in_proj(x.astype(self.dtype))
        u, z = jnp.split(xz, 2, axis=-1)
        win = shortconv.window_step(carry.conv, u, is_first)  # [B, K, E]
        u = nn.silu(shortconv.depthwise(win, self.conv_w, self.conv_b))
        decay, drive, c, u = self._selective(u)
        state = reset_step(decay, drive, is_first, carry.ssm.astype(self.dtype))
        y = self._output(state, c, u, z).astype(self.dtype)
        return MambaCarry(win[:, :-1], state), y
