"""Empirical memory horizon (``ssmrl.diagnostics.horizon``) and the diagnostics over every registered core.

Expected horizons come from the closed form for a pure exponential G[k] = |a|^k G[0]:
horizon = ceil(log(0.01) / log|a|), computed by hand in the comments.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import available_cores, make_core, make_stack
from ssmrl.diagnostics import (
    horizon_from_norms,
    layer_decays,
    layer_spectra,
    lti_spectrum,
    memory_horizon,
    state_use,
)

LTI = {"s4", "s4d", "s5", "lru", "hope"}  # the linear time-invariant cores of the registry, by hand
INPUT_DEPENDENT = {"mamba", "gru", "lstm"}  # cores with per-step decays


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        (0.9, 44),  # log(0.01)/log(0.9) = 43.71 -> 44
        (0.5, 7),  # log(0.01)/log(0.5) = 6.64 -> 7
        (0.99, 459),  # log(0.01)/log(0.99) = 458.21 -> 459
        (0.1, 2),  # log(0.01)/log(0.1) = 2 exactly: G[2] = 0.01 peak is the crossing itself -> 2
    ],
)
def test_horizon_of_a_pure_exponential(a, expected):
    norms = 3.0 * a ** np.arange(600.0)
    result = horizon_from_norms(norms, 0.01)
    assert result.horizon == expected == math.ceil(math.log(0.01) / math.log(a) - 1e-9)
    assert result.peak == 3.0 and not result.saturated


def test_horizon_edge_cases():
    # Zero right after lag 2: the geometric interpolant is 0 beyond it, so x* = 2.
    assert horizon_from_norms([1.0, 0.5, 0.2, 0.0, 0.0]).horizon == 2
    # Still above 1% of the peak at K = 3: saturated, horizon K (a lower bound).
    sat = horizon_from_norms([1.0, 0.5, 0.2, 0.1])
    assert sat.horizon == 3 and sat.saturated
    # A late peak: the level is relative to max G, not G[0].
    assert horizon_from_norms([0.0, 0.0, 1.0, 0.0]).horizon == 2
    assert horizon_from_norms(np.zeros(4)).horizon == 0
    with pytest.raises(ValueError, match="threshold"):
        horizon_from_norms([1.0], threshold=1.5)


def _single_mode_lru(a: float):
    """An LRU with H = 1 and one mode lam = a (real, via the phase 0 or pi), B = C = 1, D = 0:
    y_t = sum_k gamma a^k u_{t-k} with gamma = sqrt(1 - a^2), so G[k] = gamma |a|^k exactly."""
    core = make_core("lru", 1, state_size=1, dtype=jnp.float64)
    phase = -1e3 if a > 0 else math.log(math.pi)  # exp(-1e3) = 0 in float64: phase 0
    params = {"params": {
        "nu_log": jnp.array([math.log(-math.log(abs(a)))]),
        "theta_log": jnp.array([phase]),
        "B": jnp.array([[[1.0, 0.0]]]),
        "C": jnp.array([[[1.0, 0.0]]]),
        "D": jnp.array([0.0]),
    }}
    return core, params


@pytest.mark.parametrize(("a", "expected"), [(0.9, 44), (-0.5, 7)])  # as in test_horizon_of_a_pure_exponential
def test_single_mode_ssm_horizon(x64, a, expected):
    core, params = _single_mode_lru(a)
    xs = jax.random.normal(jax.random.key(0), (64, 2, 1), jnp.float64)
    result = memory_horizon(core, params, xs, max_lag=60)
    gamma = math.sqrt(1.0 - a * a)
    np.testing.assert_allclose(result.norms, gamma * abs(a) ** np.arange(61), rtol=1e-9, atol=1e-15)
    assert result.horizon == expected and not result.saturated


def test_identity_horizon_is_zero():
    core = make_core("identity", 4)
    xs = jax.random.normal(jax.random.key(0), (8, 3, 4))
    result = memory_horizon(core, {}, xs, max_lag=7)
    # dy_t/dx_t = I_4 (Frobenius norm 2), every other lag 0.
    np.testing.assert_allclose(result.norms, [2.0] + [0.0] * 7, atol=1e-6)
    assert result.horizon == 0


def test_gru_horizon_is_finite():
    core = make_core("gru", 8)
    xs = jax.random.normal(jax.random.key(1), (32, 2, 8))
    params = jax.jit(core.init)(jax.random.key(0), core.initialize_carry(2), xs, jnp.zeros((32, 2), bool))
    result = memory_horizon(core, params, xs, max_lag=31)
    # Random init: update gates near 1/2, so the influence decays geometrically (this case: 8; 11-12 over 4 seeds
    # with B = 4).
    assert not result.saturated and 1 <= result.horizon < 31
    assert np.all(np.isfinite(result.norms))


def test_more_outputs_average_over_positions(x64):
    # An LTI core has dy_t/dx_{t-k} = K_k at every t, so averaging over 4 output positions changes nothing.
    core, params = _single_mode_lru(0.9)
    xs = jax.random.normal(jax.random.key(2), (12, 2, 1), jnp.float64)
    one = memory_horizon(core, params, xs, max_lag=11).norms
    four = memory_horizon(core, params, xs, max_lag=11, n_outputs=4, chunk=3).norms
    np.testing.assert_allclose(four, one, rtol=1e-12)
    with pytest.raises(ValueError, match="max_lag"):
        memory_horizon(core, params, xs, max_lag=12)


T, B, H, K = 16, 2, 8, 8


@functools.cache
def _results(name: str):
    """Horizon, state use, spectrum (kernel lags 0..K) and decays of core ``name`` (float64, default options)."""
    with jax.enable_x64(True):
        core = make_core(name, H, dtype=jnp.float64)
        xs = jax.random.normal(jax.random.key(5), (T, B, H), jnp.float64)
        params = jax.jit(core.init)(jax.random.key(6), core.initialize_carry(B), xs, jnp.zeros((T, B), bool))
        return (memory_horizon(core, params, xs, max_lag=K), state_use(core, params, xs),
                lti_spectrum(core, params, lags=K + 1), layer_decays(core, params, xs))


@pytest.mark.parametrize("name", available_cores())
def test_every_core_runs_through_horizon_and_state_use(name):
    result, use, _, _ = _results(name)
    assert result.norms.shape == (K + 1,) and np.all(np.isfinite(result.norms)) and result.peak > 0
    assert 0 <= result.horizon <= K
    assert np.isfinite(use.participation_ratio) and 0 <= use.participation_ratio <= max(use.state_dim, 1)
    assert (use.state_dim == 0) == (name == "identity")


@pytest.mark.parametrize("name", available_cores())
def test_spectrum_only_for_lti_and_decays_only_for_input_dependent(name):
    result, _, spectrum, (decays,) = _results(name)
    if name in LTI:
        assert spectrum is not None and 0 < spectrum.max_decay < 1
        assert np.all(np.isfinite(spectrum.hankel_sv)) and np.all(spectrum.hankel_sv >= 0)
        assert np.all(np.diff(spectrum.hankel_sv) <= 0)
        # For an LTI core d y_t / d x_{t-k} is the kernel K_k at every t: the Jacobian G[k] and the spectrum's
        # ||K_k||_F (from the realised system) are two computations of the same numbers.
        np.testing.assert_allclose(result.norms, spectrum.kernel_norms, rtol=1e-8)
    else:
        assert spectrum is None
    if name in INPUT_DEPENDENT:
        assert decays.ndim == 1 and decays.size >= T * B * H and np.all((decays > 0) & (decays < 1))
    else:
        assert decays is None


def test_stack_diagnostics():
    # The stack's horizon is that of its whole input-to-output map, its state the concatenated layer carries, its
    # spectra one per layer (a stack of Mamba layers: test_diagnostics_report.py).
    core = make_stack("s5", H, n_layers=2, state_size=4)
    xs = jax.random.normal(jax.random.key(7), (T, B, H))
    params = jax.jit(core.init)(jax.random.key(8), core.initialize_carry(B), xs, jnp.zeros((T, B), bool))
    result = memory_horizon(core, params, xs, max_lag=K)
    assert np.all(np.isfinite(result.norms)) and result.norms[0] > 0
    assert state_use(core, params, xs).state_dim == 2 * 8  # per layer 4 complex modes = 8 real features
    assert lti_spectrum(core, params) is None
    spectra = layer_spectra(core, params, lags=16)
    assert len(spectra) == 2 and all(s is not None for s in spectra)
    # Each layer's own parameters: the two layers' spectra differ (different B, C, steps).
    assert not np.allclose(spectra[0].kernel_norms, spectra[1].kernel_norms)
