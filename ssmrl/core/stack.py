"""Residual stacks: any registered core composed into N layers behind the same core interface.

Each layer is ``x <- x + mix(core(norm(x)))`` where ``mix`` is a GLU (``Dense(gelu(y)) * sigmoid(Dense(gelu(y)))``,
as in S5), an MLP (``Dense(4H) -> gelu -> Dense(H)``) or nothing; a final norm follows the last layer.
The stack's carry is the tuple of its layers' carries; ``return_carries`` gives that tuple with every leaf
stacked over time.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from ssmrl.core.base import SequenceCore, check_sequence_inputs, check_step_inputs
from ssmrl.core.registry import make_core

Array = jax.Array

MIXERS = ("glu", "mlp", "none")
NORMS = ("layer", "rms")


class _Mixer(nn.Module):
    kind: str
    d_model: int
    dtype: Any

    @nn.compact
    def __call__(self, y: Array) -> Array:
        dense = lambda width, name: nn.Dense(width, dtype=self.dtype, param_dtype=self.dtype, name=name)
        if self.kind == "glu":
            g = nn.gelu(y)
            return dense(self.d_model, "value")(g) * nn.sigmoid(dense(self.d_model, "gate")(g))
        if self.kind == "mlp":
            return dense(self.d_model, "out")(nn.gelu(dense(4 * self.d_model, "hidden")(y)))
        return y


class Stack(SequenceCore):
    """``n_layers`` residual layers around the core ``core`` (built with ``core_options``, a tuple of
    (name, value) pairs so the module stays hashable). Use ``make_stack`` to build one."""

    core: str = "s5"
    n_layers: int = 2
    mlp: str = "glu"
    norm: str = "layer"
    core_options: tuple = ()

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.n_layers, int) or self.n_layers < 1:
            raise ValueError(f"n_layers must be an int >= 1, got {self.n_layers!r}")
        if self.mlp not in MIXERS:
            raise ValueError(f"mlp must be one of {list(MIXERS)}, got {self.mlp!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {list(NORMS)}, got {self.norm!r}")
        self._layer_core()  # validates the core name and its options

    def _layer_core(self) -> SequenceCore:
        return make_core(self.core, self.d_model, dtype=self.dtype, **dict(self.core_options))

    def _norm(self):
        if self.norm == "rms":
            return nn.RMSNorm(dtype=self.dtype, param_dtype=self.dtype)
        return nn.LayerNorm(dtype=self.dtype, param_dtype=self.dtype)

    def setup(self):
        self.cores = [self._layer_core() for _ in range(self.n_layers)]
        self.norms = [self._norm() for _ in range(self.n_layers)]
        self.mixers = [_Mixer(self.mlp, self.d_model, self.dtype) for _ in range(self.n_layers)]
        self.out_norm = self._norm()

    def initialize_carry(self, batch_size: int) -> tuple:
        return tuple(self._layer_core().initialize_carry(batch_size) for _ in range(self.n_layers))

    def __call__(self, carry, xs, is_first, return_carries=False):
        check_sequence_inputs(xs, is_first, self.d_model)
        x = xs.astype(self.dtype)
        new_carry, all_carries = [], []
        for core, norm, mixer, c in zip(self.cores, self.norms, self.mixers, carry, strict=True):
            out = core(c, norm(x), is_first, return_carries=return_carries)
            new_carry.append(out[0])
            if return_carries:
                all_carries.append(out[2])
            x = x + mixer(out[1])
        ys = self.out_norm(x)
        if return_carries:
            return tuple(new_carry), ys, tuple(all_carries)
        return tuple(new_carry), ys

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        x = x.astype(self.dtype)
        new_carry = []
        for core, norm, mixer, c in zip(self.cores, self.norms, self.mixers, carry, strict=True):
            c, y = core.step(c, norm(x), is_first)
            new_carry.append(c)
            x = x + mixer(y)
        return tuple(new_carry), self.out_norm(x)


def make_stack(core: str, d_model: int, n_layers: int = 2, mlp: str = "glu", norm: str = "layer",
               dtype: Any = None, **core_options: Any) -> Stack:
    """A validated ``Stack`` of ``n_layers`` residual layers of core ``core`` of width ``d_model``.

    ``core_options`` go to ``make_core`` (unknown ones raise ``ValueError`` listing the valid ones).
    """
    extra = {} if dtype is None else {"dtype": dtype}
    stack = Stack(d_model=d_model, core=core, n_layers=n_layers, mlp=mlp, norm=norm,
                  core_options=tuple(sorted(core_options.items())), parent=None, **extra)
    stack.validate()
    return stack
