"""Atari 100k sweep: one Dreamer run per (game, seed), a score file per finished run, and the aggregate report.

    python scripts/atari100k.py out_dir=sweeps/a100k                       # 26 games x seeds 0..4
    python scripts/atari100k.py out_dir=sweeps/a100k games=Pong,Breakout seeds=0,1,2 model=gru
    python scripts/atari100k.py --aggregate out_dir=sweeps/a100k [--score eval|train] [reps=2000] [ci_seed=0]

Sweep keys: out_dir (required), games (comma list or ``all``, default all), seeds (comma list, default 0,1,2,3,4);
every other key=value is a Dreamer override passed to each new run (not env, env.task, seed, num_seeds, run_dir,
resume: the sweep sets those). Cell (game, seed): run directory ``<out_dir>/runs/<Game>/seed<s>``, score file
``<out_dir>/scores/<Game>/seed<s>.json``, output of its runs appended to ``<out_dir>/logs/<Game>/seed<s>.log``.
A cell with a score file is skipped; a run directory that holds a run is resumed (``resume=<dir>``, its saved
config); a run whose summary.json says complete gets its score file (ssmrl/benchmark/atari_sweep.py). A failed cell
is reported and the sweep goes on; the exit status is 1 if any cell failed. Rerun the same command to retry failed
cells and resume cut ones. Ctrl-C lets the running cell save its checkpoint and exits 130.

Aggregate keys: out_dir, reps (bootstrap replicates), ci_seed (bootstrap seed), label (our row's name); writes
``<out_dir>/aggregate.md`` and ``aggregate.png`` (see ssmrl/benchmark/atari_report.py) and prints the table.
Mistakes print one line and exit with status 2 (the exit codes of ssmrl/benchmark/engine.py).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

try:  # Ctrl-C while the libraries load: one line, not a traceback
    from ssmrl.benchmark.atari_sweep import SET_BY_SWEEP, AtariCell, AtariCells
    from ssmrl.benchmark.engine import FAILED, OK, claim_out_dir, exit_status, plan, run_units, say_line
    from ssmrl.config import ConfigError
except KeyboardInterrupt:
    print("interrupted before anything started")
    sys.exit(130)

ROOT = Path(__file__).resolve().parents[1]
SWEEP_KEYS = ("out_dir", "games", "seeds", "runner")  # runner: hidden, a script to call instead of dreamer.py
AGGREGATE_KEYS = ("out_dir", "reps", "ci_seed", "label")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


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
                raise ConfigError("--score needs a value; valid: eval, train")
            args.score, score_given = (rest.pop(0) if arg == "--score" else arg.split("=", 1)[1]), True
            if args.score not in ("eval", "train"):
                raise ConfigError(f"--score {args.score!r}; valid: eval, train")
        elif "=" in arg and not arg.startswith("-"):
            key, value = arg.split("=", 1)
            if key in SWEEP_KEYS or key in AGGREGATE_KEYS:
                args.keys[key] = value
            else:
                args.overrides.append(arg)
        else:
            raise ConfigError(f"bad argument {arg!r}; expected key=value, --aggregate or --score eval|train")
    valid = AGGREGATE_KEYS if args.aggregate else SWEEP_KEYS
    wrong = [k for k in args.keys if k not in valid]
    if args.aggregate and args.overrides:
        wrong.append(args.overrides[0].split("=", 1)[0])
    if wrong:
        mode = "--aggregate" if args.aggregate else "a sweep"
        shown = [k for k in valid if k != "runner"]
        raise ConfigError(f"bad key {wrong[0]!r} for {mode}; valid: {', '.join(shown)}")
    if score_given and not args.aggregate:
        raise ConfigError("--score goes with --aggregate; a sweep records both scores")
    for override in args.overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in SET_BY_SWEEP:
            raise ConfigError(f"{override!r}: the sweep sets {key} for each cell; choose games= and seeds= instead")
    if not args.keys.get("out_dir", "").strip():
        raise ConfigError("out_dir= is required: the folder of the sweep's runs, logs and scores")
    return args


def parse_games(text: str) -> list[str]:
    from envs.atari import ATARI100K_GAMES, check_game

    if text.strip() == "all":
        return list(ATARI100K_GAMES)
    games = [g.strip() for g in text.split(",") if g.strip()]
    if not games:
        raise ConfigError(f"games={text!r}: empty; give a comma list or all")
    for game in games:
        try:
            check_game(game)
        except ValueError as err:
            raise ConfigError(f"games={text}: {err}") from None
    if len(set(games)) < len(games):
        raise ConfigError(f"games={text}: a game is listed twice")
    return games


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise ConfigError(f"seeds={text!r}: expected a comma list of non-negative integers, e.g. 0,1,2") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
        raise ConfigError(f"seeds={text}: seeds must be non-negative and distinct")
    return seeds


def parse_int(key: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{key}={text!r}: expected an integer >= {minimum}")
    return value


def sweep(args: Args) -> int:
    out_dir = Path(args.keys["out_dir"])
    games = parse_games(args.keys.get("games", "all"))
    seeds = parse_seeds(args.keys["seeds"]) if "seeds" in args.keys else list(DEFAULT_SEEDS)
    runner = Path(args.keys.get("runner", ROOT / "scripts" / "dreamer.py"))
    if not runner.is_file():
        raise ConfigError(f"runner={runner}: no such script")
    cells = [AtariCell(g, s, out_dir) for g in games for s in seeds]
    kind = AtariCells(runner, args.overrides, str(ROOT))
    the_plan = plan(cells, kind)
    claim_out_dir(out_dir, "atari100k", "logs/*/seed*.log")
    say_line(f"plan: {len(cells)} cells ({len(games)} games x {len(seeds)} seeds): {the_plan.counts()} -> {out_dir}")
    outcome = run_units(the_plan, kind, say_line)
    failed = [cell.label for cell, _ in outcome.failed]
    say_line(f"sweep: {len(outcome.records)} of {len(the_plan.todo)} cells finished"
             + (f"; failed: {', '.join(failed)}" if failed else "") + f"; aggregate with: python "
             f"{shlex.quote(sys.argv[0])} --aggregate out_dir={shlex.quote(str(out_dir))}")
    return FAILED if failed else OK


def report(args: Args) -> int:
    from ssmrl.benchmark.atari_report import ReportError, write_report

    reps = parse_int("reps", args.keys.get("reps", "2000"), 1)
    ci_seed = parse_int("ci_seed", args.keys.get("ci_seed", "0"), 0)
    try:
        text, md_path, png_path = write_report(args.keys["out_dir"], score=args.score, reps=reps, seed=ci_seed,
                                               label=args.keys.get("label", "ssmrl Dreamer"))
    except OSError as err:
        raise ReportError(str(err)) from None
    print(text)
    print(f"wrote {md_path} and {png_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return 0

    def body() -> int:
        args = parse_args(argv)
        return report(args) if args.aggregate else sweep(args)

    return exit_status(body)


if __name__ == "__main__":
    sys.exit(main())
