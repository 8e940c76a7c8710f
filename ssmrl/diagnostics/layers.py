"""Per-layer access to any core: run it once and look at every elementary core call inside, in call order.

A *layer* is a core call that runs no other core: each layer of a ``Stack``, the wrapped core of an ``SMR``
wrapper, or a plain core itself. ``map_layers`` runs ``core.apply`` under ``flax.linen.intercept_methods`` and
evaluates a callback inside each layer call (traced, under ``jax.jit``), while its module is bound, with the inputs
the layer really received (after the norms and residuals of the layers below). No core code is changed or
duplicated; the one private name used is Mamba's ``_selective`` (its per-step decays ``exp(dt_t A)``, which no
public accessor returns).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core.base import SequenceCore
from ssmrl.core.mamba import Mamba

Array = jax.Array


@dataclasses.dataclass
class LayerCall:
    """One layer call. module: the bound core (use only inside the callback); carry: its carry-in; xs [T, B, H]:
    its inputs; is_first [T, B]; carries: its carry after each step (leaves [T, B, ...]); selective: the per-step
    decays recorded during the call (Mamba: one [T, B, E, N] array; empty for other cores)."""

    module: SequenceCore
    carry: Any
    xs: Array
    is_first: Array
    carries: Any
    selective: list


def episode_start(length: int, batch: int) -> Array:
    """``is_first`` [T, B] of a window inside one episode that starts at t = 0: set at t = 0 only."""
    return jnp.zeros((length, batch), bool).at[0].set(True)


def map_layers(core: SequenceCore, params: Any, xs: Array, fn: Callable[[LayerCall], tuple[Any, Any]]) -> list:
    """``[fn(call) for each layer call]`` of ``core.apply(params, initialize_carry(B), xs, episode_start)``.

    The run is jitted (one trace): ``fn`` returns ``(static, arrays)``, where ``static`` is any Python value fixed
    at trace time (e.g. a class name) and ``arrays`` a pytree of jax arrays computed from the traced call (or None).
    Every core call runs with ``return_carries=True`` (the same function; its carries are handed to ``fn``).

    Args: xs [T, B, H]. Returns ``[(static, arrays as numpy), ...]``, one per layer, in call order (bottom first).
    """
    length, batch, _ = xs.shape
    statics: list = []

    def run(params, xs):
        open_calls: list[dict] = []
        results: list = []

        def interceptor(next_fun, args, kwargs, context):
            module = context.module
            if context.method_name == "_selective" and isinstance(module, Mamba) and open_calls:
                out = next_fun(*args, **kwargs)
                open_calls[-1]["selective"].append(out[0])
                return out
            if context.method_name != "__call__" or not isinstance(module, SequenceCore):
                return next_fun(*args, **kwargs)
            carry, inputs, is_first = args[:3]
            wanted = kwargs.get("return_carries", args[3] if len(args) > 3 else False)
            if open_calls:
                open_calls[-1]["children"] += 1
            open_calls.append({"children": 0, "selective": []})
            out = next_fun(carry, inputs, is_first, return_carries=True)
            record = open_calls.pop()
            if record["children"] == 0:
                static, arrays = fn(LayerCall(module, carry, inputs, is_first, out[2], record["selective"]))
                statics.append(static)
                results.append(arrays)
            return out if wanted else out[:2]

        with nn.intercept_methods(interceptor):
            core.apply(params, core.initialize_carry(batch), xs, episode_start(length, batch))
        return results

    arrays = jax.jit(run)(params, xs)  # a fresh function each call, so it is traced (and ``statics`` filled) once
    return list(zip(statics, jax.tree.map(np.asarray, arrays), strict=True))
