"""Stop a task promptly when kojid signals it.

kojid ends a task's processes with SIGINT, then SIGTERM about 3 s later, then
SIGKILL. It does so when the task was cancelled and also when kojid itself
shuts down (the task is then freed and re-run later). The signal handler
here only records the signal and raises :class:`TaskCancelled` in the main
thread, so the task flow can cancel the backend build from ordinary code and
then end. While a build is being started the signal is held back, so a handle
is never lost between "created" and "recorded".

Python drops an exception raised where it cannot propagate: in a finalizer
the garbage collector runs in the main thread (``koji.ClientSession.__del__``
logs out over HTTP) or in a weakref callback. A signal handled there would be
lost, and a main thread then blocked in a wait without timeout (a quiet
build's log stream) would never end the task; so until the task flow acts on
it, the signal is delivered to the main thread again every
:data:`REDELIVER_SECS`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from koji_containerbuild import LOGGER_NAME
from koji_containerbuild.threadsignals import block_async_signals

logger = logging.getLogger(LOGGER_NAME + ".cancel")

WATCHED_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: Seconds a stop signal may go unanswered before it is delivered again: far
#: longer than the task flow takes from the raise to quiet(), far shorter
#: than kojid waits before its SIGKILL.
REDELIVER_SECS = 1.0


class TaskCancelled(KeyboardInterrupt):
    """kojid asked this task process to stop.

    A KeyboardInterrupt, as an unhandled SIGINT would be: kojid lets it pass
    instead of trying to fail a task that is already cancelled or freed.
    """


class CancelWatch:
    """Turns kojid's stop signals into :class:`TaskCancelled` while active.

    Use as a context manager around the task flow; it restores the previous
    handlers on exit. Later signals from kojid are ignored, so the SIGTERM
    that follows SIGINT does not interrupt the cancel already under way; only
    this watch's own redelivery raises again.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._held = 0
        self._quiet = False
        self._previous: dict[int, Any] = {}
        #: set by quiet() and on exit: the redelivery thread stops
        self._settled = threading.Event()
        #: taken to redeliver and to settle, so no signal is redelivered after exit
        self._redeliver_lock = threading.Lock()
        self._redelivering = False

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def __enter__(self) -> CancelWatch:
        if threading.current_thread() is not threading.main_thread():
            logger.debug("Not in the main thread: stop signals are left to the caller")
            return self
        for signum in WATCHED_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._settle()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._quiet:
            logger.info("Ignoring signal %s: the task is already ending", signum)
            return
        if self.event.is_set():
            if not self._redelivering:
                logger.info("Ignoring signal %s: the task is already stopping", signum)
                return
            self._redelivering = False
            logger.warning("Signal %s went unanswered: raising it again", signum)
        else:
            self.signum = signum
            self.event.set()
            logger.warning("Received signal %s: stopping the task", signum)
            threading.Thread(
                target=self._redeliver,
                args=(threading.main_thread().ident, signum),
                daemon=True,
            ).start()
        if self._held:
            return
        raise TaskCancelled(f"signal {signum}")

    def _redeliver(self, main_ident: int, signum: int) -> None:
        """Signal the main thread again until the task flow settles (see the module doc)."""
        block_async_signals()
        while not self._settled.wait(REDELIVER_SECS):
            with self._redeliver_lock:
                if self._settled.is_set() or self._held:
                    continue
                self._redelivering = True
                signal.pthread_kill(main_ident, signum)

    def _settle(self) -> None:
        with self._redeliver_lock:
            self._settled.set()

    def check(self) -> None:
        """Raise TaskCancelled if a stop signal arrived (used after held sections)."""
        if self.event.is_set() and not self._quiet:
            raise TaskCancelled(f"signal {self.signum}")

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold a stop signal back until the block ends, then act on it."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if not self._held:
            self.check()

    def quiet(self) -> None:
        """Ignore further signals: the task is ending on its own, or acting on the signal."""
        self._quiet = True
        self._settle()
