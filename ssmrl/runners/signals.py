"""SIGTERM stops a run the way Ctrl-C does: ``timeout``, ``docker stop``, a batch scheduler's preemption (SLURM) and
``kill`` send SIGTERM, which by default ends Python at once, saving nothing and leaving a half-written checkpoint.
Inside :func:`sigterm_as_interrupt` it raises :class:`Terminated`, a ``KeyboardInterrupt``, so the one interrupt
path (save the last finished call, print the resume line) handles both; only the words and the exit status differ
(:func:`stop_word`, :func:`interrupt_status`: 143 = 128 + SIGTERM, 130 = 128 + SIGINT).

Where it is raised: an exception raised by a signal handler lands between any two bytecodes, and one that lands
inside another library's ``with lock:`` (tensorboardX's event queue, orbax's save threads) can leave that lock held,
so the run then hangs while closing. So :class:`Terminated` is raised at once only inside :func:`interruptible`
(the training loop's wait for a device call, a sweep's wait for its child); a SIGTERM that arrives elsewhere is
held and raised when the next such block starts, i.e. at the end of the call in progress.

Importing it loads neither jax nor orbax: the grid scripts install it before anything heavy.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGINT_STATUS, SIGTERM_STATUS = 128 + signal.SIGINT, 128 + signal.SIGTERM

_pending = False  # a SIGTERM arrived outside interruptible(); raised when the next one starts
_at_once = False  # inside interruptible(): raise on arrival


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt``."""

    def __init__(self, message: str = "terminated (SIGTERM)"):
        super().__init__(message)


def _on_sigterm(signum, frame) -> None:
    global _pending
    # Later SIGTERMs are ignored: a scheduler that signals the sweep and its run, or sends it twice, must not cut
    # the checkpoint save the first one started (SIGKILL still ends the process).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _at_once:
        raise Terminated()
    _pending = True


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (inside :func:`interruptible`, or
    when the next such block starts; once, later ones are ignored); the previous handler comes back after it. Off
    the main thread (where Python cannot set handlers) nothing changes."""
    global _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending = False
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _pending = False


@contextmanager
def interruptible() -> Iterator[None]:
    """A block that may stop at any bytecode (it holds no lock another thread needs, e.g. a wait for the device or
    a child process): a SIGTERM held from before is raised as it starts, one that arrives within it at once."""
    global _at_once
    stop_if_terminated()
    _at_once = True
    try:
        yield
    finally:
        _at_once = False


def stop_if_terminated() -> None:
    """Raise :class:`Terminated` if a SIGTERM arrived and is held (see the module docstring)."""
    global _pending
    if _pending:
        _pending = False
        raise Terminated()


def terminated(err: BaseException) -> bool:
    """Whether ``err`` (a ``KeyboardInterrupt``, or :class:`ssmrl.runners.loop.Interrupted` raised from one) was
    caused by SIGTERM rather than Ctrl-C."""
    return isinstance(err, Terminated) or bool(getattr(err, "terminated", False))


def stop_word(err: BaseException) -> str:
    """How a stop by ``err`` is named in its one line: "terminated (SIGTERM)" or "interrupted" (Ctrl-C)."""
    return "terminated (SIGTERM)" if terminated(err) else "interrupted"


def interrupt_status(err: BaseException) -> int:
    """The exit status of a stop by ``err``: 143 (128 + SIGTERM) or 130 (128 + SIGINT, Ctrl-C), as a shell reports
    a process that a signal ended."""
    return SIGTERM_STATUS if terminated(err) else SIGINT_STATUS
