"""Recurrent baselines: GRU and LSTM cells behind the core interface, and the memoryless ``identity`` core.

``step`` resets the carry with ``jnp.where`` before the cell consumes ``x_t``; ``__call__`` is a ``lax.scan``
of ``step`` (there is no parallel form).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from ssmrl.core.base import (
    SequenceCore,
    check_sequence_inputs,
    check_step_inputs,
    reset_carry,
    scan_of_step,
)


class _CellCore(SequenceCore):
    """A flax recurrent cell behind the core interface; subclasses pick the cell and its carry."""

    def make_cell(self) -> nn.RNNCellBase:
        raise NotImplementedError

    def setup(self):
        self.cell = self.make_cell()

    def __call__(self, carry, xs, is_first, return_carries=False):
        check_sequence_inputs(xs, is_first, self.d_model)
        return scan_of_step(self, carry, xs.astype(self.dtype), is_first, return_carries)

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        carry = reset_carry(carry, self.initialize_carry(x.shape[0]), is_first)
        return self.cell(carry, x.astype(self.dtype))


class GRU(_CellCore):
    """Gated recurrent unit (flax ``GRUCell``) with hidden size d_model; carry [B, H]."""

    def make_cell(self):
        return nn.GRUCell(features=self.d_model, dtype=self.dtype, param_dtype=self.dtype)

    def initialize_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.d_model), self.dtype)


class LSTM(_CellCore):
    """Long short-term memory (flax ``LSTMCell``) with hidden size d_model; carry (c [B, H], h [B, H])."""

    def make_cell(self):
        return nn.LSTMCell(features=self.d_model, dtype=self.dtype, param_dtype=self.dtype)

    def initialize_carry(self, batch_size: int):
        zeros = jnp.zeros((batch_size, self.d_model), self.dtype)
        return (zeros, zeros)


class Identity(SequenceCore):
    """No memory: ``y_t = x_t`` with an empty carry. In a stack this leaves a per-step MLP, the memoryless
    baseline."""

    def initialize_carry(self, batch_size: int):
        return ()

    def __call__(self, carry, xs, is_first, return_carries=False):
        check_sequence_inputs(xs, is_first, self.d_model)
        xs = xs.astype(self.dtype)
        return ((), xs, ()) if return_carries else ((), xs)

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        return (), x.astype(self.dtype)
