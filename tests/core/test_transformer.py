"""Transformer core: parallel attention == the KV-cache step loop (window shorter than the sequence, carry-in
caches, resets), no attention across episode starts, and the exact window span."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import make_core, step_loop

T, B, H, W = 10, 3, 4, 3  # window shorter than the sequence


pytestmark = pytest.mark.usefixtures("float64")


@functools.cache
def _setup():
    with jax.enable_x64(True):
        core = make_core("transformer", H, dtype=jnp.float64, n_heads=2, window=W)
        key_init, key_x, key_warm = jax.random.split(jax.random.key(0), 3)
        xs = jax.random.normal(key_x, (T, B, H), jnp.float64)
        params = jax.jit(core.init)(key_init, core.initialize_carry(B), xs, jnp.zeros((T, B), bool))
        warm = jax.random.normal(key_warm, (T, B, H), jnp.float64)
        parallel = jax.jit(functools.partial(core.apply, return_carries=True))
        carry_in, _, _ = parallel(params, core.initialize_carry(B), warm, jnp.zeros((T, B), bool))
        return core, params, xs, carry_in, parallel, jax.jit(functools.partial(step_loop, core))


def _close(a, b, tol=1e-10):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def test_scan_equals_step_loop_with_window_and_carry_in():
    core, params, xs, carry_in, parallel, sequential = _setup()
    is_first = jnp.zeros((T, B), bool).at[0, 1].set(True).at[[4, 5], 2].set(True)  # column 0: no reset
    for carry in (core.initialize_carry(B), carry_in):
        _close(parallel(params, carry, xs, is_first), sequential(params, carry, xs, is_first))


def test_split_sequence_equals_whole():
    """Running the sequence in two calls, the second from the carried cache, equals one call."""
    core, params, xs, carry_in, parallel, _ = _setup()
    is_first = jnp.zeros((T, B), bool).at[6, 1].set(True)
    carry, ys, _ = parallel(params, carry_in, xs, is_first)
    carry_a, ys_a, _ = parallel(params, carry_in, xs[:5], is_first[:5])
    carry_b, ys_b, _ = parallel(params, carry_a, xs[5:], is_first[5:])
    _close((carry, ys), (carry_b, jnp.concatenate([ys_a, ys_b])))


def test_no_attention_across_episode_start():
    core, params, xs, carry_in, parallel, _ = _setup()
    k = 5
    is_first = jnp.zeros((T, B), bool).at[k].set(True)
    _, ys, _ = parallel(params, carry_in, xs, is_first)
    changed = xs.at[:k].set(-7.0)
    _, ys_changed, _ = parallel(params, jax.tree.map(lambda c: c * 3, carry_in), changed, is_first)
    _close(ys_changed[k:], ys[k:], tol=1e-12)
    _, fresh, _ = parallel(params, core.initialize_carry(B), xs[k:], is_first[k:])
    _close(ys[k:], fresh, tol=1e-12)


def test_attention_span_is_exactly_the_window():
    """Output t depends on inputs t-W+1..t and not on t-W (no reset in between)."""
    core, params, xs, _, parallel, _ = _setup()
    carry, t = core.initialize_carry(B), 7
    is_first = jnp.zeros((T, B), bool)
    _, ys, _ = parallel(params, carry, xs, is_first)
    _, ys_out, _ = parallel(params, carry, xs.at[t - W].add(5.0), is_first)
    _, ys_in, _ = parallel(params, carry, xs.at[t - W + 1].add(5.0), is_first)
    np.testing.assert_allclose(np.asarray(ys_out[t]), np.asarray(ys[t]), rtol=1e-12, atol=1e-12)
    assert float(jnp.max(jnp.abs(ys_in[t] - ys[t]))) > 1e-6


def test_positions_count_from_episode_start_and_validation():
    core, params, xs, carry_in, parallel, _ = _setup()
    is_first = jnp.zeros((T, B), bool).at[3, 0].set(True)
    carry, _, cs = parallel(params, carry_in, xs, is_first)
    assert cs.pos.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(cs.pos[:, 0]), [T + 1, T + 2, T + 3, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(np.asarray(cs.valid[3, 0]), [0.0, 0.0, 1.0])  # only the reset step's own key
    with pytest.raises(ValueError, match="n_heads"):
        make_core("transformer", H, n_heads=3)
    with pytest.raises(ValueError, match="window"):
        make_core("transformer", H, window=0)
    with pytest.raises(ValueError, match="positions must be one of"):
        make_core("transformer", H, positions="rotary")
