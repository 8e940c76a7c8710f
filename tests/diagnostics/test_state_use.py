"""State use (``ssmrl.diagnostics.state_use``): participation ratio of the carry covariance, by hand."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import make_core, make_stack
from ssmrl.diagnostics import carry_features, covariance_eigenvalues, participation_ratio, state_use


@pytest.mark.parametrize(
    ("eigenvalues", "expected"),
    [
        ([3.0, 1.0, 0.0, 0.0], 1.6),  # (3 + 1)^2 / (9 + 1) = 16 / 10
        ([2.0, 2.0, 2.0], 3.0),  # 36 / 12: variance spread evenly over 3 directions
        ([5.0, 0.0], 1.0),  # 25 / 25: one direction
        ([0.0, 0.0], 0.0),  # no variance at all
        ([], 0.0),
    ],
)
def test_participation_ratio_by_hand(eigenvalues, expected):
    assert participation_ratio(eigenvalues) == pytest.approx(expected, rel=1e-12)


def test_covariance_with_eigenvalues_3_1_0_0():
    # Four zero-mean samples along two orthogonal +-1 patterns, scaled so that the covariance (normalised by
    # S - 1 = 3) has eigenvalues 3 and 1: 4 c^2 / 3 = 3 -> c = 1.5, 4 c^2 / 3 = 1 -> c = sqrt(3) / 2; then a random
    # rotation of the 4 features, which leaves the eigenvalues unchanged.
    s1 = 1.5 * np.array([1.0, -1.0, 1.0, -1.0])
    s2 = math.sqrt(3.0) / 2.0 * np.array([1.0, 1.0, -1.0, -1.0])
    data = np.stack([s1, s2, np.zeros(4), np.zeros(4)], axis=1)
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
    eig = covariance_eigenvalues(data @ rotation.T)
    np.testing.assert_allclose(eig, [3.0, 1.0, 0.0, 0.0], atol=1e-12)
    assert participation_ratio(eig) == pytest.approx(1.6, rel=1e-12)


def test_carry_features_split_complex_and_skip_integers():
    carries = {
        "modes": np.arange(12.0).reshape(3, 2, 2) * (1 + 2j),  # complex [T=3, B=2, 2] -> 4 real features
        "hidden": np.ones((3, 2, 1, 3), np.float32),  # [T, B, 1, 3] -> 3 features
        "position": np.zeros((3, 2), np.int32),  # bookkeeping: left out
    }
    features = carry_features(carries)
    assert features.shape == (6, 7) and features.dtype == np.float64
    # Row b + 2 t holds sample (t, b); jax.tree.leaves sorts dict keys: hidden (3), then modes (re 2, im 2).
    np.testing.assert_allclose(features[5], [1, 1, 1, 10, 11, 20, 22])  # t = 2, b = 1: modes 10, 11 (x (1 + 2j))
    assert carry_features(carries, skip=1).shape == (4, 7)
    assert carry_features(()).shape == (0, 0)


def test_single_real_mode_uses_one_direction():
    # One LRU mode with a real eigenvalue (phase 0) and real B: the carry is complex [B, 1] (2 real features) but
    # its imaginary part stays exactly 0, so the covariance has eigenvalues (v, 0) and PR = v^2 / v^2 = 1.
    with jax.enable_x64(True):
        core = make_core("lru", 1, state_size=1, dtype=jnp.float64)
        params = {"params": {"nu_log": jnp.array([math.log(-math.log(0.9))]), "theta_log": jnp.array([-1e3]),
                             "B": jnp.array([[[1.0, 0.0]]]), "C": jnp.array([[[1.0, 0.0]]]), "D": jnp.array([0.0])}}
        xs = jax.random.normal(jax.random.key(0), (20, 3, 1), jnp.float64)
        use = state_use(core, params, xs)
    assert use.state_dim == 2
    assert use.eigenvalues[0] > 0 and use.eigenvalues[1] == 0.0
    assert use.participation_ratio == pytest.approx(1.0, rel=1e-12)


def _init(core, xs):
    t, b, _ = xs.shape
    return jax.jit(core.init)(jax.random.key(1), core.initialize_carry(b), xs, jnp.zeros((t, b), bool))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: make_core("identity", 8), 0),  # no carry
        (lambda: make_core("gru", 8), 8),  # h [B, 8]
        (lambda: make_core("lstm", 8), 16),  # (c, h)
        (lambda: make_core("s4d", 8, state_size=4), 32),  # [B, H = 8, N/2 = 2] complex -> 8 * 2 * 2
        # keys and values [B, W = 4, heads 2, 4] + valid [B, 4]; the int position counter is left out: 32 + 32 + 4
        (lambda: make_core("transformer", 8, window=4, n_heads=2), 68),
        (lambda: make_stack("s5", 8, n_layers=3, state_size=2), 12),  # 3 layers x 2 complex modes x (re, im)
    ],
    ids=["identity", "gru", "lstm", "s4d", "transformer", "stack3:s5"],
)
def test_state_dim_counts_real_carry_features(make, expected):
    core = make()
    xs = jax.random.normal(jax.random.key(2), (6, 2, 8))
    use = state_use(core, _init(core, xs), xs, skip=1)
    assert use.state_dim == expected
    assert use.eigenvalues.size == min(5 * 2, expected)  # min(samples, dim) after skipping t = 0
    if expected:
        assert 1.0 <= use.participation_ratio <= expected
    else:
        assert use.participation_ratio == 0.0


def test_state_use_rejects_bad_skip():
    core = make_core("gru", 4)
    xs = jnp.zeros((5, 1, 4))
    with pytest.raises(ValueError, match="skip"):
        state_use(core, _init(core, xs), xs, skip=5)
