"""HOPE: the FFT kernel against the all-pass cascade (step form) and hand calculations, causality of the
convolution mode, convolution == scan with a carry-in, and reset == fresh start."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core import make_core, step_loop

H, N, T = 3, 4, 16


def _core(mode="auto", **kw):
    return make_core("hope", H, state_size=N, dtype=jnp.float64, mode=mode, **kw)


def _params(core, log_step=None):
    params = core.init(jax.random.key(0), method=lambda m: m.pole())  # setup only: no trace of __call__
    if log_step is not None:
        params["params"]["log_step"] = jnp.full((H,), log_step, jnp.float64)
    return params


def _kernel(core, params, length=T):
    return np.asarray(jax.jit(lambda p: core.apply(p, length, method=lambda m, n: m.kernel(n)))(params))


def test_kernel_by_hand():
    with jax.enable_x64(True):
        core = _core()
        # dt = 1: p = 0 and phi(z) = z^-1, so H(z) - D = sum_j h_j z^-j: the kernel is [0, h_1, ..., h_n, 0, ...].
        params = _params(core, log_step=0.0)
        h = np.asarray(params["params"]["h"])
        expected = np.zeros((H, T))
        expected[:, 1 : N + 1] = h
        np.testing.assert_allclose(_kernel(core, params), expected, atol=1e-13)
        # dt = 1/2: p = (1 - 1/2) / (1 + 1/2) = 1/3. With h = e_1 the kernel is the impulse response of phi,
        # (z^-1 - p) sum_k p^k z^-k = -p + sum_{k>=1} (1 - p^2) p^(k-1) z^-k.
        params = _params(core, log_step=np.log(0.5))
        params["params"]["h"] = jnp.zeros((H, N)).at[:, 0].set(1.0)
        p = 1.0 / 3.0
        expected = np.concatenate([[-p], (1 - p**2) * p ** np.arange(T - 1)])
        np.testing.assert_allclose(_kernel(core, params), np.tile(expected, (H, 1)), atol=1e-13)


def test_kernel_equals_cascade_step_form():
    with jax.enable_x64(True):
        core = _core()
        params = _params(core, log_step=np.log(0.05))  # p ~ 0.9: a long tail, heavy aliasing if not removed
        impulse = jnp.zeros((T, 1, H)).at[0].set(1.0)
        _, ys, _ = step_loop(core, params, core.initialize_carry(1), impulse, jnp.zeros((T, 1), bool))
        expected = (ys[:, 0] - params["params"]["D"] * impulse[:, 0]).T  # the cascade's impulse response
        assert np.max(np.abs(expected[:, T // 2 :])) > 1e-2  # the response has not died out within T
        np.testing.assert_allclose(_kernel(core, params), expected, atol=1e-10, rtol=0)
        # Sanity of the frequency form: irfft of 2T raw samples of H aliases the tail into the first taps.
        z = jnp.exp(2j * jnp.pi * jnp.arange(T + 1) / (2 * T))
        raw = core.apply(params, z, method=lambda m, zz: m.transfer(zz)) - params["params"]["D"][:, None]
        aliased = np.fft.irfft(np.asarray(raw), n=2 * T, axis=-1)[:, :T]
        assert np.max(np.abs(aliased - expected)) > 1e-4


def test_conv_mode_is_causal_and_equals_scan():
    with jax.enable_x64(True):
        batch = 2
        conv, scan = _core("conv"), _core("scan")
        params = _params(conv, log_step=np.log(0.1))
        xs = jax.random.normal(jax.random.key(1), (T, batch, H), jnp.float64)
        is_first = jnp.zeros((T, batch), bool).at[0, 1].set(True)
        carry = jax.random.normal(jax.random.key(2), conv.initialize_carry(batch).shape, jnp.float64)
        run = jax.jit(conv.apply)
        final_c, ys = run(params, carry, xs, is_first)
        final_s, ys_s = jax.jit(scan.apply)(params, carry, xs, is_first)
        np.testing.assert_allclose(ys, ys_s, atol=1e-10, rtol=0)
        np.testing.assert_allclose(final_c, final_s, atol=1e-10, rtol=0)
        # Causality: changing inputs after t leaves outputs up to t unchanged (a circular length-T FFT would not).
        t = 5
        _, ys_changed = run(params, carry, xs.at[t + 1 :].add(10.0), is_first)
        np.testing.assert_allclose(ys_changed[: t + 1], ys[: t + 1], atol=1e-12, rtol=0)
        assert float(jnp.max(jnp.abs(ys_changed[t + 1 :] - ys[t + 1 :]))) > 1e-3


def test_reset_equals_fresh_start():
    k = 3  # (resets at t = 1, 4, T - 1 are also covered by tests/core/test_invariants.py)
    with jax.enable_x64(True):
        batch = 2
        core = _core()
        params = _params(core)
        xs = jax.random.normal(jax.random.key(3), (T, batch, H), jnp.float64)
        carry = jax.random.normal(jax.random.key(4), core.initialize_carry(batch).shape, jnp.float64)
        is_first = jnp.zeros((T, batch), bool).at[k].set(True)
        _, ys = core.apply(params, carry, xs, is_first)
        _, ys_fresh = core.apply(params, core.initialize_carry(batch), xs[k:], is_first[k:])
        np.testing.assert_allclose(ys[k:], ys_fresh, atol=1e-12, rtol=0)
