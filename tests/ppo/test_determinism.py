"""The same seed twice gives identical metrics and parameters."""

import jax
import numpy as np
import pytest
from toy_env import Counter

from ssmrl.ppo.config import ppo_run_config
from ssmrl.ppo.train import make_train


def _run(cfg, env, updates=3):
    parts = make_train(cfg, env, env.default_params)
    state = jax.jit(parts.init)(jax.random.PRNGKey(7))
    update = jax.jit(parts.update)
    history = []
    for _ in range(updates):
        state, metrics = update(state)
        history.append(jax.device_get(metrics))
    return state, history


@pytest.mark.slow
def test_same_seed_identical_metrics():
    cfg = ppo_run_config({"algo": {"num_envs": 4, "num_steps": 16, "chunk_len": 8, "num_minibatches": 2,
                                         "num_epochs": 2, "total_timesteps": 4 * 16 * 3},
                                "model": {"name": "s5", "d_model": 8, "n_layers": 1, "state_size": 4}})
    env = Counter()
    state_a, hist_a = _run(cfg, env)
    state_b, hist_b = _run(cfg, env)
    for a, b in zip(hist_a, hist_b, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    jax.tree.map(np.testing.assert_array_equal, state_a.params, state_b.params)
    assert hist_a[0]["episodes"] > 0 and np.isfinite(hist_a[-1]["loss"])
