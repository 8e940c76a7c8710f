"""The one sequence-core interface that PPO and the world model use, and its reset semantics.

Every core is a ``flax.linen`` module built by ``make_core(name, d_model=H, **options)``::

    carry         = core.initialize_carry(batch_size)                 # a pytree; needs no params
    params        = core.init(key, carry, xs, is_first)               # xs [T, B, H], is_first bool [T, B]
    carry, ys     = core.apply(params, carry, xs, is_first)           # parallel over T; ys [T, B, H]
    carry, ys, cs = core.apply(params, carry, xs, is_first, return_carries=True)  # cs: carry after each t
    carry, y      = core.apply(params, carry, x, is_first_t, method="step")       # x [B, H], is_first_t [B]

Reset semantics: where ``is_first[t]`` is set the carry is replaced by the initial carry (the value of
``initialize_carry``) *before* input ``t`` is consumed. ``cs`` has every carry leaf stacked on a leading time axis.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
Carry = Any


class SequenceCore(nn.Module):
    """Base of every core. Subclasses define ``initialize_carry``, ``__call__`` and ``step`` (same parameters,
    created in ``setup`` so that both methods share them) and may override ``validate``.

    Attributes:
      d_model: input and output width H.
      dtype: floating dtype of parameters, activations and (real) carries; complex carries use the matching
        complex dtype. ``jnp.float64`` needs ``jax.enable_x64``.
    """

    d_model: int
    dtype: Any = jnp.float32

    def validate(self) -> None:
        """Raise ``ValueError`` naming any bad option value. Subclasses extend; called by ``make_core``."""
        if not isinstance(self.d_model, int) or self.d_model <= 0:
            raise ValueError(f"d_model must be a positive int, got {self.d_model!r}")
        if jnp.dtype(self.dtype) not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")

    @property
    def complex_dtype(self):
        return jnp.complex128 if jnp.dtype(self.dtype) == jnp.dtype(jnp.float64) else jnp.complex64

    def initialize_carry(self, batch_size: int) -> Carry:
        raise NotImplementedError

    def __call__(self, carry: Carry, xs: Array, is_first: Array, return_carries: bool = False):
        raise NotImplementedError

    def step(self, carry: Carry, x: Array, is_first: Array) -> tuple[Carry, Array]:
        raise NotImplementedError


def check_sequence_inputs(xs: Array, is_first: Array, d_model: int) -> None:
    """Shape contract at the entry of every core: xs [T, B, H], is_first bool [T, B]."""
    if xs.ndim != 3 or xs.shape[-1] != d_model:
        raise ValueError(f"xs must be [T, B, {d_model}], got shape {xs.shape}")
    if is_first.shape != xs.shape[:2]:
        raise ValueError(f"is_first must be [T, B] = {xs.shape[:2]}, got shape {is_first.shape}")


def check_step_inputs(x: Array, is_first: Array, d_model: int) -> None:
    """Shape contract of ``step``: x [B, H], is_first bool [B]."""
    if x.ndim != 2 or x.shape[-1] != d_model:
        raise ValueError(f"x must be [B, {d_model}], got shape {x.shape}")
    if is_first.shape != x.shape[:1]:
        raise ValueError(f"is_first must be [B] = {x.shape[:1]}, got shape {is_first.shape}")


def reset_carry(carry: Carry, initial: Carry, is_first: Array) -> Carry:
    """Replace the carry of batch elements where ``is_first`` [B] is set by ``initial`` (leaves [B, ...])."""

    def pick(c, c0):
        flags = is_first.reshape(is_first.shape + (1,) * (c.ndim - 1))
        return jnp.where(flags, c0.astype(c.dtype), c)

    return jax.tree.map(pick, carry, initial)


def scan_of_step(core: SequenceCore, carry: Carry, xs: Array, is_first: Array, return_carries: bool):
    """``__call__`` for cores with no parallel form (GRU, LSTM): a ``lax.scan`` of ``core.step`` inside the
    module (``nn.scan`` with parameters broadcast over time). Returns (carry, ys[, cs])."""

    def body(module, c, inputs):
        c, y = module.step(c, *inputs)
        return c, (y, c)

    scan = nn.scan(body, variable_broadcast="params", split_rngs={"params": False})
    carry, (ys, cs) = scan(core, carry, (xs, is_first))
    return (carry, ys, cs) if return_carries else (carry, ys)


def step_loop(core: SequenceCore, params: Any, carry: Carry, xs: Array, is_first: Array):
    """Reference sequential form: a ``lax.scan`` of ``core.apply(..., method="step")`` over time.

    Args: params: the core's variables; carry: carry-in; xs [T, B, H]; is_first bool [T, B].
    Returns: (final carry, ys [T, B, H], cs: every carry after each step, leaves [T, B, ...]).
    """

    def body(c, inputs):
        c, y = core.apply(params, c, *inputs, method="step")
        return c, (y, c)

    carry, (ys, cs) = jax.lax.scan(body, carry, (xs, is_first))
    return carry, ys, cs
