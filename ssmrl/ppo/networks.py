"""The recurrent actor-critic: observation encoder -> residual core stack (``make_stack``) -> policy and value
heads, with the core interface's two modes.

* sequence mode (``__call__``): the whole ``[T, B]`` sequence through the core's parallel form, used to recompute
  log-probs and values in the PPO update;
* step mode (``step``): one ``[B]`` step, used in the rollout.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from ssmrl.config import ModelConfig
from ssmrl.core import Stack
from ssmrl.nets import ObsEncoder, PolicyHead, ValueHead, space_spec

Array = jax.Array


class ActorCritic(nn.Module):
    """Shared encoder and core stack, separate policy and value heads.

    obs_spec / action_spec: ``space_spec`` of the observation / action space; stack: the core stack.
    """

    obs_spec: tuple
    action_spec: tuple
    stack: Stack
    log_std_init: float = -0.5

    def setup(self):
        self.encoder = ObsEncoder(self.obs_spec, self.stack.d_model)
        self.policy = PolicyHead(self.action_spec, self.log_std_init)
        self.value = ValueHead()

    def initialize_carry(self, batch_size: int):
        """The stack's initial carry for ``batch_size`` sequences (a tuple of per-layer carries, leaves [B, ...])."""
        return self.stack.initialize_carry(batch_size)

    def __call__(self, carry, obs: Array, is_first: Array, return_carries: bool = False):
        """Sequence mode. obs [T, B, *obs_shape], is_first bool [T, B] ->
        (carry, policy distribution with batch shape [T, B], value float32 [T, B][, carries])."""
        out = self.stack(carry, self.encoder(obs), is_first, return_carries=return_carries)
        h = out[1]
        return (out[0], self.policy(h), self.value(h)) + tuple(out[2:])

    def step(self, carry, obs: Array, is_first: Array) -> tuple:
        """Step mode. obs [B, *obs_shape], is_first bool [B] -> (carry, distribution [B], value float32 [B])."""
        carry, h = self.stack.step(carry, self.encoder(obs), is_first)
        return carry, self.policy(h), self.value(h)


def make_actor_critic(model: ModelConfig, observation_space, action_space, log_std_init: float = -0.5
                      ) -> ActorCritic:
    """The actor-critic for these spaces with the core stack described by ``model``."""
    return ActorCritic(space_spec(observation_space), space_spec(action_space), model.make_stack(), log_std_init)

