"""The core registry: a plain dict from name to core class, and ``make_core`` with validated options."""

from __future__ import annotations

import dataclasses
from typing import Any

from ssmrl.core.base import SequenceCore
from ssmrl.core.hope import HOPE
from ssmrl.core.lru import LRU
from ssmrl.core.mamba import Mamba
from ssmrl.core.rnn import GRU, LSTM, Identity
from ssmrl.core.s4 import S4
from ssmrl.core.s4d import S4D
from ssmrl.core.s5 import S5
from ssmrl.core.smr import smr_options, with_smr
from ssmrl.core.transformer import Transformer

CORES: dict[str, type[SequenceCore]] = {
    "s5": S5,
    "s4": S4,
    "s4d": S4D,
    "hope": HOPE,
    "lru": LRU,
    "mamba": Mamba,
    "transformer": Transformer,
    "gru": GRU,
    "lstm": LSTM,
    "identity": Identity,
}

_NOT_OPTIONS = ("parent", "name", "d_model")


def available_cores() -> list[str]:
    """Names accepted by ``make_core``, sorted."""
    return sorted(CORES)


def core_options(name: str) -> dict[str, Any]:
    """The options of core ``name`` with their defaults (``d_model`` excluded), including the SMR wrapper's
    ``smr`` / ``smr_memory`` that every core accepts."""
    cls = _lookup(name)
    own = {f.name: f.default for f in dataclasses.fields(cls) if f.name not in _NOT_OPTIONS and f.init}
    return {**own, **smr_options()}


def make_core(name: str, d_model: int, **options: Any) -> SequenceCore:
    """Build the sequence core ``name`` of width ``d_model``.

    Unknown names or options raise ``ValueError`` listing the valid ones; option values are checked by the
    core's ``validate``. The returned module is unbound (``parent=None``), so ``initialize_carry`` works
    anywhere, and can be used as a submodule by assigning it in a parent's ``setup``.
    """
    cls = _lookup(name)
    valid = core_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for core {name!r}; valid options: {sorted(valid)}")
    smr = {key: options.pop(key) for key in smr_options() if key in options}
    core = cls(d_model=d_model, parent=None, **options)
    core.validate()
    return with_smr(core, **smr)  # ``smr=True`` wraps the core in State Memory Replay (core/smr.py)


def _lookup(name: str) -> type[SequenceCore]:
    if name not in CORES:
        raise ValueError(f"unknown core {name!r}; valid cores: {available_cores()}")
    return CORES[name]
