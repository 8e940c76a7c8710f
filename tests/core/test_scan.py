"""The shared reset scan against a slow loop, with and without segments, time-varying decays and carry-in."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core.scan import reset_scan, reset_step

pytestmark = pytest.mark.usefixtures("float64")


def _loop(a, b, is_first, h0):
    h, out = np.asarray(h0), []
    for t in range(b.shape[0]):
        h = np.where(is_first[t][:, None], 0.0, a[t] * h) + b[t]  # reset *before* consuming input t
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("schedule", ["associative", "sequential"])
@pytest.mark.parametrize("segment", [None, 4, 2])
def test_reset_scan_matches_loop(segment, schedule):
    t, b, p = 12, 3, 5
    k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
    a = jax.random.uniform(k1, (t, b, p)) * jnp.exp(1j * jax.random.normal(k2, (t, b, p)))  # time-varying
    bb = jax.random.normal(k3, (t, b, p)) + 0j
    h0 = jax.random.normal(k4, (b, p)) + 2.0j  # non-zero carry-in
    is_first = np.zeros((t, b), bool)
    is_first[[0, 5, 6], 0] = True
    is_first[t - 1, 1] = True
    hs = reset_scan(a, bb, jnp.asarray(is_first), h0, segment=segment, schedule=schedule)
    np.testing.assert_allclose(hs, _loop(np.asarray(a), np.asarray(bb), is_first, h0), atol=1e-12)


@pytest.mark.parametrize("schedule", ["associative", "sequential"])
@pytest.mark.parametrize("length", [1, 2, 7, 17])
def test_time_invariant_decay_any_length(length, schedule):
    k1, k2, k3 = jax.random.split(jax.random.key(length), 3)
    a = jax.random.uniform(k1, (3,))  # one decay per state, shared over time and batch
    b = jax.random.normal(k2, (length, 2, 3))
    is_first = np.asarray(jax.random.bernoulli(k3, 0.2, (length, 2)))
    h0 = jnp.ones((2, 3))
    hs = reset_scan(a, b, jnp.asarray(is_first), h0, schedule=schedule)
    a_full = np.broadcast_to(np.asarray(a), b.shape)
    np.testing.assert_allclose(hs, _loop(a_full, np.asarray(b), is_first, h0), atol=1e-12)


def test_hand_example():
    # a = 0.5, b = 1, h_-1 = 4, reset at t = 2:  h0 = 0.5*4+1 = 3, h1 = 0.5*3+1 = 2.5, h2 = 1 (reset), h3 = 1.5
    a = jnp.full((4, 1, 1), 0.5)
    b = jnp.ones((4, 1, 1))
    hs = reset_scan(a, b, jnp.array([[False], [False], [True], [False]]), jnp.full((1, 1), 4.0))
    np.testing.assert_allclose(hs[:, 0, 0], [3.0, 2.5, 1.0, 1.5])
    h = jnp.full((1, 1), 4.0)
    for t, flag in enumerate([False, False, True, False]):
        h = reset_step(a[t], b[t], jnp.array([flag]), h)
        np.testing.assert_allclose(h[0, 0], hs[t, 0, 0])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="is_first"):
        reset_scan(jnp.ones(3), jnp.ones((4, 2, 3)), jnp.zeros((4, 3), bool), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="segment"):
        reset_scan(jnp.ones(3), jnp.ones((5, 2, 3)), jnp.zeros((5, 2), bool), jnp.zeros((2, 3)), segment=2,
                   schedule="associative")
    with pytest.raises(ValueError, match="schedule"):
        reset_scan(jnp.ones(3), jnp.ones((5, 2, 3)), jnp.zeros((5, 2), bool), jnp.zeros((2, 3)), schedule="fft")
