"""XLA's planned memory of a compiled program (``jax.jit(fn).lower(*args).compile()``): the one reading of its
``memory_analysis()`` for the world-model runs, the benchmark grids and the bench scripts."""

from __future__ import annotations

import math
from typing import Any


def compiled_memory(compiled: Any) -> dict[str, int] | None:
    """XLA's planned buffer bytes of a compiled program -> {"temp", "argument", "output", "total" (their sum)}: what
    the program's buffers need, not a measured peak; None where the backend does not report them."""
    try:
        stats = compiled.memory_analysis()
        parts = {"temp": int(stats.temp_size_in_bytes), "argument": int(stats.argument_size_in_bytes),
                 "output": int(stats.output_size_in_bytes)}
    except Exception:  # not every backend implements memory_analysis
        return None
    return {**parts, "total": sum(parts.values())}


def planned_mb(memory: dict[str, int] | None) -> float:
    """The "total" of a :func:`compiled_memory` result in MB (2**20 bytes); NaN for None (not reported)."""
    return math.nan if memory is None else memory["total"] / 2**20
