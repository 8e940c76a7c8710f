"""Categorical latents: uniform mix, straight-through samples, KL and entropy against hand values."""

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.nets.latent import categorical_kl, flatten_latent, latent_entropy, latent_probs, sample_latent


def test_unimix_probs():
    logits = jnp.asarray([[100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])  # G = 2, K = 4
    # 0.99 * one-hot + 0.01 / 4 -> [0.9925, 0.0025, 0.0025, 0.0025];  uniform stays 0.25
    expected = [[0.9925, 0.0025, 0.0025, 0.0025], [0.25] * 4]
    np.testing.assert_allclose(latent_probs(logits), expected, rtol=1e-5)
    np.testing.assert_allclose(latent_probs(logits, 0.0)[0], [1.0, 0.0, 0.0, 0.0], atol=1e-6)


def test_sample_is_one_hot_with_mixed_frequencies():
    logits = jnp.log(jnp.asarray([[0.7, 0.2, 0.1]]))  # G = 1, K = 3
    keys = jax.random.split(jax.random.PRNGKey(0), 20000)
    samples = jax.jit(jax.vmap(lambda k: sample_latent(k, logits)))(keys)
    assert samples.shape == (20000, 1, 3)
    np.testing.assert_array_equal(np.sort(np.unique(np.asarray(samples))), [0.0, 1.0])
    np.testing.assert_allclose(samples.sum(-1), 1.0)
    # mixed: 0.99 * [0.7, 0.2, 0.1] + 0.01 / 3 = [0.696333, 0.201333, 0.102333]
    np.testing.assert_allclose(samples.mean(0)[0], [0.696333, 0.201333, 0.102333], atol=0.01)


def test_straight_through_gradient():
    logits = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 5))
    w = jax.random.normal(jax.random.PRNGKey(2), (2, 3, 5))
    key = jax.random.PRNGKey(3)
    g_sample = jax.grad(lambda lg: jnp.sum(sample_latent(key, lg) * w))(logits)
    g_probs = jax.grad(lambda lg: jnp.sum(latent_probs(lg) * w))(logits)
    np.testing.assert_allclose(g_sample, g_probs, rtol=1e-5, atol=1e-7)


def test_kl_hand_value():
    # per group, unimix 0: p = [0.5, 0.5], q = [0.25, 0.75]
    # KL = 0.5 ln(0.5 / 0.25) + 0.5 ln(0.5 / 0.75) = 0.5 ln(4 / 3) = 0.1438410; two groups -> 0.2876821
    p = jnp.log(jnp.asarray([[[0.5, 0.5], [0.5, 0.5]]]))
    q = jnp.log(jnp.asarray([[[0.25, 0.75], [0.25, 0.75]]]))
    np.testing.assert_allclose(categorical_kl(p, q, 0.0), [0.2876821], rtol=1e-6)
    # unimix 0.01 on K = 2: p stays [0.5, 0.5]; q = 0.99 * [0.25, 0.75] + 0.005 = [0.2525, 0.7475]
    # KL per group = 0.5 ln(0.5 / 0.2525) + 0.5 ln(0.5 / 0.7475) = 0.3415984 - 0.2010631 = 0.1405353
    np.testing.assert_allclose(categorical_kl(p, q), [2 * 0.1405353], rtol=1e-5)
    np.testing.assert_allclose(categorical_kl(q, q), [0.0], atol=1e-7)


def test_entropy_hand_value():
    # uniform over K = 4 in G = 3 groups: 3 ln 4 = 4.1588831
    np.testing.assert_allclose(latent_entropy(jnp.zeros((2, 3, 4))), [4.1588831] * 2, rtol=1e-6)
    # near one-hot, mixed: -(0.9925 ln 0.9925 + 3 * 0.0025 ln 0.0025) = 0.0074718 + 0.0449360 = 0.0524078
    np.testing.assert_allclose(latent_entropy(jnp.asarray([[100.0, 0.0, 0.0, 0.0]])), 0.0524078, rtol=1e-4)


def test_flatten():
    z = jnp.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    assert flatten_latent(z).shape == (2, 3, 20)
    np.testing.assert_array_equal(flatten_latent(z)[1, 2, 5:10], z[1, 2, 1])
