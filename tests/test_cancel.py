"""Stop signals from kojid become TaskCancelled in the task flow."""

import os
import signal
import sys
import threading

import pytest

from koji_containerbuild.builder import cancel
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


@pytest.fixture
def quick_redelivery(monkeypatch):
    monkeypatch.setattr(cancel, "REDELIVER_SECS", 0.05)


class HandlesASignalWhenCollected:
    """A finalizer the signal interrupts, as ClientSession.__del__'s logout can be."""

    def __del__(self):
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        signal.sigtimedwait([], 0.01)  # the handler runs here, inside __del__


def test_a_signal_lost_in_a_finalizer_is_delivered_again(quick_redelivery, monkeypatch):
    swallowed = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: swallowed.append(info.exc_type))
    with pytest.raises(TaskCancelled), CancelWatch():
        collected = HandlesASignalWhenCollected()
        del collected
        assert swallowed == [TaskCancelled]
        threading.Event().wait(5)  # a wait without its own end, as a quiet log read


def test_no_redelivery_once_the_watch_is_quiet(quick_redelivery):
    with CancelWatch() as watch:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.1)
        except TaskCancelled:
            watch.quiet()
        threading.Event().wait(0.3)
    assert watch.signum == signal.SIGINT


def test_no_redelivery_after_the_watch_ends(quick_redelivery):
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        with pytest.raises(TaskCancelled), CancelWatch():
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.1)
        threading.Event().wait(0.3)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert received == []


def test_held_block_runs_to_its_end_while_redelivery_waits(quick_redelivery):
    steps = []
    with pytest.raises(TaskCancelled), CancelWatch() as watch, watch.held():
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(0.3)
        steps.append("finished the held block")
    assert steps == ["finished the held block"]
