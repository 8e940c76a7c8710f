"""Run directories: what may be started where, and one writer at a time.

* A new run needs an absent or empty directory; a non-empty directory that holds no run is refused (nothing in it
  is touched).
* A directory that holds a run (its ``config.yaml``) is resumed; asking to resume a directory that holds no run is
  an error, so a mistyped path never starts a fresh run by accident.
* While a run writes, it holds an exclusive lock on ``<run_dir>/.lock`` (``fcntl.flock`` on an empty file, released
  by the OS when the process ends, even when killed); a second process on the same directory is refused.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

CONFIG_FILE = "config.yaml"
LOCK_FILE = ".lock"


class RunDirError(RuntimeError):
    """A run directory that cannot be used as asked; the message names it and says what would work."""


def _check_parents(path: Path) -> None:
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            what = "run_dir" if parent == path else f"its parent {parent}"
            raise RunDirError(f"run_dir {path}: {what} is a file, not a directory; pick another run_dir")


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds a run (a saved ``config.yaml``)."""
    return (path / CONFIG_FILE).is_file()


def resolve_mode(run_dir: str, resume: str | None) -> tuple[Path, bool]:
    """(directory, resuming?) for ``run_dir`` or an explicit ``resume`` path; raises :class:`RunDirError`."""
    if resume is not None:
        path = Path(resume)
        if not str(resume).strip():
            raise RunDirError("resume: empty; give the directory of the run to resume")
        _check_parents(path)
        if not holds_run(path):
            why = "does not exist" if not path.exists() else f"holds no run (no {CONFIG_FILE})"
            raise RunDirError(f"resume={path}: the directory {why}; give the run_dir of an existing run")
        return path, True
    if not str(run_dir).strip():
        raise RunDirError("run_dir: empty; give a directory for the run's outputs (absent or empty for a new run)")
    path = Path(run_dir)
    _check_parents(path)
    if holds_run(path):
        return path, True
    if path.exists() and any(p.name != LOCK_FILE for p in path.iterdir()):
        names = sorted(p.name for p in path.iterdir() if p.name != LOCK_FILE)[:5]
        raise RunDirError(f"run_dir {path} is not empty and holds no run (no {CONFIG_FILE}; found {names}); "
                          "a new run needs an absent or empty directory")
    return path, False


class RunLock:
    """Exclusive lock on a run directory for the lifetime of the ``with`` block (creates the directory)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise RunDirError(f"run_dir {self.path.parent}: cannot write there ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunDirError(f"run_dir {self.path.parent} is in use by another process (it holds "
                              f"{self.path}); wait for it to finish or pick another run_dir") from None
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
