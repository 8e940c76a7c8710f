"""Checkpoints of the whole training state (params, optimiser, PRNG keys, env states, core carries) with orbax.

One checkpoint per saved update under ``<run_dir>/checkpoints/<update>``; restoring needs a state of the same
structure (``like``), e.g. a freshly initialised one, so dtypes and shapes (complex carries included) round-trip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """save(step, state) / restore(step, like) / latest_step() over ``directory`` (kept: ``max_to_keep``)."""

    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """The last saved update number, or None if there is no checkpoint."""
        return self._manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        """Save ``state`` (a pytree of arrays) as update ``step`` and wait until it is on disk."""
        self._manager.save(step, args=ocp.args.StandardSave(jax.device_get(state)))
        self._manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> Any:
        """The state saved at ``step``, with the structure, shapes and dtypes of ``like``."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        self._manager.close()
