"""Per-step decays of the input-dependent (selective and gated) cores over real inputs, to histogram.

The decay of a step is the factor that multiplies the previous state in that step's update:

* Mamba: ``exp(dt_t A)`` [T, B, E, N] (dt_t from the input), recorded from the core's own ``_selective``;
* GRU: the update gate ``z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1})`` of ``h_t = (1 - z) n + z h_{t-1}``;
* LSTM: the forget gate ``f_t = sigmoid(W_if x_t + W_hf h_{t-1} + b_hf)`` of ``c_t = f c_{t-1} + i g``.

The GRU and LSTM gates are recomputed from the flax cells' parameters (``params["cell"]["iz"]`` etc.; the cell
has no accessor for its gates) and the previous hidden state from the carries (zeroed at ``is_first``, as
``step`` does). LTI cores have input-independent decays (see ``spectrum.py``), the transformer and identity none:
they give None.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core.base import SequenceCore
from ssmrl.core.mamba import Mamba
from ssmrl.core.rnn import GRU, LSTM
from ssmrl.diagnostics.layers import LayerCall, map_layers

Array = jax.Array

GATES = {GRU: "z", LSTM: "f"}  # the gate of each gated cell that multiplies the previous state


def _dense(layer: dict, x: Array) -> Array:
    out = x @ layer["kernel"]
    return out + layer["bias"] if "bias" in layer else out


def _previous_hidden(call: LayerCall) -> Array:
    """h_{t-1} as the cell sees it at each step: [T, B, H] (the carry-in first, zeros where ``is_first``)."""
    hidden = call.carries[1] if isinstance(call.carries, tuple) else call.carries  # LSTM carry: (c, h)
    carry_in = call.carry[1] if isinstance(call.carry, tuple) else call.carry
    prev = jnp.concatenate([carry_in[None].astype(hidden.dtype), hidden[:-1]], axis=0)
    return jnp.where(call.is_first[..., None], 0.0, prev)


def _call_decays(call: LayerCall) -> tuple[None, Array | None]:
    module = call.module
    if isinstance(module, Mamba):
        return None, jnp.concatenate([d.ravel() for d in call.selective])
    gate = next((name for cls, name in GATES.items() if isinstance(module, cls)), None)
    if gate is None:
        return None, None
    cell = module.variables["params"]["cell"]
    x = call.xs.astype(module.dtype)
    pre = _dense(cell[f"i{gate}"], x) + _dense(cell[f"h{gate}"], _previous_hidden(call))
    return None, jax.nn.sigmoid(pre).ravel()


def layer_decays(core: SequenceCore, params: Any, xs: Array) -> list[np.ndarray | None]:
    """One entry per layer (see ``layers.py``): all its per-step decays over ``xs`` [T, B, H] flattened
    (Mamba: T * B * E * N values; GRU / LSTM: T * B * H), or None for a core without input-dependent decays."""
    return [None if d is None else d.astype(np.float64) for _, d in map_layers(core, params, xs, _call_decays)]


def selective_decays(core: SequenceCore, params: Any, xs: Array) -> np.ndarray | None:
    """The per-step decays of every input-dependent layer, concatenated (1-d), or None if there is none."""
    found = [d for d in layer_decays(core, params, xs) if d is not None]
    return np.concatenate(found) if found else None
