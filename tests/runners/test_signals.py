"""ssmrl.runners.signals: SIGTERM raised as Terminated (a KeyboardInterrupt) only where a stop is safe, held until
then, once, and the previous handler restored after the block."""

from __future__ import annotations

import os
import signal
import time

import pytest

from ssmrl.runners.loop import Interrupted
from ssmrl.runners.signals import (
    Terminated,
    interrupt_status,
    interruptible,
    sigterm_as_interrupt,
    stop_if_terminated,
    stop_word,
)


def _sigterm_to_self():
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)  # never end the test process
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.01)  # the handler runs at the next bytecode


def test_inside_interruptible_sigterm_raises_at_once_and_later_ones_are_ignored():
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        with pytest.raises(Terminated, match=r"terminated \(SIGTERM\)"):
            with interruptible():
                _sigterm_to_self()
                pytest.fail("not stopped")
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # a second one cannot cut the save
        with interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
    assert signal.getsignal(signal.SIGTERM) == before


def test_elsewhere_sigterm_is_held_until_the_next_interruptible_block():
    with sigterm_as_interrupt():
        _sigterm_to_self()  # e.g. while tensorboard or orbax hold a lock: nothing is raised here
        with pytest.raises(Terminated):
            with interruptible():
                pytest.fail("a held SIGTERM must stop before the block")
        stop_if_terminated()  # raised once only


def test_words_and_exit_status():
    assert (stop_word(KeyboardInterrupt()), interrupt_status(KeyboardInterrupt())) == ("interrupted", 130)
    assert (stop_word(Terminated()), interrupt_status(Terminated())) == ("terminated (SIGTERM)", 143)
    assert interrupt_status(Interrupted("terminated (SIGTERM) at update 3/8; saved up to update 3", 3, True)) == 143
    assert interrupt_status(Interrupted("interrupted at update 3/8; saved up to update 2", 2)) == 130
