"""Convolutional encoder and decoder for image observations ``[H, W, C]`` (MinAtar 10x10xC, Atari 64x64x3).

The encoder halves the spatial size with stride-2 convolutions (``SAME`` padding, so a side ``s`` becomes
``ceil(s / 2)``) until the larger side is at most ``min_res``, doubling the channels each layer
(``depth, 2 depth, 4 depth, ...``), each conv followed by LayerNorm and SiLU (as in DreamerV3), then flattens:
10x10 -> 5x5 -> 3x3 (two layers) and 64x64 -> 32 -> 16 -> 8 -> 4 (four layers). The decoder mirrors it: a dense
layer to the encoder's last feature map, then stride-2 transposed convolutions, each output cropped to the
encoder's size at that level (3 -> 6, cropped to 5 -> 10), the last one to ``C`` channels with no norm.
Both keep any leading axes: ``[*lead, H, W, C] <-> [*lead, F]``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def conv_sizes(height: int, width: int, min_res: int) -> list[tuple[int, int]]:
    """Spatial sizes from the input down to the last feature map: [(H, W), (ceil(H/2), ceil(W/2)), ...],
    halving while the larger side exceeds ``min_res`` (so len - 1 conv layers)."""
    if min_res < 1:
        raise ValueError(f"min_res must be >= 1, got {min_res}")
    sizes = [(height, width)]
    while max(sizes[-1]) > min_res:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


class ConvEncoder(nn.Module):
    """image float [*lead, H, W, C] -> features [*lead, F], F = last channels x last H x last W.

    depth: channels of the first conv (doubled each layer); min_res: stop halving at this side length;
    kernel: conv kernel size. The image should already be scaled (e.g. to [0, 1] or [-0.5, 0.5]).
    """

    depth: int = 16
    min_res: int = 4
    kernel: int = 4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, image: Array) -> Array:
        if image.ndim < 3:
            raise ValueError(f"image must be [*lead, H, W, C], got shape {image.shape}")
        lead, (height, width, channels) = image.shape[:-3], image.shape[-3:]
        x = image.reshape((-1, height, width, channels)).astype(self.dtype)
        for i in range(len(conv_sizes(height, width, self.min_res)) - 1):
            x = nn.Conv(self.depth * 2**i, (self.kernel, self.kernel), strides=2, padding="SAME",
                        dtype=self.dtype, param_dtype=self.dtype, name=f"conv{i}")(x)
            x = nn.silu(nn.LayerNorm(dtype=self.dtype, param_dtype=self.dtype, name=f"norm{i}")(x))
        return x.reshape(lead + (-1,))


class ConvDecoder(nn.Module):
    """features [*lead, F] -> image [*lead, *shape] (the scaled image the encoder took; no output activation).

    shape: (H, W, C) of the image; depth, min_res, kernel: as the matching :class:`ConvEncoder`.
    """

    shape: tuple
    depth: int = 16
    min_res: int = 4
    kernel: int = 4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, feat: Array) -> Array:
        height, width, channels = self.shape
        sizes = conv_sizes(height, width, self.min_res)
        n_layers = len(sizes) - 1
        lead = feat.shape[:-1]
        h0, w0 = sizes[-1]
        top = self.depth * 2 ** (n_layers - 1) if n_layers else channels
        x = nn.Dense(h0 * w0 * top, dtype=self.dtype, param_dtype=self.dtype, name="in")(
            feat.reshape((-1, feat.shape[-1])).astype(self.dtype))
        x = x.reshape((-1, h0, w0, top))
        for j, i in enumerate(reversed(range(n_layers))):  # i: the encoder layer this one undoes
            last = i == 0
            width_out = channels if last else self.depth * 2 ** (i - 1)
            x = nn.ConvTranspose(width_out, (self.kernel, self.kernel), strides=(2, 2), padding="SAME",
                                 dtype=self.dtype, param_dtype=self.dtype, name=f"deconv{j}")(x)
            x = x[:, : sizes[i][0], : sizes[i][1]]
            if not last:
                x = nn.silu(nn.LayerNorm(dtype=self.dtype, param_dtype=self.dtype, name=f"norm{j}")(x))
        return x.reshape(lead + tuple(self.shape))


def conv_feature_size(shape: tuple, depth: int = 16, min_res: int = 4) -> int:
    """F of :class:`ConvEncoder` for an image of ``shape`` (H, W, C)."""
    sizes = conv_sizes(shape[0], shape[1], min_res)
    n_layers = len(sizes) - 1
    return int(np.prod(sizes[-1])) * (depth * 2 ** (n_layers - 1) if n_layers else shape[2])
