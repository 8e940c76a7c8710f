"""The world-model grid (``kind: world_model`` presets of scripts/benchmark.py, ``ssmrl.benchmark.wm_grid``):

* settings: a preset with command-line replacements and dotted keys, each model's core and world-model configs
  (variants, per-core options), one-line errors naming the valid values; the preset kind the script dispatches on;
* planning with a stand-in data factory (model-major cells, unknown task, windows longer than the episodes);
* resuming: a finished unit's file is "done", another setting is an error naming the key;
* the report's tables from hand-written rows, with the reference predictors' columns, the memory ratio to the mean
  frame and the best validation step;
* a cell with validation (a stand-in trainer and rollout): it stops on the plateau and is evaluated with the
  parameters of its best check, which its row, row.json and curves record;
* the references of finished cells computed from regenerated episodes without training anything (a stand-in data
  factory), written once, in the csv, the tables and the MSE plot; a cell whose strip shows other frames is named;
* a tiles cell (``obs_mode=tiles``) end to end through the grid with the wm_memory tasks: one tiny model trained
  2 steps, evaluated with tile accuracy and cross-entropy, its strips drawn, the tile references, the report;
* through the script: a bad model or task name exits 2 with one line; the smoke preset end to end, stopped after
  three units and resumed without redoing them (slow: the smoke grid compiles 4 world models).
"""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.benchmark.wm_grid import Built, TaskData, WMUnits, cell_describe, plan, run_cell, run_wm_grid, unit_status
from ssmrl.benchmark.wm_report import markdown, memory_ratio_columns
from ssmrl.benchmark.wm_settings import WORLD_MODEL, load_wm_settings, model_specs, preset_kind
from ssmrl.config import ConfigError
from ssmrl.env import Box, Discrete
from ssmrl.world_model.batch import sample_batch
from ssmrl.world_model.offline import METRIC_KEYS, VAL_KEYS, Offline, OfflineState
from ssmrl.world_model.openloop import Imagined

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
SMOKE = "wm-backbones-smoke"
MODELS = ["s4", "s5", "gru", "transformer"]


def settings(tmp_path, *argv):
    return load_wm_settings(CONFIGS, [f"preset={SMOKE}", f"out_dir={tmp_path}", *argv])


def fake_data(task, **kwargs):
    """Stands in for the script's factory: two known tasks of 32 and 20 steps, ValueError otherwise."""
    lengths = {"RevisitEasy": 32, "CueRewardEasy": 20}
    if task not in lengths:
        raise ValueError(f"unknown wm_memory task {task!r}; valid names: {', '.join(lengths)}")
    return TaskData(Box(0, 255, (32, 32, 3), jnp.uint8), Discrete(5), kwargs.get("length", lengths[task]), None)


def test_settings_models_and_dotted_overrides(tmp_path):
    s = settings(tmp_path, "models=[s5,rssm,transformer]", "offline.batch_size=8", "model.d_model=24",
                 "transformer.model.window=8", "task_kwargs.RevisitEasy.length=48", "train_steps=7")
    assert s.models == ("s5", "rssm", "transformer") and s.train_steps == 7 and s.offline["batch_size"] == 8
    assert s.offline["latent_groups"] == 4  # the preset's other offline keys stay
    assert s.task_kwargs["RevisitEasy"] == {"length": 48, "rooms": 1, "waypoints_per_room": 2}
    specs = model_specs(s, CONFIGS)
    # rssm: the variant's core (GRU) with the recurrent posterior; every model gets model.d_model=24
    assert (specs["rssm"].core.name, specs["rssm"].offline.posterior) == ("gru", "recurrent")
    assert specs["s5"].offline.posterior == "s4wm" and specs["s5"].offline.batch_size == 8
    assert {spec.core.d_model for spec in specs.values()} == {24}
    # the transformer: configs/model/transformer.yaml, then the preset's n_heads=2, then window=8 from the command line
    assert specs["transformer"].core.options["window"] == 8 and specs["transformer"].core.options["n_heads"] == 2
    assert specs["s5"].core.options["state_size"] == 32  # configs/model/s5.yaml
    # the older spelling of a core option on the command line is an alias of <model>.model.<key>
    alias = settings(tmp_path, "models=[transformer]", "model_overrides.transformer.window=8")
    assert model_specs(alias, CONFIGS)["transformer"].core.options["window"] == 8
    assert settings(tmp_path, "s5.model.state_size=16").model_overrides["s5"] == {"state_size": 16}


@pytest.mark.parametrize("args, words", [
    (["models=[s5,nope]"], ["models: unknown model 'nope'", "valid: cores", "'s5'", "variants ['rssm']"]),
    (["offline.nokey=1"], ["unknown key offline.nokey; valid keys in offline:", "batch_size"]),
    (["offline.batch_size=big"], ["offline.batch_size: expected int, got 'big'"]),
    (["nokey=1"], ["unknown setting 'nokey'", "train_steps"]),
    (["train_steps=0"], ["train_steps must be >= 1, got 0"]),
    (["model.state_size=4"], ["model: ['state_size'] are not shared core keys", "model_overrides.<core>"]),
    (["variants.gru={core:s5}"], ["variants.gru: a variant may not take a core's name"]),
    (["model_overrides.s5.nooption=1"], ["models: s5 (core s5):"]),
    (["s5.model.nooption=1"], ["models: s5 (core s5):"]),
    (["model_overrides.s5=[window]"], ["model_overrides.s5: 'window': expected model.<key>=<value>"]),
    (["s5.algo.lr=1"], ["unknown setting 's5.algo.lr'", "<model>.model.<key>"]),
    (["obs_mode=rgb"], ["obs_mode: unknown 'rgb'; valid: ['pixels', 'tiles']"]),
    (["imagine_latents=argmax"], ["imagine_latents: unknown 'argmax'; valid: ['sample', 'mode']"]),
    (["val_episodes=8"], ["val_episodes must be in 0..7", "train_episodes=8"]),  # the smoke preset's 8 episodes
    (["patience=-1"], ["patience must be >= 0 (0: never stop early), got -1"]),
    (["val_episodes=0", "patience=2"], ["patience=2 needs validation episodes; set val_episodes >= 1"]),
    (["val_every=0"], ["val_every must be >= 1, got 0"]),
])
def test_settings_errors_are_one_line_with_the_valid_values(tmp_path, args, words):
    with pytest.raises(ConfigError) as err:
        settings(tmp_path, *args)
    text = str(err.value)
    assert "\n" not in text
    for word in words:
        assert word in text, text


def test_preset_kind():
    assert preset_kind(CONFIGS, [f"preset={SMOKE}", "out_dir=x"]) == WORLD_MODEL
    assert preset_kind(CONFIGS, ["preset=smoke"]) == "rl"  # the RL grid's presets have no kind
    assert preset_kind(CONFIGS, ["preset=nope"]) == "rl"  # the RL grid reports the unknown preset
    assert preset_kind(CONFIGS, []) == "rl"
    with pytest.raises(ConfigError, match=r"unknown world-model preset 'nope'; valid: \[.*'wm-backbones-smoke'") as err:
        load_wm_settings(CONFIGS, ["preset=nope", "out_dir=x"])
    assert "'smoke'" not in str(err.value)  # the RL presets are not listed


def test_plan_is_model_major_and_checks_the_tasks(tmp_path):
    s = settings(tmp_path, "models=[s5,gru]", "tasks=[RevisitEasy,CueRewardEasy]")
    cells, speeds, data = plan(s, CONFIGS, fake_data)
    assert [(c.model, c.task) for c in cells] == [("s5", "RevisitEasy"), ("s5", "CueRewardEasy"),
                                                  ("gru", "RevisitEasy"), ("gru", "CueRewardEasy")]
    assert cells[1].dir == tmp_path / "wm" / "CueRewardEasy" / "s5"
    assert [(u.model, u.task, u.dir.name) for u in speeds] == [("s5", "RevisitEasy", "s5"),
                                                               ("gru", "RevisitEasy", "gru")]
    assert data["RevisitEasy"].length == 32
    with pytest.raises(ConfigError, match=r"^tasks: unknown wm_memory task 'Nope'; valid names: RevisitEasy"):
        plan(settings(tmp_path, "tasks=[RevisitEasy,Nope]"), CONFIGS, fake_data)
    # windows of 24 steps do not fit CueRewardEasy's 20
    with pytest.raises(ConfigError, match=r"offline.seq_len=24 \(s4\) is longer than CueRewardEasy's episodes of T=20"):
        plan(settings(tmp_path, "tasks=[RevisitEasy,CueRewardEasy]", "offline.seq_len=24"), CONFIGS, fake_data)
    assert plan(settings(tmp_path, "speed_lengths=[]"), CONFIGS, fake_data)[1] == []


def test_unit_status_done_absent_and_other_settings(tmp_path):
    path = tmp_path / "row.json"
    spec = {"task": "RevisitEasy", "offline": {"batch_size": 4, "hidden": 16}}
    assert unit_status(path, spec) == "absent"  # nothing there
    path.write_text(json.dumps({"spec": spec, "status": "running"}))
    assert unit_status(path, spec) == "absent"  # never finished: runs again
    path.write_text(json.dumps({"spec": spec, "status": "ok", "row": {}}))
    assert unit_status(path, spec) == "done"
    other = {"task": "RevisitEasy", "offline": {"batch_size": 8, "hidden": 16}}
    with pytest.raises(ConfigError, match=r"holds a result of other settings \(offline.batch_size: 4 there, 8 here\)"):
        unit_status(path, other)


def test_markdown_tables_are_tasks_by_models():
    rows = [
        {"task": "RevisitEasy", "model": "s5", "mse": 0.01234, "marker": "revisited", "marked_mse": 0.02,
         "train_steps_per_s": 12345.0, "wm_params": 23275},
        {"task": "CueRewardEasy", "model": "s5", "mse": 0.5, "marker": "", "marked_mse": float("nan"),
         "reward_accuracy": 0.75},
        {"task": "CueRewardEasy", "model": "gru", "mse": 0.25, "marker": "", "reward_accuracy": 0.5,
         "wm_params": 22000},
    ]
    speeds = [{"model": "s5", "points": [{"T": 16, "B": 4, "train_steps_per_s": 400.0, "imagine_steps_per_s": 2e4,
                                          "train_planned_mb": 11.4}, {"T": 64, "B": 4, "error": "OOM"}]}]
    text = markdown(rows, speeds, ["s5", "gru"], ["RevisitEasy", "CueRewardEasy"], "t")
    tables = [block.splitlines() for block in text.split("## ")[1:]]
    by_title = {lines[0].split(" (")[0].split(":")[0]: [row for row in lines if row.startswith("| ")]
                for lines in tables}
    header = "| task | s5 (23.3k) | gru (22.0k) |"  # world-model parameters in the headers (count_text)
    mse = by_title["MSE of the imagined frames"]
    assert mse == [header, "| RevisitEasy | 0.0123 | - |", "| CueRewardEasy | 0.5000 | 0.2500 |"]
    # marked frames: only Revisit has them; reward: only CueReward; gru never ran RevisitEasy: "-"
    assert by_title["MSE on the marked frames"][1:] == ["| RevisitEasy (revisited) | 0.0200 | - |"]
    assert by_title["Reward prediction over the imagined steps"][1:] == ["| CueRewardEasy | 0.750 | 0.500 |"]
    assert by_title["Training"][1:] == ["| RevisitEasy | 12.3k | - |"]  # CueRewardEasy has no speed: row left out
    assert by_title["Throughput vs T"] == ["| model | T=16 | T=64 |", "| s5 | 400 / 20.0k, 11 MB | error |"]


def test_markdown_reference_columns_in_the_mse_tables_only():
    rows = [{"task": "RevisitEasy", "model": "s5", "mse": 0.05, "marker": "revisited", "marked_mse": 0.06,
             "train_steps_per_s": 100.0},
            {"task": "CueRewardEasy", "model": "s5", "mse": 0.02, "marker": "", "reward_accuracy": 0.5}]
    references = {"RevisitEasy": {"marker": "revisited", "summary": {
        "mean_frame": {"mse": 0.07, "mse_revisited": 0.08}, "last_frame": {"mse": 0.03, "mse_revisited": 0.04}}}}
    text = markdown(rows, [], ["s5"], ["RevisitEasy", "CueRewardEasy"], "t", references=references)
    tables = {block.splitlines()[0].split(" (")[0].split(":")[0]: [r for r in block.splitlines() if r.startswith("| ")]
              for block in text.split("## ")[1:]}
    assert tables["MSE of the imagined frames"] == ["| task | s5 | mean frame | last frame |",
                                                   "| RevisitEasy | 0.0500 | 0.0700 | 0.0300 |",
                                                   "| CueRewardEasy | 0.0200 | - | - |"]  # no references there
    assert tables["MSE on the marked frames"][1:] == ["| RevisitEasy (revisited) | 0.0600 | 0.0800 | 0.0400 |"]
    assert tables["Reward prediction over the imagined steps"][0] == "| task | s5 |"
    assert tables["Training"][0] == "| task | s5 |"


def test_markdown_memory_ratio_and_best_step():
    references = {"RevisitEasy": {"marker": "revisited", "summary": {"mean_frame": {"mse": 0.05,
                                                                                    "mse_revisited": 0.08}}}}
    rows = [{"task": "RevisitEasy", "model": "s5", "mse": 0.05, "marker": "revisited", "marked_mse": 0.02,
             "best_step": 120, "train_steps": 160, "stop_reason": "plateau"},
            {"task": "RevisitEasy", "model": "gru", "mse": 0.05, "marker": "revisited", "marked_mse": 0.06,
             "best_step": 250, "train_steps": 250, "stop_reason": "budget"},
            {"task": "CueRewardEasy", "model": "s5", "mse": 0.02, "marker": "", "reward_accuracy": 0.5}]
    # s5: 0.02 / 0.08 = 0.25 (at most 0.5: remembers, starred); gru: 0.06 / 0.08 = 0.75
    columns = [memory_ratio_columns(r, references.get(r["task"], {})) for r in rows]
    assert columns[0] == {"marked_ratio": pytest.approx(0.25), "ratio_revisited": pytest.approx(0.25),
                          "ratio_recalled": pytest.approx(float("nan"), nan_ok=True),
                          "ratio_changed": pytest.approx(float("nan"), nan_ok=True)}
    assert columns[2] == {}  # CueReward: no memory frames
    text = markdown([{**r, **c} for r, c in zip(rows, columns, strict=True)], [], ["s5", "gru"],
                    ["RevisitEasy", "CueRewardEasy"], "t", references=references)
    tables = {block.splitlines()[0].split(" (")[0].split(":")[0]: [r for r in block.splitlines() if r.startswith("| ")]
              for block in text.split("## ")[1:]}
    assert tables["Memory"] == ["| task | s5 | gru |", "| RevisitEasy (revisited) | 0.25* | 0.75 |"]
    assert tables["Training"] == ["| task | s5 | gru |", "| RevisitEasy | 120 of 160 (plateau) | 250 of 250 (budget) |"]


def test_memory_ratio_of_tiles_is_on_the_tile_error_rate():
    # mean frame: tile accuracy 0.3 on the revisited frames (error rate 0.7), Brier MSE 0.012 there
    record = {"summary": {"mean_frame": {"mse_revisited": 0.012, "tile_acc_revisited": 0.3}}}
    row = {"marker": "revisited", "marked_mse": 0.0108, "marked_tile_acc": 0.65}
    # error rate 0.35 / 0.7 = 0.5 (remembers), although the Brier ratio 0.0108 / 0.012 = 0.9 would not say so
    assert memory_ratio_columns(row, record)["marked_ratio"] == pytest.approx(0.5)
    frames = {"marker": "revisited", "marked_mse": 0.0108}  # no tile accuracy: frames, the MSE ratio
    assert memory_ratio_columns(frames, record)["ratio_revisited"] == pytest.approx(0.9)


def revisit_data(task, **kwargs):
    """A stand-in factory: 8-step episodes of random frames made from the key, revisit_step 4 or 5 (context 6)."""
    def generate(key, num):
        obs = np.asarray(jax.random.randint(key, (8, num, 32, 32, 3), 0, 256)).astype(np.uint8)
        first = np.repeat((np.arange(8) == 0)[:, None], num, 1)
        return SimpleNamespace(obs=obs, action=np.zeros((8, num), np.int32), reward=np.zeros((8, num), np.float32),
                               is_first=first, terminated=np.zeros((8, num), bool),
                               truncated=np.repeat((np.arange(8) == 7)[:, None], num, 1),
                               markers={"revisit_step": 4 + np.arange(num) % 2})
    return TaskData(Box(0, 255, (32, 32, 3), jnp.uint8), Discrete(5), 8, generate)


def test_references_of_finished_cells_without_training(tmp_path):
    s = settings(tmp_path, "models=[s5,gru]", "tasks=[RevisitEasy]", "offline.seq_len=0", "train_episodes=6",
                 "eval_episodes=3")
    cells, _, data = plan(s, CONFIGS, revisit_data)
    # the held-out episodes the grid regenerates: task key's fold_in 1 (wm_grid's docstring)
    from ssmrl.benchmark.wm_grid import task_key

    test = data["RevisitEasy"].generate(jax.random.fold_in(task_key(0, "RevisitEasy"), 1), 3)
    for cell, offset in zip(cells, (0, 1), strict=True):  # s5's strip: the true frames; gru's: others
        cell.dir.mkdir(parents=True)
        (cell.dir / "row.json").write_text(json.dumps({"spec": cell_describe(s, cell.task, cell.spec), "status": "ok",
                                                       "row": {"context": 6, "mse": 0.1, "marker": "revisited",
                                                               "marked_mse": 0.1, "wm_params": 1000}}))
        np.savez(cell.dir / "curves.npz", mse=np.array([0.1, 0.1]), marked_revisited=np.array([0.1, 0.1]))
        np.savez(cell.dir / "strip.npz", steps=np.array([6, 7]), truth=test.obs[6:, 0] + np.uint8(offset),
                 pred=test.obs[6:, 0])
    said = []
    run_wm_grid(s, cells, [], data, say=said.append)
    assert said[0].startswith("plan: 2 cells (2 models x 1 tasks): 2 done, 0 to run"), said
    assert said[1].startswith("references RevisitEasy (C=6, K=2): mean frame mse ") and len(said) == 3, said
    assert said[1].endswith("[held-out frames or context differ from the cells of gru: regenerated episodes are "
                            "not theirs]"), said[1]
    record = json.loads((tmp_path / "wm" / "RevisitEasy" / "references.json").read_text())
    # last frame: every imagined frame is frame 5 of its episode; uniform random bytes: E (a - b)^2 / 255^2 ~ 1/6
    frames = test.obs.astype(np.float32) / 255
    last = np.mean((frames[6:] - frames[5]) ** 2)
    assert record["summary"]["last_frame"]["mse"] == pytest.approx(last, rel=1e-5)
    assert record["summary"]["mean_frame"]["mse"] == pytest.approx(1 / 12, rel=0.1)  # the mean ~ 0.5: variance
    with open(tmp_path / "wm_results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["ref_last_frame_mse"]) for r in rows] == [pytest.approx(last, rel=1e-5)] * 2
    assert float(rows[0]["ref_mean_frame_marked_mse"]) == pytest.approx(
        record["summary"]["mean_frame"]["mse_revisited"])
    table = (tmp_path / "wm_results.md").read_text()
    assert "| task | s5 (1000) | gru (1000) | mean frame | last frame |" in table
    assert (tmp_path / "wm_mse_RevisitEasy.png").stat().st_size > 0
    stamp = (tmp_path / "wm" / "RevisitEasy" / "references.json").stat().st_mtime_ns
    again = []
    run_wm_grid(s, cells, [], data, say=again.append)  # done: nothing computed again
    assert len(again) == 2 and (tmp_path / "wm" / "RevisitEasy" / "references.json").stat().st_mtime_ns == stamp


def wm_memory_data(task, obs_mode="pixels", **kwargs):
    """The script's factory (scripts/benchmark.py's wm_data): the envs.wm_memory task in ``obs_mode``."""
    from envs.wm_memory import generate_dataset, make_task
    from envs.wm_memory.grid import draw_classes

    env, params = make_task(task, obs_mode=obs_mode, **kwargs)
    generate = lambda key, num: generate_dataset(key, task, num, obs_mode=obs_mode, **kwargs)
    return TaskData(env.observation_space(params), env.action_space(params), params.length, generate,
                    draw_classes if obs_mode == "tiles" else None)


def test_tiles_cell_end_to_end(tmp_path):
    from envs.wm_memory.grid import NUM_TILE_CLASSES, draw_classes

    s = settings(tmp_path, "models=[gru]", "obs_mode=tiles", "train_steps=2", "sync_every=2", "train_episodes=4",
                 "eval_episodes=2", "speed_lengths=[]")
    with pytest.raises(ConfigError, match=r"task_kwargs.RevisitEasy.obs_mode: the observation is the grid's"):
        plan(settings(tmp_path, "task_kwargs.RevisitEasy.obs_mode=tiles"), CONFIGS, wm_memory_data)
    cells, speeds, data = plan(s, CONFIGS, wm_memory_data)
    assert data["RevisitEasy"].obs_space == Discrete(NUM_TILE_CLASSES, (7, 7)) and not speeds
    said = []
    with jax.threefry_partitionable(False):
        rows = run_wm_grid(s, cells, speeds, data, say=said.append,
                           jit_options={"compiler_options": {"xla_backend_optimization_level": 0}})
    # the preset's RevisitEasy (length 32): revisit_step 16, context 17, K = 15 imagined revisits
    assert said[1].startswith("[1/1] RevisitEasy gru: mse ") and " tile accuracy " in said[1], said
    assert said[2].startswith("references RevisitEasy (C=17, K=15): mean frame mse ") and "tile accuracy" in said[2]
    (row,) = rows
    assert (row["context"], row["horizon"], row["marker"]) == (17, 15, "revisited") and row["loss_finite"]
    assert 0 <= row["tile_acc"] <= 1 and row["marked_tile_acc"] == pytest.approx(row["tile_acc"])
    # untrained: about the uniform guess's ln 72 = 4.3 nats per cell; the training loss sums 49 cells
    assert 2 < row["xent"] < 8 and 49 * 2 < row["train_recon_loss"] < 49 * 8
    curves = np.load(Path(row["cell_dir"]) / "curves.npz")
    assert curves["tile_acc"].shape == curves["tile_acc_revisited"].shape == curves["xent"].shape == (15,)
    assert curves["tile_acc"].mean() == pytest.approx(row["tile_acc"], rel=1e-5)
    strip = np.load(Path(row["cell_dir"]) / "strip.npz")
    assert strip["truth_obs"].shape == (6, 7, 7) and strip["pred"].shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(strip["truth"], draw_classes(strip["truth_obs"]))
    record = json.loads((tmp_path / "wm" / "RevisitEasy" / "references.json").read_text())
    assert record["spec"]["obs_mode"] == "tiles" and 0 < record["summary"]["last_frame"]["tile_acc"] <= 1
    table = (tmp_path / "wm_results.md").read_text()
    assert "## Tile accuracy on the marked frames" in table and "obs_mode tiles:" in table
    assert (tmp_path / "wm_strip_RevisitEasy.png").stat().st_size > 0
    # memory reach: RevisitEasy's 15 revisits have gaps 2, 4, .. 30 (references.npz: per frame), the figures
    references = np.load(tmp_path / "wm" / "RevisitEasy" / "references.npz")
    np.testing.assert_array_equal(references["frame_gap"][:, 0], np.arange(2, 31, 2))
    assert references["mean_frame_frame_tile_acc"].shape == curves["frame_tile_acc"].shape == (15, 2)
    assert row["gap_max"] == 30 and (math.isinf(row["crossing_gap"]) or 2 <= row["crossing_gap"] <= 30)
    assert "## Memory reach" in table
    assert (tmp_path / "wm_gap_RevisitEasy.png").stat().st_size > 0 and (tmp_path / "wm_summary.png").exists()
    # the trained core's memory diagnostics on 2 held-out episodes of 32 steps (a GRU: no LTI spectrum)
    assert "memory_error" not in row, row.get("memory_error")
    assert 0 <= row["memory_horizon"] <= 31 and 1 <= row["state_use"] <= row["memory_state_dim"]
    assert (Path(row["cell_dir"]) / "memory.png").stat().st_size > 0


def counting_built() -> Built:
    """A stand-in world model: its parameters are one number p, 0 at the start, and each training step adds 1;
    the validation loss is (p - 3)^2 (lowest after step 3); the rollout imagines every pixel as p / 10."""
    def train_step(state, batch):
        params = state.params + 1.0
        return OfflineState(params, state.opt_state, state.key, state.step + 1), {k: params for k in METRIC_KEYS}

    def val_loss(params, batch, key):
        return {k: jnp.square(params - 3.0) + 0.0 * batch.reward.mean() for k in VAL_KEYS}

    def rollout(params, key, obs, action, is_first):
        shape = (action.shape[0] - obs.shape[0], obs.shape[1])
        return Imagined(jnp.full(shape + obs.shape[2:], params / 10.0, jnp.float32), jnp.zeros(shape, jnp.float32))

    init = lambda key: OfflineState(jnp.zeros((), jnp.float32), (), key, jnp.zeros((), jnp.int32))
    sample = jax.jit(lambda key, episodes: sample_batch(key, episodes, 4, 0))
    world_model = SimpleNamespace(image_scale=255.0, obs_spec=("box", (32, 32, 3), ()))  # frames, as evaluate reads
    offline = Offline(world_model, None, init, jax.jit(train_step), sample, jax.jit(val_loss))
    return Built(offline, rollout, 1)


def test_cell_is_evaluated_with_its_best_validation_check(tmp_path):
    s = settings(tmp_path, "models=[gru]", "tasks=[RevisitEasy]", "offline.seq_len=0", "train_episodes=6",
                 "eval_episodes=3", "train_steps=20", "val_episodes=2", "val_every=1", "patience=3")
    cells, _, data = plan(s, CONFIGS, revisit_data)
    train, test = WMUnits(s, data).episodes("RevisitEasy")
    record = run_cell(cells[0], counting_built(), train, test, s)
    row = record["row"]
    # checks after steps 1 .. 6: losses 4, 1, 0, 1, 4, 9; the third check without a lower loss than step 3's is
    # step 6's: training stops there (of 20 steps), and the evaluation takes p = 3 (frames 0.3), not p = 6
    assert record["validation"]["step"] == [1, 2, 3, 4, 5, 6] and record["validation"]["loss"] == [4, 1, 0, 1, 4, 9]
    assert (row["best_step"], row["stop_reason"], row["train_steps"], row["train_budget"]) == (3, "plateau", 6, 20)
    assert (row["best_val_loss"], row["val_checks"]) == (0.0, 6)
    truth = test.obs[6:].astype(np.float64) / 255  # context 6 (revisit_step 5 + 1): frames 6, 7
    assert row["mse"] == pytest.approx(np.mean((0.3 - truth) ** 2), rel=1e-5)
    assert row["mse"] != pytest.approx(np.mean((0.6 - truth) ** 2), rel=1e-3)
    curves = np.load(cells[0].dir / "curves.npz")
    assert list(curves["val_step"]) == [1, 2, 3, 4, 5, 6] and len(curves["train_loss"]) == 6
    assert json.loads((cells[0].dir / "row.json").read_text())["row"]["best_step"] == 3
    assert cell_describe(s, "RevisitEasy", cells[0].spec)["patience"] == 3  # a resumed cell must match these
    plain = settings(tmp_path, "val_episodes=0", "patience=0")  # no validation: the settings of older results
    assert "val_episodes" not in cell_describe(plain, "RevisitEasy", cells[0].spec)


def _run(*args, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, words", [
    (["models=[s5,nope]"], ["config error: models: unknown model 'nope'", "'transformer'", "rssm"]),
    (["tasks=[RevisitEasy,Nope]"], ["config error: tasks: unknown wm_memory task 'Nope'", "TeleportHard"]),
])
def test_script_bad_names_exit_2_with_one_line(tmp_path, args, words):
    proc = _run(f"preset={SMOKE}", f"out_dir={tmp_path / 'out'}", *args)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2, out
    assert len(proc.stdout.strip().splitlines()) == 1 and "Traceback" not in out, out
    for word in words:
        assert word in proc.stdout, out
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.slow
def test_smoke_preset_end_to_end_and_resume(tmp_path):
    out = tmp_path / "wm-smoke"
    first = _run(f"preset={SMOKE}", f"out_dir={out}", "max_cells=3")  # as if killed after the third unit
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0].startswith("plan: 4 cells (4 models x 1 tasks) + 4 speed sweeps (T=16): 0 done, 3 to run, "
                               "5 left for later"), lines[0]
    # model-major: S4's cell, S4's sweep, then S5's cell
    assert [line.split(":")[0] for line in lines[1:4]] == ["[1/3] RevisitEasy s4", "[2/3] speed s4 (B 4)",
                                                           "[3/3] RevisitEasy s5"], lines
    cell = lambda m: out / "wm" / "RevisitEasy" / m
    finished = [cell("s4") / "row.json", out / "wm" / "speed" / "s4" / "speed.json", cell("s5") / "row.json"]
    stamps = [p.stat().st_mtime_ns for p in finished]

    again = _run(f"preset={SMOKE}", f"out_dir={out}")
    assert again.returncode == 0, again.stdout + again.stderr
    lines = again.stdout.strip().splitlines()
    assert "3 done, 5 to run" in lines[0] and len(lines) == 1 + 5 + 1, lines
    assert [p.stat().st_mtime_ns for p in finished] == stamps  # the finished units were not touched

    for name in ("wm_results.csv", "wm_results.md", "wm_speed.csv", "wm_speed.png", "wm_mse_RevisitEasy.png",
                 "wm_strip_RevisitEasy.png"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "wm_results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["task"], r["model"]) for r in rows] == [("RevisitEasy", m) for m in MODELS]  # tasks x models
    for r in rows:
        # RevisitEasy at length 32: 16 steps of exploration (length // 2), revisit_step 16, so the context is
        # 17 steps and K = 32 - 17 = 15 imagined revisits; every imagined frame is marked.
        assert (r["context"], r["horizon"], r["marker"], r["train_steps"]) == ("17", "15", "revisited", "4")
        # validation checks after steps 2 and 4 (patience 1 can stop only at the last); the best one is evaluated
        assert r["val_checks"] == "2" and r["best_step"] in ("2", "4") and r["stop_reason"] in ("budget", "plateau")
        assert float(r["ratio_revisited"]) > 0 and r["ratio_recalled"] == ""
        assert float(r["marked_mse"]) == pytest.approx(float(r["mse"])) and 0 < float(r["mse"]) < 1
        assert r["loss_finite"] == "True" and int(r["wm_params"]) > int(r["core_params"]) > 0
        # windows of 16 steps x batch 4, 4 steps: 256 replayed steps over the timed run
        assert float(r["train_steps_per_s"]) == pytest.approx(4 * 16 * 4 / float(r["train_run_s"]), rel=1e-6)
        assert float(r["imagine_steps_per_s"]) > 0 and float(r["train_planned_mb"]) > 0
        curves = np.load(Path(r["cell_dir"]) / "curves.npz")
        assert curves["mse"].shape == curves["marked_revisited"].shape == (15,)
        assert curves["mse"].mean() == pytest.approx(float(r["mse"]), rel=1e-5)
        strip = np.load(Path(r["cell_dir"]) / "strip.npz")
        assert strip["truth"].shape == strip["pred"].shape == (6, 32, 32, 3) and strip["truth"].dtype == np.uint8
        assert list(strip["steps"]) == [17, 20, 23, 25, 28, 31]  # 17 + round(linspace(0, 14, 6))
    table = [line for line in (out / "wm_results.md").read_text().splitlines() if line.startswith("| ")]
    assert table[0].startswith("| task | s4 (") and all(f"| {m} (" in table[0] for m in MODELS[1:]), table[0]
    assert table[0].endswith(" | mean frame | last frame |"), table[0]  # the references' columns
    assert table[1].startswith("| RevisitEasy | ") and table[1].count("|") == 4 + len(MODELS), table[1]
    assert float(rows[0]["ref_mean_frame_mse"]) > 0 and float(rows[0]["ref_last_frame_marked_mse"]) > 0
    with open(out / "wm_speed.csv", newline="") as f:
        speed = list(csv.DictReader(f))
    assert [(r["model"], r["T"]) for r in speed] == [(m, "16") for m in MODELS]
    assert all(float(r["train_steps_per_s"]) > 0 and float(r["imagine_steps_per_s"]) > 0 for r in speed)


@pytest.mark.slow
@pytest.mark.parametrize("preset, tiny", [
    # the GPU preset at toy sizes: one model, one task cut to 32 steps, 2 training steps, its pixel frames
    ("wm-backbones-full", ["offline.latent_groups=2", "offline.latent_classes=2", "offline.hidden=8",
                           "offline.cnn_depth=2", "model.d_model=8", "offline.batch_size=2"]),
    # the CPU preset: tiles, each core stack matched to its match_params (here 500 parameters)
    ("wm-backbones-cpu", ["match_params=500", "offline.latent_groups=2", "offline.latent_classes=2",
                          "offline.hidden=8", "offline.batch_size=2"]),
])
def test_the_full_presets_run_end_to_end_at_tiny_sizes(tmp_path, preset, tiny):
    from ssmrl.benchmark.sizing import stack_param_count

    s = load_wm_settings(CONFIGS, [f"preset={preset}", f"out_dir={tmp_path}", "models=[s5]", "tasks=[RevisitEasy]",
                                   "task_kwargs.RevisitEasy.length=32", "task_kwargs.RevisitEasy.rooms=1",
                                   "task_kwargs.RevisitEasy.waypoints_per_room=2", "train_episodes=4",
                                   "eval_episodes=2", "val_episodes=1", "train_steps=2", "val_every=1", "sync_every=2",
                                   "speed_lengths=[]", "data_cache_mb=64", *tiny])
    cells, speeds, data = plan(s, CONFIGS, wm_memory_data)
    if s.match_params:
        assert abs(stack_param_count(cells[0].spec.core) - 500) < 250  # about 500 at the width nearest to it
    with jax.threefry_partitionable(False):
        (row,) = run_wm_grid(s, cells, speeds, data, say=lambda line: None,
                             jit_options={"compiler_options": {"xla_backend_optimization_level": 0}})
    assert row["loss_finite"] and row["best_step"] in (1, 2) and row["val_checks"] == 2
    assert ("tile_acc" in row) == (s.obs_mode == "tiles")
    assert (tmp_path / "wm_results.md").exists()
