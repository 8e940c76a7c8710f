"""World-model and actor-critic losses against hand calculations and a slow reference loop."""

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.dreamer.losses import (
    actor_loss,
    critic_loss,
    discount_weight,
    lambda_returns,
    replay_returns,
    return_norm_init,
    return_norm_scale,
    return_norm_update,
)
from ssmrl.nets.latent import kl_balance
from ssmrl.nets.twohot import symlog_bins

E = np.e

# KL balancing, G = 1 group of K = 2 classes, unimix 0 (exact probabilities):
#   step A: q = p = [0.5, 0.5] -> KL = 0 (under the free bits: each term is clipped to 1 nat)
#   step B: q = [0.9, 0.1], p = [0.1, 0.9] -> KL[q || p] = 0.9 ln 9 + 0.1 ln(1/9) = 0.8 ln 9 = 1.7577796
# per step: loss = 0.5 * max(1, KL) + 0.1 * max(1, KL): A -> 0.6, B -> 0.6 * 1.7577796 = 1.0546678
# mean over the two steps = 0.8273339 (free bits per step; the batch-mean KL 0.879 alone would give 0.6)
POST = jnp.log(jnp.asarray([[[0.5, 0.5]], [[0.9, 0.1]]]))
PRIOR = jnp.log(jnp.asarray([[[0.5, 0.5]], [[0.1, 0.9]]]))
KL_B = 0.8 * np.log(9.0)


def test_kl_balance_under_and_over_free_bits():
    loss, parts = jax.jit(lambda q, p: kl_balance(q, p, unimix=0.0))(POST, PRIOR)
    np.testing.assert_allclose(loss, (0.6 + 0.6 * KL_B) / 2, rtol=1e-6)
    np.testing.assert_allclose(loss, 0.8273339, rtol=1e-6)
    np.testing.assert_allclose([parts["dyn_kl"], parts["rep_kl"]], [KL_B / 2] * 2, rtol=1e-6)
    under, _ = kl_balance(POST[:1], PRIOR[:1], unimix=0.0)
    np.testing.assert_allclose(under, 0.6, rtol=1e-6)


def test_kl_balance_gradients_go_where_they_should():
    dyn_only = lambda q, p: kl_balance(q, p, dyn_scale=1.0, rep_scale=0.0, unimix=0.0)[0]
    rep_only = lambda q, p: kl_balance(q, p, dyn_scale=0.0, rep_scale=1.0, unimix=0.0)[0]
    g_post, g_prior = jax.grad(dyn_only, argnums=(0, 1))(POST, PRIOR)
    assert np.all(np.asarray(g_post) == 0.0)  # the dynamics term moves only the prior
    assert np.abs(np.asarray(g_prior[1])).max() > 0.1
    g_post, g_prior = jax.grad(rep_only, argnums=(0, 1))(POST, PRIOR)
    assert np.all(np.asarray(g_prior) == 0.0)  # the representation term moves only the posterior
    assert np.abs(np.asarray(g_post[1])).max() > 0.1
    # step A is under the free bits: no gradient at all from it
    g_post, g_prior = jax.grad(lambda q, p: kl_balance(q, p, unimix=0.0)[0], argnums=(0, 1))(POST, PRIOR)
    assert np.all(np.asarray(g_post[0]) == 0.0) and np.all(np.asarray(g_prior[0]) == 0.0)
    # d/d prior_logits of 0.5 * KL[q || p] / 2 steps for step B: 0.25 * (p - q) = 0.25 * [-0.8, 0.8]
    np.testing.assert_allclose(g_prior[1, 0], [-0.2, 0.2], rtol=1e-5)


# lambda-returns, H = 4, one trajectory, gamma = 0.5, lambda = 0.5; s_2 is terminal (cont[1] = c_2 = 0):
#   reward[t] = r_{t+1} = [1, 2, 3, 4];  cont[t] = c_{t+1} = [1, 0, 1, 1];  value = v_0..v_4 = [0, 2, 4, 6, 8]
#   R_4 = v_4 = 8
#   R_3 = 4 + 0.5 * 1 * (0.5 * 8 + 0.5 * 8)   = 4 + 4     = 8
#   R_2 = 3 + 0.5 * 1 * (0.5 * 6 + 0.5 * 8)   = 3 + 3.5   = 6.5
#   R_1 = 2 + 0.5 * 0 * (...)                 = 2           (s_2 terminal: its reward only, no bootstrap)
#   R_0 = 1 + 0.5 * 1 * (0.5 * 2 + 0.5 * 2)   = 1 + 1     = 2
REWARD = jnp.asarray([1.0, 2.0, 3.0, 4.0])[:, None]
CONT = jnp.asarray([1.0, 0.0, 1.0, 1.0])[:, None]
VALUE = jnp.asarray([0.0, 2.0, 4.0, 6.0, 8.0])[:, None]


def test_lambda_returns_worked_example():
    returns = jax.jit(lambda_returns, static_argnums=(3, 4))(REWARD, CONT, VALUE, 0.5, 0.5)
    np.testing.assert_allclose(returns[:, 0], [2.0, 2.0, 6.5, 8.0], rtol=1e-6)
    # lambda = 0 is one-step TD: r_{t+1} + gamma c_{t+1} v_{t+1} = [1 + 1, 2 + 0, 3 + 3, 4 + 4]
    np.testing.assert_allclose(lambda_returns(REWARD, CONT, VALUE, 0.5, 0.0)[:, 0], [2, 2, 6, 8], rtol=1e-6)


def _reference(reward, cont, value, gamma, lam):
    horizon, n = reward.shape
    out = np.zeros_like(reward)
    for i in range(n):
        ret = value[horizon, i]
        for t in reversed(range(horizon)):
            ret = reward[t, i] + gamma * cont[t, i] * ((1 - lam) * value[t + 1, i] + lam * ret)
            out[t, i] = ret
    return out


def test_lambda_returns_match_reference_loop():
    rng = np.random.default_rng(0)
    reward = rng.normal(size=(15, 5)).astype(np.float32)
    cont = (rng.random((15, 5)) > 0.2).astype(np.float32)
    value = rng.normal(size=(16, 5)).astype(np.float32)
    np.testing.assert_allclose(lambda_returns(reward, cont, value, 0.99, 0.95),
                               _reference(reward, cont, value, 0.99, 0.95), rtol=1e-5, atol=1e-5)


def test_lambda_returns_shape_contract():
    try:
        lambda_returns(REWARD, CONT, VALUE[:4], 0.5, 0.5)
    except ValueError as err:
        assert "value" in str(err)
    else:
        raise AssertionError("expected a ValueError for value without the bootstrap row")


# Replayed returns, T = 6, two sequences, gamma = lam = 0.5, bootstrap values boot = [10, 20, 30, 40, 50, 60];
# an episode ends at step 2 and the next starts at 3 (is_first[3]); rewards [0, 1, 2, 0, 3, 4] (reward[t]: on
# arriving at obs t). Column 0: obs 2 terminal. Column 1: the episode is truncated at 2 (not terminal).
#   R_5 = boot_5 = 60                                      (the window's last step)
#   R_4 = 4 + 0.5 * (0.5 * 60 + 0.5 * 60) = 4 + 30 = 34
#   R_3 = 3 + 0.5 * (0.5 * 50 + 0.5 * 34) = 3 + 21 = 24
#   R_2 = boot_2 = 30                                      (is_first[3]: nothing after step 2 is its episode's)
#   column 0: R_1 = 2 + 0.5 * 0 * (...) = 2;  R_0 = 1 + 0.5 * (0.5 * 20 + 0.5 * 2) = 6.5
#   column 1: R_1 = 2 + 0.5 * (0.5 * 30 + 0.5 * 30) = 17;  R_0 = 1 + 0.5 * (0.5 * 20 + 0.5 * 17) = 10.25
def test_replay_returns_worked_example():
    reward = jnp.asarray([0.0, 1.0, 2.0, 0.0, 3.0, 4.0])[:, None].repeat(2, 1)
    boot = jnp.asarray([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])[:, None].repeat(2, 1)
    is_first = jnp.zeros((6, 2), bool).at[0].set(True).at[3].set(True)
    terminated = jnp.zeros((6, 2), bool).at[2, 0].set(True)
    returns = jax.jit(replay_returns, static_argnums=(4, 5))(reward, terminated, is_first, boot, 0.5, 0.5)
    np.testing.assert_allclose(returns[:, 0], [6.5, 2.0, 30.0, 24.0, 34.0, 60.0], rtol=1e-6)
    np.testing.assert_allclose(returns[:, 1], [10.25, 17.0, 30.0, 24.0, 34.0, 60.0], rtol=1e-6)


def test_discount_weight():
    # weight[t] = prod_{i < t} gamma * cont[i]: [1, 0.5 * 1, 0.5 * 0.5 * 0, 0] = [1, 0.5, 0, 0]
    np.testing.assert_allclose(discount_weight(CONT, 0.5)[:, 0], [1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(discount_weight(CONT, 0.5, jnp.asarray([0.0]))[:, 0], [0.0] * 4)


def test_return_norm_ema_by_hand():
    state = return_norm_init()
    np.testing.assert_allclose(return_norm_scale(state), 1.0)
    update = jax.jit(return_norm_update)
    # returns 0..100: P5 = 5, P95 = 95 -> low = 0.01 * 5 = 0.05, high = 0.01 * 95 = 0.95; scale max(1, 0.9) = 1
    state = update(state, jnp.arange(101.0).reshape(101, 1))
    np.testing.assert_allclose([state.low, state.high], [0.05, 0.95], rtol=1e-5)
    np.testing.assert_allclose(return_norm_scale(state), 1.0)
    # returns 0, 10, .., 1000: P5 = 50, P95 = 950 -> low = 0.99 * 0.05 + 0.5 = 0.5495,
    # high = 0.99 * 0.95 + 9.5 = 10.4405; scale = 10.4405 - 0.5495 = 9.891
    state = update(state, 10.0 * jnp.arange(101.0))
    np.testing.assert_allclose([state.low, state.high], [0.5495, 10.4405], rtol=1e-5)
    np.testing.assert_allclose(return_norm_scale(state), 9.891, rtol=1e-5)


def test_actor_loss_by_hand():
    log_prob = jnp.asarray([[-1.0], [-2.0]])
    entropy = jnp.asarray([[0.5], [1.0]])
    adv = jnp.asarray([[2.0], [-1.0]])
    # per step: -adv * log_prob - 0.1 * entropy: 2 - 0.05 = 1.95;  -2 - 0.1 = -2.1;  mean -0.075
    np.testing.assert_allclose(actor_loss(log_prob, entropy, adv, 0.1), -0.075, rtol=1e-6)
    weight = jnp.asarray([[1.0], [0.5]])
    # weighted: (1.95 - 1.05) / 2 = 0.45
    np.testing.assert_allclose(actor_loss(log_prob, entropy, adv, 0.1, weight), 0.45, rtol=1e-6)
    g_lp, g_adv = jax.grad(actor_loss, argnums=(0, 2))(log_prob, entropy, adv, 0.1, weight)
    np.testing.assert_allclose(g_lp, [[-1.0], [0.25]], rtol=1e-6)  # -adv * weight / 2
    assert np.all(np.asarray(g_adv) == 0.0)


def test_critic_loss_by_hand():
    bins = symlog_bins(5, -2.0, 2.0)  # [-2, -1, 0, 1, 2]
    logits = jnp.log(jnp.asarray([0.1, 0.2, 0.4, 0.2, 0.1]))[None, None]
    target = jnp.asarray([[E**0.25 - 1]])  # symlog 0.25: two-hot 0.75 on bin 0, 0.25 on bin 1
    slow = jnp.log(jnp.asarray([0.0, 0.0, 0.0, 1.0, 0.0]))[None, None]  # decodes to symexp(1): all on bin 1
    # return term: -(0.75 ln 0.4 + 0.25 ln 0.2) = 1.0895775;  slow term: -ln 0.2 = 1.6094379
    np.testing.assert_allclose(critic_loss(logits, target, slow, bins), 1.0895775 + 1.6094379, rtol=1e-5)
    np.testing.assert_allclose(critic_loss(logits, target, slow, bins, slow_reg=0.5),
                               1.0895775 + 0.5 * 1.6094379, rtol=1e-5)
    g_target, g_slow = jax.grad(critic_loss, argnums=(1, 2))(logits, target, slow, bins)
    assert np.all(np.asarray(g_target) == 0.0) and np.all(np.asarray(g_slow) == 0.0)
