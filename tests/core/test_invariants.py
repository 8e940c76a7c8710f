"""The core contract (the module docstring of ``ssmrl.core.base``: one interface, carries, reset semantics; the
invariants listed in README.md, "Sequence cores"), checked for every registered core and for a residual stack.

Parametrized over ``available_cores()``: a core added to the registry is covered without editing this file.
Expected values come from the slow reference form, a ``lax.scan`` of ``step`` (``ssmrl.core.step_loop``), and
from running the core on a suffix from a fresh carry. Everything runs in float64 (``jax.enable_x64``) so the
parallel and sequential forms must agree to ~1e-10; a float32 check uses a magnitude-scaled tolerance.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmrl.core import available_cores, make_core, make_stack, step_loop

T, B, H = 8, 6, 4
CASES = available_cores() + ["stack:s5", "stack:gru", "smr:s5"]


def _make(case: str, dtype=jnp.float64):
    if case.startswith("stack:"):
        return make_stack(case.split(":")[1], H, n_layers=2, dtype=dtype)
    if case.startswith("smr:"):
        return make_core(case.split(":")[1], H, dtype=dtype, smr=True, smr_memory=3)
    return make_core(case, H, dtype=dtype)


def _masks() -> dict[str, np.ndarray]:
    """Reset patterns, one per batch column, so a single compile covers them all."""
    mixed = np.zeros((T, B), bool)
    mixed[0, 1] = True  # reset at t=0
    mixed[[2, 3], 2] = True  # adjacent resets
    mixed[T - 1, 3] = True  # reset at the last step
    mixed[:, 4] = True  # every step a reset
    mixed[[1, 5], 5] = True  # scattered; column 0 has none
    no_inner = np.zeros((T, B), bool)
    no_inner[0, ::2] = True  # resets only at t=0 (lets convolution paths run)
    return {"mixed": mixed, "no_inner": no_inner}


MASKS = _masks()


pytestmark = pytest.mark.usefixtures("float64")


@functools.cache
def _setup(case: str):
    """Core, params, a non-zero carry-in reached by running on a warm-up sequence, and jitted forms."""
    with jax.enable_x64(True):
        core = _make(case)
        key_init, key_x, key_warm = jax.random.split(jax.random.key(0), 3)
        xs = jax.random.normal(key_x, (T, B, H), jnp.float64)
        carry0 = core.initialize_carry(B)
        params = jax.jit(core.init)(key_init, carry0, xs, jnp.zeros((T, B), bool))  # jitted: one compile, not one
        warm = jax.random.normal(key_warm, (T, B, H), jnp.float64)  # per eager operation
        carry_in, _ = jax.jit(core.apply)(params, carry0, warm, jnp.zeros((T, B), bool))
        parallel = jax.jit(functools.partial(core.apply, return_carries=True))
        sequential = jax.jit(functools.partial(step_loop, core))
        return core, params, xs, carry0, carry_in, parallel, sequential


def _max_err(a, b) -> float:
    """Largest absolute difference over all leaves (on the host: numpy compiles nothing)."""
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    errs = [float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) if x.size else 0.0
            for x, y in zip(leaves_a, leaves_b, strict=True)]
    return max(errs, default=0.0)


def _scale(tree) -> float:
    return max([float(np.max(np.abs(np.asarray(x)))) for x in jax.tree.leaves(tree) if x.size] + [1.0])


@pytest.mark.parametrize("mask", sorted(MASKS))
@pytest.mark.parametrize("carry_kind", ["initial", "warm"])
@pytest.mark.parametrize("case", CASES)
def test_scan_equals_step(case, mask, carry_kind):
    core, params, xs, carry0, carry_in, parallel, sequential = _setup(case)
    carry = carry0 if carry_kind == "initial" else carry_in
    is_first = jnp.asarray(MASKS[mask])
    out_par = parallel(params, carry, xs, is_first)
    out_seq = sequential(params, carry, xs, is_first)
    # Outputs, the final carry and every intermediate carry agree.
    for part, a, b in zip(("final carry", "outputs", "carries"), out_par, out_seq, strict=True):
        assert _max_err(a, b) <= 1e-9 * _scale(b), f"{case}: {part} differ ({mask}, {carry_kind} carry-in)"


@given(flags=st.lists(st.booleans(), min_size=T * B, max_size=T * B))
@settings(max_examples=8, deadline=None)
@pytest.mark.parametrize("case", CASES)
def test_scan_equals_step_random_resets(case, flags):
    core, params, xs, _, carry_in, parallel, sequential = _setup(case)
    is_first = jnp.asarray(np.array(flags).reshape(T, B))
    out_par = parallel(params, carry_in, xs, is_first)
    out_seq = sequential(params, carry_in, xs, is_first)
    assert _max_err(out_par, out_seq) <= 1e-9 * _scale(out_seq)


@pytest.mark.parametrize("k", [1, 4, T - 1])
@pytest.mark.parametrize("case", CASES)
def test_reset_equals_fresh_start(case, k):
    core, params, xs, carry0, carry_in, parallel, _ = _setup(case)
    is_first = jnp.zeros((T, B), bool).at[k].set(True)
    _, ys, _ = parallel(params, carry_in, xs, is_first)
    fresh = core.initialize_carry(B)
    _, ys_fresh = jax.jit(core.apply)(params, fresh, xs[k:], is_first[k:])
    assert _max_err(ys[k:], ys_fresh) <= 1e-9 * _scale(ys_fresh)


@pytest.mark.parametrize("case", CASES)
def test_batch_independence(case):
    core, params, xs, _, carry_in, parallel, _ = _setup(case)
    is_first = jnp.asarray(MASKS["mixed"])
    _, ys, _ = parallel(params, carry_in, xs, is_first)
    xs_changed = xs.at[:, 0].set(xs[:, 0] * -3.0 + 1.0)
    _, ys_changed, _ = parallel(params, carry_in, xs_changed, is_first)
    assert float(jnp.max(jnp.abs(ys_changed[:, 0] - ys[:, 0]))) > 1e-6, "element 0 should change"
    assert _max_err(ys_changed[:, 1:], ys[:, 1:]) <= 1e-12 * _scale(ys)


@pytest.mark.parametrize("case", CASES)
def test_carry_keeps_dtype_and_shape(case):
    core, params, xs, carry0, carry_in, parallel, _ = _setup(case)
    spec = lambda tree: jax.tree.map(lambda x: (x.shape, x.dtype), tree)
    assert spec(carry_in) == spec(carry0)
    is_first = jnp.asarray(MASKS["mixed"])
    carry_out, ys, cs = parallel(params, carry0, xs, is_first)
    assert spec(carry_out) == spec(carry0)
    assert ys.shape == (T, B, H) and ys.dtype == jnp.float64
    assert jax.tree.map(lambda c: c.shape[1:], cs) == jax.tree.map(jnp.shape, carry0)
    carry_step, y = jax.jit(functools.partial(core.apply, method="step"))(params, carry0, xs[0], is_first[0])
    assert spec(carry_step) == spec(carry0) and y.shape == (B, H)


@pytest.mark.parametrize("case", CASES)
def test_jit_and_vmap_over_seeds(case):
    core = _make(case, jnp.float32)
    xs = jax.random.normal(jax.random.key(1), (T, B, H))
    is_first = jnp.asarray(MASKS["mixed"])
    carry = core.initialize_carry(B)
    keys = jax.random.split(jax.random.key(2), 2)
    init = lambda k: core.init(k, carry, xs, is_first)
    single = lambda k: core.apply(init(k), carry, xs, is_first)[1]
    ys = jax.jit(jax.vmap(single))(keys)  # a seed axis over keys (init and apply)
    assert ys.shape == (2, T, B, H) and ys.dtype == jnp.float32
    single_jit = jax.jit(single)
    for i in range(2):
        assert _max_err(ys[i], single_jit(keys[i])) <= 1e-5 * _scale(ys[i])
    # float32: the step loop agrees to a tolerance scaled by output magnitude.
    ys_seq = jax.jit(lambda k: step_loop(core, init(k), carry, xs, is_first)[1])(keys[0])
    assert _max_err(ys[0], ys_seq) <= 1e-4 * _scale(ys_seq)


@pytest.mark.parametrize("case", CASES)
def test_gradients_finite_and_equal_in_both_modes(case):
    core, params, xs, _, carry_in, _, _ = _setup(case)
    is_first = jnp.asarray(MASKS["mixed"])
    target = jnp.sin(jnp.arange(T * B * H, dtype=jnp.float64)).reshape(T, B, H)

    def loss_parallel(p):
        _, ys = core.apply(p, carry_in, xs, is_first)
        return jnp.mean((ys - target) ** 2)

    def loss_sequential(p):
        _, ys, _ = step_loop(core, p, carry_in, xs, is_first)
        return jnp.mean((ys - target) ** 2)

    g_par = jax.jit(jax.grad(loss_parallel))(params)
    g_seq = jax.jit(jax.grad(loss_sequential))(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(g_par))
    assert _max_err(g_par, g_seq) <= 1e-8 * _scale(g_seq)
