"""The shared acting module on a hand-checked toy env: flags, final observations, auto-reset, the bootstrap hook
and the one reduction of episode statistics, for a batch whose episodes end at different steps."""

import jax
import jax.numpy as jnp
import numpy as np
from toy_env import Counter

from ssmrl.acting import episode_metrics, init_acting, make_act
from ssmrl.env_wrappers import EpisodeStats, VecEnv

# Counter: obs = [t / 10] after t steps of the episode; truncated when t reaches 3; terminated when t reaches 2 with
# action 1; reward = action. Env 0 always plays 0 (episodes of 3 steps, truncated), env 1 always plays 1 (episodes
# of 2 steps, terminated). Over T = 7 steps, by hand (step t: obs acted on -> final_obs produced):
#   env 0: obs 0, .1, .2 | 0, .1, .2 | 0    final .1, .2, .3 | .1, .2, .3 | .1   truncated at t = 2, 5
#   env 1: obs 0, .1 | 0, .1 | 0, .1 | 0    final .1, .2 | .1, .2 | .1, .2 | .1   terminated at t = 1, 3, 5
OBS = np.array([[0, 0], [.1, .1], [.2, 0], [0, .1], [.1, 0], [.2, .1], [0, 0]], np.float32)
FINAL = np.array([[.1, .1], [.2, .2], [.3, .1], [.1, .2], [.2, .1], [.3, .2], [.1, .1]], np.float32)
IS_FIRST = np.array([[1, 1], [0, 0], [0, 1], [1, 0], [0, 1], [0, 0], [1, 1]], bool)
TERMINATED = np.array([[0, 0], [0, 1], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]], bool)
TRUNCATED = np.array([[0, 0], [0, 0], [1, 0], [0, 0], [0, 0], [1, 0], [0, 0]], bool)


def policy(params, carry, obs, is_first, key):
    # The carry counts steps since the last episode start (reset where is_first), to check it is threaded.
    carry = jnp.where(is_first, 0, carry) + 1
    return carry, jnp.array([0, 1]), {"steps_in_episode": carry}


def bootstrap(params, carry, final_obs):
    return {"boot": 100.0 + 10.0 * final_obs[:, 0]}


def test_flags_final_observations_and_auto_reset():
    env = VecEnv(EpisodeStats(Counter()), 2)
    params = Counter().default_params
    state = init_acting(jax.random.PRNGKey(0), env, params, jnp.zeros(2, jnp.int32))
    act = jax.jit(make_act(env, params, policy, num_steps=7, bootstrap=bootstrap))
    state, traj = act(jax.random.PRNGKey(1), None, state)
    np.testing.assert_allclose(traj.obs[..., 0], OBS, atol=1e-6)
    np.testing.assert_allclose(traj.final_obs[..., 0], FINAL, atol=1e-6)
    np.testing.assert_array_equal(traj.is_first, IS_FIRST)
    np.testing.assert_array_equal(traj.terminated, TERMINATED)
    np.testing.assert_array_equal(traj.truncated, TRUNCATED)
    np.testing.assert_array_equal(traj.action, np.tile([0, 1], (7, 1)))
    np.testing.assert_array_equal(traj.reward, np.tile([0.0, 1.0], (7, 1)))
    # The carry is threaded through the steps: steps since the episode start, 1-based.
    np.testing.assert_array_equal(traj.extras["steps_in_episode"], [[1, 1], [2, 2], [3, 1], [1, 2], [2, 1], [3, 2],
                                                                    [1, 1]])
    # The bootstrap hook runs on steps where some env truncated (t = 2, 5), on the final observations of both envs
    # (env 1's is then unused); zeros elsewhere.
    boot = np.zeros((7, 2), np.float32)
    boot[2] = [103.0, 101.0]  # final obs .3 (env 0) and .1 (env 1)
    boot[5] = [103.0, 102.0]  # final obs .3 and .2
    np.testing.assert_allclose(traj.extras["boot"], boot, atol=1e-5)
    # After 7 steps both envs are one step into an episode.
    np.testing.assert_allclose(state.obs[:, 0], [.1, .1], atol=1e-6)
    np.testing.assert_array_equal(state.is_first, [False, False])
    # Episode statistics: env 0 ended 2 episodes (return 0, length 3), env 1 ended 3 (return 2, length 2):
    # mean return (0 + 0 + 2 + 2 + 2) / 5 = 1.2, mean length (3 + 3 + 2 + 2 + 2) / 5 = 2.4.
    metrics = episode_metrics(traj)
    np.testing.assert_allclose(metrics["episodes"], 5.0)
    np.testing.assert_allclose(metrics["episode_return"], 1.2, rtol=1e-6)
    np.testing.assert_allclose(metrics["episode_length"], 2.4, rtol=1e-6)


def test_episode_metrics_are_nan_when_no_episode_ended():
    env = VecEnv(EpisodeStats(Counter()), 2)
    params = Counter().default_params
    state = init_acting(jax.random.PRNGKey(0), env, params, jnp.zeros(2, jnp.int32))
    _, traj = make_act(env, params, policy, num_steps=1)(jax.random.PRNGKey(1), None, state)
    metrics = episode_metrics(traj)
    assert metrics["episodes"] == 0 and np.isnan(metrics["episode_return"]) and np.isnan(metrics["episode_length"])
