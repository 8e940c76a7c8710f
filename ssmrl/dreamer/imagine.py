"""Imagination: the actor and critic on world-model features, and rollouts of the prior from posterior states.

From each start state ``s_0 = (carry, h_0, z_0)`` (``ssmrl.world_model.model.ImagineStart``), for ``i = 0 ..
H - 1``: ``a_i ~ pi(. | feat_i)``, then the world model's ``imagine_step`` (the core's ``step``, no reset) gives
``h_{i+1}`` and ``z_{i+1} ~ p(z | h_{i+1})``. Rewards and continues are the heads at states ``1 .. H``, the layout
``ssmrl.dreamer.losses`` expects (``reward[i] = r_{i+1}``, ``cont[i] = c_{i+1}``); the start's own continue
comes from the data (``start_cont``: 0 for terminal starts), for ``losses.discount_weight``.

Gradients: the world-model parameters, the start states, the features and the sampled actions enter with
``stop_gradient``, so only ``log_prob`` and ``entropy`` carry a gradient, to the actor's parameters (REINFORCE);
nothing reaches the world model.
"""

from __future__ import annotations

from typing import Any

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ssmrl.nets import PolicyHead
from ssmrl.nets.twohot import symlog_bins, twohot_mean
from ssmrl.world_model.model import MLP, ImagineStart, WorldModel, features

Array = jax.Array
sg = jax.lax.stop_gradient


class Actor(nn.Module):
    """feat [..., F] -> a distrax policy with batch shape [...] (``ssmrl.nets.PolicyHead``: categorical for
    Discrete, independent categoricals for MultiDiscrete, diagonal Gaussian for Box) after an MLP."""

    action_spec: tuple
    hidden: int = 128
    layers: int = 2
    log_std_init: float = -0.5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, feat: Array) -> distrax.Distribution:
        return PolicyHead(self.action_spec, self.log_std_init)(MLP(self.hidden, self.layers, dtype=self.dtype)(feat))


class Critic(nn.Module):
    """feat [..., F] -> two-hot value logits [..., num_bins] over ``symlog_bins(num_bins, low, high)``; the output
    layer starts at zero (value 0). :meth:`value` decodes them."""

    num_bins: int = 255
    low: float = -20.0
    high: float = 20.0
    hidden: int = 128
    layers: int = 2
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, feat: Array) -> Array:
        return MLP(self.hidden, self.layers, self.num_bins, zero_out=True, dtype=self.dtype)(feat)

    def bins(self) -> Array:
        """Value bins float32 [num_bins] (symlog space)."""
        return symlog_bins(self.num_bins, self.low, self.high)

    def value(self, feat: Array) -> Array:
        """Decoded value float32 [...]."""
        return twohot_mean(self(feat), self.bins())


@struct.dataclass
class Imagined:
    """An imagined trajectory of horizon H from N starts, time-major.

    feat [H + 1, N, F] (feat[0]: the start states); action [H, N, *action_shape] (action[i] taken at state i);
    log_prob, entropy float32 [H, N] of the policy at state i (differentiable w.r.t. the actor's parameters);
    reward float32 [H, N] (decoded reward head at state i + 1); cont float32 [H, N] (the continue head's mode at
    state i + 1: 1 where sigmoid(logit) > 0.5, else 0, as DreamerV3; the probability would discount every imagined
    step by the model's small doubt, which on long episodes (CartPole) shrinks the imagined return several-fold);
    start_cont float32 [N] (the start's continue from the data).
    """

    feat: Array
    action: Array
    log_prob: Array
    entropy: Array
    reward: Array
    cont: Array
    start_cont: Array


def imagine(key: Array, wm_params: Any, actor_params: Any, start: ImagineStart, horizon: int = 15, *,
            world_model: WorldModel, actor: Actor) -> Imagined:
    """Roll the prior forward ``horizon`` steps from every start with actions from the actor.

    Step i uses ``jax.random.split(key, horizon)[i]``, split into (actor key, world-model key). ``horizon`` is
    static. Returns :class:`Imagined`.
    """
    wm_params = sg(wm_params)
    start = sg(start)
    wm = lambda method, *args: world_model.apply(wm_params, *args, method=method)

    def body(state, step_key):
        carry, h, z = state
        key_act, key_wm = jax.random.split(step_key)
        feat = sg(features(h, z))
        dist = actor.apply(actor_params, feat)
        action = sg(dist.sample(seed=key_act))
        carry, h, z = wm("imagine_step", key_wm, carry, z, action)
        return (carry, h, z), (h, z, action, dist.log_prob(action), dist.entropy())

    _, (hs, zs, action, log_prob, entropy) = jax.lax.scan(body, (start.carry, start.h, start.z),
                                                          jax.random.split(key, horizon))
    feat = sg(jnp.concatenate([features(start.h, start.z)[None], features(hs, zs)], 0))
    reward = wm("reward_value", feat[1:])
    cont = (wm("cont", feat[1:]) > 0).astype(jnp.float32)  # the Bernoulli's mode: 1 unless termination is likely
    return Imagined(feat, action, log_prob.astype(jnp.float32), entropy.astype(jnp.float32),
                    reward.astype(jnp.float32), cont, start.cont.astype(jnp.float32))
