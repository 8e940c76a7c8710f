"""Tile observations: a window of categorical cells, e.g. ``envs.wm_memory``'s ``obs_mode="tiles"`` (int [H, W]
tile classes of ``n`` kinds, a ``Discrete(n, shape=(H, W))`` space). The world model encodes them as one-hots
(flattened, then its MLP), decodes per-cell logits [..., H, W, n] and is trained on the per-cell cross-entropy
(:func:`cell_cross_entropy`, summed over the cells as an image's squared error is over its pixels). Open-loop
evaluation and its references score a predicted distribution per cell with :func:`tile_scores`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


def cell_cross_entropy(logits: Array, labels: Array) -> Array:
    """Per-cell cross-entropy ``logsumexp(logits) - logits[label]`` (nats): logits float [..., n], labels int
    [...] in [0, n) -> float32 [...] (optax's integer-label softmax cross-entropy in float32)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels.astype(jnp.int32))


@jax.jit
def tile_scores(logits: Array, truth: Array) -> dict[str, Array]:
    """Per-frame scores of predicted tile windows: logits float [K, B, H, W, n] (any logits, e.g. log-probabilities),
    truth int [K, B, H, W] -> {name: float32 [K, B]}, each a mean over the H x W cells:

    * ``mse``: squared error of the predicted probabilities against the one-hot truth, also averaged over the n
      classes (the frame MSE of a world of one-hot frames: the image MSE's counterpart);
    * ``xent``: the cross-entropy of the true tile (:func:`cell_cross_entropy`);
    * ``tile_acc``: the fraction of cells whose most likely tile (argmax, the first on a tie) is the true one.
    """
    logits = logits.astype(jnp.float32)
    probs = jax.nn.softmax(logits, axis=-1)
    onehot = jax.nn.one_hot(truth, logits.shape[-1], dtype=jnp.float32)
    return {"mse": jnp.mean(jnp.square(probs - onehot), axis=(-3, -2, -1)),
            "xent": jnp.mean(cell_cross_entropy(logits, truth), axis=(-2, -1)),
            "tile_acc": jnp.mean((jnp.argmax(logits, -1) == truth).astype(jnp.float32), axis=(-2, -1))}
