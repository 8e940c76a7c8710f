"""Numerics of the first SSM cores with stated expected values (hand calculations in comments)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import hippo, make_core
from ssmrl.core.s4d import causal_conv

pytestmark = pytest.mark.usefixtures("float64")


def test_hippo_legs_n4():
    # A[i, k] = -sqrt(2i+1) sqrt(2k+1) below the diagonal, -(i+1) on it, 0 above:
    s3, s5, s7 = np.sqrt(3), np.sqrt(5), np.sqrt(7)
    expected = -np.array([
        [1.0, 0.0, 0.0, 0.0],
        [s3 * 1, 2.0, 0.0, 0.0],
        [s5 * 1, s5 * s3, 3.0, 0.0],
        [s7 * 1, s7 * s3, s7 * s5, 4.0],
    ])
    a = hippo.hippo_legs(4)
    np.testing.assert_allclose(a, expected, atol=1e-12)
    # Lower triangular, so its eigenvalues are the diagonal: -1, -2, -3, -4.
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(a).real), [-4.0, -3.0, -2.0, -1.0], atol=1e-9)


def test_hippo_normal_part_n4():
    # S = A + p p^T with p_i = sqrt(i + 1/2): diagonal -(i+1) + (i+1/2) = -1/2, and S + I/2 is skew-symmetric.
    s, p = hippo.hippo_legs_nplr(4)
    np.testing.assert_allclose(np.diag(s), -0.5 * np.ones(4), atol=1e-12)
    np.testing.assert_allclose(s + 0.5 * np.eye(4), -(s + 0.5 * np.eye(4)).T, atol=1e-12)
    lam, v = hippo.hippo_normal_eig(4)
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-12)  # every eigenvalue has real part -1/2
    np.testing.assert_allclose(np.sort(lam.imag), -np.sort(lam.imag)[::-1], atol=1e-9)  # conjugate pairs
    np.testing.assert_allclose(v @ np.diag(lam) @ v.conj().T, s, atol=1e-9)  # V unitary diagonalises S
    np.testing.assert_allclose(v.conj().T @ v, np.eye(4), atol=1e-9)


def _random_sequence(key, t, b, h):
    return jax.random.normal(key, (t, b, h), jnp.float64)


def test_s5_conjugate_symmetry_equals_full_system():
    """P stored modes with output 2 Re(C x) equal the full 2P-mode complex system (modes and conjugates)."""
    t, b, h = 12, 2, 3
    core = make_core("s5", h, state_size=4, blocks=2, dtype=jnp.float64)
    xs = _random_sequence(jax.random.key(0), t, b, h)
    is_first = jnp.zeros((t, b), bool)
    params = core.init(jax.random.key(1), core.initialize_carry(b), xs, is_first)
    _, ys = core.apply(params, core.initialize_carry(b), xs, is_first)
    lam_bar, b_bar, c, d = (np.asarray(z) for z in core.apply(params, method="system"))
    lam_full = np.concatenate([lam_bar, lam_bar.conj()])
    b_full = np.concatenate([b_bar, b_bar.conj()])
    c_full = np.concatenate([c, c.conj()], axis=1)
    state = np.zeros((b, 8), complex)
    for step in range(t):  # slow reference loop over the full 8-state system
        state = lam_full * state + np.asarray(xs[step]) @ b_full.T
        y = state @ c_full.T
        assert np.max(np.abs(y.imag)) < 1e-10  # the full system's output is real
        np.testing.assert_allclose(y.real + d * np.asarray(xs[step]), ys[step], atol=1e-10)


def test_s5_eigenvalues_stay_stable_under_arbitrary_parameters():
    core = make_core("s5", 3, state_size=8, dtype=jnp.float64)
    xs = jnp.zeros((2, 1, 3))
    params = core.init(jax.random.key(0), core.initialize_carry(1), xs, jnp.zeros((2, 1), bool))
    for i, scale in enumerate([1.0, 10.0, 1e3]):
        # Arbitrary "updates": overwrite every parameter with large random values of either sign.
        leaves, tree = jax.tree.flatten(params)
        keys = jax.random.split(jax.random.key(i), len(leaves))
        wild = [scale * jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves, strict=True)]
        wild_params = jax.tree.unflatten(tree, wild)
        lam = core.apply(wild_params, method="eigenvalues")
        assert bool(jnp.all(lam.real < 0)), f"Re(lambda) >= 0 at scale {scale}"
        if scale <= 10.0:  # exp(log_step) overflows to inf beyond this; the continuous-time claim still holds
            lam_bar = core.apply(wild_params, method="system")[0]
            assert bool(jnp.all(jnp.abs(lam_bar) <= 1.0))


@pytest.mark.parametrize("init_scheme", ["lin", "inv"])
def test_s4d_convolution_equals_scan(init_scheme):
    t, b, h = 64, 2, 3
    conv = make_core("s4d", h, state_size=8, init_scheme=init_scheme, mode="conv", dtype=jnp.float64)
    scan = make_core("s4d", h, state_size=8, init_scheme=init_scheme, mode="scan", dtype=jnp.float64)
    xs = _random_sequence(jax.random.key(0), t, b, h)
    is_first = jnp.zeros((t, b), bool).at[0, 0].set(True)  # element 0 starts fresh, element 1 has a carry-in
    params = conv.init(jax.random.key(1), conv.initialize_carry(b), xs, is_first)
    carry_in = 0.3 * jnp.ones((b, h, 4), jnp.complex128)
    carry_c, ys_c = conv.apply(params, carry_in, xs, is_first)
    carry_s, ys_s = scan.apply(params, carry_in, xs, is_first)
    np.testing.assert_allclose(ys_c, ys_s, atol=1e-10)
    np.testing.assert_allclose(carry_c, carry_s, atol=1e-10)
    # The kernel is the impulse response of the recurrence: K_l = 2 Re(sum_n C_n B_bar_n lam_bar_n^l).
    lam_dt, b_bar, c, _ = conv.apply(params, method="system")
    k_ref = 2 * np.real(np.einsum("hn,hnl->hl", c * b_bar, np.exp(lam_dt)[..., None] ** np.arange(t)))
    np.testing.assert_allclose(conv.apply(params, t, method="kernel"), k_ref, atol=1e-10)


def test_causal_conv_is_causal_and_matches_direct_sum():
    t = 16
    u = _random_sequence(jax.random.key(0), t, 1, 2)
    k = jax.random.normal(jax.random.key(1), (2, t), jnp.float64)
    y = causal_conv(u, k)
    direct = np.zeros((t, 1, 2))
    for i in range(t):  # y_i = sum_{j<=i} K_j u_{i-j}
        for j in range(i + 1):
            direct[i] += np.asarray(k[:, j]) * np.asarray(u[i - j])
    np.testing.assert_allclose(y, direct, atol=1e-10)


def test_lru_eigenvalues_on_the_ring_at_init():
    r_min, r_max = 0.4, 0.8
    core = make_core("lru", 4, state_size=256, r_min=r_min, r_max=r_max, dtype=jnp.float64)
    params = core.init(jax.random.key(0), core.initialize_carry(1), jnp.zeros((1, 1, 4)), jnp.zeros((1, 1), bool))
    mag = jnp.abs(core.apply(params, method="eigenvalues"))
    assert float(mag.min()) >= r_min - 1e-12 and float(mag.max()) <= r_max + 1e-12
    assert float(mag.max() - mag.min()) > 0.3  # spread over the ring, not collapsed


def test_invalid_options_are_named():
    with pytest.raises(ValueError, match="unknown core 'nope'.*valid cores"):
        make_core("nope", 4)
    with pytest.raises(ValueError, match="unknown option.*state_sise.*valid options"):
        make_core("s5", 4, state_sise=8)
    with pytest.raises(ValueError, match="blocks"):
        make_core("s5", 4, state_size=6, blocks=4)
    with pytest.raises(ValueError, match="r_min"):
        make_core("lru", 4, r_min=0.99, r_max=0.5)
    for name in ("s4", "s4d", "hope"):  # the one check of convolutional.py
        with pytest.raises(ValueError, match=r"mode must be one of \['auto', 'conv', 'scan'\], got 'fft'"):
            make_core(name, 4, mode="fft")
    for name in ("s5", "lru", "mamba"):
        with pytest.raises(ValueError, match="scan_segment"):
            make_core(name, 4, scan_segment=0)
