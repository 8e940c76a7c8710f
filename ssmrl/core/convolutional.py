"""Evaluation shared by the cores with a convolution form (S4, S4D, HOPE): the ``mode`` option and the choice,
per call, between a convolution path and a scan path.

Each such core is, per channel, a linear time-invariant system with state ``x`` (for S4 and S4D
``x_t = A x_{t-1} + B u_t``, ``y_t = C x_t + D u_t``; HOPE has its own realisation, see ``hope.py``), with the reset
``x_{t-1} := 0`` before input ``t`` where ``is_first[t]`` is set. Its two forms compute the same carry-out and
outputs exactly (they differ only by floating-point rounding):

* conv: ``y_t = sum_{k<=t} K_{t-k} u_k + F_t x_{-1}``, with ``K`` the impulse response (``K_l = C A^l B``,
  plus ``D`` at ``l = 0``), ``F_t x_{-1}`` the free response of the carry-in ``x_{-1}`` (``C A^(t+1) x_{-1}``;
  ``x_{-1}`` zeroed if ``is_first[0]``), and ``x_{T-1} = A^T x_{-1} + sum_k A^(T-1-k) B u_k``; the sum is a
  causal FFT convolution. This is valid only if no episode starts after ``t = 0``: a reset at ``t > 0`` cuts
  the sum at ``t``, which no single kernel expresses;
* scan: the recurrence itself over time (the reset scan of ``core/scan.py`` or a ``lax.scan``), valid for
  any reset pattern, and the only path that yields every intermediate carry.

``mode`` chooses: ``"scan"`` always scans; ``"conv"`` always convolves (the caller guarantees no reset after
``t = 0``; for tests and benchmarks); ``"auto"`` decides at run time with
``lax.cond(any(is_first[1:]), scan, conv)``. ``return_carries=True`` always scans.

Subclasses provide the parameter-dependent operands and the two paths as pure functions of them:

* ``_operands() -> system``: a pytree of arrays, computed once per call outside ``lax.cond`` (so that both
  branches read the parameters through their operands and never touch module variables);
* ``_conv_path(system, carry, xs, is_first) -> (carry_out, ys)``;
* ``_scan_path(system, carry, xs, is_first, return_carries) -> (carry_out, ys)``, or ``(carry_out, ys, cs)``
  when ``return_carries``.

``xs`` reaching the paths is already cast to ``dtype`` and shape-checked.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ssmrl.core.base import SequenceCore, check_sequence_inputs

Array = jax.Array

MODES = ("auto", "conv", "scan")


class ConvolutionalSSM(SequenceCore):
    """Option shared by every core with a convolution form: mode ("auto", "conv", "scan"; see the module
    docstring; "conv" requires no reset after t=0 and is meant for tests and benchmarks)."""

    mode: str = "auto"

    def validate(self) -> None:
        super().validate()
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {self.mode!r}")

    def _operands(self) -> Any:
        raise NotImplementedError

    def _conv_path(self, system: Any, carry: Array, xs: Array, is_first: Array) -> tuple[Array, Array]:
        raise NotImplementedError

    def _scan_path(self, system: Any, carry: Array, xs: Array, is_first: Array, return_carries: bool):
        raise NotImplementedError

    def __call__(self, carry, xs, is_first, return_carries=False):
        check_sequence_inputs(xs, is_first, self.d_model)
        xs = xs.astype(self.dtype)
        operands = (self._operands(), carry, xs, is_first)
        if return_carries or self.mode == "scan":
            return self._scan_path(*operands, return_carries)
        if self.mode == "conv":
            return self._conv_path(*operands)
        return jax.lax.cond(jnp.any(is_first[1:]), lambda ops: self._scan_path(*ops, False),
                            lambda ops: self._conv_path(*ops), operands)
