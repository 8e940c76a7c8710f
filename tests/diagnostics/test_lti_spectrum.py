"""LTI spectra (``ssmrl.diagnostics.spectrum``): realised kernels against the cores' own step form, Hankel
singular values by hand and against the SVD of a long finite Hankel matrix (the slow reference)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import make_core, step_loop
from ssmrl.diagnostics import LinearSystem, hankel_singular_values, lti_spectrum, markov_parameters, realisation

H = 2
# Small, fast-decaying systems (|eigenvalues| <= ~0.8), so 121 kernel taps hold the whole impulse response.
FAST = {
    "s5": {"state_size": 2, "dt_min": 0.5, "dt_max": 0.5},
    "lru": {"state_size": 2, "r_min": 0.5, "r_max": 0.8},
    "s4d": {"state_size": 4, "dt_min": 0.5, "dt_max": 0.5},
    "s4": {"state_size": 4, "dt_min": 0.5, "dt_max": 0.5},
    "hope": {"state_size": 3, "dt_min": 0.5, "dt_max": 0.5},
}


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _core(name):
    core = make_core(name, H, dtype=jnp.float64, **FAST[name])
    xs = jnp.zeros((4, 1, H), jnp.float64)
    params = jax.jit(core.init)(jax.random.key(7), core.initialize_carry(1), xs, jnp.zeros((4, 1), bool))
    if "D" in params["params"]:  # a non-trivial feedthrough for the lag-0 check
        params["params"]["D"] = jnp.array([0.3, -0.7])
    return core, params


def _impulse_response(core, params, taps: int) -> np.ndarray:
    """K [taps, H_out, H_in] from the core's step form: batch column j gets a unit impulse on channel j at t = 0."""
    xs = jnp.zeros((taps, H, H), jnp.float64).at[0].set(jnp.eye(H))
    is_first = jnp.zeros((taps, H), bool).at[0].set(True)
    _, ys, _ = step_loop(core, params, core.initialize_carry(H), xs, is_first)
    return np.asarray(ys).transpose(0, 2, 1)


def _as_mimo(kernel: np.ndarray) -> np.ndarray:
    """[L, G, p, m] -> [L, H, H] (a per-channel kernel as a diagonal MIMO kernel)."""
    if kernel.shape[1] == 1:
        return kernel[:, 0]
    return np.einsum("lg,gh->lgh", kernel[:, :, 0, 0], np.eye(kernel.shape[1]))


@pytest.mark.parametrize("name", sorted(FAST))
def test_realised_kernel_equals_impulse_response(x64, name):
    core, params = _core(name)
    system = realisation(core.bind(params))
    reference = _impulse_response(core, params, 20)
    np.testing.assert_allclose(_as_mimo(markov_parameters(system, 20)), reference, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FAST))
def test_hankel_singular_values_match_finite_hankel_svd(x64, name):
    core, params = _core(name)
    spectrum = lti_spectrum(core, params, lags=8)
    # Reference: the block Hankel matrix [K_{i+j+1}], i, j < 60, of the impulse response from the step form; the
    # response has decayed below ~1e-12 by lag 121, so its singular values are the Hankel singular values.
    kernel = _impulse_response(core, params, 121)
    blocks = 60
    hankel = np.block([[kernel[i + j + 1] for j in range(blocks)] for i in range(blocks)])
    reference = np.linalg.svd(hankel, compute_uv=False)
    keep = reference > 1e-6 * reference[0]
    np.testing.assert_allclose(spectrum.hankel_sv[: keep.sum()], reference[keep], rtol=1e-6)
    assert np.all(spectrum.hankel_sv[keep.sum():] < 1e-6 * reference[0])  # the rest: zeros of the realisation


def test_single_mode_spectrum_by_hand(x64):
    # LRU, H = 1, one real mode a = 0.9, B = C = 1, D = 0: y_t = sum_k gamma a^k u_{t-k}, gamma = sqrt(1 - a^2).
    # As a first-order system, h_k = (gamma a) a^(k-1) for k >= 1, its one Hankel singular value is
    # |gamma a| / (1 - a^2) = a / sqrt(1 - a^2) = 0.9 / sqrt(0.19) = 2.06474; the conjugate copy adds a 0.
    core = make_core("lru", 1, state_size=1, dtype=jnp.float64)
    params = {"params": {"nu_log": jnp.array([math.log(-math.log(0.9))]), "theta_log": jnp.array([-1e3]),
                         "B": jnp.array([[[1.0, 0.0]]]), "C": jnp.array([[[1.0, 0.0]]]), "D": jnp.array([0.0])}}
    spectrum = lti_spectrum(core, params, lags=64)
    np.testing.assert_allclose(spectrum.hankel_sv, [0.9 / math.sqrt(0.19), 0.0], atol=1e-9)
    assert spectrum.max_decay == pytest.approx(0.9, rel=1e-12)
    assert spectrum.decay_horizon == 44  # ceil(log(0.01) / log(0.9)) = ceil(43.71)
    assert spectrum.kernel_horizon.horizon == 44  # the kernel is gamma 0.9^k: the same exponential
    np.testing.assert_allclose(spectrum.kernel_norms, math.sqrt(0.19) * 0.9 ** np.arange(64), rtol=1e-12)


def test_dense_and_diagonal_paths_agree_and_unstable_is_nan():
    rng = np.random.default_rng(0)
    a = np.array([[0.7 + 0.2j, -0.4, 0.95]])
    b, c = rng.normal(size=(1, 3, 2)), rng.normal(size=(1, 2, 3))
    d = np.zeros((1, 2, 2))
    diagonal = LinearSystem(a, b, c, d, a)
    dense = LinearSystem(np.diag(a[0])[None], b, c, d, a)  # the same system through the Lyapunov solver
    np.testing.assert_allclose(hankel_singular_values(dense), hankel_singular_values(diagonal), rtol=1e-9)
    np.testing.assert_allclose(markov_parameters(dense, 10), markov_parameters(diagonal, 10), atol=1e-12)
    unstable = LinearSystem(np.array([[1.1, 0.5]]), b[:, :2], c[:, :, :2], d, np.array([[1.1, 0.5]]))
    assert np.all(np.isnan(hankel_singular_values(unstable)))


def test_smr_wrapped_core_reports_its_ssm():
    core = make_core("s5", 4, state_size=2, smr=True)
    xs = jnp.zeros((3, 1, 4))
    params = jax.jit(core.init)(jax.random.key(0), core.initialize_carry(1), xs, jnp.zeros((3, 1), bool))
    inner = make_core("s5", 4, state_size=2)
    spectrum = lti_spectrum(core, params, lags=8)
    expected = lti_spectrum(inner, {"params": params["params"]["inner"]}, lags=8)
    np.testing.assert_allclose(spectrum.kernel_norms, expected.kernel_norms, rtol=1e-6)
