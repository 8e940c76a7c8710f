"""The world model: parallel observe == a scan of observe_step for every core (float64), resets zero the previous
latent and action, the loss's parts and imagination starts, the recurrent posterior, a gradient step, the CNN.

The reference form is a ``lax.scan`` of ``observe_step`` over ``jax.random.split(key, T)`` (the keys ``observe``
uses for each step). Everything in the core sweep runs in float64 (``jax.enable_x64``), so the two forms must
agree to ~1e-9 relative, like the core invariants (``tests/core/test_invariants.py``).
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ssmrl.core import available_cores, make_stack
from ssmrl.dreamer.imagine import Actor, imagine
from ssmrl.dreamer.replay import ReplayBatch
from ssmrl.dreamer.world_model import (
    ImagineStart,
    WorldModel,
    init_world_model,
    make_world_model,
    space_features,
    world_model_loss,
)
from ssmrl.env import Box, Discrete, MultiDiscrete
from ssmrl.nets import space_spec
from ssmrl.nets.conv import ConvDecoder, ConvEncoder, conv_feature_size, conv_sizes

T, B, H, OBS, ACTIONS, HORIZON = 8, 2, 4, 3, 3, 3
CASES = available_cores() + ["recurrent:s5"]
# Interior resets: column 0 at t = 0 and 3, column 1 at t = 5 and 6 (it starts from the warm carry-in).
IS_FIRST = np.zeros((T, B), bool)
IS_FIRST[[0, 3], 0] = True
IS_FIRST[[5, 6], 1] = True
RESET_AT = (3, 5)  # the interior reset of each column that the reset test perturbs before


def _model(case: str, dtype=jnp.float64) -> WorldModel:
    posterior, core = case.split(":") if ":" in case else ("s4wm", case)
    return make_world_model(Box(-1.0, 1.0, (OBS,)), Discrete(ACTIONS), make_stack(core, H, n_layers=1, dtype=dtype),
                            groups=4, classes=4, hidden=8, mlp_layers=0, reward_bins=5, posterior=posterior,
                            dtype=dtype)


@contextlib.contextmanager
def fast_random(x64: bool = True):
    """float64 (``jax.enable_x64``) and the non-partitionable threefry, whose random bits compile ~7x faster on
    CPU (0.2 s against 1.5 s per sampling site with jax 0.10). Both forms under test draw the same bits."""
    with jax.enable_x64(x64), jax.threefry_partitionable(False):
        yield


def _init_key(seed: int = 0):
    """Parameter-init key of the "rbg" implementation: same values every run, and its random bits compile in a
    fraction of threefry's time (init is the largest compile of these tiny models). Sampling keys stay threefry."""
    return jax.random.key(seed, impl="rbg")


def _np(tree):
    """Host copies (numpy): the comparisons below then compile nothing."""
    return jax.tree.map(np.asarray, jax.device_get(tree))


def _max_err(a, b) -> float:
    leaves_a, leaves_b = jax.tree.leaves(_np(a)), jax.tree.leaves(_np(b))
    assert len(leaves_a) == len(leaves_b)
    return max([float(np.max(np.abs(x - y))) for x, y in zip(leaves_a, leaves_b, strict=True) if x.size] + [0.0])


def _scale(tree) -> float:
    return max([float(np.max(np.abs(x))) for x in jax.tree.leaves(_np(tree)) if x.size] + [1.0])


def _step_loop(wm, params, key, carry, obs, action, is_first):
    """Reference: observe_step over time with the keys observe uses. Returns (final carry, per-step Observed)."""

    def body(c, inputs):
        k, o, a, f = inputs
        out = wm.apply(params, k, c, o, a, f, method="observe_step")
        return out.carry, out

    return jax.lax.scan(body, carry, (jax.random.split(key, obs.shape[0]), obs, action, is_first))


@functools.cache
def _head_params(posterior: str):
    """Everything but the stack's parameters: the same for every core (all stacks have width H)."""
    with fast_random():
        return jax.jit(functools.partial(init_world_model, model=_model(f"{posterior}:identity")))(_init_key())


@functools.cache
def _actor():
    with fast_random():
        actor = Actor(space_spec(Discrete(ACTIONS)), hidden=8, layers=1, dtype=jnp.float64)
        return actor, jax.jit(actor.init)(_init_key(2), jnp.zeros((1, H + 16), jnp.float64))


@functools.cache
def _setup(case: str):
    """Model, params (shared heads + this core's stack), inputs, a warm carry-in (the carry after a warm-up
    sequence) and the jitted forms: parallel observe, the stepwise reference, and imagination."""
    with fast_random():
        wm = _model(case)
        stack = wm.stack
        zeros = jnp.zeros((T, B, H), jnp.float64), jnp.zeros((T, B), bool)
        stack_params = jax.jit(lambda k: stack.init(k, stack.initialize_carry(B), *zeros))(_init_key(1))
        params = {"params": {**_head_params(wm.posterior)["params"], "stack": stack_params["params"]}}
        k_obs, k_act, k_warm = jax.random.split(jax.random.key(0), 3)
        obs = np.asarray(jax.random.normal(k_obs, (T, B, OBS), jnp.float64))
        action = np.asarray(jax.random.randint(k_act, (T, B), 0, ACTIONS))
        parallel = jax.jit(lambda k, c, o, a, f: wm.apply(params, k, c, o, a, f, True, method="observe"))
        stepwise = jax.jit(functools.partial(_step_loop, wm, params))
        carry_in = parallel(k_warm, wm.initialize_carry(B), obs[::-1] * 2.0, action[::-1], zeros[1]).carry
        actor, actor_params = _actor()
        imagine_fn = jax.jit(lambda k, start: imagine(k, params, actor_params, start, HORIZON, world_model=wm,
                                                      actor=actor))
        return wm, params, obs, action, carry_in, parallel, stepwise, imagine_fn


@pytest.fixture
def float64():
    with fast_random():
        yield


@pytest.fixture
def float32():
    with fast_random(x64=False):
        yield


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", CASES)
def test_parallel_observe_equals_stepwise_and_imagination_from_any_step(case):
    wm, params, obs, action, carry_in, parallel, stepwise, imagine_fn = _setup(case)
    key, is_first = jax.random.key(3), jnp.asarray(IS_FIRST)
    par = parallel(key, carry_in, obs, action, is_first)
    final, seq = stepwise(key, carry_in, obs, action, is_first)
    assert par.h.dtype == jnp.float64 and par.h.shape == (T, B, H) and par.z.shape == (T, B, 4, 4)
    # One-hot samples: one entry 1 per group (to float32 rounding of the straight-through ``+ p - sg(p)``).
    np.testing.assert_allclose(par.z.max(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(par.z.sum(-1), 1.0, atol=1e-6)
    for name in ("h", "z", "post_logits", "prior_logits"):
        a, b = getattr(par, name), getattr(seq, name)
        assert _max_err(a, b) <= 1e-9 * _scale(b), f"{case}: {name} differ"
    assert _max_err(par.carry, final) <= 1e-9 * _scale(final), f"{case}: final carry differs"
    assert _max_err(par.carries, seq.carry) <= 1e-9 * _scale(seq.carry), f"{case}: some carry differs"
    # The carry after the last step is the last of the per-step carries; z in it is the last posterior sample.
    assert _max_err(jax.tree.map(lambda c: c[-1], par.carries), par.carry) == 0.0
    np.testing.assert_array_equal(par.carry.z, par.z[-1])
    # Imagination from the posterior state after step t (parallel form) equals stepping observe_step from the
    # sequence start to t and imagining from there, with the same keys; t = 4 follows column 0's reset at 3.
    # (seq.carry[t] is the carry of the step loop after step t: later steps do not enter it.)
    t, k_im = 4, jax.random.key(6)
    at_t = lambda tree: jax.tree.map(lambda x: x[t], _np(tree))
    from_par = imagine_fn(k_im, ImagineStart(at_t(par.carries), at_t(par.h), at_t(par.z), np.ones(B)))
    from_seq = imagine_fn(k_im, ImagineStart(at_t(seq.carry), at_t(seq.h), at_t(seq.z), np.ones(B)))
    assert from_par.feat.shape == (HORIZON + 1, B, H + 16) and from_par.action.shape == (HORIZON, B)
    np.testing.assert_array_equal(np.asarray(from_par.action), np.asarray(from_seq.action))
    for name in ("feat", "log_prob", "reward", "cont"):
        a, b = getattr(from_par, name), getattr(from_seq, name)
        assert _max_err(a, b) <= 1e-9 * _scale(b), f"{case}: imagined {name} differ"


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", CASES)
def test_reset_zeroes_previous_latent_and_action(case):
    """Changing obs before an interior reset and actions up to it (action[k] is a_{k-1}, zeroed at the reset)
    changes nothing from the reset on, but does change the steps before it."""
    wm, params, obs, action, carry_in, parallel = _setup(case)[:6]
    key, is_first = jax.random.key(4), jnp.asarray(IS_FIRST)
    base = parallel(key, carry_in, obs, action, is_first)
    obs2, action2 = obs.copy(), action.copy()
    for b, k in enumerate(RESET_AT):
        obs2[:k, b] = -3.0 * obs[:k, b] + 1.0
        action2[: k + 1, b] = (action[: k + 1, b] + 1) % ACTIONS
    changed = _np(parallel(key, carry_in, obs2, action2, is_first))
    base = _np(base)
    for b, k in enumerate(RESET_AT):
        after = lambda out, k=k, b=b: jax.tree.map(lambda x: x[k:, b], (out.h, out.z, out.post_logits,
                                                                           out.prior_logits, out.carries))
        assert _max_err(after(changed), after(base)) <= 1e-9 * _scale(after(base)), f"{case}: column {b}"
        assert np.max(np.abs(changed.post_logits[k - 1, b] - base.post_logits[k - 1, b])) > 1e-3


def _batch(obs, action, reward, is_first, terminated):
    """A replayed batch of host (numpy) arrays; truncated is all False."""
    return ReplayBatch(obs, action, np.asarray(reward, np.float32), np.asarray(is_first), np.asarray(terminated),
                       np.zeros(np.shape(is_first), bool))


@pytest.mark.usefixtures("float64")
def test_loss_parts_and_starts():
    """Hand-checkable parts: with the zero-initialised reward head every bin has probability 1/5, so the two-hot
    cross-entropy is log 5 whatever the target; the KL term is a mean over steps of
    0.5 * max(1, KL) + 0.1 * max(1, KL) >= 0.6; starts are the per-step states flattened as t * B + b, with
    continue 1 - terminated."""
    wm, params, obs, action, carry_in, parallel = _setup("s5")[:6]
    terminated = np.zeros((T, B), bool)
    terminated[2, 0] = terminated[7, 1] = True
    reward = np.arange(T * B, dtype=np.float32).reshape(T, B) - 4.0
    batch = _batch(obs, action, reward, IS_FIRST, terminated)
    key = jax.random.key(5)

    @jax.jit
    def run(key, params, batch):
        loss, aux = world_model_loss(key, params, batch, model=wm, carry=carry_in)
        out = wm.apply(params, key, carry_in, batch.obs, batch.action, batch.is_first, True, method="observe")
        pred = wm.apply(params, wm.apply(params, out.h, out.z, method="feat"), method="decode")
        return loss, aux, out, pred

    loss, aux, out, pred = _np(run(key, params, batch))
    m = aux.metrics
    assert all(v.dtype == jnp.float32 and v.shape == () for v in m.values())
    np.testing.assert_allclose(m["reward_loss"], np.log(5.0), rtol=1e-6)
    kl_part = float(m["loss"] - m["recon_loss"] - m["reward_loss"] - m["cont_loss"])
    assert kl_part >= 0.6 - 1e-6 and kl_part >= 0.6 * float(m["dyn_kl"]) - 1e-5
    np.testing.assert_allclose(m["dyn_kl"], m["rep_kl"], rtol=1e-6)
    np.testing.assert_allclose(loss, m["loss"])
    # recon: symlog-MSE summed over the 3 features, by hand from the decoder output.
    target = np.sign(obs) * np.log1p(np.abs(obs))
    np.testing.assert_allclose(m["recon_loss"], np.mean(np.sum((pred - target) ** 2, -1)), rtol=1e-5)
    start = aux.start
    t, b = 6, 1
    np.testing.assert_allclose(start.h[t * B + b], out.h[t, b], rtol=1e-12)
    np.testing.assert_array_equal(start.z[t * B + b], out.z[t, b])
    assert _max_err(jax.tree.map(lambda c: c[t * B + b], start.carry),
                    jax.tree.map(lambda c: c[t, b], out.carries)) <= 1e-12 * _scale(out.carries)
    np.testing.assert_array_equal(start.cont.reshape(T, B), 1.0 - terminated)


def test_space_features():
    # Discrete(3): 2 -> [0, 0, 1]; MultiDiscrete((2, 3)): [1, 0] -> [0, 1 | 1, 0, 0]; Box: flattened values.
    np.testing.assert_array_equal(space_features(space_spec(Discrete(3)), jnp.array([2])), [[0, 0, 1]])
    np.testing.assert_array_equal(space_features(space_spec(MultiDiscrete((2, 3))), jnp.array([[1, 0]])),
                                  [[0, 1, 1, 0, 0]])
    box = jnp.arange(6.0).reshape(1, 2, 3)
    np.testing.assert_array_equal(space_features(space_spec(Box(-9.0, 9.0, (2, 3))), box), box.reshape(1, 6))


@pytest.mark.usefixtures("float32")
def test_gradient_step_decreases_loss():
    """MultiDiscrete observations (categorical decoder), Box actions: five Adam steps on one batch lower the loss."""
    wm = make_world_model(MultiDiscrete((2, 3)), Box(-1.0, 1.0, (2,)), make_stack("s5", 8, n_layers=1),
                          groups=4, classes=4, hidden=16, mlp_layers=1, reward_bins=11)
    params = jax.jit(functools.partial(init_world_model, model=wm))(_init_key())
    rng = np.random.default_rng(0)
    t_len, b_len = 6, 2
    obs = rng.integers(0, [2, 3], (t_len, b_len, 2)).astype(np.int32)
    action = rng.uniform(-1.0, 1.0, (t_len, b_len, 2)).astype(np.float32)
    is_first = np.zeros((t_len, b_len), bool)
    is_first[[0, 3], :] = True
    terminated = np.zeros((t_len, b_len), bool)
    terminated[2, :] = True
    batch = _batch(obs, action, np.ones((t_len, b_len)), is_first, terminated)
    tx = optax.adam(3e-3)
    loss_fn = functools.partial(world_model_loss, model=wm)
    key = jax.random.key(1)

    @jax.jit
    def update(params, opt_state):
        (loss, aux), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(key, params, batch)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    opt_state = jax.jit(tx.init)(params)
    losses = []
    for _ in range(5):
        params, opt_state, loss = update(params, opt_state)
        losses.append(float(loss))
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0] - 0.05, losses


@pytest.mark.usefixtures("float32")
def test_recurrent_posterior_on_images_runs_and_loss_is_finite():
    wm = make_world_model(Box(0.0, 1.0, (10, 10, 4)), Discrete(3), make_stack("gru", 8, n_layers=1),
                          groups=4, classes=4, hidden=16, mlp_layers=1, reward_bins=11, cnn_depth=4,
                          posterior="recurrent")
    params = jax.jit(functools.partial(init_world_model, model=wm))(_init_key())
    obs = (np.random.default_rng(1).random((4, 2, 10, 10, 4)) < 0.3).astype(np.float32)
    is_first = np.zeros((4, 2), bool)
    is_first[0] = True
    batch = _batch(obs, np.zeros((4, 2), np.int32), np.zeros((4, 2)), is_first, np.zeros((4, 2), bool))
    loss, aux = _np(jax.jit(functools.partial(world_model_loss, model=wm))(jax.random.key(2), params, batch))
    assert np.isfinite(loss) and all(np.isfinite(v) for v in aux.metrics.values())
    assert aux.start.h.shape == (8, 8) and aux.start.z.shape == (8, 4, 4)
    # The recurrent posterior reads h: its head takes [h, embed] inputs (8 + the conv features, 3x3x8 = 72).
    assert params["params"]["post_head"]["dense0"]["kernel"].shape[0] == 8 + conv_feature_size((10, 10, 4), 4)


@pytest.mark.parametrize("shape, n_layers", [((10, 10, 4), 2), ((64, 64, 3), 4)])
def test_cnn_round_trip_shapes(shape, n_layers):
    # 10 -> 5 -> 3 (two stride-2 convs, SAME padding: ceil(s / 2)); 64 -> 32 -> 16 -> 8 -> 4 (four).
    sizes = conv_sizes(shape[0], shape[1], 4)
    assert len(sizes) - 1 == n_layers
    enc, dec = ConvEncoder(depth=4), ConvDecoder(shape, depth=4)
    image = jax.ShapeDtypeStruct((3, 2) + shape, jnp.float32)
    # Shapes only (jax.eval_shape compiles nothing): encode, then decode the features back to the image.
    round_trip = lambda key, x: dec.init_with_output(key, enc.init_with_output(key, x)[0])[0]
    feat, image_out = jax.eval_shape(lambda k, x: (enc.init_with_output(k, x)[0], round_trip(k, x)),
                                     jax.random.key(0), image)
    # last map: sizes[-1] pixels x (4 * 2 ** (n_layers - 1)) channels
    expected = int(np.prod(sizes[-1])) * 4 * 2 ** (n_layers - 1)
    assert feat.shape == (3, 2, expected) and conv_feature_size(shape, 4) == expected
    assert image_out.shape == (3, 2) + shape
