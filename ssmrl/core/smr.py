"""SMR: State Memory Replay (Qi, Gao, Zhang, Li, Liu, Wu & Zhou, ACL Findings 2024, arXiv 2405.17534), as a
wrapper that plugs into the input of any core, with exact episode resets.

The paper's SMR adjusts each input of an SSM with a learnable memory of the preceding inputs: the input sequence
is multiplied element-wise by a short learnable causal convolution of itself, before the SSM consumes it
(Sec. "State Memory Replay"; the ICLR 2024 reviews of its predecessor S4++ describe it the same way: "multiplying a
convolution of the input sequence with the input"). What this module implements, per channel c of u [T, B, H]:

    u'_t[c] = u_t[c] * ( sum_{i=0}^{m-1} w[i, c] * u_{t-i}[c] + b[c] )

a depthwise causal convolution of length m (``smr_memory``) with weights w [m, H] and a bias b [H]. Where we
differ from, or go beyond, the paper:

* Reset masking (ours): inputs from before the episode start of t are zeros in the sum (``core/shortconv.py``), so
  nothing crosses an ``is_first`` boundary; the paper has no episode resets.
* Initialisation (ours): b = 1 and w ~ N(0, 0.1^2), so the wrapper starts close to the identity ``u'_t = u_t``
  rather than at the purely quadratic ``u_t * (w * u)_t``; the bias is what a default (biased) conv1d would carry.
* No extra nonlinearity on the memory term: we could not confirm one from the sources available to us.

Carry: ``SMRCarry(buffer [B, m-1, H], inner)``: the last m-1 inputs of the episode (most recent first, zeros
before it) and the wrapped core's carry. ``make_core(name, d_model, smr=True, smr_memory=m, **options)`` builds it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from ssmrl.core import shortconv
from ssmrl.core.base import SequenceCore, check_sequence_inputs, check_step_inputs

Array = jax.Array


class SMRCarry(NamedTuple):
    buffer: Array  # [B, m-1, H] the last m-1 inputs of the episode, most recent first (zeros before its start)
    inner: Any  # the wrapped core's carry


class SMR(SequenceCore):
    """``inner``: the wrapped core (an unbound module from ``make_core``); ``memory``: m, the number of inputs
    (current one included) in the learnable memory. Use ``make_core(..., smr=True)`` to build one."""

    inner: SequenceCore | None = None
    memory: int = 4

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.memory, int) or isinstance(self.memory, bool) or self.memory < 1:
            raise ValueError(f"smr_memory must be an int >= 1, got {self.memory!r}")
        if not isinstance(self.inner, SequenceCore) or self.inner.d_model != self.d_model:
            raise ValueError(f"SMR needs an inner core of width d_model={self.d_model}, got {self.inner!r}")
        self.inner.validate()

    def setup(self):
        m, h, dt = self.memory, self.d_model, self.dtype
        self.weight = self.param("memory_w", nn.initializers.normal(0.1), (m, h), dt)
        self.bias = self.param("memory_b", nn.initializers.ones, (h,), dt)

    def initialize_carry(self, batch_size: int) -> SMRCarry:
        buffer = jnp.zeros((batch_size, self.memory - 1, self.d_model), self.dtype)
        return SMRCarry(buffer, self.inner.initialize_carry(batch_size))

    def replay(self, window: Array) -> Array:
        """The adjusted input u' = u * (w * u + b): window [..., m, H] (lag 0 first) -> [..., H]."""
        return window[..., 0, :] * shortconv.depthwise(window, self.weight, self.bias)

    def __call__(self, carry, xs, is_first, return_carries=False):
        check_sequence_inputs(xs, is_first, self.d_model)
        win = shortconv.windows(carry.buffer, xs.astype(self.dtype), is_first)  # [T, B, m, H]
        out = self.inner(carry.inner, self.replay(win), is_first, return_carries=return_carries)
        carry_out = SMRCarry(win[-1, :, :-1], out[0])
        if return_carries:
            return carry_out, out[1], SMRCarry(win[:, :, :-1], out[2])
        return carry_out, out[1]

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        win = shortconv.window_step(carry.buffer, x.astype(self.dtype), is_first)  # [B, m, H]
        inner_carry, y = self.inner.step(carry.inner, self.replay(win), is_first)
        return SMRCarry(win[:, :-1], inner_carry), y


def smr_options() -> dict[str, Any]:
    """The SMR options every core accepts in ``make_core``, with their defaults."""
    return {"smr": False, "smr_memory": SMR.memory}


def with_smr(core: SequenceCore, smr: bool = False, smr_memory: int = SMR.memory) -> SequenceCore:
    """``core`` itself, or, if ``smr``, an ``SMR`` wrapper of it with memory ``smr_memory`` (validated)."""
    if not isinstance(smr, bool):
        raise ValueError(f"smr must be true or false, got {smr!r}")
    if not isinstance(smr_memory, int) or isinstance(smr_memory, bool) or smr_memory < 1:
        raise ValueError(f"smr_memory must be an int >= 1, got {smr_memory!r}")
    if not smr:
        return core
    wrapper = SMR(d_model=core.d_model, dtype=core.dtype, inner=core, memory=smr_memory, parent=None)
    wrapper.validate()
    return wrapper
