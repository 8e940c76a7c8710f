"""Checkpoints of the whole training state (params, optimiser, PRNG keys, env states, carries, replay) with orbax,
verified on restore.

One checkpoint per saved update under ``<run_dir>/checkpoints/<update>``. Each save also records a SHA-256 digest
of the state's bytes in ``<run_dir>/checkpoints/digests.json``; :meth:`Checkpointer.restore_latest` restores the
newest checkpoint whose bytes match its digest and whose structure, shapes and dtypes match ``like`` (e.g. a
freshly initialised state), and falls back to older ones, reporting each it skips. A state with a non-finite
floating value is never saved.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from ssmrl.output import read_json


class CheckpointError(RuntimeError):
    """No usable checkpoint, or a state that must not be saved; the message says which and why."""


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

    def save(self, step: int, state: Any) -> None:
        """Save ``state`` as update ``step`` and wait until it is on disk; refuses a non-finite state."""
        host = jax.device_get(state)
        bad = non_finite_leaves(host)
        if bad:
            raise CheckpointError(f"refusing to save update {step}: non-finite values in {bad[0]}")
        self._manager.save(step, args=ocp.args.StandardSave(host))
        self._manager.wait_until_finished()
        kept = {str(s) for s in self._manager.all_steps()}
        digests = {k: v for k, v in self._digests().items() if k in kept}
        digests[str(step)] = {"state": state_digest(host), "signature": _signature(host),
                              "files": _file_digests(self.directory / str(step))}
        tmp = self._digests_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(digests) + "\n")
        os.replace(tmp, self._digests_path)

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
        one failed.
        """
        self._manager.reload()
        steps = sorted(self._manager.all_steps(), reverse=True)
        if not steps:
            return None
        digests = self._digests()
        like_signature = _signature(jax.eval_shape(lambda: like))
        reasons = []
        for step in steps:
            problem = self._problem(step, digests.get(str(step)), like_signature)
            if problem is None:
                try:
                    state = self.restore(step, like)
                    problem = (None if state_digest(jax.device_get(state)) == digests[str(step)]["state"] else
                               "damaged: its bytes do not match the digest recorded when it was saved")
                except Exception as err:  # orbax / tensorstore raise many types for unreadable files
                    problem = f"unreadable ({_first_line(err)})"
            if problem is None:
                for skipped, why in reasons:
                    warn(f"warning: skipped checkpoint {skipped}, {why}; resuming from update {step}")
                return step, state
            reasons.append((step, problem))
        newest, why = reasons[0]
        raise CheckpointError(f"no usable checkpoint in {self.directory}: the newest (update {newest}) is {why}"
                              + (f"; {len(reasons) - 1} older ones failed too" if len(reasons) > 1 else ""))

    def close(self) -> None:
        self._manager.close()


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return line[:200]
