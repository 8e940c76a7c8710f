"""Generic wrappers over any environment of the protocol in ``ssmrl.env``: auto-reset, episode statistics,
and a vectorised (vmapped) view.

* :class:`AutoReset` is *the* auto-reset mechanism of the library: raw environments never reset themselves.
  On ``terminated | truncated`` it resets with a fresh key and returns the new first observation;
  ``info["final_obs"]`` always holds the observation the step produced before any reset, so truncated
  transitions can bootstrap from ``V(final_obs)``.
* :class:`EpisodeStats` tracks running return and length and reports them for each finished episode.
* :class:`VecEnv` vmaps reset / step over ``num_envs`` environments and adds ``info["is_first"]``
  (``= terminated | truncated``: the returned observation starts a new episode). It applies AutoReset's rule at
  the batch level (same keys, same results, tested) so that resets are computed only on steps where an episode
  ended.

``info`` keeps a fixed pytree structure on every step (values are masked, never absent), so all of this works
under ``jit``, ``vmap`` and ``lax.scan``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from ssmrl.env import Environment

Array = jax.Array


def _select(pred: Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise ``where(pred, a, b)`` for two pytrees of the same structure (pred is a scalar bool)."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class Wrapper(Environment):
    """Base of wrappers: forwards params and spaces to the wrapped environment ``env``."""

    def __init__(self, env: Environment):
        self.env = env

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def reset(self, key: Array, params: Any):
        return self.env.reset(key, params)

    def step(self, key: Array, state: Any, action: Array, params: Any):
        return self.env.step(key, state, action, params)

    def observation_space(self, params: Any):
        return self.env.observation_space(params)

    def action_space(self, params: Any):
        return self.env.action_space(params)

    @property
    def name(self) -> str:
        return self.env.name

    def __getattr__(self, attr: str):
        # Reach through to the wrapped environment for anything else (e.g. family-specific helpers).
        if attr == "env":
            raise AttributeError(attr)
        return getattr(self.env, attr)


class AutoReset(Wrapper):
    """Reset on ``terminated | truncated``; ``info["final_obs"]`` is the pre-reset observation.

    step(key, state, action, params) -> (obs, state, reward float32 [], terminated bool [], truncated bool [],
    info) where ``obs``/``state`` are those of a fresh episode wherever the step ended one.
    """

    def step(self, key: Array, state: Any, action: Array, params: Any):
        key_step, key_reset = jax.random.split(key)
        obs, next_state, reward, terminated, truncated, info = self.env.step(key_step, state, action, params)
        reset_obs, reset_state = self.env.reset(key_reset, params)
        done = jnp.logical_or(terminated, truncated)
        info = dict(info)
        info["final_obs"] = obs
        obs = _select(done, reset_obs, obs)
        next_state = _select(done, reset_state, next_state)
        return obs, next_state, reward, terminated, truncated, info


@struct.dataclass
class EpisodeStatsState:
    """env_state: the wrapped state; episode_return float32 [], episode_length int32 []: running totals."""

    env_state: Any
    episode_return: Array
    episode_length: Array


class EpisodeStats(Wrapper):
    """Running return and length; per finished episode ``info["episode_return"]`` (float32 []),
    ``info["episode_length"]`` (int32 []) and ``info["episode_done"]`` (bool []).

    The reported values are those of the episode that ended at this step; they are 0 where
    ``episode_done`` is False (average with ``sum(x * done) / max(sum(done), 1)``).
    Works on either side of :class:`AutoReset`.
    """

    def reset(self, key: Array, params: Any):
        obs, env_state = self.env.reset(key, params)
        return obs, EpisodeStatsState(env_state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

    def step(self, key: Array, state: EpisodeStatsState, action: Array, params: Any):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        ret = state.episode_return + reward.astype(jnp.float32)
        length = state.episode_length + 1
        info = dict(info)
        info["episode_return"] = jnp.where(done, ret, 0.0)
        info["episode_length"] = jnp.where(done, length, 0)
        info["episode_done"] = done
        new_state = EpisodeStatsState(
            env_state, jnp.where(done, 0.0, ret), jnp.where(done, 0, length).astype(jnp.int32)
        )
        return obs, new_state, reward, terminated, truncated, info


class VecEnv:
    """``num_envs`` copies of ``env`` under ``jax.vmap``, auto-reset by default.

    reset(key, params) -> (obs [B, ...], state [B, ...])
    step(key, state, action [B, ...], params) -> (obs [B, ...], state, reward float32 [B],
        terminated bool [B], truncated bool [B], info) with ``info["is_first"]`` bool [B]
        (= terminated | truncated: ``obs`` starts a new episode) and ``info["final_obs"]`` [B, ...].
    sample_action(key, params) -> a uniformly random action [B, ...] from the action space.

    ``params`` is shared by all copies (not batched). Stack ``VecEnv`` outputs over time with ``lax.scan``
    to get the time-major ``[T, B, ...]`` layout used at every public interface.
    """

    def __init__(self, env: Environment, num_envs: int, auto_reset: bool = True):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        self.env = env
        self.num_envs = num_envs
        # Auto-reset at the batch level: the same results as AutoReset on each copy (same key split), but the
        # resets are computed only on steps where some copy ended an episode (a real ``lax.cond`` unless an
        # outer vmap turns it into a select). Deck-shuffling resets made every step several times slower.
        self.auto_reset = auto_reset and not isinstance(env, AutoReset)

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def observation_space(self, params: Any):
        """The space of one environment's observation (unbatched)."""
        return self.env.observation_space(params)

    def action_space(self, params: Any):
        """The space of one environment's action (unbatched)."""
        return self.env.action_space(params)

    def reset(self, key: Array, params: Any):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)

    def step(self, key: Array, state: Any, action: Array, params: Any):
        keys = jax.random.split(key, self.num_envs)
        if self.auto_reset:  # the key split of AutoReset.step, per copy
            keys, reset_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        obs, state, reward, terminated, truncated, info = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
            keys, state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        info = dict(info)
        if self.auto_reset:
            info["final_obs"] = obs

            def reset_ended(operand):
                reset = jax.vmap(self.env.reset, in_axes=(0, None))(reset_keys, params)
                pick = lambda new, old: jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)
                return jax.tree.map(pick, reset, operand)

            obs, state = jax.lax.cond(jnp.any(done), reset_ended, lambda operand: operand, (obs, state))
        info["is_first"] = done
        return obs, state, reward, terminated, truncated, info

    def sample_action(self, key: Array, params: Any) -> Array:
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.action_space(params).sample)(keys)
