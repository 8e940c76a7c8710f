"""Acting on a host-side environment gives exactly what acting on the same environment under jit gives: the same
keys reach the policy, the same flags, final observations and episode statistics come back, and evaluation counts
the same first episodes. The host environment here is the toy Counter stepped eagerly behind numpy arrays."""

import jax
import jax.numpy as jnp
import numpy as np
from toy_env import Counter

from ssmrl.acting import init_acting, make_act, make_evaluate_episodes
from ssmrl.env_wrappers import EpisodeStats, VecEnv
from ssmrl.host_acting import host_acting, make_host_act, make_host_evaluate

NUM_ENVS = 3


class HostCounter:
    """Counter x NUM_ENVS behind the host-environment contract (numpy in, numpy out, auto-reset)."""

    def __init__(self, num_envs=NUM_ENVS):
        self.num_envs, self.vec = num_envs, VecEnv(EpisodeStats(Counter()), num_envs)
        self.params, self.state, self.closed = Counter().default_params, None, False

    def reset(self):
        obs, self.state = self.vec.reset(jax.random.PRNGKey(0), self.params)
        return np.asarray(obs)

    def step(self, actions):
        obs, self.state, reward, terminated, truncated, info = self.vec.step(
            jax.random.PRNGKey(0), self.state, jnp.asarray(actions), self.params)
        return (np.asarray(obs), np.asarray(reward), np.asarray(terminated), np.asarray(truncated),
                jax.tree.map(np.asarray, info))

    def snapshot(self):
        return self.state

    def restore(self, snapshot):
        self.state = snapshot

    def close(self):
        self.closed = True


def random_policy(params, carry, obs, is_first, key):
    # A sampled action (so the keys must match) and a carry that counts steps since the episode start.
    carry = jnp.where(is_first, 0, carry) + 1
    action = jax.random.bernoulli(key, params, (obs.shape[0],)).astype(jnp.int32)
    return carry, action, {"steps_in_episode": carry}


def test_host_acting_equals_jitted_acting_step_for_step():
    host = HostCounter()
    jax_env = host.vec
    key = jax.random.PRNGKey(3)
    carry = jnp.zeros((NUM_ENVS,), jnp.int32)
    act_jax = jax.jit(make_act(jax_env, host.params, random_policy, 9))
    state_jax, traj_jax = act_jax(key, 0.5, init_acting(key, jax_env, host.params, carry))
    state_host, traj_host = make_host_act(host, random_policy, 9)(key, 0.5, host_acting(host, carry))
    jax.tree.map(np.testing.assert_array_equal, traj_host, traj_jax)
    for field in ("obs", "is_first", "carry"):
        np.testing.assert_array_equal(getattr(state_host, field), getattr(state_jax, field))
    # The toy episodes end by termination (action 1 at t = 2) and by truncation (t = 3); both happened.
    assert np.asarray(traj_host.terminated).any() and np.asarray(traj_host.truncated).any()
    assert state_host.env_state is None


def test_host_evaluation_counts_first_episodes_like_jitted_evaluation():
    # Always action 1: every episode terminates after 2 steps with return 2 (reward = action).
    greedy = lambda params, carry, obs, is_first, key: (carry, jnp.ones((obs.shape[0],), jnp.int32), {})
    zeros = lambda n: jnp.zeros((n,), jnp.int32)
    host = HostCounter(4)
    metrics = make_host_evaluate(lambda: host, greedy, zeros, max_steps=50)(jax.random.PRNGKey(0), None)
    expected = make_evaluate_episodes(host.vec, host.params, greedy, zeros, 50)(jax.random.PRNGKey(0), None)
    assert {k: float(v) for k, v in metrics.items()} == {"episode_return": 2.0, "episode_length": 2.0,
                                                         "episodes": 4.0}
    assert {k: float(v) for k, v in expected.items()} == {k: float(v) for k, v in metrics.items()}
    assert host.closed  # the evaluation environment is freed


def test_host_evaluation_stops_at_the_step_cap():
    # Always action 0: episodes are truncated at t = 3, so a cap of 2 steps sees none end.
    never = lambda params, carry, obs, is_first, key: (carry, jnp.zeros((obs.shape[0],), jnp.int32), {})
    metrics = make_host_evaluate(HostCounter, never, lambda n: jnp.zeros((n,)), max_steps=2)(
        jax.random.PRNGKey(0), None)
    assert float(metrics["episodes"]) == 0 and np.isnan(float(metrics["episode_return"]))
