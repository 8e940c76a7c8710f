"""Evaluation shared by the MIMO diagonal SSMs (S5, LRU): ``x_t = lam * x_{t-1} + B u_t``,
``y_t = scale * Re(C x_t) + D * u_t`` over complex modes, through the shared reset scan.

Subclasses own their parameterisation and provide ``system() -> (lam [P], B [P, H], C [H, P], D [H])`` and the
class constant ``output_scale`` (2 for a conjugate-symmetric system whose P stored modes stand for 2P states).
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from ssmrl.core.base import SequenceCore, check_sequence_inputs, check_step_inputs
from ssmrl.core.complex_linear import project_in, project_out_real
from ssmrl.core.scan import reset_scan, reset_step

Array = jax.Array


class DiagonalSSM(SequenceCore):
    """Options shared by every MIMO diagonal SSM: state_size P (complex modes), scan_segment (segment length of
    the associative reset scan, bounding its memory on long sequences on accelerators; None = one scan)."""

    state_size: int = 32
    scan_segment: int | None = None
    output_scale: ClassVar[float] = 1.0

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.state_size, int) or self.state_size <= 0:
            raise ValueError(f"state_size must be a positive int, got {self.state_size!r}")
        if self.scan_segment is not None and (not isinstance(self.scan_segment, int) or self.scan_segment <= 0):
            raise ValueError(f"scan_segment must be a positive int or None, got {self.scan_segment!r}")

    def system(self) -> tuple[Array, Array, Array, Array]:
        raise NotImplementedError

    def initialize_carry(self, batch_size: int) -> Array:
        return jnp.zeros((batch_size, self.state_size), self.complex_dtype)

    def __call__(self, carry, xs, is_first, return_carries=False):
        check_sequence_inputs(xs, is_first, self.d_model)
        xs = xs.astype(self.dtype)
        lam, b, c, d = self.system()
        states = reset_scan(lam, project_in(b, xs), is_first, carry, self.scan_segment)
        ys = (self.output_scale * project_out_real(c, states) + d * xs).astype(self.dtype)
        return (states[-1], ys, states) if return_carries else (states[-1], ys)

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        x = x.astype(self.dtype)
        lam, b, c, d = self.system()
        state = reset_step(lam, project_in(b, x), is_first, carry)
        return state, (self.output_scale * project_out_real(c, state) + d * x).astype(self.dtype)
