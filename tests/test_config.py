"""Config validation: every user mistake is a ConfigError naming the key and the valid values."""

from pathlib import Path

import pytest

from ssmrl.config import ConfigError, RunConfig, check_value, run_config_to_dict
from ssmrl.ppo.config import PPOConfig, ppo_run_config


def test_defaults_and_round_trip():
    cfg = ppo_run_config({"model": {"name": "s5", "d_model": 32, "state_size": 8}, "algo": {"lr": 1}})
    assert isinstance(cfg, RunConfig) and isinstance(cfg.algo, PPOConfig)
    assert cfg.algo.lr == 1.0 and cfg.model.options == {"state_size": 8}
    assert ppo_run_config(run_config_to_dict(cfg)) == cfg


@pytest.mark.parametrize("data, words", [
    ({"algo": {"lrr": 1e-3}}, ["algo.lrr", "valid keys", "lr"]),
    ({"sed": 1}, ["sed", "seed"]),
    ({"algo": {"num_envs": 10, "num_minibatches": 4}}, ["algo.num_envs=10", "algo.num_minibatches=4", "[1, 2, 5, 10]"]),
    ({"algo": {"num_steps": 100, "chunk_len": 32}}, ["algo.chunk_len", "algo.num_steps"]),
    ({"algo": {"num_envs": "many"}}, ["algo.num_envs", "int"]),
    ({"algo": {"total_timesteps": 10}}, ["algo.total_timesteps"]),
    ({"model": {"name": "s6"}}, ["model.name", "s6", "'s5'", "'gru'"]),
    ({"model": {"name": "s5", "state_sise": 4}}, ["state_sise", "state_size"]),
    ({"model": {"name": "s5", "mlp": "swish"}}, ["mlp", "glu"]),
    ({"env": {"suite": "atari5"}}, ["env.suite", "popgym", "gymnax"]),
    ({"num_seeds": 0}, ["num_seeds"]),
    ({"algo": {"vf_coef": -5}}, ["algo.vf_coef", ">= 0", "-5"]),
    ({"algo": {"max_grad_norm": -1}}, ["algo.max_grad_norm", "> 0", "-1"]),
    ({"runner": {"updates_per_call": 0}}, ["runner.updates_per_call", ">= 1"]),
    ({"run_dir": ""}, ["run_dir", "empty"]),
])
def test_errors_name_the_key(data, words):
    with pytest.raises(ConfigError) as err:
        ppo_run_config(data)
    for word in words:
        assert word in str(err.value)


def test_unknown_task_lists_valid_tasks():
    with pytest.raises(ConfigError) as err:
        ppo_run_config({"env": {"task": "RepeatFirstEZ"}}, valid_tasks=["RepeatFirstEasy", "RepeatFirstHard"])
    assert "env.task" in str(err.value) and "RepeatFirstEasy" in str(err.value)


def test_env_presets_apply_to_their_algorithm_and_suite_only():
    # configs/env_preset/dreamer_popgym.yaml: Dreamer on POPGym gets wm_lr 1e-3, ratio 64, rewards x51 and
    # episode-start windows; an override on the command line still wins; PPO and Dreamer elsewhere keep the
    # algorithm's defaults (configs/algo/dreamer.yaml: 3e-4, 32, 1, false).
    from ssmrl.cli import compose_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    algo = compose_config(configs, "dreamer", ["env=popgym"]).algo
    assert (algo.wm_lr, algo.train_ratio, algo.reward_multiplier, algo.replay_episode_starts) == (1e-3, 64, 51, True)
    assert compose_config(configs, "dreamer", ["env=popgym", "algo.wm_lr=0.0003"]).algo.wm_lr == 3e-4
    algo = compose_config(configs, "dreamer", ["env=gymnax", "env.task=CartPole-v1"]).algo
    assert (algo.wm_lr, algo.train_ratio, algo.reward_multiplier, algo.replay_episode_starts) == (3e-4, 32, 1, False)
    assert "reward_multiplier" not in compose_config(configs, "ppo", ["env=popgym"]).algo
    # configs/env_preset/dreamer_wm_memory.yaml: the tasks' uint8 views enter as obs / 255 - 0.5 (the defaults 1, 0
    # are refused for uint8 images by the world model's builder)
    algo = compose_config(configs, "dreamer", ["env=wm_memory"]).algo
    assert (algo.image_scale, algo.image_shift) == (255, 0.5)


@pytest.mark.parametrize("value, hint, expected", [
    (3, int, 3), (3, float, 3.0), (None, int | None, None), (7, int | None, 7),
    (["a", "b"], tuple[str, ...], ("a", "b")), (("a",), list, ["a"]), ({"k": 1}, dict, {"k": 1}),
    ([1, 2], tuple[int, ...], (1, 2)),
])
def test_check_value_accepts_and_converts(value, hint, expected):
    out = check_value("key", value, hint)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("value, hint, message", [
    (True, int, "key: expected int, got True"),
    ("many", int | None, "key: expected int or null, got 'many'"),
    (["a", 2], tuple[str, ...], "key: expected a list of str, got ['a', 2]"),
    ("a", tuple[str, ...], "key: expected a list of str, got 'a'"),
    ([1], dict, "key: expected a mapping, got [1]"),
])
def test_check_value_names_the_key_and_the_type(value, hint, message):
    with pytest.raises(ConfigError) as err:
        check_value("key", value, hint)
    assert str(err.value) == message


def test_config_changes_names_every_key_that_must_not_change_on_resume():
    from ssmrl.config import ABSENT, config_changes

    saved = {"env": {"suite": "popgym", "task": "RepeatFirstEasy"}, "algo": {"total_timesteps": 100, "lr": 0.001},
             "runner": {"checkpoint_every": 50}, "logger": {"plot": True}, "model": {"name": "s5", "dt_min": 0.01},
             "run_dir": "a", "seed": 0}
    now = {"env": {"suite": "popgym", "task": "RepeatPreviousEasy"}, "algo": {"total_timesteps": 200, "lr": 0.001,
                                                                            "ent_coef": 0.0},
           "runner": {"checkpoint_every": 10}, "logger": {"plot": False}, "model": {"name": "s5"},
           "run_dir": "b", "seed": 1}
    # The budget, runner, logger and run_dir may change; a key the checkpoint's config lacks (ent_coef: a newer
    # setting) is no change; a key this config lacks (dt_min) is, with ABSENT for its value now. Sorted by key.
    assert config_changes(saved, now) == [("env.task", "RepeatFirstEasy", "RepeatPreviousEasy"),
                                          ("model.dt_min", 0.01, ABSENT), ("seed", 0, 1)]
    assert config_changes(saved, saved) == []
    # With the config dataclass: a newer key counts unless it holds its schema default (PPO's ent_coef is 0.01).
    from ssmrl.ppo.config import ppo_run_config

    cfg = ppo_run_config({})
    assert config_changes(saved, now, cfg=cfg)[0] == ("algo.ent_coef", ABSENT, 0.0)
    at_default = {**now, "algo": {**now["algo"], "ent_coef": 0.01}}
    assert config_changes(saved, at_default, cfg=cfg)[0] == ("env.task", "RepeatFirstEasy", "RepeatPreviousEasy")
