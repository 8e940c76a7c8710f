"""scripts/atari100k.py: the sweep over (game, seed) cells with a fake runner in place of scripts/dreamer.py (it
records its argv and writes a summary.json; nothing is trained), the aggregate report, and one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "atari100k.py"

# A stand-in for scripts/dreamer.py. FAKE_PLAN (JSON) maps "Game:seed" to what the run does: "fail" (saves its
# config, then exits 1, so the next sweep resumes it), "config" (refuses its arguments like a config error: exit 2,
# no run directory), "incomplete" (summary.json with complete=false), "wait" (waits for SIGINT or SIGTERM, records
# the names of those it got, exits 130 or 143); any other cell finishes: eval_return 10 * (seed + 1),
# train_return_last one less.
FAKE_RUNNER = r'''
import json, os, signal, sys, time
from pathlib import Path

argv = sys.argv[1:]
with open(os.environ["FAKE_ARGV_LOG"], "a") as f:
    f.write(json.dumps(argv) + "\n")
args = dict(a.split("=", 1) for a in argv)
if "resume" in args:
    run_dir = Path(args["resume"])
    cfg = json.loads((run_dir / "config.yaml").read_text())
else:
    cfg = {"game": args["env.task"], "seed": int(args["seed"])}
    what = json.loads(os.environ.get("FAKE_PLAN", "{}")).get(f"{cfg['game']}:{cfg['seed']}")
    if what == "config":
        print("config error: algo.lrr: no such key; valid keys: lr, ...")
        sys.exit(2)
    run_dir = Path(args["run_dir"])
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(json.dumps(cfg))
what = json.loads(os.environ.get("FAKE_PLAN", "{}")).get(f"{cfg['game']}:{cfg['seed']}")
print("training", cfg)
if what == "fail":
    print("error: the run broke")
    sys.exit(1)
if what == "wait":
    got = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: got.append(signal.Signals(signum).name))
    Path(os.environ["FAKE_READY"]).write_text("ready")
    deadline = time.time() + 60
    while not got and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a second signal would arrive now
    Path(os.environ["FAKE_READY"]).write_text(",".join(got))
    sys.exit(143 if got == ["SIGTERM"] else 130)
score = 10.0 * (cfg["seed"] + 1)
summary = {"updates": 4, "wall_s": 3.0, "eval_return": score, "eval_metrics": {"episodes": 2, "episode_return": score},
           "train_return_last": score - 1, "train_return_window": 10000, "env_steps": 100000,
           "complete": what != "incomplete"}
(run_dir / "summary.json").write_text(json.dumps(summary))
'''


def _load_script():
    spec = importlib.util.spec_from_file_location("atari100k_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


atari100k = _load_script()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """(runner= argument, function returning the argv of each call so far)."""
    runner = tmp_path / "fake_dreamer.py"
    runner.write_text(FAKE_RUNNER)
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_ARGV_LOG", str(log))
    monkeypatch.setenv("FAKE_PLAN", "{}")
    calls = lambda: [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return f"runner={runner}", calls


def _main(capsys, *argv):
    status = atari100k.main(list(argv))
    return status, capsys.readouterr().out


def test_sweep_runs_cells_goes_on_after_a_failure_then_skips_and_resumes(tmp_path, fake, capsys, monkeypatch):
    runner, calls = fake
    out = tmp_path / "sweep"
    sweep = [f"out_dir={out}", "games=Pong,Breakout", "seeds=0,1", runner, "model=gru", "algo.lr=1e-4"]
    monkeypatch.setenv("FAKE_PLAN", json.dumps({"Breakout:0": "fail"}))
    status, text = _main(capsys, *sweep)
    assert status == 1, text
    assert text.splitlines()[0] == f"plan: 4 cells (2 games x 2 seeds): 0 done, 4 to run -> {out}"
    assert f"FAILED Breakout seed 0: exit status 1: error: the run broke; log {out}/logs/Breakout/seed0.log" in text
    assert calls() == [["env=atari100k", f"env.task={g}", f"seed={s}", f"run_dir={out}/runs/{g}/seed{s}",
                        "model=gru", "algo.lr=1e-4"] for g, s in [("Pong", 0), ("Pong", 1), ("Breakout", 0),
                                                                  ("Breakout", 1)]]
    assert "the run broke" in (out / "logs" / "Breakout" / "seed0.log").read_text()
    assert sorted(str(p.relative_to(out)) for p in out.glob("scores/*/*.json")) == [
        "scores/Breakout/seed1.json", "scores/Pong/seed0.json", "scores/Pong/seed1.json"]
    record = json.loads((out / "scores" / "Pong" / "seed1.json").read_text())
    # Pong seed 1: eval 20 -> HNS (20 + 20.7) / 35.3 = 1.1530; train 19 -> 39.7 / 35.3 = 1.1246
    assert record["eval_return"] == 20.0 and record["hns_eval"] == pytest.approx(40.7 / 35.3)
    assert record["hns_train"] == pytest.approx(39.7 / 35.3) and record["train_return_last10k"] == 19.0
    assert record["agent_steps"] == 100000 and record["eval_episodes"] == 2 and record["wall_s"] == 3.0
    assert record["run_dir"] == f"{out}/runs/Pong/seed1" and (record["random"], record["human"]) == (-20.7, 14.6)

    # Again: three cells skipped, the failed one resumed from its run directory with its saved config only.
    monkeypatch.setenv("FAKE_PLAN", "{}")
    status, text = _main(capsys, *sweep)
    assert status == 0, text
    assert text.splitlines()[0] == f"plan: 4 cells (2 games x 2 seeds): 3 done, 1 to run (1 resuming) -> {out}"
    assert "[1/1] done Breakout seed 0:" in text and "Pong" not in text
    assert calls()[4:] == [[f"resume={out}/runs/Breakout/seed0"]]
    assert (out / "scores" / "Breakout" / "seed0.json").exists()

    # A finished run whose score file is gone is scored again without running; nothing else runs.
    (out / "scores" / "Pong" / "seed0.json").unlink()
    status, text = _main(capsys, *sweep)
    assert status == 0 and len(calls()) == 5, text
    assert f"score Pong seed 0: its run in {out}/runs/Pong/seed0 is complete" in text
    assert json.loads((out / "scores" / "Pong" / "seed0.json").read_text())["eval_return"] == 10.0


def test_incomplete_run_fails_its_cell(tmp_path, fake, capsys, monkeypatch):
    runner, _ = fake
    monkeypatch.setenv("FAKE_PLAN", json.dumps({"Pong:0": "incomplete"}))
    status, text = _main(capsys, f"out_dir={tmp_path / 's'}", "games=Pong", "seeds=0", runner)
    assert status == 1 and "FAILED Pong seed 0:" in text and "not complete (complete=False)" in text
    assert not (tmp_path / "s" / "scores").exists()


def test_config_error_of_a_new_run_stops_the_sweep(tmp_path, fake, capsys, monkeypatch):
    # Every cell gets the same overrides, so a run that refuses them would fail all 4 cells: stop at the first.
    runner, calls = fake
    monkeypatch.setenv("FAKE_PLAN", json.dumps({"Pong:0": "config"}))
    status, text = _main(capsys, f"out_dir={tmp_path / 's'}", "games=Pong,Boxing", "seeds=0,1", runner, "+algo.lrr=1")
    assert status == 2 and len(calls()) == 1, text
    errors = [line for line in text.splitlines() if line.startswith(("error", "config error"))]
    assert errors == ["config error: Pong seed 0: the run refused its arguments: config error: algo.lrr: no such key; "
                      "valid keys: lr, ..."]


def test_aggregate_writes_markdown_and_png(tmp_path, fake, capsys):
    runner, _ = fake
    out = tmp_path / "s"
    assert _main(capsys, f"out_dir={out}", "games=Pong,Breakout", "seeds=0,1", runner)[0] == 0
    status, text = _main(capsys, "--aggregate", f"out_dir={out}", "reps=200", "label=fake agent")
    assert status == 0, text
    assert "**2 of 26 games**, 4 runs" in text and "| fake agent (2 of 26 games) |" in text
    assert text.rstrip().endswith(f"wrote {out}/aggregate.md and {out}/aggregate.png")
    md = (out / "aggregate.md").read_text()
    assert md in text and "(`--score eval`)" in md
    assert (out / "aggregate.png").read_bytes()[:4] == b"\x89PNG"
    # Pong eval 10, 20 -> raw mean 15 -> HNS mean (30.7 + 40.7) / 2 / 35.3 = 1.0113
    assert "| Pong | 2 | 15.0 | -20.7 | 14.6 | 1.011 |" in md
    status, text = _main(capsys, "--aggregate", f"out_dir={out}", "--score", "train", "reps=200")
    # train 9, 19 -> raw mean 14
    assert status == 0 and "(`--score train`)" in text and "| Pong | 2 | 14.0 |" in text


@pytest.mark.parametrize("argv, words", [
    (["games=Pong,Pitfall"], ["games=Pong,Pitfall", "unknown Atari 100k game 'Pitfall'", "valid: Alien"]),
    (["games=Pong,Pong"], ["listed twice"]),
    (["seeds=0,x"], ["seeds='0,x'", "comma list"]),
    (["seed=3"], ["'seed=3'", "the sweep sets seed", "seeds="]),
    (["env.task=Pong"], ["the sweep sets env.task"]),
    (["reps=10"], ["bad key 'reps' for a sweep", "valid: out_dir, games, seeds"]),
    (["--score", "eval"], ["--score goes with --aggregate"]),
    (["Pong"], ["bad argument 'Pong'", "key=value"]),
    (["--aggregate", "games=Pong"], ["bad key 'games' for --aggregate", "valid: out_dir, reps, ci_seed, label"]),
    (["--aggregate", "model=gru"], ["bad key 'model' for --aggregate"]),
    (["--aggregate", "--score", "best"], ["--score 'best'", "valid: eval, train"]),
    (["--aggregate", "reps=0"], ["reps='0'", ">= 1"]),
    (["--aggregate"], ["no score files", "scores"]),
])
def test_bad_inputs_are_one_line(tmp_path, capsys, argv, words):
    # a bad command line is a config error; score files that cannot be aggregated are an error of the files
    prefix = "error: " if "no score files" in words else "config error: "
    status, text = _main(capsys, f"out_dir={tmp_path / 'o'}", *argv)
    assert status == 2
    assert len(text.strip().splitlines()) == 1 and text.startswith(prefix), text
    for word in words:
        assert word in text, text
    assert not (tmp_path / "o").exists()


def test_missing_out_dir_is_one_line(capsys):
    status, text = _main(capsys, "games=Pong")
    assert status == 2
    assert text == "config error: out_dir= is required: the folder of the sweep's runs, logs and scores\n"


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.slow
def test_bad_game_as_a_command_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), f"out_dir={tmp_path / 'o'}", "games=pong"], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out, out
    assert out.strip().splitlines() == [f"config error: games=pong: unknown Atari 100k game 'pong'; valid: "
                                        f"{', '.join(atari100k_games())}"]


def atari100k_games():
    from envs.atari import ATARI100K_GAMES

    return ATARI100K_GAMES


@pytest.mark.slow
@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_ctrl_c_or_sigterm_hands_one_signal_to_the_run(tmp_path, fake, sig, status, word):
    runner, _ = fake
    ready = tmp_path / "ready"
    env = {**_env(), "FAKE_PLAN": json.dumps({"Pong:0": "wait"}), "FAKE_READY": str(ready)}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), f"out_dir={tmp_path / 's'}", "games=Pong", "seeds=0,1",
                             runner], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not ready.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ready.exists(), proc.communicate()[0]
    proc.send_signal(sig)  # to the sweep only, as a terminal's Ctrl-C or `timeout` would (the run has its own session)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == status, out
    assert ready.read_text() == sig.name, out  # the run got exactly one signal, the same, and the sweep waited for it
    assert f"{word} during Pong seed 0; its run saved what it could; finished cells are kept; the same command "\
           "resumes" in out and "Traceback" not in out
    assert "Pong seed 1" not in out.split(word)[1]


def test_an_out_dir_with_a_users_files_is_refused(tmp_path, fake, capsys):
    runner, calls = fake
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine\n")
    status, text = _main(capsys, f"out_dir={tmp_path / 's'}", "games=Pong", "seeds=0", runner)
    assert status == 2 and calls() == [] and [p.name for p in (tmp_path / "s").iterdir()] == ["notes.txt"]
    assert text.strip() == (f"config error: out_dir={tmp_path / 's'} holds files that no atari100k grid wrote "
                            "(notes.txt); give a new or empty folder (a grid's reports would replace files of the "
                            "same name)")


def test_starting_a_cell_does_not_fork_through_pythons_hooks(tmp_path, fake, capsys):
    # A preexec_fn makes subprocess fork through os.register_at_fork's hooks, where JAX (imported here) warns
    # "os.fork() was called ... will likely lead to a deadlock" once per cell.
    import jax

    jax.devices()  # JAX's backends are up (as in the sweep, which imports the cores): its at-fork hook is installed
    runner, _ = fake
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, text = _main(capsys, f"out_dir={tmp_path / 's'}", "games=Pong", "seeds=0", runner)
    assert status == 0, text
    assert not [w for w in caught if "fork" in str(w.message)], [str(w.message) for w in caught]
