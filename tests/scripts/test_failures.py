"""Runs never lose data and never end in a traceback. Each case a new user hit, reproduced through the scripts (as
subprocesses where the exit status and the printed line matter): a one-line message naming the bad value or path,
exit status 2 (130 for Ctrl-C and 143 for SIGTERM, with the command that resumes; 0 for a correct resume), no
traceback, and files that existed before the command byte-identical after it."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

pytestmark = pytest.mark.slow  # end-to-end: each test runs a script in a process of its own

ROOT = Path(__file__).resolve().parents[2]
DEBUG = ["experiment=debug", "logger.progress=false", "logger.plot=false"]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}  # unbuffered: the Ctrl-C test reacts to a printed line


def _script(name, *args, cwd, timeout=600, preexec_fn=None):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn)


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but run locks (an empty ``.lock`` a run creates to hold its directory)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def _assert_one_line_error(proc, *words, status=2):
    out = proc.stdout + proc.stderr
    assert proc.returncode == status, out
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if "error" in line.lower()]
    assert len(lines) == 1, out  # one line, not wrapped at 80 columns although COLUMNS=80
    for word in words:
        assert word in lines[0], out
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One complete debug run (8 updates, checkpoints at 4 and 8), copied by the tests that damage it."""
    root = tmp_path_factory.mktemp("finished")
    proc = _script("ppo.py", *DEBUG, "runner.max_checkpoints=3", "run_dir=run", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


# --- run directories -------------------------------------------------------------------------------------------

def test_non_empty_directory_is_refused_and_untouched(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "metrics.csv").write_text("data\n")
    before = _snapshot(tmp_path)
    _assert_one_line_error(_script("ppo.py", *DEBUG, "run_dir=d", cwd=tmp_path), "run_dir d", "not empty")
    assert _snapshot(tmp_path) == before


def test_empty_run_dir_is_refused_and_writes_nothing(tmp_path):
    _assert_one_line_error(_script("ppo.py", *DEBUG, "run_dir=", cwd=tmp_path), "run_dir", "empty")
    assert list(tmp_path.iterdir()) == []


def test_second_writer_is_refused(tmp_path):
    run_dir = tmp_path / "busy"
    run_dir.mkdir()
    with open(run_dir / ".lock", "w") as lock:  # another process holding the run directory
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _assert_one_line_error(_script("ppo.py", *DEBUG, f"run_dir={run_dir}", cwd=tmp_path), "in use")
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]


def test_mistyped_resume_does_not_start_a_run(tmp_path):
    _assert_one_line_error(_script("ppo.py", "resume=outputs/typo", cwd=tmp_path), "resume=outputs/typo",
                           "does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("overrides, words", [
    (["+algo.lrr=1"], ["algo.lrr", "valid keys"]),
    (["model=null"], ["model=null", "s5", "gru"]),
    (["model=s6"], ["model/s6", "s5"]),
    (["algo.vf_coef=-5"], ["algo.vf_coef", "-5"]),
    (["algo.max_grad_norm=-1"], ["algo.max_grad_norm", "-1"]),
    (["run_dir=f/run"], ["run_dir f/run", "its parent f is a file"]),
    (["env.task='[atari]Pong'"], ["'[atari]Pong'", "valid tasks"]),  # square brackets printed, not read as markup
    (["model=[s5,gru]"], ["model=[s5,gru]", "one option of the group 'model' per run", "models=[...]"]),
])
def test_config_errors_leave_no_stray_files(tmp_path, overrides, words):
    (tmp_path / "f").write_text("a file\n")
    before = _snapshot(tmp_path)
    _assert_one_line_error(_script("ppo.py", *DEBUG, "run_dir=new", *overrides, cwd=tmp_path), *words)
    assert _snapshot(tmp_path) == before and not (tmp_path / "new").exists()


def test_plot_of_a_missing_run_is_one_line(tmp_path):
    _assert_one_line_error(_script("plot.py", "/nonexistent", cwd=tmp_path), "/nonexistent")


@pytest.mark.parametrize("content, words", [
    (b"", ["run/metrics.csv", "no logged updates"]),
    (b"update,env_steps,episode_return\n", ["run/metrics.csv", "no logged updates"]),
    (b"update,env_steps\n\xff\xfe1,2\n", ["run/metrics.csv", "not a text CSV"]),
])
def test_plot_of_metrics_without_curves_is_one_line_and_draws_nothing(tmp_path, content, words):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.csv").write_bytes(content)
    _assert_one_line_error(_script("plot.py", "run", cwd=tmp_path), *words)
    assert not list(tmp_path.glob("*.png"))


def test_plot_into_a_folder_draws_inside_it(finished_run, tmp_path):
    (tmp_path / "figs").mkdir()
    proc = _script("plot.py", str(finished_run), "--out", "figs", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "figs/learning_curves.png", proc.stdout + proc.stderr
    assert (tmp_path / "figs" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_folder_with_a_foreign_config_yaml_is_not_taken_for_a_run(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "config.yaml").write_text("name: my project\n")
    before = _snapshot(tmp_path)
    proc = _script("ppo.py", *DEBUG, "run_dir=d", cwd=tmp_path)
    _assert_one_line_error(proc, "d/config.yaml is not a run's config (no algo, env, model, runner)")
    assert "resuming" not in proc.stdout and _snapshot(tmp_path) == before


# --- saved state that is damaged or does not fit ------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("", ["config.yaml", "empty"]),
    ("model: [unclosed\n", ["config.yaml", "not valid YAML"]),
])
def test_unusable_saved_config(finished_run, tmp_path, text, words):
    run = _copy(finished_run, tmp_path)
    (run / "config.yaml").write_text(text)
    before = _snapshot(tmp_path)
    _assert_one_line_error(_script("ppo.py", f"resume={run}", cwd=tmp_path), *words)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("old, new, words", [
    ("d_model: 16", "d_model: 24", ["model.d_model is 24 in this config but 16 in the checkpoint of update 8",
                                    "set model.d_model back to 16 to resume it"]),
    ("task: RepeatFirstEasy", "task: RepeatPreviousEasy", [
        'env.task is "RepeatPreviousEasy" in this config but "RepeatFirstEasy" in the checkpoint of update 8',
        "was config.yaml edited?", "or train in a new run_dir", "only algo.total_timesteps, runner.*"]),
])
def test_saved_config_edited_to_another_run_is_refused(finished_run, tmp_path, old, new, words):
    run = _copy(finished_run, tmp_path)
    (run / "summary.json").unlink()  # not complete: it would restore
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace(old, new))
    before = _snapshot(tmp_path)
    _assert_one_line_error(_script("ppo.py", f"resume={run}", cwd=tmp_path), "config error:", *words)
    assert _snapshot(tmp_path) == before


def test_every_checkpoint_damaged(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    (run / "summary.json").unlink()
    for data in (run / "checkpoints").rglob("*"):
        if data.is_file() and data.parent.name == "d":
            data.write_bytes(data.read_bytes()[: len(data.read_bytes()) // 2])  # truncated
    before = _snapshot(tmp_path)
    _assert_one_line_error(_script("ppo.py", f"resume={run}", cwd=tmp_path), "no usable checkpoint",
                           "to start this run over from update 0 with its config, move", "or train in a new run_dir")
    assert _snapshot(tmp_path) == before


def test_deleted_part_of_the_newest_checkpoint_falls_back(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    (run / "summary.json").unlink()
    metadata = next(p for p in (run / "checkpoints" / "8").rglob("*") if p.is_file() and p.name == "_METADATA")
    metadata.unlink()  # a deleted part of checkpoint 8
    checkpoint_4 = _snapshot(run / "checkpoints" / "4")
    proc = _script("ppo.py", f"resume={run}", cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Traceback" not in out, out
    assert "skipped checkpoint 8" in out and "missing" in out and "resumed from checkpoint at update 4" in out
    assert _snapshot(run / "checkpoints" / "4") == checkpoint_4
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 8


def test_finished_run_is_left_as_it_is(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    before = _snapshot(run)
    proc = _script("ppo.py", f"resume={run}", cwd=tmp_path)
    assert proc.returncode == 0 and "already complete" in proc.stdout, proc.stdout + proc.stderr
    assert "compiling" not in proc.stdout
    assert _snapshot(run) == before


# --- divergence, interrupts, disks -----------------------------------------------------------------------------

def test_divergence_stops_with_the_update_and_keeps_a_finite_checkpoint(tmp_path):
    from ssmrl.checkpoint import Checkpointer
    from ssmrl.config import run_config_from_dict
    from ssmrl.ppo.config import PPOConfig
    from ssmrl.ppo.train import make_train

    proc = _script("ppo.py", *DEBUG, "algo.lr=30", "algo.total_timesteps=20480", "runner.updates_per_call=1",
                   "runner.checkpoint_every=1", "runner.max_checkpoints=2", "run_dir=div", cwd=tmp_path)
    line = _assert_one_line_error(proc, "diverged at update", "is not finite", "last finite one")
    update = int(line.split("diverged at update ")[1].split(":")[0])
    metrics = (tmp_path / "div" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 1 + update and "nan" in metrics[-1].split(",")  # NaN written as nan, not empty
    # The newest checkpoint is the update before: finite and restorable (its digest matches).
    import envs

    cfg = run_config_from_dict(json.loads(json.dumps(_yaml(tmp_path / "div" / "config.yaml"))), PPOConfig)
    env, env_params = envs.make(cfg.env.env_id)
    init = make_train(cfg, env, env_params).init
    like = jax.tree.map(lambda x: x[None], jax.jit(init)(jax.random.PRNGKey(0)))
    step, state = Checkpointer(tmp_path / "div" / "checkpoints").restore_latest(like)
    assert step == update - 1
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params))


def _yaml(path):
    import yaml

    return yaml.safe_load(path.read_text())


def _default_signals() -> None:
    """In the child: SIGINT and SIGTERM at their defaults, even when this test runs in a background job (where
    SIGINT starts out ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.optimized  # the resumed run executes about a thousand updates
@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "interrupted"),  # Ctrl-C
                                               (signal.SIGTERM, 143, "terminated (SIGTERM)")])  # timeout, preemption
def test_ctrl_c_or_sigterm_saves_says_how_to_resume_and_resume_finishes(tmp_path, sig, status, word):
    args = [sys.executable, str(ROOT / "scripts" / "ppo.py"), "experiment=debug", "algo.total_timesteps=262144",
            "runner.updates_per_call=2", "runner.checkpoint_every=1000", "run_dir=run"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=_default_signals)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if ": update 0/1024" in line:  # the training loop has started
            time.sleep(0.5)  # some calls of training (on 2 cores all 1024 updates take about 8 s)
            proc.send_signal(sig)
            break
    out = "".join(lines) + proc.stdout.read()
    proc.wait(timeout=120)
    assert proc.returncode == status and "Traceback" not in out, out
    assert f"{word} at update" in out and f"resume with: python {ROOT / 'scripts' / 'ppo.py'} resume=run" in out
    saved = out.split("saved up to update ")[1].split(";")[0]
    assert int(saved) >= 2 and (tmp_path / "run" / "checkpoints" / saved).is_dir()
    assert not list((tmp_path / "run" / "checkpoints").glob("*orbax-checkpoint-tmp*"))  # no half-written save
    resumed = _script("ppo.py", "resume=run", cwd=tmp_path)
    assert resumed.returncode == 0 and f"resumed from checkpoint at update {saved}" in resumed.stdout
    assert "warning" not in resumed.stdout  # the history before the signal is whole
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 1024
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # Timings span both sessions: wall time keeps counting; steps/s counts only the updates of the resumed session.
    first_wall = float(rows[int(saved)].split(",")[rows[0].split(",").index("wall_s")])
    assert summary["wall_s"] > first_wall and summary["sps"] > 0


def test_ctrl_c_while_the_libraries_load_is_one_line(tmp_path):
    # -X importtime reports each import as it completes (on stderr): signal once jax is in and flax, optax and
    # distrax (about 2 s on 2 cores) are still loading.
    proc = subprocess.Popen([sys.executable, "-X", "importtime", str(ROOT / "scripts" / "ppo.py"), *DEBUG,
                             "run_dir=run"], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stderr:
        if line.split("|")[-1].strip() == "jax":
            proc.send_signal(signal.SIGINT)
            break
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and out == "interrupted before anything started\n", out
    assert not (tmp_path / "run").exists()


def test_resume_says_that_metrics_csv_lost_its_rows_and_summary_is_valid_json(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    (run / "summary.json").unlink()  # not complete: it restores update 8 and writes the summary again
    (run / "metrics.csv").unlink()   # rows 1-8 deleted
    proc = _script("ppo.py", f"resume={run}", cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Traceback" not in out, out
    warnings = [line for line in out.splitlines() if "warning" in line]
    assert warnings == [f"warning: {run / 'metrics.csv'} has no rows before update 8 (deleted?); the curves start "
                        "at 8 and wall_s counts only from this session"], out
    text = (run / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in summary.json: {text}"))
    assert summary["final_return"] is None and summary["complete"] is True  # no logged return: null, not NaN


def test_full_disk_is_one_line_and_keeps_saved_files(tmp_path, monkeypatch, capsys):
    import envs
    from ssmrl import checkpoint, cli
    from ssmrl.ppo.config import PPOConfig
    from ssmrl.ppo.train import make_train

    def full(self, step, state, config=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.directory / str(step)))

    monkeypatch.setattr(checkpoint.Checkpointer, "save", full)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.run_script(ROOT / "configs", "ppo", PPOConfig, make_train, envs.make, envs.available,
                       argv=[*DEBUG, "runner.eval_envs=0", "run_dir=run"])
    assert exit_info.value.code == 2
    out = capsys.readouterr().out
    assert "No space left on device" in out and "Traceback" not in out
    assert (tmp_path / "run" / "config.yaml").exists()


def _file_size_limit(kib: int):
    """A ``preexec_fn``: the child may write files of at most ``kib`` KiB (``ulimit -f``), as on a disk that fills
    up; a longer write fails with EFBIG (SIGXFSZ ignored, as Python does anyway), the error orbax meets on a full
    disk."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, kib * 1024))
    return limit


def test_full_disk_during_a_save_is_one_line_removes_the_partial_checkpoint_and_resumes(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    (run / "summary.json").unlink()
    shutil.rmtree(run / "checkpoints" / "8")  # it resumes at 4 and saves 8 again, into the limit
    checkpoint_4 = _snapshot(run / "checkpoints" / "4")
    limit_kib = 24  # above metrics.csv, digests.json and the events file; below orbax's largest checkpoint file
    assert max(len(data) for data in checkpoint_4.values()) > limit_kib * 1024
    proc = _script("ppo.py", f"resume={run}", cwd=tmp_path, preexec_fn=_file_size_limit(limit_kib))
    # orbax and tensorstore raise ValueError (not OSError) and print hundreds of "Error" lines from their threads
    line = _assert_one_line_error(proc, "cannot save checkpoint 8", "no space left on device (or file too large)",
                                  "the newest intact checkpoint is 4")
    assert line.endswith(f"free space, then resume with: python {ROOT / 'scripts' / 'ppo.py'} resume={run}"), line
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["4", "digests.json"]  # no *.orbax-checkpoint-tmp
    assert _snapshot(run / "checkpoints" / "4") == checkpoint_4
    resumed = _script("ppo.py", f"resume={run}", cwd=tmp_path)  # space freed
    assert resumed.returncode == 0 and "resumed from checkpoint at update 4" in resumed.stdout, resumed.stdout
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 8
    assert json.loads((run / "summary.json").read_text())["complete"] is True


def test_cartpole_evaluation_runs_until_episodes_end(tmp_path):
    # CartPole episodes last up to 500 steps; evaluation runs until every environment has finished one.
    proc = _script("ppo.py", "env=gymnax", "env.task=CartPole-v1", "algo.total_timesteps=4096",
                   "logger.progress=false", "logger.plot=false", "run_dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert np.isfinite(summary["eval_return"]) and summary["eval_metrics"]["episodes"] == 64
    assert "eval nan" not in proc.stdout


def test_plain_output_when_not_a_terminal(tmp_path):
    proc = _script("ppo.py", "experiment=debug", "logger.plot=false", "run_dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].startswith("compiling")                      # said before the compile starts
    progress = [line for line in lines if ": update " in line]
    assert progress and progress[-1].startswith("s5 RepeatFirstEasy: update 8/8")
    assert "\x1b[" not in proc.stdout and "\r" not in proc.stdout  # no control characters in a log file


def test_an_algorithm_that_refuses_the_environment_leaves_no_run_directory(tmp_path):
    # PPO cannot step host-side emulators: the refusal comes from make_train, after the run directory was made.
    proc = _script("ppo.py", "env=atari100k", "env.task=Pong", "run_dir=refused", cwd=tmp_path)
    _assert_one_line_error(proc, "env.suite=atari100k", "valid:", "scripts/dreamer.py")
    assert not (tmp_path / "refused").exists()
    # Same for a Dreamer setting the emulators cannot honour: several seeds in one program.
    proc = _script("dreamer.py", "env=atari100k", "num_seeds=2", "run_dir=refused", cwd=tmp_path)
    _assert_one_line_error(proc, "num_seeds=2", "valid: 1")
    assert not (tmp_path / "refused").exists()
