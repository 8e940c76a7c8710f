"""GAE with the three flags, against a hand calculation and a slow reference loop."""

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.ppo.losses import compute_gae

# Worked example, one environment, gamma = 0.5, lambda = 0.5 (so gamma * lambda = 0.25):
#
#   t  reward value  flags                         next value used           delta
#   0    1     1     -                             value[1] = 2              1 + 0.5*2 - 1 =  1
#   1    0     2     terminated                    0 (no bootstrap)          0 + 0     - 2 = -2
#   2    1     1     (is_first: auto-reset obs)    value[3] = 2              1 + 0.5*2 - 1 =  1
#   3    2     2     truncated, V(final_obs) = 4   bootstrap 4 (not value[4]) 2 + 0.5*4 - 2 =  2
#   4    1     1     (is_first: auto-reset obs)    last_value = 2            1 + 0.5*2 - 1 =  1
#
# Backwards, the recursion stops at every episode end (t = 1 terminated, t = 3 truncated):
#   A4 = 1;  A3 = 2;  A2 = 1 + 0.25*A3 = 1.5;  A1 = -2;  A0 = 1 + 0.25*A1 = 0.5
# targets = A + value = [1.5, 0, 2.5, 4, 2].
REWARD = [1.0, 0.0, 1.0, 2.0, 1.0]
VALUE = [1.0, 2.0, 1.0, 2.0, 1.0]
TERMINATED = [False, True, False, False, False]
TRUNCATED = [False, False, False, True, False]
BOOTSTRAP = [9.0, 9.0, 9.0, 4.0, 9.0]  # read only where truncated
LAST_VALUE = 2.0
EXPECTED_ADV = [0.5, -2.0, 1.5, 2.0, 1.0]
EXPECTED_TARGETS = [1.5, 0.0, 2.5, 4.0, 2.0]


def _column(x, dtype=jnp.float32):
    return jnp.asarray(x, dtype)[:, None]


def test_worked_example():
    gae = jax.jit(compute_gae, static_argnums=(6, 7))
    adv, targets = gae(_column(REWARD), _column(VALUE), _column(TERMINATED, bool), _column(TRUNCATED, bool),
                       _column(BOOTSTRAP), jnp.asarray([LAST_VALUE]), 0.5, 0.5)
    np.testing.assert_allclose(adv[:, 0], EXPECTED_ADV, rtol=1e-6)
    np.testing.assert_allclose(targets[:, 0], EXPECTED_TARGETS, rtol=1e-6)


def _reference(reward, value, terminated, truncated, bootstrap, last_value, gamma, lam):
    t_max, batch = reward.shape
    adv = np.zeros_like(reward)
    for b in range(batch):
        running = 0.0
        for t in reversed(range(t_max)):
            if terminated[t, b]:
                next_v, running = 0.0, 0.0
            elif truncated[t, b]:
                next_v, running = bootstrap[t, b], 0.0
            else:
                next_v = value[t + 1, b] if t + 1 < t_max else last_value[b]
            running = reward[t, b] + gamma * next_v - value[t, b] + gamma * lam * running
            adv[t, b] = running
    return adv


def test_random_flags_match_reference_loop():
    rng = np.random.default_rng(0)
    shape = (37, 6)
    reward, value, bootstrap = (rng.normal(size=shape).astype(np.float32) for _ in range(3))
    terminated = rng.random(shape) < 0.1
    truncated = (rng.random(shape) < 0.1) & ~terminated
    last_value = rng.normal(size=shape[1]).astype(np.float32)
    adv, targets = jax.jit(compute_gae, static_argnums=(6, 7))(
        reward, value, terminated, truncated, bootstrap, last_value, 0.97, 0.9)
    expected = _reference(reward, value, terminated, truncated, bootstrap, last_value, 0.97, 0.9)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, expected + value, rtol=1e-5, atol=1e-5)


def test_shape_contract():
    x = jnp.zeros((4, 2))
    try:
        compute_gae(x, jnp.zeros((4, 3)), x > 0, x > 0, x, jnp.zeros(2), 0.9, 0.9)
    except ValueError as err:
        assert "value" in str(err)
    else:
        raise AssertionError("expected a ValueError for a mismatched value shape")
