"""PPO losses: generalised advantage estimation with the three flags, and the clipped surrogate objective.

GAE on time-major ``[T, B]`` arrays. For the transition taken at step ``t``:

* ``terminated[t]``: the next value is 0 (no bootstrap);
* ``truncated[t]`` (and not terminated): the next value is ``bootstrap_value[t] = V(final_obs)``, computed in the
  rollout with the carry from before the reset;
* otherwise: the next value is ``value[t + 1]`` (``last_value`` after the last step).

The recursion ``A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}`` stops at every episode end
(``done = terminated | truncated``), so advantages never leak across an auto-reset.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


def compute_gae(reward: Array, value: Array, terminated: Array, truncated: Array, bootstrap_value: Array,
                last_value: Array, gamma: float, gae_lambda: float) -> tuple[Array, Array]:
    """Generalised advantage estimates and value targets.

    Args:
      reward, value: float32 [T, B]; terminated, truncated: bool [T, B];
      bootstrap_value: float32 [T, B] ``V(final_obs)`` (read only where truncated);
      last_value: float32 [B] value of the observation after the last step.
    Returns:
      (advantages float32 [T, B], targets float32 [T, B] = advantages + value).
    """
    for name, x in (("value", value), ("terminated", terminated), ("truncated", truncated),
                    ("bootstrap_value", bootstrap_value)):
        if x.shape != reward.shape:
            raise ValueError(f"{name} must have reward's shape [T, B] = {reward.shape}, got {x.shape}")
    if last_value.shape != reward.shape[1:]:
        raise ValueError(f"last_value must be [B] = {reward.shape[1:]}, got {last_value.shape}")
    next_value = jnp.concatenate([value[1:], last_value[None]], axis=0)
    next_value = jnp.where(truncated, bootstrap_value, next_value)
    next_value = jnp.where(terminated, 0.0, next_value)
    delta = reward + gamma * next_value - value
    carry_on = gamma * gae_lambda * (1.0 - jnp.logical_or(terminated, truncated).astype(reward.dtype))

    def backward(adv_next, inputs):
        d, c = inputs
        adv = d + c * adv_next
        return adv, adv

    _, adv = jax.lax.scan(backward, jnp.zeros_like(last_value), (delta, carry_on), reverse=True)
    return adv, adv + value


class LossTerms(NamedTuple):
    """Scalars of one minibatch: total loss and its parts, and diagnostics."""

    total: Array
    policy: Array
    value: Array
    entropy: Array
    approx_kl: Array
    clip_frac: Array


def ppo_loss(log_prob: Array, entropy: Array, value: Array, old_log_prob: Array, old_value: Array,
             advantages: Array, targets: Array, clip_eps: float, vf_coef: float, ent_coef: float,
             clip_value: bool = True, norm_adv: bool = True) -> LossTerms:
    """Clipped PPO objective on one minibatch (all arrays float32 of one shape, e.g. [T, B_mb]).

    log_prob, entropy, value: under the current parameters; old_*: from the rollout.
    Returns :class:`LossTerms`; ``approx_kl`` is the ``(r - 1) - log r`` estimator, ``clip_frac`` the share of
    ratios outside ``[1 - clip_eps, 1 + clip_eps]``.
    """
    if norm_adv:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    surrogate = jnp.minimum(ratio * advantages, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages)
    policy_loss = -surrogate.mean()
    value_sq = jnp.square(value - targets)
    if clip_value:
        clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        value_sq = jnp.maximum(value_sq, jnp.square(clipped - targets))
    value_loss = 0.5 * value_sq.mean()
    ent = entropy.mean()
    total = policy_loss + vf_coef * value_loss - ent_coef * ent
    approx_kl = jax.lax.stop_gradient(((ratio - 1.0) - log_ratio).mean())
    clip_frac = jax.lax.stop_gradient((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32).mean())
    return LossTerms(total, policy_loss, value_loss, ent, approx_kl, clip_frac)
