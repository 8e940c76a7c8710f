"""XLA's CPU backend deadlocked (every thread parked, no error) in the first PPO update of a 2-layer GRU of width 64
vmapped over 2 seeds, with its concurrency-optimised scheduler on; ``import ssmrl`` turns that scheduler off
(before the backend starts) unless the user set the flag. The program runs in a subprocess with a timeout: with
the scheduler on (``XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=true``) it hangs on the 2-core CPU
this project is developed on."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test starts a Python of its own

PROGRAM = """
import ssmrl, os
import jax
import envs
from ssmrl.ppo.config import ppo_run_config
from ssmrl.ppo.train import make_train
print(os.environ["XLA_FLAGS"])
cfg = ppo_run_config({"algo": {"num_envs": 4, "num_steps": 8, "num_minibatches": 2, "num_epochs": 1},
                      "model": {"name": "gru", "d_model": 64, "n_layers": 2}})
env, p = envs.make("popgym/RepeatPreviousEasy")
parts = make_train(cfg, env, p)
state = jax.jit(jax.vmap(parts.init))(jax.random.split(jax.random.PRNGKey(0), 2))
state, metrics = jax.jit(jax.vmap(parts.update))(state)
jax.block_until_ready(metrics)
print("finished")
"""


def _run(xla_flags):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    return subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=300)


def test_gru_vmapped_over_seeds_does_not_hang():
    out = _run(None)
    assert out.returncode == 0, out.stderr[-2000:]
    flags, finished = out.stdout.split("\n")[:2]
    assert flags == "--xla_cpu_enable_concurrency_optimized_scheduler=false" and finished == "finished"


def test_a_users_own_setting_wins():
    code = "import ssmrl, os; print(os.environ['XLA_FLAGS'])"
    env = {**os.environ, "XLA_FLAGS": "--xla_cpu_enable_concurrency_optimized_scheduler=true --xla_dump_to=/tmp/x"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == env["XLA_FLAGS"]
