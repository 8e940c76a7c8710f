"""Losses of the actor-critic in imagination (DreamerV3 conventions; the world model's KL balance is
``ssmrl.nets.latent.kl_balance``).

* :func:`lambda_returns` on an imagined trajectory, :func:`replay_returns` on a replayed one (bootstrapped with
  imagination), :func:`discount_weight` (the per-step weight of the actor and
  critic losses), the percentile return normaliser :class:`ReturnNorm`.
* :func:`actor_loss` (REINFORCE with an entropy bonus) and :func:`critic_loss` (two-hot cross-entropy towards the
  lambda-returns plus a regulariser towards the slow critic).

Index layout of an imagined trajectory of horizon ``H`` over ``N`` start states (time-major)::

    state      s_0   s_1   ...   s_H          (s_0 is a posterior state from the replay)
    value      v_0   v_1   ...   v_H          value [H + 1, N]: critic at state s_t
    reward           r_1   ...   r_H          reward[t] = r_{t+1}: reward predicted at s_{t+1} [H, N]
    cont             c_1   ...   c_H          cont[t]   = c_{t+1}: continue predicted at s_{t+1} [H, N]
    returns    R_0   ...   R_{H-1}            returns[t] = R_t [H, N]

(reward and continue are the heads evaluated at states ``1..H``: the caller passes ``heads[1:]``.) This matches
the replay, where ``reward[t]`` is received on arriving at observation ``t`` and ``terminated[t]`` marks
observation ``t`` as terminal.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ssmrl.nets.twohot import twohot_loss, twohot_mean

Array = jax.Array
sg = jax.lax.stop_gradient


def lambda_returns(reward: Array, cont: Array, value: Array, gamma: float, lam: float) -> Array:
    """TD(lambda) returns of an imagined trajectory (index layout in the module docstring).

    ``R_t = reward[t] + gamma * cont[t] * ((1 - lam) * value[t + 1] + lam * R_{t+1})`` for ``t = H-1 .. 0``, with
    the bootstrap ``R_H = value[H]``.

    Args:
      reward, cont: float32 [H, N] (r_{t+1}, c_{t+1}); value: float32 [H + 1, N] (v_0 .. v_H; v_0 is not used).
    Returns:
      float32 [H, N].
    """
    if cont.shape != reward.shape:
        raise ValueError(f"cont must have reward's shape [H, N] = {reward.shape}, got {cont.shape}")
    if value.shape != (reward.shape[0] + 1,) + reward.shape[1:]:
        raise ValueError(f"value must be [H + 1, N] = {(reward.shape[0] + 1,) + reward.shape[1:]}, "
                         f"got {value.shape}")
    discount = gamma * cont
    next_value = value[1:]

    def backward(ret_next, inputs):
        r, d, v = inputs
        ret = r + d * ((1.0 - lam) * v + lam * ret_next)
        return ret, ret

    _, returns = jax.lax.scan(backward, value[-1], (reward, discount, next_value), reverse=True)
    return returns


def replay_returns(reward: Array, terminated: Array, is_first: Array, boot: Array, gamma: float,
                   lam: float) -> Array:
    """lambda-returns along replayed sequences, bootstrapped with imagination (DreamerV3's replay critic loss).

    Replay layout (``ssmrl.dreamer.replay``): ``reward[t]`` is received on arriving at observation ``t``,
    ``terminated[t]`` marks observation ``t`` terminal, ``is_first[t]`` starts an episode. ``boot[t]`` is the value
    to bootstrap with at replayed state ``t`` (the imagined lambda-return from it). For ``t = T-2 .. 0``::

        R_t = boot_t                                                            where is_first[t + 1]
        R_t = reward[t+1] + gamma (1 - terminated[t+1]) ((1 - lam) boot[t+1] + lam R_{t+1})   elsewhere

    and ``R_{T-1} = boot_{T-1}``: the real rewards and terminations of the data, cut at episode boundaries
    inside the window (the step before ``is_first`` is an episode's final observation).

    Args:
      reward, boot: float [T, B]; terminated, is_first: bool [T, B].
    Returns:
      float32 [T, B], no gradient.
    """
    reward, boot = reward.astype(jnp.float32), sg(boot).astype(jnp.float32)
    discount = gamma * (1.0 - terminated[1:].astype(jnp.float32))

    def backward(ret_next, inputs):
        r, d, b_next, b, cut = inputs
        ret = jnp.where(cut, b, r + d * ((1.0 - lam) * b_next + lam * ret_next))
        return ret, ret

    _, returns = jax.lax.scan(backward, boot[-1], (reward[1:], discount, boot[1:], boot[:-1], is_first[1:]),
                              reverse=True)
    return sg(jnp.concatenate([returns, boot[-1:]], 0))


def discount_weight(cont: Array, gamma: float, start_cont: Array | None = None) -> Array:
    """Per-step weight of the actor and critic losses: the cumulative product of discounts (DreamerV3).

    ``weight[0] = start_cont`` (1 when None), ``weight[t] = weight[t - 1] * gamma * cont[t - 1]``, i.e. the
    probability-discounted chance that state ``s_t`` is still inside the episode.

    Args:
      cont: float32 [H, N] (c_1 .. c_H, as in :func:`lambda_returns`); start_cont: float32 [N], the continue
        of the start states s_0 (e.g. ``1 - terminated`` of the replayed step), or None.
    Returns:
      float32 [H, N], no gradient.
    """
    start = jnp.ones(cont.shape[1:], jnp.float32) if start_cont is None else start_cont.astype(jnp.float32)
    factors = jnp.concatenate([start[None], gamma * cont[:-1].astype(jnp.float32)], axis=0)
    return sg(jnp.cumprod(factors, axis=0))


@struct.dataclass
class ReturnNorm:
    """EMAs of the 5th (``low``) and 95th (``high``) percentile of the lambda-returns, float32 []."""

    low: Array
    high: Array


def return_norm_init() -> ReturnNorm:
    """Both EMAs start at 0, so the scale is 1 until their spread exceeds 1."""
    return ReturnNorm(jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))


def return_norm_update(state: ReturnNorm, returns: Array, decay: float = 0.99, low_pct: float = 5.0,
                       high_pct: float = 95.0) -> ReturnNorm:
    """One EMA step: ``low <- decay * low + (1 - decay) * P_low_pct(returns)`` and the same for ``high``.

    returns: float [...] (all entries pooled); percentiles with linear interpolation (``jnp.percentile``).
    """
    returns = sg(returns.astype(jnp.float32)).reshape(-1)
    lo, hi = jnp.percentile(returns, jnp.asarray([low_pct, high_pct], jnp.float32))
    return ReturnNorm(decay * state.low + (1.0 - decay) * lo, decay * state.high + (1.0 - decay) * hi)


def return_norm_scale(state: ReturnNorm) -> Array:
    """``max(1, high - low)``, float32 []: divide advantages ``(R - v)`` by it."""
    return jnp.maximum(1.0, state.high - state.low)


def _weighted_mean(x: Array, weight: Array | None) -> Array:
    return x.mean() if weight is None else (x * sg(weight)).mean()


def actor_loss(log_prob: Array, entropy: Array, advantage: Array, ent_coef: float,
               weight: Array | None = None) -> Array:
    """REINFORCE with an entropy bonus: ``mean(weight * (-sg(advantage) * log_prob - ent_coef * entropy))``.

    All arrays float32 [H, N]; advantage: normalised, e.g. ``(R - v) / return_norm_scale``; weight: optional,
    e.g. :func:`discount_weight` (no gradient). Returns float32 [].
    """
    return _weighted_mean(-sg(advantage) * log_prob - ent_coef * entropy, weight)


def critic_loss(logits: Array, target: Array, slow_logits: Array, bins: Array, slow_reg: float = 1.0,
                weight: Array | None = None) -> Array:
    """Two-hot critic loss with the slow-critic regulariser.

    ``mean(weight * (CE(logits, twohot(symlog(sg target))) + slow_reg * CE(logits, twohot(symlog(sg slow)))))``
    where ``slow = twohot_mean(slow_logits)`` is the slow (EMA) critic's decoded value.

    Args:
      logits, slow_logits: float [H, N, num_bins] at the states whose returns are ``target``;
      target: float32 [H, N] lambda-returns (real space); bins: float32 [num_bins]; weight: optional [H, N].
    Returns:
      float32 [].
    """
    slow_value = sg(twohot_mean(slow_logits, bins))
    loss = twohot_loss(logits, sg(target), bins) + slow_reg * twohot_loss(logits, slow_value, bins)
    return _weighted_mean(loss, weight)
