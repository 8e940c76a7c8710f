"""Bridge from gymnax environments to the ssmrl protocol (``reset`` / ``step`` with terminated / truncated).

:class:`GymnaxEnv` wraps any environment of the installed gymnax (classic control, MinAtar, bsuite, misc).
It calls gymnax's ``reset_env`` / ``step_env``, never ``step``, which auto-resets: :class:`AutoReset` stays the
single auto-reset mechanism. Both step signatures are handled:

* ``step_env -> (obs, state, reward, done, info)``: in gymnax before the terminated/truncated split ``done``
  includes the time limit; newer gymnax (with ``is_truncated``, e.g. 1.0.x here) returns natural termination
  only and checks the time limit separately.
* ``step_env -> (obs, state, reward, terminated, truncated, info)``: used as is.

Time-limit ends (``state.time >= params.max_steps_in_episode``) are ``truncated``; natural ends (a pole that
falls) are ``terminated``; a step that does both counts as ``terminated`` (no bootstrap), so the two flags
never fire together. Observations come out as float32 (Box) or int32 (Discrete), rewards as float32.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.env import Box, Discrete, Environment

Array = jax.Array


def _gymnax() -> Any:
    """The gymnax package, imported on first use: importing it takes about 2 s (it loads seaborn and scipy for
    one of its environments), which every command that never builds a gymnax environment would pay."""
    import gymnax

    return gymnax


def gymnax_ids() -> list[str]:
    """Every environment id the installed gymnax registers (``"CartPole-v1"``, ...)."""
    return list(_gymnax().registered_envs)


def _convert_space(space: Any) -> Discrete | Box:
    kind = type(space).__name__
    if kind == "Discrete":
        return Discrete(int(space.n))
    if kind == "Box":
        shape = tuple(int(s) for s in space.shape)
        low = np.broadcast_to(np.asarray(space.low, np.float32), shape).copy()
        high = np.broadcast_to(np.asarray(space.high, np.float32), shape).copy()
        return Box(low=low, high=high, shape=shape)
    raise ValueError(f"gymnax space {space!r} is not supported; valid: Discrete, Box")


class GymnaxEnv(Environment):
    """A gymnax environment through the protocol. ``env_id``: a gymnax id, see :func:`gymnax_ids`."""

    def __init__(self, env_id: str, **env_kwargs: Any):
        gymnax = _gymnax()
        if env_id not in gymnax.registered_envs:
            raise ValueError(f"unknown gymnax id {env_id!r}; valid: {gymnax_ids()}")
        self.env_id = env_id
        self.gymnax_env, self._default_params = gymnax.make(env_id, **env_kwargs)
        # Newer gymnax splits the time limit out of ``step_env``'s done flag.
        self._done_is_natural = hasattr(self.gymnax_env, "is_truncated")
        # Spaces at the default params, for calls where params are traced (bounds then cannot be read).
        self._default_spaces = (
            self._space(self.gymnax_env.observation_space, self._default_params, None),
            self._space(self.gymnax_env.action_space, self._default_params, None),
        )

    @property
    def default_params(self) -> Any:
        return self._default_params

    @property
    def name(self) -> str:
        return self.env_id

    @staticmethod
    def _space(make_space: Any, params: Any, fallback: Any) -> Discrete | Box:
        # gymnax builds spaces with jnp ops: evaluate them eagerly even inside a jit trace.
        try:
            with jax.ensure_compile_time_eval():
                return _convert_space(make_space(params))
        except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
            if fallback is None:
                raise
            return fallback

    def _cast_obs(self, obs: Array, params: Any) -> Array:
        if isinstance(self._default_spaces[0], Discrete):
            return jnp.asarray(obs).astype(jnp.int32)
        return jnp.asarray(obs).astype(jnp.float32)

    def _time_limit(self, state: Any, params: Any) -> Array:
        if hasattr(state, "time") and hasattr(params, "max_steps_in_episode"):
            return jnp.asarray(state.time >= params.max_steps_in_episode)
        return jnp.zeros((), bool)

    def reset(self, key: Array, params: Any):
        obs, state = self.gymnax_env.reset_env(key, params)
        return self._cast_obs(obs, params), state

    def step(self, key: Array, state: Any, action: Array, params: Any):
        out = self.gymnax_env.step_env(key, state, action, params)
        if len(out) == 6:
            obs, state, reward, terminated, truncated, info = out
        elif len(out) == 5:
            obs, state, reward, done, info = out
            time_limit = self._time_limit(state, params)
            if self._done_is_natural:
                terminated, truncated = done, time_limit
            else:
                terminated, truncated = done & ~time_limit, done & time_limit
        else:
            raise ValueError(f"{self.env_id}: step_env returned {len(out)} values; expected 5 or 6")
        terminated = jnp.asarray(terminated).astype(bool).reshape(())
        truncated = jnp.asarray(truncated).astype(bool).reshape(()) & ~terminated
        info = {k: jnp.asarray(v) for k, v in dict(info).items()}
        reward = jnp.asarray(reward).astype(jnp.float32).reshape(())
        return self._cast_obs(obs, params), state, reward, terminated, truncated, info

    def observation_space(self, params: Any) -> Discrete | Box:
        """The space at ``params``; when params are traced (inside jit), the space at the default params."""
        return self._space(self.gymnax_env.observation_space, params, self._default_spaces[0])

    def action_space(self, params: Any) -> Discrete | Box:
        return self._space(self.gymnax_env.action_space, params, self._default_spaces[1])
