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
from ssmrl.env import Box, Discrete, MultiDiscrete
from ssmrl.nets import space_features, space_spec
from ssmrl.nets.conv import ConvDecoder, ConvEncoder, conv_feature_size, conv_sizes
from ssmrl.world_model.batch import ReplayBatch
from ssmrl.world_model.model import (
    ImagineStart,
    WorldModel,
    init_world_model,
    make_world_model,
    world_model_loss,
)

T, B, H, OBS, ACTIONS, HORIZON, T_IMAGINE = 8, 2, 4, 3, 3, 3, 4
CASES = available_cores()
# Interior resets: column 0 at t = 0 and 3, column 1 at t = 5 and 6 (it starts from the warm carry-in).
IS_FIRST = np.zeros((T, B), bool)
IS_FIRST[[0, 3], 0] = True
IS_FIRST[[5, 6], 1] = True
RESET_AT = (3, 5)  # the interior reset of each column that the reset test perturbs before


def _model(core: str) -> WorldModel:
    """The sweep's float64 model: vector observations, discrete actions, 4 x 4 latents, one-layer heads."""
    return make_world_model(Box(-1.0, 1.0, (OBS,)), Discrete(ACTIONS),
                            make_stack(core, H, n_layers=1, dtype=jnp.float64), groups=4, classes=4, hidden=8,
                            mlp_layers=0, reward_bins=5, dtype=jnp.float64)


@contextlib.contextmanager
def fast_random(x64: bool = True):
    """float64 (``jax.enable_x64``) and the non-partitionable threefry, whose random bits compile ~7x faster on
    CPU (0.2 s against 1.5 s per sampling site with jax 0.10). Both forms under test draw the same bits."""
    with jax.enable_x64(x64), jax.threefry_partitionable(False):
        yield


def jit(fun):
    """``jax.jit`` with LLVM at -O0: these tiny tests are compile-bound, and it compiles them ~40% faster (the
    arithmetic is IEEE either way; run time is negligible at these sizes)."""
    return jax.jit(fun, compiler_options={"xla_backend_optimization_level": 0})


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


def _step_loop(wm, params, keys, carry, obs, action, is_first):
    """Reference: a lax.scan of observe_step, step t with keys[t]. Returns (final carry, per-step Observed)."""

    def body(c, inputs):
        k, o, a, f = inputs
        out = wm.apply(params, k, c, o, a, f, method="observe_step")
        return out.carry, out

    return jax.lax.scan(body, carry, (keys, obs, action, is_first))


@functools.cache
def _head_params():
    """Everything but the stack's parameters: the same for every core (all stacks have width H)."""
    with fast_random():
        return jit(functools.partial(init_world_model, model=_model("identity")))(_init_key())


@functools.cache
def _actor():
    with fast_random():
        actor = Actor(space_spec(Discrete(ACTIONS)), hidden=8, layers=1, dtype=jnp.float64)
        return actor, jit(actor.init)(_init_key(2), jnp.zeros((1, H + 16), jnp.float64))


def _inputs():
    """Warm-up and main sequences (obs, actions), and the main one changed before each column's reset in
    RESET_AT: obs before it, actions up to it (action[k] is a_{k-1}, which the reset at k zeroes)."""
    rng = np.random.default_rng(0)
    obs, warm_obs = rng.normal(size=(2, T, B, OBS))
    action, warm_action = rng.integers(0, ACTIONS, (2, T, B)).astype(np.int32)
    obs2, action2 = obs.copy(), action.copy()
    for b, k in enumerate(RESET_AT):
        obs2[:k, b] = -3.0 * obs[:k, b] + 1.0
        action2[: k + 1, b] = (action[: k + 1, b] + 1) % ACTIONS
    return obs, action, warm_obs, warm_action, obs2, action2


@functools.cache
def _sweep(case: str) -> dict:
    """Everything the core sweep compares, from one compiled function per core (host arrays).

    The step loop runs over a warm-up sequence (no resets) followed by the main one; the carry after the warm-up
    is the carry-in of the parallel form, which runs on the main sequence and on its changed copy (vmapped).
    Imagination (vmapped over the two starts, same key) starts from the posterior state after step ``T_IMAGINE``
    of the parallel form and of the step loop.
    """
    with fast_random():
        wm = _model(case)
        heads = _head_params()
        actor, actor_params = _actor()
        obs, action, warm_obs, warm_action, obs2, action2 = _inputs()
        key_warm, key, key_imagine = jax.random.split(jax.random.key(3), 3)

        @jit
        def run(init_key):
            stack_params = wm.stack.init(init_key, wm.stack.initialize_carry(B), jnp.zeros((T, B, H), jnp.float64),
                                         jnp.zeros((T, B), bool))
            params = {"params": {**heads["params"], "stack": stack_params["params"]}}
            keys = jnp.concatenate([jax.random.split(key_warm, T), jax.random.split(key, T)])
            cat = lambda warm, main: jnp.concatenate([jnp.asarray(warm), jnp.asarray(main)])
            final, steps = _step_loop(wm, params, keys, wm.initialize_carry(B), cat(warm_obs, obs),
                                      cat(warm_action, action), cat(np.zeros((T, B), bool), IS_FIRST))
            carry_in = jax.tree.map(lambda x: x[T - 1], steps.carry)
            seq = jax.tree.map(lambda x: x[T:], steps)
            observe = lambda o, a: wm.apply(params, key, carry_in, o, a, IS_FIRST, True, method="observe")
            both = jax.vmap(observe)(jnp.stack([obs, obs2]), jnp.stack([action, action2]))
            par, changed = (jax.tree.map(lambda x, i=i: x[i], both) for i in range(2))
            at_t = lambda tree: jax.tree.map(lambda x: x[T_IMAGINE], tree)
            starts = jax.tree.map(lambda *x: jnp.stack(x), *(
                ImagineStart(at_t(o.carries if o is par else o.carry), at_t(o.h), at_t(o.z), jnp.ones(B))
                for o in (par, seq)))
            imagined = jax.vmap(lambda s: imagine(key_imagine, params, actor_params, s, HORIZON, world_model=wm,
                                                  actor=actor))(starts)
            return dict(params=params, carry_in=carry_in, par=par, changed=changed, seq=seq, seq_final=final,
                        imagined=imagined)

        out = _np(run(_init_key(1)))
        return dict(out, wm=wm, obs=obs, action=action, key=key)


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
def test_parallel_observe_equals_stepwise(case):
    r = _sweep(case)
    par, seq, final = r["par"], r["seq"], r["seq_final"]
    assert par.h.dtype == np.float64 and par.h.shape == (T, B, H) and par.z.shape == (T, B, 4, 4)
    # One-hot samples: exactly one entry 1 per group, the rest 0.
    np.testing.assert_array_equal(par.z.max(-1), 1.0)
    np.testing.assert_array_equal(par.z.sum(-1), 1.0)
    for name in ("h", "z", "post_logits", "prior_logits"):
        a, b = getattr(par, name), getattr(seq, name)
        assert _max_err(a, b) <= 1e-9 * _scale(b), f"{case}: {name} differ"
    assert _max_err(par.carry, final) <= 1e-9 * _scale(final), f"{case}: final carry differs"
    assert _max_err(par.carries, seq.carry) <= 1e-9 * _scale(seq.carry), f"{case}: some carry differs"
    # The carry after the last step is the last of the per-step carries; z in it is the last posterior sample.
    assert _max_err(jax.tree.map(lambda c: c[-1], par.carries), par.carry) == 0.0
    np.testing.assert_array_equal(par.carry.z, par.z[-1])


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", CASES)
def test_imagination_from_posterior_carry_equals_stepping_then_imagining(case):
    """Imagining from the parallel form's state after step t equals stepping observe_step from the sequence start
    to t and imagining from there, same keys (t = 4 follows column 0's reset at 3 and precedes column 1's)."""
    from_par, from_seq = (jax.tree.map(lambda x, i=i: x[i], _sweep(case)["imagined"]) for i in range(2))
    assert from_par.feat.shape == (HORIZON + 1, B, H + 16) and from_par.action.shape == (HORIZON, B)
    np.testing.assert_array_equal(from_par.action, from_seq.action)
    for name in ("feat", "log_prob", "entropy", "reward", "cont"):
        a, b = getattr(from_par, name), getattr(from_seq, name)
        assert _max_err(a, b) <= 1e-9 * _scale(b), f"{case}: imagined {name} differ"


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", CASES)
def test_reset_zeroes_previous_latent_and_action(case):
    """Changing obs before an interior reset and actions up to it (action[k] is a_{k-1}, zeroed at the reset)
    changes nothing from the reset on, but does change the steps before it."""
    r = _sweep(case)
    base, changed = r["par"], r["changed"]
    for b, k in enumerate(RESET_AT):
        after = lambda out, k=k, b=b: jax.tree.map(lambda x: x[k:, b], (out.h, out.z, out.post_logits,
                                                                           out.prior_logits, out.carries))
        assert _max_err(after(changed), after(base)) <= 1e-9 * _scale(after(base)), f"{case}: column {b}"
        assert np.max(np.abs(changed.post_logits[k - 1, b] - base.post_logits[k - 1, b])) > 1e-3


def _batch(obs, action, reward, is_first, terminated):
    """A replayed batch of host (numpy) arrays; truncated is all False."""
    return ReplayBatch(obs, action, np.asarray(reward, np.float32), np.asarray(is_first), np.asarray(terminated),
                       np.zeros(np.shape(is_first), bool))


@functools.cache
def _train(case: str = "s5", steps: int = 5) -> dict:
    """Adam on the world-model loss of the sweep's model and main sequence (from its carry-in, same sampling key
    as the sweep's parallel form), with rewards and terminal flags added: losses and the first step's aux."""
    r = _sweep(case)
    wm = r["wm"]
    terminated = np.zeros((T, B), bool)
    terminated[2, 0] = terminated[7, 1] = True
    reward = np.arange(T * B, dtype=np.float32).reshape(T, B) - 4.0
    batch = _batch(r["obs"], r["action"], reward, IS_FIRST, terminated)
    tx = optax.adam(1e-2)
    with fast_random():
        loss_fn = functools.partial(world_model_loss, model=wm, carry=r["carry_in"])

        @jit
        def update(params, opt_state):
            (loss, aux), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(r["key"], params, batch)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss, aux, grads

        params, opt_state = r["params"], tx.init(r["params"])
        losses = []
        for i in range(steps):
            params, opt_state, loss, aux, grads = update(params, opt_state)
            losses.append(float(loss))
            if i == 0:
                first = _np(dict(loss=loss, aux=aux, grads=grads))
    return dict(first, losses=losses, terminated=terminated)


@pytest.mark.usefixtures("float64")
def test_loss_parts_and_starts():
    """Hand-checkable parts of the loss: the zero-initialised reward head gives every one of the 5 bins
    probability 1/5, so the two-hot cross-entropy is log 5 whatever the target; the decoder (mlp_layers = 0) is
    one dense layer, so the symlog-MSE is recomputed here from its weights; the KL term is a mean over steps of
    0.5 * max(1, KL) + 0.1 * max(1, KL) >= 0.6 * max(1, mean KL); starts are the parallel form's per-step states
    flattened as t * B + b, with continue 1 - terminated."""
    r, tr = _sweep("s5"), _train("s5")
    m, start, par = tr["aux"].metrics, tr["aux"].start, r["par"]
    assert all(v.dtype == np.float32 and v.shape == () for v in m.values())
    np.testing.assert_allclose(m["reward_loss"], np.log(5.0), rtol=1e-6)
    kl_part = float(m["loss"] - m["recon_loss"] - m["reward_loss"] - m["cont_loss"])
    assert kl_part >= 0.6 * max(1.0, float(m["dyn_kl"])) - 1e-5
    np.testing.assert_allclose(m["dyn_kl"], m["rep_kl"], rtol=1e-6)
    np.testing.assert_allclose(tr["loss"], m["loss"])
    dec = r["params"]["params"]["decoder"]["out"]
    feat = np.concatenate([par.h, par.z.reshape(T, B, 16)], -1)
    pred = feat @ dec["kernel"] + dec["bias"]
    target = np.sign(r["obs"]) * np.log1p(np.abs(r["obs"]))
    np.testing.assert_allclose(m["recon_loss"], np.mean(np.sum((pred - target) ** 2, -1)), rtol=1e-5)
    for t, b in ((0, 0), (6, 1), (T - 1, 1)):
        np.testing.assert_allclose(start.h[t * B + b], par.h[t, b], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(start.z[t * B + b], par.z[t, b])
        at_start, at_par = (jax.tree.map(lambda c, i=i: c[i], tree) for i, tree in
                            ((t * B + b, start.carry), ((t, b), par.carries)))
        assert _max_err(at_start, at_par) <= 1e-12 * _scale(at_par)
    np.testing.assert_array_equal(start.cont.reshape(T, B), 1.0 - tr["terminated"])


@pytest.mark.usefixtures("float64")
def test_gradient_steps_decrease_loss():
    tr = _train("s5")
    grads = tr["grads"]["params"]
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    # Every part but the prior gets a gradient from the first step (the prior learns only from the KL terms,
    # which sit below the 1-nat free bits at every step of this fresh model, so they pass no gradient).
    for name in ("post_head", "in_proj", "stack", "decoder", "reward_head", "cont_head"):
        assert max(np.max(np.abs(g)) for g in jax.tree.leaves(grads[name])) > 0.0, name
    losses = tr["losses"]
    assert losses[-1] < losses[0] - 0.05, losses


def test_space_features():
    # Discrete(3): 2 -> [0, 0, 1]; MultiDiscrete((2, 3)): [1, 0] -> [0, 1 | 1, 0, 0]; Box: flattened values.
    np.testing.assert_array_equal(space_features(space_spec(Discrete(3)), jnp.array([2])), [[0, 0, 1]])
    np.testing.assert_array_equal(space_features(space_spec(MultiDiscrete((2, 3))), jnp.array([[1, 0]])),
                                  [[0, 1, 1, 0, 0]])
    box = jnp.arange(6.0).reshape(1, 2, 3)
    np.testing.assert_array_equal(space_features(space_spec(Box(-9.0, 9.0, (2, 3))), box), box.reshape(1, 6))


@pytest.mark.usefixtures("float32")
def test_recurrent_posterior_discrete_obs_box_actions():
    """posterior="recurrent" (q(z | h, o), a scan of the step) with MultiDiscrete((2, 3)) observations and Box
    actions: observe equals a scan of observe_step, the loss is finite, the posterior head reads [h, embed], and
    the reconstruction loss is the cross-entropy of each component, recomputed here from the one-layer decoder
    (mlp_layers = 0)."""
    wm = make_world_model(MultiDiscrete((2, 3)), Box(-1.0, 1.0, (2,)), make_stack("gru", 8, n_layers=1),
                          groups=4, classes=4, hidden=16, mlp_layers=0, reward_bins=11, posterior="recurrent")
    params = jit(functools.partial(init_world_model, model=wm))(_init_key())
    rng = np.random.default_rng(1)
    obs = rng.integers(0, [2, 3], (4, 2, 2)).astype(np.int32)
    action = rng.uniform(-1.0, 1.0, (4, 2, 2)).astype(np.float32)
    is_first = np.zeros((4, 2), bool)
    is_first[[0, 2], 0] = is_first[0, 1] = True
    batch = _batch(obs, action, np.zeros((4, 2)), is_first, np.zeros((4, 2), bool))
    key = jax.random.key(2)

    @jit
    def run(params):
        carry = wm.initialize_carry(2)
        par = wm.apply(params, key, carry, obs, action, is_first, True, method="observe")
        steps = _step_loop(wm, params, jax.random.split(key, 4), carry, obs, action, is_first)
        return world_model_loss(key, params, batch, model=wm), par, steps

    (loss, aux), par, (final, seq) = _np(run(params))
    for a, b in ((par.h, seq.h), (par.z, seq.z), (par.post_logits, seq.post_logits), (par.carries, seq.carry),
                 (par.carry, final)):
        assert _max_err(a, b) <= 1e-6 * _scale(b)
    assert np.isfinite(loss) and all(np.isfinite(v) for v in aux.metrics.values())
    assert aux.start.h.shape == (8, 8) and aux.start.z.shape == (8, 4, 4)
    p = params["params"]
    # embed = one-hot obs (mlp_layers = 0: the encoder is the identity), 2 + 3 = 5 wide; h is 8 wide.
    assert p["post_head"]["dense0"]["kernel"].shape[0] == 8 + 5
    feat = np.concatenate([aux.start.h, aux.start.z.reshape(8, 16)], -1)
    logits = feat @ p["decoder"]["out"]["kernel"] + p["decoder"]["out"]["bias"]  # [N, 2 + 3]
    shifted = lambda x: x - x.max(-1, keepdims=True)
    log_softmax = lambda x: shifted(x) - np.log(np.exp(shifted(x)).sum(-1, keepdims=True))
    flat_obs = obs.reshape(8, 2)
    ce = -(np.take_along_axis(log_softmax(logits[:, :2]), flat_obs[:, :1], -1)
           + np.take_along_axis(log_softmax(logits[:, 2:]), flat_obs[:, 1:], -1))
    np.testing.assert_allclose(aux.metrics["recon_loss"], ce.mean(), rtol=1e-5)


@pytest.mark.parametrize("shape, scale, shift", [((10, 10, 4), 1.0, 0.0), ((64, 64, 3), 255.0, 0.5)])
def test_image_world_model_shapes(shape, scale, shift):
    """Image observations through the whole loss, shapes only (``jax.eval_shape`` compiles nothing): MinAtar-like
    0/1 planes and uint8 frames scaled to [-0.5, 0.5]."""
    wm = make_world_model(Box(0.0, scale, shape), Discrete(3), make_stack("s5", 8, n_layers=1), groups=4,
                          classes=4, hidden=16, mlp_layers=1, reward_bins=11, cnn_depth=4, image_scale=scale,
                          image_shift=shift)
    obs = jax.ShapeDtypeStruct((3, 2) + shape, jnp.uint8 if scale == 255.0 else jnp.float32)
    flags = jax.ShapeDtypeStruct((3, 2), bool)
    batch = ReplayBatch(obs, jax.ShapeDtypeStruct((3, 2), jnp.int32), jax.ShapeDtypeStruct((3, 2), jnp.float32),
                        flags, flags, flags)
    params = jax.eval_shape(functools.partial(init_world_model, model=wm), jax.random.key(0))
    assert params["params"]["encoder"]["conv0"]["kernel"].shape == (4, 4, shape[2], 4)
    loss, aux = jax.eval_shape(functools.partial(world_model_loss, model=wm), jax.random.key(1), params, batch)
    assert loss.shape == () and aux.start.h.shape == (6, 8) and aux.start.z.shape == (6, 4, 4)
    recon = jax.eval_shape(lambda p, f, o: wm.apply(p, f, o, method="recon_loss"), params,
                           jax.ShapeDtypeStruct((3, 2, 8 + 16), jnp.float32), obs)
    assert recon.shape == (3, 2)  # summed over the image


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
