"""What ends the sandbox worker's sleep between two polls before its interval is over.

kojid sleeps ``sleeptime`` seconds whenever a poll took no task. The sandbox
worker sleeps on descriptors instead, so an event that makes the next poll
worth it ends the sleep at once: a task child exited (SIGCHLD), a stop
signal came, or the sandbox hub made, freed or cancelled a task (it writes to
the worker's wake-up pipe). The polls themselves stay kojid's.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading


def signal_wakeup_fds(hub_fd: int | None = None) -> tuple[int, ...]:
    """Descriptors that turn readable on SIGCHLD or a stop signal (and ``hub_fd``).

    Python writes a byte to the wake-up pipe for every signal that has a
    handler; SIGCHLD gets one that does nothing else, so a task child's exit
    ends the sleep. Only the main thread may call this.
    """
    read_end, write_end = os.pipe()
    for fd in (read_end, write_end):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    if hub_fd is None:
        return (read_end,)
    os.set_blocking(hub_fd, False)
    return (read_end, hub_fd)


def forget_in_child(fds: tuple[int, ...]) -> None:
    """In a forked task child: the worker's wake-ups and SIGCHLD handler are not its own."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def sleep_until_woken(fds: tuple[int, ...], timeout: float, stop: threading.Event) -> None:
    """Sleep up to ``timeout`` seconds, less when one of ``fds`` turns readable."""
    if not fds:  # a worker run in a test's thread: only a stop ends the sleep early
        stop.wait(timeout)
        return
    ready, _, _ = select.select(fds, [], [], timeout)
    for fd in ready:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(fd, 4096):
                pass
