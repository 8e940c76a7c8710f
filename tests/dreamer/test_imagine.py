"""Imagination: the trajectory layout the losses expect, its first step against the world model's imagine_step,
hand values of the fresh heads, starts from the world-model loss (terminal starts), and the gradient barrier.

The all-core check (imagining from the t-th posterior carry equals stepping to t, then imagining) lives in the
core sweep of ``test_world_model.py``, which compiles the world model once per core for all of its checks.
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import make_stack
from ssmrl.dreamer.imagine import Actor, Critic, imagine
from ssmrl.env import Box
from ssmrl.nets import space_spec
from ssmrl.world_model.batch import ReplayBatch
from ssmrl.world_model.model import features, init_world_model, make_world_model, world_model_loss

T, B, HORIZON, D = 4, 2, 3, 2
N = T * B
FEAT = 8 + 4 * 4  # h (d_model 8) + flattened z (4 groups x 4 classes)


@contextlib.contextmanager
def fast_random():
    """The non-partitionable threefry: its random bits compile ~7x faster on CPU (jax 0.10)."""
    with jax.threefry_partitionable(False):
        yield


@pytest.fixture(autouse=True)
def _fast_random():
    with fast_random():
        yield


def jit(fun):
    """``jax.jit`` with LLVM at -O0: these tiny tests are compile-bound, and it compiles them ~40% faster (the
    arithmetic is IEEE either way; run time is negligible at these sizes)."""
    return jax.jit(fun, compiler_options={"xla_backend_optimization_level": 0})


def _init_key(seed: int = 0):
    """"rbg" keys for parameter init: reproducible, and much cheaper to compile than threefry."""
    return jax.random.key(seed, impl="rbg")


def _models():
    wm = make_world_model(Box(-1.0, 1.0, (3,)), Box(-1.0, 1.0, (D,)), make_stack("gru", 8, n_layers=1), groups=4,
                          classes=4, hidden=8, mlp_layers=1, reward_bins=11)
    actor = Actor(space_spec(Box(-1.0, 1.0, (D,))), hidden=8, layers=1, log_std_init=-0.5)
    critic = Critic(num_bins=11, hidden=8, layers=1)
    return wm, actor, critic


def _batch():
    """T = 4 steps of B = 2 sequences; step 2 of sequence 0 is terminal (the next step starts a new episode)."""
    rng = np.random.default_rng(0)
    is_first = np.zeros((T, B), bool)
    is_first[0] = is_first[3, 0] = True
    terminated = np.zeros((T, B), bool)
    terminated[2, 0] = True
    return ReplayBatch(rng.normal(size=(T, B, 3)).astype(np.float32),
                       rng.uniform(-1.0, 1.0, (T, B, D)).astype(np.float32),
                       rng.normal(size=(T, B)).astype(np.float32), is_first, terminated, np.zeros((T, B), bool))


@functools.cache
def _run() -> dict:
    """Parameters, imagination from every posterior state of a replayed batch, the heads on its features and the
    first imagined step redone with the world model's imagine_step; one compiled function, host arrays out."""
    wm, actor, critic = _models()
    batch = _batch()
    key_loss, key_imagine = jax.random.split(jax.random.key(1))

    @jit
    def run(init_key):
        k_wm, k_actor, k_critic = jax.random.split(init_key, 3)
        wm_params = init_world_model(k_wm, wm)
        actor_params = actor.init(k_actor, jnp.zeros((1, FEAT)))
        critic_params = critic.init(k_critic, jnp.zeros((1, FEAT)))
        _, aux = world_model_loss(key_loss, wm_params, batch, model=wm)
        out = imagine(key_imagine, wm_params, actor_params, aux.start, HORIZON, world_model=wm, actor=actor)
        head = lambda method, *args: wm.apply(wm_params, *args, method=method)
        # Step 0 by hand: the actor's key and the world model's key come from split(split(key, H)[0]).
        key_actor, key_wm = jax.random.split(jax.random.split(key_imagine, HORIZON)[0])
        action0 = actor.apply(actor_params, features(aux.start.h, aux.start.z)).sample(seed=key_actor)
        _, h1, z1 = head("imagine_step", key_wm, aux.start.carry, aux.start.z, action0)
        return dict(out=out, start=aux.start, reward=head("reward_value", out.feat[1:]),
                    cont_logit=head("cont", out.feat[1:]), action0=action0, feat1=features(h1, z1),
                    value=critic.apply(critic_params, out.feat, method="value"),
                    critic_logits=critic.apply(critic_params, out.feat), bins=critic.bins(),
                    wm_params=wm_params, actor_params=actor_params)

    return jax.tree.map(np.asarray, jax.device_get(run(_init_key())))


def test_layout_matches_the_losses():
    """feat [H + 1, N, F] with feat[0] the start states; action [H, N, D]; reward and cont are the heads at states
    1..H (``losses.lambda_returns``' layout); start_cont is 1 - terminated of the replayed step."""
    r = _run()
    out, start = r["out"], r["start"]
    assert out.feat.shape == (HORIZON + 1, N, FEAT) and out.action.shape == (HORIZON, N, D)
    for name in ("log_prob", "entropy", "reward", "cont"):
        assert getattr(out, name).shape == (HORIZON, N) and getattr(out, name).dtype == np.float32, name
    np.testing.assert_array_equal(out.feat[0], np.concatenate([start.h, start.z.reshape(N, 16)], -1))
    np.testing.assert_allclose(out.reward, r["reward"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(out.cont, (r["cont_logit"] > 0).astype(np.float32))  # the Bernoulli's mode
    # Starts are flattened t * B + b: the terminal step (t = 2, b = 0) is start 4, the only one with continue 0.
    expected = np.ones(N, np.float32)
    expected[2 * B + 0] = 0.0
    np.testing.assert_array_equal(out.start_cont, expected)


def test_first_step_is_the_world_models_imagine_step():
    r = _run()
    np.testing.assert_allclose(r["out"].action[0], r["action0"], rtol=1e-6)
    np.testing.assert_allclose(r["out"].feat[1], r["feat1"], rtol=1e-5, atol=1e-6)
    # Later states move on: the latent part of feat is one-hot per group, and h changes every step.
    z_part = r["out"].feat[1:, :, 8:].reshape(HORIZON, N, 4, 4)
    np.testing.assert_array_equal(z_part.sum(-1), 1.0)
    assert np.all(np.abs(r["out"].feat[2, :, :8] - r["out"].feat[1, :, :8]).max(-1) > 0.0)


def test_fresh_heads_hand_values():
    """Zero-initialised output layers: reward logits are 0, so every one of the 11 bins (symmetric around 0 in
    symlog space) has probability 1/11 and the decoded reward is symexp(0) = 0; the same for the critic's value.
    Gaussian policy with log-std -0.5 in D = 2: entropy = D * (0.5 * (1 + log 2 pi) - 0.5) = log(2 pi) = 1.8379."""
    r = _run()
    np.testing.assert_allclose(r["bins"], np.linspace(-20.0, 20.0, 11), rtol=1e-6)
    np.testing.assert_array_equal(r["critic_logits"], 0.0)
    np.testing.assert_allclose(r["value"], 0.0, atol=1e-5)
    np.testing.assert_allclose(r["out"].reward, 0.0, atol=1e-5)
    np.testing.assert_allclose(r["out"].entropy, np.log(2 * np.pi), rtol=1e-6)
    # log-prob of the Gaussian at its own sample: -0.5 * sum(((a - mean) / std)^2) - sum(log std) - log(2 pi).
    assert np.all(r["out"].log_prob <= -2 * -0.5 - np.log(2 * np.pi) + 1e-5)


def test_no_gradient_reaches_the_world_model():
    """A scalar built from every output: the world-model parameters get exactly zero gradient, the actor's not."""
    r = _run()
    wm, actor, _ = _models()
    start = r["start"]

    def objective(wm_params, actor_params):
        out = imagine(jax.random.key(2), wm_params, actor_params, start, HORIZON, world_model=wm, actor=actor)
        return (jnp.sum(out.log_prob * 1.7) + jnp.sum(out.entropy) + jnp.sum(out.feat) + jnp.sum(out.reward)
                + jnp.sum(out.cont))

    g_wm, g_actor = jit(jax.grad(objective, argnums=(0, 1)))(r["wm_params"], r["actor_params"])
    assert all(np.all(np.asarray(g) == 0.0) for g in jax.tree.leaves(g_wm))
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(g_actor))
    assert max(float(np.max(np.abs(g))) for g in jax.tree.leaves(g_actor)) > 0.0
