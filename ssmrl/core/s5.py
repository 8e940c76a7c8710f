"""S5: a MIMO diagonal state-space layer (Smith, Warrington & Linderman, 2023), with exact episode resets.

State ``x_t in C^P`` (P stored modes; the real system has 2P states in conjugate pairs):
``x_t = lam_bar * x_{t-1} + B_bar u_t``, ``y_t = 2 Re(C x_t) + D * u_t``; ZOH discretisation with a learned
log step per mode; block-diagonal HiPPO-N initialisation (numpy, outside the graph); B and C complex, stored as
real pairs; ``Re(lam) < 0`` by construction. Runs the shared reset scan of ``core/scan.py``.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core import hippo
from ssmrl.core.diagonal import DiagonalSSM

Array = jax.Array


class S5(DiagonalSSM):
    """Options: state_size P (stored complex modes), blocks (HiPPO-N blocks), dt_min / dt_max (initial step
    range), min_decay (floor on -Re(lam), keeps the system strictly stable), scan_segment (segmented reset scan
    for long sequences; None = one associative scan)."""

    blocks: int = 1
    output_scale: ClassVar[float] = 2.0  # P stored modes of a conjugate-symmetric 2P-state system
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    min_decay: float = 1e-4

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.blocks, int) or self.blocks <= 0 or self.state_size % self.blocks:
            raise ValueError(f"blocks must be a positive int dividing state_size={self.state_size}, "
                             f"got {self.blocks!r}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}")
        if self.min_decay <= 0:
            raise ValueError(f"min_decay must be > 0, got {self.min_decay}")

    def setup(self):
        lam, v = hippo.s5_block_init(self.state_size, self.blocks)
        h, p, dt = self.d_model, self.state_size, self.dtype

        def b_init(key, shape, dtype):
            b_real = nn.initializers.lecun_normal()(key, (2 * p, h), jnp.float32)
            return hippo.pair_from_complex(jnp.asarray(v.conj().T) @ b_real).astype(dtype)

        def c_init(key, shape, dtype):
            c_real = nn.initializers.lecun_normal()(key, (h, 2 * p), jnp.float32)
            return hippo.pair_from_complex(c_real @ jnp.asarray(v)).astype(dtype)

        self.lam_re_log = self.param("lam_re_log", lambda k, s, d: jnp.asarray(np.log(-lam.real), d), (p,), dt)
        self.lam_im = self.param("lam_im", lambda k, s, d: jnp.asarray(lam.imag, d), (p,), dt)
        self.b = self.param("B", b_init, (p, h, 2), dt)
        self.c = self.param("C", c_init, (h, p, 2), dt)
        self.d = self.param("D", nn.initializers.normal(1.0), (h,), dt)
        self.log_step = self.param("log_step", hippo.log_step_init(self.dt_min, self.dt_max), (p,), dt)

    def eigenvalues(self) -> Array:
        """Continuous-time eigenvalues lam [P] complex; ``Re(lam) <= -min_decay < 0`` for any parameters."""
        re = -jnp.maximum(jnp.exp(self.lam_re_log), self.min_decay)
        return re + 1j * self.lam_im

    def system(self) -> tuple[Array, Array, Array, Array]:
        """Discretised system: (lam_bar [P], B_bar [P, H], C [H, P]) complex, D [H] real."""
        lam_bar, b_scale = hippo.zoh(self.eigenvalues(), self.log_step)
        b_bar = b_scale[:, None] * hippo.complex_from_pair(self.b)
        return lam_bar, b_bar, hippo.complex_from_pair(self.c), self.d
