"""S4: HiPPO-LegS DPLR reconstruction, the Cauchy + Woodbury kernel against an unrolled recurrence of the real
LegS system (numpy, float64), and the convolution mode against the exact recurrence."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import hippo, make_core

H, N = 2, 8


def _full_basis(n):
    lam, p, b, v = hippo.hippo_legs_dplr(n)
    full = lambda z: np.concatenate([z, np.conj(z)], axis=-1)
    return full(lam), full(p), full(b), full(v)


def test_hippo_legs_by_hand():
    # A[i, k] = -sqrt(2i+1) sqrt(2k+1) below the diagonal, -(i+1) on it: for n = 3
    expected = -np.array([[1, 0, 0], [np.sqrt(3), 2, 0], [np.sqrt(5), np.sqrt(15), 3]])
    np.testing.assert_allclose(hippo.hippo_legs(3), expected, atol=1e-14)


@pytest.mark.parametrize("n", [2, 8, 32])
def test_dplr_reconstructs_legs(n):
    lam, p, b, v = _full_basis(n)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(n), atol=1e-12)  # [V, conj V] is unitary
    a = v @ (np.diag(lam) - np.outer(p, p.conj())) @ v.conj().T
    np.testing.assert_allclose(a, hippo.hippo_legs(n), atol=1e-11 * n)
    np.testing.assert_allclose(v @ b, np.sqrt(2 * np.arange(n) + 1.0), atol=1e-12 * n)
    assert np.all(lam.real == -0.5)  # the normal part has constant diagonal -1/2


def _legs_kernel(c_real, steps, length):
    """Slow reference: K_l = c A_bar^l B_bar for the real LegS system, bilinear, one step per channel."""
    a, b = hippo.hippo_legs(N), np.sqrt(2 * np.arange(N) + 1.0)
    out = np.zeros((len(steps), length))
    for h, dt in enumerate(steps):
        lhs = np.eye(N) - dt / 2 * a
        a_bar, x = np.linalg.solve(lhs, np.eye(N) + dt / 2 * a), np.linalg.solve(lhs, dt * b)
        for lag in range(length):
            out[h, lag] = c_real[h] @ x
            x = a_bar @ x
    return out


@pytest.mark.parametrize("length", [15, 16])  # odd and even: w = -1 is a sample point only for even L
def test_kernel_equals_unrolled_recurrence(length):
    with jax.enable_x64(True):
        core = make_core("s4", H, state_size=N, dtype=jnp.float64, dt_min=0.05, dt_max=0.5)
        params = core.init(jax.random.key(0), method=lambda m: m.dplr())
        kernel = np.asarray(jax.jit(lambda p: core.apply(p, length, method=lambda m, n: m.kernel(n)))(params))
        _, _, _, c, step = core.apply(params, method=lambda m: m.dplr())
        _, _, _, v = _full_basis(N)
        c_real = np.asarray(c) @ v.conj().T  # output map of the real LegS state
        np.testing.assert_allclose(np.imag(c_real), 0.0, atol=1e-12)
        expected = _legs_kernel(np.real(c_real), np.asarray(step), length)
        assert np.max(np.abs(kernel)) > 1e-2
        np.testing.assert_allclose(kernel, expected, atol=1e-10, rtol=0)


def test_conv_mode_equals_recurrence():
    with jax.enable_x64(True):
        length, batch = 12, 3
        conv = make_core("s4", H, state_size=N, dtype=jnp.float64, dt_min=0.05, dt_max=0.5, mode="conv")
        scan = make_core("s4", H, state_size=N, dtype=jnp.float64, dt_min=0.05, dt_max=0.5, mode="scan")
        k_x, k_re, k_im = jax.random.split(jax.random.key(1), 3)
        xs = jax.random.normal(k_x, (length, batch, H), jnp.float64)
        is_first = jnp.zeros((length, batch), bool).at[0, 1].set(True)  # a reset at t=0 only
        carry0 = conv.initialize_carry(batch)
        carry = jax.random.normal(k_re, carry0.shape) + 1j * jax.random.normal(k_im, carry0.shape)
        params = conv.init(jax.random.key(0), method=lambda m: m.dplr())  # setup only
        final_c, ys_c = jax.jit(conv.apply)(params, carry, xs, is_first)
        final_s, ys_s = jax.jit(scan.apply)(params, carry, xs, is_first)
        assert float(jnp.max(jnp.abs(ys_s))) > 1e-2
        np.testing.assert_allclose(ys_c, ys_s, atol=1e-10, rtol=0)
        np.testing.assert_allclose(final_c, final_s, atol=1e-10, rtol=0)


def test_bilinear_discretisation_matches_dense_solve():
    # A_bar = (I - dt/2 A)^{-1} (I + dt/2 A), B_bar = (I - dt/2 A)^{-1} dt B, computed densely in numpy.
    with jax.enable_x64(True):
        core = make_core("s4", 3, state_size=8, dtype=jnp.float64)
        params = core.init(jax.random.key(0), core.initialize_carry(1), jnp.zeros((2, 1, 3)), jnp.zeros((2, 1), bool))
        lam, p, b, _, step = (np.asarray(z) for z in core.apply(params, method="dplr"))
        a_bar, b_bar, _, _ = (np.asarray(z) for z in core.apply(params, method="discrete"))
        a = np.diag(lam) - np.outer(p, p.conj())
        for h in range(3):
            lhs = np.eye(8) - step[h] / 2 * a
            np.testing.assert_allclose(a_bar[h], np.linalg.solve(lhs, np.eye(8) + step[h] / 2 * a), atol=1e-12)
            np.testing.assert_allclose(b_bar[h], np.linalg.solve(lhs, step[h] * b[h]), atol=1e-12)


@pytest.mark.slow
def test_two_layer_stack_in_convolution_mode_completes():
    """Regression: with a LAPACK solve in the discretisation, a 2-layer S4 stack in conv mode hung on jax 0.10's CPU
    runtime. Run in a subprocess so a hang fails the test instead of stalling the suite."""
    code = (
        "import jax, jax.numpy as jnp\n"
        "from ssmrl.core import make_stack\n"
        "s = make_stack('s4', 64, n_layers=2, mode='conv')\n"
        "xs = jnp.ones((64, 16, 64)); f = jnp.zeros((64, 16), bool).at[0].set(True)\n"
        "c = s.initialize_carry(16); p = s.init(jax.random.key(0), c, xs[:2], f[:2])\n"
        "print(jax.block_until_ready(jax.jit(s.apply)(p, c, xs, f)[1]).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(64, 16, 64)" in out.stdout
