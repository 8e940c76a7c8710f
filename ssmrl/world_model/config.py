"""The world model's settings: one typed config, its one set of defaults and its checks.

:class:`WorldModelConfig` holds what every user of the world model shares (latents, widths, heads, the KL balance,
the optimiser of its training step, image scaling). The algorithms and tools extend it, as the algorithms' schemas
extend ``ssmrl.config.CollectConfig``: ``ssmrl.dreamer.config.DreamerConfig`` (its ``algo.*`` keys stay flat) and
``ssmrl.world_model.offline.OfflineConfig`` (offline training). A new world-model setting is a field here, its use,
and its line in ``configs/algo/dreamer.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssmrl.config import ConfigError, check_bounds

POSTERIORS = ("s4wm", "recurrent")


@dataclass(frozen=True)
class WorldModelConfig:
    """posterior: "s4wm" q(z_t | o_t) (parallel over time) or "recurrent" (DreamerV3's RSSM, q(z_t | h_t, o_t));
    latent_groups x latent_classes: the categorical latents; hidden, mlp_layers: width and depth of the MLPs;
    unimix: uniform mix of the latent categoricals; reward_bins: two-hot bins of the reward head; free_bits,
    dyn_scale, rep_scale: the KL balance; wm_lr, wm_grad_clip: the clipped Adam of the training step; cnn_depth:
    image encoder / decoder width; image_scale, image_shift: images enter as ``obs / image_scale - image_shift``
    (1, 0 for MinAtar's 0/1 planes; 255, 0.5 for uint8 frames)."""

    posterior: str = "s4wm"
    latent_groups: int = 8
    latent_classes: int = 8
    hidden: int = 128
    mlp_layers: int = 2
    unimix: float = 0.01
    reward_bins: int = 255
    free_bits: float = 1.0
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    wm_lr: float = 3e-4
    wm_grad_clip: float = 1000.0
    cnn_depth: int = 16
    image_scale: float = 1.0
    image_shift: float = 0.0

    def validate_world_model(self, where: str = "algo") -> None:
        """Raise :class:`ConfigError` naming ``<where>.<key>`` and its valid values."""
        if self.posterior not in POSTERIORS:
            raise ConfigError(f"{where}.posterior: unknown {self.posterior!r}; valid: {list(POSTERIORS)}")
        check_bounds(self, where, ">= 1", "latent_groups", "latent_classes", "hidden", "mlp_layers", "reward_bins",
                     "cnn_depth")
        check_bounds(self, where, "> 0", "wm_lr", "wm_grad_clip", "image_scale")
        check_bounds(self, where, ">= 0", "free_bits", "dyn_scale", "rep_scale")
        check_bounds(self, where, "in [0, 1)", "unimix")
