"""Atari 100k sweep: one Dreamer run per (game, seed), a score file per finished run, and the aggregate report.

    python scripts/atari100k.py out_dir=sweeps/a100k                       # 26 games x seeds 0..4
    python scripts/atari100k.py out_dir=sweeps/a100k games=Pong,Breakout seeds=0,1,2 model=gru
    python scripts/atari100k.py --aggregate out_dir=sweeps/a100k [--score eval|train] [reps=2000] [ci_seed=0]

Sweep keys: out_dir (required), games (comma list or ``all``, default all), seeds (comma list, default 0,1,2,3,4);
every other key=value is a Dreamer override passed to each new run (not env, env.task, seed, num_seeds, run_dir,
resume: the sweep sets those). Cell (game, seed): run directory ``<out_dir>/runs/<Game>/seed<s>``, score file
``<out_dir>/scores/<Game>/seed<s>.json``, output of its runs appended to ``<out_dir>/logs/<Game>/seed<s>.log``.
A cell with a score file is skipped; a run directory that holds a run is resumed (``resume=<dir>``, its saved
config); a run whose summary.json says complete gets its score file. A failed cell is reported and the sweep goes
on; the exit status is 1 if any cell failed. Rerun the same command to retry failed cells and resume cut ones.
Ctrl-C lets the running cell save its checkpoint and exits 130.

Aggregate keys: out_dir, reps (bootstrap replicates), ci_seed (bootstrap seed), label (our row's name); writes
``<out_dir>/aggregate.md`` and ``aggregate.png`` (see ssmrl/benchmark/atari_report.py) and prints the table.
Mistakes print one line and exit with status 2.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP_KEYS = ("out_dir", "games", "seeds", "runner")  # runner: hidden, a script to call instead of dreamer.py
AGGREGATE_KEYS = ("out_dir", "reps", "ci_seed", "label")
SET_BY_SWEEP = ("env", "env.task", "seed", "num_seeds", "run_dir", "resume")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default, so the run can save on Ctrl-C even when the sweep
    was started where SIGINT is ignored (a background job of a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class UsageError(ValueError):
    """A bad command line; printed as one line, exit status 2."""


@dataclass
class Args:
    aggregate: bool = False
    score: str = "eval"
    keys: dict[str, str] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)


def parse_args(argv: list[str]) -> Args:
    """``--aggregate``, ``--score eval|train`` (or ``--score=...``) and key=value arguments."""
    args, rest = Args(), list(argv)
    score_given = False
    while rest:
        arg = rest.pop(0)
        if arg == "--aggregate":
            args.aggregate = True
        elif arg == "--score" or arg.startswith("--score="):
            if arg == "--score" and not rest:
                raise UsageError("--score needs a value; valid: eval, train")
            args.score, score_given = (rest.pop(0) if arg == "--score" else arg.split("=", 1)[1]), True
            if args.score not in ("eval", "train"):
                raise UsageError(f"--score {args.score!r}; valid: eval, train")
        elif "=" in arg and not arg.startswith("-"):
            key, value = arg.split("=", 1)
            if key in SWEEP_KEYS or key in AGGREGATE_KEYS:
                args.keys[key] = value
            else:
                args.overrides.append(arg)
        else:
            raise UsageError(f"bad argument {arg!r}; expected key=value, --aggregate or --score eval|train")
    valid = AGGREGATE_KEYS if args.aggregate else SWEEP_KEYS
    wrong = [k for k in args.keys if k not in valid]
    if args.aggregate and args.overrides:
        wrong.append(args.overrides[0].split("=", 1)[0])
    if wrong:
        mode = "--aggregate" if args.aggregate else "a sweep"
        shown = [k for k in valid if k != "runner"]
        raise UsageError(f"bad key {wrong[0]!r} for {mode}; valid: {', '.join(shown)}")
    if score_given and not args.aggregate:
        raise UsageError("--score goes with --aggregate; a sweep records both scores")
    for override in args.overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in SET_BY_SWEEP:
            raise UsageError(f"{override!r}: the sweep sets {key} for each cell; choose games= and seeds= instead")
    if not args.keys.get("out_dir", "").strip():
        raise UsageError("out_dir= is required: the folder of the sweep's runs, logs and scores")
    return args


def parse_games(text: str) -> list[str]:
    from envs.atari import ATARI100K_GAMES, check_game

    if text.strip() == "all":
        return list(ATARI100K_GAMES)
    games = [g.strip() for g in text.split(",") if g.strip()]
    if not games:
        raise UsageError(f"games={text!r}: empty; give a comma list or all")
    for game in games:
        try:
            check_game(game)
        except ValueError as err:
            raise UsageError(f"games={text}: {err}") from None
    if len(set(games)) < len(games):
        raise UsageError(f"games={text}: a game is listed twice")
    return games


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise UsageError(f"seeds={text!r}: expected a comma list of non-negative integers, e.g. 0,1,2") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
        raise UsageError(f"seeds={text}: seeds must be non-negative and distinct")
    return seeds


def parse_int(key: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise UsageError(f"{key}={text!r}: expected an integer >= {minimum}")
    return value


# --- the sweep -------------------------------------------------------------------------------------------------

@dataclass
class Cell:
    game: str
    seed: int
    out_dir: Path

    @property
    def name(self) -> str:
        return f"{self.game} seed {self.seed}"

    @property
    def run_dir(self) -> Path:
        return self.out_dir / "runs" / self.game / f"seed{self.seed}"

    @property
    def score_path(self) -> Path:
        return self.out_dir / "scores" / self.game / f"seed{self.seed}.json"

    @property
    def log_path(self) -> Path:
        return self.out_dir / "logs" / self.game / f"seed{self.seed}.log"

    def holds_run(self) -> bool:
        from ssmrl.runners.rundir import holds_run

        return holds_run(self.run_dir)

    def summary(self) -> dict | None:
        try:
            summary = json.loads((self.run_dir / "summary.json").read_text())
        except (OSError, ValueError):
            return None
        return summary if isinstance(summary, dict) else None


class SweepInterrupted(Exception):
    pass


def _last_line(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else "(no output)"


def _launch(cmd: list[str], log_path: Path) -> tuple[int, int]:
    """Run ``cmd`` with its output appended to ``log_path`` -> (exit status, log offset where this run began).

    The child has its own session, so a terminal's Ctrl-C reaches only the sweep, which hands exactly one SIGINT
    to the run (a second could cut its checkpoint save) and waits for it to save and exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log_path, "ab") as log:
        offset = log.tell()
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=_default_sigint)
        try:
            return proc.wait(), offset
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise SweepInterrupted from None


def _write_score(cell: Cell, summary: dict) -> dict:
    from ssmrl.benchmark.atari_report import score_record
    from ssmrl.output import write_json

    record = score_record(cell.game, cell.seed, summary, cell.run_dir)
    write_json(cell.score_path, record)
    return record


def _describe(record: dict) -> str:
    parts = []
    for key, hns in (("eval_return", "hns_eval"), ("train_return_last10k", "hns_train")):
        if record[key] is not None:
            parts.append(f"{key} {record[key]:.1f} (HNS {record[hns]:.3f})")
    return ", ".join(parts or ["no returns"]) + f", {record['wall_s']:.0f} s"


def run_cell(cell: Cell, runner: Path, overrides: list[str]) -> str | None:
    """Run, resume or score one cell; None when its score file was written, else why it failed (one line)."""
    summary = cell.summary()
    if not (summary and summary.get("complete") is True):
        fresh = not cell.run_dir.exists()
        if cell.holds_run():
            cmd, what = [sys.executable, str(runner), f"resume={cell.run_dir}"], "resume"
        else:
            cmd = [sys.executable, str(runner), "env=atari100k", f"env.task={cell.game}", f"seed={cell.seed}",
                   f"run_dir={cell.run_dir}", *overrides]
            what = "run"
        print(f"{what} {cell.name}: {cell.run_dir} (log {cell.log_path})", flush=True)
        status, offset = _launch(cmd, cell.log_path)
        if status != 0:
            line = _last_line(cell.log_path, offset)
            if status == 2 and fresh and "config error" in line:
                raise UsageError(f"{cell.name}: the run refused its arguments: {line}")
            return f"exit status {status}: {line}"
        summary = cell.summary()
        if summary is None:
            return f"the run ended without a readable {cell.run_dir / 'summary.json'}"
        if summary.get("complete") is not True:
            return f"{cell.run_dir / 'summary.json'} says the run is not complete (complete={summary.get('complete')})"
    else:
        print(f"score {cell.name}: its run in {cell.run_dir} is complete", flush=True)
    try:
        record = _write_score(cell, summary)
    except (OSError, TypeError, ValueError) as err:
        return f"cannot write {cell.score_path}: {err}"
    print(f"done {cell.name}: {_describe(record)}", flush=True)
    return None


def sweep(args: Args) -> int:
    out_dir = Path(args.keys["out_dir"])
    games = parse_games(args.keys.get("games", "all"))
    seeds = parse_seeds(args.keys["seeds"]) if "seeds" in args.keys else list(DEFAULT_SEEDS)
    runner = Path(args.keys.get("runner", ROOT / "scripts" / "dreamer.py"))
    if not runner.is_file():
        raise UsageError(f"runner={runner}: no such script")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"out_dir={out_dir} is a file; give a folder")
    cells = [Cell(g, s, out_dir) for g in games for s in seeds]
    done = [c for c in cells if c.score_path.exists()]
    todo = [c for c in cells if not c.score_path.exists()]
    resume = sum(c.holds_run() for c in todo)
    print(f"plan: {len(cells)} cells ({len(games)} games x {len(seeds)} seeds), {len(done)} done, {len(todo)} to run "
          f"({resume} to resume) in {out_dir}", flush=True)
    failed = []
    for cell in cells:
        if cell in done:
            print(f"skip {cell.name}: {cell.score_path} exists", flush=True)
            continue
        try:
            why = run_cell(cell, runner, args.overrides)
        except SweepInterrupted:
            print(f"interrupted during {cell.name}; rerun the same command to resume it", flush=True)
            return 130
        if why is not None:
            failed.append(cell.name)
            print(f"FAILED {cell.name}: {why}; log {cell.log_path}", flush=True)
    ok = len(todo) - len(failed)
    print(f"sweep: {ok} of {len(todo)} cells finished" + (f"; failed: {', '.join(failed)}" if failed else "")
          + f"; aggregate with: python {shlex.quote(sys.argv[0])} --aggregate out_dir={shlex.quote(str(out_dir))}",
          flush=True)
    return 1 if failed else 0


def report(args: Args) -> int:
    from ssmrl.benchmark.atari_report import ReportError, write_report

    reps = parse_int("reps", args.keys.get("reps", "2000"), 1)
    ci_seed = parse_int("ci_seed", args.keys.get("ci_seed", "0"), 0)
    try:
        text, md_path, png_path = write_report(args.keys["out_dir"], score=args.score, reps=reps, seed=ci_seed,
                                               label=args.keys.get("label", "ssmrl Dreamer"))
    except (ReportError, OSError) as err:
        raise UsageError(str(err)) from None
    print(text)
    print(f"wrote {md_path} and {png_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return 0
    try:
        args = parse_args(argv)
        return report(args) if args.aggregate else sweep(args)
    except UsageError as err:
        print(f"error: {err}")
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to continue")
        return 130


if __name__ == "__main__":
    sys.exit(main())
