"""The Atari 100k sweep (``scripts/atari100k.py``): one Dreamer run per (game, seed) cell, each a child process of
the run script, as a kind of unit of the experiment engine (:mod:`ssmrl.benchmark.engine`).

A cell's files: run directory ``<out_dir>/runs/<Game>/seed<s>``, score file ``<out_dir>/scores/<Game>/seed<s>.json``
(:func:`ssmrl.benchmark.atari_report.score_record`; its presence marks the cell done), the output of its runs
appended to ``<out_dir>/logs/<Game>/seed<s>.log``. A cell whose run directory holds a run is resumed
(``resume=<dir>``: its saved config); a run whose summary.json says complete gets its score file without running.
A run that exits with an error, or ends without a complete summary.json, fails its cell (:class:`UnitFailed`: the
sweep goes on); a new run that refuses its arguments stops the sweep (every cell has the same overrides).

Ctrl-C: the child has its own session, so a terminal's Ctrl-C reaches only the sweep, which hands exactly one
SIGINT to the run (a second could cut its checkpoint save), waits for it to save and exit, and stops. SIGTERM to
the sweep (``timeout``, ``docker stop``, preemption) is handed on the same way, as one SIGTERM, which the run treats
as Ctrl-C (:mod:`ssmrl.runners.signals`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ssmrl.benchmark.engine import ABSENT, DONE, PARTIAL, UnitFailed
from ssmrl.config import ConfigError
from ssmrl.runners.rundir import holds_run
from ssmrl.runners.signals import Terminated, interruptible, stop_if_terminated, stop_word, terminated

SET_BY_SWEEP = ("env", "env.task", "seed", "num_seeds", "run_dir", "resume")


@dataclass(frozen=True)
class AtariCell:
    game: str
    seed: int
    out_dir: Path

    @property
    def label(self) -> str:
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

    def summary(self) -> dict | None:
        """The run's summary.json, or None if missing or unreadable."""
        try:
            summary = json.loads((self.run_dir / "summary.json").read_text())
        except (OSError, ValueError):
            return None
        return summary if isinstance(summary, dict) else None


@contextlib.contextmanager
def _default_signals_for_children():
    """While starting a child: SIGINT and SIGTERM at their defaults if this process ignores them (SIGINT is ignored
    in a background job of a non-interactive shell), so the child inherits signals that let the run save on Ctrl-C
    and on SIGTERM (exec resets handled signals to their defaults, but keeps ignored ones ignored). Done in the
    parent instead of a ``preexec_fn``: that would fork through Python's at-fork hooks, where JAX warns of
    deadlocks."""
    ignored = [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is signal.SIG_IGN]
    for sig in ignored:
        signal.signal(sig, signal.SIG_DFL)
    try:
        yield
    finally:
        for sig in ignored:
            signal.signal(sig, signal.SIG_IGN)


def _last_line(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else "(no output)"


def launch(cmd: list[str], log_path: Path, label: str, pythonpath: str = "") -> tuple[int, int]:
    """Run ``cmd`` with its output appended to ``log_path`` -> (exit status, log offset where this run began);
    KeyboardInterrupt naming ``label`` after handing one SIGINT to the run and waiting for it (module docstring);
    on SIGTERM the same with one SIGTERM, raising :class:`ssmrl.runners.signals.Terminated`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + os.environ.get("PYTHONPATH", "")
    with open(log_path, "ab") as log:
        offset = log.tell()
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        stop_if_terminated()  # a SIGTERM that came between two runs stops the sweep before it starts one
        with _default_signals_for_children():
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            with interruptible():
                return proc.wait(), offset
        except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM as Terminated (ssmrl.runners.signals)
            proc.send_signal(signal.SIGTERM if terminated(err) else signal.SIGINT)
            proc.wait()
            stop = Terminated if terminated(err) else KeyboardInterrupt
            raise stop(f"{stop_word(err)} during {label}; its run saved what it could") from None


def _describe(record: dict) -> str:
    parts = []
    for key, hns in (("eval_return", "hns_eval"), ("train_return_last10k", "hns_train")):
        if record[key] is not None:
            parts.append(f"{key} {record[key]:.1f} (HNS {record[hns]:.3f})")
    return ", ".join(parts or ["no returns"]) + f", {record['wall_s']:.0f} s"


@dataclass
class AtariCells:
    """The sweep's kind of unit for the engine: ``runner`` is the run script (``scripts/dreamer.py``), ``overrides``
    the Dreamer overrides of every new run, ``pythonpath`` prepended to the child's ``PYTHONPATH``."""

    runner: Path
    overrides: list[str] = field(default_factory=list)
    pythonpath: str = ""

    def status(self, cell: AtariCell) -> str:
        if cell.score_path.exists():
            return DONE
        return PARTIAL if holds_run(cell.run_dir) else ABSENT

    def run(self, cell: AtariCell) -> dict:
        """Run, resume or only score the cell -> its score record; UnitFailed (one line) when the run failed."""
        from ssmrl.benchmark.atari_report import score_record
        from ssmrl.output import write_json

        summary = cell.summary()
        if not (summary and summary.get("complete") is True):
            fresh = not cell.run_dir.exists()
            if holds_run(cell.run_dir):
                cmd, what = [sys.executable, str(self.runner), f"resume={cell.run_dir}"], "resume"
            else:
                cmd = [sys.executable, str(self.runner), "env=atari100k", f"env.task={cell.game}",
                       f"seed={cell.seed}", f"run_dir={cell.run_dir}", *self.overrides]
                what = "run"
            print(f"{what} {cell.label}: {cell.run_dir} (log {cell.log_path})", flush=True)
            status, offset = launch(cmd, cell.log_path, cell.label, self.pythonpath)
            if status != 0:
                line = _last_line(cell.log_path, offset)
                if status == 2 and fresh and "config error" in line:
                    raise ConfigError(f"{cell.label}: the run refused its arguments: {line}")
                raise UnitFailed(f"exit status {status}: {line}; log {cell.log_path}")
            summary = cell.summary()
            if summary is None:
                raise UnitFailed(f"the run ended without a readable {cell.run_dir / 'summary.json'}; log "
                                 f"{cell.log_path}")
            if summary.get("complete") is not True:
                raise UnitFailed(f"{cell.run_dir / 'summary.json'} says the run is not complete "
                                 f"(complete={summary.get('complete')}); log {cell.log_path}")
        else:
            print(f"score {cell.label}: its run in {cell.run_dir} is complete", flush=True)
        record = score_record(cell.game, cell.seed, summary, cell.run_dir)
        try:
            write_json(cell.score_path, record)
        except (OSError, TypeError, ValueError) as err:
            raise UnitFailed(f"cannot write {cell.score_path}: {err}") from None
        return record

    def line(self, index: int, total: int, cell: AtariCell, record: dict) -> str:
        return f"[{index}/{total}] done {cell.label}: {_describe(record)}"
