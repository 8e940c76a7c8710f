"""Categorical latent variables of the world model: ``G`` groups of ``K`` classes (DreamerV3 / S4WM).

Logits have shape ``[..., G, K]``. Probabilities are mixed with ``unimix`` uniform (1% by default) so that no
class has zero probability, which bounds the KL terms. Samples are one-hot with straight-through gradients
(``sample + probs - stop_gradient(probs)``). The KL and entropy are summed over groups and classes.
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
