"""Per-step decays of the input-dependent cores (``ssmrl.diagnostics.decays``), with parameters set by hand so
that every decay is 0.9, and the GRU gate against a slow loop over the core's step form."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import make_core, step_loop
from ssmrl.diagnostics import layer_decays, selective_decays

T, B, H = 6, 3, 4


def _init(core, xs):
    return jax.jit(core.init)(jax.random.key(0), core.initialize_carry(B), xs, jnp.zeros((T, B), bool))


def _xs(seed=1):
    return jax.random.normal(jax.random.key(seed), (T, B, H))


def test_mamba_decays_set_by_hand():
    # A = -exp(A_log) = -1 and dt = softplus(0 . x + bias) = -log(0.9) for every input: exp(dt A) = 0.9.
    # softplus^-1(dt) = dt + log(1 - exp(-dt)) = log(exp(dt) - 1).
    core = make_core("mamba", H, state_size=2, expand=2)
    xs = _xs()
    params = _init(core, xs)
    step = -math.log(0.9)
    p = params["params"]
    p["A_log"] = jnp.zeros_like(p["A_log"])
    p["dt_proj"] = {"kernel": jnp.zeros_like(p["dt_proj"]["kernel"]),
                    "bias": jnp.full_like(p["dt_proj"]["bias"], math.log(math.expm1(step)))}
    decays = selective_decays(core, params, xs)
    assert decays.shape == (T * B * 2 * H * 2,)  # [T, B, E = 2H, N = 2]
    np.testing.assert_allclose(decays, 0.9, rtol=1e-5)


def test_mamba_decays_depend_on_the_input():
    core = make_core("mamba", H, state_size=2)
    xs = _xs()
    params = _init(core, xs)
    first, second = selective_decays(core, params, xs), selective_decays(core, params, _xs(2))
    assert np.all((first > 0) & (first < 1)) and np.max(np.abs(first - second)) > 1e-3


@pytest.mark.parametrize(("name", "gate"), [("gru", "z"), ("lstm", "f")])
def test_gate_decays_set_by_hand(name, gate):
    # Zero input and recurrent weights of the gate and bias log(9): sigmoid(log 9) = 9 / 10 = 0.9 at every step.
    core = make_core(name, H)
    xs = _xs()
    params = _init(core, xs)
    cell = params["params"]["cell"]
    for key in (f"i{gate}", f"h{gate}"):
        cell[key] = {k: (jnp.full_like(v, math.log(9.0)) if k == "bias" else jnp.zeros_like(v))
                     for k, v in cell[key].items()}
    np.testing.assert_allclose(selective_decays(core, params, xs), 0.9, rtol=1e-6)


def test_gru_update_gate_against_step_loop():
    # Reference: h_{t-1} from the step form, z_t = sigmoid(x_t W_iz + b_iz + h_{t-1} W_hz), one step at a time;
    # the carry before t = 0 is the initial (zero) carry.
    core = make_core("gru", H)
    xs = _xs()
    params = _init(core, xs)
    is_first = jnp.zeros((T, B), bool).at[0].set(True)
    _, _, hs = step_loop(core, params, core.initialize_carry(B), xs, is_first)
    cell = jax.tree.map(np.asarray, params["params"]["cell"])
    h_prev = np.zeros((B, H))
    expected = []
    for t in range(T):
        pre = np.asarray(xs[t]) @ cell["iz"]["kernel"] + cell["iz"]["bias"] + h_prev @ cell["hz"]["kernel"]
        expected.append(1.0 / (1.0 + np.exp(-pre)))
        h_prev = np.asarray(hs[t])
    np.testing.assert_allclose(selective_decays(core, params, xs), np.stack(expected).ravel(), rtol=1e-5)


def test_no_decays_without_input_dependence():
    identity = make_core("identity", H)
    assert layer_decays(identity, {}, _xs()) == [None] and selective_decays(identity, {}, _xs()) is None
