"""Stop signals from kojid become TaskCancelled in the task flow."""

import os
import signal

import pytest

from koji_containerbuild.builder.cancel import CancelWatch, TaskCancelled


def test_sigint_raises_task_cancelled():
    with pytest.raises(TaskCancelled), CancelWatch():
        os.kill(os.getpid(), signal.SIGINT)
        signal.sigtimedwait([], 0.1)  # give the handler a bytecode boundary


def test_sigterm_raises_task_cancelled():
    with pytest.raises(TaskCancelled), CancelWatch():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0.1)


def test_signal_is_held_back_until_the_held_block_ends():
    steps = []
    with pytest.raises(TaskCancelled), CancelWatch() as watch, watch.held():
        os.kill(os.getpid(), signal.SIGINT)
        signal.sigtimedwait([], 0.1)
        steps.append("finished the held block")
    assert steps == ["finished the held block"]


def test_second_signal_is_ignored_while_ending():
    watch = CancelWatch()
    with pytest.raises(TaskCancelled), watch:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.1)
        except TaskCancelled:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.1)
            raise
    assert watch.signum == signal.SIGINT


def test_previous_handlers_are_restored():
    before = signal.getsignal(signal.SIGINT)
    with CancelWatch():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


def test_quiet_watch_ignores_signals():
    with CancelWatch() as watch:
        watch.quiet()
        os.kill(os.getpid(), signal.SIGINT)
        signal.sigtimedwait([], 0.1)
    assert not watch.requested
