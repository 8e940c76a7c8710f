"""PPO's rollout on the shared acting module: flags, stored values, and V(final_obs) computed with the pre-reset
carry on truncation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from toy_env import LIMIT, Counter

from ssmrl.config import ModelConfig
from ssmrl.env_wrappers import EpisodeStats, VecEnv
from ssmrl.ppo.networks import make_actor_critic
from ssmrl.ppo.rollout import init_rollout_state, make_rollout


@pytest.mark.slow
def test_flags_values_and_truncation_bootstrap():
    env = VecEnv(EpisodeStats(Counter()), 4)
    params = Counter().default_params
    net = make_actor_critic(ModelConfig(name="s5", d_model=8, n_layers=2, options={"state_size": 4}),
                            env.observation_space(params), env.action_space(params))
    state = init_rollout_state(jax.random.PRNGKey(0), net, env, params)
    net_params = net.init(jax.random.PRNGKey(1), state.carry, state.obs[None], state.is_first[None])
    rollout = jax.jit(make_rollout(net, env, params, num_steps=12, chunk_len=4))
    _, ro = rollout(jax.random.PRNGKey(2), net_params, state)
    tr, extras = ro.trajectory, ro.trajectory.extras
    assert tr.obs.shape == (12, 4, 1) and tr.is_first.shape == (12, 4)
    assert jax.tree.leaves(ro.start_carries)[0].shape[:2] == (3, 4)
    # is_first[t + 1] = terminated[t] | truncated[t]; the first step starts an episode.
    done = np.asarray(tr.terminated | tr.truncated)
    np.testing.assert_array_equal(np.asarray(tr.is_first[1:]), done[:-1])
    assert np.asarray(tr.is_first[0]).all()
    assert np.asarray(tr.truncated).any() and np.asarray(tr.terminated).any()
    # Stored values equal the parallel (sequence-mode) recomputation from the rollout's initial carry.
    _, _, value, carries = net.apply(net_params, state.carry, tr.obs, tr.is_first, return_carries=True)
    np.testing.assert_allclose(extras["value"], value, atol=1e-5)
    # Where truncated, bootstrap = V(final_obs) from the carry after obs t (before the reset).
    final_obs = jnp.full((4, 1), LIMIT / 10.0)
    for t in range(12):
        carry_t = jax.tree.map(lambda c, t=t: c[t], carries)
        _, _, v_final = net.apply(net_params, carry_t, final_obs, jnp.zeros(4, bool), method="step")
        mask = np.asarray(tr.truncated[t])
        np.testing.assert_allclose(np.asarray(extras["bootstrap_value"][t])[mask], np.asarray(v_final)[mask],
                                   atol=1e-5)
    # Chunk-start carries are the sequence-mode carries before steps 0, 4 and 8.
    for c in (1, 2):
        expected = jax.tree.map(lambda x, c=c: x[4 * c - 1], carries)
        got = jax.tree.map(lambda x, c=c: x[c], ro.start_carries)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), got, expected)
