"""Categorical latent variables of the world model: ``G`` groups of ``K`` classes (DreamerV3 / S4WM).

Logits have shape ``[..., G, K]``. Probabilities are mixed with ``unimix`` uniform (1% by default) so that no
class has zero probability, which bounds the KL terms. Samples are one-hot with straight-through gradients
(``sample + probs - stop_gradient(probs)``). The KL and entropy are summed over groups and classes.

:func:`kl_balance`: the world model's two KL terms between the posterior ``q`` and the prior ``p``, with
stop-gradients as DreamerV3 (dynamics term ``KL[sg q || p]`` trains only the prior, representation term
``KL[q || sg p]`` only the posterior) and free bits applied **per step** (each term is clipped below at
``free_bits`` nats at every ``[T, B]`` position, then averaged).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def latent_probs(logits: Array, unimix: float = 0.01) -> Array:
    """Class probabilities float32 [..., G, K]: ``(1 - unimix) * softmax(logits) + unimix / K``."""
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    if unimix:
        probs = (1.0 - unimix) * probs + unimix / logits.shape[-1]
    return probs


def _log_probs(logits: Array, unimix: float) -> Array:
    """Log of :func:`latent_probs` (exact ``log_softmax`` when ``unimix == 0``), float32 [..., G, K]."""
    if unimix:
        return jnp.log(latent_probs(logits, unimix))
    return jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)


def sample_latent(key: Array, logits: Array, unimix: float = 0.01) -> Array:
    """One-hot sample float32 [..., G, K] from the mixed probabilities, with straight-through gradients.

    The value is exactly one-hot; the gradient is that of :func:`latent_probs`.
    """
    probs = latent_probs(logits, unimix)
    index = jax.random.categorical(key, _log_probs(logits, unimix), axis=-1)
    sample = jax.nn.one_hot(index, logits.shape[-1], dtype=jnp.float32)
    return sample + (probs - jax.lax.stop_gradient(probs))  # exactly one-hot in value: (p - sg(p)) is 0


def categorical_kl(logits_p: Array, logits_q: Array, unimix: float = 0.01) -> Array:
    """KL[p || q] float32 [...] between the mixed categoricals of logits [..., G, K], summed over G and K."""
    p = latent_probs(logits_p, unimix)
    return jnp.sum(p * (_log_probs(logits_p, unimix) - _log_probs(logits_q, unimix)), axis=(-2, -1))


def latent_entropy(logits: Array, unimix: float = 0.01) -> Array:
    """Entropy float32 [...] of the mixed categoricals of logits [..., G, K], summed over G and K."""
    p = latent_probs(logits, unimix)
    return -jnp.sum(p * _log_probs(logits, unimix), axis=(-2, -1))


def flatten_latent(z: Array) -> Array:
    """[..., G, K] -> [..., G * K] (the form the core input and the heads consume)."""
    return z.reshape(z.shape[:-2] + (z.shape[-2] * z.shape[-1],))


def kl_balance(post_logits: Array, prior_logits: Array, dyn_scale: float = 0.5, rep_scale: float = 0.1,
               free_bits: float = 1.0, unimix: float = 0.01) -> tuple[Array, dict[str, Array]]:
    """KL balancing with free bits.

    Args:
      post_logits, prior_logits: float [..., G, K] (e.g. [T, B, G, K]) of q(z_t | .) and p(z_t | h_t).
    Returns:
      (loss float32 [], {"dyn_kl", "rep_kl"}): ``loss = mean(dyn_scale * max(free_bits, KL[sg q || p])
      + rep_scale * max(free_bits, KL[q || sg p]))`` with the clip applied per step before the mean;
      ``dyn_kl`` and ``rep_kl`` are the means of the unclipped KLs (equal in value; they differ only in where the
      gradient goes). Below ``free_bits`` a step's term is constant, so it passes no gradient at all.
    """
    if post_logits.shape != prior_logits.shape:
        raise ValueError(f"post_logits {post_logits.shape} and prior_logits {prior_logits.shape} must match")
    dyn = categorical_kl(jax.lax.stop_gradient(post_logits), prior_logits, unimix)
    rep = categorical_kl(post_logits, jax.lax.stop_gradient(prior_logits), unimix)
    loss = dyn_scale * jnp.maximum(dyn, free_bits) + rep_scale * jnp.maximum(rep, free_bits)
    return loss.mean(), {"dyn_kl": dyn.mean(), "rep_kl": rep.mean()}
