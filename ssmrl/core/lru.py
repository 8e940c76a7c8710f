"""LRU: the Linear Recurrent Unit (Orvieto et al., 2023), with exact episode resets.

``x_t = lam * x_{t-1} + gamma * (B u_t)``, ``y_t = Re(C x_t) + D * u_t`` with the exponential parameterisation
``lam = exp(-exp(nu_log) + i exp(theta_log))`` (so ``|lam| < 1`` always), ring initialisation
(``|lam|`` uniform on the ring area between r_min and r_max, phase in [0, max_phase]) and the normalisation
``gamma = sqrt(1 - |lam|^2)``. Runs the shared reset scan of ``core/scan.py``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ssmrl.core import hippo
from ssmrl.core.diagonal import DiagonalSSM

Array = jax.Array


class LRU(DiagonalSSM):
    """Options: state_size P (complex modes), r_min / r_max (ring radii of the initial eigenvalues),
    max_phase (initial phase range), scan_segment (segmented reset scan; None = one associative scan)."""

    r_min: float = 0.9
    r_max: float = 0.999
    max_phase: float = 6.283

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.r_min < self.r_max < 1:
            raise ValueError(f"need 0 <= r_min < r_max < 1, got r_min={self.r_min}, r_max={self.r_max}")
        if self.max_phase <= 0:
            raise ValueError(f"max_phase must be > 0, got {self.max_phase}")

    def setup(self):
        h, p, dt = self.d_model, self.state_size, self.dtype

        def nu_init(key, shape, dtype):
            u = jax.random.uniform(key, shape, dtype)
            r2 = u * (self.r_max**2 - self.r_min**2) + self.r_min**2  # |lam|^2 uniform on the ring's area
            return jnp.log(-0.5 * jnp.log(r2))

        def theta_init(key, shape, dtype):
            return jnp.log(self.max_phase * jax.random.uniform(key, shape, dtype, minval=1e-6))

        def complex_normal(scale):
            return lambda key, shape, dtype: scale * jax.random.normal(key, shape, dtype) / jnp.sqrt(2.0)

        self.nu_log = self.param("nu_log", nu_init, (p,), dt)
        self.theta_log = self.param("theta_log", theta_init, (p,), dt)
        self.b = self.param("B", complex_normal(1.0 / jnp.sqrt(h)), (p, h, 2), dt)
        self.c = self.param("C", complex_normal(1.0 / jnp.sqrt(p)), (h, p, 2), dt)
        self.d = self.param("D", nn.initializers.normal(1.0), (h,), dt)

    def eigenvalues(self) -> Array:
        """lam [P] complex with ``|lam| = exp(-exp(nu_log)) < 1``."""
        return jnp.exp(-jnp.exp(self.nu_log) + 1j * jnp.exp(self.theta_log))

    def system(self) -> tuple[Array, Array, Array, Array]:
        """(lam [P], gamma-normalised B [P, H], C [H, P]) complex, D [H] real."""
        lam = self.eigenvalues()
        gamma = jnp.sqrt(1.0 - jnp.abs(lam) ** 2)
        return lam, gamma[:, None] * hippo.complex_from_pair(self.b), hippo.complex_from_pair(self.c), self.d
