"""Network parts shared by the algorithms: observation encoders and policy / value heads (distrax)."""

from ssmrl.nets.encoders import ObsEncoder, space_features, space_spec
from ssmrl.nets.heads import PolicyHead, ValueHead, clip_to_space

__all__ = ["ObsEncoder", "PolicyHead", "ValueHead", "clip_to_space", "space_features", "space_spec"]
