"""The meta-RL wrapper over a POPGym env and a gymnax env.

Over RepeatFirstEasy (51 steps per trial) with 3 trials, a meta-episode is 3 * 51 = 153 steps; trials end at
steps 50, 101, 152 (0-based); ``terminated`` fires only at 152. A policy that reads the hidden first card and
inverts the meta-episode's action permutation earns +1 per trial (3 in all); its observation layout is
``[obs_dim projected | 4 one-hot previous action | previous reward | trial start]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.popgym import cards
from ssmrl.env_wrappers import AutoReset

OBS_DIM, TRIALS, TRIAL_LEN = 8, 3, 51
T = 2 * TRIALS * TRIAL_LEN  # two meta-episodes


@pytest.fixture(scope="module")
def meta_rollout():
    env, params = envs.make("meta/popgym/RepeatFirstEasy", num_trials=TRIALS, obs_dim=OBS_DIM)
    env = AutoReset(env)

    @jax.jit
    def run(key):
        obs0, state = env.reset(key, params)

        def body(state, key):
            # Name the first card of the current trial through the inverse of the task's permutation.
            perm = state.task.action_map[0]
            action = jnp.argmax(perm == cards.suit(state.inner.deck[0])).astype(jnp.int32)
            obs, next_state, reward, terminated, truncated, info = env.step(key, state, action, params)
            return next_state, (obs, action, reward, terminated, truncated, info, state.task.obs_proj)

        return obs0, state, jax.lax.scan(body, state, jax.random.split(key, T))

    return env, params, run(jax.random.key(0))


def test_trials_flags_and_returns(meta_rollout):
    env, params, (obs0, state0, (_, (obs, action, reward, terminated, truncated, info, proj))) = meta_rollout
    obs, reward, terminated = np.asarray(obs), np.asarray(reward), np.asarray(terminated)
    assert obs.shape == (T, OBS_DIM + 4 + 2) == (T, *env.observation_space(params).shape)
    # terminated only at the end of each meta-episode; never truncated (RepeatFirst terminates).
    meta_len = TRIALS * TRIAL_LEN
    np.testing.assert_array_equal(np.flatnonzero(terminated), [meta_len - 1, 2 * meta_len - 1])
    assert not np.asarray(truncated).any()
    trial_ends = [TRIAL_LEN * k - 1 for k in range(1, 2 * TRIALS + 1)]
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(info["trial_done"])), trial_ends)
    np.testing.assert_array_equal(np.asarray(info["trial"]), np.tile(np.repeat(np.arange(TRIALS), TRIAL_LEN), 2))
    # Every answer right: each step pays +1/51, each trial returns 1.
    np.testing.assert_allclose(reward, 1 / 51, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(info["trial_returns"])[meta_len - 1], np.ones(TRIALS), atol=1e-5)
    np.testing.assert_allclose(np.asarray(info["trial_return"])[trial_ends], 1.0, atol=1e-5)
    # Observation extras: previous action one-hot, previous reward, trial-start flag.
    # (after the last trial the returned obs is AutoReset's fresh first one: no previous action or reward)
    meta_ends = [meta_len - 1, 2 * meta_len - 1]
    prev_action = np.eye(4)[np.asarray(action)]
    prev_action[meta_ends] = 0.0
    np.testing.assert_array_equal(obs[:, OBS_DIM : OBS_DIM + 4], prev_action)
    np.testing.assert_allclose(obs[:, -2], np.where(np.isin(np.arange(T), meta_ends), 0.0, reward), rtol=1e-6)
    starts = np.zeros(T, bool)
    starts[[TRIAL_LEN - 1, 2 * TRIAL_LEN - 1, meta_len + TRIAL_LEN - 1, meta_len + 2 * TRIAL_LEN - 1]] = True
    # After the last trial the returned obs starts a new meta-episode (AutoReset): flag 1, no previous action.
    starts[meta_len - 1] = starts[2 * meta_len - 1] = True
    np.testing.assert_array_equal(obs[:, -1], starts.astype(np.float32))
    np.testing.assert_array_equal(obs[meta_len - 1, OBS_DIM:-1], 0.0)
    assert np.asarray(obs0)[-1] == 1.0 and (np.asarray(obs0)[OBS_DIM:-1] == 0).all()


def test_task_fixed_within_and_new_across_meta_episodes(meta_rollout):
    _, _, (_, _, (_, (_, _, _, _, _, _, proj))) = meta_rollout
    proj = np.asarray(proj)  # [T, OBS_DIM, 4]: the projection used at each step
    meta_len = TRIALS * TRIAL_LEN
    assert proj.shape == (T, OBS_DIM, 4)
    assert (proj[:meta_len] == proj[0]).all() and (proj[meta_len:] == proj[meta_len]).all()
    assert not np.allclose(proj[0], proj[meta_len])


def test_num_trials_at_evaluation_and_fixed_inner_reset():
    env, params = envs.make("meta/popgym/MultiarmedBanditEasy", num_trials=2, fixed_inner_reset=True)
    eval_params = params.replace(num_trials=5)
    reset = jax.jit(env.reset, static_argnums=1)
    _, state = reset(jax.random.key(0), eval_params)
    assert state.trial_returns.shape == (5,)
    # fixed_inner_reset: every trial of a meta-episode starts from the same arms.
    step = jax.jit(env.step, static_argnums=3)
    arms0 = np.asarray(state.inner.bandits)
    for i in range(200):  # one full trial of 200 steps
        _, state, _, terminated, truncated, info = step(jax.random.key(i), state, jnp.int32(0), eval_params)
    assert bool(info["trial_done"]) and int(state.trial) == 1 and not bool(terminated | truncated)
    np.testing.assert_array_equal(np.asarray(state.inner.bandits), arms0)
    with pytest.raises(ValueError, match="num_trials"):
        envs.make("meta/popgym/RepeatFirstEasy", num_trials=0)


def test_meta_over_gymnax_cartpole_truncates_only_at_meta_end():
    # Inner time limit 5 steps, 3 trials: the meta-episode is 15 steps and ends truncated (the last trial hit its
    # time limit); the inner trial ends at steps 4 and 9 raise no flag.
    env, params = envs.make("meta/gymnax/CartPole-v1", num_trials=3, obs_dim=6, inner={"max_steps_in_episode": 5})
    env = AutoReset(env)

    @jax.jit
    def run(key):
        _, state = env.reset(key, params)

        def body(state, t):
            obs, state, reward, terminated, truncated, info = env.step(key, state, (t % 2).astype(jnp.int32), params)
            return state, (obs, terminated, truncated, info["trial_done"])

        return jax.lax.scan(body, state, jnp.arange(15))[1]

    obs, terminated, truncated, trial_done = (np.asarray(x) for x in run(jax.random.key(1)))
    assert obs.shape == (15, 6 + 2 + 2) and obs.dtype == np.float32
    np.testing.assert_array_equal(np.flatnonzero(trial_done), [4, 9, 14])
    np.testing.assert_array_equal(np.flatnonzero(truncated), [14])
    assert not terminated.any()


def test_box_actions_are_rotated_and_clipped():
    env, params = envs.make("meta/gymnax/Pendulum-v1", num_trials=1, obs_dim=4)
    _, state = jax.jit(env.reset, static_argnums=1)(jax.random.key(2), params)
    q = np.asarray(state.task.action_map)
    assert q.shape == (1, 1) and abs(abs(q[0, 0]) - 1.0) < 1e-6  # a 1x1 orthogonal matrix is +-1
    inner = env._inner_action(jnp.array([5.0]), state.task, params)
    assert float(jnp.abs(inner[0])) == 2.0  # clipped to Pendulum's torque bound


def test_reward_scale_scales_only_the_observed_previous_reward():
    # Bandit with L = 20 pulls per trial: a pull pays +-1/20 = +-0.05; reward_scale=20 shows it as +-1 in the
    # observation (index obs_dim + 10 arms), while the reward the agent is trained on stays +-0.05.
    env, params = envs.make("meta/popgym/MultiarmedBanditEasy", obs_dim=4, reward_scale=20.0,
                            inner={"episode_length": 20})
    _, state = env.reset(jax.random.key(0), params)
    obs, _, reward, *_ = env.step(jax.random.key(1), state, jnp.int32(3), params)
    assert abs(float(reward)) == pytest.approx(0.05)
    assert float(obs[4 + 10]) == pytest.approx(20.0 * float(reward))
    with pytest.raises(ValueError, match="reward_scale"):
        env.reset(jax.random.key(0), params.replace(reward_scale=float("nan")))
