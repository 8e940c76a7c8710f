"""Transformer: a causal sliding-window multi-head self-attention core (Vaswani et al., 2017, arXiv 1706.03762)
with a fixed-window KV cache and exact episode resets; the attention baseline for the SSM cores.

The core is a single attention layer, ``y = W_o MHA(x + p)``: the ``Stack`` around it already supplies the
pre-norm, the MLP / GLU mixer and the residual, so a layer of a stack is a standard pre-norm transformer block.
``p`` is a sinusoidal (or learned) embedding of the position *within the episode* (0 at ``is_first``).

Query t attends to the keys of the last ``window`` inputs (itself included) that belong to its own episode:
never to a key from before its episode start, never to one more than ``window - 1`` steps back. Carry:
``TransformerCarry`` holding the keys and values of the last ``window`` inputs (oldest first), their validity and
the episode position of the next input. ``__call__`` attends in parallel over ``[cache; new keys]`` (cost
O(T (T + window)) per sequence); ``step`` rolls the cache by one. Both compute the same function, carries included.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core.base import SequenceCore, check_sequence_inputs, check_step_inputs, reset_carry

Array = jax.Array

POSITIONS = ("sinusoidal", "learned", "none")


class TransformerCarry(NamedTuple):
    keys: Array  # [B, W, heads, head_dim] keys of the last W inputs, oldest first (zeros before the episode start)
    values: Array  # [B, W, heads, head_dim]
    valid: Array  # [B, W] 1.0 where the slot holds an input of the current episode, else 0.0 (float: diffable)
    pos: Array  # int32 [B] position within the episode of the next input


def sinusoidal(pos: Array, width: int, dtype) -> Array:
    """Sinusoidal embedding of integer positions: pos [...] -> [..., width] (sin half, then cos half)."""
    half = (width + 1) // 2
    freqs = jnp.asarray(np.exp(-np.log(10_000.0) * np.arange(half) / half), dtype)
    angles = pos.astype(dtype)[..., None] * freqs
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)[..., :width]


class Transformer(SequenceCore):
    """Options: n_heads (must divide d_model), window W (KV cache length = attention span, current input
    included), positions ("sinusoidal", "learned" or "none"; positions count from the episode start),
    max_position (size of the learned table; later positions reuse its last row)."""

    n_heads: int = 4
    window: int = 64
    positions: str = "sinusoidal"
    max_position: int = 1024

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.n_heads, int) or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"n_heads must be a positive int dividing d_model={self.d_model}, got {self.n_heads!r}")
        if not isinstance(self.window, int) or isinstance(self.window, bool) or self.window < 1:
            raise ValueError(f"window must be an int >= 1, got {self.window!r}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {list(POSITIONS)}, got {self.positions!r}")
        if not isinstance(self.max_position, int) or self.max_position < 1:
            raise ValueError(f"max_position must be an int >= 1, got {self.max_position!r}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def setup(self):
        dense = lambda name: nn.Dense(self.d_model, dtype=self.dtype, param_dtype=self.dtype, name=name)
        self.query, self.key, self.value, self.out = dense("query"), dense("key"), dense("value"), dense("out")
        if self.positions == "learned":
            self.table = self.param("pos_table", nn.initializers.normal(0.02), (self.max_position, self.d_model),
                                    self.dtype)

    def initialize_carry(self, batch_size: int) -> TransformerCarry:
        kv = jnp.zeros((batch_size, self.window, self.n_heads, self.head_dim), self.dtype)
        return TransformerCarry(kv, kv, jnp.zeros((batch_size, self.window), self.dtype),
                                jnp.zeros((batch_size,), jnp.int32))

    def _embed(self, x: Array, pos: Array) -> Array:
        if self.positions == "sinusoidal":
            return x + sinusoidal(pos, self.d_model, self.dtype)
        if self.positions == "learned":
            return x + self.table[jnp.clip(pos, 0, self.max_position - 1)]
        return x

    def _qkv(self, x: Array) -> tuple[Array, Array, Array]:
        split = lambda y: y.reshape(y.shape[:-1] + (self.n_heads, self.head_dim))
        return split(self.query(x) / np.sqrt(self.head_dim)), split(self.key(x)), split(self.value(x))

    def _attend(self, q: Array, k: Array, v: Array, mask: Array, specs: tuple[str, str]) -> Array:
        """Masked softmax attention; ``specs`` = (scores einsum, output einsum). ``mask`` broadcasts to the
        scores; every query sees at least its own key, so no row is empty."""
        scores = jnp.einsum(specs[0], q, k)
        weights = jax.nn.softmax(jnp.where(mask, scores, jnp.finfo(scores.dtype).min), axis=-1)
        out = jnp.einsum(specs[1], weights, v)
        return self.out(out.reshape(out.shape[:-2] + (self.d_model,)))

    def __call__(self, carry, xs, is_first, return_carries=False):
        check_sequence_inputs(xs, is_first, self.d_model)
        length, batch = is_first.shape
        w = self.window
        t = jnp.arange(length, dtype=jnp.int32)[:, None]
        last_start = jax.lax.cummax(jnp.where(is_first, t, -1), axis=0)
        pos = jnp.where(last_start >= 0, t - last_start, carry.pos[None] + t).astype(jnp.int32)  # [T, B]
        q, k, v = self._qkv(self._embed(xs.astype(self.dtype), pos))  # [T, B, heads, hd]
        ext_k = jnp.concatenate([jnp.swapaxes(carry.keys, 0, 1).astype(self.dtype), k], axis=0)  # [W+T, B, ...]
        ext_v = jnp.concatenate([jnp.swapaxes(carry.values, 0, 1).astype(self.dtype), v], axis=0)
        ext_valid = jnp.concatenate([carry.valid.T.astype(self.dtype), jnp.ones((length, batch), self.dtype)])
        flags = jnp.concatenate([jnp.zeros((w, batch), bool), is_first], axis=0)
        episode = jnp.cumsum(flags.astype(jnp.int32), axis=0)  # [W+T, B]
        s = jnp.arange(w + length)[None, :]
        in_window = (s > t) & (s <= t + w)  # [T, W+T]: the slots held by the cache after step t
        same = episode[None, :, :] == episode[w:, None, :]  # [T, W+T, B]
        mask = in_window[:, :, None] & same & (ext_valid[None] > 0.5)
        mask = jnp.transpose(mask, (0, 2, 1))[:, :, None, :]  # [T, B, 1, W+T]
        ys = self._attend(q, ext_k, ext_v, mask, ("tbhd,sbhd->tbhs", "tbhs,sbhd->tbhd"))
        ys = ys.astype(self.dtype)
        slots = t + 1 + jnp.arange(w)[None, :]  # [T, W] cache slots after step t, oldest first

        def caches(rows: Array) -> TransformerCarry:
            """The carry after each step in ``rows`` (int [R]): leaves [R, B, ...]."""
            idx = slots[rows]  # [R, W]
            keep = episode[idx] == episode[w + rows][:, None, :]  # [R, W, B]

            def pick(a: Array) -> Array:  # a [W+T, B, ...] -> [R, B, W, ...], zero outside the episode of t
                kept = keep.reshape(keep.shape + (1,) * (a.ndim - 2))
                return jnp.swapaxes(jnp.where(kept, a[idx], 0.0), 1, 2)

            return TransformerCarry(pick(ext_k), pick(ext_v), pick(ext_valid), pos[rows] + 1)

        carry_out = jax.tree.map(lambda a: a[0], caches(jnp.array([length - 1])))
        if return_carries:
            return carry_out, ys, caches(jnp.arange(length))
        return carry_out, ys

    def step(self, carry, x, is_first):
        check_step_inputs(x, is_first, self.d_model)
        carry = reset_carry(carry, self.initialize_carry(x.shape[0]), is_first)
        q, k, v = self._qkv(self._embed(x.astype(self.dtype), carry.pos))  # [B, heads, hd]
        keys = jnp.concatenate([carry.keys[:, 1:], k[:, None]], axis=1)  # [B, W, heads, hd]
        values = jnp.concatenate([carry.values[:, 1:], v[:, None]], axis=1)
        valid = jnp.concatenate([carry.valid[:, 1:], jnp.ones_like(carry.valid[:, :1])], axis=1)
        y = self._attend(q, keys, values, (valid > 0.5)[:, None, :], ("bhd,bshd->bhs", "bhs,bshd->bhd"))
        y = y.astype(self.dtype)
        return TransformerCarry(keys, values, valid, carry.pos + 1), y
