"""The experiment engine: every grid (the RL benchmark, the world-model grid, the Atari 100k sweep) is a list of
units of work that it plans, runs one after the other and resumes, with one set of exit codes.

**A unit** is plain data with a ``label`` (a cell of a grid, a speed sweep, a game and seed); **its kind**
(:class:`Kind`: one object per grid, holding what the units share: the settings, the algorithms, caches) says of a
unit its ``status(unit)``, read from the record the unit leaves on disk (:data:`DONE`: finished; :data:`PARTIAL`:
started and resumable; :data:`ABSENT`: never started; a record of other settings is a
:class:`ssmrl.config.ConfigError` naming the key that differs), ``run(unit)``, which does the work and returns its
record (or raises :class:`UnitFailed` when the unit failed and the grid should go on), and ``line(index, total,
unit, record)``, its progress line.

**Planning** (:func:`plan`): the statuses of all units first (so a mismatched record stops the grid before anything
runs) and the units not done, at most ``max_units`` of them (None: all; 0: none); the grid prints its plan line
with :meth:`Plan.counts`. **Running** (:func:`run_units`): those units in order, a line each; ``after_each(unit)``
after each finished one (e.g. rewrite the report).

**Output folders** (:func:`claim_out_dir`): a grid writes only into a folder that is absent, empty or one a grid of
the same kind wrote (its marker file :data:`MARKER`, or the records of an earlier version's grid), so that it never
replaces a user's own files; :func:`written_line` names the report files that exist.

**Exit codes** (:func:`exit_status`, the body of every grid script): :data:`OK`; :data:`FAILED` when units failed;
:data:`USAGE` after one line ``config error: ...`` (a bad setting) or ``error: ...`` (a value, run directory,
checkpoint or file that cannot be used); :data:`INTERRUPTED` on Ctrl-C; :data:`TERMINATED` on SIGTERM, which stops
a grid as Ctrl-C does (:mod:`ssmrl.runners.signals`). Nothing finished is touched on any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ssmrl.config import ConfigError
from ssmrl.output import read_json, write_json
from ssmrl.runners.signals import stop_if_terminated

DONE, PARTIAL, ABSENT = "done", "partial", "absent"
MARKER = ".ssmrl-grid"  # in a grid's out_dir: {"grid": <kind name>}
OK, FAILED, USAGE, INTERRUPTED, TERMINATED = 0, 1, 2, 130, 143


class Kind(Protocol):
    """What the engine needs of a kind of unit (module docstring)."""

    def status(self, unit: Any) -> str: ...

    def run(self, unit: Any) -> dict: ...

    def line(self, index: int, total: int, unit: Any, record: dict) -> str: ...


class UnitFailed(Exception):
    """A unit that failed in a way that must not stop the grid; the message says why in one line."""


@dataclass
class Plan:
    """The statuses of a grid's units and the units this invocation runs (``todo``, in order)."""

    units: list
    status: dict
    todo: list
    max_units: int | None = None

    @property
    def done(self) -> int:
        return sum(s == DONE for s in self.status.values())

    @property
    def later(self) -> int:
        """Units neither done nor run now (left by ``max_units``)."""
        return len(self.units) - self.done - len(self.todo)

    def counts(self) -> str:
        """``"<d> done, <n> to run (<r> resuming), <l> left for later (max_cells=<m>)"`` (empty parts left out)."""
        resuming = sum(self.status[u] == PARTIAL for u in self.todo)
        text = f"{self.done} done, {len(self.todo)} to run" + (f" ({resuming} resuming)" if resuming else "")
        if self.later:
            text += f", {self.later} left for later (max_cells={self.max_units})"
        return text


def plan(units: Sequence[Any], kind: Kind, max_units: int | None = None) -> Plan:
    """Every unit's status (ConfigError for a record of other settings) and the ones to run now."""
    status = {u: kind.status(u) for u in units}
    todo = [u for u in units if status[u] != DONE]
    return Plan(list(units), status, todo if max_units is None else todo[:max_units], max_units)


@dataclass
class Outcome:
    """What :func:`run_units` did: the records of the units that finished and the failures (unit, why)."""

    records: dict = field(default_factory=dict)
    failed: list = field(default_factory=list)


def run_units(the_plan: Plan, kind: Kind, say: Callable[[str], None],
              after_each: Callable[[Any], None] | None = None) -> Outcome:
    """Run ``the_plan.todo`` in order, a progress line each (``FAILED <label>: <why>`` for a :class:`UnitFailed`,
    and the grid goes on); ``after_each(unit)`` after every unit that finished."""
    outcome = Outcome()
    total = len(the_plan.todo)
    for index, unit in enumerate(the_plan.todo, 1):
        stop_if_terminated()  # a SIGTERM held since the last unit stops the grid before the next one starts
        try:
            record = kind.run(unit)
        except UnitFailed as err:
            outcome.failed.append((unit, str(err)))
            say(f"[{index}/{total}] FAILED {unit.label}: {err}")
            continue
        outcome.records[unit] = record
        say(kind.line(index, total, unit, record))
        if after_each is not None:
            after_each(unit)
    return outcome


def claim_out_dir(out_dir: Path, grid: str, records: str) -> None:
    """Make ``out_dir`` this grid's (its :data:`MARKER` written) if it is absent, empty, marked by a grid of the same
    kind, or holds that grid's records from before the marker (``records``: a glob under ``out_dir``, e.g.
    ``runs/*/*/*/benchmark.json``); ConfigError (one line, nothing written) otherwise, naming what is there."""
    marker = out_dir / MARKER
    if marker.is_file():
        owner = read_json(marker).get("grid")
        if owner != grid:
            raise ConfigError(f"out_dir={out_dir} belongs to another kind of grid ({owner!r}, this is {grid!r}); "
                              "give another out_dir")
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"out_dir={out_dir} is a file; give a folder")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if entries and not any(out_dir.glob(records)):
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise ConfigError(f"out_dir={out_dir} holds files that no {grid} grid wrote ({shown}); give a new or empty "
                          "folder (a grid's reports would replace files of the same name)")
    write_json(marker, {"grid": grid})


def written_line(out_dir: Path, names: Sequence[str]) -> str:
    """``results: <first> (and <the others>)`` for the files of ``names`` (globs allowed) that exist in ``out_dir``;
    ``results: none written yet in <out_dir>`` when none does."""
    found = [str(p.relative_to(out_dir)) for name in names for p in sorted(out_dir.glob(name))]
    if not found:
        return f"results: none written yet in {out_dir}"
    return f"results: {out_dir / found[0]}" + (f" (and {', '.join(found[1:])})" if len(found) > 1 else "")


def say_line(text: str) -> None:
    """Print one line now (a log file or a pipe sees each line as it happens)."""
    print(text, flush=True)


def exit_status(body: Callable[[], int | None], say: Callable[[str], None] = say_line) -> int:
    """Run a grid's ``body`` and map what it raises to one line and an exit status (module docstring); the body
    returns its own status (None: :data:`OK`)."""
    from ssmrl.checkpoint import CheckpointError
    from ssmrl.config import ConfigError
    from ssmrl.runners.rundir import RunDirError
    from ssmrl.runners.signals import interrupt_status, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():  # SIGTERM stops a grid like Ctrl-C: the running cell saves, exit 143
            status = body()
    except ConfigError as err:
        say(f"config error: {err}")
        return USAGE
    except ValueError as err:  # e.g. a factory's or a report's: the message names the value
        say(f"error: {err}")
        return USAGE
    except (RunDirError, CheckpointError) as err:
        say(f"error: {err}")
        return USAGE
    except OSError as err:
        say(f"error: cannot write {err.filename or ''}: {err.strerror or err}; finished cells are kept")
        return USAGE
    except KeyboardInterrupt as err:  # also ssmrl.runners.loop.Interrupted (saved up to its update) and SIGTERM
        say(f"{err if str(err) else 'interrupted'}; finished cells are kept; the same command resumes")
        return interrupt_status(err)
    return OK if status is None else status

