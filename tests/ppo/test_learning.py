"""Learning checks (slow): PPO with an S5 core solves CartPole and RepeatFirstEasy; a memoryless core cannot
solve RepeatFirstEasy. Hyperparameters are tuned here for small budgets on a 2-core CPU; the measure is the
greedy final evaluation (``runner.eval_*``), averaged over its environments.

RepeatFirst needs the first card's suit at every step: the reward of a step depends only on that step's action,
so a short horizon (gamma = 0.5) cuts the advantage noise. The stack needs 2 layers: with one linear recurrence
the first input cannot be told apart from later ones; a second layer can gate "t == 0" from a first-layer clock.
"""

import pytest

import envs
from ssmrl.ppo.config import ppo_run_config
from ssmrl.ppo.train import make_train
from ssmrl.runners.loop import train

QUIET = {"progress": False, "tensorboard": False, "plot": False, "csv": True}


def _train(task, model, algo, tmp_path, eval_steps):
    env, env_params = envs.make(task)
    cfg = ppo_run_config({
        "algo": algo, "model": model, "logger": QUIET, "seed": 0,
        "runner": {"updates_per_call": 10, "checkpoint_every": 10_000, "eval_envs": 32, "eval_steps": eval_steps},
    })
    result = train(cfg, make_train, env, env_params, tmp_path)
    print(f"{task} {model['name']}: final return {result.final_return:.3f}, eval {result.eval_return:.3f}, "
          f"wall {result.wall_s:.0f} s, compile {result.compile_s:.0f} s")
    return result


@pytest.mark.slow
@pytest.mark.optimized
def test_s5_solves_cartpole(tmp_path):
    # Seeds 0-3 all reach 500 within this budget.
    algo = {"num_envs": 32, "num_steps": 128, "total_timesteps": 500_000, "lr": 3e-3, "ent_coef": 0.0,
            "num_epochs": 4, "num_minibatches": 4}
    result = _train("gymnax/CartPole-v1", {"name": "s5", "d_model": 32, "n_layers": 1}, algo, tmp_path, 600)
    assert result.eval_return >= 400


# Seeds 0-3 all reach 1.0 with these settings (without the entropy bonus one seed in four collapsed to 0.5).
REPEAT_FIRST = {"num_envs": 32, "num_steps": 64, "total_timesteps": 500_000, "lr": 3e-3, "gamma": 0.5,
                "ent_coef": 0.01, "num_epochs": 4, "num_minibatches": 4}


@pytest.mark.slow
@pytest.mark.optimized
def test_s5_solves_repeat_first(tmp_path):
    result = _train("popgym/RepeatFirstEasy", {"name": "s5", "d_model": 64, "n_layers": 2}, REPEAT_FIRST, tmp_path,
                    128)
    assert result.eval_return >= 0.9


@pytest.mark.slow
@pytest.mark.optimized
def test_memoryless_core_fails_repeat_first(tmp_path):
    result = _train("popgym/RepeatFirstEasy", {"name": "identity", "d_model": 64, "n_layers": 2}, REPEAT_FIRST,
                    tmp_path, 128)
    assert result.eval_return < 0.2
