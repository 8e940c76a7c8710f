"""AutoReset, EpisodeStats and VecEnv on a toy environment whose every value is known by hand.

The toy env: reset draws an episode id in [0, 1000) and shows ``[t, id]`` (t = 0); each step pays reward
``t + 1`` (the new t) and ends the episode at ``t == length`` (terminated, or truncated when ``cut``). With
length 3 an episode returns 1 + 2 + 3 = 6 over 3 steps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from ssmrl.env import Box, Discrete, Environment
from ssmrl.env_wrappers import AutoReset, EpisodeStats, VecEnv


@struct.dataclass
class ToyParams:
    length: int = struct.field(pytree_node=False, default=3)
    cut: bool = struct.field(pytree_node=False, default=False)


@struct.dataclass
class ToyState:
    t: jax.Array
    episode: jax.Array


class Toy(Environment):
    @property
    def default_params(self):
        return ToyParams()

    def _obs(self, state):
        return jnp.stack([state.t, state.episode]).astype(jnp.float32)

    def reset(self, key, params):
        state = ToyState(jnp.int32(0), jax.random.randint(key, (), 0, 1000))
        return self._obs(state), state

    def step(self, key, state, action, params):
        state = state.replace(t=state.t + 1)
        end = state.t >= params.length
        terminated, truncated = (jnp.bool_(False), end) if params.cut else (end, jnp.bool_(False))
        return self._obs(state), state, state.t.astype(jnp.float32), terminated, truncated, {"t": state.t}

    def observation_space(self, params):
        return Box(low=0.0, high=1000.0, shape=(2,))

    def action_space(self, params):
        return Discrete(2)


T, B = 7, 4


@pytest.fixture(scope="module")
def rollout():
    """Jitted time-major rollout of EpisodeStats(Toy) in a VecEnv: every output [T, B, ...]."""
    env = VecEnv(EpisodeStats(Toy()), B)

    @jax.jit
    def run(key, params):
        obs0, state = env.reset(key, params)

        def body(state, key):
            action = env.sample_action(key, params)
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            return state, (obs, reward, terminated, truncated, info)

        return obs0, jax.lax.scan(body, state, jax.random.split(key, T))[1]

    return run


@pytest.mark.parametrize("cut", [False, True])
def test_vecenv_autoreset_episode_stats(rollout, cut):
    obs0, (obs, reward, terminated, truncated, info) = rollout(jax.random.key(0), ToyParams(cut=cut))
    obs, final_obs = np.asarray(obs), np.asarray(info["final_obs"])
    assert obs0.shape == (B, 2) and obs.shape == (T, B, 2) and reward.shape == (T, B)
    # Episodes end at steps 2 and 5 (0-based) in every env: flag kind as configured, never both.
    ends = np.zeros((T, B), bool)
    ends[[2, 5]] = True
    np.testing.assert_array_equal(np.asarray(truncated if cut else terminated), ends)
    assert not np.asarray(terminated if cut else truncated).any()
    np.testing.assert_array_equal(np.asarray(info["is_first"]), ends)
    # After an end the observation is a fresh one (t = 0), final_obs the pre-reset one (t = 3);
    # elsewhere final_obs == obs.
    np.testing.assert_array_equal(obs[..., 0], np.array([1, 2, 0, 1, 2, 0, 1])[:, None] * np.ones(B))
    np.testing.assert_array_equal(final_obs[..., 0], np.array([1, 2, 3, 1, 2, 3, 1])[:, None] * np.ones(B))
    np.testing.assert_array_equal(final_obs[~ends], obs[~ends])
    # A new episode id after each reset (ids drawn from fresh keys), constant within an episode.
    ids = np.concatenate([np.asarray(obs0)[None, :, 1], obs[..., 1]])
    assert (ids[1:3] == ids[0]).all() and (ids[3:6] == ids[3]).all() and (ids[3] != ids[0]).any()
    # EpisodeStats: return 1 + 2 + 3 = 6 and length 3 where an episode ended, 0 elsewhere.
    np.testing.assert_array_equal(np.asarray(info["episode_done"]), ends)
    np.testing.assert_allclose(np.asarray(info["episode_return"]), np.where(ends, 6.0, 0.0))
    np.testing.assert_array_equal(np.asarray(info["episode_length"]), np.where(ends, 3, 0))
    np.testing.assert_array_equal(np.asarray(info["t"]), np.array([1, 2, 3, 1, 2, 3, 1])[:, None] * np.ones(B))


def test_autoreset_single_env_and_stats_order():
    # AutoReset outside or inside EpisodeStats gives the same stats (EpisodeStats reads the flags).
    params = ToyParams()
    for env in (AutoReset(EpisodeStats(Toy())), EpisodeStats(AutoReset(Toy()))):
        _, state = jax.jit(env.reset, static_argnums=1)(jax.random.key(0), params)
        step = jax.jit(env.step, static_argnums=3)
        returns = []
        for i in range(6):
            _, state, _, _, _, info = step(jax.random.key(i), state, 0, params)
            returns.append(float(info["episode_return"]))
        assert returns == [0.0, 0.0, 6.0, 0.0, 0.0, 6.0]


def test_vecenv_rejects_bad_num_envs():
    with pytest.raises(ValueError, match="num_envs"):
        VecEnv(Toy(), 0)


def test_vecenv_batch_reset_equals_per_copy_autoreset():
    # VecEnv computes resets once per step for the whole batch (only when some copy ended); the result must be
    # exactly that of AutoReset on each copy with the same keys. Toy episodes of length 3 from staggered starts.
    env, params, n = Toy(), ToyParams(length=3), 5
    vec = VecEnv(env, n)
    per_copy = AutoReset(env)
    key = jax.random.key(3)
    obs_v, state_v = vec.reset(key, params)
    state_v = state_v.replace(t=jnp.arange(n) % 3)  # copies end on different steps
    state_p = state_v
    step_v = jax.jit(lambda k, s: vec.step(k, s, jnp.zeros(n, jnp.int32), params))
    step_p = jax.jit(lambda k, s: jax.vmap(per_copy.step, in_axes=(0, 0, 0, None))(
        jax.random.split(k, n), s, jnp.zeros(n, jnp.int32), params))
    for i in range(7):
        k = jax.random.fold_in(key, i)
        obs_v, state_v, rew_v, term_v, _, info_v = step_v(k, state_v)
        obs_p, state_p, rew_p, term_p, _, info_p = step_p(k, state_p)
        np.testing.assert_array_equal(obs_v, obs_p)
        np.testing.assert_array_equal(info_v["final_obs"], info_p["final_obs"])
        np.testing.assert_array_equal(state_v.episode, state_p.episode)
        np.testing.assert_array_equal(info_v["is_first"], term_p)
