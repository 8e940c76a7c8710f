"""The benchmark grid without training: settings from a preset and the command line, cells composed through Hydra,
resumable running with a stand-in for ``train`` (skip finished cells, rerun a cell whose summary went missing,
stop after max_cells, refuse a changed config, record a divergence), and per-trial meta-RL evaluation."""

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from ssmrl.acting import make_evaluate_episodes
from ssmrl.algorithm import Train
from ssmrl.benchmark.rl_grid import Algorithm, cell_status, main, plan, run_grid
from ssmrl.benchmark.settings import load_settings
from ssmrl.benchmark.trials import trial_returns
from ssmrl.config import ConfigError, RunConfig, RunnerConfig
from ssmrl.env import Box, Discrete, Environment
from ssmrl.env_wrappers import EpisodeStats, VecEnv
from ssmrl.ppo.config import PPOConfig
from ssmrl.runners.loop import Diverged

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ALGOS = ["ppo", "dreamer"]
KNOWN_TASKS = ("popgym/RepeatPreviousEasy", "popgym/RepeatFirstEasy", "meta/popgym/MultiarmedBanditEasy")


def fake_env(name, **kwargs):
    if name not in KNOWN_TASKS:
        raise ValueError(f"unknown environment {name!r}; valid names: {', '.join(KNOWN_TASKS)}")
    return None, kwargs


def fake_algorithm(built=None):
    """An agent of 5 parameters; ``built``: a list that gets the model name of every ``make_train`` call."""
    def make_train(cfg, env, env_params):
        if built is not None:
            built.append(cfg.model.name)
        return Train(init=lambda key: {"w": jnp.zeros(5)}, update=None, evaluate=None, agent_params=lambda s: s)

    return Algorithm("ppo", PPOConfig, make_train)


class FakeTrain:
    """Stands in for ``ssmrl.runners.loop.train``: writes a 3-update metrics.csv and a complete summary.json;
    records the run dirs it was called on; ``diverge``: run dirs (model names) to raise Diverged on instead;
    ``agent_params``: the count the summary records (None: the summary has none, as a run summarised before the
    run layer recorded it)."""

    def __init__(self, diverge=(), agent_params=None):
        self.calls, self.diverge, self.agent_params = [], set(diverge), agent_params

    def __call__(self, cfg, make_train, env, env_params, run_dir, console=None):
        self.calls.append(Path(run_dir).name)
        if Path(run_dir).name in self.diverge:
            raise Diverged("diverged at update 2: loss is not finite", 2)
        seeds = [f"return_seed{i}" for i in range(cfg.num_seeds)]
        with open(Path(run_dir) / "metrics.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["update", "env_steps", "episode_return", *seeds])
            for u in range(1, 4):
                writer.writerow([u, 100 * u, 0.1 * u, *[0.1 * u + 0.01 * i for i in range(cfg.num_seeds)]])
        summary = {"complete": True, "eval_return": 0.5, "wall_s": 2.0, "compile_s": 1.0, "sps": 150.0}
        if self.agent_params is not None:
            summary["agent_params"] = self.agent_params
        (Path(run_dir) / "summary.json").write_text(json.dumps(summary))
        return SimpleNamespace(state=None)


def settings(tmp_path, *argv):
    return load_settings(CONFIGS, ["preset=smoke", f"out_dir={tmp_path}", *argv], ALGOS)


def test_settings_route_overrides_and_add_the_baselines(tmp_path):
    s = settings(tmp_path, "models=[s5,lru]", "algo.lr=0.001", "ppo.algo.num_epochs=2", "+s5.model.smr=true",
                 "num_seeds=3", "match_params=5000")
    assert s.models == ("s5", "lru", "gru", "lstm", "transformer", "identity")
    assert s.added == ("gru", "lstm", "transformer", "identity")
    assert s.overrides[-2:] == ("algo.lr=0.001", "num_seeds=3") and s.overrides[0] == "experiment=debug"
    assert s.algo_overrides == {"ppo": ["algo.num_epochs=2"]} and s.model_overrides == {"s5": ["+model.smr=true"]}
    assert s.match_params == 5000 and s.tasks == ("popgym/RepeatPreviousEasy",)


@pytest.mark.parametrize("argv, words", [
    (["preset=nope", "out_dir=x"], ["unknown preset 'nope'", "smoke", "quick", "popgym-hard", "meta"]),
    (["preset=smoke"], ["out_dir: missing"]),
    (["preset=smoke", "out_dir=x", "models=[s5,s6]"], ["unknown core 's6'", "valid cores"]),
    (["preset=smoke", "out_dir=x", "algos=[a2c]"], ["unknown algorithm 'a2c'", "ppo"]),
    (["preset=smoke", "out_dir=x", "match_params=many"], ["match_params: expected int or null"]),
    (["preset=smoke", "out_dir=x", "model=gru"], ["model=gru", "models=[...]"]),
    (["preset=smoke", "out_dir=x", "env.task=RepeatFirstEasy"], ["tasks=[...]"]),
    (["preset=smoke", "out_dir=x", "models=s5,gru"], ["a sweep", "models=[a,b]"]),
])
def test_setting_errors_are_one_line(argv, words):
    with pytest.raises(ConfigError) as err:
        load_settings(CONFIGS, argv, ALGOS)
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value), str(err.value)


def test_plan_composes_every_cell(tmp_path):
    s = settings(tmp_path, "tasks=[popgym/RepeatFirstEasy,meta/popgym/MultiarmedBanditEasy]", "model.d_model=24",
                 "lstm.model.n_layers=2", "meta_trials=3")
    cells = plan(s, CONFIGS, {"ppo": fake_algorithm()}, fake_env)
    assert [(c.task, c.model) for c in cells[:5]] == [("popgym/RepeatFirstEasy", m) for m in s.models]
    lstm, meta = cells[2], cells[5]
    assert lstm.run_dir == tmp_path / "runs" / "ppo" / "popgym" / "RepeatFirstEasy" / "lstm"
    assert lstm.cfg.env.env_id == "popgym/RepeatFirstEasy" and lstm.cfg.run_dir == str(lstm.run_dir)
    assert (lstm.cfg.model.n_layers, cells[0].cfg.model.n_layers, lstm.cfg.model.d_model) == (2, 1, 24)
    assert lstm.cfg.algo.total_timesteps == 1024 and lstm.cfg.num_seeds == 2  # from the preset's overrides
    assert meta.cfg.env.suite == "meta" and meta.cfg.env.task == "popgym/MultiarmedBanditEasy"
    assert meta.env_kwargs == {"num_trials": 3} and meta.eval_trials == 6 and lstm.eval_trials is None


def test_plan_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown environment 'popgym/Nope'"):
        plan(settings(tmp_path, "tasks=[popgym/Nope]"), CONFIGS, {"ppo": fake_algorithm()}, fake_env)
    with pytest.raises(ConfigError, match=r"unknown key algo.nokey; valid keys in algo: \[.*'num_envs'"):
        plan(settings(tmp_path, "algo.nokey=1"), CONFIGS, {"ppo": fake_algorithm()}, fake_env)
    with pytest.raises(ConfigError, match=r"unknown key nokey; valid keys: \[.*'seed'.*\]; grid settings: .*'models'"):
        plan(settings(tmp_path, "nokey=1"), CONFIGS, {"ppo": fake_algorithm()}, fake_env)
    with pytest.raises(ConfigError, match="not <suite>/<name>"):
        plan(settings(tmp_path, "tasks=[RepeatFirstEasy]"), CONFIGS, {"ppo": fake_algorithm()}, fake_env)


def test_match_params_sets_each_width(tmp_path):
    cells = plan(settings(tmp_path, "match_params=3000"), CONFIGS, {"ppo": fake_algorithm()}, fake_env)
    for cell in cells:
        assert cell.cfg.model.d_model == cell.match.d_model and abs(cell.match.rel_error) < 0.3, cell.match


def _grid(tmp_path, *argv, train=None, algorithm=None):
    s = settings(tmp_path, *argv)
    algos = {"ppo": algorithm or fake_algorithm()}
    cells = plan(s, CONFIGS, algos, fake_env)
    lines = []
    train = train or FakeTrain()
    table = run_grid(s, cells, algos, fake_env, train, lines.append)
    return cells, table, train, lines


def test_grid_runs_each_cell_once_and_resumes(tmp_path):
    cells, table, train, lines = _grid(tmp_path)
    assert train.calls == ["s5", "gru", "lstm", "transformer", "identity"]
    assert lines[0].startswith("plan: 5 cells") and "0 done, 5 to run" in lines[0]
    assert "baselines added" not in lines[0] and len(lines) == 1 + 5 + 1
    assert all(cell_status(c) == "done" for c in cells) and [r["status"] for r in table] == ["ok"] * 5
    # seed i logs 0.1 u + 0.01 i for u = 1..3 -> MMER over seeds (0.30 + 0.31) / 2 = 0.305 +- 0.005
    assert table[0]["mmer"] == pytest.approx(0.305) and table[0]["mmer_std"] == pytest.approx(0.005)
    assert table[0]["agent_params"] == 5 and table[0]["core_params"] > 0  # no count in the summary: from init
    for name in ("results.csv", "results.md", "summary.png", "curves_popgym_RepeatPreviousEasy.png"):
        assert (tmp_path / name).is_file(), name
    stamps = {c.model: (c.run_dir / "benchmark.json").stat().st_mtime_ns for c in cells}

    _, _, again, lines = _grid(tmp_path)  # everything done: nothing runs
    assert again.calls == [] and "5 done, 0 to run" in lines[0]

    (cells[1].run_dir / "summary.json").unlink()  # the second cell as if killed before its summary
    _, table, again, lines = _grid(tmp_path)
    assert again.calls == ["gru"] and "4 done, 1 to run (1 resuming)" in lines[0]
    assert {c.model: (c.run_dir / "benchmark.json").stat().st_mtime_ns for c in cells if c.model != "gru"} == {
        m: t for m, t in stamps.items() if m != "gru"}
    assert len(table) == 5 and all(r["status"] == "ok" for r in table)


def test_agent_params_come_from_the_run_summary(tmp_path):
    built = []
    _, table, _, _ = _grid(tmp_path, train=FakeTrain(agent_params=7), algorithm=fake_algorithm(built))
    assert [r["agent_params"] for r in table] == [7] * 5 and built == []  # make_train is not called again


def test_max_cells_stops_early_and_the_rest_follow(tmp_path):
    _, table, train, lines = _grid(tmp_path, "max_cells=2")
    assert train.calls == ["s5", "gru"] and "3 left for later" in lines[0]
    assert [r["status"] for r in table] == ["ok", "ok", "pending", "pending", "pending"]
    # max_cells=0 runs nothing and rewrites the report of what is there
    (tmp_path / "results.md").unlink()
    _, table, train, lines = _grid(tmp_path, "max_cells=0")
    assert train.calls == [] and "0 to run, 3 left for later" in lines[0] and (tmp_path / "results.md").exists()
    assert [r["status"] for r in table] == ["ok", "ok", "pending", "pending", "pending"]
    _, _, train, lines = _grid(tmp_path)
    assert train.calls == ["lstm", "transformer", "identity"] and "2 done, 3 to run" in lines[0]
    with pytest.raises(ConfigError, match="max_cells must be >= 0"):
        _grid(tmp_path, "max_cells=-1")


def test_a_changed_config_is_refused_before_anything_runs(tmp_path):
    _grid(tmp_path, "max_cells=1")
    with pytest.raises(ConfigError, match=r"algo.lr: 0.003 there, 0.001 here"):
        _grid(tmp_path, "algo.lr=0.001")
    # a cell never started may change freely; the finished one is untouched
    _, _, train, _ = _grid(tmp_path, "lstm.algo.lr=0.001")
    assert train.calls == ["gru", "lstm", "transformer", "identity"]


def test_a_setting_added_since_the_run_was_saved_counts_at_its_default(tmp_path):
    import yaml

    cells, *_ = _grid(tmp_path, "max_cells=1")
    saved = cells[0].run_dir / "config.yaml"
    config = yaml.safe_load(saved.read_text())
    del config["runner"]["eval_every"]  # as written before runner.eval_every existed (default 0)
    saved.write_text(yaml.safe_dump(config))
    _, _, train, _ = _grid(tmp_path, "max_cells=1")
    assert train.calls == ["gru"]  # s5 counts as done (the same run), the next cell runs
    with pytest.raises(ConfigError, match=r"runner.eval_every: <absent> there, 5 here"):
        _grid(tmp_path, "runner.eval_every=5")


def test_divergence_is_recorded_and_not_retried(tmp_path):
    _, table, train, lines = _grid(tmp_path, train=FakeTrain(diverge={"lstm"}))
    assert train.calls == ["s5", "gru", "lstm", "transformer", "identity"]
    assert table[2]["status"].startswith("diverged: diverged at update 2") and "[diverged" in lines[3]
    _, _, again, _ = _grid(tmp_path)
    assert again.calls == []


def test_main_exit_status_and_one_line(tmp_path):
    said = []
    argv = ["preset=smoke", f"out_dir={tmp_path}", "xla_flags="]  # JAX has started in this process
    assert main([*argv, "algo.nokey=1"], CONFIGS, {"ppo": fake_algorithm}, fake_env, FakeTrain(), said.append) == 2
    assert len(said) == 1 and said[0].startswith("config error:") and "algo.nokey" in said[0]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    said.clear()
    assert main(argv, CONFIGS, {"ppo": fake_algorithm}, fake_env, interrupted, said.append) == 130
    assert said[-1].startswith("interrupted") and "same command resumes" in said[-1]


@struct.dataclass
class _TrialsParams:
    num_trials: int = struct.field(pytree_node=False, default=4)


class Trials(Environment):
    """A meta-episode of ``num_trials`` trials of 2 steps; every step of trial i (0-based) pays i + 1, so trial i
    returns 2 (i + 1); ``info["trial"]`` as the meta-RL wrapper (envs/meta.py) reports it."""

    @property
    def default_params(self):
        return _TrialsParams()

    def reset(self, key, params):
        return jnp.zeros((1,), jnp.float32), jnp.zeros((), jnp.int32)

    def step(self, key, state, action, params):
        trial = state // 2
        done = state + 1 >= 2 * params.num_trials
        reward = (trial + 1).astype(jnp.float32)
        return jnp.zeros((1,), jnp.float32), state + 1, reward, jnp.zeros((), bool), done, {"trial": trial}

    def observation_space(self, params):
        return Box(low=0.0, high=1.0, shape=(1,))

    def action_space(self, params):
        return Discrete(2)


def test_trial_returns_per_trial_index():
    def make_train_with(policy):
        def make_train(cfg, env_, env_params):
            evaluate = make_evaluate_episodes(VecEnv(EpisodeStats(env_), cfg.runner.eval_envs), env_params, policy,
                                              lambda b: jnp.zeros((b,)), cfg.runner.eval_steps)
            return Train(init=lambda key: None, update=None, evaluate=lambda key, state: evaluate(key, state),
                         agent_params=lambda state: state)
        return make_train

    def random_policy(params_, carry, obs, is_first, key):
        return carry, jax.random.randint(key, (obs.shape[0],), 0, 2), {}

    cfg = RunConfig(algo=None, runner=RunnerConfig(eval_envs=3, eval_steps=16), num_seeds=2)
    out = trial_returns(make_train_with(random_policy), cfg, Trials(), _TrialsParams(), jnp.zeros((2,)), 4)
    np.testing.assert_allclose(out, [[2.0, 4.0, 6.0, 8.0]] * 2)  # trial i returns 2 (i + 1)


def test_an_out_dir_with_a_users_files_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "results.md").write_text("notes\n")  # a file of the same name as the grid's report
    with pytest.raises(ConfigError, match=r"holds files that no rl grid wrote \(results.md\)"):
        _grid(tmp_path, "max_cells=0")
    assert [p.name for p in tmp_path.iterdir()] == ["results.md"] and (tmp_path / "results.md").read_text() == "notes\n"


def test_an_out_dir_of_a_grid_from_before_the_marker_is_adopted(tmp_path):
    _grid(tmp_path, "max_cells=1")
    (tmp_path / ".ssmrl-grid").unlink()  # as an earlier version left it: its cell records are there
    _, _, train, _ = _grid(tmp_path, "max_cells=1")
    assert train.calls == ["gru"] and (tmp_path / ".ssmrl-grid").is_file()


def test_max_cells_0_into_an_empty_out_dir_names_only_what_it_wrote(tmp_path):
    _, _, train, lines = _grid(tmp_path, "max_cells=0")
    # no cell has metrics: results.md and results.csv are written, no curves and no summary.png
    assert train.calls == [] and lines[-1] == f"results: {tmp_path / 'results.md'} (and results.csv)"
