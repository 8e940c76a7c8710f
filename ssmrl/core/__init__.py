"""Sequence cores behind one interface (see ``ssmrl.core.base``); knows nothing of RL."""

from ssmrl.core.base import SequenceCore, step_loop
from ssmrl.core.registry import CORES, available_cores, core_options, make_core
from ssmrl.core.stack import Stack, make_stack

__all__ = [
    "CORES",
    "SequenceCore",
    "Stack",
    "available_cores",
    "core_options",
    "make_core",
    "make_stack",
    "step_loop",
]
