"""SMR (State Memory Replay) wrapper: a hand-computed example, reset masking, and wrapping s5 and gru."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import core_options, make_core, make_stack, step_loop
from ssmrl.core.smr import SMR, SMRCarry

T, B, H = 6, 3, 4


pytestmark = pytest.mark.usefixtures("float64")


def test_hand_computed_example():
    # m = 2, one channel, identity inner core, w = [1, 2] (lag 0, lag 1), b = 0.5, so
    # u'_t = u_t * (1 * u_t + 2 * u_{t-1} + 0.5), with u_{t-1} = 0 at an episode start.
    # Inputs 1, 2, 3, 4 with a reset at t = 2 and a carry-in buffer holding the previous input 5:
    #   t=0: 1 * (1 + 2*5 + 0.5) = 11.5
    #   t=1: 2 * (2 + 2*1 + 0.5) =  9.0
    #   t=2: 3 * (3 + 2*0 + 0.5) = 10.5    (reset: the 2 before the episode start is masked out)
    #   t=3: 4 * (4 + 2*3 + 0.5) = 42.0
    # and the buffer after t=3 holds the last input, 4.
    core = make_core("identity", 1, dtype=jnp.float64, smr=True, smr_memory=2)
    params = {"params": {"memory_w": jnp.array([[1.0], [2.0]]), "memory_b": jnp.array([0.5])}}
    xs = jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(4, 1, 1)
    is_first = jnp.array([False, False, True, False]).reshape(4, 1)
    carry = SMRCarry(jnp.full((1, 1, 1), 5.0), ())
    expected = np.array([11.5, 9.0, 10.5, 42.0]).reshape(4, 1, 1)
    carry_out, ys = core.apply(params, carry, xs, is_first)
    np.testing.assert_allclose(np.asarray(ys), expected, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(carry_out.buffer), [[[4.0]]])
    carry_seq, ys_seq, _ = step_loop(core, params, carry, xs, is_first)
    np.testing.assert_allclose(np.asarray(ys_seq), expected, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(carry_seq.buffer), [[[4.0]]])


@functools.cache
def _setup(name: str):
    with jax.enable_x64(True):
        core = make_core(name, H, dtype=jnp.float64, smr=True, smr_memory=3)
        key_init, key_x, key_warm = jax.random.split(jax.random.key(0), 3)
        xs = jax.random.normal(key_x, (T, B, H), jnp.float64)
        params = jax.jit(core.init)(key_init, core.initialize_carry(B), xs, jnp.zeros((T, B), bool))
        params = jax.tree.map(lambda p: p * 3.0 if p.ndim == 2 and p.shape[0] == 3 else p, params)  # a strong memory
        warm = jax.random.normal(key_warm, (T, B, H), jnp.float64)
        parallel = jax.jit(functools.partial(core.apply, return_carries=True))
        carry_in, _, _ = parallel(params, core.initialize_carry(B), warm, jnp.zeros((T, B), bool))
        return core, params, xs, carry_in, parallel


@pytest.mark.parametrize("name", ["s5", "gru"])
def test_wraps_core_scan_equals_step(name):
    core, params, xs, carry_in, parallel = _setup(name)
    assert isinstance(core, SMR)
    is_first = jnp.zeros((T, B), bool).at[0, 1].set(True).at[[2, 3], 2].set(True).at[T - 1, 0].set(True)
    out_par = parallel(params, carry_in, xs, is_first)
    out_seq = jax.jit(functools.partial(step_loop, core))(params, carry_in, xs, is_first)
    for a, b in zip(jax.tree.leaves(out_par), jax.tree.leaves(out_seq), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["s5", "gru"])
def test_reset_masks_the_memory(name):
    """Garbage before a reset (in the inputs and in the carried buffer) does not reach the outputs after it."""
    core, params, xs, carry_in, parallel = _setup(name)
    k = 2
    is_first = jnp.zeros((T, B), bool).at[k].set(True)
    garbage = xs.at[:k].set(100.0)
    carry_in = carry_in._replace(buffer=carry_in.buffer + 50.0)
    _, ys, _ = parallel(params, carry_in, garbage, is_first)
    _, fresh, _ = parallel(params, core.initialize_carry(B), xs[k:], is_first[k:])
    np.testing.assert_allclose(np.asarray(ys[k:]), np.asarray(fresh), rtol=1e-12, atol=1e-12)
    # Without the reset the memory does reach across: the test above is not vacuous.
    _, leaky, _ = parallel(params, carry_in, garbage, jnp.zeros((T, B), bool))
    assert float(jnp.max(jnp.abs(leaky[k] - fresh[0]))) > 1e-3


def test_options_through_make_core_and_make_stack():
    assert core_options("gru")["smr"] is False and "smr_memory" in core_options("s5")
    assert not isinstance(make_core("gru", H, smr=False, smr_memory=5), SMR)
    stack = make_stack("gru", H, n_layers=2, smr=True, smr_memory=2)
    carry = stack.initialize_carry(B)
    assert all(isinstance(c, SMRCarry) and c.buffer.shape == (B, 1, H) for c in carry)
    xs = jnp.ones((2, B, H))
    params = jax.eval_shape(stack.init, jax.random.key(0), carry, xs, jnp.zeros((2, B), bool))
    assert "memory_w" in params["params"]["cores_0"]
    with pytest.raises(ValueError, match="smr_memory must be an int >= 1"):
        make_core("s5", H, smr=True, smr_memory=0)
    with pytest.raises(ValueError, match="smr must be true or false"):
        make_core("s5", H, smr="yes")
    with pytest.raises(ValueError, match="valid options: .*smr_memory"):
        make_core("s5", H, smr_mem=3)
