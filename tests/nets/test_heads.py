"""Encoders and heads: features for every space kind, distribution shapes, Box actions clipped only for the env."""

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.env import Box, Discrete, MultiDiscrete
from ssmrl.nets import ObsEncoder, PolicyHead, ValueHead, clip_to_space, space_spec


@pytest.mark.parametrize("space, obs", [
    (Discrete(4), jnp.array([[0, 3], [1, 2]])),
    (MultiDiscrete((2, 3)), jnp.array([[[0, 2], [1, 0]], [[1, 1], [0, 2]]])),
    (Box(low=-1.0, high=1.0, shape=(2, 3)), jnp.ones((2, 2, 2, 3))),
])
def test_encoder_keeps_leading_axes(space, obs):
    enc = ObsEncoder(space_spec(space), 8)
    params = enc.init(jax.random.PRNGKey(0), obs)
    assert enc.apply(params, obs).shape == (2, 2, 8)


def test_discrete_one_hot_is_exact():
    enc = ObsEncoder(space_spec(Discrete(3)), 4)
    params = enc.init(jax.random.PRNGKey(0), jnp.array([0]))
    kernel, bias = params["params"]["embed"]["kernel"], params["params"]["embed"]["bias"]
    np.testing.assert_allclose(enc.apply(params, jnp.array([2])), kernel[2][None] + bias, rtol=1e-6)


@pytest.mark.parametrize("space, action_shape", [
    (Discrete(5), (3, 2)), (MultiDiscrete((2, 4)), (3, 2, 2)), (Box(low=-2.0, high=2.0, shape=(3,)), (3, 2, 3)),
])
def test_policy_distribution_shapes(space, action_shape):
    head = PolicyHead(space_spec(space))
    h = jnp.ones((3, 2, 8))
    params = head.init(jax.random.PRNGKey(0), h)
    dist = head.apply(params, h)
    assert isinstance(dist, distrax.Distribution)
    action = dist.sample(seed=jax.random.PRNGKey(1))
    assert action.shape == action_shape
    assert dist.log_prob(action).shape == (3, 2) and dist.entropy().shape == (3, 2)
    if isinstance(space, MultiDiscrete):  # padded logits never produce an invalid action
        assert int(action[..., 0].max()) < 2
    v = ValueHead()
    assert v.apply(v.init(jax.random.PRNGKey(0), h), h).shape == (3, 2)


def test_gaussian_log_std_is_state_independent_and_clipping_only_for_env():
    space = Box(low=-1.0, high=1.0, shape=(2,))
    head = PolicyHead(space_spec(space), log_std_init=0.3)
    h = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
    params = head.init(jax.random.PRNGKey(1), h)
    dist = head.apply(params, h)
    np.testing.assert_allclose(dist.stddev(), np.full((5, 2), np.exp(0.3)), rtol=1e-6)
    raw = jnp.array([[-3.0, 0.5]])
    np.testing.assert_allclose(clip_to_space(raw, space), [[-1.0, 0.5]])
    np.testing.assert_array_equal(clip_to_space(jnp.array([3]), Discrete(4)), [3])
