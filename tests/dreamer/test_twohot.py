"""symlog / symexp and the two-hot encoding, against values worked by hand."""

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.nets.twohot import symexp, symlog, symlog_bins, twohot, twohot_loss, twohot_mean

E = np.e
# Five bins at [-2, -1, 0, 1, 2] in symlog space.
BINS5 = symlog_bins(5, -2.0, 2.0)


def test_symlog_symexp_values():
    # symlog(e - 1) = log(1 + e - 1) = 1;  symlog(-(e^2 - 1)) = -2;  symlog(0) = 0.
    np.testing.assert_allclose(symlog(jnp.asarray([E - 1, -(E**2 - 1), 0.0])), [1.0, -2.0, 0.0], atol=1e-6)
    # symexp(1) = e - 1;  symexp(-2) = -(e^2 - 1) = -6.389056.
    np.testing.assert_allclose(symexp(jnp.asarray([1.0, -2.0, 0.0])), [E - 1, -(E**2 - 1), 0.0], rtol=1e-6)
    x = jnp.asarray([-1e6, -12.5, -1e-3, 0.0, 3e-4, 7.0, 4e5])
    np.testing.assert_allclose(symexp(symlog(x)), x, rtol=1e-5)


def test_bins():
    np.testing.assert_allclose(BINS5, [-2.0, -1.0, 0.0, 1.0, 2.0])
    bins = symlog_bins()
    assert bins.shape == (255,) and bins.dtype == jnp.float32
    np.testing.assert_allclose([bins[0], bins[127], bins[-1]], [-20.0, 0.0, 20.0], atol=1e-6)
    np.testing.assert_allclose(np.diff(np.asarray(bins)), 40.0 / 254, rtol=1e-4)


def test_twohot_between_on_and_outside():
    x = jnp.asarray([0.25, 1.0, -1.6, -3.0, 5.0, 2.0])
    expected = np.asarray([
        [0, 0, 0.75, 0.25, 0],  # 0.25 lies between bins 0 and 1: weight (1 - 0.25) / 1 on 0, 0.25 on 1
        [0, 0, 0, 1, 0],        # exactly on bin 1
        [0.6, 0.4, 0, 0, 0],    # -1.6 between -2 and -1: weight (-1 - -1.6) / 1 = 0.6 on -2
        [1, 0, 0, 0, 0],        # below the range: all on the lowest bin
        [0, 0, 0, 0, 1],        # above the range: all on the highest bin
        [0, 0, 0, 0, 1],        # exactly on the last bin
    ])
    np.testing.assert_allclose(jax.jit(twohot)(x, BINS5), expected, atol=1e-6)


def test_twohot_mean_is_value_and_shape():
    x = jnp.asarray([[-1.9, -0.3, 0.0], [0.7, 1.5, 1.99]])
    code = twohot(x, BINS5)
    assert code.shape == (2, 3, 5)
    np.testing.assert_allclose(code.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose((code * BINS5).sum(-1), x, atol=1e-6)


def test_decode_encode_round_trip():
    y = jnp.asarray([-1000.0, -3.2, 0.0, 0.5, 7.0, 1e4])
    logits = jnp.log(twohot(symlog(y), symlog_bins()))  # -inf off the two bins: softmax returns the encoding
    np.testing.assert_allclose(twohot_mean(logits, symlog_bins()), y, rtol=1e-4, atol=1e-5)


def test_twohot_mean_hand_value():
    # probabilities 0.5 on bins 0 and 1 -> mean 0.5 in symlog space -> symexp(0.5) = e^0.5 - 1 = 0.6487213
    logits = jnp.log(jnp.asarray([0.0, 0.0, 0.5, 0.5, 0.0]))
    np.testing.assert_allclose(twohot_mean(logits, BINS5), E**0.5 - 1, rtol=1e-6)


def test_twohot_loss_hand_value_and_gradients():
    logits = jnp.log(jnp.asarray([0.1, 0.2, 0.4, 0.2, 0.1]))
    target = jnp.asarray(E**0.25 - 1)  # symlog(target) = 0.25 -> two-hot 0.75 on bin 0, 0.25 on bin 1
    # CE = -(0.75 log 0.4 + 0.25 log 0.2) = 0.75 * 0.9162907 + 0.25 * 1.6094379 = 1.0895775
    np.testing.assert_allclose(twohot_loss(logits, target, BINS5), 1.0895775, rtol=1e-6)
    g_logits, g_target = jax.grad(twohot_loss, argnums=(0, 1))(logits, target, BINS5)
    # d CE / d logits = softmax - twohot = [0.1, 0.2, 0.4 - 0.75, 0.2 - 0.25, 0.1]
    np.testing.assert_allclose(g_logits, [0.1, 0.2, -0.35, -0.05, 0.1], atol=1e-6)
    assert g_target == 0.0
    assert twohot_loss(jnp.zeros((3, 4, 5)), jnp.ones((3, 4)), BINS5).shape == (3, 4)
