"""Acting on host-side environments (emulators stepped from Python, e.g. ``envs.atari.AtariVecEnv``): the same
:class:`ssmrl.acting.Trajectory` and :class:`ssmrl.acting.ActingState` as acting on JAX environments, with the
policy step jitted and the environment stepped on the host between policy steps.

A host environment (``HostEnv``) is batch-major numpy, ``B = num_envs``: ``reset() -> obs [B, ...]``;
``step(actions [B]) -> (obs, reward, terminated, truncated, info)`` auto-resetting, with ``info["final_obs"]``,
``info["is_first"]``, ``info["episode_return"]``, ``info["episode_length"]`` and ``info["episode_done"]`` as
``ssmrl.env_wrappers.VecEnv`` gives them; ``observation_space()``, ``action_space()``; ``snapshot() -> object``
and ``restore(snapshot)`` (everything needed to continue bit for bit, picklable); ``close()``.

``act(key, params, state) -> (state, Trajectory)`` draws its keys exactly as :func:`ssmrl.acting.make_act` does
(``split(key, num_steps)``, then ``(key_policy, key_env)`` per step, ``key_env`` unused: the host environment owns
its randomness), so a policy sees the same keys on either kind of environment. The ``ActingState`` of a host
environment holds ``env_state=None``: the environment's own state lives in the emulators (checkpointed with
``snapshot``).

An algorithm that supports host environments returns from its ``make_train`` a :class:`ssmrl.algorithm.Train`
whose ``host`` (:class:`ssmrl.algorithm.HostParts`) holds the ``act`` built here; ``ssmrl.runners.host_envs``
drives it inside the one run loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.acting import ActingState, Policy, Trajectory

Array = jax.Array


def host_acting(env: Any, carry: Any) -> ActingState:
    """Reset every environment of ``env``; ``is_first`` set everywhere; the policy carry is ``carry``."""
    obs = jnp.asarray(env.reset())
    return ActingState(env_state=None, obs=obs, is_first=jnp.ones((env.num_envs,), bool), carry=carry)


def make_host_act(env: Any, policy: Policy, num_steps: int) -> Callable:
    """Build ``act(key, params, state: ActingState) -> (ActingState, Trajectory [num_steps, B])`` that steps the
    host environment ``env`` with the jitted ``policy`` (compiled once per input shape)."""
    @jax.jit
    def step(params, carry, obs, is_first, keys, t):
        key_policy, _ = jax.random.split(keys[t])
        return policy(params, carry, obs, is_first, key_policy)

    def act(key: Array, params: Any, state: ActingState) -> tuple[ActingState, Trajectory]:
        keys = jax.random.split(key, num_steps)
        carry, obs, is_first = state.carry, state.obs, state.is_first
        steps = []
        for t in range(num_steps):
            carry, action, extras = step(params, carry, obs, is_first, keys, t)
            action_host = np.asarray(action)
            next_obs, reward, terminated, truncated, info = env.step(action_host)
            steps.append(dict(obs=obs, is_first=is_first, action=action, reward=np.asarray(reward, np.float32),
                              terminated=terminated, truncated=truncated, final_obs=info["final_obs"],
                              extras=extras, episode_return=np.asarray(info["episode_return"], np.float32),
                              episode_length=np.asarray(info["episode_length"], np.int32),
                              episode_done=info["episode_done"]))
            obs, is_first = jnp.asarray(next_obs), jnp.asarray(info["is_first"])
        stacked = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *steps)
        return ActingState(env_state=None, obs=obs, is_first=is_first, carry=carry), Trajectory(**stacked)

    return act


def make_host_evaluate(make_env: Callable[[], Any], policy: Policy, initial_carry: Callable[[int], Any],
                       max_steps: int) -> Callable:
    """Build ``evaluate(key, params) -> metrics``: a fresh environment from ``make_env()`` (closed afterwards), acted
    on until every one of its ``B`` environments has finished its first episode or ``max_steps`` steps have passed.
    Metrics (float32 scalars), as :func:`ssmrl.acting.make_evaluate_episodes`: ``episode_return`` and
    ``episode_length`` (means over the environments' first episodes; NaN if none finished) and ``episodes``."""
    step = jax.jit(policy)

    def evaluate(key: Array, params: Any) -> dict[str, Array]:
        env = make_env()
        try:
            num_envs = env.num_envs
            carry, obs = initial_carry(num_envs), jnp.asarray(env.reset())
            is_first = jnp.ones((num_envs,), bool)
            finished = np.zeros(num_envs, bool)
            ret, length = np.zeros(num_envs, np.float32), np.zeros(num_envs, np.float32)
            for _ in range(max_steps):
                key, key_policy = jax.random.split(key)
                carry, action, _ = step(params, carry, obs, is_first, key_policy)
                next_obs, _, _, _, info = env.step(np.asarray(action))
                first = info["episode_done"] & ~finished
                ret[first], length[first] = info["episode_return"][first], info["episode_length"][first]
                finished |= info["episode_done"]
                obs, is_first = jnp.asarray(next_obs), jnp.asarray(info["is_first"])
                if finished.all():
                    break
        finally:
            env.close()
        count = float(finished.sum())
        mean = lambda x: float(x[finished].mean()) if count else float("nan")
        return {"episode_return": jnp.float32(mean(ret)), "episode_length": jnp.float32(mean(length)),
                "episodes": jnp.float32(count)}

    return evaluate
