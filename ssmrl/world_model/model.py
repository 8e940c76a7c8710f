"""The world model: S4WM-style categorical latents on any sequence core, with DreamerV3's heads and KL balancing.

Time-major throughout. The replay layout (``ssmrl.world_model.batch``): step ``t`` holds ``obs[t]``, the previous
action ``action[t]`` (taken before obs t; zeros where is_first), the reward received on arriving at obs t and the
flags. The model, for every step ``t``::

    u_t = Linear([z_{t-1}, a_{t-1}])       z_{t-1}, a_{t-1} = action[t]: zeroed where is_first[t]
    h_t = core(u_1..u_t)                    the stack's parallel form (carry reset where is_first[t])
    q(z_t | o_t)            posterior="s4wm" (default): from the observation alone, so all z are sampled at once
    q(z_t | h_t, o_t)       posterior="recurrent": DreamerV3's RSSM posterior, a lax.scan of the core's step
    p(z_t | h_t)            prior
    feat_t = [h_t, flatten(z_t)] -> decoder, reward (two-hot logits), continue (Bernoulli logit)

The carry (:class:`WMCarry`) is the stack's carry plus ``z``, the latest latent (``z_{t-1}`` for the next step;
zeros initially), so ``observe`` continues exactly across calls. Sampling keys: ``observe(key, ...)`` uses
``jax.random.split(key, T)[t]`` for step ``t`` in both modes, so it equals a scan of ``observe_step`` over those
keys. Latent samples are exactly one-hot in value, with straight-through gradients.

Observations: ``Box`` of rank 3 is an image (``ssmrl.nets.conv``; scaled ``obs / image_scale - image_shift``,
MSE decoder); other ``Box`` shapes are vectors (symlog, MLP; symlog-MSE decoder); ``Discrete`` /
``MultiDiscrete`` are one-hot (categorical decoder, cross-entropy); a ``Discrete`` with a shape (e.g. [H, W] tile
classes) is a window of cells, "tiles" (one-hot per cell, flattened, MLP; per-cell logits [..., H, W, n],
per-cell cross-entropy summed over the cells: ``ssmrl.world_model.tiles``). Actions enter as one-hot (MultiDiscrete:
concatenated one-hots) or as the raw Box vector.

Loss (:func:`world_model_loss`): recon + reward + continue + ``kl_balance`` (DreamerV3 scales 0.5 / 0.1, free bits
1 nat applied per step, see ``ssmrl.nets.latent``), each term averaged over ``[T, B]``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from ssmrl.nets.conv import ConvDecoder, ConvEncoder
from ssmrl.nets.encoders import space_features, space_spec
from ssmrl.nets.latent import flatten_latent, kl_balance, latent_entropy, sample_latent
from ssmrl.nets.twohot import symlog, symlog_bins, twohot_loss, twohot_mean
from ssmrl.world_model.config import POSTERIORS
from ssmrl.world_model.tiles import cell_cross_entropy

Array = jax.Array
sg = jax.lax.stop_gradient


@struct.dataclass
class WMCarry:
    """The world model's recurrent state: ``core`` the stack's carry (leaves [B, ...]) and ``z`` the latest
    latent [B, G, K] (the ``z_{t-1}`` of the next step)."""

    core: Any
    z: Array


@struct.dataclass
class Observed:
    """Output of ``observe`` ([T, B, ...]) or ``observe_step`` (the same without T).

    h: core output [T, B, H]; z: posterior sample, one-hot with straight-through gradients [T, B, G, K];
    post_logits, prior_logits: [T, B, G, K]; carry: the carry after the last step; carries: with
    ``return_carries``, the carry after consuming each step (leaves [T, B, ...]), else None.
    """

    h: Array
    z: Array
    post_logits: Array
    prior_logits: Array
    carry: WMCarry
    carries: WMCarry | None = None


@struct.dataclass
class ImagineStart:
    """Posterior states to imagine from, N of them (flattened [T, B] -> N = T * B, index ``t * B + b``).

    carry: :class:`WMCarry` after consuming the step (leaves [N, ...]); h [N, H]; z [N, G, K];
    cont float32 [N]: the start's own continue from the data, ``1 - terminated`` (terminal starts get 0).
    All without gradient.
    """

    carry: WMCarry
    h: Array
    z: Array
    cont: Array


@struct.dataclass
class LossAux:
    """Auxiliary output of :func:`world_model_loss`: metrics (float32 scalars) and the imagination starts."""

    metrics: dict
    start: ImagineStart


def features(h: Array, z: Array) -> Array:
    """feat = concat(h [..., H], flatten(z [..., G, K])) -> [..., H + G * K]."""
    return jnp.concatenate([h, flatten_latent(z).astype(h.dtype)], axis=-1)


class MLP(nn.Module):
    """``layers`` x (Dense(hidden) -> LayerNorm -> SiLU), then an optional Dense(out) (``out=0``: none).

    x [..., F] -> [..., out or hidden]. ``zero_out``: the output layer starts at zero (DreamerV3's reward and
    critic heads).
    """

    hidden: int
    layers: int
    out: int = 0
    zero_out: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = x.astype(self.dtype)
        for i in range(self.layers):
            x = nn.Dense(self.hidden, dtype=self.dtype, param_dtype=self.dtype, name=f"dense{i}")(x)
            x = nn.silu(nn.LayerNorm(dtype=self.dtype, param_dtype=self.dtype, name=f"norm{i}")(x))
        if self.out:
            init = nn.initializers.zeros if self.zero_out else nn.initializers.lecun_normal()
            x = nn.Dense(self.out, kernel_init=init, dtype=self.dtype, param_dtype=self.dtype, name="out")(x)
        return x


def obs_kind(spec: tuple) -> str:
    """"image" (rank-3 Box), "vector" (other Box), "tiles" (a Discrete with a shape: a window of categorical
    cells) or "discrete" (a scalar Discrete, MultiDiscrete)."""
    kind, shape, _ = spec
    if kind == "box":
        return "image" if len(shape) == 3 else "vector"
    return "tiles" if kind == "discrete" and len(shape) > 0 else "discrete"


class WorldModel(nn.Module):
    """The world model (module docstring). Build with :func:`make_world_model` or directly.

    Attributes:
      obs_spec, action_spec: ``space_spec`` of the observation / action space.
      stack: the sequence core (``ModelConfig.make_stack()`` or any core of the interface); its d_model is H.
      groups, classes: latent shape G x K. hidden, mlp_layers: width and depth of the MLPs (vector / discrete
        encoder, decoder, reward and continue heads; ``mlp_layers=0`` makes each one dense layer, the encoder the
        identity); the prior head and the recurrent posterior head have one hidden layer, the S4WM posterior is
        one dense layer on the embedding. reward_bins, reward_low, reward_high: the
        two-hot bins (``symlog_bins``). unimix: uniform mix of the latent categoricals. posterior: "s4wm" or
        "recurrent". cnn_depth, cnn_min_res: the image encoder / decoder. image_scale, image_shift: an image
        observation is modelled as ``obs / image_scale - image_shift`` (1, 0 for MinAtar's 0/1 planes; 255, 0.5 for
        uint8 frames). dtype: parameters and activations (float64 needs ``jax.enable_x64``; latent sampling and
        the losses run in float32).
    """

    obs_spec: tuple
    action_spec: tuple
    stack: Any
    groups: int = 8
    classes: int = 8
    hidden: int = 128
    mlp_layers: int = 2
    reward_bins: int = 255
    reward_low: float = -20.0
    reward_high: float = 20.0
    unimix: float = 0.01
    posterior: str = "s4wm"
    cnn_depth: int = 16
    cnn_min_res: int = 4
    image_scale: float = 1.0
    image_shift: float = 0.0
    dtype: Any = jnp.float32

    def setup(self):
        if self.posterior not in POSTERIORS:
            raise ValueError(f"posterior must be one of {list(POSTERIORS)}, got {self.posterior!r}")
        kind, shape, sizes = self.obs_spec
        latent = self.groups * self.classes
        mlp = lambda out=0, layers=self.mlp_layers, zero_out=False: MLP(self.hidden, layers, out, zero_out,
                                                                         self.dtype)
        if obs_kind(self.obs_spec) == "image":
            self.encoder = ConvEncoder(self.cnn_depth, self.cnn_min_res, dtype=self.dtype)
            self.decoder = ConvDecoder(tuple(shape), self.cnn_depth, self.cnn_min_res, dtype=self.dtype)
        else:
            self.encoder = mlp()
            width = int(np.prod(shape)) if kind == "box" else int(sum(sizes))
            if obs_kind(self.obs_spec) == "tiles":  # per-cell logits: H x W cells of n tiles
                width = int(np.prod(shape)) * int(sizes[0])
            self.decoder = mlp(width)
        self.post_head = mlp(latent, layers=1 if self.posterior == "recurrent" else 0)
        self.prior_head = mlp(latent, layers=1)
        self.in_proj = nn.Dense(self.stack.d_model, dtype=self.dtype, param_dtype=self.dtype)
        self.reward_head = mlp(self.reward_bins, zero_out=True)
        self.cont_head = mlp(1)

    # ----- carry and core input -----

    def initialize_carry(self, batch_size: int) -> WMCarry:
        """The initial carry: the stack's initial carry and z = 0 [B, G, K]."""
        return WMCarry(self.stack.initialize_carry(batch_size),
                       jnp.zeros((batch_size, self.groups, self.classes), self.dtype))

    def _core_input(self, z_prev: Array, action: Array, is_first: Array) -> Array:
        """u = Linear([z_prev, a_prev]) with both zeroed where is_first. z_prev [..., G, K], action [..., *a_shape],
        is_first bool [...] -> [..., H]."""
        keep = (1 - is_first.astype(self.dtype))[..., None]
        x = jnp.concatenate([flatten_latent(z_prev).astype(self.dtype),
                             space_features(self.action_spec, action, self.dtype)], -1)
        return self.in_proj(x * keep)

    # ----- encoder, posterior, prior -----

    def _obs_input(self, obs: Array) -> Array:
        """The observation as the encoder takes it and the decoder reconstructs it (scaled image, symlog vector,
        one-hot): [*lead, *obs_shape] -> [*lead, *obs_shape] (image) or [*lead, F]."""
        kind = obs_kind(self.obs_spec)
        if kind == "image":
            return obs.astype(self.dtype) / self.image_scale - self.image_shift
        x = space_features(self.obs_spec, obs, self.dtype)
        return symlog(x) if kind == "vector" else x

    def embed(self, obs: Array) -> Array:
        """obs [*lead, *obs_shape] -> embedding [*lead, E]."""
        return self.encoder(self._obs_input(obs))

    def _latent_logits(self, head: nn.Module, x: Array) -> Array:
        return head(x).reshape(x.shape[:-1] + (self.groups, self.classes))

    def post_logits(self, embed: Array, h: Array) -> Array:
        """Posterior logits [..., G, K] from the embedding [..., E] (and h [..., H] in the recurrent mode)."""
        x = jnp.concatenate([h, embed], -1) if self.posterior == "recurrent" else embed
        return self._latent_logits(self.post_head, x)

    def prior_logits(self, h: Array) -> Array:
        """Prior logits [..., G, K] from h [..., H]."""
        return self._latent_logits(self.prior_head, h)

    def _sample(self, key: Array, logits: Array) -> Array:
        """One-hot z [..., G, K] in ``dtype``. ``sample_latent``'s straight-through value ``onehot + p - sg(p)`` is
        one-hot only up to float32 rounding (1 - 6e-8), which would differ between the parallel and stepwise forms
        wherever p does in its last bit; rounding the value (``+ sg(round(z) - z)``) keeps the gradient."""
        z = sample_latent(key, logits, self.unimix)
        return (z + sg(jnp.round(z) - z)).astype(self.dtype)

    # ----- observing -----

    def _step(self, key: Array, carry: WMCarry, embed: Array, action: Array, is_first: Array) -> Observed:
        u = self._core_input(carry.z, action, is_first)
        core, h = self.stack.step(carry.core, u, is_first)
        post = self.post_logits(embed, h)
        z = self._sample(key, post)
        return Observed(h, z, post, self.prior_logits(h), WMCarry(core, z))

    def observe_step(self, key: Array, carry: WMCarry, obs: Array, action: Array, is_first: Array) -> Observed:
        """One step: obs [B, *obs_shape], action [B, *action_shape] (the previous action), is_first bool [B]
        -> :class:`Observed` with fields [B, ...] (carries None). Where is_first is set the carry (core and z) is
        reset before the step."""
        return self._step(key, carry, self.embed(obs), action, is_first)

    def observe(self, key: Array, carry: WMCarry, obs: Array, action: Array, is_first: Array,
                return_carries: bool = False) -> Observed:
        """A sequence: obs [T, B, *obs_shape], action [T, B, *action_shape] (previous actions), is_first bool
        [T, B] -> :class:`Observed` [T, B, ...]. Step t samples with ``jax.random.split(key, T)[t]``.

        s4wm: all posteriors at once, then the stack's parallel form on u_t; recurrent: a scan of the step.
        """
        keys = jax.random.split(key, obs.shape[0])
        embed = self.embed(obs)
        if self.posterior == "recurrent":
            return self._observe_scan(keys, carry, embed, action, is_first, return_carries)
        post = self.post_logits(embed, None)
        z = jax.vmap(self._sample)(keys, post)
        z_prev = jnp.concatenate([carry.z[None], z[:-1]], 0)
        out = self.stack(carry.core, self._core_input(z_prev, action, is_first), is_first,
                         return_carries=return_carries)
        h = out[1]
        carries = WMCarry(out[2], z) if return_carries else None
        return Observed(h, z, post, self.prior_logits(h), WMCarry(out[0], z[-1]), carries)

    def core_inputs(self, key: Array, obs: Array, action: Array, is_first: Array) -> Array:
        """The stack's inputs u_t = Linear([z_{t-1}, a_{t-1}]) while observing episodes from a fresh carry, as
        :meth:`observe` feeds them (posterior samples with the same keys): obs [T, B, *obs_shape], action
        [T, B, *action_shape], is_first bool [T, B] -> [T, B, H]. For the memory diagnostics of the trained core."""
        carry = self.initialize_carry(obs.shape[1])
        z = self.observe(key, carry, obs, action, is_first).z
        z_prev = jnp.concatenate([carry.z[None], z[:-1]], 0)
        return self._core_input(z_prev, action, is_first)

    def _observe_scan(self, keys, carry, embed, action, is_first, return_carries):
        def body(module, c, inputs):
            key, embed_t, action_t, is_first_t = inputs
            out = module._step(key, c, embed_t, action_t, is_first_t)
            return out.carry, out.replace(carry=out.carry if return_carries else None)

        scan = nn.scan(body, variable_broadcast="params", split_rngs={"params": False})
        final, outs = scan(self, carry, (keys, embed, action, is_first))
        return outs.replace(carry=final, carries=outs.carry)

    # ----- imagination -----

    def imagine_step(self, key: Array, carry: WMCarry, z: Array, action: Array, mode: bool = False
                     ) -> tuple[WMCarry, Array, Array]:
        """One imagined step from latent z [B, G, K] (the current state's, e.g. an observed z_t) and action
        [B, *action_shape] taken there -> (carry, h [B, H], z' [B, G, K] sampled from the prior p(z | h); with
        ``mode`` the prior's most likely class in each group instead, one-hot, and ``key`` unused).

        ``carry.z`` is not read (z is); the returned carry holds z'. No reset (is_first False).
        """
        is_first = jnp.zeros(z.shape[:1], bool)
        core, h = self.stack.step(carry.core, self._core_input(z, action, is_first), is_first)
        logits = self.prior_logits(h)
        if mode:
            z_next = jax.nn.one_hot(jnp.argmax(logits, -1), self.classes, dtype=self.dtype)
        else:
            z_next = self._sample(key, logits)
        return WMCarry(core, z_next), h, z_next

    # ----- heads -----

    def feat(self, h: Array, z: Array) -> Array:
        """concat(h [..., H], flatten(z [..., G, K])) -> [..., H + G * K]."""
        return features(h, z)

    def decode(self, feat: Array) -> Array:
        """The reconstruction of :meth:`_obs_input`: scaled image [..., *obs_shape], symlog vector [..., F],
        concatenated logits of the discrete components [..., sum(nvec)] or, tiles, per-cell logits
        [..., *obs_shape, n]."""
        out = self.decoder(feat)
        if obs_kind(self.obs_spec) == "tiles":
            _, shape, (n,) = self.obs_spec
            out = out.reshape(out.shape[:-1] + tuple(shape) + (n,))
        return out

    def reward(self, feat: Array) -> Array:
        """Reward logits [..., reward_bins] over :meth:`bins` (``twohot_mean`` decodes them)."""
        return self.reward_head(feat)

    def cont(self, feat: Array) -> Array:
        """Continue logit [...] (Bernoulli; target 1 - terminated)."""
        return self.cont_head(feat)[..., 0]

    def bins(self) -> Array:
        """Reward bins float32 [reward_bins] (symlog space)."""
        return symlog_bins(self.reward_bins, self.reward_low, self.reward_high)

    def reward_value(self, feat: Array) -> Array:
        """Decoded reward float32 [...]."""
        return twohot_mean(self.reward(feat), self.bins())

    def recon_loss(self, feat: Array, obs: Array) -> Array:
        """Reconstruction loss float32 [...] of obs [..., *obs_shape] from feat [..., F], summed over the
        observation: squared error of the scaled image or of symlog(vector); cross-entropy for discrete, per cell
        for tiles (:func:`~ssmrl.world_model.tiles.cell_cross_entropy`)."""
        pred = self.decode(feat).astype(jnp.float32)
        kind, shape, sizes = self.obs_spec
        if obs_kind(self.obs_spec) == "tiles":
            return jnp.sum(cell_cross_entropy(pred, obs), axis=tuple(range(-len(shape), 0)))
        target = self._obs_input(obs).astype(jnp.float32)
        if obs_kind(self.obs_spec) == "discrete":
            splits = np.cumsum(sizes)[:-1]
            parts = zip(jnp.split(pred, splits, -1), jnp.split(target, splits, -1), strict=True)
            return sum(optax.softmax_cross_entropy(logits, labels) for logits, labels in parts)
        axes = tuple(range(-len(shape), 0)) if obs_kind(self.obs_spec) == "image" else (-1,)
        return jnp.sum(jnp.square(pred - target), axis=axes)

    def __call__(self, key: Array, carry: WMCarry, obs: Array, action: Array, is_first: Array) -> dict:
        """Observe a sequence and run every head (creates all parameters at ``init``)."""
        out = self.observe(key, carry, obs, action, is_first)
        feat = self.feat(out.h, out.z)
        return {"observed": out, "recon": self.decode(feat), "reward": self.reward(feat), "cont": self.cont(feat)}


def make_world_model(observation_space, action_space, stack, **options: Any) -> WorldModel:
    """The world model for these spaces on ``stack``; ``options`` are :class:`WorldModel` attributes."""
    return WorldModel(space_spec(observation_space), space_spec(action_space), stack, **options)


def dummy_inputs(model: WorldModel, seq_len: int = 1, batch_size: int = 1) -> dict:
    """Zero obs [T, B, *obs_shape], action [T, B, *action_shape] and is_first [T, B] for these spaces."""
    def zeros(spec):
        kind, shape, _ = spec
        return jnp.zeros((seq_len, batch_size) + tuple(shape), jnp.float32 if kind == "box" else jnp.int32)

    return {"obs": zeros(model.obs_spec), "action": zeros(model.action_spec),
            "is_first": jnp.ones((seq_len, batch_size), bool)}


def init_world_model(key: Array, model: WorldModel) -> Any:
    """Parameters of ``model`` (from a one-step dummy sequence)."""
    x = dummy_inputs(model)
    key_params, key_sample = jax.random.split(key)
    return model.init(key_params, key_sample, model.initialize_carry(1), x["obs"], x["action"], x["is_first"])


def _loss_terms(model: WorldModel, key, carry, batch):
    out = model.observe(key, carry, batch.obs, batch.action, batch.is_first, return_carries=True)
    feat = model.feat(out.h, out.z)
    recon = model.recon_loss(feat, batch.obs)
    reward = twohot_loss(model.reward(feat), batch.reward, model.bins())
    cont = optax.sigmoid_binary_cross_entropy(model.cont(feat).astype(jnp.float32),
                                              1.0 - batch.terminated.astype(jnp.float32))
    return out, recon, reward, cont


def world_model_loss(key: Array, params: Any, batch: Any, *, model: WorldModel, carry: WMCarry | None = None,
                     dyn_scale: float = 0.5, rep_scale: float = 0.1, free_bits: float = 1.0,
                     recon_scale: float = 1.0, reward_scale: float = 1.0, cont_scale: float = 1.0
                     ) -> tuple[Array, LossAux]:
    """The world-model loss on a replayed batch.

    Args:
      key: sampling key of the posterior latents; params: the model's variables.
      batch: anything with fields obs [T, B, *obs_shape], action [T, B, ...], reward float [T, B], is_first,
        terminated bool [T, B] (e.g. ``ssmrl.world_model.batch.ReplayBatch``; ``truncated`` is not needed: the
        continue target is ``1 - terminated``, so a truncated step's target is 1).
      carry: the carry before step 0 (default: the initial carry; the replay sets is_first[0] anyway).
      dyn_scale, rep_scale, free_bits: ``kl_balance`` (free bits per step); *_scale: weights of the other terms.
    Returns:
      (loss float32 [], :class:`LossAux`) with metrics loss, recon_loss, reward_loss, cont_loss, dyn_kl, rep_kl,
      post_entropy, prior_entropy (float32 []) and the imagination starts (every posterior state,
      N = T * B, no gradient).
    """
    t_len, b_len = batch.is_first.shape
    if carry is None:
        carry = model.initialize_carry(b_len)
    out, recon, reward, cont = model.apply(params, key, carry, batch, method=_loss_terms)
    kl_loss, kl_metrics = kl_balance(out.post_logits, out.prior_logits, dyn_scale, rep_scale, free_bits,
                                     model.unimix)
    loss = recon_scale * recon.mean() + reward_scale * reward.mean() + cont_scale * cont.mean() + kl_loss
    metrics = {
        "loss": loss, "recon_loss": recon.mean(), "reward_loss": reward.mean(), "cont_loss": cont.mean(),
        **kl_metrics,
        "post_entropy": latent_entropy(out.post_logits, model.unimix).mean(),
        "prior_entropy": latent_entropy(out.prior_logits, model.unimix).mean(),
    }
    metrics = {k: sg(v).astype(jnp.float32) for k, v in metrics.items()}
    flat = lambda x: sg(x).reshape((t_len * b_len,) + x.shape[2:])
    start = ImagineStart(jax.tree.map(flat, out.carries), flat(out.h), flat(out.z),
                         1.0 - flat(batch.terminated).astype(jnp.float32))
    return loss.astype(jnp.float32), LossAux(metrics, start)
