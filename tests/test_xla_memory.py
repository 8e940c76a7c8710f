"""XLA's planned memory of a compiled program (``ssmrl.xla_memory``): the fields read, their sum, MB, and None / NaN
where a backend does not report them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import jax
import jax.numpy as jnp

from ssmrl.xla_memory import compiled_memory, planned_mb


class _Compiled:
    def memory_analysis(self):
        return SimpleNamespace(temp_size_in_bytes=3, argument_size_in_bytes=2**20, output_size_in_bytes=5)


def test_fields_total_and_mb():
    memory = compiled_memory(_Compiled())
    assert memory == {"temp": 3, "argument": 2**20, "output": 5, "total": 2**20 + 8}
    assert planned_mb({"total": 3 * 2**20}) == 3.0 and planned_mb(memory) == (2**20 + 8) / 2**20


def test_not_reported():
    assert compiled_memory(object()) is None  # a backend without memory_analysis
    assert math.isnan(planned_mb(None))


def test_a_real_program():
    compiled = jax.jit(lambda x: jnp.sin(x) @ x).lower(jnp.ones((16, 16), jnp.float32)).compile()
    memory = compiled_memory(compiled)
    if memory is not None:  # the CPU backend reports its plan: the argument is 16 x 16 float32
        assert memory["argument"] == 16 * 16 * 4
        assert memory["total"] == memory["temp"] + memory["argument"] + memory["output"]
