"""Stop a task promptly when kojid signals it.

kojid ends a task's processes with SIGINT, then SIGTERM about 3 s later, then
SIGKILL. It does so when the task was cancelled and also when kojid itself
shuts down (the task is then freed and re-run later). The signal handler
here does no I/O: it only records the signal and raises :class:`TaskCancelled`
in the main thread, so the task flow can cancel the backend build from
ordinary code and then end. While a build is being started the signal is
held back, so a handle is never lost between "created" and "recorded".
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from koji_containerbuild import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME + ".cancel")

WATCHED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TaskCancelled(KeyboardInterrupt):
    """kojid asked this task process to stop.

    A KeyboardInterrupt, as an unhandled SIGINT would be: kojid lets it pass
    instead of trying to fail a task that is already cancelled or freed.
    """


class CancelWatch:
    """Turns kojid's stop signals into :class:`TaskCancelled` while active.

    Use as a context manager around the task flow; it restores the previous
    handlers on exit. Signals after the first are ignored, so the SIGTERM
    that follows SIGINT does not interrupt the cancel already under way.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._held = 0
        self._quiet = False
        self._previous: dict[int, Any] = {}

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
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.event.is_set() or self._quiet:
            logger.info("Ignoring signal %s: the task is already ending", signum)
            return
        self.signum = signum
        self.event.set()
        logger.warning("Received signal %s: stopping the task", signum)
        if self._held:
            return
        raise TaskCancelled(f"signal {signum}")

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
        """Ignore further signals: the task is ending on its own."""
        self._quiet = True
