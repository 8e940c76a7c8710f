"""Checkpoints of the whole training state (params, optimiser, PRNG keys, env states, carries, replay) with orbax,
verified on restore.

One checkpoint per saved update under ``<run_dir>/checkpoints/<update>``. Each save also records a SHA-256 digest
of the state's bytes in ``<run_dir>/checkpoints/digests.json``; :meth:`Checkpointer.restore_latest` restores the
newest checkpoint whose bytes match its digest and whose structure, shapes and dtypes match ``like`` (e.g. a
freshly initialised state), and falls back to older ones, reporting each it skips. A state with a non-finite
floating value is never saved.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from ssmrl.output import read_json


class CheckpointError(RuntimeError):
    """No usable checkpoint, or a state that must not be saved; the message says which and why."""


class NonFiniteState(CheckpointError):
    """A state with NaN or inf values: never saved (the run diverged)."""


class SaveFailed(CheckpointError):
    """A checkpoint that could not be written (a full disk, a file-size limit, ...): its partial files are removed
    and the older checkpoints are untouched; ``newest`` is the newest intact one (None: there is none)."""

    def __init__(self, message: str, newest: int | None):
        super().__init__(message)
        self.newest = newest


# errno values and texts (orbax and tensorstore raise ValueError with the C++ status in the text, not OSError)
# that mean the disk or a file-size limit refused the bytes.
_NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_NO_SPACE_TEXTS = ("no space left", "file too large", "disk quota", "resource_exhausted")
NO_SPACE = "no space left on device (or file too large)"


def state_digest(state: Any) -> str:
    """SHA-256 over every leaf's dtype, shape and bytes (host arrays), in tree order."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(state):
        arr = np.asarray(leaf)
        digest.update(f"{arr.dtype}{arr.shape}".encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def non_finite_leaves(state: Any) -> list[str]:
    """Paths of floating / complex leaves that hold NaN or inf (host arrays)."""
    bad = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(arr).all():
            bad.append(jax.tree_util.keystr(path))
    return bad


def _signature(state: Any) -> list[list]:
    """[path, shape, dtype] of every leaf: what a config must reproduce to restore a state."""
    return [[jax.tree_util.keystr(path), list(np.shape(leaf)), str(np.dtype(leaf.dtype))]
            for path, leaf in jax.tree_util.tree_leaves_with_path(state)]


def _file_digests(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


class Checkpointer:
    """save(step, state) / restore_latest(like) / latest_step() over ``directory`` (kept: ``max_to_keep``).

    ``<directory>/digests.json`` records, per saved step, the SHA-256 of every file orbax wrote, the leaves'
    paths, shapes and dtypes, and the digest of the state's bytes: a checkpoint is read only if its files are
    intact and its leaves fit ``like``, and used only if the restored bytes match.
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._digests_path = self.directory / "digests.json"

    def _digests(self) -> dict[str, dict]:
        return read_json(self._digests_path)

    def latest_step(self) -> int | None:
        """The last saved update number, or None if there is no checkpoint."""
        return self._manager.latest_step()

    def save(self, step: int, state: Any, config: dict | None = None) -> None:
        """Save ``state`` as update ``step`` and wait until it is on disk, recording ``config`` (the run's resolved
        config, JSON values; :meth:`recorded_config`) with it; refuses a non-finite state (:class:`NonFiniteState`).
        A save that fails (orbax raises ``ValueError`` for a full disk) removes what it wrote of ``step`` and raises
        :class:`SaveFailed` naming the newest intact checkpoint."""
        host = jax.device_get(state)
        bad = non_finite_leaves(host)
        if bad:
            raise NonFiniteState(f"refusing to save update {step}: non-finite values in {bad[0]}")
        held, failure = _HeldStderr(), None
        try:
            with held:
                try:
                    self._write(step, host, config)
                except Exception as err:  # orbax / tensorstore raise ValueError, OSError and their own types
                    failure = _save_failure(err)
                    if failure == NO_SPACE:
                        held.settle()  # the writes still pending fail and print after orbax gave up
                        logging.getLogger("asyncio").addFilter(_unretrieved_no_space)
                    raise
        except Exception as err:
            failure = failure or _save_failure(err)
            self._remove_partial(step)
            newest = self.newest_intact()
            raise SaveFailed(f"cannot save checkpoint {step} in {self.directory}: {failure}; "
                             + (f"the newest intact checkpoint is {newest}" if newest is not None else
                                "there is no intact checkpoint yet"), newest) from None
        finally:
            if failure != NO_SPACE:  # said in one line; an unexpected failure keeps its details
                held.pass_on()

    def _write(self, step: int, host: Any, config: dict | None) -> None:
        """orbax's save of ``host`` as ``step``, then its digests (and ``config``) recorded in digests.json
        (atomically)."""
        self._manager.save(step, args=ocp.args.StandardSave(host))
        self._manager.wait_until_finished()
        kept = {str(s) for s in self._manager.all_steps()}
        digests = {k: v for k, v in self._digests().items() if k in kept}
        digests[str(step)] = {"state": state_digest(host), "signature": _signature(host),
                              "files": _file_digests(self.directory / str(step))}
        if config is not None:
            digests[str(step)]["config"] = config
        tmp = self._digests_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(digests) + "\n")
            os.replace(tmp, self._digests_path)
        finally:
            tmp.unlink(missing_ok=True)

    def _remove_partial(self, step: int) -> None:
        """Remove what a failed save of ``step`` left: orbax's ``<step>.orbax-checkpoint-tmp-*`` folder, or the
        finished ``<step>`` folder whose digests could not be recorded (it could never be verified)."""
        for path in self.directory.glob(f"{step}.orbax-checkpoint-tmp*"):
            shutil.rmtree(path, ignore_errors=True)
        if str(step) not in self._digests():
            shutil.rmtree(self.directory / str(step), ignore_errors=True)
        try:
            self._manager.reload()
        except Exception:  # the manager only forgets the removed step; a failure here changes nothing on disk
            pass

    def recorded_config(self) -> tuple[int, dict] | None:
        """(step, config) of the newest checkpoint saved with a config (:meth:`save`); None if none was."""
        records = [(int(k), v["config"]) for k, v in self._digests().items()
                   if k.isdigit() and isinstance(v, dict) and isinstance(v.get("config"), dict)]
        return max(records, key=lambda r: r[0], default=None)

    def newest_intact(self) -> int | None:
        """The newest step that digests.json records and whose folder exists (None: none); its files are not
        read, so a checkpoint damaged on disk since it was saved still counts."""
        steps = [int(k) for k in self._digests() if k.isdigit() and (self.directory / k).is_dir()]
        return max(steps, default=None)

    def restore(self, step: int, like: Any) -> Any:
        """The state saved at ``step``, with the structure, shapes and dtypes of ``like`` (unverified)."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def _problem(self, step: int, record: dict | None, like_signature: list) -> str | None:
        """Why checkpoint ``step`` must not be read (None if it may be)."""
        if not isinstance(record, dict) or not {"state", "signature", "files"} <= set(record):
            return "without a digest (saved by an interrupted process, or digests.json was damaged)"
        if record["signature"] != like_signature:
            saved = {tuple(x[:1]): x for x in record["signature"]}
            for leaf in like_signature:
                other = saved.get(tuple(leaf[:1]))
                if other != leaf:
                    found = "missing" if other is None else f"shape {other[1]} {other[2]}"
                    return (f"not matching this config: {leaf[0] or 'the state'} is {found} there, the config "
                            f"needs shape {leaf[1]} {leaf[2]} (was config.yaml edited?)")
            return "not matching this config: it holds leaves this config does not have"
        files = _file_digests(self.directory / str(step))
        for name, digest in record["files"].items():
            if files.get(name) != digest:
                return f"damaged: {name} is {'missing' if name not in files else 'changed'}"
        return None

    def restore_latest(self, like: Any, warn=print) -> tuple[int, Any] | None:
        """(step, state) of the newest intact checkpoint that fits ``like``; None if there is no checkpoint.

        A checkpoint whose files are damaged, that does not fit ``like`` or whose restored bytes do not match is
        skipped with a ``warn(message)``; if every one is skipped, :class:`CheckpointError` says why the newest
        one failed and how to start over. If ``digests.json`` itself is damaged (:meth:`digests_damage`), the
        newest checkpoint that loads, fits ``like`` and holds only finite values is used, with a warning saying
        that it was checked that way.
        """
        self._manager.reload()
        steps = sorted(self._manager.all_steps(), reverse=True)
        if not steps:
            return None
        digests, damage = self._digests(), self.digests_damage()
        like_signature = _signature(jax.eval_shape(lambda: like))
        reasons = []
        for step in steps:
            if damage is None:
                problem = self._problem(step, digests.get(str(step)), like_signature)
            if damage is not None or problem is None:
                try:
                    state = self.restore(step, like)
                    problem = self._unverified_problem(state, like_signature) if damage else (
                        None if state_digest(jax.device_get(state)) == digests[str(step)]["state"] else
                        "damaged: its bytes do not match the digest recorded when it was saved")
                except Exception as err:  # orbax / tensorstore raise many types for unreadable files
                    problem = f"unreadable ({_first_line(err)})"
            if problem is None:
                if damage is not None:
                    warn(f"warning: {self._digests_path} is {damage}, so the checkpoints cannot be checked against "
                         f"their digests; checkpoint {step} was checked by reading it (it loads, its shapes fit "
                         "this config, its values are finite) instead; the next save writes digests.json anew")
                for skipped, why in reasons:
                    warn(f"warning: skipped checkpoint {skipped}, {why}; resuming from update {step}")
                return step, state
            reasons.append((step, problem))
        newest, why = reasons[0]
        raise CheckpointError(
            f"no usable checkpoint in {self.directory}: the newest (update {newest}) is {why}"
            + (f"; {len(reasons) - 1} older {'one' if len(reasons) == 2 else 'ones'} failed too" if len(reasons) > 1
               else "")
            + f"; to start this run over from update 0 with its config, move {self.directory} away and run the same "
            "command again, or train in a new run_dir")

    def digests_damage(self) -> str | None:
        """Why ``digests.json`` cannot be used ("missing", "not JSON", "not a mapping of checkpoints"); None if it
        can be. (Called where checkpoints exist: each save writes it.)"""
        try:
            data = json.loads(self._digests_path.read_text())
        except FileNotFoundError:
            return "missing"
        except (OSError, ValueError) as err:
            return f"damaged (not JSON: {_first_line(err)})" if isinstance(err, ValueError) else f"unreadable ({err})"
        if not isinstance(data, dict):
            return "damaged (not a mapping of checkpoints)"
        return None

    @staticmethod
    def _unverified_problem(state: Any, like_signature: list) -> str | None:
        """Why a checkpoint restored without its digests must not be used (None if it may be): leaves that do not
        fit the config, or non-finite values (never saved, so they mean damage)."""
        host = jax.device_get(state)
        if _signature(host) != like_signature:
            return "not matching this config"
        bad = non_finite_leaves(host)
        return f"damaged: non-finite values in {bad[0]}" if bad else None

    def close(self) -> None:
        self._manager.close()


class _HeldStderr:
    """Within ``with``, what anything writes to file descriptor 2 (stderr) is collected in ``held`` instead of
    shown. When a save fails, orbax logs each failed thread and tensorstore's C++ threads print a traceback per
    pending write straight to that file descriptor (past Python's logging and hooks), still for a while after
    orbax gave up: hundreds of lines for one full disk. :meth:`settle` waits for them; the caller passes ``held``
    on (:meth:`pass_on`) unless the failure is said in one line. Where fd 2 cannot be redirected, nothing is
    held."""

    def __init__(self):
        self.held = bytearray()
        self._last = time.monotonic()

    def __enter__(self) -> _HeldStderr:
        sys.stderr.flush()
        try:
            self._saved = os.dup(2)
            read_end, write_end = os.pipe()
        except OSError:
            self._saved = None
            return self
        os.dup2(write_end, 2)
        os.close(write_end)
        self._read_end = read_end
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        return self

    def _drain(self) -> None:
        while chunk := os.read(self._read_end, 65536):
            self.held.extend(chunk)
            self._last = time.monotonic()

    def settle(self, quiet_s: float = 1.0, limit_s: float = 15.0) -> None:
        """Keep holding until nothing was written for ``quiet_s`` seconds (at most ``limit_s``)."""
        end = time.monotonic() + limit_s
        while time.monotonic() < min(end, self._last + quiet_s):
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        if self._saved is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # closes the pipe's last write end: the reader sees its end
        os.close(self._saved)
        self._reader.join()
        os.close(self._read_end)

    def pass_on(self) -> None:
        """Write what was held to stderr, as it would have appeared."""
        if self.held:
            sys.stderr.flush()
            os.write(2, bytes(self.held))


def _unretrieved_no_space(record: logging.LogRecord) -> bool:
    """A filter for asyncio's logger, added after a save failed for want of space: drops its "Future exception was
    never retrieved" records of that failure (orbax's futures, collected later, at exit at the latest), which the
    one-line error already said; keeps every other record."""
    error = record.exc_info[1] if record.exc_info else None
    return not ("never retrieved" in record.getMessage() and error is not None and _save_failure(error) == NO_SPACE)


def _save_failure(err: BaseException) -> str:
    """Why a save failed, in words: "no space left on device (or file too large)" when ``err`` or an exception
    it was raised from says so (an errno, or the text of a tensorstore status), else its first line."""
    seen = err
    while seen is not None:
        text = str(seen).lower()
        if getattr(seen, "errno", None) in _NO_SPACE_ERRNOS or any(t in text for t in _NO_SPACE_TEXTS):
            return NO_SPACE
        seen = seen.__cause__ or seen.__context__
    return _first_line(err)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return line[:200]
