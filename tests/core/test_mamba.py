"""Mamba (S6): the reset-masked conv1d and the time-varying-decay scan against slow references, in float64."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import make_core, shortconv

T, B, H, N, K = 7, 3, 4, 3, 3


pytestmark = pytest.mark.usefixtures("float64")


@functools.cache
def _setup():
    with jax.enable_x64(True):
        core = make_core("mamba", H, dtype=jnp.float64, state_size=N, conv_kernel=K, dt_min=0.05, dt_max=0.5)
        xs = jax.random.normal(jax.random.key(0), (T, B, H), jnp.float64)
        params = jax.jit(core.init)(jax.random.key(1), core.initialize_carry(B), xs, jnp.zeros((T, B), bool))
        return core, params, xs, jax.jit(core.apply)


def _silu(x):
    return x / (1.0 + np.exp(-x))


def _reference(params, xs, is_first, rank):
    """Slow Mamba: a Python loop over batch and time, one state update at a time, from the zero initial carry."""
    p = jax.tree.map(np.asarray, params["params"])
    w_in, w_x, w_out = p["in_proj"]["kernel"], p["x_proj"]["kernel"], p["out_proj"]["kernel"]
    a = -np.exp(p["A_log"])
    e = a.shape[0]
    ys = np.zeros(xs.shape)
    for b in range(xs.shape[1]):
        history, h = [], np.zeros_like(a)
        for t in range(xs.shape[0]):
            if is_first[t, b]:
                history, h = [], np.zeros_like(a)  # the conv sees nothing from before the episode start
            xz = xs[t, b] @ w_in
            x, z = xz[:e], xz[e:]
            history.append(x)
            conv = p["conv_b"] + sum(p["conv_w"][i] * history[-1 - i] for i in range(min(K, len(history))))
            x = _silu(conv)
            proj = x @ w_x
            dt = np.logaddexp(0.0, proj[:rank] @ p["dt_proj"]["kernel"] + p["dt_proj"]["bias"])
            b_t, c_t = proj[rank : rank + N], proj[rank + N :]
            for ch in range(e):
                for n in range(N):
                    h[ch, n] = np.exp(dt[ch] * a[ch, n]) * h[ch, n] + dt[ch] * b_t[n] * x[ch]
            y = h @ c_t + p["D"] * x
            ys[t, b] = (y * _silu(z)) @ w_out
    return ys


def test_scan_equals_python_reference_loop():
    core, params, xs, apply = _setup()
    is_first = np.zeros((T, B), bool)
    is_first[[2, 3], 1] = True  # adjacent resets
    is_first[[0, 5], 2] = True
    _, ys = apply(params, core.initialize_carry(B), xs, jnp.asarray(is_first))
    expected = _reference(params, np.asarray(xs), is_first, core.rank)
    np.testing.assert_allclose(np.asarray(ys), expected, rtol=1e-10, atol=1e-12)


def test_conv_does_not_leak_across_reset():
    """Garbage before a reset (huge inputs, a garbage carry-in) changes nothing from the reset on."""
    core, params, xs, apply = _setup()
    k = 3
    is_first = jnp.zeros((T, B), bool).at[k].set(True)
    garbage = xs.at[:k].set(1e3 * jax.random.normal(jax.random.key(2), (k, B, H)))
    carry_in = jax.tree.map(lambda c: c + 7.0, core.initialize_carry(B))
    _, ys = apply(params, carry_in, garbage, is_first)
    _, fresh = apply(params, core.initialize_carry(B), xs[k:], is_first[k:])
    np.testing.assert_allclose(np.asarray(ys[k:]), np.asarray(fresh), rtol=1e-12, atol=1e-12)


def test_short_conv_windows_match_step_and_mask():
    """windows == a loop of window_step, and every entry before the episode start is zero."""
    key_b, key_x, key_f = jax.random.split(jax.random.key(3), 3)
    buffer = jax.random.normal(key_b, (B, K - 1, 2))
    xs = jax.random.normal(key_x, (T, B, 2))
    is_first = jax.random.bernoulli(key_f, 0.3, (T, B))
    win = shortconv.windows(buffer, xs, is_first)
    buf = buffer
    for t in range(T):
        step_win = shortconv.window_step(buf, xs[t], is_first[t])
        np.testing.assert_array_equal(np.asarray(win[t]), np.asarray(step_win))
        buf = step_win[:, :-1]
        for b in range(B):
            starts = [s for s in range(t + 1) if is_first[s, b]]
            for lag in range(K):
                src = t - lag
                if starts and src < starts[-1]:
                    assert not np.any(np.asarray(win[t, b, lag])), (t, b, lag)
                elif src >= 0:
                    np.testing.assert_array_equal(np.asarray(win[t, b, lag]), np.asarray(xs[src, b]))


def test_segmented_scan_matches_and_options_are_validated():
    core, params, xs, _ = _setup()
    segmented = make_core("mamba", H, dtype=jnp.float64, state_size=N, conv_kernel=K, scan_segment=1)
    is_first = jnp.zeros((T, B), bool).at[2, 0].set(True)
    _, ys = core.apply(params, core.initialize_carry(B), xs, is_first)
    _, ys_segmented = segmented.apply(params, core.initialize_carry(B), xs, is_first)
    np.testing.assert_allclose(np.asarray(ys_segmented), np.asarray(ys), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="conv_kernel"):
        make_core("mamba", H, conv_kernel=0)
    with pytest.raises(ValueError, match="dt_min"):
        make_core("mamba", H, dt_min=0.5, dt_max=0.1)
